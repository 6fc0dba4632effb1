"""The programmatic API: ``fem_spin.simulate`` and ``fem_spin.load``.

``simulate(config, overrides)`` runs a configuration (a run file, a parsed
:class:`~fem_spin.config.RunConfig` or a dict as read from TOML) in memory: no file is
written unless ``directory`` is given. It returns a :class:`Result` with the time series as
arrays (``result.table``: a pandas DataFrame), the final fields as dolfinx Functions, the
probe profiles and the summary the command line would have written. ``load(run_dir)`` gives
the same :class:`Result` for a finished run directory (or a stopped one), and from its files
the fields by name and time as pyvista meshes (``result.field("polarization", t=...)``), the
run's own plots (``result.plot()``), an off-screen picture of a field
(``result.plot_field(...)``) and a sweep's headline numbers per variant (``result.sweep``).

Repeated calls are cheap: the mesh of a geometry is built once per process and reused by
every later call with the same [geometry] table (compiled forms come from FFCx's cache), so
a parameter study or a fit pays for the time stepping alone (tests/system/test_api.py measures it).

    >>> import fem_spin
    >>> result = fem_spin.simulate("run.toml", overrides={"model.D0": 3e-16})
    >>> result.series["t"], result.series["P_mean"]
    >>> result.summary["t63"]
    >>> run = fem_spin.load("results/dnp_buildup")
    >>> run.table.plot(x="t", y="P_mean", logx=True)
    >>> run.plot("P_mean", png="P_mean.png")
"""

from __future__ import annotations

import copy
import dataclasses
import json
import tomllib
from collections import OrderedDict
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from mpi4py import MPI

__all__ = ["Result", "simulate", "load", "apply_overrides", "clear_mesh_cache"]

#: meshes kept for reuse (least recently used dropped first)
MESH_CACHE_SIZE = 4
_MESHES: "OrderedDict[tuple, Any]" = OrderedDict()


