"""The fit: ``fem_spin.fit(fit_file)`` and ``fem-spin fit FIT.toml``.

1. the fit file is parsed (:mod:`~fem_spin.fitting.config`) and everything is checked and
   read (:mod:`~fem_spin.fitting.setup`) before any simulation; with a ``directory``, the fit
   directory is checked too (io/rundir.py: never replaced without ``overwrite``, never one
   fem_spin did not make);
2. ``scipy.optimize.least_squares`` (trust region reflective, with the bounds) minimises the
   weighted residuals (:mod:`~fem_spin.fitting.objective`) over the optimiser's coordinates:
   ln p for log-scaled parameters, p/typical for linear ones, so that ``x_scale`` is 1 for
   every coordinate (a unit change is a factor e, or one typical size);
3. at the optimum the full Jacobian (parameters and nuisances) gives the statistics
   (:mod:`~fem_spin.fitting.statistics`), which are converted to physical units (delta
   method: SE(p) = p SE(ln p) for a log-scaled parameter);
4. with a ``directory``: fit.json, fit_report.md, one CSV and one plot per dataset and the
   correlation plot (:mod:`~fem_spin.fitting.report`), staged and swapped in as a run
   directory is. A fit that does not converge, or whose forward run fails, still writes its
   best state, with the reason in ``status``.

Under MPI every rank runs this whole function with the same inputs; the forward runs are
spread over rank groups of ``ranks_per_model`` ranks (:mod:`~fem_spin.fitting.parallel`) and
gathered, so the optimiser takes the same steps everywhere; only rank 0 of ``comm`` prints
and writes.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from fem_spin.fitting.config import FitConfig, FreeParameter, load_fit_config
from fem_spin.fitting.jacobian import FiniteDifferences, Sensitivities, auto_step, full_jacobian
from fem_spin.fitting.objective import Evaluation, ForwardFailed, Objective
from fem_spin.fitting.parallel import check_ranks_per_model, rank_groups
from fem_spin.fitting.setup import PreparedDataset, prepare
from fem_spin.fitting.statistics import FitStatistics, analyse

__all__ = ["Estimate", "DatasetResult", "FitResult", "fit", "FitNotConverged"]


#: the automatic finite-difference step (optimiser coordinates) when every dataset's runs are
#: stationary (no time tolerance to size it by)
STATIONARY_FD_STEP = 1e-3


class FitNotConverged(RuntimeError):
    """The optimiser stopped without meeting its tolerances, or a forward run failed; the
    best state was written (``directory``)."""

    def __init__(self, message: str, result: "FitResult"):
        super().__init__(message)
        self.result = result
        self.run_dir = result.directory


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A fitted value with its standard error (physical units)."""

    name: str
    value: float
    standard_error: float
    scale: str = "linear"            # how it was optimised: log | linear | nuisance
    initial: float | None = None
    bounds: tuple[float, float] | None = None
    at_bound: bool = False

    @property
    def relative_error(self) -> float:
        return abs(self.standard_error / self.value) if self.value else math.inf

    @property
    def interval(self) -> tuple[float, float]:
        """The one-standard-error interval: value*exp(-+SE(ln p)) for a log-scaled
        parameter (its Gaussian approximation is in ln p), value -+ SE otherwise."""
        if self.scale == "log":
            s = self.relative_error
            return self.value * math.exp(-s), self.value * math.exp(s)
        return self.value - self.standard_error, self.value + self.standard_error

    def as_dict(self) -> dict:
        return {"value": self.value, "standard_error": self.standard_error,
                "relative_error": self.relative_error, "interval_1sigma": list(self.interval),
                "scale": self.scale, "initial": self.initial,
                "bounds": list(self.bounds) if self.bounds else None, "at_bound": self.at_bound}


