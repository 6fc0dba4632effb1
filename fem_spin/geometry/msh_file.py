"""A mesh written beforehand: a gmsh .msh with physical groups (read on rank 0, then
partitioned), or an XDMF file written by ``fem-spin mesh ... -o NAME.xdmf`` (read in
parallel, each rank its part: the route for meshes too large for one rank)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from fem_spin.config import ConfigError, param, register_geometry
from fem_spin.contracts import Geometry

__all__ = ["MshFileGeometry"]


@register_geometry("file")
@dataclasses.dataclass(frozen=True)
class MshFileGeometry(Geometry):
    """[geometry] type = "file": read ``path`` (relative to the configuration file)."""

    path: str = param(doc="gmsh .msh file with physical groups, or .xdmf from fem-spin mesh")

    def resolve(self, base_dir: Path) -> "MshFileGeometry":
        """The section with ``path`` absolute (relative paths from the run file's directory),
        checked to be a mesh file."""
        p = Path(self.path)
        if not p.is_absolute():
            p = (Path(base_dir) / p)
        try:
            found = p.is_file()
        except OSError as exc:  # e.g. a file name too long
            raise ConfigError("geometry.path", f"cannot read the mesh file ({exc.strerror})") from None
        if not found:
            if p.is_dir():
                raise ConfigError("geometry.path", f"{p} is a directory, not a mesh file")
            raise ConfigError("geometry.path", f"mesh file not found: {p}")
        if p.suffix not in (".msh", ".xdmf"):
            raise ConfigError("geometry.path", f"expected a gmsh .msh or an .xdmf file (got {p.name})")
        return dataclasses.replace(self, path=str(p))

    def estimate_mesh(self):
        """Cells and vertices from the file's header (fem_spin.limits), None if unreadable."""
        from fem_spin.limits import MeshEstimate, mesh_file_counts

        counts = mesh_file_counts(self.path)
        return MeshEstimate(counts[0], counts[1], "geometry.path") if counts is not None else None

    def create_mesh(self, comm, msh_path=None):
        from fem_spin.geometry.base import read_msh, read_xdmf

        if self.path.endswith(".xdmf"):
            return read_xdmf(self.path, comm)
        return read_msh(self.path, comm)
