"""Everything a fit checks before its first forward run: the run files (with the overrides
and every free parameter at its initial value and at its bounds, parsed and validated as a
run would be), the observations against the runs, and the datasets line by line.

An error names the file it comes from: the fit file and its key for an override or a
parameter the run refuses, the run file and its key for the run itself, the dataset file
and its line for the data.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from pathlib import Path
from typing import Any

from fem_spin.config import ConfigError, parse_config
from fem_spin.fitting.config import DatasetSpec, FitConfig, FreeParameter
from fem_spin.fitting.data import Dataset, read_dataset

__all__ = ["PreparedDataset", "prepare", "run_overrides"]


@dataclasses.dataclass(frozen=True)
class PreparedDataset:
    spec: DatasetSpec
    data: Dataset
    #: the run file's tables as read (overrides not applied)
    run_raw: dict
    #: the free parameters acting on this dataset (entries of the optimiser's vector)
    parameters: tuple[FreeParameter, ...]
    #: the fixed overrides: the dataset's own and the fit's time tolerance
    fixed: tuple[tuple[str, Any], ...]
    t_end: float
    #: time.tolerance of its forward runs (the fit's, or the run file's); None: stationary
    time_tolerance: float | None
    #: run keys of its free parameters whose forward sensitivities the model and the
    #: observation support (solvers/sensitivity.py); the others go by finite differences
    tangent_keys: tuple[str, ...] = ()
    #: why the others cannot: run key -> reason
    tangent_refused: tuple[tuple[str, str], ...] = ()
    #: the same dataset simulated with its ``confirm_run`` (fitting/confirm.py), or None
    confirm: "PreparedDataset | None" = None

    @property
    def run_path(self) -> Path:
        return self.spec.run


def run_overrides(dataset: PreparedDataset, values: dict[str, float]) -> dict[str, Any]:
    """The overrides of one forward run: the fixed ones, then the free parameters' values
    (``values``: free-parameter name -> physical value)."""
    out = dict(dataset.fixed)
    for p in dataset.parameters:
        for key in p.spec.keys:
            out[key] = values[p.name]
    return out


def _read_run(path: Path, source: str, key: str) -> dict:
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError(key, f"run file {path} not found", file=source) from None
    except IsADirectoryError:
        raise ConfigError(key, f"{path} is a directory, not a run file", file=source) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError("", f"not valid TOML: {exc}", file=str(path)) from None


def _parse_run(raw: dict, overrides: dict, path: Path, fit_source: str, blame: dict[str, str]):
    """The RunConfig of ``raw`` with ``overrides``; an error about an overridden key names the
    fit file's key that set it (``blame``: run key -> fit-file key)."""
    from fem_spin.api import apply_overrides

    try:
        return parse_config(apply_overrides(raw, overrides), source=str(path), base_dir=path.parent)
    except ConfigError as exc:
        for run_key, fit_key in blame.items():
            if exc.key == run_key or exc.key == run_key.split(".", 1)[-1] or \
                    (exc.key and run_key.startswith(exc.key + ".")):
                value = overrides.get(run_key)
                raise ConfigError(fit_key, f"{run_key} = {value!r} is refused by {path.name}: "
                                  f"{exc.message}", file=fit_source) from None
        raise


def _confirmation(dataset: PreparedDataset, fit_source: str, blame: dict[str, str]) -> PreparedDataset:
    """The dataset simulated with its ``confirm_run`` instead (fitting/confirm.py), checked as
    its run is: the file exists, it is a transient nuclear_diffusion run without a sweep that
    accepts the overrides and the parameters' initial values and runs as long as the data
    need, and the observation can observe it. Errors name ``dataset[i].confirm_run`` and the
    fit file."""
    spec = dataset.spec
    key = f"dataset[{spec.index}].confirm_run"
    path = spec.confirm_run
    raw = _read_run(path, fit_source, key)
    # the kind of run first: another model's run would refuse the fit's parameters, and that
    # error would name a parameter instead of this key
    model = raw.get("model", {}).get("type") if isinstance(raw.get("model"), dict) else None
    if model != "nuclear_diffusion" or "time" not in raw or "sweep" in raw:
        what = ("a [sweep]" if "sweep" in raw else
                f"a {'transient ' if 'time' in raw else 'stationary '}{model or 'model-less'} run")
        raise ConfigError(key, f"{path} has {what}: a confirmation runs a transient nuclear_diffusion "
                          f"cell (dnp_cube, dnp_sphere) without a sweep", file=fit_source)
    at = {k: p.spec.initial for p in dataset.parameters for k in p.spec.keys}
    run = _parse_run(raw, {**dict(dataset.fixed), **at}, path, fit_source, blame)
    if dataset.t_end is not None and run.time.t_end < dataset.t_end * (1 - 1e-12):
        raise ConfigError(key, f"{path} ends at time.t_end = {run.time.t_end:g} s, before the dataset's "
                          f"run ({dataset.t_end:g} s)", file=fit_source)
    spec.observation.check(run, fit_source, key)
    confirm_spec = dataclasses.replace(spec, name=f"{spec.name}@confirm", run=path, confirm_run=None)
    return dataclasses.replace(dataset, spec=confirm_spec, run_raw=raw, tangent_keys=(), tangent_refused=(),
                               time_tolerance=run.time.tolerance, t_end=run.time.t_end)


