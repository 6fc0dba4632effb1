"""Output objects of the run engine (fem_spin/engine.py): small classes, one job each.

=====================  =======================================================  ============
output                 job                                                      writes
=====================  =======================================================  ============
:class:`Progress`      progress bar or lines, case lines of stationary runs      stdout (0)
:class:`TimeSeries`    the observables of every accepted step                   timeseries.csv
:class:`MemorySeries`  the same, in memory (analysis, :func:`fem_spin.simulate`)  --
:class:`FieldSnapshots`  fields at output times / chosen cases (VTX + VTK)       fields.*
:class:`Profiles`      the model's probe lines at output times                  profiles*.csv
:class:`Checkpoints`   the state at intervals, at a stop and at the end         checkpoint/
:class:`ResultsTable`  one row per solved case of a stationary model            results.csv
:class:`Summary`       status, counters, the model's analysis                   summary.json
=====================  =======================================================  ============

(0): rank 0 only, like every scalar file. Fields are written by every rank, its own part.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from pathlib import Path

import numpy as np
from mpi4py import MPI

from fem_spin.engine import Output, OutputFailed, Run
from fem_spin.io.fields import FieldWriter
from fem_spin.io.progress import make_progress
from fem_spin.io.timeseries import TimeSeriesWriter, read_timeseries

__all__ = ["Progress", "TimeSeries", "MemorySeries", "FieldSnapshots", "Profiles", "Checkpoints",
           "ResultsTable", "Summary", "write_json_atomic", "ensure_space", "DISK_RESERVE_BYTES"]

#: a field snapshot or checkpoint is written only if the file system keeps at least this many
#: bytes free besides the estimated size (ADIOS2 aborts the process on a full disk)
DISK_RESERVE_BYTES = 4 << 20
#: bytes a field snapshot (VTX data + a VTK piece with its mesh) and a checkpoint may take
#: per degree of freedom: generous upper bounds, checked against the free space before writing
SNAPSHOT_BYTES_PER_DOF, CHECKPOINT_BYTES_PER_DOF = 400, 1000


# --------------------------------------------------------------------------- helpers
def _finite_or_null(data):
    """NaN and infinities as JSON null: strict JSON readers reject NaN, and a number that is
    not there (e.g. the mean over an empty region) is better shown as missing."""
    if isinstance(data, dict):
        return {k: _finite_or_null(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_finite_or_null(v) for v in data]
    if isinstance(data, (float, np.floating)) and not np.isfinite(data):
        return None
    return data


def _json_default(value):
    value = float(value)
    return None if not np.isfinite(value) else value


def write_json_atomic(path: Path, data) -> None:
    """Write ``path`` through a temporary file and a rename: a full disk or a kill leaves the
    previous version, never half a file. Rank 0 only."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(json.dumps(_finite_or_null(data), indent=2, default=_json_default) + "\n")
        tmp.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise OutputFailed(f"cannot write {path}: {exc.strerror or exc}") from None


def _free_bytes(directory: Path) -> int:
    try:
        return shutil.disk_usage(directory).free
    except OSError:
        return 0


def ensure_space(directory: Path, needed: int, what: str, comm: MPI.Comm) -> None:
    """Raise :class:`OutputFailed` on every rank if any rank's file system lacks ``needed``
    bytes (plus the reserve) for ``what``: checked before the write, since a parallel writer
    that runs out of space mid-write cannot be stopped cleanly."""
    short = comm.allreduce(_free_bytes(directory) < needed + DISK_RESERVE_BYTES, op=MPI.LOR)
    if short:
        raise OutputFailed(f"not enough free disk space in {directory} to write {what} (about "
                           f"{(needed + DISK_RESERVE_BYTES) / 1e6:.3g} MB needed)")


def _tree_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return 0


def _step_row(info, run: Run) -> dict:
    return {"step": info.step, "t": info.t, "dt": info.dt,
            "newton_iterations": info.newton_iterations,
            "linear_iterations": info.linear_iterations, "rejected": info.rejected,
            **run.observed}


STEP_COLUMNS = ("step", "t", "dt", "newton_iterations", "linear_iterations", "rejected")


def _initial_row(run: Run) -> dict:
    return {"step": 0, "t": 0.0, "dt": 0.0, "newton_iterations": 0, "linear_iterations": 0,
            "rejected": 0, **run.observed}


