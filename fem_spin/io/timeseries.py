"""CSV time series of scalar observables; rank 0 writes, every row is written whole and at
once, so that an interrupted run (or a full disk) leaves a readable file."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np
from mpi4py import MPI

__all__ = ["TimeSeriesWriter", "read_timeseries"]


class TimeSeriesWriter:
    """Rows of ``columns``; with ``continue_after_step`` an existing file is kept up to that
    step (rows a stopped run wrote after its checkpoint are dropped) and appended to.

    Every row goes to the file in one write and is on disk when :meth:`write` returns; a
    write that fails (a full disk) is cut back to the previous row before the error is
    raised, so the file never ends in half a row."""

    def __init__(self, path: str | Path, columns: list[str], comm: MPI.Comm = MPI.COMM_WORLD,
                 continue_after_step: int | None = None):
        self.columns = list(columns)
        self.comm = comm
        self.path = Path(path)
        self._fd: int | None = None
        if comm.rank == 0:
            kept = []
            if continue_after_step is not None and self.path.exists():
                with open(self.path, newline="") as f:
                    rows = list(csv.reader(f))
                if rows and rows[0] == self.columns:
                    kept = [r for r in rows[1:] if r and int(float(r[0])) <= continue_after_step]
            text = "".join(_line(r) for r in [self.columns, *kept])
            tmp = self.path.with_name(f".{self.path.name}.tmp")
            try:
                tmp.write_text(text, newline="")
                tmp.replace(self.path)   # a resumed run's kept rows are never half-rewritten
            except OSError:
                tmp.unlink(missing_ok=True)
                raise
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)

    def write(self, row: dict) -> None:
        if self._fd is None:
            return
        line = _line([repr(float(row[c])) if isinstance(row[c], (float, np.floating))
                      else row[c] for c in self.columns]).encode()
        offset = os.lseek(self._fd, 0, os.SEEK_END)
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as exc:
            try:
                os.ftruncate(self._fd, offset)   # needs no space: drop the partial row
            except OSError:
                pass
            raise OSError(exc.errno, exc.strerror, str(self.path)) from None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _line(values) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue()


def read_timeseries(path: str | Path) -> dict[str, np.ndarray]:
    """Columns of a time-series CSV as float arrays."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, data = rows[0], np.array(rows[1:], dtype=float).reshape(-1, len(rows[0]))
    return {name: data[:, i] for i, name in enumerate(header)}