def prepare(config: FitConfig) -> tuple[PreparedDataset, ...]:
    """Check everything and read every dataset; no simulation runs."""
    free = config.free_parameters()
    fit_source = config.source
    prepared = []
    for spec in config.datasets:
        prefix = f"dataset[{spec.index}]"
        raw = _read_run(spec.run, fit_source, f"{prefix}.run")
        params = tuple(p for p in free if spec.name in p.datasets)
        fixed = dict(spec.overrides)
        if config.fit.time_tolerance is not None and "time" in raw:   # not for stationary runs
            fixed["time.tolerance"] = config.fit.time_tolerance
        blame = {k: f"{prefix}.overrides.{k}" for k, _ in spec.overrides}
        blame["time.tolerance"] = "fit.time_tolerance"
        at = {p.name: p.spec.initial for p in params}
        for p in params:
            for k in p.spec.keys:
                blame[k] = f"parameter[{p.spec.index}].initial"
        run = _parse_run(raw, {**fixed, **{k: at[p.name] for p in params for k in p.spec.keys}},
                         spec.run, fit_source, blame)
        if run.sweep:
            raise ConfigError("sweep", "a run file used by a fit must not have a [sweep] (each "
                              "dataset is one run; vary it with the dataset's overrides)",
                              file=str(spec.run))
        for p in params:   # the run must accept the whole range the optimiser may try
            for bound in (p.spec.lower, p.spec.upper):
                if math.isfinite(bound):
                    _parse_run(raw, {**fixed, **{k: bound for k in p.spec.keys}}, spec.run, fit_source,
                               {**blame, **{k: f"parameter[{p.spec.index}].bounds" for k in p.spec.keys}})
        spec.observation.check(run, fit_source, f"{prefix}.observation")
        t_end = run.time.t_end if run.time is not None else None
        n_free = len(params) + len(spec.observation.nuisance_names())
        data = read_dataset(spec, t_end=t_end, min_points=n_free, run_source=str(spec.run))
        run_key = spec.observation.run_key()
        if run_key is not None:   # every point is a run: the run must accept the data's extremes
            for x, line in ((data.x.min(), data.lines[int(data.x.argmin())]),
                            (data.x.max(), data.lines[int(data.x.argmax())])):
                try:
                    _parse_run(raw, {**fixed, run_key: spec.observation.run_value(float(x))},
                               spec.run, fit_source, {})
                except ConfigError as exc:
                    from fem_spin.fitting.data import DataError

                    raise DataError(spec.file, line, f"{run_key} = {x:g} is refused by "
                                    f"{spec.run.name}: {exc.message}") from None
        from fem_spin.solvers.sensitivity import sensitivity_support

        tangent_keys, refused = [], []
        observed = spec.observation.tangent_quantities()
        differentiated = run.model.tangent_observables()
        for p in params:
            # a parameter setting several keys (``also``) has the sum of their sensitivities
            reason = next((r for k in p.spec.keys if (r := sensitivity_support(run, k))), None) \
                if observed else f"the observation {spec.observation.kind!r} has no sensitivities"
            if reason is None and any(q not in differentiated for q in observed):
                reason = (f"the model's sensitivities are of {', '.join(differentiated) or 'nothing'} "
                          f"(observed: {', '.join(observed)})")
            if reason is None:
                tangent_keys.append(p.spec.key)
            else:
                refused.append((p.spec.key, reason))
        dataset = PreparedDataset(spec=spec, data=data, run_raw=raw, parameters=params,
                                  fixed=tuple(fixed.items()), t_end=t_end,
                                  time_tolerance=run.time.tolerance if run.time is not None else None,
                                  tangent_keys=tuple(tangent_keys), tangent_refused=tuple(refused))
        if spec.confirm_run is not None:
            dataset = dataclasses.replace(dataset, confirm=_confirmation(dataset, fit_source, blame))
        prepared.append(dataset)
    total = sum(len(d.data) for d in prepared)
    n_total = len(free) + sum(len(d.spec.observation.nuisance_names()) for d in prepared)
    if total <= n_total:
        raise ConfigError("dataset", f"{total} data points for {n_total} free parameters (fitted "
                          f"and nuisance): nothing is left to estimate the errors", file=fit_source)
    return tuple(prepared)
