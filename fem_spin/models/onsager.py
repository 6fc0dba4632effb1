r"""Two-quantity Onsager magnetization transport in a field gradient (physics.md section 2).

One spin species carries two conserved quantities: the magnetic moment and the total
magnetic energy. In the polarization ("e") basis the state is
:math:`\rho = (\rho_1, \rho_2)`, |rho| < 1, with rho2 the polarization and rho1 the
dipolar energy density over :math:`\mu\Delta B_d` (physics.md 2.1). The entropy per spin
is :math:`s(x) = \ln 2 - \tfrac{1+x}{2}\ln(1+x) - \tfrac{1-x}{2}\ln(1-x)`, x = |rho|, and
the entropy variables (inverse spin temperatures) are

.. math::

    \Omega = \frac{\partial s}{\partial \rho} = -\operatorname{artanh}|\rho|\,\frac{\rho}{|\rho|},
    \qquad \rho = -\frac{\partial \psi}{\partial \Omega},\quad \psi(\Omega) = \ln(2\cosh|\Omega|),
    \qquad C = \frac{\partial\rho}{\partial\Omega} = -\frac{\partial^2\psi}{\partial\Omega^2}.

Nonlinear model (physics.md 2.2, OZ ansatz). With the generalised gradient
:math:`G_1 = \nabla\Omega_1`, :math:`G_2 = \nabla\Omega_2 + \Omega_1\nabla B/B_d` and
fluxes :math:`j_i = -f\,\Gamma \sum_j \sigma_i\sigma_j C_{ij} G_j`,

.. math::

    \Delta\,\partial_t\rho_1 = -\nabla\cdot(\Delta j_1) + \Delta\, j_2\cdot\nabla B/B_d, \qquad
    \Delta\,\partial_t\rho_2 = -\nabla\cdot(\Delta j_2),

no-flux boundaries. Gamma (m^2/s) is a scalar or a spatial tensor; sigma = (sqrt(r), 1)
scales the dipolar channel by the rate ratio r = Gamma_dipolar/Gamma_Zeeman (the
congruence sigma C sigma keeps the transport matrix negative definite, so entropy still
grows); f is the hyperpolarization speed-up of physics.md 1.1 (none, global
1/sqrt(1 - Pbar^2), or local 1/sqrt(1 - rho2^2)).

Reduced models (physics.md 2.3), same continuity equations:

* ``semilinear``: :math:`j_1 = -\Gamma\nabla\rho_1`,
  :math:`j_2 = -\Gamma\nabla\rho_2 + \Gamma(1-\rho_2^2)\Omega_1\nabla B/B_d`,
  :math:`\Omega_1 = -\rho_1\operatorname{artanh}|\rho_2|/|\rho_2|` (the paper's Eq. 27);
* ``linear`` (Genack–Redfield, Eq. 29): :math:`j_1 = -\Gamma\nabla\rho_1`,
  :math:`j_2 = -\Gamma(\nabla\rho_2 + \rho_1\nabla B/B_d)`.

Discretisation. P1 elements; backward Euler; the capacity term with vertex quadrature
(lumped), the fluxes and the exchange term with the same Gauss rule. The nonlinear model
is solved for the entropy variables Omega, so rho(Omega) is bounded, |rho| < 1, at every
node for any step, and C comes from ``ufl.diff`` of psi. With the test functions
v = (1, -B_h/B_d) and v = (0, 1), where B_h is the P1 interpolant of |B| whose gradient
enters the fluxes, the discrete energy and moment

.. math::

    E = \mu \sum_i w_i (B_d\rho_{1,i} - B_i\rho_{2,i}),\qquad M = \mu\sum_i w_i\rho_{2,i},
    \qquad w_i = \int \Delta\,\phi_i \ (\text{vertex rule}),

are conserved to the Newton tolerance by all three models; with v = Omega_h the discrete
entropy :math:`S = k_B\sum_i w_i s(|\rho_i|)` of the nonlinear model never decreases
(concavity of s for the time term, :math:`G^T\sigma C\sigma G \le 0` for the fluxes).
Only the nonlinear model keeps |rho| < 1; the reduced models are solved for rho itself
and may leave the unit disc (reported in ``rho_max``, never hidden).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Literal

import numpy as np
from mpi4py import MPI

from fem_spin.config import (ConfigError, in_range, param, polarization, positive, register_model,
                             spd_tensor, warn, warn_if_region_outside)
from fem_spin.contracts import ModelConfig
from fem_spin.errors import ModelError
from fem_spin.models.base import TransientProblem
from fem_spin.physics import observables, regions, terms

__all__ = ["OnsagerTransportConfig", "OnsagerTransportProblem", "dougherty_parameters",
           "SLICE_OBSERVABLES", "PROTON_GYROMAGNETIC_RATIO", "nonnegative_density"]

HBAR = 1.054571817e-34            # J s
BOLTZMANN = 1.380649e-23          # J/K
MU0_OVER_4PI = 1e-7               # T m/A (to 1e-10 relative)
PROTON_GYROMAGNETIC_RATIO = 2.6752218744e8   # rad/(s T), CODATA 2018

#: below this |Omega|^2 the entropy potential is evaluated by its Taylor series (no 0/0)
_SMALL_Q = 1e-3

#: time-series columns of a run with a resonant slice (resonant_field, slice_half_width > 0):
#: the spin-density-weighted means of rho2 and rho1 over the slice, what MRFM detects
SLICE_OBSERVABLES = ("P_slice", "dipolar_slice")


def dougherty_parameters(spin_density: float, gyromagnetic_ratio: float = PROTON_GYROMAGNETIC_RATIO
                         ) -> tuple[float, float]:
    """(B_d in T, Gamma in m^2/s) estimated as Dougherty et al., J. Magn. Reson. 143, 106 (2000):
    B_d = (mu0/4pi) hbar gamma n and Gamma = (mu0/4pi) hbar gamma^2 n^(1/3)."""
    n, g = float(spin_density), float(gyromagnetic_ratio)
    return MU0_OVER_4PI * HBAR * g * n, MU0_OVER_4PI * HBAR * g * g * n ** (1.0 / 3.0)


_spatial_tensor_check = spd_tensor("transport")


def _density_check(value) -> str | None:
    from fem_spin.units import number_density

    try:
        number_density(value)
    except ValueError as exc:
        return str(exc)
    return None


def nonnegative_density(value) -> float:
    """A number density in 1/m^3 that may be 0 (a species absent from a region); negative,
    non-finite or malformed values raise ValueError naming the problem."""
    from fem_spin.units import number_density

    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0:
        return 0.0
    if isinstance(value, str):
        number = value.strip().split()[0] if value.strip() else value
        try:
            if float(number) == 0:
                number_density(value.replace(number, "1", 1))   # the unit must still be valid
                return 0.0
        except ValueError:
            pass
    try:
        return number_density(value)
    except ValueError as exc:
        raise ValueError(str(exc).replace("must be a positive density", "must be a density >= 0")) from None


def _nonnegative_density_check(value) -> str | None:
    try:
        nonnegative_density(value)
    except ValueError as exc:
        return str(exc)
    return None


def _entropy_potential(q):
    """psi = ln(2 cosh w) as a UFL function of q = w^2, smooth at q = 0 (series there)."""
    import ufl

    w = ufl.sqrt(ufl.max_value(q, _SMALL_Q))
    series = math.log(2.0) + q / 2 - q ** 2 / 12 + q ** 3 / 45 - 17 * q ** 4 / 2520
    # ln(2 cosh w) = w + ln(1 + e^{-2w}): no overflow for any w
    return ufl.conditional(ufl.lt(q, _SMALL_Q), series, w + ufl.ln(1 + ufl.exp(-2 * w)))


def _artanh_over_x(y):
    """artanh(x)/x as a UFL function of y = x^2 (semi-linear model), smooth at 0; the
    argument is clipped below 1 so that an overshooting Newton iterate stays finite."""
    import ufl

    yc = ufl.min_value(ufl.max_value(y, 1e-3), 1 - 1e-12)
    x = ufl.sqrt(yc)
    series = 1 + y / 3 + y ** 2 / 5 + y ** 3 / 7 + y ** 4 / 9
    return ufl.conditional(ufl.lt(y, 1e-3), series, 0.5 * ufl.ln((1 + x) / (1 - x)) / x)


class OnsagerTransportProblem(TransientProblem):
    """Implicit solver (the stepper's scheme) of physics.md 2.2/2.3; see the module docstring.

    The unknown ``u`` (P1, two components) is Omega for the nonlinear formulation and
    rho for the reduced ones; ``density(u)`` and ``fluxes(u)`` are what a variant
    overrides."""

    headline_keys = ("final.P_mean", "final.dipolar_mean", "final.P_min", "final.P_max")

    observable_names = ("P_mean", "P_min", "P_max", "dipolar_mean", "rho_max", "moment", "energy",
                        "entropy")

    def __init__(self, config, comm=None, mesh_data=None, initial_state=None, field_function=None):
        from mpi4py import MPI

        super().__init__(config, comm or MPI.COMM_WORLD, mesh_data)
        self._initial = initial_state or self.params.initial_state()
        self._field_function = field_function
        self.observable_names = self.series_names(self.params)
        self._slice_statistics = None

    @classmethod
    def series_names(cls, params) -> tuple[str, ...]:
        """The time-series columns of a run of ``params`` (the slice means only with a
        resonant slice); the fit's observations check against it before any run."""
        return cls.observable_names + (SLICE_OBSERVABLES if params.has_resonant_slice else ())

    @property
    def entropy_variables(self) -> bool:
        return self.params.formulation == "nonlinear"

    # ------------------------------------------------------------------ pipeline steps
    def define_function_spaces(self) -> None:
        import dolfinx.fem as fem

        self.V = fem.functionspace(self.mesh, ("Lagrange", 1, (2,)))
        self.V0 = fem.functionspace(self.mesh, ("Lagrange", 1))
        # Nodal arrays of V (block size 2) and V0 are used side by side: same node order.
        if not np.array_equal(self.V.tabulate_dof_coordinates(), self.V0.tabulate_dof_coordinates()):
            raise RuntimeError("P1 vector and scalar spaces number their nodes differently")
        self.u = fem.Function(self.V, name="entropy_variables" if self.entropy_variables else "state")
        self.u_n = fem.Function(self.V, name="previous_state")
        self.polarization_out = fem.Function(self.V0, name="polarization")
        self.dipolar_out = fem.Function(self.V0, name="dipolar_order")
        self.field_magnitude = fem.Function(self.V0, name="field_magnitude")

    def define_measures(self) -> None:
        if self.mesh_data.coordinate_system != "cartesian":
            raise ModelError("onsager_transport needs a Cartesian mesh", key="geometry.type")
        super().define_measures()
        tags = self.mesh_data.cell_tags
        self.dx_lumped = terms.lumped_measure(self.mesh, tags)
        self.dx_flux = terms.quadrature_measure(self.mesh, self.params.quadrature_degree, tags)

    def define_field(self) -> None:
        """B_h = P1 interpolant of |B(x)| (physics.md 4); its gradient drives the separation."""
        p = self.params
        if self._field_function is not None:
            self.field_magnitude.interpolate(self._field_function)
        elif p.field == "uniform":
            self.field_magnitude.x.array[:] = p.B0
        elif p.field == "linear":
            g = np.asarray(p.field_gradient, dtype=float).reshape(3, 1)
            x0 = np.asarray(p.field_origin, dtype=float).reshape(3, 1)
            self.field_magnitude.interpolate(lambda x: p.B0 + np.sum(g * (x - x0), axis=0))
            if self.global_min(self.field_magnitude.x.array) <= 0:
                raise ModelError("B0 + gradient.(x - field_origin) must stay > 0 on the sample (it "
                                 "is a field magnitude)", key="model.field_gradient")
        else:
            from fem_spin.solvers import magnetostatics

            geometry = self.config.geometry
            M = np.array([0.0, 0.0, p.tip_magnetization / (4e-7 * np.pi)])
            if p.field == "sphere_tip":
                B = magnetostatics.analytic_total_field_magnitude(
                    self.V0, p.B0, geometry.tip_center(), geometry.tip_radius, M)
            else:
                solution = magnetostatics.solve_tip_field(geometry, M, self.comm,
                                                          degree=p.tip_field_degree)
                B = magnetostatics.interpolate_total_field_magnitude(solution, self.V0, p.B0)
            self.field_magnitude.x.array[:] = B.x.array
        self.field_magnitude.x.scatter_forward()

    def define_spin_density(self):
        """Delta(x) as a DG0 Function: spin_density, or the value of its cell group."""
        p = self.params
        return terms.cell_group_function(self.mesh, self.mesh_data, p.spin_density_regions,
                                         p.spin_density, "spin_density", key="model.spin_density_regions")

    def define_initial_condition(self) -> None:
        from fem_spin.analytic import onsager

        self.define_field()
        rho0 = self._initial

        def state(x):
            rho = np.asarray(rho0(x), dtype=float)
            if np.any(np.hypot(rho[0], rho[1]) >= 1):
                raise ModelError("the initial state needs |rho| < 1 everywhere",
                                 key="model.initial_polarization")
            return onsager.potentials(rho) if self.entropy_variables else rho

        self.u.interpolate(state)
        if self.params.initial_profile == "resonant_slice":
            self._invert_resonant_slice()
        self.u.x.scatter_forward()
        self.u_n.x.array[:] = self.u.x.array
        self.spin_density = self.define_spin_density()
        self.reference_density = self.global_max(self.spin_density.x.array)

    def _invert_resonant_slice(self) -> None:
        """rho2 = region_polarization at the nodes where |B - resonant_field| <= slice_half_width
        (the slice an adiabatic sweep inverts), initial_polarization elsewhere."""
        from fem_spin.analytic import onsager

        p = self.params
        inside = regions.field_slice(self.field_magnitude.x.array, p.resonant_field, p.slice_half_width)
        rho = np.vstack([np.full(inside.size, p.initial_dipolar_order),
                         np.where(inside, p.region_polarization, p.initial_polarization)])
        values = onsager.potentials(rho) if self.entropy_variables else rho
        self.u.x.array[:] = values.T.ravel()

    # ------------------------------------------------------------------ physics
    def density(self, u):
        """rho as a UFL vector of the unknown: -d psi/d Omega (nonlinear) or u itself."""
        import ufl

        if not self.entropy_variables:
            return u
        omega = ufl.variable(u)
        return -ufl.diff(_entropy_potential(ufl.dot(omega, omega)), omega)

    def covariance(self, u):
        """C = d rho/d Omega = -Hess psi (2x2, negative definite), by ufl.diff."""
        import ufl

        omega = ufl.variable(u)
        rho = -ufl.diff(_entropy_potential(ufl.dot(omega, omega)), omega)
        return ufl.diff(rho, omega)

    def transport_tensor(self):
        """f Gamma as a gdim x gdim UFL tensor (Gamma scalar or the leading block of a tensor)."""
        return self.speedup_factor() * terms.diffusion_tensor(self.mesh, self.params.transport_coefficient)

    def speedup_factor(self):
        import dolfinx.fem as fem
        import ufl

        mode = self.params.speedup
        if mode == "global":
            # Pbar is a conserved total: the factor is fixed by the initial state.
            return fem.Constant(self.mesh, 1.0 / math.sqrt(1.0 - self.mean_polarization() ** 2))
        if mode == "local":
            rho2 = self.density(self.u)[1]
            return 1 / ufl.sqrt(1 - rho2 * rho2)
        return fem.Constant(self.mesh, 1.0)

    def fluxes(self, u):
        """(j1, j2), the spatial flux vectors of rho1 and rho2 (physics.md 2.2/2.3)."""
        import ufl

        p = self.params
        L = self.transport_tensor()
        grad_b = ufl.grad(self.field_magnitude) / self.B_d
        ratio = p.dipolar_rate_ratio
        if p.formulation == "nonlinear":
            sigma = (math.sqrt(ratio), 1.0)
            G = (ufl.grad(u[0]), ufl.grad(u[1]) + u[0] * grad_b)
            C = self.covariance(u)
            K = [sum(sigma[i] * sigma[j] * C[i, j] * G[j] for j in range(2)) for i in range(2)]
            return -ufl.dot(L, K[0]), -ufl.dot(L, K[1])
        rho1, rho2 = u[0], u[1]
        j1 = -ratio * ufl.dot(L, ufl.grad(rho1))
        if p.formulation == "linear":
            return j1, -ufl.dot(L, ufl.grad(rho2) + rho1 * grad_b)
        omega1 = -rho1 * _artanh_over_x(rho2 * rho2)
        return j1, -ufl.dot(L, ufl.grad(rho2)) + (1 - rho2 * rho2) * omega1 * ufl.dot(L, grad_b)

    def create_formulation(self) -> None:
        import dolfinx.fem as fem
        import ufl

        p, mesh = self.params, self.mesh
        self.dt = fem.Constant(mesh, self.config.time.dt_initial)
        self.time = fem.Constant(mesh, 0.0)
        self.B_d = fem.Constant(mesh, float(p.dipolar_field))
        Delta = self.spin_density
        self.weights = terms.lumped_masses(self.V0, Delta, self.dx_lumped)   # w_i = int Delta phi_i
        self.statistics = observables.LumpedStatistics(self.comm, self.weights)
        self.total_weight = self.statistics.volume
        volume = self.integrate(fem.form(fem.Constant(mesh, 1.0) * self.dx_lumped))

        v = ufl.TestFunction(self.V)
        rho = self.density(self.u)
        j1, j2 = self.fluxes(self.u)
        grad_b = ufl.grad(self.field_magnitude) / self.B_d
        F = Delta * ufl.inner(rho - self.capacity_old, v) * self.dx_lumped
        F -= self.dt * Delta * ufl.inner(j1, ufl.grad(v[0])) * self.dx_flux
        F -= self.dt * Delta * ufl.inner(j2, ufl.grad(v[1])) * self.dx_flux
        F -= self.dt * Delta * ufl.dot(j2, grad_b) * v[0] * self.dx_flux    # energy exchange
        # Scaled so that residual entries are O(change of rho): tolerances are dimensionless.
        num_cells = mesh.topology.index_map(mesh.topology.dim).size_global
        self.F = fem.Constant(mesh, num_cells / (volume * self.reference_density)) * F
        self.initial_totals = self.totals()
        # Scales of the conserved totals (fully polarized sample): drifts are reported
        # relative to them, since a total itself may vanish (an antisymmetric profile).
        # The energy scale leaves out B0: B0 times the moment is conserved on its own and would
        # hide errors in the exchanged dipolar and gradient energy.
        full = p.magnetic_moment * self.total_weight
        self.total_scales = {"moment": full, "energy": full * (
            float(p.dipolar_field) + self.global_max(np.abs(self.field_magnitude.x.array - p.B0)))}

    # ------------------------------------------------------------------ nodal values
    def owned_nodal(self, array: np.ndarray) -> np.ndarray:
        """Owned entries of a scalar P1 (V0) array."""
        return array[: self.V0.dofmap.index_map.size_local]

    def nodal_state(self) -> np.ndarray:
        """rho at the owned nodes, shape (2, n)."""
        from fem_spin.analytic import onsager

        values = self.owned(self.u.x.array).reshape(-1, 2).T
        return onsager.density(values) if self.entropy_variables else values.copy()

    def totals(self) -> dict[str, float]:
        """Moment (J/T), energy (J) and entropy (J/K) with the lumped weights that are conserved."""
        from fem_spin.analytic import onsager

        rho = self.nodal_state()
        mu, B_d = self.params.magnetic_moment, float(self.B_d.value)
        B = self.owned_nodal(self.field_magnitude.x.array)
        w = self.weights
        x = np.hypot(rho[0], rho[1])
        entropy = (BOLTZMANN * float(np.dot(w, onsager.entropy_per_spin(x))) if np.all(x < 1)
                   else math.nan)
        local = np.array([mu * np.dot(w, rho[1]), mu * np.dot(w, B_d * rho[0] - B * rho[1]), entropy])
        total = np.empty(3)
        self.comm.Allreduce(local, total, op=MPI.SUM)
        return {"moment": float(total[0]), "energy": float(total[1]), "entropy": float(total[2])}

    def mean_polarization(self) -> float:
        """Delta-weighted mean of rho2 (conserved)."""
        return self.statistics.mean(self.nodal_state()[1])

    def capacity_nodal(self, u_values: np.ndarray) -> np.ndarray:
        """rho at the nodes, interleaved (rho1, rho2) per node like u's dofs."""
        from fem_spin.analytic import onsager

        if not self.entropy_variables:
            return u_values
        return onsager.density(u_values.reshape(-1, 2).T).T.ravel()

    def observables(self) -> dict[str, float]:
        rho = self.nodal_state()
        totals = self.totals()
        values = {
            **self.statistics.statistics(rho[1], "P"),
            "dipolar_mean": self.statistics.mean(rho[0]),
            "rho_max": self.statistics.max(np.hypot(rho[0], rho[1])),
            **totals,
        }
        if self.params.has_resonant_slice:
            weights = self.slice_statistics()
            empty = not weights.volume > 0   # the slice misses the sample: NaN, as RegionMean
            values["P_slice"] = math.nan if empty else weights.mean(rho[1])
            values["dipolar_slice"] = math.nan if empty else weights.mean(rho[0])
        return values

    def slice_statistics(self) -> observables.LumpedStatistics:
        """Means over the resonant slice |B_h - resonant_field| <= slice_half_width with the
        owned weights int_slice Delta phi_i (observables.band_weights: a node on the slice's
        edge counts with the part of its hat function inside; a 0/1 nodal indicator would
        shift the edges by up to a cell, an O(h) error a fit would turn into a bias of Gamma).
        Collective; built on first use (the field and Delta exist from the initial state on)."""
        if self._slice_statistics is None:
            p = self.params
            weights = observables.band_weights(self.field_magnitude, self.spin_density,
                                               p.resonant_field - p.slice_half_width,
                                               p.resonant_field + p.slice_half_width)
            self._slice_statistics = observables.LumpedStatistics(self.comm, weights)
        return self._slice_statistics

    def equilibrium(self):
        """(theta, omega0, rho at the owned nodes) of the equilibrium with the run's conserved
        moment and energy (physics.md 2.4); B_ref = B0."""
        from fem_spin.analytic import onsager

        B = self.owned_nodal(self.field_magnitude.x.array)
        # The two totals involve every node: solve on the gathered nodal values (small: two
        # numbers per node), then keep this rank's part.
        Bs = self.comm.allgather(B)
        ws = self.comm.allgather(self.weights)
        mu = self.params.magnetic_moment
        theta, omega0, rho = onsager.equilibrium_from_totals(
            np.concatenate(Bs), np.concatenate(ws), float(self.B_d.value),
            self.initial_totals["moment"] / mu, self.initial_totals["energy"] / mu, B_ref=self.params.B0)
        start = sum(len(b) for b in Bs[: self.comm.rank])
        return theta, omega0, rho[:, start:start + len(B)]

    def distance_to_equilibrium(self) -> float:
        """max_i |rho_i - rho_eq,i| over the nodes."""
        _, _, rho_eq = self.equilibrium()
        return self.global_max(np.abs(self.nodal_state() - rho_eq).ravel())

    # ------------------------------------------------------------------ outputs
    def output_functions(self) -> list:
        return [self.polarization_out, self.dipolar_out, self.field_magnitude]

    def update_output_functions(self) -> None:
        from fem_spin.analytic import onsager

        values = self.u.x.array.reshape(-1, 2).T
        rho = onsager.density(values) if self.entropy_variables else values
        self.dipolar_out.x.array[:] = rho[0]
        self.polarization_out.x.array[:] = rho[1]

    def profile_probe(self):
        """rho2 along the x axis through the centre of the sample (profiles.csv)."""
        return self.x_axis_probe(self.polarization_out, 401)

    def extra_profile_probes(self) -> dict:
        """rho1 on the same line (profiles_dipolar_order.csv): a profile per density."""
        return {"dipolar_order": self.x_axis_probe(self.dipolar_out, 401)}

    def conserved_quantities(self) -> tuple[str, ...]:
        """Names of the conserved totals (time-series columns with a ``total_scales`` entry)."""
        return ("moment", "energy")

    def analyse(self, series: dict[str, np.ndarray]) -> dict:
        """Conservation and entropy balance of the finished run (rank 0): the largest drift of
        the moment and energy relative to their fully polarized values, the smallest entropy
        change over a step, and the largest |rho| reached."""
        out = {}
        for name in self.conserved_quantities():
            values = series[name]
            # relative to the total of the fully polarized sample (the total may vanish)
            out[f"{name}_drift_relative"] = float(np.max(np.abs(values - values[0]))
                                                  / self.total_scales[name])
        # the scales themselves, so that the drift over time can be drawn from the series
        out["total_scales"] = {name: float(self.total_scales[name]) for name in self.conserved_quantities()}
        s = series["entropy"]
        if np.all(np.isfinite(s)):
            out["entropy_min_step_change"] = float(np.min(np.diff(s))) if len(s) > 1 else 0.0
        out["rho_max_over_run"] = float(np.max(series["rho_max"]))
        out["left_unit_disc"] = bool(np.max(series["rho_max"]) >= 1)
        return out

    def write_extra_outputs(self, directory, times) -> None:
        """summary of the equilibrium this run tends to (theta, omega0) next to summary.json."""
        import json

        try:
            theta, omega0, _ = self.equilibrium()
            distance = self.distance_to_equilibrium()
        except ValueError as exc:   # e.g. the linear model left |rho| < 1: no equilibrium
            theta = omega0 = distance = math.nan
            note = str(exc)
        else:
            note = ""
        if self.comm.rank == 0:
            data = {"theta": theta, "omega0": omega0, "B_ref_T": self.params.B0,
                    "max_distance_to_equilibrium": distance, "note": note}
            (directory / "equilibrium.json").write_text(json.dumps(data, indent=2, default=float) + "\n")


# =========================================================================== the [model] section
@register_model("onsager_transport", problem=OnsagerTransportProblem)
@dataclasses.dataclass(frozen=True)
class OnsagerTransportConfig(ModelConfig):
    """[model] type = "onsager_transport" (physics.md 2 and 4)."""

    spin_density: float | str = param(unit="1/m^3", doc="spin density Delta (number, or e.g. "
                                      "'6.7e22 cm^-3')", check=_density_check)
    B0: float = param(unit="T", doc="applied field (along z)", check=positive)
    formulation: Literal["nonlinear", "semilinear", "linear"] = param(
        "nonlinear", doc="nonlinear (entropy variables, |rho| < 1 guaranteed), semilinear "
        "(paper Eq. 27) or linear (Genack-Redfield, Eq. 29)")
    spin_density_regions: dict = param(default_factory=dict, unit="1/m^3",
                                       doc="Delta per cell group {name = value} (piecewise constant)")
    gyromagnetic_ratio: float = param(PROTON_GYROMAGNETIC_RATIO, unit="rad/(s T)",
                                      doc="gamma of the spin species (moment per spin mu = hbar gamma/2)",
                                      check=positive)
    dipolar_field: float | None = param(None, unit="T", doc="average dipolar (local) field B_d; "
                                        "default (mu0/4pi) hbar gamma Delta (Dougherty et al. 2000)")
    transport_coefficient: float | list[list[float]] | None = param(
        None, unit="m^2/s", doc="Gamma, scalar or 3x3 tensor; default (mu0/4pi) hbar gamma^2 "
        "Delta^(1/3) (Dougherty et al. 2000)")
    dipolar_rate_ratio: float = param(1.0, doc="Gamma_dipolar/Gamma_Zeeman (about 4 for 19F in "
                                      "CaF2)", check=positive)
    speedup: Literal["none", "global", "local"] = param(
        "none", doc="hyperpolarization speed-up of Gamma: none, global 1/sqrt(1-Pbar^2), local "
        "1/sqrt(1-rho2^2) (nonlinear only)")
    # Field magnitude B(x) (physics.md 4)
    field: Literal["uniform", "linear", "sphere_tip", "fem_tip"] = param(
        "linear", doc="B(x): uniform B0; linear B0 + gradient.(x - field_origin); sphere_tip "
        "(analytic dipole) or fem_tip (FEM magnetostatics) with an mrfm_film geometry")
    field_gradient: tuple[float, float, float] = param((0.0, 0.0, 0.0), unit="T/m",
                                                       doc="gradient of |B| for field = 'linear'")
    field_origin: tuple[float, float, float] = param((0.0, 0.0, 0.0), unit="m",
                                                     doc="where B = B0 for field = 'linear'")
    tip_magnetization: float = param(1.0, unit="T", doc="mu0 M of the tip, along +z (tip fields)",
                                     check=positive)
    tip_field_degree: int = param(2, doc="polynomial degree of the FEM tip potential",
                                  check=in_range(1, 3))
    # Initial state (physics.md 2.4 Fig. 8 scenario: uniform rho1, step-like rho2)
    initial_dipolar_order: float = param(0.0, doc="rho1 at t = 0 (uniform)", check=polarization)
    initial_polarization: float = param(0.0, doc="rho2 at t = 0 outside the region / left of the "
                                        "step", check=polarization)
    initial_profile: Literal["uniform", "step", "ball", "box", "resonant_slice"] = param(
        "uniform", doc="rho2 at t = 0: uniform, step along step_axis, a ball/box region, or the "
        "resonant slice |B(x) - resonant_field| <= slice_half_width (inverted by an MRFM sweep)")
    resonant_field: float = param(0.0, unit="T", doc="centre field of the resonant slice (with "
                                  "slice_half_width > 0 the time series adds its means P_slice and "
                                  "dipolar_slice, what MRFM detects)")
    slice_half_width: float = param(0.0, unit="T", doc="half width in field of the resonant slice",
                                    check=lambda v: None if v >= 0 else f"must be >= 0 (got {v})")
    region_polarization: float = param(0.0, doc="rho2 inside the region / right of the step",
                                       check=polarization)
    step_axis: int = param(0, doc="axis of the step (0, 1, 2)", check=in_range(0, 2))
    step_position: float = param(0.0, unit="m", doc="position of the step along step_axis")
    step_width: float = param(0.0, unit="m", doc="width of a tanh-smoothed step (0: sharp)",
                              check=lambda v: None if v >= 0 else f"must be >= 0 (got {v})")
    region_center: tuple[float, float, float] = param((0.0, 0.0, 0.0), unit="m", doc="ball centre")
    region_radius: float = param(0.0, unit="m", doc="ball radius",
                                 check=lambda v: None if v >= 0 else f"must be >= 0 (got {v})")
    region_lower: tuple[float, float, float] = param((0.0, 0.0, 0.0), unit="m", doc="box lower corner")
    region_upper: tuple[float, float, float] = param((0.0, 0.0, 0.0), unit="m", doc="box upper corner")
    quadrature_degree: int = param(2, doc="Gauss rule of the flux terms", check=in_range(1, 8))

    def __post_init__(self):
        from fem_spin.units import number_density

        # values with units and the Dougherty defaults, normalised once at construction
        setattr_ = object.__setattr__
        setattr_(self, "spin_density", number_density(self.spin_density))
        regions = {}
        # a species of a mixture may be absent from a region (0); one species may not
        check, convert = ((_nonnegative_density_check, nonnegative_density) if self.regions_may_be_empty
                          else (_density_check, number_density))
        for name, value in self.spin_density_regions.items():
            problem = check(value)
            if problem:
                raise ConfigError(f"spin_density_regions.{name}", problem)
            regions[name] = convert(value)
        setattr_(self, "spin_density_regions", regions)
        B_d, Gamma = dougherty_parameters(self.spin_density, self.gyromagnetic_ratio)
        if self.dipolar_field is None:
            setattr_(self, "dipolar_field", B_d)
        if not self.dipolar_field > 0:
            raise ConfigError("dipolar_field", f"must be > 0 (got {self.dipolar_field})")
        if self.dipolar_field > 0.1:
            raise ConfigError("dipolar_field", f"{self.dipolar_field:g} T is not a dipolar field "
                                               f"(nuclear dipolar fields are ~1e-4 T): give it in tesla")
        if self.transport_coefficient is None:
            setattr_(self, "transport_coefficient", Gamma)
        problem = _spatial_tensor_check(self.transport_coefficient)
        if problem:
            raise ConfigError("transport_coefficient", problem)
        if np.max(self.transport_coefficient) > 1e-9:
            raise ConfigError("transport_coefficient", f"{np.max(self.transport_coefficient):g} m^2/s is "
                                                       f"not a spin-diffusion rate (~1e-16..1e-14 m^2/s)")
        if self.speedup == "local" and self.formulation != "nonlinear":
            raise ConfigError("speedup", "the local speed-up needs |rho2| < 1, which only the "
                                         "nonlinear formulation guarantees")
        rho1 = self.initial_dipolar_order
        for key, rho2 in (("initial_polarization", self.initial_polarization),
                          ("region_polarization", self.region_polarization)):
            if math.hypot(rho1, rho2) >= 1:
                raise ConfigError(key, f"|rho| = sqrt(rho1^2 + rho2^2) = {math.hypot(rho1, rho2):.4g} "
                                       f"must be < 1 (with initial_dipolar_order = {rho1})")
        if self.initial_profile == "ball" and not self.region_radius > 0:
            raise ConfigError("region_radius", "must be > 0 for initial_profile = 'ball'")
        if self.initial_profile == "box" and not all(u > lo for lo, u in zip(self.region_lower,
                                                                            self.region_upper)):
            raise ConfigError("region_upper", "must exceed region_lower in every direction")
        if self.initial_profile == "resonant_slice" and not (self.resonant_field > 0
                                                             and self.slice_half_width > 0):
            raise ConfigError("resonant_field", "initial_profile = 'resonant_slice' needs "
                                                "resonant_field > 0 and slice_half_width > 0 (T)")

    def unknowns_per_node(self) -> int:
        """rho1 (dipolar order) and rho2 (Zeeman polarization)."""
        return 2

    @property
    def regions_may_be_empty(self) -> bool:
        """Whether spin_density_regions may hold 0 (a mixture's species absent from a region)."""
        return False

    @property
    def has_resonant_slice(self) -> bool:
        """A resonant slice is configured (inverted by the initial state or only detected)."""
        return self.resonant_field > 0 and self.slice_half_width > 0

    def check_against(self, geometry, time) -> None:
        if geometry.radial:
            raise ConfigError("geometry.type", "onsager_transport needs a Cartesian mesh (interval, "
                                               "rectangle, box, mrfm_film, msh), not the radial cell")
        if geometry.is_periodic:
            raise ConfigError("geometry.periodic", "onsager_transport has no-flux boundaries; a field "
                                                   "gradient is not periodic")
        if self.field in ("sphere_tip", "fem_tip"):
            if not geometry.has_tip:
                raise ConfigError("model.field", f"{self.field!r} needs geometry.type = 'mrfm_film' "
                                                 f"(the tip is part of that geometry)")
            if self.field == "sphere_tip" and geometry.tip_shape != "sphere":
                raise ConfigError("model.field", "'sphere_tip' needs geometry.tip_shape = 'sphere' "
                                                 "(use 'fem_tip' for other shapes)")
        self._warn_initial_state_outside(geometry)

    def _warn_initial_state_outside(self, geometry) -> None:
        """A ball/box region entirely outside the sample, or a step beyond it, is accepted
        (the whole sample starts at one polarization) but almost certainly a slip: warn."""
        if self.initial_profile in ("ball", "box"):
            warn_if_region_outside(geometry, self.initial_profile, self.region_center,
                                   self.region_radius, self.region_lower, self.region_upper,
                                   self.initial_polarization)
        bounds = geometry.sample_bounds()
        if self.initial_profile == "step" and bounds is not None:
            lo, hi = (b[self.step_axis] for b in bounds)
            blur = 3.0 * self.step_width      # a smooth step reaches a few widths
            if not lo - blur < self.step_position < hi + blur:
                side = "region_polarization" if self.step_position <= lo else "initial_polarization"
                warn("model.step_position", f"the step at {self.step_position:g} m lies outside the "
                                            f"sample ({lo:g} to {hi:g} m along axis {self.step_axis}): "
                                            f"the whole sample starts at {side}")

    @property
    def magnetic_moment(self) -> float:
        """mu = hbar gamma / 2 (J/T), spin 1/2."""
        return 0.5 * HBAR * self.gyromagnetic_ratio

    def fenske_length(self) -> float:
        """B_d/|grad B| of the linear field (m), the natural length of separation (inf if uniform)."""
        g = float(np.linalg.norm(self.field_gradient))
        return self.dipolar_field / g if self.field == "linear" and g > 0 else math.inf

    def initial_state(self) -> Callable[[np.ndarray], np.ndarray]:
        """rho(x, 0) as a vectorised function of points x (3, n) -> (2, n)."""
        rho1, outside, inside = self.initial_dipolar_order, self.initial_polarization, self.region_polarization

        region = regions.region(self.initial_profile, self.region_center, self.region_radius,
                                self.region_lower, self.region_upper)

        def rho0(x: np.ndarray) -> np.ndarray:
            n = x.shape[1]
            if self.initial_profile == "step":
                weight = regions.step_weight(x, self.step_axis, self.step_position, self.step_width)
                rho2 = outside + (inside - outside) * weight
            else:   # ball, box; the empty region for uniform (resonant_slice: set on the nodes)
                rho2 = np.where(region(x), inside, outside)
            return np.vstack([np.full(n, rho1), rho2])

        return rho0
