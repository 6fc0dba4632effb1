"""Checkpoints of transient runs: resume a stopped run, also on another number of ranks.

A checkpoint is the directory ``RUN/checkpoint/`` with

* ``state.bp`` -- the mesh, its cell and facet tags and the problem's state functions,
  written in parallel with adios4dolfinx (ADIOS2), which reads them back N-to-M: a run
  written on 1 rank resumes on 2 (or 128) and vice versa;
* ``state.json`` -- time, step, proposed step size, counters, the model's own scalars
  (e.g. the number of DNP pulses), the probe profiles so far and the group names.

The time stepper's history (the controlled quantity at the last two accepted steps)
is stored as functions too, so the resumed run takes exactly the steps the
uninterrupted one would have taken and agrees with it to solver tolerance.

Writing is atomic: everything goes to ``checkpoint.partial/`` and replaces
``checkpoint/`` only once complete, so a run killed while checkpointing still has
its previous checkpoint.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from mpi4py import MPI

__all__ = ["CHECKPOINT_DIR", "write_checkpoint", "read_checkpoint_state", "read_checkpoint_mesh",
           "load_checkpoint_functions", "has_checkpoint"]

CHECKPOINT_DIR = "checkpoint"
_ENGINE = "BP4"


def has_checkpoint(run_dir: str | Path) -> bool:
    return (Path(run_dir) / CHECKPOINT_DIR / "state.json").exists()


def _history_function(problem, values: np.ndarray, name: str):
    """The controlled quantity (owned dofs of the state space) as a Function of that space."""
    import dolfinx.fem as fem

    V = problem.u.function_space
    f = fem.Function(V, name=name)
    n = len(values)
    if n != len(problem.owned(f.x.array)):
        raise ValueError(f"error_quantity() has {n} values, not the {len(problem.owned(f.x.array))} "
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
             "model_state": problem.checkpoint_state(),
             "mesh": {"cell_groups": md.cell_groups, "facet_groups": md.facet_groups,
                      "coordinate_system": md.coordinate_system,
                      "shells": {k: list(v) for k, v in md.shells.items()},
                      "has_facet_tags": md.facet_tags is not None},
             "ranks": comm.size, **extra}
    comm.barrier()
    if comm.rank == 0:
        (partial / "state.json").write_text(json.dumps(state, indent=1, default=float) + "\n")
        old = run_dir / f"{CHECKPOINT_DIR}.old"
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            final.rename(old)
        partial.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    comm.barrier()
    return final


def read_checkpoint_state(run_dir: str | Path) -> dict:
    return json.loads((Path(run_dir) / CHECKPOINT_DIR / "state.json").read_text())


def read_checkpoint_mesh(run_dir: str | Path, comm: MPI.Comm):
    """The checkpoint's mesh and tags as :class:`~fem_spin.geometry.MeshData`, partitioned
    over ``comm`` (any number of ranks)."""
    import adios4dolfinx

    from fem_spin.geometry import MeshData

    state = read_checkpoint_state(run_dir)
    filename = Path(run_dir) / CHECKPOINT_DIR / "state.bp"
    mesh = adios4dolfinx.read_mesh(filename, comm, engine=_ENGINE)
    cell_tags = adios4dolfinx.read_meshtags(filename, mesh, meshtag_name="cells", engine=_ENGINE)
    meta = state["mesh"]
    facet_tags = None
    if meta["has_facet_tags"]:
        mesh.topology.create_entities(mesh.topology.dim - 1)
        facet_tags = adios4dolfinx.read_meshtags(filename, mesh, meshtag_name="facets", engine=_ENGINE)
    return MeshData(mesh, cell_tags, facet_tags, meta["cell_groups"], meta["facet_groups"],
                    coordinate_system=meta["coordinate_system"],
                    shells={k: tuple(v) for k, v in meta["shells"].items()})


def load_checkpoint_functions(run_dir: str | Path, problem) -> list[tuple[float, np.ndarray]]:
    """Read the state functions into ``problem`` and return the stepper history."""
    import adios4dolfinx

    state = read_checkpoint_state(run_dir)
    filename = Path(run_dir) / CHECKPOINT_DIR / "state.bp"
    for name, function in problem.checkpoint_functions().items():
        adios4dolfinx.read_function(filename, function, engine=_ENGINE, name=name)
        function.x.scatter_forward()
    history = []
    for k, dt in enumerate(state["history_dt"]):
        f = _history_function(problem, problem.error_quantity(), f"history_{k}")
        adios4dolfinx.read_function(filename, f, engine=_ENGINE, name=f"history_{k}")
        history.append((dt, problem.owned(f.x.array).copy()))
    problem.restore_checkpoint_state(state["model_state"])
    return history
