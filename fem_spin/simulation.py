"""Runs into run directories: ``run``, ``resume`` and what the command line needs around them.

``run(config)`` checks the resource estimate, stages the run directory (io/rundir.py), sets
the first variant up, swaps the directory in, and runs every variant of the [sweep] through
the engine (engine.py) with the file outputs (io/outputs.py): CSV time series (rank 0),
fields (parallel VTX + VTK) at the output times, profiles, checkpoints, summary; then plots
and 3-D pictures. ``resume`` continues a stopped run from its verified checkpoints.
SIGTERM/SIGINT stop cleanly: files are closed and stay readable.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Callable

import numpy as np
from mpi4py import MPI

from fem_spin.config import ConfigError, RunConfig, dump_toml, naming_the_key, parse_config
from fem_spin.engine import (Engine, Interrupted, OutputFailed, Paused, Run, SetupInterrupted,
                             output_times, snapshot_times, stop_on_signals)
from fem_spin.io import RunDirectory, rank0_print
from fem_spin.io import outputs as out
from fem_spin.io.outputs import MemorySeries, write_json_atomic
from fem_spin.solvers import SimulationFailed

__all__ = ["run", "resume", "run_single", "run_steady", "snapshot_times", "output_times", "sample",
           "Interrupted", "SetupInterrupted", "Paused", "OutputFailed"]


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", label) or "run"


def _provenance(comm: MPI.Comm) -> dict:
    """summary.json's record of what made the run (fem_spin/provenance.py): version, commit,
    uncommitted changes, the stack; rank 0's, so every rank's summary says the same."""
    from fem_spin.provenance import provenance

    return comm.bcast(provenance() if comm.rank == 0 else None, root=0)


def _problem_class(config: RunConfig):
    return type(config.model).problem_class


def run_single(config: RunConfig, directory: Path, comm: MPI.Comm = MPI.COMM_WORLD,
               quiet: bool = False, label: str = "", problem=None, resume: bool = False,
               config_changes: list | None = None) -> dict:
    """Run one configuration into ``directory`` (which must exist) through the engine with
    the file outputs; returns the summary.

    With ``resume`` the run continues from ``directory/checkpoint`` (io/checkpoint.py, verified
    against its manifest first), on any number of ranks: the time series continues after the
    checkpoint's step, fields go to ``fields_rK.*`` (K = restart count; ``fields.pvd`` indexes
    all VTK snapshots). A completed run ends with a checkpoint too (unless
    ``output.checkpoint_interval`` is 0), so that ``fem-spin resume --t-end`` can extend it."""
    from fem_spin.io import checkpoint as ckpt

    cls = _problem_class(config)
    if cls.steady:
        return run_steady(config, directory, comm, quiet, label, problem, resume=resume)
    directory = Path(directory)
    state = None
    if resume:
        import time

        started = time.perf_counter()
        state = ckpt.read_checkpoint_state(directory, comm)
        problem = cls(config, comm, mesh_data=ckpt.read_checkpoint_mesh(directory, comm, state))
        problem.initialise()
        state["history"] = ckpt.load_checkpoint_functions(directory, problem, state)
        problem.setup_s = time.perf_counter() - started
    problem = problem or cls(config, comm).initialise()
    restarts = state["restarts"] + 1 if state else 0
    run_ = Run(config, problem, comm, label, resume_state=state)
    run_.summary.update(label=label, model=type(config.model).__name__, model_type=type(config.model).model_type, dofs=problem.num_dofs,
                        ranks=comm.size, status="running", restarts=restarts,
                        provenance=_provenance(comm))
    if config_changes:
        run_.summary["config_changes"] = config_changes
    series = MemorySeries(resume_from=directory / "timeseries.csv")
    outputs = [out.Progress(config.output.progress_interval, quiet), out.TimeSeries(directory),
               series, out.FieldSnapshots(directory, restarts), out.Profiles(directory),
               out.Checkpoints(directory, config.output.checkpoint_interval, restarts),
               out.Summary(directory, series)]
    engine = Engine(outputs)
    summary = engine.run_sampled(run_) if problem.sampled else engine.run_transient(run_)
    problem.write_extra_outputs(directory, run_.times)
    problem.destroy()
    return summary


def _finished_cases(directory: Path, columns: list[str], comm: MPI.Comm) -> tuple[list[dict], int]:
    """Rows of a stopped stationary run's results.csv (numbers as floats; up to the first
    incomplete or out-of-order row) and the number of field segments it wrote (fields.pvd,
    fields_r1.pvd, ...). Read on rank 0; an unreadable file counts as no finished case."""
    import csv

    rows, segments = [], 0
    if comm.rank == 0:
        table = directory / "results.csv"
        try:
            with open(table, newline="") as f:
                lines = list(csv.reader(f))
        except (OSError, UnicodeDecodeError, csv.Error):
            lines = []
        if lines and lines[0] == columns:
            for index, line in enumerate(lines[1:]):
                if len(line) != len(columns) or line[0] != str(index):
                    break    # a row cut short by a hard kill, or not ours: solve it again
                row = {}
                for name, text in zip(columns[1:], line[1:]):
                    try:
                        row[name] = float(text)
                    except ValueError:
                        row[name] = text
                rows.append(row)
        segments = int((directory / "fields.pvd").exists()) + len(list(directory.glob("fields_r*.pvd")))
    return comm.bcast((rows, segments), root=0)


def run_steady(config: RunConfig, directory: Path, comm: MPI.Comm = MPI.COMM_WORLD,
               quiet: bool = False, label: str = "", problem=None, resume: bool = False) -> dict:
    """Run a stationary model through the engine: every case it solves becomes a row of
    ``results.csv`` (rank 0, whole rows); cases that ask for it are written as field
    snapshots (parallel VTX + VTK, snapshot k = k-th written case); ``summary.json`` holds
    the model's summary.

    With ``resume`` a model that supports it (``resumable_cases``) takes the rows a stopped
    run finished as solved and continues with the next case; the fields of the new segment
    go to ``fields_rK.*`` and are indexed in ``fields.pvd`` with the earlier ones."""
    directory = Path(directory)
    problem = problem or _problem_class(config)(config, comm).initialise()
    columns = ["case", *problem.result_columns]
    finished, segments = _finished_cases(directory, columns, comm) if resume else ([], 0)
    if not problem.resumable_cases:
        finished = []
    restarts = max(segments, 1) if finished else 0
    run_ = Run(config, problem, comm, label)
    run_.summary.update(label=label, model=type(config.model).__name__, model_type=type(config.model).model_type, dofs=problem.num_dofs,
                        ranks=comm.size, status="running", restarts=restarts,
                        provenance=_provenance(comm))
    outputs = [out.Progress(quiet=quiet), out.ResultsTable(directory, len(finished)),
               out.FieldSnapshots(directory, restarts), out.Summary(directory)]
    summary = Engine(outputs).run_steady(run_, finished)
    problem.destroy()
    return summary


def sample(raw: dict, times, quantity: Callable, comm: MPI.Comm = MPI.COMM_WORLD) -> np.ndarray:
    """Run a configuration dict in memory and return ``quantity(problem)`` at ``times`` (e.g.
    ``lambda p: p.mean_polarization()``), for demos and tests that need the live problem.

    A thin wrapper over the loop of :func:`fem_spin.simulate` (the engine): the run's output
    times are ``times`` (plus t_end, as before), so the steps land on them, and one output
    object records ``quantity`` there. For observables use :func:`fem_spin.simulate`."""
    from fem_spin.engine import Output

    raw = {**raw, "output": {**raw.get("output", {}), "snapshot_times": [float(t) for t in times]}}
    config = parse_config(raw)
    problem = type(config.model).problem_class(config, comm).initialise()
    values = {}

    class Record(Output):
        def output_time(self, run: Run, t: float) -> None:
            values[t] = quantity(run.problem)

    run_ = Run(config, problem, comm)
    engine = Engine([Record()])
    try:
        engine.run_sampled(run_) if problem.sampled else engine.run_transient(run_)
    finally:
        problem.destroy()
    return np.array([values[float(t)] for t in times])


def _check_resources(config: RunConfig, force: bool, max_dofs, max_memory) -> None:
    from fem_spin.limits import check_resources

    check_resources(config, max_dofs=max_dofs, max_memory=max_memory, force=force)


def _run_variants(config: RunConfig, path: Path, variants, comm, quiet, request, first_problem=None,
                  resume_from: dict | None = None, config_changes=None) -> None:
    """Run (or resume) every variant into ``path``; then the comparison summary and pictures."""
    summaries = {}
    for index, (label, cfg) in enumerate(variants):
        directory = path / _slug(label) if label else path
        plan = (resume_from or {}).get(label, "run")
        if plan == "done":
            summaries[label] = json.loads((directory / "summary.json").read_text()) \
                if comm.rank == 0 else {}
            continue
        if comm.rank == 0:
            directory.mkdir(parents=True, exist_ok=True)
        comm.barrier()
        summaries[label] = run_single(cfg, directory, comm, quiet, label,
                                      problem=first_problem if index == 0 else None,
                                      resume=plan == "resume", config_changes=config_changes)
        _estimate_errors(cfg, directory, summaries[label], comm, quiet, label)
    if len(variants) > 1:
        error = ""
        if comm.rank == 0:
            try:
                write_json_atomic(path / "summary.json", summaries)
            except OutputFailed as exc:
                error = str(exc)
        error = comm.bcast(error, root=0)
        if error:
            raise OutputFailed(error)
    if comm.allreduce(request.signal_name is not None, op=MPI.LOR):
        raise Interrupted(f"stopped by {request.signal_name or 'a signal on another rank'} after "
                          f"the runs completed, before their plots")
    _post_process(config, path, variants, comm, quiet)


def run(config: RunConfig, comm: MPI.Comm = MPI.COMM_WORLD, overwrite: bool = False,
        output_dir: str | Path | None = None, quiet: bool = False, *, force: bool = False,
        max_dofs: float | None = None, max_memory: float | None = None) -> Path:
    """Run a configuration (and its sweep) into ``<output.directory>/<name>``; returns that path.

    Nothing is created before the resource estimate has passed (``fem_spin.limits``; ``force``
    skips the refusal) and the first variant has been set up (mesh, forms, solver) in a staged
    directory beside the final one (io/rundir.py): a configuration that fails there leaves no
    trace, and with ``overwrite`` the previous results stay untouched. Only a fem_spin run
    directory is ever replaced, and never one a running process holds. An error of the
    physics (:class:`~fem_spin.errors.ModelError`) becomes the ConfigError naming its key
    and the run file."""
    import tomllib

    from fem_spin.io.rundir import config_digest

    _check_resources(config, force, max_dofs, max_memory)
    source = Path(config.source)
    base_dir = source.resolve().parent if source.is_file() else Path.cwd()
    rundir = RunDirectory(output_dir or config.output.directory, config.name, comm, overwrite)
    rundir.check()
    text = dump_toml(config.raw)
    written = tomllib.loads(text)
    variants = config.variants()
    with naming_the_key(config.source), stop_on_signals() as request:
        request.immediate = True
        request.on_setup_stop = lambda: rundir.abort(any_rank=True)
        try:
            # base_dir: relative paths of the run file (a mesh file) resolve from there on resume
            rundir.stage({"config.toml": text}, config_sha256=config_digest(written), config=written,
                         command=" ".join(sys.argv), base_dir=str(base_dir))
            first = type(variants[0][1].model).problem_class(variants[0][1], comm).initialise()
            request.immediate = False
        except BaseException:
            request.immediate = False
            rundir.abort()
            raise
        rundir.commit()
        try:
            if not quiet:
                rank0_print(f"fem-spin: running '{config.name}' ({len(variants)} run(s)) -> "
                            f"{rundir.path}", comm=comm)
            _run_variants(config, rundir.path, variants, comm, quiet, request, first_problem=first)
        except (Interrupted, Paused, SimulationFailed, OutputFailed) as exc:
            exc.run_dir = rundir.path   # the command line names it in its one line
            raise
        finally:
            _record_inventory(rundir.path, comm)
            rundir.release()
    if not quiet:
        rank0_print(f"fem-spin: results in {rundir.path}", comm=comm)
    return rundir.path


def _record_inventory(path: Path, comm: MPI.Comm) -> None:
    """The files of the run directory, in its marker: what a later --overwrite may delete."""
    from fem_spin.io.rundir import inventory, update_marker

    if comm.rank == 0:
        try:
            update_marker(path, files=inventory(path))
        except OSError:
            pass   # a full disk: the marker keeps its previous inventory (or none)


def _resume_plan(config: RunConfig, path: Path, variants, comm) -> dict[str, str]:
    """Per variant: "done" (completed up to its t_end), "resume" (from its checkpoint, or from
    results.csv for a stationary model), or "run" (never started). Checkpoints to be read are
    verified here, before anything is changed (rank 0; the error is raised on every rank)."""
    from fem_spin.io import checkpoint as ckpt

    steady = type(config.model).problem_class.steady
    plan, error = {}, None
    if comm.rank == 0:
        for label, cfg in variants:
            directory = path / _slug(label) if label else path
            try:
                summary = json.loads((directory / "summary.json").read_text())
            except (OSError, ValueError):
                summary = {}
            completed = summary.get("status") == "completed"
            reached = steady or (completed and isinstance(summary.get("t_final"), (int, float))
                                 and summary["t_final"] >= cfg.time.t_end * (1 - 1e-12))
            if completed and reached:
                plan[label] = "done"
            elif steady:
                plan[label] = "resume"
            elif ckpt.has_checkpoint(directory) or (directory / ckpt.CHECKPOINT_DIR).exists():
                plan[label] = "resume"
                if not (directory / "timeseries.csv").exists():
                    print(f"fem-spin: warning: {directory / 'timeseries.csv'} is missing: the "
                          f"time series starts again at the checkpoint's step", file=sys.stderr,
                          flush=True)
                try:
                    ckpt.verify_checkpoint(directory)
                except ckpt.CheckpointError as exc:
                    error = exc
                    break
            elif completed:
                error = ConfigError("time.t_end", f"{directory} completed at t = "
                                    f"{summary.get('t_final')} s without a final checkpoint "
                                    f"(output.checkpoint_interval = 0): it cannot be extended")
                break
            elif summary or (directory / "timeseries.csv").exists():
                # it ran, but left no checkpoint (deleted, or killed before the first one):
                # starting again from t = 0 would overwrite what it wrote
                error = ckpt.CheckpointError(
                    f"{directory / ckpt.CHECKPOINT_DIR}: missing, so the run cannot be resumed; "
                    f"start it again with fem-spin run --overwrite")
                break
            else:
                plan[label] = "run"
    plan, error = comm.bcast((plan, error), root=0)
    if error is not None:
        raise error
    return plan


def resume(run_dir: str | Path, comm: MPI.Comm = MPI.COMM_WORLD, quiet: bool = False, *,
           t_end: float | None = None, allow_config_change: bool = False,
           force: bool = False) -> Path:
    """Continue a stopped run (SIGTERM, a failure, time.max_steps) from its checkpoints, on
    any number of ranks. Variants of a sweep that completed are kept, stopped ones resume
    from their verified checkpoint, ones that never started run from t = 0.

    Only a directory fem_spin made is resumed (its marker). config.toml must be the one the
    run started with (compared with the digest in the marker): an edited one is refused
    unless ``allow_config_change``, which is recorded in summary.json and the marker; the
    geometry can never change (the mesh comes from the checkpoint). ``t_end`` extends a run
    (also a completed one, from its final checkpoint), within the resource limits unless
    ``force``."""
    import tomllib

    from fem_spin.io.rundir import (MARKER, RunDirectoryExists, changed_keys, config_digest,
                                    locked, read_marker, update_marker)

    path = Path(run_dir)
    config_file = path / "config.toml"
    found = comm.bcast((path.is_dir(), config_file.is_file(), path.exists(),
                        read_marker(path) if path.is_dir() else None)
                       if comm.rank == 0 else None, root=0)
    if not found[0]:
        raise FileNotFoundError(f"{path}: not a directory" if found[2] else
                                f"{path}: no such run directory")
    if found[3] is None:
        raise RunDirectoryExists(f"{path}: not a fem_spin run directory (no valid {MARKER}); "
                                 f"fem-spin resume continues only runs it made")
    if not found[1]:
        raise FileNotFoundError(f"{path}: not a run directory (no config.toml)")
    with naming_the_key(str(config_file)), stop_on_signals() as request, locked(path, comm):
        text, marker = comm.bcast((config_file.read_text(errors="replace"), read_marker(path))
                                  if comm.rank == 0 else None, root=0)
        try:
            raw = tomllib.loads(text)
        except ValueError as exc:
            raise ConfigError("", f"not valid TOML: {exc}", file=str(config_file)) from None
        changes = []
        if "config_sha256" in marker and config_digest(raw) != marker["config_sha256"]:
            keys = changed_keys(marker.get("config", {}), raw) or ["(unknown keys)"]
            if not allow_config_change:
                raise ConfigError("", f"edited since the run started (changed: {', '.join(keys)}); "
                                  f"resuming would change the run midway. Restore it, or pass "
                                  f"--allow-config-change to resume with the edit (recorded in "
                                  f"summary.json); to run longer use --t-end T",
                                  file=str(config_file))
            mesh_keys = [k for k in keys if k.startswith(("geometry.", "geometry"))]
            if mesh_keys:
                raise ConfigError("", f"edited geometry ({', '.join(mesh_keys)}): a resumed run "
                                  f"keeps the mesh of its checkpoint, so the geometry cannot "
                                  f"change; start a new run instead", file=str(config_file))
            changes.append({"keys": keys, "how": "--allow-config-change"})
        if t_end is not None:
            section = raw.get("time")
            if not isinstance(section, dict) or "t_end" not in section:
                raise ConfigError("--t-end", f"the run in {path} has no time.t_end (a stationary "
                                  f"model): there is nothing to extend", file="command line")
            if not t_end > section["t_end"]:
                raise ConfigError("--t-end", f"must exceed the run's time.t_end = {section['t_end']} s "
                                  f"(got {t_end})", file="command line")
            changes.append({"keys": ["time.t_end"], "from": section["t_end"], "to": t_end,
                            "how": "--t-end"})
            section["t_end"] = t_end
        base_dir = Path(marker.get("base_dir") or path)
        config = parse_config(raw, source=str(config_file), base_dir=base_dir)
        if changes:
            _check_resources(config, force, None, None)
        variants = config.variants()
        plan = _resume_plan(config, path, variants, comm)
        if changes and comm.rank == 0:
            # the checkpoints are verified: now the run directory takes the new configuration
            new_text = dump_toml(raw)
            tmp = path / ".config.toml.tmp"
            tmp.write_text(new_text)
            tmp.replace(config_file)
            update_marker(path, config_sha256=config_digest(tomllib.loads(new_text)),
                          config=tomllib.loads(new_text),
                          changes=[*marker.get("changes", []), *changes])
        comm.barrier()
        if not quiet:
            todo = sum(v != "done" for v in plan.values())
            rank0_print(f"fem-spin: resuming {path} ({todo} of {len(variants)} run(s) to "
                        f"finish)", comm=comm)
        try:
            _run_variants(config, path, variants, comm, quiet, request, resume_from=plan,
                          config_changes=changes or None)
        except (Interrupted, Paused, SimulationFailed, OutputFailed) as exc:
            exc.run_dir = path
            raise
        finally:
            _record_inventory(path, comm)
    if not quiet:
        rank0_print(f"fem-spin: results in {path}", comm=comm)
    return path


def _estimate_errors(config: RunConfig, directory: Path, summary: dict, comm, quiet: bool,
                     label: str) -> None:
    """The headline numbers' discretisation errors (fem_spin/error_estimate.py) into the
    variant's summary.json and its last line, when [output] error_estimate asks for them."""
    from fem_spin import error_estimate

    wanted = comm.bcast(error_estimate.wanted(config, summary) if comm.rank == 0 else None, root=0)
    if not wanted:
        return
    if comm.rank == 0 and not quiet:
        print(f"  estimating the discretisation error{' of ' + label if label else ''} "
              f"(coarser meshes, looser tolerance; [output] error_estimate)", flush=True)
    table = error_estimate.estimate(config, summary, comm)
    if table is None:
        return
    error = ""
    if comm.rank == 0:
        summary["error_estimate"] = table
        try:
            write_json_atomic(directory / "summary.json", summary)
        except OutputFailed as exc:
            error = str(exc)
        if not quiet:
            for line in error_estimate.format_estimate(table):
                print(f"  {line}", flush=True)
    error = comm.bcast(error, root=0)
    if error:
        raise OutputFailed(error)


def _post_process(config, path: Path, variants, comm, quiet) -> None:
    """Plots and 3-D pictures, as registered for the model type in fem_spin/viz/registry.py."""
    from fem_spin.viz.registry import post_process

    dirs = {label or config.name: (path / _slug(label) if label else path) for label, _ in variants}
    post_process(config, path, dirs, comm, quiet)