# --------------------------------------------------------------------------- outputs
class Progress(Output):
    """A line when the run starts, then a live progress bar in a terminal or one plain line
    per ``interval`` seconds of wall time elsewhere (io/progress.py; rank 0); stationary
    runs: a line per solved case."""

    def __init__(self, interval: float = 2.0, quiet: bool = False):
        self.interval, self.quiet = interval, quiet
        self._line = None

    def start(self, run: Run) -> None:
        if self.quiet:
            return
        p = run.problem
        if p.steady:
            done = len(p.completed_cases)
            what = f"resuming after case {done - 1}" if done else "stationary"
        else:
            state = run.resume_state
            what = (f"resuming at t = {state['t']:g} s (step {state['step']})" if state
                    else f"t_end = {run.config.time.t_end:g} s")
        if run.comm.rank == 0:
            print(f"  {run.label + ': ' if run.label else ''}{p.num_dofs} dofs on {run.comm.size} "
                  f"rank(s), {what}", flush=True)
        if not p.steady:
            self._line = make_progress(run.config.time.t_end, self.interval, run.comm, run.label,
                                       start_t=float(state["t"]) if state else 0.0)

    def step(self, run: Run, info) -> None:
        if self._line is not None:
            self._line.update(info)

    def finish(self, run: Run) -> None:
        """The run's summary line: steps (or cases), set-up and stepping seconds."""
        self.close(run)   # the bar first, so that the line goes below it
        if self.quiet or run.comm.rank != 0 or "setup_s" not in run.summary:
            return
        s = run.summary
        done = f"{s['cases']} case(s)" if run.problem.steady else f"{s.get('steps', 0)} steps"
        cache = {"hit": ", mesh from the cache", "stored": ", mesh cached"}.get(s.get("mesh_cache"), "")
        print(f"  {run.label + ': ' if run.label else ''}{done} in {s['wall_time_s']:.1f} s: setup "
              f"{s['setup_s']:.1f} s{cache}, {'solving' if run.problem.steady else 'stepping'} "
              f"{s['stepping_s']:.1f} s", flush=True)

    def close(self, run: Run) -> None:
        if self._line is not None:
            self._line.close()
            self._line = None

    def case(self, run: Run, index: int, row: dict, write_fields: bool) -> None:
        if not self.quiet and run.comm.rank == 0:
            shown = ", ".join(f"{k} = {v:.6g}" if isinstance(v, float) else f"{k} = {v}"
                              for k, v in row.items())
            print(f"  case {index}: {shown}", flush=True)


class TimeSeries(Output):
    """``timeseries.csv``: the row of t = 0 and one per accepted step (rank 0, each row whole
    on disk before the next step). A resumed run keeps the rows up to its checkpoint."""

    def __init__(self, directory: Path):
        self.path = Path(directory) / "timeseries.csv"
        self.writer: TimeSeriesWriter | None = None

    def start(self, run: Run) -> None:
        columns = [*STEP_COLUMNS, *run.problem.observable_names]
        state = run.resume_state
        self.writer = TimeSeriesWriter(self.path, columns, run.comm,
                                       continue_after_step=state["step"] if state else None)
        if state is None:
            self.writer.write(_initial_row(run))

    def step(self, run: Run, info) -> None:
        self.writer.write(_step_row(info, run))

    def close(self, run: Run) -> None:
        if self.writer is not None:
            self.writer.close()


class MemorySeries(Output):
    """The time series in memory on every rank (observables are global reductions, so all
    ranks hold the same numbers): for the model's analysis and for :func:`fem_spin.simulate`.
    A resumed run reads the rows before its checkpoint from ``resume_from`` (its CSV)."""

    def __init__(self, resume_from: Path | None = None):
        self.resume_from = resume_from
        self.rows: list[dict] = []

    def start(self, run: Run) -> None:
        self.rows = []
        state = run.resume_state
        if state is not None and self.resume_from is not None:
            previous = run.comm.bcast(read_timeseries(self.resume_from) if run.comm.rank == 0
                                      and Path(self.resume_from).exists() else None, root=0)
            if previous:
                keep = previous["step"] <= state["step"]
                names = list(previous)
                self.rows = [{n: previous[n][i] for n in names} for i in np.flatnonzero(keep)]
        if state is None:
            self.rows.append(_initial_row(run))

    def step(self, run: Run, info) -> None:
        self.rows.append(_step_row(info, run))

    def arrays(self) -> dict[str, np.ndarray]:
        if not self.rows:
            return {}
        return {name: np.array([float(r[name]) for r in self.rows]) for name in self.rows[0]}


