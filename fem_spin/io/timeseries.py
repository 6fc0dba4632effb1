"""CSV time series of scalar observables; rank 0 writes, every row is flushed at once
so that an interrupted run leaves a readable file."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from mpi4py import MPI

__all__ = ["TimeSeriesWriter", "read_timeseries"]


class TimeSeriesWriter:
    """Rows of ``columns``; with ``continue_after_step`` an existing file is kept up to that
    step (rows a stopped run wrote after its checkpoint are dropped) and appended to."""

    def __init__(self, path: str | Path, columns: list[str], comm: MPI.Comm = MPI.COMM_WORLD,
                 continue_after_step: int | None = None):
        self.columns = list(columns)
        self.comm = comm
        self._file = None
        if comm.rank == 0:
            kept = []
            if continue_after_step is not None and Path(path).exists():
                with open(path, newline="") as f:
                    rows = list(csv.reader(f))
                if rows and rows[0] == self.columns:
                    kept = [r for r in rows[1:] if r and int(float(r[0])) <= continue_after_step]
            self._file = open(path, "w", newline="")
            self._writer = csv.writer(self._file)
            self._writer.writerow(self.columns)
            self._writer.writerows(kept)
            self._file.flush()

    def write(self, row: dict) -> None:
        if self._file is None:
            return
        self._writer.writerow([repr(float(row[c])) if isinstance(row[c], (float, np.floating))
                               else row[c] for c in self.columns])
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_timeseries(path: str | Path) -> dict[str, np.ndarray]:
    """Columns of a time-series CSV as float arrays."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, data = rows[0], np.array(rows[1:], dtype=float).reshape(-1, len(rows[0]))
    return {name: data[:, i] for i, name in enumerate(header)}