@dataclasses.dataclass(frozen=True)
class DatasetResult:
    name: str
    file: str
    run: str
    x: np.ndarray              # s
    y: np.ndarray
    sigma: np.ndarray | None
    model: np.ndarray
    residuals: np.ndarray      # weighted (y - model)/sigma, or y - model without sigma
    nuisance: dict[str, Estimate]
    time_unit: str
    value_unit: str
    chi2: float
    forward_steps: int
    observation: str
    #: the independent variable: "time" (x in s, shown in time_unit) or, for an observation
    #: whose x is a run key, e.g. "distance" (x in SI, shown in time_unit = its unit)
    x_name: str = "time"
    #: SI units per unit of time_unit
    x_factor: float | None = None


@dataclasses.dataclass
class FitResult:
    config: FitConfig
    parameters: dict[str, Estimate]
    datasets: dict[str, DatasetResult]
    statistics: FitStatistics
    converged: bool
    status: str
    optimiser: dict[str, Any]
    #: time.tolerance of the forward runs and the finite-difference step
    time_tolerance: float | None
    fd_step: float
    wall_time_s: float
    forward_runs: int
    forward_seconds: float
    directory: Path | None = None
    #: the Jacobian: method, how each parameter's column was computed and why not by
    #: sensitivities where it was not
    jacobian: dict = dataclasses.field(default_factory=dict)
    #: profile-likelihood intervals (fitting/profile.py), by parameter name
    profiles: dict = dataclasses.field(default_factory=dict)
    #: how the forward runs were spread: MPI ranks, ranks per model, rank groups
    parallel: dict = dataclasses.field(default_factory=dict)
    #: the confirmation runs (``confirm_run``, fitting/confirm.py): dataset -> Confirmation,
    #: and their forward runs and seconds (not counted in ``forward_runs``)
    confirmation: dict = dataclasses.field(default_factory=dict)
    confirmation_runs: tuple[int, float] = (0, 0.0)

    def __getitem__(self, name: str) -> Estimate:
        return self.parameters[name]


def _at_bound(p: FreeParameter, value: float) -> bool:
    lo, hi = p.spec.lower, p.spec.upper
    tol = 1e-6
    if p.log:
        return abs(math.log(value / lo)) < tol or abs(math.log(hi / value)) < tol
    span = (hi - lo) if math.isfinite(hi - lo) else p.typical
    return abs(value - lo) < tol * span or abs(hi - value) < tol * span


def _result(objective: Objective, at: Evaluation, J: np.ndarray, names: list[str],
            config: FitConfig, **info) -> FitResult:
    datasets = objective.datasets
    sigma_known = all(d.data.sigma is not None for d in datasets)
    sigma = np.concatenate([d.data.sigma for d in datasets]) if sigma_known else None
    if not sigma_known and any(d.data.sigma is not None for d in datasets):
        sigma = None   # mixed: treated as unweighted for the likelihood (stated in the report)
    stats = analyse(J, at.residuals, names, sigma=sigma, scale_covariance=config.fit.scale_covariance,
                    correlation_threshold=config.fit.correlation_threshold,
                    condition_threshold=config.fit.condition_threshold)
    params = {}
    for j, p in enumerate(objective.free):
        value = at.values[p.name]
        se_z = stats.standard_errors[j]
        se = value * se_z if p.log else se_z * p.typical
        params[p.name] = Estimate(p.name, value, float(abs(se)), p.spec.scale, p.spec.initial,
                                  (p.spec.lower, p.spec.upper), _at_bound(p, value))
    results, col = {}, len(objective.free)
    for d, fitted in zip(datasets, at.datasets):
        nuis = {}
        for name, c in zip(fitted.parts.names, fitted.nuisance):
            nuis[name] = Estimate(f"{name}[{d.spec.name}]", float(c), float(stats.standard_errors[col]),
                                  "nuisance")
            col += 1
        results[d.spec.name] = DatasetResult(
            name=d.spec.name, file=str(d.spec.file), run=str(d.spec.run), x=d.data.x, y=d.data.y,
            sigma=d.data.sigma, model=fitted.model, residuals=fitted.residuals, nuisance=nuis,
            time_unit=d.spec.observation.x_unit(d.spec), value_unit=d.spec.value_unit,
            x_name=d.spec.observation.x_name, x_factor=d.spec.observation.x_factor(d.spec),
            chi2=float(fitted.residuals @ fitted.residuals), forward_steps=fitted.parts.steps,
            observation=d.spec.observation.describe())
    return FitResult(config=config, parameters=params, datasets=results, statistics=stats,
                     forward_runs=objective.forward_runs, forward_seconds=objective.forward_seconds,
                     **info)


