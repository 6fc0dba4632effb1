"""fem_spin: finite-element simulation of spin magnetization transport.

Models (physics.md): nuclear spin diffusion with the hyperpolarization speed-up
(section 1). Geometries are built with gmsh, weak forms solved with dolfinx and
PETSc under MPI, fields drawn with pyvista.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