@dataclasses.dataclass
class Result:
    """The outcome of one run (or, with ``variants``, of a sweep: one Result per label)."""

    config: Any
    summary: dict
    #: transient: the time series (t, dt, counters, observables) as arrays; stationary: the
    #: results table (one entry per solved case)
    series: dict[str, np.ndarray]
    #: probe-line profiles: "distance_m" and one array per output time
    profiles: dict[float, np.ndarray] = dataclasses.field(default_factory=dict)
    profile_distance: np.ndarray | None = None
    #: in memory (simulate): the final fields as dolfinx Functions, by name; loaded: {}
    fields: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: the run directory (load, or simulate with a directory); None in memory
    directory: Path | None = None
    #: a sweep: label -> Result of each variant (this Result's own series is then empty)
    variants: dict[str, "Result"] = dataclasses.field(default_factory=dict)
    #: simulate(sensitivities=keys): key -> observable -> d(observable)/d(key) per row of the
    #: series (forward sensitivities of the discrete solution, solvers/sensitivity.py)
    sensitivities: dict[str, dict[str, np.ndarray]] = dataclasses.field(default_factory=dict)
    #: the accepted steps (dt, order, t) of a transient run in memory (simulate's
    #: ``frozen_steps`` replays them)
    steps: list = dataclasses.field(default_factory=list)

    # ------------------------------------------------------------------ tables
    @property
    def table(self):
        """The run's table as a pandas DataFrame: the time series of a transient run (one row
        per accepted step, t = 0 first), the results table of a stationary one (one row per
        case); a sweep: every variant's rows stacked, with the variant's label in a first
        column ``variant``. Why pandas and not xarray: :mod:`fem_spin.results`."""
        import pandas as pd

        if self.variants:
            frames = [v.table.assign(variant=label) for label, v in self.variants.items()]
            frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
            return frame[["variant", *(c for c in frame.columns if c != "variant")]]
        return pd.DataFrame(self.series)

    def to_pandas(self):
        """The same DataFrame as :attr:`table`."""
        return self.table

    @property
    def sweep(self):
        """One row per variant (index: its label) with its swept values, status and headline
        numbers (the model's, e.g. ``buildup.t63_s``, and their error estimates as
        ``<key> space`` / ``<key> time`` where summary.json has them); a single run: one row."""
        import pandas as pd

        from fem_spin.results import headline, sweep_values

        runs = self.variants or {self.summary.get("label", "") or getattr(self.config, "name", ""): self}
        rows = []
        for label, r in runs.items():
            row = {"variant": label, **sweep_values(self.config, r.config),
                   "status": r.summary.get("status")}
            for key, entry in headline(r.config, r.summary).items():
                row[key] = entry["value"]
                for part in ("space", "time"):
                    if part in entry:
                        row[f"{key} {part}"] = entry[part]
            rows.append(row)
        return pd.DataFrame(rows).set_index("variant")

    # ------------------------------------------------------------------ fields
    @property
    def field_files(self) -> list[Path]:
        """The run's field files (``fields.pvd``, ``fields.bp``, ...) for ParaView or pyvista."""
        if self.directory is None:
            return []
        return sorted(p for p in self.directory.glob("fields*") if p.suffix in (".pvd", ".bp"))

    def _one_run(self, what: str) -> Path:
        """The directory of this single run (not a sweep, not in memory), for ``what``."""
        if self.variants:
            labels = ", ".join(repr(k) for k in self.variants)
            raise ValueError(f"{what} of a sweep: pick a variant, e.g. result.variants[label] "
                             f"(labels: {labels})")
        if self.directory is None:
            raise ValueError(f"{what} reads the run's files: run with simulate(..., directory=...) "
                             f"or open a run directory with fem_spin.load()")
        return self.directory

    @property
    def field_times(self) -> list[float]:
        """The times (s) of the stored field snapshots (a stationary run: snapshot indices)."""
        from fem_spin.results import field_times

        return field_times(self._one_run("field_times"))

    def field(self, name: str, t: float | None = None, *, index: int | None = None):
        """The field ``name`` at snapshot time ``t`` (s; default: the last snapshot) or at
        snapshot ``index``, as a pyvista UnstructuredGrid in metres (every field of that
        snapshot as point data, ``name`` active, the time in ``grid.field_data["t"]``),
        read from the run's ``fields.pvd``. :class:`~fem_spin.results.FieldsNotWritten`
        if the run wrote no fields, ValueError naming the snapshot times for another ``t``."""
        from fem_spin.results import read_field

        return read_field(self._one_run("field()"), name, t, index)

    # ------------------------------------------------------------------ pictures
    def _plot_dirs(self) -> tuple[Path, dict[str, Path]]:
        if self.directory is None:
            raise ValueError("plot() draws from the run's files: run with simulate(..., "
                             "directory=...) or open a run directory with fem_spin.load()")
        if self.variants:
            return self.directory, {label: v.directory for label, v in self.variants.items()}
        label = self.summary.get("label") or getattr(self.config, "name", "run")
        return self.directory, {label: self.directory}

    def plot(self, name: str | None = None, *, png: str | Path | None = None,
             directory: str | Path | None = None, overwrite: bool = False):
        """The plots the run draws (the same code and figures as ``fem-spin run``), as
        matplotlib figures; nothing is written unless asked.

        ``name``: one plot, by the PNG name the run gives it without ``.png`` (``"P_mean"``,
        ``"profiles"``, ``"conserved_totals"``): that Figure is returned. Without ``name``:
        {name: Figure} of every plot. ``png``: write the one figure there; ``directory``:
        write each as ``<name>.png`` there. An existing file is never replaced unless
        ``overwrite``. Axis labels carry SI units."""
        from fem_spin.results import figures

        path, dirs = self._plot_dirs()
        figs = figures(self.config, path, dirs)
        if name is not None:
            if name not in figs:
                raise KeyError(f"the run draws no plot {name!r} (it draws: "
                               f"{', '.join(figs) or 'none'})")
            figs = {name: figs[name]}
        if png is not None:
            if len(figs) != 1:
                raise ValueError(f"png= takes one figure and the run draws {len(figs)}: give "
                                 f"name= (one of {', '.join(figs)}) or directory=")
            targets = {next(iter(figs)): Path(png)}
        elif directory is not None:
            targets = {n: Path(directory) / f"{n}.png" for n in figs}
        else:
            targets = {}
        existing = [str(p) for p in targets.values() if p.exists() or p.is_symlink()]
        if existing and not overwrite:
            raise FileExistsError(f"{existing[0]} exists; choose another path or pass overwrite=True")
        for n, target in targets.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            figs[n].savefig(target, dpi=130)
        return figs[name] if name is not None else figs

    def plot_field(self, name: str = "polarization", t: float | None = None, *,
                   index: int | None = None, png: str | Path | None = None) -> Path:
        """An off-screen pyvista picture of the field ``name`` at snapshot time ``t``
        (default: the last) or snapshot ``index``: a 3-D mesh clipped through its centre as
        the run draws it, a 1-D or 2-D one from above. Written to ``png`` (default: a new
        ``<name>_t<index>.png`` in the run directory, as ``fem-spin render`` writes;
        nothing is ever overwritten); returns the path. Needs no display (off-screen VTK;
        :class:`~fem_spin.viz.render.RenderUnavailable` where VTK cannot render at all)."""
        from fem_spin.results import read_field, render_field
        from fem_spin.viz.scales import reserve_path

        directory = self._one_run("plot_field()")
        grid = read_field(directory, name, t, index)
        if png is None:
            from fem_spin.results import field_times

            k = field_times(directory).index(float(grid.field_data["t"][0]))
            target = reserve_path(directory, f"{name}_t{k}")
        else:
            target = Path(png)
            if target.exists() or target.is_symlink():
                raise FileExistsError(f"{target} exists; choose another path")
        try:
            return render_field(grid, name, target, title=directory.name)
        except BaseException:
            if target.exists() and target.stat().st_size == 0:
                target.unlink()   # our own empty placeholder (reserve_path), nothing else
            raise

    def __getitem__(self, label: str) -> "Result":
        return self.variants[label]


