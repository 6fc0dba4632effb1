"""Parallel field output: VTX (ADIOS2 .bp, for ParaView at scale) and VTK XML (.pvd with
one .pvtu piece per rank, read by ParaView and by ``fem-spin render``). Every rank writes
its own part; nothing is gathered."""

from __future__ import annotations

from pathlib import Path

__all__ = ["FieldWriter"]

#: writers whose close failed (see FieldWriter.close)
_UNCLOSED: list = []


class FieldWriter:
    """VTX ``<basename>.bp`` and VTK ``<basename>.pvd``. A resumed run writes a new
    basename and, with ``merge_into``, its VTK snapshots are added to that index (the
    older entries after ``keep_until`` -- written after the checkpoint -- are dropped)."""

    def __init__(self, comm, directory: str | Path, functions: list, formats=("vtx", "vtk"),
                 basename: str = "fields", merge_into: str | None = None, keep_until: float | None = None):
        import dolfinx.io

        self.writers = []
        self._vtk = None   # the VTK writer, when "vtk" is among the formats
        directory = Path(directory)
        self.comm, self.directory, self.basename = comm, directory, basename
        self.merge_into, self.keep_until = merge_into, keep_until
        if "vtx" in formats and dolfinx.has_adios2:
            self.writers.append(dolfinx.io.VTXWriter(comm, directory / f"{basename}.bp", functions,
                                                     engine="BP4"))
        if "vtk" in formats:
            self._vtk = dolfinx.io.VTKFile(comm, directory / f"{basename}.pvd", "w")
            self._functions = functions
            self.writers.append(self._vtk)

    def write(self, t: float) -> None:
        for w in self.writers:
            if w is self._vtk:
                w.write_function(self._functions, t)
            else:
                w.write(t)

    def close(self) -> None:
        failed = []
        for w in self.writers:
            try:
                w.close()
            except Exception as exc:  # noqa: BLE001 - ADIOS2 on a full disk; reported below
                failed.append(exc)
                # keep it alive: its destructor would try to close again and abort the
                # process (an exception in a C++ destructor); the command line then leaves
                # with os._exit after its one-line message
                _UNCLOSED.append(w)
        # Drop the writer objects now: dolfinx's VTKFile writes its .pvd again when it is
        # destroyed, and a late destruction (an exception's traceback keeps this object alive)
        # would overwrite the index merged after a restart.
        self.writers = []
        self._vtk = None
        self._functions = None
        if failed:
            raise OSError(28, f"cannot close the field files ({failed[0]})",
                          str(self.directory / self.basename))
        if self.merge_into:
            # every rank has closed its writers (the collection file is complete) before
            # rank 0 merges it, and nobody reads the index before the merge is done
            self.comm.barrier()
            if self.comm.rank == 0:
                merge_pvd(self.directory / self.merge_into, self.directory / f"{self.basename}.pvd",
                          self.keep_until)
            self.merge_into = None
            self.comm.barrier()


def merge_pvd(main: Path, extra: Path, keep_until: float | None) -> None:
    """Append the DataSets of the VTK collection ``extra`` to ``main`` (rank 0), dropping
    entries of ``main`` with a time after ``keep_until``."""
    import xml.etree.ElementTree as ET

    if not extra.exists():
        return
    if not main.exists():
        main.write_text(extra.read_text())
        return
    tree = ET.parse(main)
    collection = tree.getroot().find("Collection")
    for ds in list(collection):
        if keep_until is not None and float(ds.get("timestep")) > keep_until * (1 + 1e-12):
            collection.remove(ds)
    for ds in ET.parse(extra).getroot().find("Collection"):
        collection.append(ds)
    tree.write(main)
