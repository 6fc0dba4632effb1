r"""Onsager transport derived from an entropy: ``[model] type = "onsager_framework"``.

The general framework (fem_spin/physics/onsager.py, derivation in
docs/theory/onsager_framework.md) solved for the entropy variables, with its instances
registered in :data:`INSTANCES` (``model.instance``):

* ``two_quantity`` (instance 1, theory note section 2): one spin species, the magnetic moment
  and the total energy conserved, psi(Omega) = ln(2 cosh|Omega|), A = [[0, 1], [1, -(B - B0)/B_d]]
  with the scales (mu, mu B_d), channel rates (dipolar_rate_ratio, 1) and Gamma (with the
  speed-up). It is physics.md 2.2, the nonlinear formulation of ``onsager_transport``, derived
  instead of written out: the two agree to round-off (tests/system/test_onsager_framework.py).
* ``two_species`` (instance 2, theory note section 3): species a (the keys of
  ``onsager_transport``) and b (``second_*``), each Zeeman polarization conserved separately,
  one dipolar reservoir at a common inverse temperature, the total energy conserved:
  psi = x_a psi_1(theta, omega_a) + x_b psi_1(kappa theta, omega_b), three quantities
  (moment_a, moment_b, energy). Densities Delta_a(x), Delta_b(x) uniform, per cell group
  (``spin_density_regions``, ``second_spin_density_regions``) or UFL expressions of x (the
  problem's ``species_densities``), theory note 3.6; ``initial_dipolar_order`` is rho_0, the
  dipolar energy per spin of the mixture over mu_a B_da.

The energy total is referred to B0 (theory note 1.6): E = E_dipolar - (B - B0)(M_a + M_b), the
lab-frame energy plus B0 times the separately conserved moments, so that its documented scale
(B0 left out) is the scale of what is computed and "conserved to 1e-10 of its scale" holds.

The section takes every key of ``onsager_transport`` (field, spin density, initial state,
rates) and ``instance``; the semi-linear and linear comparison models stay in
``onsager_transport`` (they have no entropy to derive them from).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Literal

import numpy as np
from mpi4py import MPI

from fem_spin.config import ConfigError, param, polarization, positive, register_model
from fem_spin.errors import ModelError
from fem_spin.models.onsager import (BOLTZMANN, HBAR, OnsagerTransportConfig, OnsagerTransportProblem,
                                     _entropy_potential, _nonnegative_density_check, nonnegative_density)
from fem_spin.physics import onsager as framework

__all__ = ["OnsagerFrameworkConfig", "OnsagerFrameworkProblem", "INSTANCES", "two_quantity_system",
           "two_species_system"]


#: 19F, rad/(s T) (gamma/2pi = 40.078 MHz/T)
FLUORINE_GYROMAGNETIC_RATIO = 2.51815e8

#: a species whose nodal density is below this fraction of the largest mixture density is
#: absent there; its weight in psi is floored to it, so that its polarization stays defined
#: (frozen: it has no capacity to exchange) and C stays definite (theory note 3.6)
DENSITY_FLOOR = 1e-9


def _single_species_massieu(omega):
    """psi_1(Omega) = ln(2 cosh|Omega|), smooth at 0 (instance 1's closed form)."""
    import ufl

    return _entropy_potential(ufl.dot(omega, omega))


def two_quantity_system(problem) -> framework.OnsagerSystem:
    """Instance 1 (theory note section 2) for an ``OnsagerFrameworkProblem``."""
    p = problem.params
    # the energy referred to B0 (theory note 1.6): a constant row operation on A, which
    # leaves the connection A^-1 dA and so the residual unchanged
    B_over_Bd = (problem.field_magnitude - p.B0) / problem.B_d
    mu = p.magnetic_moment
    return framework.OnsagerSystem(
        components=("dipolar", "zeeman"),
        quantities=("moment", "energy"),
        massieu=_single_species_massieu,
        conserved_map=((0.0, 1.0), (1.0, -B_over_Bd)),
        quantity_scales=(mu, mu * float(p.dipolar_field)),
        channel_rates=(float(p.dipolar_rate_ratio), 1.0),
        transport=problem.transport_tensor(),
        keys={"entropy": "model.instance", "conserved_map": "model.dipolar_field",
              "channel_rates": "model.dipolar_rate_ratio"})


def two_species_system(problem) -> framework.OnsagerSystem:
    """Instance 2 (theory note section 3): species a (the onsager_transport keys) and b (the
    second_* keys) with separately conserved moments and one dipolar reservoir; the
    components are (dipolar, zeeman_a, zeeman_b) per spin of the mixture."""
    p = problem.params
    (x_a, x_b), kappa = problem.fraction_coefficients, problem.kappa
    mu_a, mu_b = p.magnetic_moment, p.second_magnetic_moment
    B_over_Bd = (problem.field_magnitude - p.B0) / problem.B_d     # energy referred to B0

    def psi(omega):
        import ufl

        a = ufl.as_vector([omega[0], omega[1]])
        b = ufl.as_vector([kappa * omega[0], omega[2]])
        return x_a * _single_species_massieu(a) + x_b * _single_species_massieu(b)

    return framework.OnsagerSystem(
        components=("dipolar", "zeeman_a", "zeeman_b"),
        quantities=("moment_a", "moment_b", "energy"),
        massieu=psi,
        conserved_map=((0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (1.0, -B_over_Bd, -(mu_b / mu_a) * B_over_Bd)),
        quantity_scales=(mu_a, mu_b, mu_a * float(p.dipolar_field)),
        channel_rates=(float(p.dipolar_rate_ratio), 1.0, float(p.second_rate_ratio)),
        transport=problem.transport_tensor(),
        keys={"entropy": "model.instance", "conserved_map": "model.second_gyromagnetic_ratio",
              "channel_rates": "model.second_rate_ratio"})


#: model.instance -> builder of its OnsagerSystem from the problem (fields, Delta, B_d ready)
INSTANCES: dict[str, Callable] = {"two_quantity": two_quantity_system,
                                  "two_species": two_species_system}


class OnsagerFrameworkProblem(OnsagerTransportProblem):
    """The framework's residual, totals and entropy for the instance ``model.instance``; the
    field, the spin density and the initial state are ``onsager_transport``'s.

    ``species_densities`` (two species): a function of the UFL SpatialCoordinate x returning
    (Delta_a(x), Delta_b(x)) in 1/m^3 as UFL expressions; it replaces the densities of the
    configuration (theory note 3.6)."""

    entropy_variables = True   # the unknowns are always Omega

    def __init__(self, config, comm=None, mesh_data=None, initial_state=None, field_function=None,
                 system_builder: Callable | None = None, species_densities: Callable | None = None):
        super().__init__(config, comm, mesh_data, initial_state, field_function)
        self._system_builder = system_builder or INSTANCES[self.params.instance]
        self._given_initial = initial_state
        self._species_densities = species_densities
        p = self.params
        self.two_species = p.instance == "two_species"
        self.size = 3 if self.two_species else 2
        if self.two_species:
            # uniform densities keep today's arithmetic (a number x_a, x_b = 1 - x_a); anything
            # else becomes nodal fractions (define_species_densities)
            self.uniform_species = species_densities is None and not (p.spin_density_regions
                                                                      or p.second_spin_density_regions)
            densities = (float(p.spin_density), float(p.second_spin_density))
            self.species_fraction = densities[0] / sum(densities) if self.uniform_species else None
            self.kappa = (p.second_magnetic_moment * float(p.second_dipolar_field)
                          / (p.magnetic_moment * float(p.dipolar_field)))
            self.observable_names = ("P_mean", "P_min", "P_max", "Pb_mean", "Pb_min", "Pb_max",
                                     "dipolar_mean", "rho_max", "moment_a", "moment_b", "energy",
                                     "entropy")

    # ------------------------------------------------------------------ pipeline steps
    def define_function_spaces(self) -> None:
        import dolfinx.fem as fem

        if not self.two_species:
            return super().define_function_spaces()
        super().define_function_spaces()
        self.V = fem.functionspace(self.mesh, ("Lagrange", 1, (self.size,)))
        self.u = fem.Function(self.V, name="entropy_variables")
        self.u_n = fem.Function(self.V, name="previous_state")
        self.second_polarization_out = fem.Function(self.V0, name="second_polarization")

    def define_species_densities(self) -> None:
        """The species fractions of psi (theory note 3.6): x_k = Delta_k/Delta_ref with Delta_ref
        the largest mixture density, nodal values the lumped averages int Delta_k phi_i /
        int phi_i (what the vertex rule of the capacity term sees: exact per-species lumped
        weights for cell-wise Delta_k), floored at DENSITY_FLOOR where a species is absent.
        Sets ``fractions`` (local nodal arrays, ghosts included), ``present`` (nodal masks),
        ``fraction_coefficients`` (for psi: numbers, or P1 Functions) and ``reference_total``."""
        import dolfinx.fem as fem

        from fem_spin.physics import terms

        p = self.params
        n_local = len(self.V0.tabulate_dof_coordinates())
        if self.uniform_species:
            x_a = self.species_fraction
            self.reference_total = float(p.spin_density) + float(p.second_spin_density)
            self.fraction_coefficients = (x_a, 1.0 - x_a)
            self.fractions = (np.full(n_local, x_a), np.full(n_local, 1.0 - x_a))
            self.present = (np.ones(n_local, bool), np.ones(n_local, bool))
            return
        if self._species_densities is not None:
            import ufl

            sources = self._species_densities(ufl.SpatialCoordinate(self.mesh))
            keys = ("species_densities", "species_densities")
        else:
            sources = (terms.cell_group_function(self.mesh, self.mesh_data, p.spin_density_regions,
                                                 float(p.spin_density), "density_a",
                                                 key="model.spin_density_regions"),
                       terms.cell_group_function(self.mesh, self.mesh_data, p.second_spin_density_regions,
                                                 float(p.second_spin_density), "density_b",
                                                 key="model.second_spin_density_regions"))
            keys = ("model.spin_density_regions", "model.second_spin_density_regions")
        volume = terms.lumped_masses(self.V0, fem.Constant(self.mesh, 1.0), self.dx_lumped)
        nodal = []
        for source, key, name in zip(sources, keys, ("a", "b")):
            f = fem.Function(self.V0)
            if not isinstance(source, fem.Function):
                import ufl

                source = ufl.as_ufl(source)
            # an expression UFL simplifies to zero has no form to assemble: zero everywhere
            if not isinstance(source, ufl.constantvalue.Zero if not isinstance(source, fem.Function)
                              else ()):
                f.x.array[: len(volume)] = terms.lumped_masses(self.V0, source, self.dx_lumped) / volume
            f.x.scatter_forward()
            if self.global_min(f.x.array) < 0 or not np.all(np.isfinite(f.x.array)):
                raise ModelError(f"the density of species {name} is negative (or not finite) somewhere",
                                 key=key)
            if not self.global_max(f.x.array) > 0:
                raise ModelError(f"species {name} has zero density everywhere (for one species use "
                                 f"instance = 'two_quantity')", key=key)
            nodal.append(f.x.array.copy())
        self.reference_total = self.global_max(nodal[0] + nodal[1])
        floor = DENSITY_FLOOR * self.reference_total
        self.present = tuple(d > floor for d in nodal)
        self.fractions = tuple(np.maximum(d, floor) / self.reference_total for d in nodal)
        coefficients = []
        for k, x in enumerate(self.fractions):
            f = fem.Function(self.V0, name=f"species_fraction_{'ab'[k]}")
            f.x.array[:] = x
            coefficients.append(f)
        self.fraction_coefficients = tuple(coefficients)

    def owned_fractions(self) -> tuple[np.ndarray, np.ndarray]:
        """(x_a, x_b) at the owned nodes (numbers for uniform densities: today's arithmetic)."""
        if self.uniform_species:
            return self.species_fraction, 1.0 - self.species_fraction
        return tuple(self.owned_nodal(x) for x in self.fractions)

    def define_spin_density(self):
        """The weight of the residual: Delta_ref, uniform, for two species (their densities are
        in psi's fractions); Delta(x) for one."""
        if not self.two_species:
            return super().define_spin_density()
        from fem_spin.physics import terms

        return terms.cell_group_function(self.mesh, self.mesh_data, {}, self.reference_total, "spin_density")

    def define_initial_condition(self) -> None:
        if not self.two_species:
            return super().define_initial_condition()
        from fem_spin.analytic import onsager_two_species as two

        self.define_field()
        self.define_species_densities()
        p, kappa = self.params, self.kappa
        x_a, x_b = self.fractions
        points = self.V0.tabulate_dof_coordinates().T                 # (3, local nodes)
        if self._given_initial is not None:
            rho = np.asarray(self._given_initial(points), dtype=float)   # rho per reference spin
        else:
            first = p.initial_state()(points)
            second = dataclasses.replace(p, initial_polarization=p.second_initial_polarization,
                                         region_polarization=p.second_region_polarization,
                                         instance="two_quantity", spin_density_regions={},
                                         second_spin_density_regions={}).initial_state()(points)
            # initial_dipolar_order is per spin of the mixture; rho_0 is per reference spin
            mixture = 1.0 if self.uniform_species else x_a + x_b
            rho = np.vstack([first[0] * mixture, x_a * first[1], x_b * second[1]])
        if not np.all(two.admissible(rho, x_a, kappa, x_b)):
            raise ModelError("the initial state is not a state of the two-species mixture "
                             "(|p_a|, |p_b| < 1 and |initial_dipolar_order| within what the "
                             "species can hold at those polarizations)",
                             key="model.initial_dipolar_order")
        self.u.x.array[:] = two.potentials(rho, x_a, kappa, x_b=x_b).T.ravel()
        self.u.x.scatter_forward()
        self.u_n.x.array[:] = self.u.x.array
        self.spin_density = self.define_spin_density()
        self.reference_density = self.global_max(self.spin_density.x.array)

    # ------------------------------------------------------------------ physics
    def density(self, u):
        return self.forms.density(u)

    def covariance(self, u):
        return self.forms.covariance(u)

    def define_framework(self) -> None:
        """The system and its derived forms, checked (concave entropy, regular A)."""
        import dolfinx.fem as fem

        self.B_d = fem.Constant(self.mesh, float(self.params.dipolar_field))
        # transport_tensor() may use self.density (local speed-up): forms first, then the system
        self.forms = None
        self.system = self._system_builder(self)
        self.forms = framework.OnsagerForms(self.system, self.mesh)
        self.forms.check(self.V0)

    def transport_tensor(self):
        import dolfinx.fem as fem
        import ufl

        from fem_spin.physics import terms

        mode = self.params.speedup
        L = terms.diffusion_tensor(self.mesh, self.params.transport_coefficient)
        if self.two_species:
            return fem.Constant(self.mesh, 1.0) * L
        if mode == "local":
            # f = 1/sqrt(1 - rho2^2) with rho from the single-species psi (instance 1)
            w = ufl.variable(self.u)
            rho2 = -ufl.diff(_single_species_massieu(w), w)[1]
            return 1 / ufl.sqrt(1 - rho2 * rho2) * L
        factor = 1.0
        if mode == "global":
            factor = 1.0 / math.sqrt(1.0 - self.mean_polarization() ** 2)
        return fem.Constant(self.mesh, factor) * L

    def create_formulation(self) -> None:
        import dolfinx.fem as fem
        import ufl

        p, mesh = self.params, self.mesh
        self.dt = fem.Constant(mesh, self.config.time.dt_initial)
        self.time = fem.Constant(mesh, 0.0)
        Delta = self.spin_density
        from fem_spin.physics import observables, terms

        self.weights = terms.lumped_masses(self.V0, Delta, self.dx_lumped)
        self.statistics = observables.LumpedStatistics(self.comm, self.weights)
        self.total_weight = self.statistics.volume
        if self.two_species:
            self._species_statistics()
        self._evaluate_rho = None
        self.define_framework()
        forms = self.forms
        self._evaluate_rho = framework.NodalEvaluator(self.u, forms.density(self.u), self.V)
        self._evaluate_s = framework.NodalEvaluator(self.u, forms.entropy(self.u), self.V0)
        # q_old of the first step (define_capacity_history ran before the forms existed)
        self.capacity_old.x.array[:] = self.capacity_nodal(self.u_n.x.array)
        self.A_nodal = framework.conserved_map_nodal(self.system, self.V0)[: len(self.weights)]
        volume = self.integrate(fem.form(fem.Constant(mesh, 1.0) * self.dx_lumped))
        v = ufl.TestFunction(self.V)
        F = forms.residual(self.u, self.capacity_old, v, Delta, self.dt, self.dx_lumped, self.dx_flux)
        num_cells = mesh.topology.index_map(mesh.topology.dim).size_global
        self.F = fem.Constant(mesh, num_cells / (volume * self.reference_density)) * F
        self.initial_totals = self.totals()
        spread = self.global_max(np.abs(self.field_magnitude.x.array - p.B0))
        if self.two_species:
            # fully polarized species, dipolar fields plus the field's spread: the scale of the
            # energy referred to B0 (theory note 1.6)
            W_a, W_b = self.species_statistics[0].volume, self.species_statistics[1].volume
            M_a, M_b = p.magnetic_moment * W_a, p.second_magnetic_moment * W_b
            self.total_scales = {"moment_a": M_a, "moment_b": M_b, "energy": (M_a + M_b) * (
                max(float(p.dipolar_field), float(p.second_dipolar_field)) + spread)}
        else:
            full = p.magnetic_moment * self.total_weight
            self.total_scales = {"moment": full, "energy": full * (float(p.dipolar_field) + spread)}

    def _species_statistics(self) -> None:
        """Per-species statistics: masses w_i x_k,i (Delta_k-weighted means), and the masks of
        the owned nodes where each species is present (min and max are taken there); the
        mixture's masses w_i (x_a + x_b)_i for the dipolar mean per spin of the mixture."""
        from fem_spin.physics import observables

        if self.uniform_species:
            # today's arithmetic: the mixture weights serve both species
            self.species_statistics = (self.statistics, self.statistics)
            self.mixture_statistics = self.statistics
            self.owned_present = (slice(None), slice(None))
            return
        x_a, x_b = self.owned_fractions()
        self.species_statistics = tuple(observables.LumpedStatistics(self.comm, self.weights * x)
                                        for x in (x_a, x_b))
        self.mixture_statistics = observables.LumpedStatistics(self.comm, self.weights * (x_a + x_b))
        self.owned_present = tuple(self.owned_nodal(m) for m in self.present)

    # ------------------------------------------------------------------ nodal values
    def _rho_nodal(self, u_values: np.ndarray | None = None) -> np.ndarray:
        """rho at the local nodes, interleaved like u's dofs."""
        return self._evaluate_rho(u_values)

    def nodal_state(self) -> np.ndarray:
        n = self.size
        if getattr(self, "_evaluate_rho", None) is None:   # before the formulation exists
            return super().nodal_state()
        return self.owned(self._rho_nodal()).reshape(-1, n).T

    def define_capacity_history(self) -> None:
        """capacity_old as a Function; filled by create_formulation (rho(Omega) is derived)."""
        import dolfinx.fem as fem

        self.capacity_old = fem.Function(self.u.function_space, name="capacity_history")

    def capacity_nodal(self, u_values: np.ndarray) -> np.ndarray:
        return self._rho_nodal(u_values)[: len(u_values)]

    def totals(self, omega: np.ndarray | None = None) -> dict[str, float]:
        """Every conserved total Q_k = scale_k sum_i w_i (A(x_i) rho_i)_k and the entropy
        k_B sum_i w_i s_i (J/K) (theory note 1.4-1.5), of the state or of the potentials
        ``omega`` at the owned nodes, interleaved like u's dofs. The energy is referred to B0
        (theory note 1.6)."""
        n = self.size
        rho = (self.nodal_state() if omega is None
               else self.owned(self._rho_nodal(omega)).reshape(-1, n).T)      # (N, n)
        q = np.einsum("irc,ci->ri", self.A_nodal, rho)           # (N, n)
        s = self.owned_nodal(self._evaluate_s(omega))
        local = np.concatenate([q @ self.weights * np.asarray(self.system.quantity_scales),
                                [BOLTZMANN * float(np.dot(self.weights, s))]])
        total = np.empty_like(local)
        self.comm.Allreduce(local, total, op=MPI.SUM)
        out = {name: float(total[k]) for k, name in enumerate(self.system.quantities)}
        out["entropy"] = float(total[-1]) if np.isfinite(total[-1]) else math.nan
        return out

    def mean_polarization(self) -> float:
        if getattr(self, "_evaluate_rho", None) is None:
            return super().mean_polarization()
        if not self.two_species:
            return self.statistics.mean(self.nodal_state()[1])
        return self.species_statistics[0].mean(self.species_polarizations()[0])

    def species_polarizations(self) -> tuple[np.ndarray, np.ndarray]:
        """(p_a, p_b) at the owned nodes (two species; where a species is absent, the frozen
        value of its floored weight, theory note 3.6)."""
        rho = self.nodal_state()
        x_a, x_b = self.owned_fractions()
        return rho[1] / x_a, rho[2] / x_b

    def observables(self) -> dict[str, float]:
        if not self.two_species:
            return super().observables()
        from fem_spin.analytic import onsager_two_species as two

        rho = self.nodal_state()
        p_a, p_b = self.species_polarizations()
        omega = self.owned(self.u.x.array).reshape(-1, 3).T
        (ra, pa), (rb, pb) = two.species_state(omega, self.kappa)
        (stat_a, stat_b), (in_a, in_b) = self.species_statistics, self.owned_present
        return {"P_mean": stat_a.mean(p_a), "P_min": stat_a.min(p_a[in_a]), "P_max": stat_a.max(p_a[in_a]),
                "Pb_mean": stat_b.mean(p_b), "Pb_min": stat_b.min(p_b[in_b]), "Pb_max": stat_b.max(p_b[in_b]),
                "dipolar_mean": self.mixture_statistics.mean(rho[0]),
                "rho_max": self.statistics.max(np.concatenate([np.hypot(ra, pa)[in_a], np.hypot(rb, pb)[in_b]])),
                **self.totals()}

    def conserved_quantities(self) -> tuple[str, ...]:
        return tuple(self.system.quantities)

    def equilibrium(self):
        """(theta, omega0 or (omega_a0, omega_b0), rho at the owned nodes): the maximum of the
        total entropy at the run's initial totals (theory note 1.6, 3.2; for two species
        ``onsager_two_species.equilibrium_from_totals`` with the nodal fractions), B_ref = B0."""
        from fem_spin.analytic import onsager
        from fem_spin.analytic import onsager_two_species as two

        p = self.params
        B = self.owned_nodal(self.field_magnitude.x.array)
        Bs, ws = self.comm.allgather(B), self.comm.allgather(self.weights)
        start = sum(len(b) for b in Bs[: self.comm.rank])
        if not self.two_species:
            # the energy is referred to B0: the lab-frame total is E - B0 M
            mu, M, E = p.magnetic_moment, self.initial_totals["moment"], self.initial_totals["energy"]
            theta, omega0, rho = onsager.equilibrium_from_totals(
                np.concatenate(Bs), np.concatenate(ws), float(p.dipolar_field), M / mu,
                E / mu - p.B0 * M / mu, B_ref=p.B0)
            return theta, omega0, rho[:, start:start + len(B)]
        totals = [self.initial_totals[name] / scale for name, scale
                  in zip(self.system.quantities, self.system.quantity_scales)]
        x_a, x_b = self.owned_fractions()
        if not self.uniform_species:
            x_a, x_b = (np.concatenate(self.comm.allgather(x)) for x in (x_a, x_b))
        eq = two.equilibrium_from_totals(np.concatenate(Bs), np.concatenate(ws), float(p.dipolar_field),
                                         x_a, self.kappa, p.second_gyromagnetic_ratio / p.gyromagnetic_ratio,
                                         totals, B_ref=p.B0, x_b=x_b, referred=True)
        return eq.theta, (eq.omega_a0, eq.omega_b0), eq.rho[:, start:start + len(B)]

    def nodal_potentials(self, rho: np.ndarray) -> np.ndarray:
        """Omega (N, n) of the states rho (N, n) at the owned nodes: the inverse of rho(Omega)
        for the instance."""
        if self.two_species:
            from fem_spin.analytic import onsager_two_species as two

            x_a, x_b = self.owned_fractions()
            return two.potentials(rho, x_a, self.kappa, x_b=x_b)
        from fem_spin.analytic import onsager

        return onsager.potentials(rho)

    def equilibrium_state(self) -> tuple[dict[str, float], np.ndarray]:
        """({potential: value} at B_ref = B0, rho at the owned nodes) of the maximum of the
        total entropy at the run's initial totals (theory note 1.6; section 3.2 for two
        species)."""
        if self.two_species:
            theta, (omega_a0, omega_b0), rho = self.equilibrium()
            return {"theta": theta, "omega_a0": omega_a0, "omega_b0": omega_b0}, rho
        theta, omega0, rho = self.equilibrium()
        return {"theta": theta, "omega0": omega0}, rho

    def write_extra_outputs(self, directory, times) -> None:
        """equilibrium.json and equilibrium_profiles.csv (theory note 1.6): the equilibrium
        of the conserved totals, for every instance. The JSON holds its potentials at B_ref =
        B0 (theta = beta mu_a B_da, and per species omega_0), the largest nodal distance
        |rho - rho_eq| of the final state, and per conserved quantity its total at t = 0, at
        the end and of the equilibrium (equal to t = 0: a check of the solve) with its scale,
        the entropy of the three states, and the range of each species' polarization at the
        equilibrium (its separative contrast). The CSV holds rho_eq along the probe line of
        the profiles (profiles*.csv), one column per density."""
        from fem_spin.io.outputs import write_json_atomic

        names = ("dipolar_order", "polarization", "second_polarization")[: self.size]
        try:
            potentials, rho_eq = self.equilibrium_state()
        except ValueError as exc:      # no state of the mixture holds these totals
            if self.comm.rank == 0:
                write_json_atomic(directory / "equilibrium.json", {
                    "instance": self.params.instance, "B_ref_T": self.params.B0, "note": str(exc)})
            return
        omega_eq = self.nodal_potentials(rho_eq)
        final, equilibrium = self.totals(), self.totals(omega_eq.T.ravel())
        distance = self.global_max(np.abs(self.nodal_state() - rho_eq).ravel())
        fractions = self.owned_fractions() if self.two_species else (1.0,)
        present = self.owned_present if self.two_species else (slice(None),)
        mixture = self.mixture_statistics if self.two_species else self.statistics
        ranges = {"dipolar_order_mean": mixture.mean(rho_eq[0])}
        for k, (prefix, x, inside) in enumerate(zip(("P", "Pb"), fractions, present)):
            p = (rho_eq[k + 1] / x)[inside]
            ranges.update({f"{prefix}_min": self.statistics.min(p), f"{prefix}_max": self.statistics.max(p)})
        # rho_eq on the probe line: P1 functions filled at the owned nodes
        import dolfinx.fem as fem

        line = self.profile_probe()[0]
        columns = []
        for k in range(self.size):
            f = fem.Function(self.V0)
            n = rho_eq.shape[1]
            f.x.array[:n] = rho_eq[k] / (fractions[k - 1] if k else 1.0)
            f.x.scatter_forward()
            columns.append(line.evaluate(f))
        if self.comm.rank != 0:
            return
        quantities = {name: {"initial": self.initial_totals[name], "final": final[name],
                             "equilibrium": equilibrium[name], "scale": self.total_scales[name]}
                      for name in self.system.quantities}
        data = {"instance": self.params.instance, **potentials, "B_ref_T": self.params.B0,
                "max_distance_to_equilibrium": distance,
                "conserved_totals": quantities,
                "entropy_J_per_K": {"initial": self.initial_totals["entropy"], "final": final["entropy"],
                                    "equilibrium": equilibrium["entropy"]},
                "equilibrium_range": ranges,
                "note": "the maximum of the total entropy at the initial totals ("
                        + ", ".join(self.system.quantities) + "); totals in J/T (moments) and J "
                        "(energy, referred to B0: dipolar plus Zeeman energy in B - B0; the lab-frame "
                        "energy is it minus B0 times the moments), scales: their fully polarized "
                        "values; polarizations per species (p = rho_k / x_k), ranges where the "
                        "species is present"}
        write_json_atomic(directory / "equilibrium.json", data)
        header = "distance_m," + ",".join(names)
        np.savetxt(directory / "equilibrium_profiles.csv", np.column_stack([line.distance, *columns]),
                   delimiter=",", header=header, comments="", fmt="%.10g")

    def extra_profile_probes(self) -> dict:
        probes = super().extra_profile_probes()
        if self.two_species:
            probes["second_polarization"] = self.x_axis_probe(self.second_polarization_out, 401)
        return probes

    def output_functions(self) -> list:
        extra = [self.second_polarization_out] if self.two_species else []
        return super().output_functions() + extra

    def update_output_functions(self) -> None:
        rho = self._rho_nodal().reshape(-1, self.size).T
        self.dipolar_out.x.array[:] = rho[0]
        if self.two_species:
            # where a species is absent its (frozen, floored) polarization is drawn as 0
            (x_a, x_b), (in_a, in_b) = self.fractions, self.present
            self.polarization_out.x.array[:] = np.where(in_a, rho[1] / x_a, 0.0)
            self.second_polarization_out.x.array[:] = np.where(in_b, rho[2] / x_b, 0.0)
        else:
            self.polarization_out.x.array[:] = rho[1]


@register_model("onsager_framework", problem=OnsagerFrameworkProblem)
@dataclasses.dataclass(frozen=True)
class OnsagerFrameworkConfig(OnsagerTransportConfig):
    """[model] type = "onsager_framework": the Onsager framework's instances
    (docs/theory/onsager_framework.md); the keys of onsager_transport and ``instance``."""

    instance: Literal["two_quantity", "two_species"] = param(
        "two_quantity", doc="the system derived from its entropy: two_quantity (one species, "
        "moment and energy; = onsager_transport's nonlinear formulation) or two_species (species "
        "a: the keys above, species b: the second_* keys; moments conserved separately, one "
        "dipolar reservoir)")
    second_spin_density: float | str | None = param(
        None, unit="1/m^3", doc="density Delta_b of the second species (two_species; >= 0: 0 with "
        "second_spin_density_regions for species b only in some cell groups)",
        check=_nonnegative_density_check)
    second_spin_density_regions: dict = param(
        default_factory=dict, unit="1/m^3", doc="Delta_b per cell group {name = value >= 0} "
        "(two_species; second_spin_density elsewhere). For two_species spin_density_regions gives "
        "Delta_a per cell group and may hold 0 too (a species absent from a region: theory note 3.6)")
    second_gyromagnetic_ratio: float = param(FLUORINE_GYROMAGNETIC_RATIO, unit="rad/(s T)",
                                             doc="gamma_b of the second species (default 19F)",
                                             check=positive)
    second_dipolar_field: float | None = param(None, unit="T", doc="local dipolar field B_db of "
                                               "the second species' share of the reservoir "
                                               "(default: dipolar_field)")
    second_rate_ratio: float = param(1.0, doc="Gamma_b/Gamma: the second species' Zeeman "
                                     "transport rate relative to transport_coefficient",
                                     check=positive)
    second_initial_polarization: float = param(0.0, doc="p_b at t = 0 where species a has "
                                               "initial_polarization", check=polarization)
    second_region_polarization: float = param(0.0, doc="p_b at t = 0 where species a has "
                                              "region_polarization", check=polarization)

    @property
    def regions_may_be_empty(self) -> bool:
        """A species of the mixture may be absent from a cell group (theory note 3.6)."""
        return self.instance == "two_species"

    def __post_init__(self):
        super().__post_init__()
        if self.formulation != "nonlinear":
            raise ConfigError("formulation", "the framework derives the nonlinear (entropy-variable) "
                                             "model; the semi-linear and linear comparison models are "
                                             "onsager_transport's")
        if self.second_spin_density is not None:
            object.__setattr__(self, "second_spin_density", nonnegative_density(self.second_spin_density))
        regions = {}
        for name, value in self.second_spin_density_regions.items():
            problem = _nonnegative_density_check(value)
            if problem:
                raise ConfigError(f"second_spin_density_regions.{name}", problem)
            regions[name] = nonnegative_density(value)
        object.__setattr__(self, "second_spin_density_regions", regions)
        if self.second_dipolar_field is None:
            object.__setattr__(self, "second_dipolar_field", self.dipolar_field)
        if not 0 < self.second_dipolar_field <= 0.1:
            raise ConfigError("second_dipolar_field", f"must be a dipolar field in tesla, > 0 and "
                                                      f"<= 0.1 (got {self.second_dipolar_field})")
        if self.instance != "two_species":
            if regions:
                raise ConfigError("second_spin_density_regions", "only with instance = 'two_species'")
            return
        if self.second_spin_density is None:
            raise ConfigError("second_spin_density", "instance = 'two_species' needs the density "
                                                     "of the second species (>= 0)")
        # a species absent everywhere is decidable here when no cell group gives it a density
        # (with cell groups covering the whole mesh, the problem checks the nodal densities)
        # (spin_density itself, species a's default, is > 0 like onsager_transport's)
        if self.second_spin_density == 0 and not any(v > 0 for v in regions.values()):
            raise ConfigError("second_spin_density", "species b has zero density everywhere (for "
                                                     "one species use instance = 'two_quantity')")
        for key, value, allowed in (("speedup", self.speedup, "none"),
                                    ("initial_profile", self.initial_profile == "resonant_slice", False)):
            if value != allowed:
                raise ConfigError(key, "not available for instance = 'two_species' yet (no "
                                       "speed-up, no resonant slice)")

    def unknowns_per_node(self) -> int:
        return 3 if self.instance == "two_species" else 2

    @property
    def second_magnetic_moment(self) -> float:
        """mu_b = hbar gamma_b / 2 (J/T)."""
        return 0.5 * HBAR * self.second_gyromagnetic_ratio

