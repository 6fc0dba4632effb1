r"""DNP polarization sources and paramagnetic relaxation of the unit cell (physics.md 1.2, 1.1).

Source laws, acting on the nuclei of the source region (the cell groups named by
``source_regions``, by default ``"source"``: the sphere r < r_s around the electron):

* ``continuous`` (CW microwaves):  :math:`S = k_x (P_e - P)`
* ``pulsed`` (pulsed microwaves, triplet DNP): at :math:`t_k = k/f_\mathrm{rep}`,
  k = 0, 1, 2, ..., instantly :math:`P \leftarrow P + p_x (P_e - P)`, transport and
  relaxation in between;
* ``cycle_averaged``: the continuous law with :math:`k_x = f_\mathrm{rep}\, p_x`, the limit
  of the pulsed law for :math:`f_\mathrm{rep}\to\infty` at fixed :math:`f_\mathrm{rep} p_x`.

Discretisation. Capacity, relaxation and source use the same lumped nodal masses
:math:`m_i = \int \omega\, \phi_i`, so a node's share of the source region is the
fraction :math:`\theta_i = \int_\mathrm{source} \omega \phi_i / \int \omega \phi_i`.
Where the geometry knows the true shape of the source (the spherical shell b < r < r_s
of the dnp_* cells, ``MeshData.shells``), the numerator integrates that exact indicator
with a high-degree quadrature rather than the cells gmsh tagged: the polyhedron inscribed
in the sphere misses a volume fraction of about (h/r_s)^2/4 (6 % at h = r_s/2), which
otherwise is the leading error of coarse cells.
The continuous source adds :math:`m_i \theta_i k_x (P_e - P_i)` and a pulse sets
:math:`P_i \leftarrow P_i + p_x \theta_i (P_e - P_i)`: one nodal law for both, which
is what makes the pulsed run converge to the cycle-averaged one. Both keep P between
its old value and P_e, so :math:`|P| < 1` survives every pulse.

Paramagnetic relaxation enhancement: :math:`R_1(r) = R_{1,\mathrm{bulk}} + C / \max(r, r_c)^6`,
with r the distance to the electron (in the periodic cube, summed over the electron and
its 26 nearest images) and :math:`r_c` the cutoff radius (by default the barrier radius,
or the source radius without barrier).
"""

from __future__ import annotations

import numpy as np

from fem_spin.errors import ModelError
from fem_spin.physics import terms

__all__ = ["SourceTerm", "nodal_fraction", "relaxation_rate_function", "shell_indicator"]


#: quadrature degree for integrals of a discontinuous indicator (125 points per tetrahedron)
INDICATOR_QUADRATURE_DEGREE = 8


def shell_indicator(mesh, shells: list[tuple[float, float]]):
    """UFL 1 inside any of the shells a <= r < b around the origin, else 0."""
    import ufl

    x = ufl.SpatialCoordinate(mesh)
    r2 = ufl.dot(x, x)
    inside = [ufl.conditional(ufl.And(ufl.ge(r2, a * a), ufl.lt(r2, b * b)), 1.0, 0.0) for a, b in shells]
    return sum(inside[1:], inside[0])


def nodal_fraction(V, weight, dx, numerator_tags: list[int], shells: list[tuple[float, float]] | None = None):
    """P1 Function theta_i = int_{tags} w phi_i / int w phi_i (0 where the denominator is 0);
    with ``shells`` the numerator integrates the exact shells instead of the tagged cells."""
    import dolfinx.fem as fem
    import dolfinx.la
    import ufl

    v = ufl.TestFunction(V)
    if shells:
        # both integrals exact, so that sum_i theta_i m_i is the true source volume
        dx_fine = ufl.Measure("dx", domain=V.mesh,
                              metadata={"quadrature_degree": INDICATOR_QUADRATURE_DEGREE})
        whole = fem.assemble_vector(fem.form(weight * v * dx_fine))
        part = fem.assemble_vector(fem.form(shell_indicator(V.mesh, shells) * weight * v * dx_fine))
    else:
        whole = fem.assemble_vector(fem.form(weight * v * dx))
        part = fem.assemble_vector(fem.form(sum(weight * v * dx(tag) for tag in numerator_tags)))
    for vec in (whole, part):
        vec.scatter_reverse(dolfinx.la.InsertMode.add)
        vec.scatter_forward()
    theta = fem.Function(V, name="source_fraction")
    positive = whole.array > 0
    theta.x.array[:] = np.clip(np.where(positive, part.array / np.where(positive, whole.array, 1.0),
                                        0.0), 0.0, 1.0)
    return theta


