"""fem_spin: finite-element simulation of spin magnetization transport.

Models (physics.md): nuclear spin diffusion with the hyperpolarization speed-up
(section 1). Geometries are built with gmsh, weak forms solved with dolfinx and
PETSc under MPI, fields drawn with pyvista.
"""

from fem_spin import contracts as _contracts

__version__ = "0.1.0"
__all__ = ["__version__", "simulate", "load", "Result", "fit"]


def __getattr__(name: str):
    # fem_spin.simulate / load / Result (api.py) are imported on first use, for the same reason
    if name in ("simulate", "load", "Result"):
        from fem_spin import api

        return getattr(api, name)
    if name == "fit":   # fem_spin.fit (fitting/driver.py), imported on first use too
        from fem_spin.fitting import driver

        return driver.fit
    raise AttributeError(f"module 'fem_spin' has no attribute {name!r}")

# The built-in models and geometries: their modules register them (contracts.py) when
# imported, which happens the first time a registry is asked. Not imported here: importing
# the package (for fem-spin --version, fem-spin-mpirun, the configuration layer) must not
# start MPI or load PETSc.
_contracts.declare_plugins("fem_spin.geometry", "fem_spin.models")
