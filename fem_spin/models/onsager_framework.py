r"""Onsager transport derived from an entropy: ``[model] type = "onsager_framework"``.

The general framework (fem_spin/physics/onsager.py, derivation in
docs/theory/onsager_framework.md) solved for the entropy variables, with its instances
registered in :data:`INSTANCES` (``model.instance``):

* ``two_quantity`` (instance 1, theory note section 2): one spin species, the magnetic moment
  and the total energy conserved, psi(Omega) = ln(2 cosh|Omega|), A = [[0, 1], [1, -B/B_d]]
  with the scales (mu, mu B_d), channel rates (dipolar_rate_ratio, 1) and Gamma (with the
  speed-up). It is physics.md 2.2, the nonlinear formulation of ``onsager_transport``, derived
  instead of written out: the two agree to round-off (tests/system/test_onsager_framework.py).
* ``two_species`` (instance 2, theory note section 3): species a (the keys of
  ``onsager_transport``) and b (``second_*``), each Zeeman polarization conserved separately,
  one dipolar reservoir at a common inverse temperature, the total energy conserved:
  psi = x_a psi_1(theta, omega_a) + x_b psi_1(kappa theta, omega_b), three quantities
  (moment_a, moment_b, energy). Uniform densities; ``initial_dipolar_order`` is rho_0, the
  dipolar energy density over mu_a B_da (Delta_a + Delta_b).

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
                                     _density_check, _entropy_potential)
from fem_spin.physics import onsager as framework

__all__ = ["OnsagerFrameworkConfig", "OnsagerFrameworkProblem", "INSTANCES", "two_quantity_system",
           "two_species_system"]


#: 19F, rad/(s T) (gamma/2pi = 40.078 MHz/T)
FLUORINE_GYROMAGNETIC_RATIO = 2.51815e8


def _single_species_massieu(omega):
    """psi_1(Omega) = ln(2 cosh|Omega|), smooth at 0 (instance 1's closed form)."""
    import ufl

    return _entropy_potential(ufl.dot(omega, omega))


def two_quantity_system(problem) -> framework.OnsagerSystem:
    """Instance 1 (theory note section 2) for an ``OnsagerFrameworkProblem``."""
    p = problem.params
    B_over_Bd = problem.field_magnitude / problem.B_d
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
    x_a, kappa = problem.species_fraction, problem.kappa
    mu_a, mu_b = p.magnetic_moment, p.second_magnetic_moment
    B_over_Bd = problem.field_magnitude / problem.B_d

    def psi(omega):
        import ufl

        a = ufl.as_vector([omega[0], omega[1]])
        b = ufl.as_vector([kappa * omega[0], omega[2]])
        return x_a * _single_species_massieu(a) + (1.0 - x_a) * _single_species_massieu(b)

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
    field, the spin density and the initial state are ``onsager_transport``'s."""

    entropy_variables = True   # the unknowns are always Omega

    def __init__(self, config, comm=None, mesh_data=None, initial_state=None, field_function=None,
                 system_builder: Callable | None = None):
        super().__init__(config, comm, mesh_data, initial_state, field_function)
        self._system_builder = system_builder or INSTANCES[self.params.instance]
        self._given_initial = initial_state
        p = self.params
        self.two_species = p.instance == "two_species"
        self.size = 3 if self.two_species else 2
        if self.two_species:
            densities = (float(p.spin_density), float(p.second_spin_density))
            self.species_fraction = densities[0] / sum(densities)
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

    def define_spin_density(self):
        """Delta = Delta_a + Delta_b (uniform) for two species; Delta(x) for one."""
        if not self.two_species:
            return super().define_spin_density()
        from fem_spin.physics import terms

        p = self.params
        return terms.cell_group_function(self.mesh, self.mesh_data, {}, float(p.spin_density)
                                         + float(p.second_spin_density), "spin_density")

    def define_initial_condition(self) -> None:
        if not self.two_species:
            return super().define_initial_condition()
        from fem_spin.analytic import onsager_two_species as two

        self.define_field()
        p, x_a, kappa = self.params, self.species_fraction, self.kappa
        if self._given_initial is not None:
            rho0 = self._given_initial          # (3, n): the framework's rho (per spin of the mixture)
        else:
            first = p.initial_state()
            second = dataclasses.replace(p, initial_polarization=p.second_initial_polarization,
                                         region_polarization=p.second_region_polarization,
                                         instance="two_quantity").initial_state()

            def rho0(x):
                a, b = first(x), second(x)
                return np.vstack([a[0], x_a * a[1], (1 - x_a) * b[1]])

        def state(x):
            rho = np.asarray(rho0(x), dtype=float)
            if not np.all(two.admissible(rho, x_a, kappa)):
                raise ModelError("the initial state is not a state of the two-species mixture "
                                 "(|p_a|, |p_b| < 1 and |initial_dipolar_order| within what the "
                                 "species can hold at those polarizations)",
                                 key="model.initial_dipolar_order")
            return two.potentials(rho, x_a, kappa)

        self.u.interpolate(state)
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
            # fully polarized species, dipolar fields plus the field's spread (B0 times the
            # conserved moments left out, as for one species)
            W_a, W_b = self.species_fraction * self.total_weight, (1 - self.species_fraction) * self.total_weight
            M_a, M_b = p.magnetic_moment * W_a, p.second_magnetic_moment * W_b
            self.total_scales = {"moment_a": M_a, "moment_b": M_b, "energy": (M_a + M_b) * (
                max(float(p.dipolar_field), float(p.second_dipolar_field)) + spread)}
        else:
            full = p.magnetic_moment * self.total_weight
            self.total_scales = {"moment": full, "energy": full * (float(p.dipolar_field) + spread)}

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
        ``omega`` at the owned nodes, interleaved like u's dofs."""
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
        return self.statistics.mean(self.nodal_state()[1]) / (self.species_fraction
                                                                 if self.two_species else 1.0)

    def species_polarizations(self) -> tuple[np.ndarray, np.ndarray]:
        """(p_a, p_b) at the owned nodes (two species)."""
        rho = self.nodal_state()
        return rho[1] / self.species_fraction, rho[2] / (1 - self.species_fraction)

    def observables(self) -> dict[str, float]:
        if not self.two_species:
            return super().observables()
        from fem_spin.analytic import onsager_two_species as two

        rho = self.nodal_state()
        p_a, p_b = self.species_polarizations()
        omega = self.owned(self.u.x.array).reshape(-1, 3).T
        (ra, pa), (rb, pb) = two.species_state(omega, self.kappa)
        return {**self.statistics.statistics(p_a, "P"), **self.statistics.statistics(p_b, "Pb"),
                "dipolar_mean": self.statistics.mean(rho[0]),
                "rho_max": self.statistics.max(np.maximum(np.hypot(ra, pa), np.hypot(rb, pb))),
                **self.totals()}

    def conserved_quantities(self) -> tuple[str, ...]:
        return tuple(self.system.quantities)

    def equilibrium(self):
        """One species: onsager_transport's. Two species: (theta, (omega_a0, omega_b0), rho at
        the owned nodes), the maximum of the total entropy at the run's initial totals
        (theory note 1.6, 3.2; ``onsager_two_species.equilibrium_from_totals``), B_ref = B0."""
        if not self.two_species:
            return super().equilibrium()
        from fem_spin.analytic import onsager_two_species as two

        p = self.params
        B = self.owned_nodal(self.field_magnitude.x.array)
        Bs, ws = self.comm.allgather(B), self.comm.allgather(self.weights)
        totals = [self.initial_totals[name] / scale for name, scale
                  in zip(self.system.quantities, self.system.quantity_scales)]
        eq = two.equilibrium_from_totals(np.concatenate(Bs), np.concatenate(ws), float(p.dipolar_field),
                                         self.species_fraction, self.kappa,
                                         p.second_gyromagnetic_ratio / p.gyromagnetic_ratio, totals,
                                         B_ref=p.B0)
        start = sum(len(b) for b in Bs[: self.comm.rank])
        return eq.theta, (eq.omega_a0, eq.omega_b0), eq.rho[:, start:start + len(B)]

    def nodal_potentials(self, rho: np.ndarray) -> np.ndarray:
        """Omega (N, n) of the states rho (N, n): the inverse of rho(Omega) for the instance."""
        if self.two_species:
            from fem_spin.analytic import onsager_two_species as two

            return two.potentials(rho, self.species_fraction, self.kappa)
        from fem_spin.analytic import onsager

        return onsager.potentials(rho)

    def equilibrium_state(self) -> tuple[dict[str, float], np.ndarray]:
        """({potential: value} at B_ref = B0, rho at the owned nodes) of the maximum of the
        total entropy at the run's initial totals (theory note 1.6; section 3.2 for two
        species)."""
        if self.two_species:
            theta, (omega_a0, omega_b0), rho = self.equilibrium()
            return {"theta": theta, "omega_a0": omega_a0, "omega_b0": omega_b0}, rho
        theta, omega0, rho = super().equilibrium()
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
        fractions = (self.species_fraction, 1 - self.species_fraction) if self.two_species else (1.0,)
        ranges = {"dipolar_order_mean": self.statistics.mean(rho_eq[0])}
        for k, (prefix, x) in enumerate(zip(("P", "Pb"), fractions)):
            p = rho_eq[k + 1] / x
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
                        "(energy), scales: their fully polarized values (energy: B0 times the "
                        "moments left out); polarizations per species (p = rho_k / x_k)"}
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
            self.polarization_out.x.array[:] = rho[1] / self.species_fraction
            self.second_polarization_out.x.array[:] = rho[2] / (1 - self.species_fraction)
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
    second_spin_density: float | str | None = param(None, unit="1/m^3", doc="density Delta_b of the second "
                                             "species (two_species; uniform)", check=_density_check)
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

    def __post_init__(self):
        from fem_spin.units import number_density

        super().__post_init__()
        if self.formulation != "nonlinear":
            raise ConfigError("formulation", "the framework derives the nonlinear (entropy-variable) "
                                             "model; the semi-linear and linear comparison models are "
                                             "onsager_transport's")
        if self.second_spin_density is not None:
            object.__setattr__(self, "second_spin_density", number_density(self.second_spin_density))
        if self.second_dipolar_field is None:
            object.__setattr__(self, "second_dipolar_field", self.dipolar_field)
        if not 0 < self.second_dipolar_field <= 0.1:
            raise ConfigError("second_dipolar_field", f"must be a dipolar field in tesla, > 0 and "
                                                      f"<= 0.1 (got {self.second_dipolar_field})")
        if self.instance != "two_species":
            return
        if self.second_spin_density is None:
            raise ConfigError("second_spin_density", "instance = 'two_species' needs the density "
                                                     "of the second species (> 0)")
        for key, value, allowed in (("spin_density_regions", self.spin_density_regions, {}),
                                    ("speedup", self.speedup, "none"),
                                    ("initial_profile", self.initial_profile == "resonant_slice", False)):
            if value != allowed:
                raise ConfigError(key, "not available for instance = 'two_species' yet (uniform "
                                       "densities, no speed-up, no resonant slice)")

    def unknowns_per_node(self) -> int:
        return 3 if self.instance == "two_species" else 2

    @property
    def second_magnetic_moment(self) -> float:
        """mu_b = hbar gamma_b / 2 (J/T)."""
        return 0.5 * HBAR * self.second_gyromagnetic_ratio

