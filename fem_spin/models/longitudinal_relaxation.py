r"""Longitudinal magnetization with diffusion and T1 relaxation (Bloch--Torrey, z component).

The worked example of ``docs/adding_a_model.md``: a whole model built from
:mod:`fem_spin.physics` (terms, regions, observables) in one module.

Unknown: the longitudinal magnetization :math:`M(x, t)` (P1), in the units of ``M0``
(e.g. normalised to the thermal equilibrium, M0 = 1). Equation (Torrey 1956, the z
component of the Bloch equations with diffusion):

.. math::

    \frac{\partial M}{\partial t} = \nabla\cdot(D\nabla M) - \frac{M - M_0}{T_1}
        + k\,\chi_S(x)\,(M_S - M),

no-flux boundaries; D (m^2/s) scalar or tensor, T1 (s; none: no relaxation), and a
source that drives M towards M_S at rate k (1/s) in the region S (ball or box; e.g. a
continuously pumped or saturated volume). Weak form, backward Euler, lumped capacity,
relaxation and source (:mod:`fem_spin.physics.terms`):

.. math::

    \sum_i m_i (M_i - M_i^n) v_i + \Delta t\int D\nabla M\cdot\nabla v
      + \Delta t \sum_i m_i \Bigl[\frac{M_i - M_0}{T_1} - k\chi_i (M_S - M_i)\Bigr] v_i = 0 .

Without relaxation and source the total :math:`\sum_i m_i M_i` is conserved exactly;
on meshes whose stiffness matrix is an M-matrix (1-D, acute simplices) M stays between
the extremes of its initial data, M0 and M_S (discrete maximum principle).
Observables: M_mean, M_min, M_max, M_region (mean over the initial region), M_source
(mean over the source region) and magnetization_total (the conserved total, M m^3).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import numpy as np

from fem_spin.config import ConfigError, non_negative, param, positive, register_model, spd_tensor
from fem_spin.contracts import ModelConfig
from fem_spin.models.base import TransientProblem
from fem_spin.physics import observables, regions, terms
from fem_spin.viz.registry import register_pictures

__all__ = ["LongitudinalRelaxationConfig", "LongitudinalRelaxationProblem"]

_POINT = tuple[float, float, float]


class LongitudinalRelaxationProblem(TransientProblem):
    """dM/dt = div(D grad M) - (M - M0)/T1 + k chi_S (M_S - M); see the module docstring."""

    headline_keys = ("final.M_mean", "final.M_min", "final.M_max")

    def define_function_spaces(self) -> None:
        import dolfinx.fem as fem

        self.V = fem.functionspace(self.mesh, ("Lagrange", 1))
        self.u = fem.Function(self.V, name="magnetization")
        self.u_n = fem.Function(self.V, name="magnetization_old")

    def define_measures(self) -> None:
        super().define_measures()
        self.dx_lumped = terms.lumped_measure(self.mesh, self.mesh_data.cell_tags)
        self.weight, self.weight_nodal = terms.coordinate_weight(self.V, self.mesh_data.coordinate_system)

    def define_initial_condition(self) -> None:
        import dolfinx.fem as fem

        p = self.params
        initial = p.initial_region()
        self.u.interpolate(lambda x: np.where(initial(x), p.region_magnetization, p.initial_magnetization))
        self.u.x.scatter_forward()
        self.u_n.x.array[:] = self.u.x.array
        self.initial_indicator = fem.Function(self.V, name="initial_region")
        self.initial_indicator.interpolate(lambda x: initial(x).astype(float))
        self.source_indicator = fem.Function(self.V, name="source_region")
        self.source_indicator.interpolate(lambda x: p.source_region()(x).astype(float))

    def create_formulation(self) -> None:
        import dolfinx.fem as fem
        import ufl

        p, mesh = self.params, self.mesh
        v, M = ufl.TestFunction(self.V), self.u
        omega, omega_h, dx_l = self.weight, self.weight_nodal, self.dx_lumped
        self.dt = fem.Constant(mesh, self.config.time.dt_initial)
        self.time = fem.Constant(mesh, 0.0)
        F = terms.capacity(M, self.capacity_old, v, omega_h, dx_l)
        flux = terms.diffusive_flux(terms.diffusion_tensor(mesh, p.D), ufl.grad(M))
        F += self.dt * terms.diffusion(flux, v, omega, self.dx)
        if p.T1 is not None:
            F += self.dt * terms.relaxation(fem.Constant(mesh, 1.0 / p.T1), M, fem.Constant(mesh, p.M0),
                                            v, omega_h, dx_l)
        if p.source_rate > 0:
            F += self.dt * terms.exchange_source(fem.Constant(mesh, p.source_rate), self.source_indicator,
                                                 fem.Constant(mesh, p.source_magnetization), M, v,
                                                 omega_h, dx_l)
        # observables, and the residual scaled to O(change of M): dimensionless tolerances
        self.statistics = observables.LumpedStatistics(self.comm, terms.lumped_masses(self.V, omega_h, dx_l))
        n_owned = self.V.dofmap.index_map.size_local   # region means: lumped dot products
        self.region_mean = observables.LumpedRegionMean(self.statistics, self.initial_indicator, n_owned)
        self.source_mean = observables.LumpedRegionMean(self.statistics, self.source_indicator, n_owned)
        num_cells = mesh.topology.index_map(mesh.topology.dim).size_global
        self.F = fem.Constant(mesh, num_cells / (self.statistics.volume * p.magnitude())) * F

    @property
    def observable_names(self) -> tuple[str, ...]:
        """The time-series columns; a region mean only where the configuration has the region."""
        p = self.params
        return ("M_mean", "M_min", "M_max", *(("M_region",) if p.region_shape != "none" else ()),
                *(("M_source",) if p.source_shape != "none" else ()), "magnetization_total")

    def observables(self) -> dict[str, float]:
        M = self.owned(self.u.x.array)
        values = {**self.statistics.statistics(M, "M"), "magnetization_total": self.statistics.total(M)}
        if "M_region" in self.observable_names:
            values["M_region"] = self.region_mean(M)
        if "M_source" in self.observable_names:
            values["M_source"] = self.source_mean(M)
        return {name: values[name] for name in self.observable_names}

    def error_scale(self) -> float:
        """M's magnitude: time.tolerance is relative to it (M is in A/m)."""
        return self.params.magnitude()

    def output_functions(self) -> list:
        return [self.u]

    def profile_probe(self):
        return self.x_axis_probe(self.u, 201)