class FieldSnapshots(Output):
    """The problem's output functions as VTX (``fields.bp``) and VTK (``fields.pvd``) at the
    output times (transient) or for the cases that ask for it (stationary: snapshot k is the
    k-th such case). A resumed run writes ``fields_rK.*`` and indexes them in ``fields.pvd``.
    The free space is checked before each snapshot."""

    def __init__(self, directory: Path, restarts: int = 0):
        self.directory, self.restarts = Path(directory), restarts
        self.writer: FieldWriter | None = None
        self.cases: list[int] = []

    def start(self, run: Run) -> None:
        problem = run.problem
        problem.update_output_functions()
        if problem.steady:
            resumed = self.restarts > 0
            keep_until = -1.0
        else:
            resumed = run.resume_state is not None
            keep_until = run.resume_state["t"] if resumed else None
        self.writer = FieldWriter(run.comm, self.directory, problem.output_functions(),
                                  basename=f"fields_r{self.restarts}" if resumed else "fields",
                                  merge_into="fields.pvd" if resumed else None,
                                  keep_until=keep_until)
        self._bytes = SNAPSHOT_BYTES_PER_DOF * problem.num_dofs
        if not problem.steady and not resumed:
            self.output_time(run, 0.0)

    def _write(self, run: Run, t: float, what: str) -> None:
        run.problem.update_output_functions()
        ensure_space(self.directory, self._bytes, what, run.comm)
        self.writer.write(t)

    def output_time(self, run: Run, t: float) -> None:
        self._write(run, t, f"the field snapshot at t = {t:g} s")
        run.snapshot_times.append(t)

    def case(self, run: Run, index: int, row: dict, write_fields: bool) -> None:
        if write_fields:
            # the snapshot is written before the row, so a stopped run's rows have theirs
            self._write(run, float(len(self.cases)), f"the fields of case {index}")
            self.cases.append(index)

    def skip_case(self, run: Run, index: int, row: dict, write_fields: bool) -> None:
        """A case finished before the stop: its snapshot exists; keep its index entry."""
        if write_fields:
            self.cases.append(index)
            self.writer.keep_until = len(self.cases) - 1.0

    def finish(self, run: Run) -> None:
        if run.problem.steady:
            run.summary["field_snapshot_cases"] = list(self.cases)

    def close(self, run: Run) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class Profiles(Output):
    """The model's probe line (``problem.profile_probe()``) at the output times, written as
    ``profiles.csv`` (distance, one column per time) when the run ends (rank 0); each of the
    model's further probe lines (``problem.extra_profile_probes()``, e.g. one per conserved
    quantity's density) likewise as ``profiles_<name>.csv``."""

    def __init__(self, directory: Path | None):
        self.directory = Path(directory) if directory is not None else None
        self.path = self.directory / "profiles.csv" if directory is not None else None
        self.probe = None
        self.extras: dict = {}

    def start(self, run: Run) -> None:
        self.probe = run.problem.profile_probe()
        self.extras = dict(run.problem.extra_profile_probes())
        state = run.resume_state

        def restored(profiles: dict) -> dict:
            return {float(t): np.asarray(v) for t, v in profiles.items()}

        run.profiles = restored(state["profiles"]) if state else {}
        saved = state.get("extra_profiles", {}) if state else {}
        run.extra_profiles = {name: restored(saved.get(name, {})) for name in self.extras}
        if self.probe is not None and state is None:
            self.output_time(run, 0.0)

    def output_time(self, run: Run, t: float) -> None:
        if self.probe is not None:
            line, function = self.probe
            run.profiles[t] = line.evaluate(function)
        for name, (line, function) in self.extras.items():
            run.extra_profiles[name][t] = line.evaluate(function)

    def finish(self, run: Run) -> None:
        if self.path is None or self.probe is None or not run.profiles or run.comm.rank != 0:
            return
        _write_profiles(self.path, self.probe[0].distance, run.profiles)
        for name, (line, _) in self.extras.items():
            if run.extra_profiles.get(name):
                _write_profiles(self.directory / f"profiles_{name}.csv", line.distance,
                                run.extra_profiles[name])


