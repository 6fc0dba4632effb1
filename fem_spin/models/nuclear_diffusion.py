r"""Nuclear spin diffusion with the hyperpolarization speed-up (physics.md section 1.1).

.. math::

    \frac{\partial P}{\partial t} = \nabla\cdot\bigl(D_0\, f\, \nabla P\bigr)
        - R_1(x) (P - P_\mathrm{eq}) + S(x, t),
    \qquad f = \frac{1}{\sqrt{1 - \bar P^2}}

with no-flux (or, on ``dnp_cube`` and periodic boxes, periodic) boundaries. S is the
DNP source of the unit cell (physics.md 1.2; continuous, pulsed or cycle-averaged,
see :mod:`fem_spin.models.sources`) and R1(x) may carry the paramagnetic enhancement
C/r^6. On the 1-D radial cell every integral carries the weight 4 pi r^2. ``speedup`` selects f: ``"none"`` (f = 1), ``"global"``
(Pbar = volume average of P, the paper's model, Eq. 2) or ``"local"``
(f = 1/sqrt(1 - P(x)^2)). D0 is a scalar or a symmetric positive-definite 3x3 tensor.

Discretisation. The unknown is the spin-temperature variable w = artanh(P) in
continuous P1, and P = tanh(w), so |P| < 1 at every node of every accepted state by
construction. For ``none`` and ``global`` the flux is by default the stiffness matrix
applied to the nodal P (``flux = "nodal"``, :mod:`fem_spin.solvers.nodal_flux`: assembled
once, about 10x cheaper per step; the residual is then linear in P for fixed f, and Newton
moves P by the solution of the symmetric system A dP = F, with CG; a step whose linear
solution leaves |P| < 1, possible only where the stiffness matrix is not an M-matrix, is
retried smaller); ``flux = "quadrature"`` and the ``local`` mode
integrate D0 f grad tanh(w_h) at quadrature points instead. Both are second order.
In time one implicit step of the stepper's scheme (BDF2 or backward Euler,
solvers/schemes.py: the capacity term takes the scheme's P_old, ``capacity_old``); the
capacity and relaxation terms use vertex quadrature (mass lumping), which makes the
discrete total polarization

    Pbar V = sum_nodes m_i tanh(w_i)

exactly conserved (to the Newton tolerance) without relaxation, because the test
function v = 1 annihilates the flux term. In the local mode the flux is written as
D0 cosh(w) grad tanh(w) = D0 grad(w) / cosh(w), which stays finite at any w.
The global mode treats Pbar at the new time level consistently: Newton refreshes
f(Pbar^{n+1}) after every update and stops only once it no longer changes
(|delta f| < 1e-12) and the residual has converged, so the answer does not depend on
the step beyond the time discretisation error.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Callable, Literal

import numpy as np

from fem_spin.config import (ConfigError, derived,
                             in_range, non_negative, param, polarization, register_model,
                             spd_tensor, warn_if_region_outside)
from fem_spin.contracts import ModelConfig, ResolveContext
from fem_spin.errors import ModelError
from fem_spin.models.base import TransientProblem
from fem_spin.models.sources import SourceTerm, relaxation_rate_function
from fem_spin.physics import observables, regions, terms
from fem_spin.solvers.newton import NewtonResult

__all__ = ["NuclearDiffusionConfig", "NuclearDiffusionProblem", "speedup_factor"]


def speedup_factor(polarization_average: float | np.ndarray,
                   like_fraction: float = 1.0) -> float | np.ndarray:
    """f(P) = 1/sqrt(1 - phi P^2) (physics.md 1.1; paper Eq. 2 for phi = 1): phi is the part
    of the second moment from like spins (lattice.StructureEstimate.like_fraction)."""
    if isinstance(polarization_average, float):   # the per-iteration call: no numpy overhead
        if abs(polarization_average) >= 1:
            raise ValueError(f"|P| must be < 1 (got {polarization_average})")
        return 1.0 / math.sqrt(1.0 - like_fraction * polarization_average ** 2)
    p = np.asarray(polarization_average, dtype=float)
    if np.any(np.abs(p) >= 1):
        raise ValueError(f"|P| must be < 1 (got {polarization_average})")
    out = 1.0 / np.sqrt(1.0 - like_fraction * p * p)
    return float(out) if out.ndim == 0 else out


def speedup_slope(polarization_average: float, like_fraction: float = 1.0) -> float:
    """df/dP of :func:`speedup_factor`: phi P / (1 - phi P^2)^(3/2)."""
    p = float(polarization_average)
    return like_fraction * p / (1.0 - like_fraction * p * p) ** 1.5


_tensor_check = spd_tensor("diffusion", allow_table=True)

#: largest plausible D0 (m^2/s): nuclear spin diffusion in solids is ~1e-20..1e-14 m^2/s, and
#: even self-diffusion in a gas stays below ~1e-5; a larger value is a unit slip (cm^2/s,
#: nm^2/s, um^2/s typed as m^2/s) that would silently run a meaningless simulation
D0_MAX = 1e-6
#: largest plausible bulk R1 (1/s): T1 below a microsecond is no nuclear spin-lattice
#: relaxation (the enhancement near an electron is pre_coefficient/r^6, not R1)
R1_MAX = 1e6
#: largest plausible exchange rate (1/s) and pulse repetition rate (Hz) of a DNP source
RATE_MAX = 1e12


def _D0_check(value) -> str | None:
    """An SPD tensor or positive number (or a structure table), not above D0_MAX."""
    problem = _tensor_check(value)
    if problem or isinstance(value, dict):
        return problem
    largest = float(np.max(np.linalg.eigvalsh(np.asarray(value, float)))) if np.ndim(value) else value
    if largest > D0_MAX:
        return (f"{largest:g} m^2/s is not a solid-state spin-diffusion coefficient (nuclear spin "
                f"diffusion: ~1e-20 to 1e-14 m^2/s; at most {D0_MAX:g} m^2/s accepted): give D0 in m^2/s")
    return None


def _at_most(limit: float, what: str, unit: str):
    def check(value) -> str | None:
        problem = non_negative(value)
        if problem:
            return problem
        if value > limit:
            return f"{value:g} {unit} is not a plausible {what} (at most {limit:g} {unit}): give it in {unit}"
        return None

    return check


_STRUCTURE_CACHE: dict[tuple[str, str], float | list[list[float]]] = {}


def structure_D0(spec: dict, base_dir) -> float | list[list[float]]:
    """D0 from the crystal structure (:func:`fem_spin.lattice.estimate_from_spec`): the tensor,
    its mean (trace/3, for isotropic cells such as the 1-D radial one) or D_zz along the field,
    as ``use`` says. Cached per specification: sweeps and unit-cell tables re-parse configs."""
    import json

    from fem_spin.lattice import estimate_from_spec

    spec = dict(spec)
    use = spec.pop("use", "tensor")
    if use not in ("tensor", "mean", "zz"):
        raise ConfigError("model.D0.use", f"must be 'tensor', 'mean' or 'zz' (got {use!r})")
    key = (json.dumps(spec, sort_keys=True, default=str), str(base_dir))
    if key not in _STRUCTURE_CACHE:
        _STRUCTURE_CACHE[key] = estimate_from_spec(spec, base_dir, key_prefix="model.D0").D.tolist()
    D = np.asarray(_STRUCTURE_CACHE[key])
    if use == "mean":
        return float(np.trace(D) / 3)
    if use == "zz":
        n = np.asarray(spec.get("field_direction", (0.0, 0.0, 1.0)), float)
        n = n / np.linalg.norm(n)
        return float(n @ D @ n)
    return D.tolist()


class NuclearDiffusionProblem(TransientProblem):
    """Implicit solver of physics.md 1.1 for w = artanh(P); see the module docstring."""

    extrapolate_initial_guess = True
    headline_keys = ("buildup.t50_s", "buildup.t63_s", "buildup.t90_s", "final.P_mean")
    #: volume of the initial region, once the formulation is built (None before)
    region_volume: float | None = None

    def __init__(self, config, comm=None, mesh_data=None,
                 initial_polarization: Callable[[np.ndarray], np.ndarray] | None = None):
        from mpi4py import MPI

        super().__init__(config, comm or MPI.COMM_WORLD, mesh_data)
        self._initial = initial_polarization or self.params.initial_polarization_field()
        # The global speed-up's fixed point f = f(Pbar^{n+1}), converged to 1e-12 unless Newton
        # takes its exact rank-one Jacobian (create_solver)
        self.fixed_point_tolerance = 1e-12

    @property
    def observable_names(self) -> tuple[str, ...]:
        """The time-series columns. P_region/P_outside only when the initial region holds
        part of the sample and leaves some of it out (known once the problem is
        initialised): an average over nothing is no number. speedup_factor is the f applied
        to D0, which is one number only in the global mode (none: f = 1; local: f(P(x)))."""
        names = ["P_mean", "P_min", "P_max"]
        if self.params.region_shape != "none":
            region = self.region_volume
            if region is None or region > 0:
                names += ["P_region"]
            if region is None or self.volume - region > 1e-12 * self.volume:
                names += ["P_outside"]
        if self.params.source != "none":
            names += ["P_source"]
        if self.params.source == "pulsed":
            names += ["pulses"]
        if self.params.speedup == "global":
            names += ["speedup_factor"]
        return tuple(names + ["polarization_volume"])

    # ------------------------------------------------------------------ pipeline steps
    def define_function_spaces(self) -> None:
        import dolfinx.fem as fem

        self.V = fem.functionspace(self.mesh, ("Lagrange", 1))
        self.u = fem.Function(self.V, name="spin_temperature")       # w = artanh(P)
        self.u_n = fem.Function(self.V, name="spin_temperature_old")
        self.P_out = fem.Function(self.V, name="polarization")

    def define_measures(self) -> None:
        super().define_measures()
        tags = self.mesh_data.cell_tags
        self.dx_lumped = terms.lumped_measure(self.mesh, tags)
        self.dx_flux = terms.quadrature_measure(self.mesh, self.params.quadrature_degree, tags)
        # omega = 1 (Cartesian) or 4 pi r^2 (1-D radial cell), exact and as nodal values
        self.weight, self.weight_nodal = terms.coordinate_weight(self.V, self.mesh_data.coordinate_system)

    def define_initial_condition(self) -> None:
        import dolfinx.fem as fem

        p0 = self._initial

        def w0(x):
            p = np.asarray(p0(x), dtype=float) * np.ones(x.shape[1])
            if np.any(np.abs(p) >= 1):
                raise ModelError("initial |P| must be < 1", key="model.initial_polarization")
            return np.arctanh(p)

        self.u.interpolate(w0)
        # Interpolation evaluates ghost copies of a node on another cell: at a jump of the
        # initial field (x < x0 tests) round-off can make them differ from the owner's value.
        self.u.x.scatter_forward()
        self.u_n.x.array[:] = self.u.x.array
        self.region = fem.Function(self.V, name="initial_region")
        self.region.interpolate(lambda x: self.params.region_indicator(x).astype(float))
        self.source = SourceTerm(self.params, self.mesh_data, self.V, self.weight, self.dx_lumped)
        self.relaxation_rate = self._relaxation_rate()

    def _relaxation_rate(self):
        """R1(x) as a nodal Function, or None without relaxation."""
        p = self.params
        if p.R1 == 0 and p.pre_coefficient == 0:
            return None
        electrons = np.asarray(p.electron_position) + self.config.geometry.electron_images()
        return relaxation_rate_function(self.V, p.R1, p.pre_coefficient, p.pre_cutoff_radius or 0.0,
                                        electrons)

    def create_formulation(self) -> None:
        import dolfinx.fem as fem
        import ufl

        p = self.params
        mesh, v = self.mesh, ufl.TestFunction(self.V)
        self.dt = fem.Constant(mesh, self.config.time.dt_initial)
        self.time = fem.Constant(mesh, 0.0)
        self.f_global = fem.Constant(mesh, 1.0)
        omega, omega_h, dx_l = self.weight, self.weight_nodal, self.dx_lumped

        # Observables (evaluated every step).
        # Lumped nodal masses m_i: the conserved total sum_i m_i tanh(w_i) is a dot product,
        # cheap enough for the global speed-up to refresh Pbar every Newton iteration.
        self.nodal_mass = terms.lumped_masses(self.V, omega_h, dx_l)
        self.statistics = observables.LumpedStatistics(self.comm, self.nodal_mass)
        self.volume = self.statistics.volume
        # region and source means as dot products with the lumped masses (the vertex rule of
        # int chi tanh(w) omega_h dx_l, without an assembly per step)
        n_owned = self.V.dofmap.index_map.size_local
        self.region_mean = observables.LumpedRegionMean(self.statistics, self.region, n_owned)
        self.region_volume = self.region_mean.volume
        self.source_mean = (observables.LumpedRegionMean(self.statistics, self.source.theta, n_owned)
                            if self.source.theta is not None else None)
        if self.source_mean is not None:
            self.source_volume = self.source_mean.volume
        if p.speedup == "global":
            self._refresh_speedup()

        # Residual scaled by 1/(mean cell volume): entries are O(change of P), so the
        # Newton tolerances are dimensionless whatever the sample size.
        num_cells = mesh.topology.index_map(mesh.topology.dim).size_global
        scale = fem.Constant(mesh, num_cells / self.volume)

        w = self.u
        P = ufl.tanh(w)
        D0 = terms.diffusion_tensor(mesh, p.D0)
        if p.speedup == "local" and p.like_spin_fraction == 1.0:
            flux = ufl.dot(D0, ufl.grad(w)) / ufl.cosh(w)     # D0 cosh(w) grad tanh(w)
        elif p.speedup == "local":
            # D0 f(P) grad P = D0 (1 - P^2) / sqrt(1 - phi P^2) grad w, finite for phi < 1
            flux = ufl.dot(D0, ufl.grad(w)) * (1 - P * P) / ufl.sqrt(1 - p.like_spin_fraction * P * P)
        else:
            flux = terms.diffusive_flux(D0, ufl.grad(P), self.f_global if p.speedup == "global" else None)
        barrier = self._barrier_scale()
        if barrier is not None:
            flux = barrier * flux

        F = terms.capacity(P, self.capacity_old, v, omega_h, dx_l)
        F += self.dt * terms.diffusion(flux, v, omega, self.dx_flux)
        if self.relaxation_rate is not None:
            F += self.dt * terms.relaxation(self.relaxation_rate, P, fem.Constant(mesh, p.P_eq), v,
                                            omega_h, dx_l)
        source = self.source.residual_term(P, v, omega_h, dx_l, mesh)
        if source is not None:
            F += self.dt * source
        self.F = scale * F
        self.residual_scale = scale

        # The same residual on nodal values (solvers/nodal_flux.py): K, m, r, q once.
        self.nodal_flux = p.flux == "nodal" and p.speedup in ("none", "global") and not self.bcs
        if self.nodal_flux:
            P_trial = ufl.TrialFunction(self.V)
            stiffness_flux = terms.diffusive_flux(D0, ufl.grad(P_trial), barrier)
            rate = self.source.continuous_rate()
            self._nodal_forms = (
                terms.diffusion(stiffness_flux, v, omega, self.dx_flux),
                omega_h * v * dx_l,
                self.relaxation_rate * omega_h * v * dx_l if self.relaxation_rate is not None else None,
                (fem.Constant(mesh, rate) * self.source.theta * omega_h * v * dx_l
                 if rate is not None else None))

    def _barrier_scale(self):
        """Cellwise factor on D: barrier_diffusion_factor in the 'barrier' group, else 1."""
        if "barrier" not in self.mesh_data.cell_groups:
            return None
        return terms.cell_group_function(self.mesh, self.mesh_data,
                                         {"barrier": self.params.barrier_diffusion_factor}, 1.0,
                                         "diffusion_scale")

    def create_solver(self) -> None:
        super().create_solver()
        if self.params.speedup == "global":
            # f depends on the unknown average Pbar^{n+1}: Newton refreshes it after every
            # update (NewtonSolver.lagged) and converges only once it has stopped changing.
            self.newton.lagged = self._refresh_speedup
            if self.newton.rank_one.exact(self.newton.ksp):
                # With the exact Jacobian the last change df of f is the error of the iterate
                # before the update, whose own error is O(df^2): df <= 1e-3 time.tolerance then
                # leaves f exact to ~1e-6 tolerance^2, and Newton needs two iterations where
                # 1e-12 always asked a third (radial cell at 1e-4: 2.46 -> 2.07 per step). With
                # f lagged (Krylov solves) the fixed point converges linearly, and 1e-12 keeps
                # runs on any partition equal to round-off (demos/rank_agreement.py).
                self.fixed_point_tolerance = max(1e-12, 1e-3 * self.config.time.tolerance)
            self.newton.settings["lag_tol"] = self.fixed_point_tolerance

    def create_assembler(self):
        use_multigrid = self._use_multigrid()
        if not self.nodal_flux:
            return super().create_assembler()
        from fem_spin.solvers.nodal_flux import NodalFluxAssembler

        periodic = self.config.geometry.periodic_box()
        self.mpc = None
        if periodic is not None:
            from fem_spin.solvers.periodic import periodic_constraint

            self.mpc = periodic_constraint(self.V, *periodic)
        P_eq, P_e = self.params.P_eq, self.params.source_polarization

        def coefficients():
            return (float(self.residual_scale.value), float(self.dt.value), float(self.f_global.value),
                    P_eq, P_e)

        assembler = NodalFluxAssembler(self.u, self.capacity_old, *self._nodal_forms,
                                       coefficients=coefficients, mpc=self.mpc)
        if self.params.speedup == "global":
            phi = self.params.like_spin_fraction
            assembler.set_global_speedup(lambda: speedup_slope(self._speedup_mean, phi),
                                         lambda values: self.statistics.total(values) / self.volume)
        if use_multigrid:
            from fem_spin.solvers.multigrid import multigrid_for_space

            assembler.attach_multigrid(multigrid_for_space(
                self.V, self.config.geometry, assembler.slaves, self.config.solver.multigrid_levels))
        return assembler

    def _use_multigrid(self) -> bool:
        """[solver] preconditioner, decided by the one multigrid policy
        (:func:`fem_spin.solvers.multigrid.use_multigrid`); the model only says why its
        discretisation cannot use multigrid (the quadrature flux)."""
        from fem_spin.solvers.multigrid import use_multigrid

        reason = None
        if not self.nodal_flux:
            p = self.params
            reason = (f"flux = '{p.flux}'" if p.flux != "nodal" else
                      f"speedup = '{p.speedup}' uses the quadrature flux" if p.speedup == "local" else
                      "Dirichlet conditions use the quadrature flux")
        return use_multigrid(self.config.solver, self.config.geometry, self.mesh,
                             self.V.dofmap.index_map.size_global, reason)

    # ------------------------------------------------------------------ stepping
    def solve_step(self) -> NewtonResult:
        if self.params.speedup != "global":
            return self.newton.solve()
        result = self.newton.solve()   # refreshes f(Pbar) itself (create_solver)
        if result.converged and self._refresh_speedup() > self.fixed_point_tolerance:
            return NewtonResult(False, result.iterations, result.linear_iterations, result.residual_norm,
                                "global speed-up: fixed point on Pbar did not converge")
        return result

    def _refresh_speedup(self) -> float:
        """f_global <- f(Pbar) of the current state; returns the change of f. The Pbar is kept
        for the Jacobian's rank-one term, which must use the same state as f."""
        self._speedup_mean = self.mean_polarization()
        f_new = speedup_factor(self._speedup_mean, self.params.like_spin_fraction)
        change = abs(f_new - float(self.f_global.value))
        self.f_global.value = f_new
        return change

    def initial_guess_changed(self) -> None:
        if self.params.speedup == "global":
            self._refresh_speedup()

    def reject_step(self) -> None:
        super().reject_step()
        if self.params.speedup == "global":
            self._refresh_speedup()

    def next_event_time(self, t: float) -> float | None:
        """The next source pulse after t (pulsed source), for the time stepper."""
        return self.source.next_pulse_time(t)

    def apply_events(self, t: float) -> bool:
        """Apply a source pulse due at time t (t = k/f_rep, k = 0, 1, ...)."""
        if not self.source.is_pulse_time(t):
            return False
        self.source.apply_pulse(self.u.x.array)
        self.u_n.x.array[:] = self.u.x.array
        self.forget_history()
        if self.params.speedup == "global":
            self._refresh_speedup()
        return True

    def capacity_nodal(self, u_values: np.ndarray) -> np.ndarray:
        return np.tanh(u_values)

    def checkpoint_state(self) -> dict:
        return {"pulses": self.source.pulses}

    def restore_checkpoint_state(self, state: dict) -> None:
        self.forget_history()
        self.source.pulses = int(state.get("pulses", 0))
        if self.params.speedup == "global":
            self._refresh_speedup()

    # ------------------------------------------------------------------ sensitivities
    def tangent_linear(self, keys):
        """Forward sensitivities of the run with respect to the run keys ``keys``
        (solvers/sensitivity.py; which keys and when: :meth:`NuclearDiffusionConfig.tangent_support`)."""
        from fem_spin.solvers.sensitivity import NotDifferentiable

        reasons = [f"{k}: {r}" for k in keys if (r := self.params.tangent_support(k, self.config))]
        if not reasons and not self.nodal_flux:
            reasons = ["the residual does not use the nodal flux here (Dirichlet conditions)"]
        if reasons:
            raise NotDifferentiable("; ".join(reasons))
        return _NuclearDiffusionTangent(self, keys)

    # ------------------------------------------------------------------ observables
    def total_polarization(self) -> float:
        """int P dV with the lumped quadrature that is conserved: sum_i m_i tanh(w_i)."""
        return self.statistics.total(np.tanh(self.owned(self.u.x.array)))

    def mean_polarization(self) -> float:
        """Pbar = (1/V) int P dV, with the same (lumped) quadrature that is conserved."""
        return self.total_polarization() / self.volume

    def observables(self) -> dict[str, float]:
        P = np.tanh(self.owned(self.u.x.array))
        total = self.statistics.total(P)
        in_region = self.region_mean.integral(P)
        outside_volume = self.volume - self.region_volume
        values = {
            **self.statistics.statistics(P, "P"),
            "P_region": in_region / self.region_volume if self.region_volume > 0 else math.nan,
            "P_outside": (total - in_region) / outside_volume if outside_volume > 0 else math.nan,
            "P_source": self.source_mean(P) if self.source_mean is not None else math.nan,
            "pulses": self.source.pulses,
            "speedup_factor": float(self.f_global.value),
            "polarization_volume": total,
        }
        return {name: values[name] for name in self.observable_names}

    def analyse(self, series: dict[str, np.ndarray]) -> dict:
        """Buildup numbers of a finished run with a DNP source (t50, t63, t90, fit); rank 0."""
        if self.params.source == "none":
            return {}
        from fem_spin.analysis import buildup_summary

        return {"buildup": buildup_summary(series["t"], series["P_mean"], self.params.source_polarization)}

    def output_functions(self) -> list:
        return [self.P_out]

    def update_output_functions(self) -> None:
        self.P_out.x.array[:] = np.tanh(self.u.x.array)

    def profile_probe(self):
        """P along the x axis through the centre of the sample (written to profiles.csv)."""
        return self.x_axis_probe(self.P_out, 201)

    #: (column, axis label) pairs plotted against time; sweeps overlay their variants

    def polarization(self):
        """The polarization P = tanh(w) as a nodal Function (updated on each call)."""
        self.update_output_functions()
        return self.P_out