# --------------------------------------------------------------------------- configuration
def _raw_of(config) -> tuple[dict, str, Path | None]:
    """(raw TOML dict, source name, base directory for relative paths)."""
    from fem_spin.config import RunConfig

    if isinstance(config, RunConfig):
        return copy.deepcopy(config.raw), config.source, None
    if isinstance(config, Mapping):
        return copy.deepcopy(dict(config)), "<memory>", None
    path = Path(config)
    from fem_spin.config import ConfigError

    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError("", "configuration file not found", file=str(path)) from None
    except ValueError as exc:
        raise ConfigError("", f"not valid TOML: {exc}", file=str(path)) from None
    return raw, str(path), path.parent


def apply_overrides(raw: dict, overrides: Mapping[str, Any] | None) -> dict:
    """``raw`` with dotted keys replaced: ``{"model.D0": 3e-16, "time.t_end": 10.0}`` (nested
    tables too: ``"model.optics.triplet_yield"``). The result is validated like a run file."""
    from fem_spin.config import ConfigError

    out = copy.deepcopy(raw)
    for dotted, value in (overrides or {}).items():
        parts = str(dotted).split(".")
        if len(parts) < 2 and parts[0] != "name":
            raise ConfigError(str(dotted), "an override key is 'section.key' (e.g. 'model.D0')",
                              file="overrides")
        table = out
        for part in parts[:-1]:
            nxt = table.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ConfigError(str(dotted), f"{part!r} is not a table", file="overrides")
            table = nxt
        table[parts[-1]] = value
    return out


def _parse(config, overrides):
    from fem_spin.config import parse_config

    raw, source, base = _raw_of(config)
    return parse_config(apply_overrides(raw, overrides), source=source, base_dir=base)


# --------------------------------------------------------------------------- meshes
def _mesh_key(config, comm) -> tuple:
    # derived geometry fields (e.g. the spin-flip lengths that size a spin valve's default
    # mesh, taken from the model) belong to the mesh as much as the [geometry] table does
    derived = [(f.name, getattr(config.geometry, f.name)) for f in dataclasses.fields(config.geometry)
               if f.metadata.get("derived")] if dataclasses.is_dataclass(config.geometry) else []
    return (json.dumps(config.raw.get("geometry", {}), sort_keys=True, default=repr), repr(derived),
            type(config.geometry).__name__, comm.py2f() if hasattr(comm, "py2f") else id(comm))


