r"""Onsager transport derived from an entropy: ``[model] type = "onsager_framework"``.

The general framework (fem_spin/physics/onsager.py, derivation in
docs/theory/onsager_framework.md) solved for the entropy variables, with its instances
registered in :data:`INSTANCES` (``model.instance``):

* ``two_quantity`` (instance 1, theory note section 2): one spin species, the magnetic moment
  and the total energy conserved, psi(Omega) = ln(2 cosh|Omega|), A = [[0, 1], [1, -B/B_d]]
  with the scales (mu, mu B_d), channel rates (dipolar_rate_ratio, 1) and Gamma (with the
  speed-up). It is physics.md 2.2, the nonlinear formulation of ``onsager_transport``, derived
  instead of written out: the two agree to round-off (tests/system/test_onsager_framework.py).

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

from fem_spin.config import ConfigError, param, register_model
from fem_spin.errors import ModelError
from fem_spin.models.onsager import (BOLTZMANN, OnsagerTransportConfig, OnsagerTransportProblem,
                                     _entropy_potential)
from fem_spin.physics import onsager as framework
from fem_spin.viz.registry import register_pictures

__all__ = ["OnsagerFrameworkConfig", "OnsagerFrameworkProblem", "INSTANCES", "two_quantity_system"]


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


#: model.instance -> builder of its OnsagerSystem from the problem (fields, Delta, B_d ready)
INSTANCES: dict[str, Callable] = {"two_quantity": two_quantity_system}


class OnsagerFrameworkProblem(OnsagerTransportProblem):
    """The framework's residual, totals and entropy for the instance ``model.instance``; the
    field, the spin density and the initial state are ``onsager_transport``'s."""

    entropy_variables = True   # the unknowns are always Omega

    def __init__(self, config, comm=None, mesh_data=None, initial_state=None, field_function=None,
                 system_builder: Callable | None = None):
        super().__init__(config, comm, mesh_data, initial_state, field_function)
        self._system_builder = system_builder or INSTANCES[self.params.instance]

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
        self.A_nodal = framework.conserved_map_nodal(self.system, self.V0)[: len(self.weights)]
        volume = self.integrate(fem.form(fem.Constant(mesh, 1.0) * self.dx_lumped))
        v = ufl.TestFunction(self.V)
        F = forms.residual(self.u, self.capacity_old, v, Delta, self.dt, self.dx_lumped, self.dx_flux)
        num_cells = mesh.topology.index_map(mesh.topology.dim).size_global
        self.F = fem.Constant(mesh, num_cells / (volume * self.reference_density)) * F
        self.initial_totals = self.totals()
        full = p.magnetic_moment * self.total_weight
        self.total_scales = {"moment": full, "energy": full * (
            float(p.dipolar_field) + self.global_max(np.abs(self.field_magnitude.x.array - p.B0)))}

    # ------------------------------------------------------------------ nodal values
    def _rho_nodal(self, u_values: np.ndarray | None = None) -> np.ndarray:
        """rho at the local nodes, interleaved like u's dofs."""
        return self._evaluate_rho(u_values)

    def nodal_state(self) -> np.ndarray:
        n = self.system.size if hasattr(self, "system") else 2
        if getattr(self, "_evaluate_rho", None) is None:   # before the formulation exists
            return super().nodal_state()
        return self.owned(self._rho_nodal()).reshape(-1, n).T

    def capacity_nodal(self, u_values: np.ndarray) -> np.ndarray:
        if getattr(self, "_evaluate_rho", None) is None:
            return super().capacity_nodal(u_values)
        return self._rho_nodal(u_values)[: len(u_values)]

    def totals(self) -> dict[str, float]:
        """Every conserved total Q_k = scale_k sum_i w_i (A(x_i) rho_i)_k and the entropy
        k_B sum_i w_i s_i (J/K) (theory note 1.4-1.5)."""
        rho = self.nodal_state()                                 # (N, n)
        q = np.einsum("irc,ci->ri", self.A_nodal, rho)           # (N, n)
        s = self.owned_nodal(self._evaluate_s())
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
        return self.statistics.mean(self.nodal_state()[1])

    def update_output_functions(self) -> None:
        rho = self._rho_nodal().reshape(-1, self.system.size).T
        self.dipolar_out.x.array[:] = rho[0]
        self.polarization_out.x.array[:] = rho[1]


@register_model("onsager_framework", problem=OnsagerFrameworkProblem)
@dataclasses.dataclass(frozen=True)
class OnsagerFrameworkConfig(OnsagerTransportConfig):
    """[model] type = "onsager_framework": the Onsager framework's instances
    (docs/theory/onsager_framework.md); the keys of onsager_transport and ``instance``."""

    instance: Literal["two_quantity"] = param(
        "two_quantity", doc="the system derived from its entropy: two_quantity (one species, "
        "moment and energy; = onsager_transport's nonlinear formulation)")

    def __post_init__(self):
        super().__post_init__()
        if self.formulation != "nonlinear":
            raise ConfigError("formulation", "the framework derives the nonlinear (entropy-variable) "
                                             "model; the semi-linear and linear comparison models are "
                                             "onsager_transport's")


register_pictures("onsager_framework",
                  plot_columns=(("P_mean", "mean polarization rho2"), ("rho_max", "max |rho|"),
                                ("entropy", "entropy S (J/K)"),
                                ("dipolar_mean", "mean dipolar order rho1")))