class _NuclearDiffusionTangent:
    """The :class:`~fem_spin.solvers.sensitivity.TangentLinear` of the nodal-flux residual
    (solvers/nodal_flux.NodalFluxTangent) for the model's keys."""

    def __new__(cls, problem, keys):
        from fem_spin.solvers.nodal_flux import NodalFluxTangent
        from fem_spin.solvers.sensitivity import TangentLinear

        p = problem.params
        source = problem.source
        rate = source.continuous_rate() or 1.0
        pulsed = p.source == "pulsed"
        kinds = {"model.D0": ("stiffness", 1.0 / float(p.D0) if np.ndim(p.D0) == 0 and p.D0 else 0.0),
                 "model.R1": ("relaxation", 1.0),
                 "model.P_eq": ("equilibrium", 1.0),
                 "model.exchange_rate": ("source_rate", 1.0 / rate),
                 "model.repetition_rate": ("source_rate", 1.0 / p.repetition_rate if p.repetition_rate else 0.0),
                 "model.exchange_probability": ("source_rate", 1.0 / p.exchange_probability
                                                if p.exchange_probability else 0.0),
                 "model.source_polarization": ("source_polarization", 1.0)}
        if pulsed:   # the pulsed law has no source term in the residual: only its pulses act
            kinds.update({"model.exchange_probability": ("none", 0.0),
                          "model.source_polarization": ("none", 0.0)})
        def global_slope():
            return speedup_slope(problem.mean_polarization(), p.like_spin_fraction)

        slope = global_slope if p.speedup == "global" else None

        nodal = NodalFluxTangent(problem.newton.assembler, [kinds[k] for k in keys], problem.statistics,
                                 speedup_slope=slope)

        class Tangent(TangentLinear):
            observable_names = ("P_mean",)

            def initial(self):
                return [np.zeros(nodal.n) for _ in self.keys]

            def solve(self, coefficients, combined):
                self.linear_solves += len(self.keys) + (1 if slope is not None else 0)
                return nodal.solve(coefficients.dt_implicit, combined)

            def observe(self, s):
                return {"P_mean": nodal.mean(s)}

            pulses_seen = 0

            def jump(self, entry):
                """A pulse P+ = P + p_x theta (P_e - P) since the last start maps the
                sensitivities by its derivative at the state before it:
                s+ = (1 - p_x theta) s, plus theta (P_e - P) for p_x and p_x theta for P_e."""
                if not pulsed or source.pulses == self.pulses_seen:
                    return None
                self.pulses_seen = source.pulses
                n = nodal.n
                theta = source.theta.x.array[:n]
                before = source.before_pulse[:n]
                out = []
                for key, s in zip(self.keys, entry):
                    mapped = (1.0 - source.p_x * theta) * s
                    if key == "model.exchange_probability":
                        mapped = mapped + theta * (source.P_e - before)
                    elif key == "model.source_polarization":
                        mapped = mapped + source.p_x * theta
                    out.append(mapped)
                return out

            def destroy(self):
                nodal.destroy()

        return Tangent(keys)