def _render(run_dir, title: str = "") -> list:
    """The magnetization field at the middle snapshot and its series (fem_spin.viz.render)."""
    from fem_spin.viz import render

    return [render.render_result(run_dir, "magnetization", title=title),
            render.render_series(run_dir, "magnetization", title=title, cmap="viridis")]


register_pictures("longitudinal_relaxation", render=_render,
                  plot_columns=(("M_mean", "mean magnetization M/M0 (dimensionless)"),
                                ("M_max", "max M/M0 (dimensionless)")))


@register_model("longitudinal_relaxation", problem=LongitudinalRelaxationProblem)
@dataclasses.dataclass(frozen=True)
class LongitudinalRelaxationConfig(ModelConfig):
    """[model] type = "longitudinal_relaxation" (docs/adding_a_model.md)."""

    D: float | list[list[float]] = param(unit="m^2/s", doc="diffusion coefficient, scalar or 3x3 tensor",
                                         check=spd_tensor("diffusion"))
    T1: float | None = param(None, unit="s", doc="longitudinal relaxation time (omitted: none)")
    M0: float = param(1.0, doc="thermal-equilibrium magnetization (the unit of M)")
    initial_magnetization: float = param(0.0, doc="M at t = 0 outside the initial region")
    region_shape: Literal["none", "ball", "box"] = param("none", doc="initial region")
    region_magnetization: float = param(0.0, doc="M at t = 0 inside the initial region")
    region_center: _POINT = param((0.0, 0.0, 0.0), unit="m", doc="ball centre (initial region)")
    region_radius: float = param(0.0, unit="m", doc="ball radius (initial region)", check=non_negative)
    region_lower: _POINT = param((0.0, 0.0, 0.0), unit="m", doc="box lower corner (initial region)")
    region_upper: _POINT = param((0.0, 0.0, 0.0), unit="m", doc="box upper corner (initial region)")
    source_shape: Literal["none", "ball", "box"] = param("none", doc="source region S")
    source_rate: float = param(0.0, unit="1/s", doc="rate k of the source k (M_S - M) in S",
                               check=non_negative)
    source_magnetization: float = param(0.0, doc="M_S, the value the source drives M towards")
    source_center: _POINT = param((0.0, 0.0, 0.0), unit="m", doc="ball centre (source)")
    source_radius: float = param(0.0, unit="m", doc="ball radius (source)", check=non_negative)
    source_lower: _POINT = param((0.0, 0.0, 0.0), unit="m", doc="box lower corner (source)")
    source_upper: _POINT = param((0.0, 0.0, 0.0), unit="m", doc="box upper corner (source)")

    def __post_init__(self):
        if self.T1 is not None and not (self.T1 > 0 and math.isfinite(self.T1)):
            raise ConfigError("T1", f"must be a positive number of seconds (got {self.T1})")
        for prefix, shape in (("region", self.region_shape), ("source", self.source_shape)):
            radius = getattr(self, f"{prefix}_radius")
            lower, upper = getattr(self, f"{prefix}_lower"), getattr(self, f"{prefix}_upper")
            if shape == "ball" and not radius > 0:
                raise ConfigError(f"{prefix}_radius", f"must be > 0 for {prefix}_shape = 'ball'")
            if shape == "box" and not all(u > lo for lo, u in zip(lower, upper)):
                raise ConfigError(f"{prefix}_upper", f"must exceed {prefix}_lower in every direction")
        if self.source_rate > 0 and self.source_shape == "none":
            raise ConfigError("source_shape", "source_rate > 0 needs a source region (ball or box)")
        if positive(self.magnitude()):
            raise ConfigError("M0", "M0, the initial and the source magnetizations are all zero: nothing to solve")

    def magnitude(self) -> float:
        """The scale of M (largest of |M0| and the given magnetizations): residual and error scale."""
        return max(abs(self.M0), abs(self.initial_magnetization), abs(self.region_magnetization),
                   abs(self.source_magnetization))

    def initial_region(self) -> regions.Region:
        return regions.region(self.region_shape, self.region_center, self.region_radius,
                              self.region_lower, self.region_upper)

    def source_region(self) -> regions.Region:
        return regions.region(self.source_shape, self.source_center, self.source_radius,
                              self.source_lower, self.source_upper)
