"""The objective of a fit: weighted residuals of every dataset for a vector of free
parameters, with the linear nuisance parameters solved in closed form.

For the optimiser's vector ``z`` (log of a log-scaled parameter, value/typical size of a
linear one) each dataset is simulated once (``fem_spin.simulate`` with the parameters as
overrides; the mesh is built once and reused), its observation gives ``f0 + A c`` at the
data's times, ``c`` is the weighted linear least-squares solution (variable projection: the
nuisances never enter the nonlinear optimiser), and the residuals ``(y - f0 - A c)/sigma``
(unweighted without sigma) of all datasets are concatenated.

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


class Objective:
    """Residuals of the fit as a function of the optimiser's vector ``z``."""

    def __init__(self, config: FitConfig, datasets: tuple[PreparedDataset, ...],
                 simulate: Callable | None = None):
        self.config = config
        self.datasets = datasets
        self.free = config.free_parameters()
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
    def parts(self, dataset: PreparedDataset, values: dict[str, float]) -> ModelParts:
        """f0, A of ``dataset`` at the parameter ``values`` (one forward run unless cached)."""
        key = (dataset.spec.name, tuple(values[p.name] for p in dataset.parameters))
        if key in self._cache:
            return self._cache[key]
        from fem_spin.solvers import SimulationFailed

        overrides = run_overrides(dataset, values)
        started = time.perf_counter()
        try:
            result = self.simulate(str(dataset.run_path), overrides=overrides)
        except SimulationFailed as exc:
            shown = ", ".join(f"{p.spec.key} = {values[p.name]:.6g}" for p in dataset.parameters)
            raise ForwardFailed(f"the forward run of dataset {dataset.spec.name!r} failed at "
                                f"{shown}: {exc}") from exc
        self.forward_seconds += time.perf_counter() - started
        self.forward_runs += 1
        f0, A, names = dataset.spec.observation.basis(result, dataset.data.x)
        parts = ModelParts(f0=f0, A=A, names=names, steps=len(result.series.get("t", ())) - 1)
        self._cache[key] = parts
        return parts

    def fit_dataset(self, dataset: PreparedDataset, parts: ModelParts) -> DatasetFit:
        data = dataset.data
        c = solve_nuisance(parts.f0, parts.A, data.y, data.weights)
        model = parts.f0 + parts.A @ c
        r = data.y - model
        if data.sigma is not None:
            r = r / data.sigma
        return DatasetFit(dataset.spec.name, parts, c, model, r)

    def evaluate(self, z: np.ndarray) -> Evaluation:
        z = np.asarray(z, float).copy()
        values = self.physical(z)
        fits = tuple(self.fit_dataset(d, self.parts(d, values)) for d in self.datasets)
        evaluation = Evaluation(z, values, fits)
        if self.best is None or evaluation.chi2 < self.best.chi2:
            self.best = evaluation
        return evaluation

    def residuals(self, z: np.ndarray) -> np.ndarray:
        """What the optimiser calls (counted in ``evaluations``)."""
        self.evaluations += 1
        return self.evaluate(z).residuals
