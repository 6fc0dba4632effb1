"""Progress of long runs on rank 0: a live rich progress bar in a terminal, plain lines
(throttled to one per interval of wall time) everywhere else.

The bar shows the simulated time against t_end, the step size, the step's Newton
iterations and rich's ETA (from the rate of simulated time over the
last 30 s of wall time; adaptive steps grow, so early on it errs long). Plain lines are
used when stdout is not a terminal (a pipe, a log file, a notebook) or the ``CI``
environment variable is set, so logs hold whole lines and no terminal codes; their format
is unchanged (tests and users grep them). ``-q`` prints neither.
"""

from __future__ import annotations

import os
import sys
import time

from mpi4py import MPI

__all__ = ["Progress", "ProgressBar", "make_progress", "interactive", "rank0_print"]


def rank0_print(*args, comm: MPI.Comm = MPI.COMM_WORLD, **kwargs) -> None:
    if comm.rank == 0:
        print(*args, **kwargs, flush=True)


def interactive(stream=None) -> bool:
    """Whether a live progress bar may be drawn on ``stream`` (default stdout): a terminal,
    and not a CI job (``CI`` set to anything but "" / "0" / "false")."""
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        return False
    stream = stream or sys.stdout
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):   # no isatty, or a closed stream
        return False


class Progress:
    """Plain progress lines, at most one per ``interval`` seconds of wall time (rank 0)."""

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

    def close(self) -> None:
        """Nothing to take down (the bar's counterpart)."""


class ProgressBar:
    """A live rich progress bar (rank 0; other ranks hold an inert one). ``close()`` leaves
    the final state of the bar on the screen."""

    def __init__(self, t_end: float, comm: MPI.Comm = MPI.COMM_WORLD, label: str = "",
                 console=None, start_t: float = 0.0):
        self.bar = None
        if comm.rank != 0:
            return
        from rich.progress import (BarColumn, Progress as RichProgress, TaskProgressColumn,
                                   TextColumn, TimeRemainingColumn)

        # fits an 80-column terminal: the simulated time is the progress, the ETA what a
        # user waits for; step counts and wall times are in the plain lines and summary
        self.bar = RichProgress(
            TextColumn("  {task.description}"), BarColumn(bar_width=16), TaskProgressColumn(),
            TextColumn("t {task.fields[t]:.3e} s  dt {task.fields[dt]:.1e} s  "
                       "Newton {task.fields[newton]}"),
            TextColumn("ETA"), TimeRemainingColumn(compact=True),
            console=console, transient=False, refresh_per_second=4)
        self.task = self.bar.add_task(label or "run", total=t_end, completed=start_t, t=start_t,
                                      dt=0.0, step=0, newton=0)
        self.bar.start()

    def update(self, info, force: bool = False) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=info.t, t=info.t, dt=info.dt, step=info.step,
                            newton=info.newton_iterations)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def make_progress(t_end: float, interval: float = 2.0, comm: MPI.Comm = MPI.COMM_WORLD,
                  label: str = "", start_t: float = 0.0) -> Progress | ProgressBar:
    """A bar in a terminal, plain lines elsewhere (module docstring); decided on rank 0."""
    bar = comm.bcast(interactive() if comm.rank == 0 else None, root=0)
    if bar:
        return ProgressBar(t_end, comm, label, start_t=start_t)
    return Progress(t_end, interval, comm, label)
