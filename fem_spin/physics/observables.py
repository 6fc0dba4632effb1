r"""Observables declared once, reused by every model.

* :class:`LumpedStatistics`: volume mean, min, max and total of a nodal field with the lumped
  (vertex-rule) masses the models conserve: :math:`\int u\,dV \approx \sum_i m_i u_i`;
* :class:`RegionMean`: mean of an expression over a region (a nodal indicator and/or cell
  groups), with its volume; :class:`LumpedRegionMean` the same for a nodal field and a nodal
  indicator on the vertex rule, as a dot product (no assembly per call);
* :func:`integrate`: a compiled scalar form summed over the ranks (``scifem.assemble_scalar``);
* :func:`band_weights`: the weights int_band density phi_i of the band lower <= f <= upper of
  a P1 field f (a resonant slice), for means over it;
* :class:`FacetFlux`: the flux of a vector expression through a facet group;
* :class:`PointValue` and :func:`axis_probe`: values at a point and along a line
  (:class:`fem_spin.io.probes.LineProbe`).

Everything here is collective: call it on every rank of the mesh's communicator.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from mpi4py import MPI

from fem_spin.io.probes import LineProbe

__all__ = ["integrate", "global_sum", "global_any", "global_min", "global_max", "LumpedStatistics",
           "RegionMean", "LumpedRegionMean", "band_weights", "FacetFlux", "PointValue", "LineProbe",
           "axis_probe"]

#: Gauss degree, per mesh dimension above 1, of :func:`band_weights`: the band's boundary cuts
#: cells, where the rule places it only to about half the spacing of its points
BAND_QUADRATURE_DEGREE = {2: 10, 3: 6}


def integrate(form) -> float:
    """The value of a scalar form (UFL or compiled once with ``dolfinx.fem.form``), summed over
    the ranks of its mesh."""
    import scifem

    return float(scifem.assemble_scalar(form))


def global_sum(comm: MPI.Comm, value: float) -> float:
    # one rank: no reduction (mpi4py's object allreduce costs ~3 us, and this runs several
    # times per Newton iteration in the global speed-up)
    return value if comm.size == 1 else comm.allreduce(value, op=MPI.SUM)


def global_any(comm: MPI.Comm, flag: bool) -> bool:
    """True on every rank when ``flag`` is true on any."""
    return bool(flag) if comm.size == 1 else bool(comm.allreduce(bool(flag), op=MPI.LOR))


def global_min(comm: MPI.Comm, a: np.ndarray) -> float:
    """min over every rank's entries (+inf for none)."""
    return comm.allreduce(float(a.min()) if a.size else np.inf, op=MPI.MIN)


def global_max(comm: MPI.Comm, a: np.ndarray) -> float:
    """max over every rank's entries (-inf for none)."""
    return comm.allreduce(float(a.max()) if a.size else -np.inf, op=MPI.MAX)


class LumpedStatistics:
    """Volume statistics of nodal fields with the owned lumped masses m_i
    (:func:`fem_spin.physics.terms.lumped_masses`): total sum_i m_i u_i, mean = total/sum m_i,
    min and max over the nodes. With a density in the masses (m_i = int Delta phi_i) the
    mean is density weighted."""

    def __init__(self, comm: MPI.Comm, masses: np.ndarray):
        self.comm = comm
        self.masses = masses
        #: sum of the masses over every rank (the volume, or the number of spins)
        self.volume = global_sum(comm, float(masses.sum()))

    def total(self, values: np.ndarray) -> float:
        """sum_i m_i u_i over every rank (``values``: owned nodal values)."""
        return global_sum(self.comm, float(np.dot(self.masses, values)))

    def mean(self, values: np.ndarray) -> float:
        return self.total(values) / self.volume

    def min(self, values: np.ndarray) -> float:
        return global_min(self.comm, values)

    def max(self, values: np.ndarray) -> float:
        return global_max(self.comm, values)

    def statistics(self, values: np.ndarray, name: str = "P") -> dict[str, float]:
        """{name_mean, name_min, name_max}."""
        return {f"{name}_mean": self.mean(values), f"{name}_min": self.min(values),
                f"{name}_max": self.max(values)}


class RegionMean:
    """(1/V_R) int_R u weight dx over the region R given by a nodal ``indicator`` (or None)
    and the measure ``dx`` (restricted to cell groups as ``dx(tag)`` if wanted); forms
    compiled once. NaN over an empty region."""

    def __init__(self, integrand, dx, weight=1.0, indicator=None):
        import dolfinx.fem as fem

        chi = 1.0 if indicator is None else indicator
        self._integral = fem.form(chi * integrand * weight * dx)
        self.volume = integrate(fem.form(chi * weight * dx))

    def integral(self) -> float:
        """int_R u weight dx."""
        return integrate(self._integral)

    def __call__(self) -> float:
        return self.integral() / self.volume if self.volume > 0 else math.nan