#: the run keys nuclear_diffusion differentiates (forward sensitivities), with what they need
TANGENT_KEYS = ("model.D0", "model.R1", "model.P_eq", "model.exchange_rate", "model.source_polarization",
                "model.repetition_rate", "model.exchange_probability")


# =========================================================================== the [model] section
@register_model("nuclear_diffusion", problem=NuclearDiffusionProblem)
@dataclasses.dataclass(frozen=True)
class NuclearDiffusionConfig(ModelConfig):
    """[model] type = "nuclear_diffusion" (physics.md 1.1)."""

    supports_multigrid = True

    D0: float | list[list[float]] | dict = param(
        unit="m^2/s", doc="spin-diffusion coefficient: scalar, 3x3 tensor, or a table that computes it "
        "from the crystal structure (physics.md 1.4), e.g. { structure = 'x.cif', species = '1H', "
        "abundance = 0.0079, use = 'mean' }", check=_D0_check)
    speedup: Literal["none", "global", "local"] = param("global", doc="hyperpolarization speed-up "
                                                        "f = 1/sqrt(1-P^2): none, global (Pbar), local (P(x))")
    like_spin_fraction: float = param(1.0, doc="phi in f = 1/sqrt(1 - phi P^2): the part of the "
                                      "second moment M2 from like spins (1: the paper's f; e.g. "
                                      "1H diluted in 2H: M2_like/M2 from fem-spin structure)",
                                      check=in_range(0.0, 1.0))
    R1: float = param(0.0, unit="1/s", doc="spin-lattice relaxation rate",
                      check=_at_most(R1_MAX, "nuclear spin-lattice relaxation rate", "1/s"))
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
    quadrature_degree: int = param(2, doc="quadrature degree of the flux term (P1 elements; "
                                   "2 is enough for second-order accuracy)", check=in_range(1, 8))
    flux: Literal["nodal", "quadrature"] = param(
        "nodal", doc="flux discretisation for speedup none/global: nodal (D0 grad of the "
        "interpolated P, stiffness assembled once, fast) or quadrature (grad tanh(w) at "
        "quadrature points, assembled every Newton iteration); local always uses quadrature")
    # DNP source (physics.md 1.2)
    source: Literal["none", "continuous", "pulsed", "cycle_averaged"] = param(
        "none", doc="DNP source law in the source region: none, continuous (rate exchange_rate), "
        "pulsed (every 1/repetition_rate) or cycle_averaged (rate repetition_rate*exchange_probability)")
    source_polarization: float = param(0.0, doc="electron (source) polarization P_e", check=polarization)
    exchange_rate: float = param(0.0, unit="1/s", doc="continuous exchange rate k_x",
                                 check=_at_most(RATE_MAX, "exchange rate", "1/s"))
    exchange_probability: float = param(1.0, doc="pulsed exchange probability p_x per pulse",
                                        check=in_range(0.0, 1.0))
    repetition_rate: float = param(0.0, unit="Hz", doc="pulse repetition rate f_rep",
                                   check=_at_most(RATE_MAX, "pulse repetition rate", "Hz"))
    source_regions: list[str] = param(default_factory=lambda: ["source"],
                                      doc="cell groups where the source acts")
    barrier_diffusion_factor: float = param(0.0, doc="D = factor * D0 inside the cell group "
                                            "'barrier' (diffusion barrier around the electron)",
                                            check=non_negative)
    # Paramagnetic relaxation enhancement R1(r) = R1 + C/max(r, r_c)^6
    pre_coefficient: float = param(0.0, unit="m^6/s", doc="PRE coefficient C", check=non_negative)
    pre_cutoff_radius: float | None = param(None, unit="m", doc="r_c (default: the barrier radius, "
                                            "or the source radius without barrier)")
    electron_position: tuple[float, float, float] = param((0.0, 0.0, 0.0), unit="m",
                                                          doc="electron position for the PRE")
    #: the D0 = { structure = ... } table D0 was computed from (resolve), else None
    D0_structure: dict | None = derived(doc="the structure table D0 was computed from")

    def __post_init__(self):
        if self.region_shape == "ball" and not self.region_radius > 0:
            raise ConfigError("region_radius", "must be > 0 for region_shape = 'ball'")
        if self.region_shape == "box" and not all(u > lo for lo, u in zip(self.region_lower,
                                                                         self.region_upper)):
            raise ConfigError("region_upper", "must exceed region_lower in every direction")
        if self.source == "continuous" and not self.exchange_rate > 0:
            raise ConfigError("exchange_rate", "must be > 0 for source = 'continuous'")
        if self.source in ("pulsed", "cycle_averaged") and not self.repetition_rate > 0:
            raise ConfigError("repetition_rate", f"must be > 0 for source = {self.source!r}")
        if self.pre_cutoff_radius is not None and not self.pre_cutoff_radius > 0:
            raise ConfigError("pre_cutoff_radius", f"must be > 0 (got {self.pre_cutoff_radius})")
        if not self.source_regions:
            raise ConfigError("source_regions", "must name at least one cell group")

    def resolve(self, context: ResolveContext) -> "NuclearDiffusionConfig":
        """D0 = { structure = ... } evaluated (relative paths from the run file's directory),
        and the PRE cutoff radius defaulted to the geometry's electron sphere."""
        changes = {}
        if isinstance(self.D0, dict):
            base_dir = context.base_dir if context.base_dir is not None else Path.cwd()
            changes.update(D0_structure=dict(self.D0), D0=structure_D0(self.D0, base_dir))
        if self.pre_coefficient > 0 and self.pre_cutoff_radius is None:
            radius = context.geometry.electron_exclusion_radius()
            if radius is None:
                raise ConfigError("model.pre_cutoff_radius", "required with pre_coefficient > 0 on "
                                                             "a geometry without a source sphere")
            changes["pre_cutoff_radius"] = radius
        return dataclasses.replace(self, **changes) if changes else self

    def forced_steps(self, time) -> float:
        """One step per microwave pulse (source = 'pulsed'), else none."""
        return time.t_end * self.repetition_rate if self.source == "pulsed" else 0.0

    def tangent_observables(self) -> tuple[str, ...]:
        """The sensitivities are of the mean polarization Pbar."""
        return ("P_mean",)

    def tangent_support(self, key: str, run_config) -> str | None:
        """None if forward sensitivities (solvers/sensitivity.py) of a run of this model with
        respect to the run key ``key`` are available, else why not: they differentiate the
        nodal-flux residual (speed-up none or global, flux = 'nodal', a continuous,
        cycle-averaged or pulsed source: a pulse maps the sensitivities by its derivative,
        the repetition rate, which moves the pulses, excepted), for the keys of :data:`TANGENT_KEYS`; geometry keys (they change
        the mesh) and everything else go by finite differences."""
        if key not in TANGENT_KEYS:
            if key.startswith("geometry."):
                return "a geometry key changes the mesh (finite differences)"
            return f"not one of the differentiated keys ({', '.join(TANGENT_KEYS)})"
        if self.speedup == "local":
            return "speedup = 'local' uses the quadrature flux (finite differences)"
        if self.flux != "nodal":
            return "flux = 'quadrature' (sensitivities use the nodal flux)"
        if self.source == "pulsed" and key == "model.repetition_rate":
            return "the repetition rate moves the pulses, hence the steps (finite differences)"
        if key == "model.D0" and np.ndim(self.D0) != 0:
            return "a tensor D0 (sensitivities of a scalar D0 only)"
        if key == "model.exchange_rate" and self.source != "continuous":
            return "exchange_rate acts only with source = 'continuous'"
        if key == "model.repetition_rate" and self.source != "cycle_averaged":
            return f"{key} is differentiated only with source = 'cycle_averaged'"
        if key == "model.exchange_probability" and self.source not in ("pulsed", "cycle_averaged"):
            return f"{key} acts only with source = 'pulsed' or 'cycle_averaged'"
        return None

    def source_rate(self) -> float:
        """The rate (1/s) at which the source drives P towards P_e: k_x (continuous), or
        f_rep p_x (cycle_averaged, and the pulsed law's average); 0 without a source."""
        if self.source == "continuous":
            return self.exchange_rate
        if self.source in ("pulsed", "cycle_averaged"):
            return self.repetition_rate * self.exchange_probability
        return 0.0

    def length_scales(self) -> dict[str, float]:
        """{"source": the source's boundary layer sqrt(D_min/k)}: inside the source the
        polarization relaxes to P_e over that length (D_min the smallest eigenvalue of D0, the
        speed-up f >= 1 only widens the layer; k :meth:`source_rate`); {} without a source.
        The DNP cells resolve it at the source surface (geometry/dnp_cell.py)."""
        rate = self.source_rate()
        if not rate > 0:
            return {}
        d_min = float(np.min(np.linalg.eigvalsh(np.atleast_2d(np.asarray(self.D0, float)))))
        return {"source": math.sqrt(d_min / rate)} if d_min > 0 else {}

    def check_against(self, geometry, time) -> None:
        """Cross-section checks: the radial cell needs a scalar D0; pulses are bounded."""
        if geometry.radial and np.ndim(self.D0) != 0:
            raise ConfigError("model.D0", "the 1-D radial cell needs a scalar D0 (use dnp_cube or "
                                          "dnp_sphere for a tensor)")
        if self.source == "pulsed" and time.t_end * self.repetition_rate > 1e7:
            raise ConfigError("time.t_end", f"{time.t_end * self.repetition_rate:.3g} pulses: more than "
                                            f"1e7 pulsed cycles; use source = 'cycle_averaged'")
        self._warn_region_outside(geometry)

    def _warn_region_outside(self, geometry) -> None:
        """An initial region entirely outside the sample is accepted (the sample starts at
        initial_polarization) but almost certainly a slip: a warning, and P_region is not
        reported."""
        warn_if_region_outside(geometry, self.region_shape, self.region_center, self.region_radius,
                               self.region_lower, self.region_upper, self.initial_polarization,
                               note=" and P_region is not reported")

    def initial_polarization_field(self) -> Callable[[np.ndarray], np.ndarray]:
        """P(x, 0) as a vectorised function of points x with shape (3, n)."""
        background, inside = self.initial_polarization, self.region_polarization

        def p0(x: np.ndarray) -> np.ndarray:
            return np.where(self.region_indicator(x), inside, background)

        return p0

    def region_indicator(self, x: np.ndarray) -> np.ndarray:
        """The initial region (physics/regions.py) at points x (3, n)."""
        return regions.region(self.region_shape, self.region_center, self.region_radius,
                              self.region_lower, self.region_upper)(x)
