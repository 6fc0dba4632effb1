"""Parallel field output: VTX (ADIOS2 .bp, for ParaView at scale) and VTK XML (.pvd with
one .pvtu piece per rank, read by ParaView and by ``fem-spin render``). Every rank writes
its own part; nothing is gathered."""

from __future__ import annotations

from pathlib import Path

__all__ = ["FieldWriter"]


class FieldWriter:
    def __init__(self, comm, directory: str | Path, functions: list, formats=("vtx", "vtk"),
                 basename: str = "fields"):
        import dolfinx.io

        self.writers = []
        directory = Path(directory)
        if "vtx" in formats and dolfinx.has_adios2:
            self.writers.append(dolfinx.io.VTXWriter(comm, directory / f"{basename}.bp", functions,
                                                     engine="BP4"))
        if "vtk" in formats:
            self._vtk = dolfinx.io.VTKFile(comm, directory / f"{basename}.pvd", "w")
            self._functions = functions
            self.writers.append(self._vtk)

    def write(self, t: float) -> None:
        for w in self.writers:
            if w is getattr(self, "_vtk", None):
                w.write_function(self._functions, t)
            else:
                w.write(t)

    def close(self) -> None:
        for w in self.writers:
            w.close()
        self.writers = []