def _write_profiles(path: Path, distance: np.ndarray, profiles: dict) -> None:
    """distance, then one column per time (header ``t=<time>``)."""
    times = sorted(profiles)
    header = "distance_m," + ",".join(f"t={t:.6g}" for t in times)
    rows = np.column_stack([distance] + [profiles[t] for t in times])
    np.savetxt(path, rows, delimiter=",", header=header, comments="", fmt="%.10g")


class Checkpoints(Output):
    """``checkpoint/`` (io/checkpoint.py: verified, written atomically): every ``interval``
    seconds of wall time, when the run stops at an accepted state (a signal, a pause, a
    failed step rolled back) and, unless ``interval`` is 0, at the end (so that
    ``fem-spin resume --t-end`` can extend a completed run)."""

    def __init__(self, directory: Path, interval: float, restarts: int = 0):
        self.directory, self.interval, self.restarts = Path(directory), interval, restarts
        self._last = time.perf_counter()

    def due(self, run: Run) -> bool:
        return self.interval > 0 and time.perf_counter() - self._last >= self.interval

    def save(self, run: Run) -> None:
        from fem_spin.io import checkpoint as ckpt

        comm = run.comm
        previous = comm.bcast(_tree_bytes(self.directory / ckpt.CHECKPOINT_DIR)
                              if comm.rank == 0 else None, root=0)
        needed = max(previous, CHECKPOINT_BYTES_PER_DOF * run.problem.num_dofs)
        ensure_space(self.directory, needed, "a checkpoint", comm)
        ckpt.write_checkpoint(self.directory, run.problem, run.stepper, {
            "totals": run.totals, "wall_time_s": run.wall_time, "setup_s": run.setup_time,
            "profiles": {repr(t): np.asarray(v).tolist() for t, v in run.profiles.items()},
            "extra_profiles": {name: {repr(t): np.asarray(v).tolist() for t, v in profiles.items()}
                               for name, profiles in run.extra_profiles.items()},
            "restarts": self.restarts, "source": run.config.source,
            "snapshot_times": list(run.snapshot_times)})
        self._last = time.perf_counter()
        run.summary["checkpoint"] = str(self.directory / ckpt.CHECKPOINT_DIR)

    def finish(self, run: Run) -> None:
        exc = run.failure
        if exc is None:
            if self.interval > 0:
                self.save(run)
            return
        if isinstance(exc, OutputFailed) or str(exc).startswith("stopped by a second"):
            return   # nothing to write to, or mid-step: the previous checkpoint stays
        try:
            self.save(run)
        except OutputFailed as write_exc:
            run.summary["checkpoint_error"] = str(write_exc)


class ResultsTable(Output):
    """``results.csv`` of a stationary model: one row per solved case (rank 0, whole rows);
    a resumed run keeps the rows finished before the stop."""

    def __init__(self, directory: Path, finished: int = 0):
        self.path = Path(directory) / "results.csv"
        self.finished = finished
        self.writer: TimeSeriesWriter | None = None

    def start(self, run: Run) -> None:
        self.writer = TimeSeriesWriter(self.path, ["case", *run.problem.result_columns], run.comm,
                                       continue_after_step=self.finished - 1 if self.finished else None)

    def case(self, run: Run, index: int, row: dict, write_fields: bool) -> None:
        self.writer.write({"case": index, **row})

    def close(self, run: Run) -> None:
        if self.writer is not None:
            self.writer.close()


class Summary(Output):
    """``summary.json`` (rank 0, through a temporary file): status, counters, final
    observables and, for a completed transient run, the model's analysis of the time series
    (from ``series``, in memory). When the run already stops for another reason, a write
    error here is reported, not raised over it."""

    def __init__(self, directory: Path | None, series: MemorySeries | None = None):
        self.path = Path(directory) / "summary.json" if directory is not None else None
        self.series = series

    def finish(self, run: Run) -> None:
        problem, comm = run.problem, run.comm
        if (not problem.steady and run.summary.get("status") == "completed"
                and self.series is not None):
            run.summary.update(problem.analyse(self.series.arrays()))
        if self.path is None:
            return
        error = ""
        if comm.rank == 0:
            try:
                write_json_atomic(self.path, run.summary)
            except OutputFailed as exc:
                error = str(exc)
        error = comm.bcast(error, root=0)
        if error:
            if run.failure is None:
                raise OutputFailed(error)
            if comm.rank == 0:
                print(f"  warning: {error}", flush=True)

