"""The objective of a fit: weighted residuals of every dataset for a vector of free
parameters, with the linear nuisance parameters solved in closed form.

For the optimiser's vector ``z`` (log of a log-scaled parameter, value/typical size of a
linear one) each dataset is simulated once (``fem_spin.simulate`` with the parameters as
overrides; the mesh is built once and reused), its observation gives ``f0 + A c`` at the
data's times, ``c`` is the weighted linear least-squares solution (variable projection: the
nuisances never enter the nonlinear optimiser), and the residuals ``(y - f0 - A c)/sigma``
(unweighted without sigma) of all datasets are concatenated.

A dataset whose observation's independent variable is a run key (``run_key()``, e.g. the
spin valve's ``geometry.separation``) is one stationary run per distinct x instead (each a
task of its own for the rank groups: :meth:`Objective._point_run`), observed together.

Forward runs are cached by the physical values of the parameters acting on a dataset: a
per-dataset parameter's finite-difference column re-runs that dataset only, and the final
statistics reuse the runs of the last Jacobian.

The forward runs one step of the fit needs (the datasets of an evaluation; the
finite-difference columns of a Jacobian) are asked for together (:meth:`Objective.prefetch`)
and spread over the MPI rank groups (:mod:`~fem_spin.fitting.parallel`); every rank caches
all of them, and the evaluations then read the cache exactly as a serial fit does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import time
from typing import Callable, Iterable, Iterator

import numpy as np

from fem_spin.fitting.config import FitConfig
from fem_spin.fitting.parallel import RankGroups, rank_groups
from fem_spin.fitting.setup import PreparedDataset, run_overrides
from fem_spin.fitting.statistics import solve_nuisance

__all__ = ["ForwardFailed", "ModelParts", "PointRun", "DatasetFit", "Evaluation", "Objective"]


class ForwardFailed(RuntimeError):
    """A forward run failed (Newton below dt_min, ...) at some parameter values."""


@dataclasses.dataclass(frozen=True)
class ModelParts:
    """The observation of one forward run: model = f0 + A @ c."""

    f0: np.ndarray
    A: np.ndarray
    names: tuple[str, ...]
    steps: int
    #: free-parameter name -> (d f0/dp, d A/dp) in physical units, from the run's forward
    #: sensitivities (the parameters the dataset's model differentiates); None without
    tangent: dict | None = None
    #: the run's accepted steps (dt, order, t): a frozen replay reproduces its discrete map
    run_steps: tuple = ()


@dataclasses.dataclass(frozen=True)
class PointRun:
    """What an observation whose x is a run key reads of the run at one x (its summary,
    series and sensitivities; not the fields): small enough to gather from the rank group that
    ran it."""

    summary: dict
    series: dict
    #: run key -> quantity -> derivative (with sensitivities), else {}
    sensitivities: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class DatasetFit:
    name: str
    parts: ModelParts
    nuisance: np.ndarray
    model: np.ndarray
    residuals: np.ndarray      # weighted: (y - model)/sigma, or y - model without sigma


@dataclasses.dataclass(frozen=True)
class Evaluation:
    z: np.ndarray
    values: dict[str, float]
    datasets: tuple[DatasetFit, ...]

    @property
    def residuals(self) -> np.ndarray:
        return np.concatenate([d.residuals for d in self.datasets])

    @property
    def chi2(self) -> float:
        r = self.residuals
        return float(r @ r)


def _summed(sensitivities: dict, keys: tuple[str, ...]) -> dict:
    """quantity -> the sum over ``keys`` of its sensitivities: the derivative with respect to a
    parameter that sets all of them to one value (chain rule)."""
    first, *rest = keys
    out = dict(sensitivities[first])
    for k in rest:
        out = {q: v + sensitivities[k][q] for q, v in out.items()}
    return out


class Objective:
    """Residuals of the fit as a function of the optimiser's vector ``z``."""

    def __init__(self, config: FitConfig, datasets: tuple[PreparedDataset, ...],
                 simulate: Callable | None = None, sensitivities: bool = False,
                 groups: RankGroups | None = None):
        self.config = config
        self.datasets = datasets
        self.free = config.free_parameters()
        #: forward runs carry sensitivities (for the keys each dataset's model differentiates);
        #: an injected forward model only if it says it can (``supports_sensitivities``)
        self.sensitivities = sensitivities and (simulate is None or getattr(simulate, "supports_sensitivities", False))
        #: the rank groups the forward runs are spread over (default: one group, all of
        #: COMM_WORLD, as a plain fem_spin.simulate runs)
        self.groups = groups if groups is not None else rank_groups()
        if simulate is None:   # an injected forward model is serial and called as it always was
            from fem_spin.api import simulate as api_simulate

            simulate = functools.partial(api_simulate, comm=self.groups.model)
        self.simulate = simulate
        self._cache: dict[tuple, ModelParts] = {}
        #: the steps of each dataset's last run: the cost estimate of the schedule (from the
        #: gathered results, hence the same on every rank)
        self._cost: dict[str, float] = {}
        self.forward_runs = 0
        self.forward_seconds = 0.0
        self.evaluations = 0
        self.best: Evaluation | None = None

    # -- coordinates -------------------------------------------------------------------
    def initial(self) -> np.ndarray:
        return np.array([p.to_internal(p.spec.initial) for p in self.free])

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        lo = [p.to_internal(p.spec.lower) if math.isfinite(p.spec.lower) else -np.inf for p in self.free]
        hi = [p.to_internal(p.spec.upper) if math.isfinite(p.spec.upper) else np.inf for p in self.free]
        return np.array(lo), np.array(hi)

    def physical(self, z: np.ndarray) -> dict[str, float]:
        return {p.name: p.to_physical(float(v)) for p, v in zip(self.free, z)}

    # -- forward runs ------------------------------------------------------------------
    def differentiates(self, dataset: PreparedDataset, parameter) -> bool:
        """Whether the forward runs of ``dataset`` carry the sensitivity to ``parameter``."""
        return self.sensitivities and parameter.spec.key in dataset.tangent_keys

    def _key(self, dataset: PreparedDataset, values: dict[str, float]) -> tuple:
        return (dataset.spec.name, tuple(values[p.name] for p in dataset.parameters))

    def _tangent_keys(self, dataset: PreparedDataset, tangent: bool) -> tuple[str, ...]:
        """The run keys a forward run differentiates: every run key of a differentiated
        parameter (``also`` keys too: their sum is its column)."""
        if not (self.sensitivities and tangent):
            return ()
        return tuple(k for p in dataset.parameters if p.spec.key in dataset.tangent_keys for k in p.spec.keys)

    def _cached(self, dataset: PreparedDataset, values: dict[str, float], tangent: bool) -> ModelParts | None:
        cached = self._cache.get(self._key(dataset, values))
        if cached is not None and (not self._tangent_keys(dataset, tangent) or cached.tangent is not None):
            return cached
        return None

    def parts(self, dataset: PreparedDataset, values: dict[str, float], tangent: bool = True) -> ModelParts:
        """f0, A of ``dataset`` at the parameter ``values`` (one forward run unless cached),
        with their sensitivities when the objective computes them and ``tangent``."""
        cached = self._cached(dataset, values, tangent)
        if cached is None:
            self.prefetch([(dataset, values, tangent)])
            cached = self._cache[self._key(dataset, values)]
        return cached

    def prefetch(self, requests: Iterable[tuple[PreparedDataset, dict[str, float], bool]]) -> None:
        """Run the forward runs of ``requests`` (dataset, parameter values, with sensitivities)
        that are not cached, spread over the rank groups, and cache them on every rank.
        Every rank of the fit calls it with the same requests (the fit is the same on every
        rank). Raises the ForwardFailed of the first failed request, as a serial fit would."""
        todo, seen = [], set()
        for dataset, values, tangent in requests:
            key = self._key(dataset, values)
            if key in seen or self._cached(dataset, values, tangent) is not None:
                continue
            seen.add(key)
            todo.append((dataset, dict(values), self._tangent_keys(dataset, tangent)))
        if not todo:
            return
        # one task per request, or per distinct x of a request whose x is a run key
        tasks = []
        for r, (dataset, _, _) in enumerate(todo):
            if dataset.spec.observation.run_key() is None:
                tasks.append((r, None))
            else:
                tasks += [(r, x) for x in dict.fromkeys(float(x) for x in dataset.data.x)]
        costs = [self._cost.get(todo[r][0].spec.name, 1.0) for r, _ in tasks]
        outcomes = self.groups.run(lambda task: self._task(todo[task[0]], task[1]), tasks, costs)
        points: dict[int, dict[float, PointRun]] = {}
        for (r, x), (out, seconds) in zip(tasks, outcomes):
            self.forward_runs += 1
            self.forward_seconds += seconds
            dataset, values, _ = todo[r]
            if x is None:
                self._cache[self._key(dataset, values)] = out
                self._cost[dataset.spec.name] = float(max(out.steps, 1))
            else:
                points.setdefault(r, {})[x] = out
                self._cost[dataset.spec.name] = 1.0
        for r, by_x in points.items():
            dataset, values, keys = todo[r]
            self._cache[self._key(dataset, values)] = self._point_parts(dataset, keys, by_x)

    def _task(self, request, x: float | None):
        """One task of :meth:`prefetch`: the run of a request, or of its point ``x``."""
        return self._forward(*request) if x is None else self._point_run(*request, x)

    def _forward(self, dataset: PreparedDataset, values: dict[str, float],
                 keys: tuple[str, ...]) -> tuple[ModelParts, float]:
        """The forward run of ``dataset`` at ``values`` (with the sensitivities to ``keys``)
        on this rank's group: (parts, its wall time)."""
        from fem_spin.solvers import SimulationFailed

        overrides = run_overrides(dataset, values)
        started = time.perf_counter()
        try:
            if keys:
                result = self.simulate(str(dataset.run_path), overrides=overrides, sensitivities=keys)
            else:
                result = self.simulate(str(dataset.run_path), overrides=overrides)
        except SimulationFailed as exc:
            shown = ", ".join(f"{p.spec.key} = {values[p.name]:.6g}" for p in dataset.parameters)
            raise ForwardFailed(f"the forward run of dataset {dataset.spec.name!r} failed at "
                                f"{shown}: {exc}") from exc
        seconds = time.perf_counter() - started
        f0, A, names = dataset.spec.observation.basis(result, dataset.data.x)
        tangents = None
        if keys:
            tangents = {}
            for p in dataset.parameters:
                if p.spec.key in keys:
                    tangents[p.name] = dataset.spec.observation.basis_tangent(
                        result, dataset.data.x, _summed(result.sensitivities, p.spec.keys))
        parts = ModelParts(f0=f0, A=A, names=names, steps=len(result.series.get("t", ())) - 1,
                           tangent=tangents, run_steps=tuple(getattr(result, "steps", ()) or ()))
        return parts, seconds

    def _point_run(self, dataset: PreparedDataset, values: dict[str, float], keys: tuple[str, ...],
                   x: float) -> tuple[PointRun, float]:
        """The run of an observation whose independent variable is a run key, at one x (the
        points of a dataset share its runs: repeated x, one run); with ``keys`` it carries
        the sensitivities of the observed quantities (a stationary model's,
        solvers/sensitivity.SteadyTangent). (what the observation reads of it, its wall time)"""
        from fem_spin.solvers import SimulationFailed

        observation = dataset.spec.observation
        point = {**run_overrides(dataset, values), observation.run_key(): observation.run_value(x)}
        started = time.perf_counter()
        try:
            result = (self.simulate(str(dataset.run_path), overrides=point, sensitivities=keys)
                      if keys else self.simulate(str(dataset.run_path), overrides=point))
        except SimulationFailed as exc:
            shown = ", ".join(f"{p.spec.key} = {values[p.name]:.6g}" for p in dataset.parameters)
            raise ForwardFailed(f"the forward run of dataset {dataset.spec.name!r} at {observation.run_key()} = "
                                f"{x:g} failed at {shown}: {exc}") from exc
        seconds = time.perf_counter() - started
        return PointRun(summary=result.summary, series=getattr(result, "series", {}),
                        sensitivities=getattr(result, "sensitivities", {}) if keys else {}), seconds

    def _point_parts(self, dataset: PreparedDataset, keys: tuple[str, ...], by_x: dict[float, PointRun]) -> ModelParts:
        """f0, A of an observation whose independent variable is a run key, from its runs
        ``by_x``: the observation's basis of the points' runs, and per differentiated
        parameter the basis of the quantities' derivatives at every point."""
        observation = dataset.spec.observation
        results = [by_x[float(x)] for x in dataset.data.x]
        f0, A, names = observation.basis(results, dataset.data.x)
        tangents = None
        if keys:
            tangents = {}
            for p in dataset.parameters:
                if p.spec.key in keys:   # per point: the quantities' derivatives
                    per_point = [_summed(r.sensitivities, p.spec.keys) for r in results]
                    tangents[p.name] = observation.basis_tangent(results, dataset.data.x, {
                        q: np.array([float(d[q]) for d in per_point]) for q in observation.tangent_quantities()})
        return ModelParts(f0=f0, A=A, names=names, steps=len(by_x), tangent=tangents)

    def fit_dataset(self, dataset: PreparedDataset, parts: ModelParts) -> DatasetFit:
        data = dataset.data
        c = solve_nuisance(parts.f0, parts.A, data.y, data.weights)
        model = parts.f0 + parts.A @ c
        r = data.y - model
        if data.sigma is not None:
            r = r / data.sigma
        return DatasetFit(dataset.spec.name, parts, c, model, r)

    def evaluate(self, z: np.ndarray, tangent: bool = True) -> Evaluation:
        z = np.asarray(z, float).copy()
        values = self.physical(z)
        self.prefetch((d, values, tangent) for d in self.datasets)
        fits = tuple(self.fit_dataset(d, self.parts(d, values, tangent)) for d in self.datasets)
        evaluation = Evaluation(z, values, fits)
        if self.best is None or evaluation.chi2 < self.best.chi2:
            self.best = evaluation
        return evaluation

    def residuals(self, z: np.ndarray) -> np.ndarray:
        """What the optimiser calls (counted in ``evaluations``)."""
        self.evaluations += 1
        return self.evaluate(z).residuals

    @contextlib.contextmanager
    def on_own_group(self) -> Iterator["Objective"]:
        """For a task one group runs by itself (a side of a profile likelihood): its forward
        runs stay on this rank's group, and afterwards the cache, the counters and the best
        evaluation are as before, so that every rank's objective is the same again (the
        task's runs are counted from its gathered result)."""
        saved = (self.groups, dict(self._cache), dict(self._cost), self.forward_runs,
                 self.forward_seconds, self.evaluations, self.best)
        self.groups = self.groups.local()
        try:
            yield self
        finally:
            (self.groups, self._cache, self._cost, self.forward_runs, self.forward_seconds,
             self.evaluations, self.best) = saved