def _groups(config: FitConfig, comm, ranks_per_model: int | None):
    """The rank groups of the fit: ``ranks_per_model`` (the argument, else the fit file's
    ``fit.ranks_per_model``) must divide the ranks of ``comm``; the error names the key."""
    from mpi4py import MPI

    comm = comm if comm is not None else MPI.COMM_WORLD
    if ranks_per_model is not None:
        rpm = check_ranks_per_model(ranks_per_model, comm.size, "ranks_per_model", "fem_spin.fit")
    else:
        rpm = check_ranks_per_model(config.fit.ranks_per_model, comm.size, "fit.ranks_per_model",
                                    config.source)
    return rank_groups(comm, rpm)


def fit(fit_config_or_path: FitConfig | str | Path, *, directory: str | Path | None = None,
        overwrite: bool = False, quiet: bool = True, simulate: Callable | None = None,
        command: str = "", ranks_per_model: int | None = None, comm=None) -> FitResult:
    """Fit the models of a fit file (a path or a parsed :class:`FitConfig`) to its datasets.

    In memory by default; with ``directory`` the results go to ``directory/<name>`` (fit.json,
    fit_report.md, plots), refused if that exists unless ``overwrite`` (and then only a
    directory fem_spin made). Raises ConfigError (one line naming the file and the key or
    line) before any simulation for bad input, :class:`FitNotConverged` (after writing the
    best state) when the optimiser stops short or a forward run fails.

    Under MPI (every rank of ``comm``, default COMM_WORLD, calls it): the forward runs are
    spread over groups of ``ranks_per_model`` ranks (default: the fit file's
    ``fit.ranks_per_model``, 1: every rank runs serial models); it must divide the number
    of ranks. The result is the same on every rank and, with 1 rank per model, the serial
    fit's (fitting/parallel.py)."""
    from scipy.optimize import least_squares

    started = time.perf_counter()
    config = fit_config_or_path if isinstance(fit_config_or_path, FitConfig) \
        else load_fit_config(fit_config_or_path)
    groups = _groups(config, comm, ranks_per_model)
    datasets: tuple[PreparedDataset, ...] = prepare(config)
    rundir = None
    if directory is not None:
        from fem_spin.io import RunDirectory

        rundir = RunDirectory(directory, config.name, comm=groups.comm, overwrite=overwrite)
        rundir.check()
    tolerances = [d.time_tolerance for d in datasets if d.time_tolerance is not None]
    tolerance = min(tolerances) if tolerances else None
    # stationary runs only (a linear solve to the solver's tolerance, the mesh fixed): 1e-3
    step = (auto_step(tolerance) if tolerance is not None else STATIONARY_FD_STEP) \
        if config.fit.fd_step == "auto" else float(config.fit.fd_step)
    use_sensitivities = config.fit.jacobian == "sensitivities"
    objective = Objective(config, datasets, simulate=simulate, sensitivities=use_sensitivities,
                          groups=groups)
    method = Sensitivities(FiniteDifferences(step)) if objective.sensitivities else FiniteDifferences(step)
    columns = method.columns(objective)
    why = {}
    for d in datasets:
        for key, reason in d.tangent_refused:
            why.setdefault(key, reason)
    jacobian_info = {"method": config.fit.jacobian, "columns": columns,
                     "finite_difference_step": step,
                     "not_by_sensitivities": {p.name: (why.get(p.spec.key) if use_sensitivities and objective.sensitivities
                                                       else "fit.jacobian = \"finite_differences\"" if not use_sensitivities
                                                       else "the injected forward model has no sensitivities")
                                              for p in objective.free if columns[p.name] != "sensitivities"}}
    lower, upper = objective.bounds()
    say = (lambda *a: None) if quiet or not groups.is_root else (lambda msg: print(f"fem-spin: {msg}", flush=True))
    parallel = {"ranks": groups.comm.size, "ranks_per_model": groups.ranks_per_model,
                "groups": groups.count}
    say(f"fitting {len(objective.free)} parameter(s) to {len(datasets)} dataset(s), "
        f"{sum(len(d.data) for d in datasets)} points; forward runs " +
        (f"at time.tolerance = {tolerance:g}" if tolerance is not None else "stationary") +
        (f", spread over {groups.count} rank groups of {groups.ranks_per_model} rank(s)"
         if groups.count > 1 else ""))

    iteration = [0]

    def jac(z):
        J = method(objective, z)
        iteration[0] += 1
        best = objective.best
        say(f"  iteration {iteration[0]}: chi2 = {best.chi2:.6g} at " + ", ".join(
            f"{k} = {v:.5g}" for k, v in best.values.items()))
        return J

    converged, status, info = False, "", {}
    try:
        sol = least_squares(objective.residuals, objective.initial(), jac=jac, bounds=(lower, upper),
                            method="trf", x_scale=np.ones(len(lower)), ftol=config.fit.ftol,
                            xtol=config.fit.xtol, gtol=config.fit.gtol,
                            max_nfev=config.fit.max_evaluations)
        converged = sol.status > 0
        status = "converged" if converged else "not converged"
        info = {"method": "scipy.optimize.least_squares (trf)", "status": int(sol.status),
                "message": str(sol.message), "nfev": int(sol.nfev),
                "njev": int(sol.njev) if sol.njev is not None else None,
                "optimality": float(sol.optimality)}
        at = objective.evaluate(sol.x)
    except ForwardFailed as exc:
        status, at = f"failed: {exc}", objective.best
        info = {"method": "scipy.optimize.least_squares (trf)", "message": str(exc)}
        if at is None:
            raise
    J, names = full_jacobian(objective, method, at)   # the runs of the last Jacobian, cached
    jacobian_info["jacobian_evaluations"] = iteration[0]
    result = _result(objective, at, J, names, config, converged=converged, status=status,
                     optimiser=info, time_tolerance=tolerance, fd_step=step,
                     wall_time_s=time.perf_counter() - started, jacobian=jacobian_info,
                     parallel=parallel)
    if converged:
        from fem_spin.fitting.profile import profile_parameters, select_profiled

        profiled = select_profiled(config.fit.profile, objective.free, result.statistics, result.parameters)
        if profiled:
            say("  profile likelihood of " + ", ".join(objective.free[j].name for j in profiled))
        profiles = profile_parameters(objective, method, at, result.statistics, profiled, result.parameters,
                                      max_points=config.fit.profile_points)
        for name, outcome in profiles.items():
            if isinstance(outcome, ForwardFailed):
                say(f"  profile of {name} stopped: {outcome}")
            else:
                result.profiles[name] = outcome
        result.forward_runs = objective.forward_runs
        result.forward_seconds = objective.forward_seconds
        if any(d.confirm is not None for d in datasets):
            from fem_spin.fitting.confirm import confirm

            say("  confirming on " + ", ".join(sorted({str(d.confirm.spec.run.name) for d in datasets
                                                       if d.confirm is not None})))
            found, runs, seconds = confirm(objective, at)
            result.confirmation, result.confirmation_runs = found, (runs, seconds)
            for name, c in found.items():
                say(f"  {name}: {c.verdict()}")
        result.wall_time_s = time.perf_counter() - started
    if rundir is not None:
        from fem_spin.fitting.report import write_fit_directory

        result.directory = write_fit_directory(result, rundir, command=command)
        result.wall_time_s = time.perf_counter() - started
    if not converged:
        raise FitNotConverged(f"the fit did not converge ({info.get('message', status)}); its best "
                              f"state is in {result.directory or 'the FitNotConverged.result'}", result)
    return result
