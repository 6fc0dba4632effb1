r"""Weak-form terms shared by the transient models, and the measures they are written in.

A backward-Euler residual for an unknown u with test function v, coordinate weight
:math:`\omega` (1, or :math:`4\pi r^2` on the 1-D radial cell) and its nodal values
:math:`\omega_h`, reads with these builders

.. code-block:: python

    F = capacity(u, u_n, v, omega_h, dx_l)                      # int (u - u_n) omega_h v (lumped)
    F += dt * diffusion(flux, v, omega, dx_q)                   # int flux . grad v omega
    F += dt * relaxation(rate, u, u_eq, v, omega_h, dx_l)       # int R (u - u_eq) omega_h v
    F += dt * exchange_source(k, indicator, u_s, u, v, omega_h, dx_l)   # -int k chi (u_s - u) ...

Capacity, relaxation and sources use the vertex rule (:func:`lumped_measure`, mass lumping):
every node's share is its lumped mass :math:`m_i = \int \omega \phi_i`
(:func:`lumped_masses`), so the discrete total :math:`\sum_i m_i u_i` is conserved exactly
by the flux term (the test function v = 1 annihilates it) and no undershoot appears at
steep fronts. A flux is a UFL vector: :func:`diffusive_flux` builds
:math:`c\,D\nabla u` from a scalar or tensor D (:func:`diffusion_tensor`) and an optional
speed-up factor c.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from fem_spin.errors import ModelError

__all__ = ["lumped_measure", "quadrature_measure", "coordinate_weight", "lumped_masses",
           "diffusion_tensor", "diffusive_flux", "cell_group_function", "capacity", "diffusion",
           "relaxation", "exchange_source", "constant_source"]


# ------------------------------------------------------------------ measures and weights
def lumped_measure(mesh, subdomain_data=None):
    """dx with the vertex rule: lumped capacity, relaxation and sources (exact discrete
    conservation, no undershoot of a consistent mass matrix at steep fronts)."""
    import ufl

    return ufl.Measure("dx", domain=mesh, subdomain_data=subdomain_data,
                       metadata={"quadrature_rule": "vertex", "quadrature_degree": 1})


def quadrature_measure(mesh, degree: int, subdomain_data=None):
    """dx with a Gauss rule of ``degree`` (flux terms)."""
    import ufl

    return ufl.Measure("dx", domain=mesh, subdomain_data=subdomain_data,
                       metadata={"quadrature_degree": degree})


def coordinate_weight(V, coordinate_system: str = "cartesian"):
    """(omega, omega_h): the coordinate weight of every integral, exact (UFL) and as a nodal
    Function. omega = 1 (Cartesian) or 4 pi r^2 (``spherical_radial``: the 1-D radial cell).

    The lumped terms use the nodal omega_i = int omega phi_i / int phi_i, so that the lumped
    mass of node i is exactly int omega phi_i (the vertex rule would integrate r^2 badly
    near r = 0)."""
    import dolfinx.fem as fem
    import dolfinx.la
    import ufl

    mesh = V.mesh
    weight_nodal = fem.Function(V, name="coordinate_weight")
    if coordinate_system == "cartesian":
        weight_nodal.x.array[:] = 1.0
        return fem.Constant(mesh, 1.0), weight_nodal
    if coordinate_system != "spherical_radial":
        raise ValueError(f"unknown coordinate system {coordinate_system!r}")
    r = ufl.SpatialCoordinate(mesh)[0]
    weight = 4 * np.pi * r * r
    v = ufl.TestFunction(V)
    exact = fem.assemble_vector(fem.form(weight * v * ufl.dx(metadata={"quadrature_degree": 4})))
    plain = fem.assemble_vector(fem.form(v * ufl.dx))
    for vec in (exact, plain):
        vec.scatter_reverse(dolfinx.la.InsertMode.add)
        vec.scatter_forward()
    weight_nodal.x.array[:] = exact.array / plain.array
    return weight, weight_nodal


def lumped_masses(V, weight, dx_lumped) -> np.ndarray:
    """The owned lumped nodal masses m_i = int weight phi_i (vertex rule) of the scalar P1
    space V: the discrete integral of a nodal field u is sum_i m_i u_i."""
    import dolfinx.fem as fem
    import dolfinx.la
    import ufl

    masses = fem.assemble_vector(fem.form(weight * ufl.TestFunction(V) * dx_lumped))
    masses.scatter_reverse(dolfinx.la.InsertMode.add)
    return masses.array[: V.dofmap.index_map.size_local].copy()


def diffusion_tensor(mesh, D):
    """A scalar D as D * Identity(gdim), a tensor as a Constant (its leading gdim x gdim
    block on meshes of lower dimension)."""
    import dolfinx.fem as fem
    import ufl

    gdim = mesh.geometry.dim
    D = np.asarray(D, dtype=float)
    if D.ndim == 0:
        return fem.Constant(mesh, float(D)) * ufl.Identity(gdim)
    if D.shape[0] != gdim:
        D = D[:gdim, :gdim].copy()
    return fem.Constant(mesh, D)


def diffusive_flux(D, gradient, factor=None):
    """D grad u (``gradient`` = grad u), times a scalar speed-up ``factor`` when given: the
    flux with the minus sign left out (the residual adds +inner(flux, grad v))."""
    import ufl

    flux = ufl.dot(D, gradient)
    return flux if factor is None else factor * flux


def cell_group_function(mesh, mesh_data, values: dict[str, float], default: float,
                        name: str, key: str = "") -> Any:
    """A DG0 Function equal to ``values[group]`` on the cells of each named cell group and
    ``default`` elsewhere (piecewise-constant coefficients: spin density per region, the
    diffusion factor of a barrier). An unknown group raises a ModelError naming ``key``, the
    configuration key that gives ``values``."""
    import dolfinx.fem as fem

    Q = fem.functionspace(mesh, ("DG", 0))
    f = fem.Function(Q, name=name)
    f.x.array[:] = default
    for group, value in values.items():
        if group not in mesh_data.cell_groups:
            raise ModelError(f"no cell group {group!r} in the mesh for {name} (have "
                             f"{', '.join(sorted(mesh_data.cell_groups)) or 'none'})", key=key or None)
        cells = mesh_data.cell_tags.find(mesh_data.cell_groups[group])
        f.x.array[Q.dofmap.list[cells].ravel()] = value
    f.x.scatter_forward()
    return f


# ------------------------------------------------------------------ residual terms
def capacity(u, u_n, v, weight, dx_lumped):
    """int (u - u_n) weight v: the time derivative times dt (lumped with the vertex rule)."""
    return (u - u_n) * weight * v * dx_lumped


def diffusion(flux, v, weight, dx):
    """int flux . grad v weight: -div(flux) weakly, with no-flux (natural) boundaries."""
    import ufl

    return ufl.inner(flux, ufl.grad(v)) * weight * dx


def relaxation(rate, u, u_eq, v, weight, dx_lumped):
    """int rate (u - u_eq) weight v: relaxation towards the equilibrium u_eq (lumped)."""
    return rate * (u - u_eq) * weight * v * dx_lumped


def exchange_source(rate, indicator, target, u, v, weight, dx_lumped):
    """-int rate chi (target - u) weight v: a source that drives u towards ``target`` where
    the indicator chi (a nodal fraction, region indicator or 1) is non-zero. It keeps u
    between its old value and the target (bound preserving). ``dx_lumped`` may be
    restricted to cell groups (``dx_l(tag)``)."""
    return -rate * indicator * (target - u) * weight * v * dx_lumped


def constant_source(strength, v, weight, dx_lumped, tags: Iterable[int] | None = None):
    """-int S weight v over the cell groups ``tags`` (all cells without): an injection of
    ``strength`` per unit time."""
    if tags is None:
        return -strength * weight * v * dx_lumped
    tags = list(tags)
    return sum((-strength * weight * v * dx_lumped(tag) for tag in tags[1:]),
               -strength * weight * v * dx_lumped(tags[0]))
