"""The fit file (TOML): parsed once into frozen dataclasses, every key checked.

::

    name = "dnp_radial_fit"                 # fit directory name under [output] directory

    [fit]
    time_tolerance = 1e-6                   # replaces time.tolerance of every run
    max_evaluations = 60                    # forward evaluations of the residuals (not the Jacobian's)

    [[dataset]]
    name = "c40"
    file = "buildup.csv"                    # relative to the fit file
    run = "run.toml"                        # the run file it is simulated with
    time_unit = "ms"                        # unit of the CSV's time column
    overrides = { "geometry.electron_concentration" = "40 mM" }
    observation = { type = "dnp_buildup", offset = "fit" }

    [[parameter]]
    key = "model.D0"
    initial = 3e-16
    bounds = [1e-17, 1e-14]
    scale = "log"

Errors are :class:`~fem_spin.config.ConfigError` (one line naming the fit file and the key);
nothing here runs a simulation or reads a dataset (see :mod:`fem_spin.fitting.setup`).
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from pathlib import Path
from typing import Any, Literal

from fem_spin.config import ConfigError, run_name_problem

__all__ = ["TIME_UNITS", "FitSettings", "DatasetSpec", "ParameterSpec", "FreeParameter",
           "FitConfig", "parse_fit_config", "load_fit_config"]

#: seconds per unit of a dataset's ``time_unit``
TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9, "min": 60.0, "h": 3600.0}


@dataclasses.dataclass(frozen=True)
class FitSettings:
    """[fit]: the optimiser and the accuracy of the forward runs."""

    #: replaces ``time.tolerance`` of every run (absolute accuracy of P); None keeps the run's
    time_tolerance: float | None = 1e-6
    #: "sensitivities": forward sensitivities of the discrete solution for every parameter
    #: the model can differentiate, finite differences for the others; "finite_differences":
    #: finite differences for all (fitting/jacobian.py)
    jacobian: str = "sensitivities"
    #: step of the finite differences in optimiser coordinates (log: relative change of the
    #: parameter; linear: in units of the parameter's typical size); "auto": see jacobian.py
    fd_step: float | str = "auto"
    #: evaluations of the residuals (forward runs of every dataset), the Jacobian's not counted
    max_evaluations: int = 60
    ftol: float = 1e-8
    xtol: float = 1e-8
    gtol: float = 1e-8
    #: scale the covariance by the reduced chi^2: "auto" (only when no dataset has sigma),
    #: true, false
    scale_covariance: bool | str = "auto"
    #: |correlation| above which a pair of parameters is flagged as near-degenerate
    correlation_threshold: float = 0.95
    #: condition number of the correlation matrix above which the parameters are flagged
    condition_threshold: float = 1e3
    #: profile-likelihood intervals (fitting/profile.py): "auto" (the parameters flagged as
    #: nearly degenerate or poorly determined), "all", "none", or a list of parameter names
    profile: str | tuple[str, ...] = "auto"
    #: points per side of a profile at most
    profile_points: int = 10
    #: MPI ranks per forward model: the fit's ranks are cut into groups of this many, each
    #: running its own forward models (fitting/parallel.py); must divide the number of ranks
    #: (checked when the fit starts); ``--ranks-per-model`` overrides it
    ranks_per_model: int = 1


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """One [[dataset]]: a CSV file, the run it is simulated with, its observation model."""

    name: str
    file: Path
    run: Path
    time_unit: str = "s"
    value_unit: str = "a.u."
    #: CSV column names (None: by position: time, value, then sigma if there is a third)
    time_column: str | None = None
    value_column: str | None = None
    sigma_column: str | None = None
    #: one standard deviation for every point (instead of a sigma column)
    sigma: float | None = None
    overrides: tuple[tuple[str, Any], ...] = ()
    observation: Any = None   # an observations.Observation
    index: int = 0            # position in the fit file ([[dataset]] number, from 0)
    #: a run file simulated once more at the best fit to confirm it (fitting/confirm.py): the
    #: 3-D cell of a fit on the radial one
    confirm_run: Path | None = None

    @property
    def time_factor(self) -> float:
        return TIME_UNITS[self.time_unit]


@dataclasses.dataclass(frozen=True)
class ParameterSpec:
    """One [[parameter]]: a run-file key the fit varies."""

    key: str
    initial: float
    lower: float
    upper: float
    scale: Literal["log", "linear"] = "log"
    #: one value for every dataset (true) or one per dataset (false)
    shared: bool = True
    #: the datasets it acts on (default: all)
    datasets: tuple[str, ...] = ()
    index: int = 0
    #: further run keys set to the same value (one parameter tying several keys, e.g. the
    #: polarization of both tunnel barriers of a spin valve)
    also: tuple[str, ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        """Every run key this parameter sets: ``key``, then ``also``."""
        return (self.key,) + self.also


@dataclasses.dataclass(frozen=True)
class FreeParameter:
    """One entry of the optimiser's vector: a parameter, or its copy for one dataset."""

    name: str
    spec: ParameterSpec
    datasets: tuple[str, ...]

    @property
    def log(self) -> bool:
        return self.spec.scale == "log"

    def to_internal(self, value: float) -> float:
        return math.log(value) if self.log else value / self.typical

    def to_physical(self, z: float) -> float:
        return math.exp(z) if self.log else z * self.typical

    @property
    def typical(self) -> float:
        """Size of the linear parameter (its optimiser coordinate is value / typical)."""
        s = self.spec
        return abs(s.initial) or max(abs(s.lower), abs(s.upper)) or 1.0


