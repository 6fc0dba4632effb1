"""The objective of a fit: weighted residuals of every dataset for a vector of free
parameters, with the linear nuisance parameters solved in closed form.

For the optimiser's vector ``z`` (log of a log-scaled parameter, value/typical size of a
linear one) each dataset is simulated once (``fem_spin.simulate`` with the parameters as
overrides; the mesh is built once and reused), its observation gives ``f0 + A c`` at the
data's times, ``c`` is the weighted linear least-squares solution (variable projection: the
nuisances never enter the nonlinear optimiser), and the residuals ``(y - f0 - A c)/sigma``
(unweighted without sigma) of all datasets are concatenated.

A dataset whose observation's independent variable is a run key (``run_key()``, e.g. the
spin valve's ``geometry.separation``) is one stationary run per distinct x instead, observed
together (:meth:`Objective._point_parts`).

Forward runs are cached by the physical values of the parameters acting on a dataset: a
per-dataset parameter's finite-difference column re-runs that dataset only, and the final
statistics reuse the runs of the last Jacobian.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Callable

import numpy as np

from fem_spin.fitting.config import FitConfig
from fem_spin.fitting.setup import PreparedDataset, run_overrides
from fem_spin.fitting.statistics import solve_nuisance

__all__ = ["ForwardFailed", "ModelParts", "DatasetFit", "Evaluation", "Objective"]


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
                 simulate: Callable | None = None, sensitivities: bool = False):
        self.config = config
        self.datasets = datasets
        self.free = config.free_parameters()
        #: forward runs carry sensitivities (for the keys each dataset's model differentiates);
        #: an injected forward model only if it says it can (``supports_sensitivities``)
        self.sensitivities = sensitivities and (simulate is None or getattr(simulate, "supports_sensitivities", False))
        if simulate is None:
            from fem_spin.api import simulate
        self.simulate = simulate
        self._cache: dict[tuple, ModelParts] = {}
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

    def parts(self, dataset: PreparedDataset, values: dict[str, float], tangent: bool = True) -> ModelParts:
        """f0, A of ``dataset`` at the parameter ``values`` (one forward run unless cached),
        with their sensitivities when the objective computes them and ``tangent``."""
        key = (dataset.spec.name, tuple(values[p.name] for p in dataset.parameters))
        # every run key of a differentiated parameter (``also`` keys too: their sum is its column)
        keys = tuple(k for p in dataset.parameters if p.spec.key in dataset.tangent_keys
                     for k in p.spec.keys) if (self.sensitivities and tangent) else ()
        cached = self._cache.get(key)
        if cached is not None and (not keys or cached.tangent is not None):
            return cached
        from fem_spin.solvers import SimulationFailed

        overrides = run_overrides(dataset, values)
        if dataset.spec.observation.run_key() is not None:
            parts = self._point_parts(dataset, values, overrides, keys)
            self._cache[key] = parts
            return parts
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
        self.forward_seconds += time.perf_counter() - started
        self.forward_runs += 1
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
        self._cache[key] = parts
        return parts

    def _point_parts(self, dataset: PreparedDataset, values: dict[str, float], overrides: dict,
                     keys: tuple[str, ...] = ()) -> ModelParts:
        """f0, A of an observation whose independent variable is a run key: one forward run
        per distinct value of the data's x (repeated x share a run), then the observation's
        basis of the Results, one per point; with ``keys`` each run carries the sensitivities
        of the observed quantities (a stationary model's, solvers/sensitivity.SteadyTangent)."""
        from fem_spin.solvers import SimulationFailed

        observation = dataset.spec.observation
        run_key = observation.run_key()
        by_x: dict[float, object] = {}
        for x in dataset.data.x:
            x = float(x)
            if x in by_x:
                continue
            started = time.perf_counter()
            point = {**overrides, run_key: observation.run_value(x)}
            try:
                result = (self.simulate(str(dataset.run_path), overrides=point, sensitivities=keys)
                          if keys else self.simulate(str(dataset.run_path), overrides=point))
            except SimulationFailed as exc:
                shown = ", ".join(f"{p.spec.key} = {values[p.name]:.6g}" for p in dataset.parameters)
                raise ForwardFailed(f"the forward run of dataset {dataset.spec.name!r} at {run_key} = "
                                    f"{x:g} failed at {shown}: {exc}") from exc
            self.forward_seconds += time.perf_counter() - started
            self.forward_runs += 1
            result.fields = {}   # only the summary is observed: do not keep the meshes' functions
            by_x[x] = result
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
        fits = tuple(self.fit_dataset(d, self.parts(d, values, tangent)) for d in self.datasets)
        evaluation = Evaluation(z, values, fits)
        if self.best is None or evaluation.chi2 < self.best.chi2:
            self.best = evaluation
        return evaluation

    def residuals(self, z: np.ndarray) -> np.ndarray:
        """What the optimiser calls (counted in ``evaluations``)."""
        self.evaluations += 1
        return self.evaluate(z).residuals