def _problem(config, comm):
    """A set-up problem for ``config``, on a mesh built before for the same geometry if any."""
    cls = type(config.model).problem_class
    key = _mesh_key(config, comm)
    mesh_data = _MESHES.get(key)
    problem = cls(config, comm, mesh_data=mesh_data).initialise()
    if mesh_data is None and problem.mesh_data is not None:
        _MESHES[key] = problem.mesh_data
        while len(_MESHES) > MESH_CACHE_SIZE:
            _MESHES.popitem(last=False)
    else:
        _MESHES.move_to_end(key)
    return problem


def clear_mesh_cache() -> None:
    """Forget the meshes kept for reuse."""
    _MESHES.clear()


# --------------------------------------------------------------------------- simulate
def _simulate_one(config, comm, quiet: bool, label: str = "", sensitivities=(),
                  frozen_steps=None) -> Result:
    from fem_spin.engine import Engine, Run
    from fem_spin.io import outputs as out
    from fem_spin.solvers import TimeStepper

    problem = _problem(config, comm)
    run = Run(config, problem, comm, label, tangent_keys=tuple(sensitivities),
              frozen_steps=frozen_steps, record_steps=True)
    from fem_spin.simulation import _provenance

    run.summary.update(label=label, model=type(config.model).__name__,
                       model_type=type(config.model).model_type, dofs=problem.num_dofs,
                       ranks=comm.size, status="running", restarts=0, provenance=_provenance(comm))
    engine_outputs: list = [out.Progress(quiet=quiet)] if not quiet else []
    if problem.steady:
        table = _case_table()
        Engine([*engine_outputs, table, out.Summary(None)]).run_steady(run)
        series = table.arrays()
        profiles, distance = {}, None
    else:
        if not quiet:
            engine_outputs = [out.Progress(config.output.progress_interval, quiet=False)]
        memory, profile = out.MemorySeries(), out.Profiles(None)
        engine = Engine([*engine_outputs, memory, profile, out.Summary(None, memory)])
        engine.run_sampled(run) if problem.sampled else engine.run_transient(run)
        series = memory.arrays()
        profiles = dict(run.profiles)
        distance = profile.probe[0].distance if profile.probe is not None else None
    fields = {f.name: f for f in problem.output_functions()}
    tangents, steps = {}, []
    if run.tangent is not None:
        tangents = run.tangent.series()
        run.summary["sensitivities"] = {"keys": list(run.tangent.keys),
                                        "linear_solves": run.tangent.linear_solves,
                                        "seconds": run.tangent.seconds}
        run.tangent.destroy()
    if isinstance(run.stepper, TimeStepper):     # a sampled run's clock takes no steps
        steps = list(run.stepper.accepted_steps)
    problem.destroy()
    return Result(config=config, summary=run.summary, series=series, profiles=profiles,
                  profile_distance=distance, fields=fields, sensitivities=tangents, steps=steps)


def _case_table():
    """An engine output keeping the results table of a stationary run in memory."""
    from fem_spin.engine import Output

    class CaseTable(Output):
        def __init__(self):
            self.rows: list[dict] = []

        def case(self, run, index, row, write_fields) -> None:
            self.rows.append({"case": index, **row})

        def arrays(self) -> dict[str, np.ndarray]:
            if not self.rows:
                return {}
            return {k: np.array([r[k] for r in self.rows]) for k in self.rows[0]}

    return CaseTable()


