"""Checkpoints of transient runs: resume a stopped run, also on another number of ranks.

A checkpoint is the directory ``RUN/checkpoint/`` with

* ``state.bp`` -- the mesh, its cell and facet tags and the problem's state functions,
  written in parallel with adios4dolfinx (ADIOS2), which reads them back N-to-M: a run
  written on 1 rank resumes on 2 (or 128) and vice versa;
* ``state.json`` -- time, step, proposed step size, counters, the model's own scalars
  (e.g. the number of DNP pulses), the probe profiles so far and the group names.

The time stepper's history (the capacity quantity at the last accepted steps)
is stored as functions too, so the resumed run takes exactly the steps the
uninterrupted one would have taken and agrees with it to solver tolerance.

* ``manifest.json`` -- the size and SHA-256 of every other file, written last.

Writing is atomic: everything goes to ``checkpoint.partial/`` and replaces
``checkpoint/`` only once complete, so a run killed while checkpointing still has
its previous checkpoint. Reading verifies the manifest first (rank 0, before ADIOS2 opens
anything): a truncated, flipped or missing file is a one-line :class:`CheckpointError`
naming the file, never a hang in the reader or a silently different answer. The reading
itself runs under a watchdog (:func:`read_deadline`) that ends the process with one line
if it does not finish in time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import threading
from pathlib import Path

import numpy as np
from mpi4py import MPI

__all__ = ["CHECKPOINT_DIR", "MANIFEST", "CheckpointError", "file_sha256", "write_checkpoint", "verify_checkpoint",
           "read_checkpoint_state", "read_checkpoint_mesh", "load_checkpoint_functions",
           "has_checkpoint", "read_deadline", "checkpoint_size"]

CHECKPOINT_DIR = "checkpoint"
MANIFEST = "manifest.json"
_ENGINE = "BP4"
#: seconds allowed for reading a checkpoint, plus this many per MB of it
READ_TIMEOUT_S, READ_TIMEOUT_S_PER_MB = 120.0, 1.0


class CheckpointError(RuntimeError):
    """A checkpoint is missing, incomplete or corrupt; ``str()`` is the one-line message."""


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes (hex), read in 1 MB blocks (checkpoints, the mesh cache)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST)


def _write_manifest(directory: Path) -> None:
    entries = {str(p.relative_to(directory)): {"size": p.stat().st_size, "sha256": file_sha256(p)}
               for p in _files(directory)}
    text = json.dumps({"files": entries}, indent=1) + "\n"
    with open(directory / MANIFEST, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def verify_checkpoint(run_dir: str | Path) -> dict:
    """Check every file of ``run_dir/checkpoint`` against its manifest (call on one rank);
    returns the parsed state.json. Raises :class:`CheckpointError` naming the first file
    that is missing, of the wrong size or of the wrong checksum."""
    directory = Path(run_dir) / CHECKPOINT_DIR
    manifest_file = directory / MANIFEST
    try:
        manifest = json.loads(manifest_file.read_text())
        entries = manifest["files"]
        if not isinstance(entries, dict) or "state.json" not in entries:
            raise ValueError("no entry for state.json")
    except FileNotFoundError:
        raise CheckpointError(f"{manifest_file}: missing, so the checkpoint cannot be verified "
                              f"(incomplete or damaged checkpoint)") from None
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise CheckpointError(f"{manifest_file}: unreadable ({exc.__class__.__name__}); the "
                              f"checkpoint cannot be verified") from None
    for name, entry in sorted(entries.items()):
        path = directory / str(name)
        if not isinstance(entry, dict) or not isinstance(entry.get("size"), int) \
                or not isinstance(entry.get("sha256"), str) or ".." in Path(str(name)).parts:
            raise CheckpointError(f"{manifest_file}: malformed entry for {name}: the checkpoint "
                                  f"cannot be verified")
        try:
            size = path.stat().st_size
        except OSError:
            raise CheckpointError(f"{path}: missing from the checkpoint") from None
        if size != entry.get("size"):
            raise CheckpointError(f"{path}: {size} bytes, the checkpoint wrote {entry.get('size')}: "
                                  f"the checkpoint is damaged")
        if file_sha256(path) != entry.get("sha256"):
            raise CheckpointError(f"{path}: checksum differs from the one written: the checkpoint "
                                  f"is damaged")
    try:
        state = json.loads((directory / "state.json").read_text())
        for key in ("t", "step", "dt", "history_dt", "model_state", "mesh"):
            state[key]
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{directory / 'state.json'}: not a fem_spin checkpoint state "
                              f"({exc.__class__.__name__}: {exc})") from None
    return state


def checkpoint_size(run_dir: str | Path) -> int:
    return sum(p.stat().st_size for p in _files(Path(run_dir) / CHECKPOINT_DIR))


@contextlib.contextmanager
def read_deadline(seconds: float, what: str):
    """End the process with one line (exit 3) if the block has not finished in ``seconds``:
    a reader stuck in C code cannot be interrupted otherwise. Every rank runs its own
    watchdog, so no rank waits forever for another."""
    done = threading.Event()

    def watchdog():
        if not done.wait(seconds):
            sys.stderr.write(f"fem-spin: error: {what}: not read within {seconds:.0f} s; the "
                             f"checkpoint is damaged or the file system hangs\n")
            sys.stderr.flush()
            os._exit(3)

    thread = threading.Thread(target=watchdog, daemon=True, name="checkpoint-read-deadline")
    thread.start()
    try:
        yield
    finally:
        done.set()


def has_checkpoint(run_dir: str | Path) -> bool:
    return (Path(run_dir) / CHECKPOINT_DIR / "state.json").exists()


def _history_function(problem, values: np.ndarray, name: str):
    """The controlled quantity (owned dofs of the state space) as a Function of that space."""
    import dolfinx.fem as fem

    V = problem.u.function_space
    f = fem.Function(V, name=name)
    n = len(values)
    if n != len(problem.owned(f.x.array)):
        raise ValueError(f"capacity_values() has {n} values, not the {len(problem.owned(f.x.array))} "
                         f"owned dofs of the state space: it cannot be checkpointed")
    f.x.array[:n] = values
    f.x.scatter_forward()
    return f


def write_checkpoint(run_dir: str | Path, problem, stepper, extra: dict) -> Path:
    """Write the state of ``problem`` at the stepper's last accepted step (collective)."""
    import adios4dolfinx

    comm: MPI.Comm = problem.comm
    run_dir = Path(run_dir)
    partial, final = run_dir / f"{CHECKPOINT_DIR}.partial", run_dir / CHECKPOINT_DIR
    if comm.rank == 0:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
    comm.barrier()
    filename = partial / "state.bp"
    md = problem.mesh_data
    adios4dolfinx.write_mesh(filename, problem.mesh, engine=_ENGINE)
    adios4dolfinx.write_meshtags(filename, problem.mesh, md.cell_tags, engine=_ENGINE, meshtag_name="cells")
    if md.facet_tags is not None:
        adios4dolfinx.write_meshtags(filename, problem.mesh, md.facet_tags, engine=_ENGINE,
                                     meshtag_name="facets")
    for name, function in problem.checkpoint_functions().items():
        adios4dolfinx.write_function(filename, function, engine=_ENGINE, name=name)
    history = stepper.history_for_checkpoint()
    for k, (_, q) in enumerate(history):
        adios4dolfinx.write_function(filename, _history_function(problem, q, f"history_{k}"),
                                     engine=_ENGINE, name=f"history_{k}")
    state = {"t": stepper.t, "step": stepper.step, "dt": stepper.dt,
             "history_dt": [dt for dt, _ in history],
             "scheme_state": stepper.scheme_state(),
             "model_state": problem.checkpoint_state(),
             "mesh": {"cell_groups": md.cell_groups, "facet_groups": md.facet_groups,
                      "coordinate_system": md.coordinate_system,
                      "shells": {k: list(v) for k, v in md.shells.items()},
                      "has_facet_tags": md.facet_tags is not None},
             "ranks": comm.size, **extra}
    comm.barrier()
    if comm.rank == 0:
        (partial / "state.json").write_text(json.dumps(state, indent=1, default=float) + "\n")
        _write_manifest(partial)
        old = run_dir / f"{CHECKPOINT_DIR}.old"
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            final.rename(old)
        partial.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    comm.barrier()
    return final