class LumpedRegionMean:
    """:class:`RegionMean` of a nodal field u over the region of a P1 ``indicator`` chi with the
    vertex rule and the lumped masses m_i of ``statistics``: int chi u omega dx_l is exactly
    sum_i m_i chi_i u_i (the vertex rule evaluates the integrand at the nodes), so it is a
    dot product over the owned nodes instead of an assembly over every cell per call (on the
    24k-DOF default cube the two assemblies per step took as long as the linear solves).
    The indicator is read at each call (models may rescale it in place)."""

    def __init__(self, statistics: LumpedStatistics, indicator, n_owned: int):
        self.statistics, self.indicator, self.n_owned = statistics, indicator, n_owned
        self.volume = statistics.total(self._chi())

    def _chi(self) -> np.ndarray:
        return self.indicator.x.array[: self.n_owned]

    def integral(self, values: np.ndarray) -> float:
        """int_R u omega dx_l for the owned nodal values of u."""
        return self.statistics.total(self._chi() * values)

    def __call__(self, values: np.ndarray) -> float:
        return self.integral(values) / self.volume if self.volume > 0 else math.nan


def band_weights(field, density, lower: float, upper: float) -> np.ndarray:
    """The owned weights w_i = int_{lower <= f <= upper} density phi_i dx of the P1 space of
    ``field`` (f, a P1 Function) with a DG0 ``density``: sum_i w_i u_i is the integral of a P1
    field u over the band, and sum_i w_i u_i / sum_i w_i its density-weighted mean. A node
    on the band's edge counts with the part of its hat function inside (a 0/1 nodal indicator
    would move the edges by up to a cell: an O(h) error of the mean).

    Exact on intervals (f is linear on each cell, the band an interval of its local
    coordinate); on triangles and tetrahedra by a Gauss rule of BAND_QUADRATURE_DEGREE, which
    places the cut to a fraction of h. Collective."""
    import dolfinx.fem as fem
    import dolfinx.la
    import ufl

    V = field.function_space
    mesh = V.mesh
    weights = fem.Function(V)
    if mesh.topology.dim == 1:
        cells = mesh.topology.index_map(1).size_local
        dofs = V.dofmap.list[:cells]
        x = V.tabulate_dof_coordinates()
        length = np.linalg.norm(x[dofs[:, 1]] - x[dofs[:, 0]], axis=1)
        rho = density.x.array[density.function_space.dofmap.list[:cells, 0]]
        f0, f1 = field.x.array[dofs[:, 0]], field.x.array[dofs[:, 1]]
        slope = f1 - f0
        flat = slope == 0
        safe = np.where(flat, 1.0, slope)
        # f = f0 + slope t on the cell, t in [0, 1]: the band is t between ta and tb
        ta, tb = (lower - f0) / safe, (upper - f0) / safe
        lo = np.clip(np.minimum(ta, tb), 0.0, 1.0)
        hi = np.clip(np.maximum(ta, tb), 0.0, 1.0)
        inside_flat = (lower <= f0) & (f0 <= upper)
        lo = np.where(flat, 0.0, lo)
        hi = np.where(flat, np.where(inside_flat, 1.0, 0.0), hi)
        scale = length * rho
        second = (hi ** 2 - lo ** 2) / 2          # int t dt over the band's part of the cell
        np.add.at(weights.x.array, dofs[:, 0], scale * ((hi - lo) - second))   # phi = 1 - t
        np.add.at(weights.x.array, dofs[:, 1], scale * second)                 # phi = t
        weights.x.scatter_reverse(dolfinx.la.InsertMode.add)
        return weights.x.array[: V.dofmap.index_map.size_local].copy()
    inside = ufl.conditional(ufl.And(ufl.ge(field, lower), ufl.le(field, upper)), 1.0, 0.0)
    dx = ufl.Measure("dx", domain=mesh, metadata={"quadrature_degree": BAND_QUADRATURE_DEGREE[mesh.topology.dim]})
    vector = fem.assemble_vector(fem.form(inside * density * ufl.TestFunction(V) * dx))
    vector.scatter_reverse(dolfinx.la.InsertMode.add)
    return vector.array[: V.dofmap.index_map.size_local].copy()


class FacetFlux:
    """int_{Gamma} flux . n ds over the facets tagged ``tags`` (all exterior facets without):
    the flow of a vector expression out of the sample through a surface."""

    def __init__(self, flux, ds, tags: Sequence[int] | None = None):
        import dolfinx.fem as fem
        import ufl

        n = ufl.FacetNormal(ds.ufl_domain() or ufl.domain.extract_unique_domain(flux))
        integrand = ufl.dot(flux, n)
        if tags is None:
            form = integrand * ds
        else:
            form = sum((integrand * ds(t) for t in tags[1:]), integrand * ds(tags[0]))
        self._form = fem.form(form)

    def __call__(self) -> float:
        return integrate(self._form)


class PointValue:
    """The value of a Function at one point (the same on every rank; NaN outside the mesh)."""

    def __init__(self, mesh, point: Sequence[float]):
        self.probe = LineProbe(mesh, point, point, 1)

    def __call__(self, function) -> float:
        return float(self.probe.evaluate(function)[0])


def axis_probe(mesh, function, axis: int = 0, points: int = 201) -> tuple[LineProbe, Any]:
    """(LineProbe along ``axis`` through the centre of the mesh's bounding box, function): the
    ``profile_probe`` of a model (profiles.csv)."""
    from fem_spin.geometry.base import bounding_box

    lo, hi = bounding_box(mesh)
    mid = 0.5 * (lo + hi)
    start, end = mid.copy(), mid.copy()
    start[axis], end[axis] = lo[axis], hi[axis]
    return LineProbe(mesh, start, end, points), function