def simulate(config, overrides: Mapping[str, Any] | None = None, *,
             directory: str | Path | None = None, comm: MPI.Comm | None = None,
             quiet: bool = True, overwrite: bool = False, sensitivities=(),
             frozen_steps=None) -> Result:
    """Run ``config`` (a path, a RunConfig or a dict) with ``overrides`` applied and return
    its :class:`Result`.

    In memory by default: nothing is written, the mesh is reused from earlier calls with
    the same geometry. With ``directory`` the run goes to ``directory/<name>`` exactly as
    ``fem-spin run --output-dir directory`` would (files, pictures, checkpoints; refused if
    it exists unless ``overwrite``), and the Result is loaded from there. Errors name the key:
    a :class:`~fem_spin.config.ConfigError` (the physics' own errors too).

    ``sensitivities``: run keys (``"model.D0"``, ...) to differentiate the discrete solution
    with respect to (forward sensitivities, solvers/sensitivity.py; in memory, no sweep):
    ``result.sensitivities[key]["P_mean"]`` per row of the series (a stationary run: per row
    of its results table, e.g. ``"resistance_ohm"``, and its summary's differentiated numbers
    such as ``"delta_R_ohm"`` as 0-d arrays); NotDifferentiable when the model cannot. ``frozen_steps``: a ``result.steps`` to replay
    exactly (the same dt and order per step, no error control) instead of choosing steps."""
    from fem_spin.config import naming_the_key

    comm = comm or MPI.COMM_WORLD
    config = _parse(config, overrides)
    if (sensitivities or frozen_steps is not None) and (directory is not None or len(config.variants()) != 1):
        raise ValueError("sensitivities and frozen_steps are for one run in memory (no directory, no sweep)")
    if directory is not None:
        from fem_spin.simulation import run

        path = run(config, comm=comm, overwrite=overwrite, output_dir=directory, quiet=quiet)
        return load(path)
    from fem_spin.engine import stop_on_signals
    from fem_spin.limits import check_resources

    check_resources(config)
    with naming_the_key(config.source), stop_on_signals():
        variants = config.variants()
        if len(variants) == 1:
            return _simulate_one(config, comm, quiet, sensitivities=tuple(sensitivities),
                                 frozen_steps=frozen_steps)
        results = {label: _simulate_one(cfg, comm, quiet, label) for label, cfg in variants}
    return Result(config=config, summary={k: r.summary for k, r in results.items()}, series={},
                  variants=results)


# --------------------------------------------------------------------------- load
def _read_csv(path: Path) -> dict[str, np.ndarray]:
    import csv

    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return {}
    header, data = rows[0], rows[1:]
    columns = {}
    for i, name in enumerate(header):
        values = [r[i] for r in data if len(r) == len(header)]
        try:
            columns[name] = np.array(values, dtype=float)
        except ValueError:
            columns[name] = np.array(values, dtype=object)
    return columns


def _load_one(config, directory: Path) -> Result:
    summary = json.loads((directory / "summary.json").read_text()) \
        if (directory / "summary.json").exists() else {}
    table = directory / ("results.csv" if (directory / "results.csv").exists() else "timeseries.csv")
    series = _read_csv(table) if table.exists() else {}
    profiles, distance = {}, None
    if (directory / "profiles.csv").exists():
        data = _read_csv(directory / "profiles.csv")
        distance = data.pop("distance_m", None)
        profiles = {float(k.split("=", 1)[1]): v for k, v in data.items() if k.startswith("t=")}
    return Result(config=config, summary=summary, series=series, profiles=profiles,
                  profile_distance=distance, directory=directory)


def load(run_dir: str | Path) -> Result:
    """The :class:`Result` of a run directory written by ``fem-spin run`` (a sweep: one
    variant per label in ``result.variants``; a stopped run: what it wrote). Fields stay on
    disk and are read when asked: ``result.field(name, t=...)``, ``result.field_files``."""
    from fem_spin.config import ConfigError, parse_config

    path = Path(run_dir)
    config_file = path / "config.toml"
    if not config_file.is_file():
        raise FileNotFoundError(f"{path}: not a run directory (no config.toml)")
    try:
        raw = tomllib.loads(config_file.read_text())
    except ValueError as exc:
        raise ConfigError("", f"not valid TOML: {exc}", file=str(config_file)) from None
    config = parse_config(raw, source=str(config_file), base_dir=path)
    variants = config.variants()
    if len(variants) == 1:
        return _load_one(config, path)
    from fem_spin.simulation import _slug

    results = {label: _load_one(cfg, path / _slug(label)) for label, cfg in variants}
    return Result(config=config, summary={k: r.summary for k, r in results.items()}, series={},
                  directory=path, variants=results)
