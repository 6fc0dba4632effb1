"""Progress lines on long runs (rank 0 only), throttled to one per interval of wall time."""

from __future__ import annotations

import sys
import time

from mpi4py import MPI

__all__ = ["Progress", "rank0_print"]


def rank0_print(*args, comm: MPI.Comm = MPI.COMM_WORLD, **kwargs) -> None:
    if comm.rank == 0:
        print(*args, **kwargs, flush=True)


class Progress:
    def __init__(self, t_end: float, interval: float = 2.0, comm: MPI.Comm = MPI.COMM_WORLD,
                 label: str = "", stream=None):
        self.t_end, self.interval, self.comm, self.label = t_end, interval, comm, label
        self.stream = stream or sys.stdout
        self.start = self._last = time.perf_counter()

    def update(self, info, force: bool = False) -> None:
        now = time.perf_counter()
        if self.comm.rank != 0 or (not force and now - self._last < self.interval):
            return
        self._last = now
        pct = 100.0 * info.t / self.t_end
        tag = f"[{self.label}] " if self.label else ""
        print(f"  {tag}t = {info.t:.4e} s ({pct:5.1f} %)  dt = {info.dt:.3e} s  step {info.step}  "
              f"Newton {info.newton_iterations}  rejected {info.rejected}  "
              f"wall {now - self.start:.1f} s", file=self.stream, flush=True)
