"""TOML run configuration: schema, validation and the section registry.

Every section of a run file is a dataclass. Models and geometries register their
own section classes (keyed by their ``type`` value), so adding a model adds a
schema without touching this module. Validation happens before anything runs and
fails with one line that names the file and the key::

    config.toml: model.D0: must be > 0 (got -1e-16)

Values are SI: lengths in m, times in s, rates in 1/s, diffusion in m^2/s.

Values that are legal but suspicious (a snapshot time after t_end, an initial region outside
the sample, a sample 200 m across) are not errors: validation code calls :func:`warn`, and
:func:`parse_config` collects them, as :class:`ConfigWarning` lines, in
``RunConfig.warnings`` for the command line to print before the run. Nothing is printed
here, and no Python ``warnings`` are raised.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import dataclasses
import math
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, Callable, Literal

from fem_spin import contracts
from fem_spin.contracts import Geometry, ModelConfig, ResolveContext
from fem_spin.errors import ModelError

__all__ = [
    "ConfigError",
    "ConfigWarning",
    "naming_the_key",
    "warn",
    "RunConfig",
    "TimeConfig",
    "SolverConfig",
    "OutputConfig",
    "LimitsConfig",
    "MAX_CELLS",
    "MAX_FIELD_SNAPSHOTS",
    "cell_count_problem",
    "parse_bytes",
    "region_outside_sample",
    "register_model",
    "register_geometry",
    "derived",
    "build_section",
    "model_types",
    "geometry_types",
    "load_config",
    "preset_names",
    "apply_preset",
    "parse_config",
    "param",
    "positive",
    "non_negative",
    "polarization",
    "in_range",
    "spd_tensor",
    "run_checks",
    "run_name_problem",
    "warn_if_region_outside",
    "to_dict",
    "dump_toml",
]


class ConfigError(ValueError):
    """A configuration value is wrong; ``str()`` is the one-line user message."""

    def __init__(self, key: str, message: str, file: str | None = None):
        self.key, self.message, self.file = key, message, file
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.file}: " if self.file else ""
        key = f"{self.key}: " if self.key else ""
        return _one_line(f"{where}{key}{self.message}")

    def __reduce__(self):  # pickle (an error of a fit's forward run travels to every MPI rank)
        return (type(self), (self.key, self.message, self.file))


@contextlib.contextmanager
def naming_the_key(file: str | None):
    """The boundary where a run is set up (simulation, api, command line): a
    :class:`~fem_spin.errors.ModelError` raised by the physics in the block becomes the
    :class:`ConfigError` naming its key and ``file`` (the run file), shown as one line."""
    try:
        yield
    except ModelError as exc:
        raise ConfigError(exc.key or "", exc.message, file=file) from exc


class ConfigWarning(str):
    """A suspicious value that is accepted: the one line ``"file: key: message"`` (a ``str``,
    so ``RunConfig.warnings`` is a tuple of strings), with ``key``, ``message`` and ``file``
    as attributes. Made by :func:`parse_config` from the calls to :func:`warn`."""

    key: str
    message: str
    file: str | None

    def __new__(cls, key: str, message: str, file: str | None = None):
        where = f"{file}: " if file else ""
        self = super().__new__(cls, _one_line(f"{where}{key + ': ' if key else ''}{message}"))
        self.key, self.message, self.file = key, message, file
        return self

    def __reduce__(self):  # pickle/deepcopy: rebuild from the parts, not from the joined line
        return (ConfigWarning, (self.key, self.message, self.file))


#: the warnings of the parse_config call under way (None outside parse_config)
_COLLECTOR: contextvars.ContextVar[list[tuple[str, str]] | None] = contextvars.ContextVar(
    "fem_spin_config_warnings", default=None)


def warn(key: str, message: str) -> None:
    """Record a warning about configuration key ``key`` (full dotted key, e.g.
    ``"output.snapshot_times"``) on the configuration :func:`parse_config` is building; it
    ends up in ``RunConfig.warnings``. Outside parse_config (a section built in Python)
    nothing happens."""
    collected = _COLLECTOR.get()
    if collected is not None and (key, message) not in collected:
        collected.append((key, message))


def _one_line(text: str) -> str:
    """``text`` with control characters (newlines, NUL, ...) escaped: a key or file name from
    the user must not break the one-line message."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _show(value, limit: int = 80) -> str:
    """repr(value) for a message: shortened, and safe for integers too long to print."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 1000:
        return f"an integer of about {int(value.bit_length() * math.log10(2)) + 1} digits"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}..."


# --------------------------------------------------------------------------- checks
Check = Callable[[Any], str | None]


def _each(value) -> list[float]:
    if isinstance(value, (list, tuple)):
        out = []
        for v in value:
            out.extend(_each(v))
        return out
    return [value]


#: Lengths (unit "m") outside this range are typing slips (a unit prefix lost or doubled);
#: beyond it gmsh/OpenCASCADE fail with exceptions that do not name the key.
LENGTH_RANGE = (1e-15, 1e3)


def _length_range(value) -> str | None:
    lo, hi = LENGTH_RANGE
    bad = [v for v in _each(value) if isinstance(v, (int, float)) and not isinstance(v, bool)
           and math.isfinite(v) and v != 0 and not lo <= abs(v) <= hi]
    return (f"a length in metres must be 0 or between {lo:g} m and {hi:g} m in size (got "
            f"{_show(value)})") if bad else None


def positive(value) -> str | None:
    bad = [v for v in _each(value) if not v > 0]
    return f"must be > 0 (got {value})" if bad else None


def non_negative(value) -> str | None:
    bad = [v for v in _each(value) if not v >= 0]
    return f"must be >= 0 (got {value})" if bad else None


def polarization(value) -> str | None:
    bad = [v for v in _each(value) if not abs(v) < 1]
    return f"a polarization must satisfy |P| < 1 (got {value})" if bad else None


def in_range(lo: float, hi: float) -> Check:
    def check(value) -> str | None:
        bad = [v for v in _each(value) if not lo <= v <= hi]
        return f"must lie in [{lo}, {hi}] (got {value})" if bad else None

    return check


def spd_tensor(kind: str, allow_table: bool = False) -> Check:
    """Check for a positive number or a symmetric positive-definite 3x3 tensor (lists of
    lists); ``kind`` names it in messages ("diffusion", "transport"). With ``allow_table``
    a table passes (it is evaluated later, e.g. D0 = { structure = ... })."""
    def check(value) -> str | None:
        import numpy as np

        if allow_table and isinstance(value, dict):
            return None
        if isinstance(value, (int, float)):
            return None if value > 0 else f"must be > 0 (got {value})"
        try:
            a = np.asarray(value, dtype=float)
        except (TypeError, ValueError):  # ragged rows, or not numbers
            return "must be a number or a 3x3 list of lists"
        if a.shape != (3, 3):
            return f"must be a number or a 3x3 list of lists (got shape {a.shape})"
        if not np.all(np.isfinite(a)):
            return f"a {kind} tensor must have finite entries"
        if not np.allclose(a, a.T, rtol=1e-12, atol=0):
            return f"a {kind} tensor must be symmetric"
        if np.linalg.eigvalsh(a).min() <= 0:
            return f"a {kind} tensor must be positive definite"
        return None

    return check


def param(default=dataclasses.MISSING, *, unit: str = "", doc: str = "", check: Check | None = None,
          default_factory=dataclasses.MISSING, allow_inf: bool = False):
    """A dataclass field carrying its unit, its documentation and a value check. Its numbers
    must be finite unless ``allow_inf`` (inf meaning "none", e.g. no largest step)."""
    meta = {"unit": unit, "doc": doc, "check": check, "allow_inf": allow_inf}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def run_checks(obj) -> None:
    """Apply the ``check`` of every field of a section dataclass, so that one built directly in
    Python is validated like one read from a file."""
    for f in dataclasses.fields(obj):
        check = f.metadata.get("check")
        if check is None:
            continue
        problem = check(getattr(obj, f.name))
        if problem:
            raise ConfigError(f.name, problem)


# --------------------------------------------------------------------------- registry
# The registries live in contracts.py (which imports nothing of fem_spin); the models and
# geometries register themselves there when their modules are imported. This module knows
# the registries, not the models.
_MODELS = contracts.MODELS
_GEOMETRIES = contracts.GEOMETRIES
register_model = contracts.register_model
register_geometry = contracts.register_geometry
model_types = contracts.model_types
geometry_types = contracts.geometry_types


def derived(default=None, *, doc: str = "", compare: bool = False):
    """A field of a section that is not a configuration key: a value derived from the others
    (and from the other sections) once, by ``resolve`` during :func:`parse_config`. Not
    shown, refused as a key of the run file, and not compared unless ``compare`` (a derived
    value that changes the result, such as a default mesh size, must be)."""
    return dataclasses.field(default=default, compare=compare, repr=False,
                             metadata={"derived": True, "doc": doc})


# --------------------------------------------------------------------------- shared sections
@dataclasses.dataclass(frozen=True)
class TimeConfig:
    """[time]: implicit stepping (variable-order BDF, BDF2 or backward Euler) with error-controlled
    step size."""

    t_end: float = param(unit="s", doc="final time", check=positive)
    dt_initial: float = param(1e-3, unit="s", doc="first time step", check=positive)
    dt_min: float = param(1e-12, unit="s", doc="smallest step before giving up", check=positive)
    dt_max: float = param(math.inf, unit="s", doc="largest step (inf: no limit)", check=positive,
                          allow_inf=True)
    scheme: Literal["bdf", "bdf2", "backward_euler"] = param(
        "bdf", doc="time discretisation (solvers/schemes.py): bdf (variable-order variable-step "
        "BDF, orders 1 to max_order chosen per step; the default), bdf2 (variable-step BDF2, "
        "second order) or backward_euler (first order; preserves the maximum principle)")
    max_order: int = param(5, doc="highest order of the variable-order scheme (scheme = \"bdf\")",
                           check=in_range(1, 5))
    adaptive: bool = param(True, doc="control the step with a local error estimate")
    tolerance: float = param(1e-3, doc="target accuracy of the time discretisation: the absolute "
                             "error of the model's capacity quantity (P for spin diffusion, rho "
                             "for the Onsager model), accumulated over the run: each step's local "
                             "error is held below tolerance times the step's change of that "
                             "quantity (solvers/timestepping.py)", check=positive)
    relative_tolerance: float = param(0.0, doc="relative part of the error target: a node's "
                                      "error may be tolerance + relative_tolerance * |q|",
                                      check=non_negative)
    growth_max: float = param(2.0, doc="largest step growth factor per accepted step",
                              check=in_range(1.0, 10.0))
    max_steps: int = param(0, doc="pause (with a checkpoint, resumable) after this many steps in "
                           "one job; 0: no limit", check=non_negative)

    def __post_init__(self):
        if self.dt_initial > self.t_end:
            raise ConfigError("time.dt_initial", f"must not exceed time.t_end ({self.t_end})")
        if self.dt_min > self.dt_max:
            raise ConfigError("time.dt_min", f"must not exceed time.dt_max ({self.dt_min:g} s > "
                                             f"{self.dt_max:g} s)")
        if self.dt_min > self.dt_initial:
            raise ConfigError("time.dt_min", f"must not exceed time.dt_initial ({self.dt_initial})")


# The multigrid policy (when "auto" takes it, how deep it goes) lives in
# fem_spin/solvers/multigrid.py (use_multigrid, AUTO_DOFS, COARSEST_NODES); models whose [solver] preconditioner may be "multigrid" declare it
# (ModelConfig.supports_multigrid: nuclear_diffusion, and triplet_dnp for its unit cells)


def _multigrid_levels(value) -> str | None:
    return None if value == 0 or value >= 2 else f"must be 0 (automatic) or at least 2 (got {value})"


#: petsc_options that choose the linear solver which preconditioner = "multigrid" builds
MULTIGRID_CONFLICTS = ("ksp_type", "pc_type", "pc_mg_levels", "pc_mg_galerkin")


@dataclasses.dataclass(frozen=True)
class SolverConfig:
    """[solver]: Newton and linear-solver settings (PETSc options pass through)."""

    rtol: float = param(1e-10, doc="Newton relative tolerance", check=positive)
    atol: float = param(1e-12, doc="Newton absolute tolerance", check=positive)
    max_iterations: int = param(25, doc="Newton iterations before the step is retried smaller",
                                check=positive)
    petsc_options: dict = param(default_factory=dict,
                                doc="extra PETSc options, e.g. {ksp_type='cg', pc_type='hypre'}")
    preconditioner: Literal["auto", "ilu", "multigrid"] = param(
        "auto", doc="preconditioner of the nodal-flux nuclear_diffusion solve on a gmsh geometry: "
        "ilu (block Jacobi/ILU(0)), multigrid (geometric multigrid on the same geometry meshed "
        "2, 4, ... times coarser: work per step linear in DOFs), auto (multigrid on the periodic "
        "DNP cube from solvers.multigrid.AUTO_DOFS (1e5) DOFs, else ilu; ilu whenever petsc_options set "
        "ksp_type or any pc_* option). Other models use petsc_options only")
    multigrid_levels: int = param(0, doc="multigrid levels including the mesh itself (0: coarsen "
                                  "until the coarsest level has at most "
                                  "solvers.multigrid.COARSEST_NODES (200) nodes)", check=_multigrid_levels)

    def __post_init__(self):
        conflicts = [k for k in self.petsc_options if k in MULTIGRID_CONFLICTS]
        if self.preconditioner == "multigrid" and conflicts:
            raise ConfigError("solver.preconditioner", f"'multigrid' conflicts with petsc_options."
                                                       f"{conflicts[0]} (choose one of them)")


#: hard bound of any structured mesh (cells = [...]): a billion cells need about a terabyte
#: of memory (benchmarks/bench_memory.py), so nothing can mesh more; refused at parse time
#: whatever [limits] says
MAX_CELLS = 10**9
#: hard bound of output.field_snapshots (each one writes the fields to disk; the snapshot
#: times are computed before the run): refused at parse time whatever [limits] says
MAX_FIELD_SNAPSHOTS = 1_000_000


def cell_count_problem(count: int | float, what: str = "cells") -> str | None:
    """Why a structured mesh of ``count`` cells cannot be built (beyond :data:`MAX_CELLS`),
    or None. Pass an exact (integer) product: it may exceed the float range."""
    if count > MAX_CELLS:
        shown = f"{count:.3g}" if not isinstance(count, int) or count.bit_length() < 1000 else _show(count)
        return (f"{shown} {what}: more than {MAX_CELLS:.0e} cells cannot be meshed on any machine "
                f"(about 1 kB of memory per cell)")
    return None


def _field_snapshots_check(value) -> str | None:
    problem = non_negative(value)
    if problem:
        return problem
    if value > MAX_FIELD_SNAPSHOTS:
        return (f"{_show(value)} snapshots: at most {MAX_FIELD_SNAPSHOTS} (each one writes every "
                f"field to disk)")
    return None


@dataclasses.dataclass(frozen=True)
class OutputConfig:
    """[output]: what a run writes."""

    directory: str = param("results", doc="parent directory of run directories")
    field_snapshots: int = param(8, doc="number of log-spaced field snapshots (plus t=0 and t_end)",
                                 check=_field_snapshots_check)
    snapshot_times: list[float] = param(default_factory=list, unit="s",
                                        doc="field snapshot times (instead of log-spaced ones; "
                                            "t_end is always written)", check=positive)
    plot: bool = param(True, doc="write PNG plots of the time series")
    render: bool = param(True, doc="write a PNG 3-D picture of the final field (pyvista)")
    streamlines: Literal["auto", "spin_x", "spin_y", "spin_z", "charge", "none"] = param(
        "auto", doc="valet_fert runs with a vector spin accumulation: the current whose "
        "streamlines are drawn (render = true): auto (the spin current of the dominant spin "
        "component), spin_x / spin_y / spin_z (the flow of x, y or z spins), charge, or none")
    progress_interval: float = param(2.0, unit="s (wall)", doc="seconds between progress lines",
                                     check=non_negative)
    error_estimate: bool | Literal["auto"] = param(
        "auto", doc="estimate the space and time discretisation error of the headline numbers "
        "(coarser meshes, looser tolerance; fem_spin/error_estimate.py) into summary.json: "
        "true, false, or auto (after runs that took under a minute)")
    checkpoint_interval: float = param(600.0, unit="s (wall)",
                                       doc="wall time between checkpoints of transient runs (0: "
                                           "only when a run stops early); see fem-spin resume",
                                       check=non_negative)


def _optional_count(value) -> str | None:
    return None if value is None else positive(value)


def _optional_bytes(value) -> str | None:
    if value is None:
        return None
    try:
        parse_bytes(value)
    except ValueError as exc:
        return str(exc)
    return None


_BYTE_UNITS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9,
               "t": 1e12, "tb": 1e12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_bytes(value: float | int | str) -> float:
    """A memory size in bytes from a number (bytes) or a string such as ``"8 GB"``, ``"500MiB"``
    or ``"2e9"``; ValueError for anything else (not finite, not > 0, unknown unit)."""
    import re

    if isinstance(value, bool):
        raise ValueError(f"must be a number of bytes or a size such as '8 GB' (got {_show(value)})")
    if isinstance(value, str):
        m = re.fullmatch(r"\s*([0-9.eE+-]+)\s*([A-Za-z]*)\s*", value)
        unit = m.group(2).lower() if m else None
        if m is None or unit not in _BYTE_UNITS:
            raise ValueError(f"must be a number of bytes or a size such as '8 GB' or '500 MiB' "
                             f"(got {_show(value)})")
        try:
            number = float(m.group(1)) * _BYTE_UNITS[unit]
        except ValueError:
            raise ValueError(f"must be a number of bytes or a size such as '8 GB' (got "
                             f"{_show(value)})") from None
    elif isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
    else:
        raise ValueError(f"must be a number of bytes or a size such as '8 GB' (got {_show(value)})")
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"must be a finite size > 0 bytes (got {_show(value)})")
    return number


@dataclasses.dataclass(frozen=True)
class LimitsConfig:
    """[limits]: what a run may use, checked from the configuration alone before anything is
    meshed (:func:`fem_spin.limits.check_resources`; ``fem-spin run --max-dofs/--max-memory``
    override the first two, ``--force`` runs anyway)."""

    max_dofs: int | float | None = param(None, doc="largest number of degrees of freedom "
                                         "(default: no limit but memory)", check=_optional_count)
    max_memory: float | str | None = param(None, unit="bytes", doc="largest estimated memory of "
                                           "the run, in bytes or as '8 GB' (default: half of the "
                                           "machine's physical memory)", check=_optional_bytes)
    max_steps: int | float = param(10_000_000, doc="largest number of time steps the run plans "
                                   "(fixed steps: t_end/dt_initial; adaptive: at least "
                                   "t_end/dt_max; pulsed sources: one per pulse)", check=positive)
    max_snapshots: int | float = param(10_000, doc="largest number of field snapshots",
                                       check=positive)

    def __post_init__(self):
        if self.max_memory is not None:
            object.__setattr__(self, "max_memory", parse_bytes(self.max_memory))


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """A whole run: name, geometry, model, time, solver, output, and an optional sweep.

    Frozen and resolved: :func:`parse_config` builds every section once, fills in the values
    derived from other sections (``ModelConfig.resolve``) and checks the sections against
    each other before anything runs; change a copy with ``dataclasses.replace``.

    ``limits`` is the [limits] section; ``warnings`` the suspicious values validation found
    (:class:`ConfigWarning` lines, ``"file: key: message"``), for the command line to print;
    ``raw`` the tables as read (presets applied), which config.toml is written from."""

    name: str
    geometry: Geometry
    model: ModelConfig
    time: TimeConfig | None  # None for stationary models
    solver: SolverConfig
    output: OutputConfig
    sweep: dict[str, list]
    source: str = "<memory>"
    raw: dict = dataclasses.field(default_factory=dict, repr=False)
    limits: LimitsConfig = dataclasses.field(default_factory=LimitsConfig)
    warnings: tuple[ConfigWarning, ...] = ()
    #: directory relative paths of the run file were resolved from
    base_dir: Path | None = dataclasses.field(default=None, compare=False, repr=False)
    #: the resolved sweep variants (label, config), built and validated once by parse_config
    #: (not copied by dataclasses.replace: a changed copy builds its own from ``raw``)
    swept: tuple[tuple[str, "RunConfig"], ...] | None = dataclasses.field(
        default=None, init=False, compare=False, repr=False)

    def variants(self) -> list[tuple[str, "RunConfig"]]:
        """Expand [sweep] (key -> list of values, zipped) into (label, config) pairs: the
        variants parse_config built (each section with its swept keys built once through
        the same path as the run file's, then resolved); nothing is parsed again."""
        if not self.sweep:
            return [("", self)]
        if self.swept is None:   # a RunConfig made in Python with a sweep: build them now
            object.__setattr__(self, "swept", tuple(_sweep_variants(self.raw, self.source, self.base_dir,
                                                                    self.name)[0]))
        return list(self.swept)


# --------------------------------------------------------------------------- parsing
#: longest run name: the staged directory adds 24 bytes, file names end at 255
MAX_RUN_NAME_BYTES = 200


def run_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a run directory, or None. One rule for the TOML ``name`` and
    ``fem-spin run --name``: a single plain path component, so that a run never writes (or,
    with --overwrite, replaces) anything outside its output directory; at most
    :data:`MAX_RUN_NAME_BYTES` (the staged sibling ``.NAME.fem_spin-new-XXXXXXXX`` must fit
    the file system's 255 bytes), without surrounding blanks."""
    if not name or any(c in name for c in "/\\") or name.startswith(".") or not name.isprintable():
        return f"must be a plain directory name, not a path (got {_show(name)})"
    if name != name.strip():
        return f"must not begin or end with blanks (got {_show(name)})"
    if len(name.encode("utf-8", "replace")) > MAX_RUN_NAME_BYTES:
        return (f"is {len(name.encode('utf-8', 'replace'))} bytes long; at most "
                f"{MAX_RUN_NAME_BYTES} bytes")
    return None


_TOP_KEYS = {"name", "preset", "geometry", "model", "time", "solver", "output", "sweep", "limits"}


def preset_names() -> list[str]:
    """Sample presets shipped in fem_spin/presets (``preset = "<name>"`` in a run file)."""
    from importlib import resources

    return sorted(p.name[:-5] for p in resources.files("fem_spin").joinpath("presets").iterdir()
                  if p.name.endswith(".toml"))


def apply_preset(raw: dict) -> dict:
    """``raw`` with the tables of its ``preset`` filled in underneath (the run file wins)."""
    if "preset" not in raw:
        return raw
    from importlib import resources

    name = raw["preset"]
    if not isinstance(name, str) or name not in preset_names():
        raise ConfigError("preset", f"unknown preset {_show(name)} (available: {', '.join(preset_names())})")
    base = tomllib.loads(resources.files("fem_spin").joinpath("presets", f"{name}.toml").read_text())
    merged = copy.deepcopy(raw)
    merged.pop("preset")
    for section, table in base.items():
        user = merged.get(section, {})
        if isinstance(table, dict) and isinstance(user, dict):
            merged[section] = {**table, **user}
        else:
            merged.setdefault(section, table)
    return merged


def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(value, tp, key: str):
    """Check ``value`` against annotation ``tp``; ints are accepted for floats."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if tp is type(None):
        if value is not None:
            raise ConfigError(key, f"must be empty (got {_show(value)})")
        return value
    if origin is Literal:
        if value not in args:
            choices = ", ".join(repr(a) for a in args)
            raise ConfigError(key, f"must be one of {choices} (got {_show(value)})")
        return value
    if origin in (typing.Union, types.UnionType):
        for alt in args:
            try:
                return _coerce(value, alt, key)
            except ConfigError:
                continue
        if any(isinstance(v, float) and math.isnan(v) for v in _each(value)):
            raise ConfigError(key, f"must be a finite number (got {_show(value)})")
        raise ConfigError(key, f"wrong type: expected {' or '.join(_type_name(a) for a in args)}"
                               f" (got {_show(value)})")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(key, f"must be a list (got {_show(value)})")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(key, f"must be a list of {len(args)} values (got {len(value)})")
            return tuple(_coerce(v, a, key) for v, a in zip(value, args))
        inner = args[0] if args else Any
        return [_coerce(v, inner, key) for v in value]
    if dataclasses.is_dataclass(tp):   # a nested table with a schema
        if isinstance(value, tp):
            return value
        return build_section(tp, value, key)
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(key, f"must be a table (got {_show(value)})")
        return dict(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(key, f"must be a number (got {_show(value)})")
        try:
            value = float(value)
        except OverflowError:  # an integer beyond the float range
            raise ConfigError(key, f"must be a number below 1.8e308 (got {_show(value)})") from None
        if math.isnan(value):
            raise ConfigError(key, f"must be a finite number (got {value!r})")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, f"must be an integer (got {_show(value)})")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, f"must be true or false (got {_show(value)})")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(key, f"must be a string (got {_show(value)})")
        return value
    raise TypeError(f"unsupported annotation {tp!r} for {key}")


def build_section(cls, data: dict, section: str, skip: tuple[str, ...] = ()):
    """Instantiate dataclass ``cls`` from a TOML table, checking keys, types and values."""
    if not isinstance(data, dict):
        raise ConfigError(section, f"must be a table [{section}]")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and not f.metadata.get("derived")}
    for key in data:
        if key not in fields and key not in skip:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{section}.{key}", f"unknown key (known keys: {known})")
    kwargs = {}
    for name, f in fields.items():
        key = f"{section}.{name}"
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(key, "missing required key")
            continue
        value = _coerce(data[name], hints[name], key)
        if not f.metadata.get("allow_inf", False) and any(
                isinstance(v, float) and math.isinf(v) for v in _each(value)):
            raise ConfigError(key, f"must be finite (got {_show(value)})")
        if f.metadata.get("unit") == "m":
            problem = _length_range(value)
            if problem:
                raise ConfigError(key, problem)
        check = f.metadata.get("check")
        if check is not None:
            problem = check(value)
            if problem:
                raise ConfigError(key, problem)
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        if not exc.key.startswith(section):
            exc.key = f"{section}.{exc.key}" if exc.key else section
        raise


def _typed_section(registry: dict[str, type], data: dict, section: str):
    contracts.load_plugins()
    if not isinstance(data, dict):
        raise ConfigError(section, f"must be a table [{section}]")
    kind = data.get("type")
    if kind is None:
        raise ConfigError(f"{section}.type", f"missing required key (one of {', '.join(sorted(registry))})")
    if not isinstance(kind, str) or kind not in registry:
        raise ConfigError(f"{section}.type", f"unknown {section} {_show(kind)} (expected one of "
                                             f"{', '.join(sorted(registry))})")
    return build_section(registry[kind], data, section, skip=("type",))


def parse_config(raw: dict, source: str = "<memory>", base_dir: Path | None = None) -> RunConfig:
    """Validate a configuration dictionary (as read from TOML) into a frozen, resolved
    :class:`RunConfig`, its sweep variants included (built once: ``RunConfig.variants()``).

    Errors raise :class:`ConfigError`; warnings (:func:`warn`) are collected in
    ``RunConfig.warnings``, those of every swept value included."""
    with _collecting() as collected:
        try:
            config, variants = _parse(raw, source, base_dir)
        except ConfigError as exc:
            exc.file = source
            raise
    return _finish(config, collected, source, variants)


@contextlib.contextmanager
def _collecting():
    """Collect the :func:`warn` calls of the block (a fresh list, nested blocks apart)."""
    collected: list[tuple[str, str]] = []
    token = _COLLECTOR.set(collected)
    try:
        yield collected
    finally:
        _COLLECTOR.reset(token)


def _finish(config: RunConfig, collected, source: str, variants=None) -> RunConfig:
    config = dataclasses.replace(config, warnings=tuple(
        ConfigWarning(key, message, source) for key, message in collected))
    if variants is not None:
        object.__setattr__(config, "swept", tuple(variants))
    return config


def _build(section: str, table, model_cls: type[ModelConfig] | None, base_dir: Path | None):
    """One section from its table, through build_section (the single path of every value)."""
    if section == "geometry":
        return _typed_section(_GEOMETRIES, table, "geometry").resolve(
            base_dir if base_dir is not None else Path.cwd())
    if section == "model":
        return _typed_section(_MODELS, table, "model")
    if section == "time":
        if model_cls is not None and model_cls.is_steady():
            raise ConfigError("time", f"model {model_cls.model_type!r} is stationary: remove the "
                                      f"[time] section")
        return build_section(TimeConfig, table, "time")
    cls = {"solver": SolverConfig, "output": OutputConfig, "limits": LimitsConfig}[section]
    return build_section(cls, table, section)


def _parse(raw: dict, source: str, base_dir: Path | None):
    raw = apply_preset(raw)
    for key in raw:
        if key not in _TOP_KEYS:
            raise ConfigError(key, f"unknown key (known: {', '.join(sorted(_TOP_KEYS))})")
    for key in ("geometry", "model"):
        if key not in raw:
            raise ConfigError(key, f"missing required section [{key}]")
    name = _coerce(raw.get("name", Path(source).stem or "run"), str, "name")
    problem = run_name_problem(name)
    if problem:
        raise ConfigError("name", problem)
    sections = {"geometry": _build("geometry", raw["geometry"], None, base_dir)}
    sections["model"] = _build("model", raw["model"], None, base_dir)
    model_cls = type(sections["model"])
    if model_cls.is_steady():
        if "time" in raw:
            _build("time", raw["time"], model_cls, base_dir)   # the error naming [time]
        sections["time"] = None
    elif "time" not in raw:
        raise ConfigError("time", "missing required section [time]")
    else:
        sections["time"] = _build("time", raw["time"], model_cls, base_dir)
    for section in ("solver", "output"):
        sections[section] = _build(section, raw.get(section, {}), model_cls, base_dir)
    sweep = raw.get("sweep", {})
    if not isinstance(sweep, dict):
        raise ConfigError("sweep", "must be a table of 'section.key' = [values]")
    lengths = set()
    for dotted, values in sweep.items():
        if "." not in dotted or dotted.split(".", 1)[0] not in _TOP_KEYS - {"sweep", "name"}:
            raise ConfigError(f"sweep.{dotted}", "keys must be quoted 'section.key', e.g. \"model.speedup\"")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"sweep.{dotted}", "must be a non-empty list of values")
        lengths.add(len(values))
    if len(lengths) > 1:
        raise ConfigError("sweep", "all swept lists must have the same length (they are zipped)")
    sections["limits"] = _build("limits", raw.get("limits", {}), model_cls, base_dir)
    config = _assemble(name, sections, raw, source, base_dir)
    variants = None
    if sweep:
        variants, warnings = _sweep_variants(raw, source, base_dir, name, sections)
        for key, message in warnings:
            warn(key, message)
    return config, variants


def _assemble(name: str, sections: dict, raw: dict, source: str, base_dir: Path | None) -> RunConfig:
    """The RunConfig of built sections: the checks across sections, and the one place where
    derived values are resolved (``ModelConfig.resolve``, then the geometry's mesh defaults
    from the model's lengths, ``Geometry.with_length_scales(ModelConfig.length_scales())``)
    before any model is built."""
    model, geometry, time, solver = (sections[k] for k in ("model", "geometry", "time", "solver"))
    if solver.preconditioner == "multigrid" and not type(model).supports_multigrid:
        serving = sorted(k for k, cls in _MODELS.items() if cls.supports_multigrid)
        raise ConfigError("solver.preconditioner", f"'multigrid' serves {' and '.join(serving)}; "
                          f"model {type(model).model_type!r} takes its solver from petsc_options")
    solver_table = raw.get("solver", {})
    model = model.resolve(ResolveContext(geometry, time, solver, copy.deepcopy(solver_table), base_dir))
    # mesh sizes the geometry derives from the model's physical lengths (spin-flip lengths of
    # a spin valve, the boundary layer of a DNP source): the one place they are handed over
    geometry = geometry.with_length_scales(model.length_scales())
    model.check_against(geometry, time)
    _geometry_warnings(geometry)
    if time is not None:
        _snapshot_warnings(sections["output"], time)
    return RunConfig(name=name, geometry=geometry, model=model, time=time, solver=solver,
                     output=sections["output"], sweep=raw.get("sweep", {}), source=source,
                     raw=copy.deepcopy(raw), limits=sections["limits"], base_dir=base_dir)


def _sweep_variants(raw: dict, source: str, base_dir: Path | None, name: str,
                    sections: dict | None = None):
    """([(label, config)], warnings) of the zipped [sweep] of ``raw``: per variant only the
    sections with swept keys are built again (with the swept values, through build_section),
    then the variant is assembled and resolved like the run itself. Each variant's own
    warnings are its ``warnings``; returned too, marked with the swept values, for the run."""
    if sections is None:   # from a RunConfig made in Python: build the sections of raw once
        config, _ = _parse({k: v for k, v in raw.items() if k != "sweep"}, source, base_dir)
        sections = {k: getattr(config, k) for k in ("geometry", "time", "solver", "output", "limits")}
        sections["model"] = _build("model", config.raw["model"], None, base_dir)
    sweep = raw["sweep"]
    base = copy.deepcopy({k: v for k, v in raw.items() if k != "sweep"})
    model_cls = type(sections["model"])
    out, warnings = [], []
    for i in range(len(next(iter(sweep.values())))):
        vraw = copy.deepcopy(base)
        labels, shown = [], []
        for dotted, values in sweep.items():
            section, key = dotted.split(".", 1)
            table = vraw.setdefault(section, {})
            if not isinstance(table, dict):
                raise ConfigError(section, f"must be a table [{section}]")
            table[key] = values[i]
            labels.append(f"{key}={values[i]}")
            shown.append(f"{dotted} = {_show(values[i])}")
        built = dict(sections)
        with _collecting() as collected:
            for section in dict.fromkeys(d.split(".", 1)[0] for d in sweep):
                if section == "preset":
                    raise ConfigError("preset", f"unknown preset {_show(vraw['preset'])} (available: "
                                                f"{', '.join(preset_names())})")
                built[section] = _build(section, vraw[section], model_cls, base_dir)
                if section == "model":
                    model_cls = type(built["model"])
            if built["time"] is None and not type(built["model"]).is_steady():
                raise ConfigError("time", "missing required section [time]")
            variant = _assemble(name, built, vraw, source, base_dir)
        model_cls = type(sections["model"])
        out.append((",".join(labels), _finish(variant, collected, source)))
        warnings += [(key, f"{message} (sweep {', '.join(shown)})") for key, message in collected]
    return out, warnings


def _snapshot_warnings(output: OutputConfig, time: TimeConfig) -> None:
    late = [t for t in output.snapshot_times if t > time.t_end]
    if late:
        times = "a time" if len(late) == 1 else f"{len(late)} times"
        warn("output.snapshot_times", f"{times} beyond time.t_end = {time.t_end:g} s "
                                      f"({', '.join(f'{t:g}' for t in sorted(late)[:3])}"
                                      f"{', ...' if len(late) > 3 else ''} s) "
                                      f"{'is' if len(late) == 1 else 'are'} ignored")


#: extent (m) of a sample outside which a geometry warns that lengths look mistyped; a
#: geometry class may set its own ``PLAUSIBLE_EXTENT`` (and ``EXTENT_KEY``, the key that sets
#: its extent when no length does, e.g. the DNP cell's electron_concentration)
PLAUSIBLE_EXTENT = Geometry.PLAUSIBLE_EXTENT


def _geometry_warnings(geometry) -> None:
    """Warn about a sample whose largest extent is implausible for its kind (a nm typed as m)."""
    bounds = geometry.sample_bounds()
    if bounds is None:
        return
    lo, hi = bounds
    extent = max(h - l for h, l in zip(hi, lo))
    low, high = type(geometry).PLAUSIBLE_EXTENT
    if low <= extent <= high:
        return
    key = type(geometry).EXTENT_KEY
    if key is None:  # the length field with the largest value
        lengths = [(max((abs(v) for v in _each(getattr(geometry, f.name))
                         if isinstance(v, (int, float)) and not isinstance(v, bool)), default=0.0),
                    f.name) for f in dataclasses.fields(geometry) if f.metadata.get("unit") == "m"]
        key = max(lengths)[1] if lengths else "type"
    what = "large" if extent > high else "small"
    warn(f"geometry.{key}", f"the sample is {extent:.3g} m across, implausibly {what} for this "
                            f"geometry (expected {low:g} m to {high:g} m): lengths are in metres")


def region_outside_sample(geometry, shape: str, center=None, radius: float = 0.0,
                          lower=None, upper=None) -> str | None:
    """A description of the sample's bounding box when the region (``shape`` "ball" with
    ``center``/``radius``, or "box" with ``lower``/``upper``; metres) lies entirely outside
    it, else None (also when the geometry does not know its bounds)."""
    bounds = geometry.sample_bounds()
    if bounds is None or shape not in ("ball", "box"):
        return None
    lo, hi = bounds
    tol = 1e-9 * max(max(h - l for h, l in zip(hi, lo)), 1e-300)
    if shape == "ball":
        gap = math.sqrt(sum(max(l - c, 0.0, c - h) ** 2 for c, l, h in zip(center, lo, hi)))
        outside = gap > radius + tol
    else:
        outside = any(u < l - tol or a > h + tol or (h - l > tol and (u <= l + tol or a >= h - tol))
                      for a, u, l, h in zip(lower, upper, lo, hi))
    if not outside:
        return None
    return "the sample spans " + " x ".join(f"[{l:.3g}, {h:.3g}]" for l, h in zip(lo, hi)) + " m"


def warn_if_region_outside(geometry, shape: str, center, radius: float, lower, upper,
                           background: float, note: str = "") -> bool:
    """Warn (key model.region_center or model.region_lower) when an initial ball/box region
    lies entirely outside the sample: accepted, since the sample then simply starts at
    ``background``, but almost certainly a slip. Returns whether it does."""
    outside = region_outside_sample(geometry, shape, center, radius, lower, upper)
    if outside:
        key = "model.region_center" if shape == "ball" else "model.region_lower"
        warn(key, f"the initial {shape} region lies entirely outside the sample ({outside}): the "
                  f"whole sample starts at initial_polarization = {background:g}{note}")
    return bool(outside)


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a TOML run file; errors are :class:`ConfigError` naming file and key."""
    path = Path(path)
    try:
        if path.is_dir():
            raise ConfigError("", "is a directory, not a configuration file", file=str(path))
        if not path.is_file():
            raise ConfigError("", "configuration file not found", file=str(path))
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:  # e.g. unreadable, or a file name too long
        raise ConfigError("", f"cannot read the configuration file ({exc.strerror})",
                          file=str(path)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError("", f"not valid TOML: not UTF-8 text (byte {exc.start})",
                          file=str(path)) from None
    try:
        raw = tomllib.loads(text)
    except ValueError as exc:  # TOMLDecodeError, or an integer of more than 4300 digits
        raise ConfigError("", f"not valid TOML: {exc}", file=str(path)) from None
    return parse_config(raw, source=str(path), base_dir=path.parent)


def to_dict(obj) -> dict:
    """A dataclass section as a plain dict (for echoing the resolved configuration)."""
    return dataclasses.asdict(obj)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        if isinstance(v, float) and math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {v!r} as TOML")


def dump_toml(raw: dict) -> str:
    """Write a (two-level) configuration dictionary back as TOML."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in raw.items() if not isinstance(v, dict)]
    for section, table in raw.items():
        if isinstance(table, dict):
            lines.append(f"\n[{section}]")
            lines += [f"{_toml_value(k) if '.' in k else k} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"
