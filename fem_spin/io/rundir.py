"""One directory per run: configuration copy, time series, fields, plots."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from mpi4py import MPI

__all__ = ["RunDirectory", "RunDirectoryExists"]


class RunDirectoryExists(FileExistsError):
    """The run directory holds results and overwriting was not asked for."""


class RunDirectory:
    """``<parent>/<name>/``; never overwrites existing results unless ``overwrite``."""

    def __init__(self, parent: str | Path, name: str, comm: MPI.Comm = MPI.COMM_WORLD,
                 overwrite: bool = False):
        self.path = Path(parent) / name
        self.comm = comm
        error = None
        if comm.rank == 0:
            if self.path.exists() and any(self.path.iterdir()):
                if overwrite:
                    shutil.rmtree(self.path)
                else:
                    error = (f"{self.path} already holds results; choose another name or output "
                             f"directory, or pass --overwrite")
            if error is None:
                self.path.mkdir(parents=True, exist_ok=True)
        error = comm.bcast(error, root=0)
        if error:
            raise RunDirectoryExists(error)

    def file(self, name: str) -> Path:
        return self.path / name

    def write_text(self, name: str, text: str) -> None:
        if self.comm.rank == 0:
            (self.path / name).write_text(text)

    def write_json(self, name: str, data) -> None:
        self.write_text(name, json.dumps(data, indent=2, default=float) + "\n")