def read_checkpoint_state(run_dir: str | Path, comm: MPI.Comm = MPI.COMM_WORLD) -> dict:
    """The verified state.json of ``run_dir``'s checkpoint (collective: rank 0 verifies every
    file against the manifest, every rank raises the same :class:`CheckpointError`)."""
    result = None
    if comm.rank == 0:
        try:
            result = verify_checkpoint(run_dir)
        except CheckpointError as exc:
            result = exc
    result = comm.bcast(result, root=0)
    if isinstance(result, CheckpointError):
        raise result
    return result


def _deadline(run_dir, comm) -> float:
    size = comm.bcast(checkpoint_size(run_dir) if comm.rank == 0 else None, root=0)
    return READ_TIMEOUT_S + READ_TIMEOUT_S_PER_MB * size / 1e6


def read_checkpoint_mesh(run_dir: str | Path, comm: MPI.Comm, state: dict | None = None):
    """The checkpoint's mesh and tags as :class:`~fem_spin.geometry.MeshData`, partitioned
    over ``comm`` (any number of ranks)."""
    import adios4dolfinx

    from fem_spin.geometry import MeshData

    state = state if state is not None else read_checkpoint_state(run_dir, comm)
    filename = Path(run_dir) / CHECKPOINT_DIR / "state.bp"
    with read_deadline(_deadline(run_dir, comm), str(filename)):
        mesh = adios4dolfinx.read_mesh(filename, comm, engine=_ENGINE)
        cell_tags = adios4dolfinx.read_meshtags(filename, mesh, meshtag_name="cells", engine=_ENGINE)
        meta = state["mesh"]
        facet_tags = None
        if meta["has_facet_tags"]:
            mesh.topology.create_entities(mesh.topology.dim - 1)
            facet_tags = adios4dolfinx.read_meshtags(filename, mesh, meshtag_name="facets",
                                                     engine=_ENGINE)
    return MeshData(mesh, cell_tags, facet_tags, meta["cell_groups"], meta["facet_groups"],
                    coordinate_system=meta["coordinate_system"],
                    shells={k: tuple(v) for k, v in meta["shells"].items()})


def load_checkpoint_functions(run_dir: str | Path, problem,
                              state: dict | None = None) -> list[tuple[float, np.ndarray]]:
    """Read the state functions into ``problem`` and return the stepper history."""
    import adios4dolfinx

    state = state if state is not None else read_checkpoint_state(run_dir, problem.comm)
    filename = Path(run_dir) / CHECKPOINT_DIR / "state.bp"
    history = []
    with read_deadline(_deadline(run_dir, problem.comm), str(filename)):
        for name, function in problem.checkpoint_functions().items():
            adios4dolfinx.read_function(filename, function, engine=_ENGINE, name=name)
            function.x.scatter_forward()
        for k, dt in enumerate(state["history_dt"]):
            f = _history_function(problem, problem.capacity_values(), f"history_{k}")
            adios4dolfinx.read_function(filename, f, engine=_ENGINE, name=f"history_{k}")
            history.append((dt, problem.owned(f.x.array).copy()))
    problem.restore_checkpoint_state(state["model_state"])
    return history
