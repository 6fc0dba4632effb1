"""gmsh geometry builders (physics.md section 5). Importing registers them with the config."""

from fem_spin.geometry.base import MeshData, mesh_from_builder, read_msh, read_xdmf, write_msh, write_xdmf
from fem_spin.geometry.box import BoxGeometry, build_box
from fem_spin.geometry.crystal import CrystalGeometry
from fem_spin.geometry.dnp_cell import DNPCubeGeometry, DNPRadialGeometry, DNPSphereGeometry
from fem_spin.geometry.msh_file import MshFileGeometry
from fem_spin.geometry.mrfm import MRFMFilmGeometry
from fem_spin.geometry.simple import IntervalGeometry, RectangleGeometry
from fem_spin.geometry.spin_valve import LateralSpinValveGeometry, MultilayerGeometry

__all__ = ["MeshData", "mesh_from_builder", "read_msh", "write_msh", "read_xdmf", "write_xdmf", "BoxGeometry", "build_box",
           "MshFileGeometry", "DNPCubeGeometry", "DNPSphereGeometry", "DNPRadialGeometry",
           "LateralSpinValveGeometry", "MultilayerGeometry", "IntervalGeometry", "RectangleGeometry",
           "MRFMFilmGeometry", "create_mesh"]


def create_mesh(geometry, comm=None, msh_path=None) -> MeshData:
    """Build (or read) the mesh a [geometry] section describes, distributed over ``comm``."""
    from mpi4py import MPI

    comm = comm or MPI.COMM_WORLD
    if isinstance(geometry, MshFileGeometry):
        if geometry.path.endswith(".xdmf"):
            return read_xdmf(geometry.path, comm)
        return read_msh(geometry.path, comm)
    if hasattr(geometry, "create_mesh"):  # not a gmsh geometry (e.g. the 1-D radial cell)
        data = geometry.create_mesh(comm, msh_path)
    else:
        data = mesh_from_builder(geometry.builder(), geometry, comm, msh_path=msh_path)
    if hasattr(geometry, "exact_shells"):
        data.shells = geometry.exact_shells()
    return data
