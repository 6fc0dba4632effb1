"""The forward runs of one fit spread over MPI rank groups (issue 21, "Parallel").

``mpirun -n N fem-spin fit FIT.toml --ranks-per-model R`` splits the fit's communicator
(COMM_WORLD) into N/R groups of R consecutive ranks; every forward model runs on one group's
communicator (R = 1: serial models, one per rank; R > 1 for 3-D models). The forward runs
that do not depend on each other -- the datasets of one evaluation of the residuals, the
finite-difference columns of a Jacobian (with the datasets of each), the two sides of every
profile likelihood -- are tasks: :meth:`RankGroups.run` hands them to the groups by a
deterministic :func:`schedule`, each group runs its own, and one ``allgather`` of the small
results (a dataset's observation basis, a profile side's points) gives every rank all of
them, in task order. Every rank then holds the same residuals and Jacobian, so scipy's
``least_squares`` (deterministic, one BLAS thread) takes the same steps on every rank; only
the fit communicator's rank 0 prints and writes.

Why the results are the serial fit's: a task's result depends on the task and on the size of
the group that ran it (a forward model on R ranks), never on which group ran it, when, or
what else that group ran (the objective's cache only saves runs, it never changes a value).
With R = 1 every forward run is the serial run, so the fit is the serial fit bit for bit
(tests/unit/test_fitting_parallel.py, with an analytic forward model). With R > 1 the runs
differ from serial ones within the solvers' tolerances (a 1-D system is solved directly on one
rank and by a Krylov method on several: solvers/newton.py), and so do the fitted values
(tests/system/test_fit_parallel.py: 1e-8).

An error in a task (a forward run that fails) is raised on every rank: the one of the
lowest task index, which is the one a serial fit raises (each group runs its tasks in
index order and stops at its first failure, so every task below the lowest failure ran).
"""

from __future__ import annotations

import dataclasses
import pickle
import time
from typing import Any, Callable, Sequence

from fem_spin.config import ConfigError

__all__ = ["RankGroups", "rank_groups", "schedule", "check_ranks_per_model"]

#: split communicators by (parent handle, parent size, rank, ranks per model); never freed:
#: meshes are cached per communicator handle (api._MESHES), and a freed handle reused by a
#: later communicator would find a mesh distributed over another one
_SPLITS: dict[tuple[int, int, int, int], Any] = {}
#: how often a rank that finished its tasks looks whether the others have (s)
WAIT_POLL_S = 5e-4


def check_ranks_per_model(value, ranks: int, key: str, file: str) -> int:
    """``value`` as the ranks per forward model on a communicator of ``ranks`` ranks, or a
    ConfigError naming ``key`` (``--ranks-per-model``, ``fit.ranks_per_model``) in ``file``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(key, f"must be a positive integer (got {value!r})", file=file)
    if ranks % value:
        raise ConfigError(key, f"must divide the number of MPI ranks, {ranks} (got {value})", file=file)
    return value


def schedule(costs: Sequence[float], groups: int) -> list[int]:
    """The group of each task: the costliest first, each to the group with the least cost so
    far (ties: the lower task index first, the lower group index). Deterministic: every rank
    computes the same schedule from the same costs."""
    load = [0.0] * groups
    owner = [0] * len(costs)
    for i in sorted(range(len(costs)), key=lambda i: (-float(costs[i]), i)):
        g = min(range(groups), key=lambda g: (load[g], g))
        owner[i] = g
        load[g] += float(costs[i])
    return owner


def _wait_for_all(comm) -> None:
    """Return once every rank of ``comm`` got here, sleeping meanwhile: a rank waiting in a
    blocking collective busy-polls (Open MPI), and on a shared machine it takes the core a
    rank still running its forward models needs."""
    request = comm.Ibarrier()
    while not request.Test():
        time.sleep(WAIT_POLL_S)


def _portable(exc: BaseException) -> BaseException:
    """``exc`` as it can travel through an allgather (pickled); its text if it cannot."""
    try:
        return pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - any exception that does not pickle: keep its text
        return RuntimeError(f"{type(exc).__name__}: {exc}")


@dataclasses.dataclass(frozen=True)
class RankGroups:
    """The fit's communicator ``comm`` cut into groups of ``ranks_per_model`` consecutive
    ranks; ``model`` is this rank's group (its forward models run on it)."""

    comm: Any
    model: Any
    ranks_per_model: int

    @property
    def count(self) -> int:
        return self.comm.size // self.ranks_per_model

    @property
    def index(self) -> int:
        """This rank's group."""
        return self.comm.rank // self.ranks_per_model

    @property
    def is_root(self) -> bool:
        """Whether this rank prints and writes for the fit."""
        return self.comm.rank == 0

    def local(self) -> "RankGroups":
        """This rank's group alone (for a task a group runs by itself: its forward runs are not
        spread further)."""
        return RankGroups(self.model, self.model, self.model.size)

    def run(self, work: Callable[[Any], Any], tasks: Sequence[Any],
            costs: Sequence[float] | None = None) -> list:
        """``[work(t) for t in tasks]`` with every task run by one group (``costs``: relative
        cost of each, for the schedule) and every result on every rank of ``comm``. Must be
        called by every rank of ``comm`` with the same tasks."""
        if not tasks:
            return []
        if self.count == 1:   # one group: every rank runs every task, nothing to gather
            return [work(t) for t in tasks]
        owner = schedule(costs if costs is not None else [1.0] * len(tasks), self.count)
        mine: dict[int, tuple[bool, Any]] = {}
        for i, task in enumerate(tasks):   # in index order: see the module docstring on errors
            if owner[i] != self.index:
                continue
            try:
                mine[i] = (True, work(task))
            except Exception as exc:  # noqa: BLE001 - raised below on every rank
                mine[i] = (False, exc)
                break
        # the group's ranks computed the same results: its root speaks for it
        sent = {i: (ok, value if ok else _portable(value)) for i, (ok, value) in mine.items()} \
            if self.model.rank == 0 else {}
        gathered: dict[int, tuple[bool, Any]] = {}
        _wait_for_all(self.comm)
        for part in self.comm.allgather(sent):
            gathered.update(part)
        failures = sorted(i for i, (ok, _) in gathered.items() if not ok)
        if failures:
            first = failures[0]
            own = mine.get(first)
            raise own[1] if own is not None and not own[0] else gathered[first][1]
        return [gathered[i][1] for i in range(len(tasks))]


def rank_groups(comm=None, ranks_per_model: int | None = None) -> RankGroups:
    """The groups of ``ranks_per_model`` ranks (default: all of ``comm``, one group: the
    forward models run on the whole communicator, as a plain ``fem_spin.simulate`` does) of
    ``comm`` (default COMM_WORLD). ``ranks_per_model`` must divide ``comm.size``
    (:func:`check_ranks_per_model` says so with the key that set it)."""
    from mpi4py import MPI

    comm = comm if comm is not None else MPI.COMM_WORLD
    rpm = comm.size if ranks_per_model is None else ranks_per_model
    if rpm < 1 or comm.size % rpm:
        raise ValueError(f"ranks_per_model = {rpm} does not divide the {comm.size} ranks")
    if rpm == comm.size:
        model = comm
    elif rpm == 1:
        model = MPI.COMM_SELF
    else:
        key = (comm.py2f(), comm.size, comm.rank, rpm)
        model = _SPLITS.get(key)
        if model is None:
            model = _SPLITS[key] = comm.Split(color=comm.rank // rpm, key=comm.rank)
    return RankGroups(comm, model, rpm)