@dataclasses.dataclass(frozen=True)
class FitConfig:
    name: str
    datasets: tuple[DatasetSpec, ...]
    parameters: tuple[ParameterSpec, ...]
    fit: FitSettings
    output_directory: str = "results"
    plot: bool = True
    source: str = "<memory>"
    base_dir: Path | None = None
    raw: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)

    def free_parameters(self) -> tuple[FreeParameter, ...]:
        out = []
        for p in self.parameters:
            names = p.datasets or tuple(d.name for d in self.datasets)
            if p.shared:
                out.append(FreeParameter(p.key, p, names))
            else:
                out += [FreeParameter(f"{p.key}[{d}]", p, (d,)) for d in names]
        return tuple(out)


# --------------------------------------------------------------------------- parsing
def _free_names(params, specs) -> list[str]:
    """The free parameters' names (as FitConfig.free_parameters names them)."""
    out = []
    for p in params:
        names = p.datasets or tuple(d.name for d in specs)
        out += [p.key] if p.shared else [f"{p.key}[{d}]" for d in names]
    return out


def _err(source: str, key: str, message: str) -> ConfigError:
    return ConfigError(key, message, file=source)


def _number(source: str, key: str, value, *, positive: bool = False, allow_none=False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _err(source, key, f"must be a number (got {value!r})")
    value = float(value)
    if not math.isfinite(value):
        raise _err(source, key, f"must be finite (got {value})")
    if positive and not value > 0:
        raise _err(source, key, f"must be > 0 (got {value:g})")
    return value


def _table(source: str, key: str, value) -> dict:
    if not isinstance(value, dict):
        raise _err(source, key, f"must be a table (got {value!r})")
    return value


def _unknown(source: str, prefix: str, table: dict, known) -> None:
    for k in table:
        if k not in known:
            raise _err(source, f"{prefix}{k}", f"unknown key (expected one of {', '.join(sorted(known))})")


def _string(source: str, key: str, value) -> str:
    if not isinstance(value, str) or not value:
        raise _err(source, key, f"must be a non-empty string (got {value!r})")
    return value


def _parse_settings(source: str, table: dict) -> FitSettings:
    fields = {f.name for f in dataclasses.fields(FitSettings)}
    _unknown(source, "fit.", table, fields)
    kw: dict[str, Any] = {}
    for key, value in table.items():
        k = f"fit.{key}"
        if key == "time_tolerance":
            kw[key] = None if value == "run" else _number(source, k, value, positive=True)
        elif key == "jacobian":
            if value not in ("sensitivities", "finite_differences"):
                raise _err(source, k, f"must be \"sensitivities\" or \"finite_differences\" (got {value!r})")
            kw[key] = value
        elif key == "fd_step":
            kw[key] = value if value == "auto" else _number(source, k, value, positive=True)
        elif key == "max_evaluations":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise _err(source, k, f"must be an integer >= 1 (got {value!r})")
            kw[key] = value
        elif key in ("ftol", "xtol", "gtol"):
            kw[key] = _number(source, k, value, positive=True)
        elif key == "scale_covariance":
            if value not in (True, False, "auto"):
                raise _err(source, k, f"must be true, false or \"auto\" (got {value!r})")
            kw[key] = value
        elif key == "correlation_threshold":
            kw[key] = _number(source, k, value, positive=True)
            if kw[key] >= 1:
                raise _err(source, k, f"must be < 1 (got {value:g})")
        elif key == "condition_threshold":
            kw[key] = _number(source, k, value, positive=True)
        elif key == "profile":
            if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
                kw[key] = tuple(value)
            elif value in ("auto", "all", "none"):
                kw[key] = value
            else:
                raise _err(source, k, f"must be \"auto\", \"all\", \"none\" or a list of parameter "
                                      f"names (got {value!r})")
        elif key == "ranks_per_model":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise _err(source, k, f"must be a positive integer (got {value!r})")
            kw[key] = value
        elif key == "profile_points":
            if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= 100:
                raise _err(source, k, f"must be an integer from 2 to 100 (got {value!r})")
            kw[key] = value
    return FitSettings(**kw)


_DATASET_KEYS = {"name", "file", "run", "time_unit", "value_unit", "columns", "sigma", "overrides",
                 "observation", "confirm_run"}


def _parse_dataset(source: str, base: Path, i: int, table) -> DatasetSpec:
    from fem_spin.fitting.observations import parse_observation

    prefix = f"dataset[{i}]."
    table = _table(source, f"dataset[{i}]", table)
    _unknown(source, prefix, table, _DATASET_KEYS)
    for required in ("file", "run"):
        if required not in table:
            raise _err(source, f"{prefix}{required}", "missing (required)")
    name = _string(source, f"{prefix}name", table.get("name", f"dataset{i}"))
    if run_name_problem(name):
        raise _err(source, f"{prefix}name", f"{run_name_problem(name)} (it names the dataset's plot)")
    unit = table.get("time_unit", "s")
    if unit not in TIME_UNITS:
        raise _err(source, f"{prefix}time_unit", f"must be one of {', '.join(TIME_UNITS)} (got {unit!r})")
    columns = dict(_table(source, f"{prefix}columns", table.get("columns", {})))
    _unknown(source, f"{prefix}columns.", columns, ("time", "x", "value", "sigma"))
    for k, v in columns.items():
        _string(source, f"{prefix}columns.{k}", v)
    if "x" in columns:   # the independent variable by its general name
        if "time" in columns:
            raise _err(source, f"{prefix}columns.x", "give either columns.time or columns.x (the same "
                                                     "column: the independent variable), not both")
        columns["time"] = columns.pop("x")
    sigma = _number(source, f"{prefix}sigma", table.get("sigma"), positive=True, allow_none=True)
    if sigma is not None and "sigma" in columns:
        raise _err(source, f"{prefix}sigma", "give either sigma or columns.sigma, not both")
    overrides = _table(source, f"{prefix}overrides", table.get("overrides", {}))
    flat = []
    for key, value in overrides.items():
        if "." not in key:
            raise _err(source, f"{prefix}overrides.{key}", "an override key is 'section.key' "
                                                           "(e.g. \"geometry.electron_concentration\")")
        flat.append((key, value))
    observation = parse_observation(table.get("observation", {"type": "dnp_buildup"}), source,
                                    f"{prefix}observation")
    if observation.run_key() is not None:
        if "time_unit" in table:
            raise _err(source, f"{prefix}time_unit", f"the observation {observation.kind!r} observes "
                       f"{observation.run_key()}, not a time: its unit is observation.unit")
        for k, v in overrides.items():
            if k == observation.run_key():
                raise _err(source, f"{prefix}overrides.{k}", "is the observation's independent "
                           "variable: each data point sets it")
    return DatasetSpec(name=name, file=(base / _string(source, f"{prefix}file", table["file"])),
                       run=(base / _string(source, f"{prefix}run", table["run"])), time_unit=unit,
                       value_unit=str(table.get("value_unit", "a.u.")),
                       time_column=columns.get("time"), value_column=columns.get("value"),
                       sigma_column=columns.get("sigma"), sigma=sigma, overrides=tuple(flat),
                       observation=observation, index=i,
                       confirm_run=(base / _string(source, f"{prefix}confirm_run", table["confirm_run"])
                                    if "confirm_run" in table else None))


_PARAMETER_KEYS = {"key", "initial", "bounds", "scale", "shared", "datasets", "also"}


def _parse_parameter(source: str, i: int, table, dataset_names: list[str]) -> ParameterSpec:
    prefix = f"parameter[{i}]."
    table = _table(source, f"parameter[{i}]", table)
    _unknown(source, prefix, table, _PARAMETER_KEYS)
    for required in ("key", "initial", "bounds"):
        if required not in table:
            raise _err(source, f"{prefix}{required}", "missing (required)")
    key = _string(source, f"{prefix}key", table["key"])
    if "." not in key:
        raise _err(source, f"{prefix}key", f"must be a run-file key 'section.key' such as "
                                           f"\"model.D0\" (got {key!r})")
    initial = _number(source, f"{prefix}initial", table["initial"])
    bounds = table["bounds"]
    if not isinstance(bounds, list) or len(bounds) != 2:
        raise _err(source, f"{prefix}bounds", f"must be [lower, upper] (got {bounds!r})")
    lower = _number(source, f"{prefix}bounds", bounds[0]) if bounds[0] != "-inf" else -math.inf
    upper = _number(source, f"{prefix}bounds", bounds[1]) if bounds[1] != "inf" else math.inf
    if not lower < upper:
        raise _err(source, f"{prefix}bounds", f"lower must be < upper (got {bounds!r})")
    if not lower < initial < upper:
        raise _err(source, f"{prefix}initial", f"must lie strictly inside bounds {bounds!r} (got {initial:g})")
    scale = table.get("scale", "log")
    if scale not in ("log", "linear"):
        raise _err(source, f"{prefix}scale", f"must be \"log\" or \"linear\" (got {scale!r})")
    if scale == "log" and not lower > 0:
        raise _err(source, f"{prefix}bounds", f"a log-scaled parameter needs bounds > 0 (got {bounds!r})")
    shared = table.get("shared", True)
    if not isinstance(shared, bool):
        raise _err(source, f"{prefix}shared", f"must be true or false (got {shared!r})")
    datasets = table.get("datasets", [])
    if not isinstance(datasets, list) or any(d not in dataset_names for d in datasets):
        raise _err(source, f"{prefix}datasets", f"must be a list of dataset names from "
                                                f"{dataset_names} (got {datasets!r})")
    also = table.get("also", [])
    if not isinstance(also, list) or any(not isinstance(k, str) or "." not in k for k in also):
        raise _err(source, f"{prefix}also", f"must be a list of run-file keys 'section.key' set to "
                                            f"the same value (got {also!r})")
    if key in also or len(set(also)) != len(also):
        raise _err(source, f"{prefix}also", f"names a key twice (with key = {key!r}: {also!r})")
    return ParameterSpec(key=key, initial=initial, lower=lower, upper=upper, scale=scale,
                         shared=shared, datasets=tuple(datasets), index=i, also=tuple(also))


def parse_fit_config(raw: dict, source: str = "<memory>", base_dir: Path | None = None) -> FitConfig:
    """A :class:`FitConfig` from a fit file's tables; ConfigError naming ``source`` and the key."""
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    _unknown(source, "", raw, ("name", "fit", "dataset", "parameter", "output"))
    name = raw.get("name", "fit")
    problem = run_name_problem(name) if isinstance(name, str) else "must be a string"
    if problem:
        raise _err(source, "name", problem)
    settings = _parse_settings(source, _table(source, "fit", raw.get("fit", {})))
    datasets = raw.get("dataset")
    if not isinstance(datasets, list) or not datasets:
        raise _err(source, "dataset", "at least one [[dataset]] table is needed")
    specs = tuple(_parse_dataset(source, base, i, t) for i, t in enumerate(datasets))
    names = [d.name for d in specs]
    for i, n in enumerate(names):
        if n in names[:i]:
            raise _err(source, f"dataset[{i}].name", f"{n!r} names two datasets")
    parameters = raw.get("parameter")
    if not isinstance(parameters, list) or not parameters:
        raise _err(source, "parameter", "at least one [[parameter]] table is needed")
    params = tuple(_parse_parameter(source, i, t, names) for i, t in enumerate(parameters))
    seen: list[str] = []
    for i, p in enumerate(params):
        for k in p.keys:
            where = f"parameter[{i}].key" if k == p.key else f"parameter[{i}].also"
            if k in seen:
                raise _err(source, where, f"{k!r} is given twice")
            seen.append(k)
            for d in specs:
                if k in dict(d.overrides):
                    raise _err(source, where, f"{k!r} is also fixed by dataset[{d.index}].overrides")
                run_key = d.observation.run_key()
                if k == run_key:
                    raise _err(source, where, f"{k!r} is the independent variable of "
                                              f"dataset[{d.index}] (its observation sets it per point)")
    if isinstance(settings.profile, tuple):
        free = _free_names(params, specs)
        for n in settings.profile:
            if n not in free:
                raise _err(source, "fit.profile", f"{n!r} is no free parameter (free: {', '.join(free)})")
    output = _table(source, "output", raw.get("output", {}))
    _unknown(source, "output.", output, ("directory", "plot"))
    directory = _string(source, "output.directory", output.get("directory", "results"))
    plot = output.get("plot", True)
    if not isinstance(plot, bool):
        raise _err(source, "output.plot", f"must be true or false (got {plot!r})")
    return FitConfig(name=name, datasets=specs, parameters=params, fit=settings,
                     output_directory=directory, plot=plot, source=source, base_dir=base, raw=raw)


def load_fit_config(path: str | Path) -> FitConfig:
    """Read and check a fit file (not its datasets: :func:`fem_spin.fitting.setup.prepare`)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("", "fit file not found" if not path.is_dir() else "is a directory, not "
                          "a fit file", file=str(path))
    try:
        raw = tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError("", f"not valid TOML: not UTF-8 text (byte {exc.start})", file=str(path)) from None
    except ValueError as exc:
        raise ConfigError("", f"not valid TOML: {exc}", file=str(path)) from None
    except OSError as exc:
        raise ConfigError("", f"cannot read the fit file ({exc.strerror})", file=str(path)) from None
    return parse_fit_config(raw, source=str(path), base_dir=path.parent)
