r"""Nuclear spin diffusion with the hyperpolarization speed-up (physics.md section 1.1).

.. math::

    \frac{\partial P}{\partial t} = \nabla\cdot\bigl(D_0\, f\, \nabla P\bigr)
        - R_1 (P - P_\mathrm{eq}),
    \qquad f = \frac{1}{\sqrt{1 - \bar P^2}}

with no-flux boundaries. ``speedup`` selects f: ``"none"`` (f = 1), ``"global"``
(Pbar = volume average of P, the paper's model, Eq. 2) or ``"local"``
(f = 1/sqrt(1 - P(x)^2)). D0 is a scalar or a symmetric positive-definite 3x3 tensor.

Discretisation. The unknown is the spin-temperature variable w = artanh(P) in
continuous P1, and P = tanh(w), so |P| < 1 at every node for every step size by
construction. Backward Euler in time; the capacity and relaxation terms use vertex
quadrature (mass lumping), which makes the discrete total polarization

    Pbar V = sum_nodes m_i tanh(w_i)

exactly conserved (to the Newton tolerance) without relaxation, because the test
function v = 1 annihilates the flux term. In the local mode the flux is written as
D0 cosh(w) grad tanh(w) = D0 grad(w) / cosh(w), which stays finite at any w.
The global mode treats Pbar at the new time level consistently: a fixed-point
loop repeats the Newton solve with Pbar^{n+1} until it no longer changes
(|delta Pbar| < 1e-12), so the answer does not depend on the step beyond the
time discretisation error.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Literal

import numpy as np

from fem_spin.config import ConfigError, non_negative, param, polarization, register_model
from fem_spin.models.base import TransientProblem
from fem_spin.solvers.newton import NewtonResult

__all__ = ["NuclearDiffusionConfig", "NuclearDiffusionProblem", "speedup_factor"]


def speedup_factor(polarization_average: float | np.ndarray) -> float | np.ndarray:
    """f(P) = 1/sqrt(1 - P^2) (physics.md 1.1; paper Eq. 2)."""
    p = np.asarray(polarization_average, dtype=float)
    if np.any(np.abs(p) >= 1):
        raise ValueError(f"|P| must be < 1 (got {polarization_average})")
    out = 1.0 / np.sqrt(1.0 - p * p)
    return float(out) if out.ndim == 0 else out


def _tensor_check(value) -> str | None:
    if isinstance(value, (int, float)):
        return None if value > 0 else f"must be > 0 (got {value})"
    a = np.asarray(value, dtype=float)
    if a.shape != (3, 3):
        return f"must be a number or a 3x3 list of lists (got shape {a.shape})"
    if not np.allclose(a, a.T, rtol=1e-12, atol=0):
        return "a diffusion tensor must be symmetric"
    if np.linalg.eigvalsh(a).min() <= 0:
        return "a diffusion tensor must be positive definite"
    return None


@register_model("nuclear_diffusion")
@dataclasses.dataclass
class NuclearDiffusionConfig:
    """[model] type = "nuclear_diffusion" (physics.md 1.1)."""

    D0: float | list[list[float]] = param(unit="m^2/s", doc="spin-diffusion coefficient, scalar "
                                          "or 3x3 tensor", check=_tensor_check)
    speedup: Literal["none", "global", "local"] = param("global", doc="hyperpolarization speed-up "
                                                        "f = 1/sqrt(1-P^2): none, global (Pbar), local (P(x))")
    R1: float = param(0.0, unit="1/s", doc="spin-lattice relaxation rate", check=non_negative)
    P_eq: float = param(0.0, doc="thermal-equilibrium polarization", check=polarization)
    initial_polarization: float = param(0.0, doc="polarization outside the hyperpolarized region at t=0",
                                        check=polarization)
    region_shape: Literal["none", "ball", "box"] = param("none", doc="hyperpolarized region at t=0")
    region_polarization: float = param(0.0, doc="polarization inside the region at t=0",
                                       check=polarization)
    region_center: tuple[float, float, float] = param((0.0, 0.0, 0.0), unit="m", doc="ball centre")
    region_radius: float = param(0.0, unit="m", doc="ball radius", check=non_negative)
    region_lower: tuple[float, float, float] = param((0.0, 0.0, 0.0), unit="m", doc="box lower corner")
    region_upper: tuple[float, float, float] = param((0.0, 0.0, 0.0), unit="m", doc="box upper corner")

    def __post_init__(self):
        if self.region_shape == "ball" and not self.region_radius > 0:
            raise ConfigError("region_radius", "must be > 0 for region_shape = 'ball'")
        if self.region_shape == "box" and not all(u > lo for lo, u in zip(self.region_lower,
                                                                         self.region_upper)):
            raise ConfigError("region_upper", "must exceed region_lower in every direction")

    def initial_polarization_field(self) -> Callable[[np.ndarray], np.ndarray]:
        """P(x, 0) as a vectorised function of points x with shape (3, n)."""
        background, inside = self.initial_polarization, self.region_polarization

        def p0(x: np.ndarray) -> np.ndarray:
            return np.where(self.region_indicator(x), inside, background)

        return p0

    def region_indicator(self, x: np.ndarray) -> np.ndarray:
        if self.region_shape == "ball":
            c = np.asarray(self.region_center).reshape(3, 1)
            return np.sum((x - c) ** 2, axis=0) <= self.region_radius ** 2 * (1 + 1e-12)
        if self.region_shape == "box":
            lo = np.asarray(self.region_lower).reshape(3, 1)
            hi = np.asarray(self.region_upper).reshape(3, 1)
            return np.all((x >= lo - 1e-15) & (x <= hi + 1e-15), axis=0)
        return np.zeros(x.shape[1], dtype=bool)


class NuclearDiffusionProblem(TransientProblem):
    """Backward-Euler solver of physics.md 1.1 for w = artanh(P); see the module docstring."""

    observable_names = ("P_mean", "P_min", "P_max", "P_region", "P_outside", "speedup_factor",
                        "polarization_volume")

    def __init__(self, config, comm=None, mesh_data=None,
                 initial_polarization: Callable[[np.ndarray], np.ndarray] | None = None):
        from mpi4py import MPI

        super().__init__(config, comm or MPI.COMM_WORLD, mesh_data)
        self._initial = initial_polarization or self.params.initial_polarization_field()
        self.fixed_point_tolerance = 1e-12
        self.fixed_point_max_iterations = 50

    # ------------------------------------------------------------------ pipeline steps
    def define_function_spaces(self) -> None:
        import dolfinx.fem as fem

        self.V = fem.functionspace(self.mesh, ("Lagrange", 1))
        self.u = fem.Function(self.V, name="spin_temperature")       # w = artanh(P)
        self.u_n = fem.Function(self.V, name="spin_temperature_old")
        self.P_out = fem.Function(self.V, name="polarization")

    def define_measures(self) -> None:
        import ufl

        super().define_measures()
        # Vertex quadrature = lumped capacity: exact discrete conservation, no undershoot
        # from a consistent mass matrix at steep fronts.
        self.dx_lumped = ufl.Measure("dx", domain=self.mesh, metadata={
            "quadrature_rule": "vertex", "quadrature_degree": 1})
        self.dx_flux = ufl.Measure("dx", domain=self.mesh, metadata={"quadrature_degree": 4})

    def define_initial_condition(self) -> None:
        import dolfinx.fem as fem

        p0 = self._initial

        def w0(x):
            p = np.asarray(p0(x), dtype=float) * np.ones(x.shape[1])
            if np.any(np.abs(p) >= 1):
                raise ConfigError("model.initial_polarization", "initial |P| must be < 1")
            return np.arctanh(p)

        self.u.interpolate(w0)
        self.u_n.x.array[:] = self.u.x.array
        self.region = fem.Function(self.V, name="initial_region")
        self.region.interpolate(lambda x: self.params.region_indicator(x).astype(float))

    def create_formulation(self) -> None:
        import dolfinx.fem as fem
        import ufl

        p = self.params
        mesh, v = self.mesh, ufl.TestFunction(self.V)
        self.dt = fem.Constant(mesh, self.config.time.dt_initial)
        self.time = fem.Constant(mesh, 0.0)
        self.f_global = fem.Constant(mesh, 1.0)

        # Observables (compiled once, evaluated every step).
        P_l, one = ufl.tanh(self.u), fem.Constant(mesh, 1.0)
        self.volume = self.integrate(fem.form(one * self.dx_lumped))
        self._total_form = fem.form(P_l * self.dx_lumped)
        self._region_form = fem.form(self.region * P_l * self.dx_lumped)
        self.region_volume = self.integrate(fem.form(self.region * self.dx_lumped))
        if p.speedup == "global":
            self.f_global.value = speedup_factor(self.mean_polarization())

        # Residual scaled by 1/(mean cell volume): entries are O(change of P), so the
        # Newton tolerances are dimensionless whatever the sample size.
        num_cells = mesh.topology.index_map(mesh.topology.dim).size_global
        scale = fem.Constant(mesh, num_cells / self.volume)

        w, w_n = self.u, self.u_n
        P, P_n = ufl.tanh(w), ufl.tanh(w_n)
        D0 = self._diffusion_tensor()
        if p.speedup == "local":
            flux = ufl.dot(D0, ufl.grad(w)) / ufl.cosh(w)     # D0 cosh(w) grad tanh(w)
        elif p.speedup == "global":
            flux = self.f_global * ufl.dot(D0, ufl.grad(P))
        else:
            flux = ufl.dot(D0, ufl.grad(P))

        F = (P - P_n) * v * self.dx_lumped
        F += self.dt * ufl.inner(flux, ufl.grad(v)) * self.dx_flux
        if p.R1 > 0:
            F += self.dt * fem.Constant(mesh, p.R1) * (P - fem.Constant(mesh, p.P_eq)) * v * self.dx_lumped
        self.F = scale * F

    def _diffusion_tensor(self):
        import dolfinx.fem as fem
        import ufl

        D0 = np.asarray(self.params.D0, dtype=float)
        if D0.ndim == 0:
            return fem.Constant(self.mesh, float(D0)) * ufl.Identity(self.mesh.geometry.dim)
        return fem.Constant(self.mesh, D0)

    # ------------------------------------------------------------------ stepping
    def solve_step(self) -> NewtonResult:
        if self.params.speedup != "global":
            return self.newton.solve()
        # Fixed point on Pbar^{n+1}: f depends on the unknown average at the new time.
        total = NewtonResult(True, 0, 0, 0.0)
        for _ in range(self.fixed_point_max_iterations):
            result = self.newton.solve()
            total.iterations += result.iterations
            total.linear_iterations += result.linear_iterations
            total.residual_norm = result.residual_norm
            if not result.converged:
                result.iterations = total.iterations
                return result
            mean = self.mean_polarization()
            f_new = speedup_factor(mean)
            change = abs(f_new - float(self.f_global.value))
            self.f_global.value = f_new
            if change < self.fixed_point_tolerance:
                return total
        return NewtonResult(False, total.iterations, total.linear_iterations, total.residual_norm,
                            "global speed-up: fixed point on Pbar did not converge")

    def reject_step(self) -> None:
        super().reject_step()
        if self.params.speedup == "global":
            self.f_global.value = speedup_factor(self.mean_polarization())

    def error_quantity(self) -> np.ndarray:
        return np.tanh(self.owned(self.u.x.array))

    # ------------------------------------------------------------------ observables
    def mean_polarization(self) -> float:
        """Pbar = (1/V) int P dV, with the same (lumped) quadrature that is conserved."""
        return self.integrate(self._total_form) / self.volume

    def observables(self) -> dict[str, float]:
        P = np.tanh(self.owned(self.u.x.array))
        total = self.integrate(self._total_form)
        in_region = self.integrate(self._region_form)
        outside_volume = self.volume - self.region_volume
        mean = total / self.volume
        return {
            "P_mean": mean,
            "P_min": self.global_min(P),
            "P_max": self.global_max(P),
            "P_region": in_region / self.region_volume if self.region_volume > 0 else math.nan,
            "P_outside": (total - in_region) / outside_volume if outside_volume > 0 else math.nan,
            "speedup_factor": speedup_factor(mean) if self.params.speedup != "local" else math.nan,
            "polarization_volume": total,
        }

    def output_functions(self) -> list:
        return [self.P_out]

    def update_output_functions(self) -> None:
        self.P_out.x.array[:] = np.tanh(self.u.x.array)

    def profile_probe(self):
        """P along the x axis through the centre of the sample (written to profiles.csv)."""
        from fem_spin.geometry.base import bounding_box
        from fem_spin.io import LineProbe

        lo, hi = bounding_box(self.mesh)
        mid = 0.5 * (lo + hi)
        start, end = mid.copy(), mid.copy()
        start[0], end[0] = lo[0], hi[0]
        return LineProbe(self.mesh, start, end, 201), self.P_out

    #: (column, axis label) pairs plotted against time; sweeps overlay their variants
    plot_columns = (("P_mean", "mean polarization Pbar"),
                    ("P_outside", "mean P outside the initial region"),
                    ("P_max", "max P"))

    def polarization(self):
        """The polarization P = tanh(w) as a nodal Function (updated on each call)."""
        self.update_output_functions()
        return self.P_out


NuclearDiffusionConfig.problem_class = NuclearDiffusionProblem