def relaxation_rate_function(V, R1_bulk: float, pre_coefficient: float, cutoff_radius: float,
                             electrons: np.ndarray):
    """R1(x) = R1_bulk + C sum_e 1/max(|x - x_e|, r_c)^6 as a P1 Function (1/s)."""
    import dolfinx.fem as fem

    def rate(x):
        out = np.full(x.shape[1], R1_bulk, dtype=float)
        if pre_coefficient > 0:
            for e in electrons:
                r = np.sqrt(np.sum((x - np.reshape(e, (3, 1))) ** 2, axis=0))
                out += pre_coefficient / np.maximum(r, cutoff_radius) ** 6
        return out

    R1 = fem.Function(V, name="relaxation_rate")
    R1.interpolate(rate)
    return R1


class SourceTerm:
    """The DNP source of a nuclear-diffusion problem (see the module docstring)."""

    def __init__(self, params, mesh_data, V, weight, dx):
        self.kind = params.source
        self.P_e = params.source_polarization
        self.p_x = params.exchange_probability
        self.f_rep = params.repetition_rate
        self.k_x = params.exchange_rate
        self.pulses = 0
        self.before_pulse: np.ndarray | None = None
        if self.kind == "none":
            self.theta = None
            return
        tags = []
        for name in params.source_regions:
            if name not in mesh_data.cell_groups:
                raise ModelError(f"the mesh has no cell group {name!r} (groups: "
                                 f"{', '.join(sorted(mesh_data.cell_groups))}); use a dnp_* geometry "
                                 f"or name a group of your mesh", key="model.source_regions")
            tags.append(mesh_data.cell_groups[name])
        shells = ([mesh_data.shells[name] for name in params.source_regions]
                  if all(name in mesh_data.shells for name in params.source_regions) else None)
        self.theta = nodal_fraction(V, weight, dx, tags, shells)

    def continuous_rate(self) -> float | None:
        """The rate of the continuous law (k_x, or f_rep p_x cycle-averaged), else None."""
        if self.kind == "continuous":
            return self.k_x
        if self.kind == "cycle_averaged":
            return self.f_rep * self.p_x
        return None

    def residual_term(self, P, v, weight_nodal, dx_lumped, mesh):
        """-S v (lumped) for the backward-Euler residual per unit dt, or None without one: the
        shared exchange source (:func:`fem_spin.physics.terms.exchange_source`) towards P_e
        with the nodal source fraction theta as its indicator."""
        import dolfinx.fem as fem

        rate = self.continuous_rate()
        if rate is None:
            return None
        return terms.exchange_source(fem.Constant(mesh, rate), self.theta, fem.Constant(mesh, self.P_e),
                                     P, v, weight_nodal, dx_lumped)

    # ---------------------------------------------------------------- pulses
    # Pulse k is due at k/f_rep; ``pulses`` (checkpointed) counts those applied, so pulse k
    # is applied once even when a stop lands within the time tolerance on either side of it.
    def next_pulse_time(self, t: float) -> float | None:
        if self.kind != "pulsed":
            return None
        period = 1.0 / self.f_rep
        k = max(np.floor(t / period * (1 + 1e-12)) + 1, self.pulses)
        return float(k * period)

    def is_pulse_time(self, t: float) -> bool:
        """A pulse not yet applied is due at t (within 1e-9 of a period)."""
        if self.kind != "pulsed":
            return False
        period = 1.0 / self.f_rep
        k = round(t / period)
        return abs(t - k * period) <= 1e-9 * period and k >= self.pulses

    def apply_pulse(self, w: np.ndarray) -> None:
        """P <- P + p_x theta (P_e - P) on the nodal spin temperatures w = artanh(P), in place."""
        P = np.tanh(w)
        # kept for the forward sensitivities: the pulse's derivative is taken at the state
        # before it (nuclear_diffusion's TangentLinear.jump)
        self.before_pulse = P.copy()
        P += self.p_x * self.theta.x.array * (self.P_e - P)
        w[:] = np.arctanh(P)
        self.pulses += 1
