"""gmsh geometry builders (physics.md section 5). Importing registers them with the config."""

from fem_spin.geometry.base import GmshGeometry, MeshData, mesh_from_builder, read_msh, read_xdmf, write_msh, write_xdmf
from fem_spin.geometry.box import BoxGeometry, build_box
from fem_spin.geometry.crystal import CrystalGeometry
from fem_spin.geometry.dnp_cell import DNPCubeGeometry, DNPRadialGeometry, DNPSphereGeometry
from fem_spin.geometry.msh_file import MshFileGeometry
from fem_spin.geometry.mrfm import MRFMFilmGeometry
from fem_spin.geometry.simple import IntervalGeometry, RectangleGeometry
from fem_spin.geometry.smr_bar import SMRBarGeometry
from fem_spin.geometry.spin_valve import LateralSpinValveGeometry, MultilayerGeometry
from fem_spin.geometry.spin_hall_devices import SpinAbsorptionValveGeometry, SpinHallNonlocalGeometry

__all__ = ["GmshGeometry", "MeshData", "mesh_from_builder", "read_msh", "write_msh", "read_xdmf", "write_xdmf", "BoxGeometry", "build_box",
           "MshFileGeometry", "DNPCubeGeometry", "DNPSphereGeometry", "DNPRadialGeometry",
           "LateralSpinValveGeometry", "MultilayerGeometry", "IntervalGeometry", "RectangleGeometry",
           "MRFMFilmGeometry", "SMRBarGeometry", "SpinAbsorptionValveGeometry", "SpinHallNonlocalGeometry",
           "create_mesh"]


def create_mesh(geometry, comm=None, msh_path=None) -> MeshData:
    """Build (or read) the mesh a [geometry] section describes, distributed over ``comm``."""
    from mpi4py import MPI

    data = geometry.create_mesh(comm or MPI.COMM_WORLD, msh_path)
    shells = geometry.exact_shells()
    if shells:
        data.shells = shells
    return data
