r"""Electron spin accumulation: the Valet–Fert two-current model (physics.md section 3.1).

Unknowns: the charge electrochemical potential :math:`\mu_c = (\mu_\uparrow + \mu_\downarrow)/2`
and the spin accumulation :math:`\mu_s = \mu_\uparrow - \mu_\downarrow` (volts). In every
region, with :math:`\sigma_{\uparrow,\downarrow} = \sigma (1 \pm P)/2` and
:math:`g_{sf} = \sigma_\uparrow\sigma_\downarrow / ((\sigma_\uparrow + \sigma_\downarrow)\lambda_{sf}^2)`,

.. math::

    -\nabla\cdot(\sigma_\uparrow \nabla\mu_\uparrow) + g_{sf}(\mu_\uparrow - \mu_\downarrow) = 0,
    \qquad
    -\nabla\cdot(\sigma_\downarrow \nabla\mu_\downarrow) + g_{sf}(\mu_\downarrow - \mu_\uparrow) = 0,

so that :math:`\nabla\cdot j = 0` and :math:`\nabla^2\mu_s = \mu_s/\lambda_{sf}^2` in each
homogeneous region. These are the stationarity conditions of the dissipated power

.. math::

    W[\mu] = \int \tfrac12\sigma_\uparrow|\nabla\mu_\uparrow|^2
             + \tfrac12\sigma_\downarrow|\nabla\mu_\downarrow|^2
             + \tfrac12 g_{sf}(\mu_\uparrow-\mu_\downarrow)^2 \, dV,

and the weak form is ``ufl.derivative`` of W (symmetric positive definite, hence
Onsager-reciprocal: swapping injector and detector leaves R_NL unchanged). Currents:
:math:`j_s = -\sigma_s\nabla\mu_s`, charge :math:`j = j_\uparrow + j_\downarrow`, spin
:math:`j_\uparrow - j_\downarrow` (a pure spin current where j = 0).

Ferromagnets carry a magnetization direction m; "up" is along m, so that reversing m
(the antiparallel configuration) swaps the channels. With ``precession = true`` the spin
accumulation is a vector :math:`\boldsymbol\mu_s` (spin along any direction). In
non-magnetic regions it obeys the steady Bloch–Torrey equation of physics.md 3.1,

.. math::

    0 = D\nabla^2\boldsymbol\mu_s - \boldsymbol\mu_s/\tau_{sf}
        + \boldsymbol\omega_L\times\boldsymbol\mu_s,
    \qquad \boldsymbol\omega_L = \frac{g\mu_B}{\hbar}\mathbf B,
    \quad \lambda_{sf}^2 = D\tau_{sf},

(its weak form is W's plus the non-symmetric precession term times sigma/(4D)); in
ferromagnets only the component along m survives: the transverse part is absorbed within
``transverse_dephasing_length`` (a spin-flip term for mu_s - (m.mu_s) m), the usual
picture of a ferromagnet as a sink of transverse spin.

Contacts and interfaces. The current enters through ``current_contact`` and leaves through
``ground``, both ideal reservoirs (mu_up = mu_dn: a large non-magnetic pad in
equilibrium); every other surface is insulating. The model is linear: it solves with
1 V on the contact and scales the fields to the requested current. Interfaces with
spin-dependent resistances r_up, r_dn (tunnel barriers) and spin memory loss delta are
thin layers of the mesh (cell groups ``barrier1``, ...) with sigma_s = t/r_s and
lambda = t/delta (:meth:`fem_spin.materials.Interface.thin_layer`): the jump
mu_s(+) - mu_s(-) = r_s j_s.n of physics.md 3.1 without spin flips, and the Bass–Pratt
interfacial layer with them; only the geometric thickness t is an approximation.

Observables: the current I (from the discrete, exactly conservative reaction at the
contacts), the voltage between two probes (surface averages of mu_c; a floating
ferromagnetic electrode far from its junction has mu_s = 0, so mu_c is what a voltmeter
reads), R = V/I for each magnetic configuration, Delta R = R_P - R_AP, and for a
pillar the CPP-GMR (R_AP - R_P)/R_P.

Discretisation: continuous P1 (or Q1) for all components; the spin-flip and precession
terms use vertex quadrature (lumped), which keeps the discrete operator an M-matrix for
spin-flip lengths shorter than the mesh (permalloy: 5 nm) instead of oscillating.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import numpy as np
from mpi4py import MPI

from fem_spin.analytic.spintronics import BOHR_MAGNETON, HBAR
from fem_spin.config import ConfigError, derived, param, positive, register_model
from fem_spin.contracts import ModelConfig, ResolveContext
from fem_spin.errors import ModelError
from fem_spin.models.base import SteadyProblem

__all__ = ["ValetFertConfig", "ValetFertProblem", "Region", "larmor_vector", "region_coefficients"]


_REGION_KEYS = ("magnetization", "thickness")


def larmor_vector(field: np.ndarray, g_factor: float = 2.0) -> np.ndarray:
    """omega_L = (g mu_B / hbar) B (rad/s): an electron's spin S obeys dS/dt = gamma_e S x B
    with gamma_e = -g mu_B/hbar, i.e. dS/dt = omega_L x S (and so does mu_s, which points along
    the majority spin)."""
    return g_factor * BOHR_MAGNETON / HBAR * np.asarray(field, dtype=float)


@dataclasses.dataclass
class Region:
    """A cell group's transport data: a bulk material, or an interface to be made a thin layer."""

    name: str
    material: object = None          # fem_spin.materials.Material
    interface: object = None         # fem_spin.materials.Interface
    magnetization: np.ndarray | None = None
    thickness: float | None = None

    @property
    def is_interface(self) -> bool:
        return self.interface is not None

    @property
    def polarization(self) -> float:
        return self.interface.polarization if self.is_interface else self.material.bulk_polarization


def _parse_region(name: str, table, key: str) -> Region:
    from fem_spin.materials import INTERFACE_TABLE_KEYS, interface_from_table, material_from_table

    if not isinstance(table, dict):
        raise ConfigError(key, "must be a table, e.g. {material = \"Cu@4.2K\"}")
    for field, value in table.items():  # integers beyond the float range overflow below
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > 1000:
                raise ConfigError(f"{key}.{field}", "must be a number below 1.8e308 (got an "
                                                    f"integer of {v.bit_length() * 3 // 10 + 1} digits)")
    region = Region(name)
    if INTERFACE_TABLE_KEYS & set(table):
        region.interface = interface_from_table(table, key, ignore=_REGION_KEYS)
        if "thickness" in table:
            t = table["thickness"]
            if isinstance(t, bool) or not isinstance(t, (int, float)) or not t > 0:
                raise ConfigError(f"{key}.thickness", f"must be a length > 0 in m (got {t!r})")
            region.thickness = float(t)
        if not region.interface.area_resistance > 0:
            raise ConfigError(f"{key}.area_resistance", "an interface layer needs a resistance-area "
                                                        "product > 0 (a transparent contact has no layer)")
    else:
        if "thickness" in table:
            raise ConfigError(f"{key}.thickness", "only interface layers take a thickness")
        region.material = material_from_table(table, key, ignore=_REGION_KEYS)
    if "magnetization" in table:
        m = table["magnetization"]
        if (not isinstance(m, (list, tuple)) or len(m) != 3
                or any(isinstance(c, bool) or not isinstance(c, (int, float)) for c in m)):
            raise ConfigError(f"{key}.magnetization", f"must be a direction [mx, my, mz] (got {m!r})")
        if not all(math.isfinite(c) for c in m):
            raise ConfigError(f"{key}.magnetization", f"must be finite numbers (got {m!r})")
        scale = max(abs(float(c)) for c in m)        # no overflow in the norm of huge components
        if not scale > 0:
            raise ConfigError(f"{key}.magnetization", "must not be the zero vector")
        m = np.asarray(m, dtype=float) / scale
        region.magnetization = m / np.linalg.norm(m)
    elif region.polarization != 0:
        raise ConfigError(f"{key}.magnetization", "required for a spin-polarized region "
                                                  "(give its direction, e.g. [0, 1, 0])")
    return region


def region_coefficients(region: Region, material, params) -> dict[str, float]:
    """The cell-wise coefficients of one region's cells (S/m and S/m^3): the spin
    conductivities, the spin-flip conductance, the transverse one (a ferromagnet absorbs
    transverse spin within ``transverse_dephasing_length``) and the precession weight
    sigma/(4D) of a non-magnetic bulk region (``material``: the region's Material, an
    interface's thin layer). The forward sensitivities differentiate these
    (models/valet_fert_tangent.py)."""
    sigma = material.conductivity
    transverse = material.spin_flip_conductance
    if region.polarization != 0 and not region.is_interface:
        transverse += sigma / (4 * params.transverse_dephasing_length**2)
    precessing = params.precession and not region.is_interface and region.polarization == 0
    return {"sigma_up": material.conductivity_up, "sigma_dn": material.conductivity_down,
            "g_sf": material.spin_flip_conductance, "g_perp": transverse,
            "precession_weight": sigma / (4 * material.diffusion_constant) if precessing else 0.0}


class ValetFertProblem(SteadyProblem):
    """Valet–Fert spin transport on a multi-region mesh (physics.md 3.1); see the module docs."""

    result_columns = ("configuration", "field_T", "current_A", "voltage_V", "resistance_ohm",
                      "current_balance_A", "max_spin_accumulation_V")
    resumable_cases = True
    headline_keys = ("delta_R_ohm", "R_parallel_ohm")
    #: the factor from the solved (unit-current) potentials to the requested current's
    scale: float = 1.0
    #: the linear solver, once create_solver has built it
    linear_problem = None

    # ------------------------------------------------------------------ pipeline
    def define_mesh(self) -> None:
        super().define_mesh()
        self._check_groups()  # regions and contacts against the mesh's named groups

    def define_function_spaces(self) -> None:
        import dolfinx.fem as fem

        self.spin_components = 3 if self.params.precession else 1
        mesh = self.mesh
        self.V = fem.functionspace(mesh, ("Lagrange", 1, (1 + self.spin_components,)))
        self.u = fem.Function(self.V, name="potentials")
        self.Q = fem.functionspace(mesh, ("DG", 0))
        self.Qv = fem.functionspace(mesh, ("DG", 0, (3,)))
        # Output fields (in volts and A/m^2 for the requested current)
        S = fem.functionspace(mesh, ("Lagrange", 1))
        W3 = fem.functionspace(mesh, ("Lagrange", 1, (3,)))
        self.mu_c_out = fem.Function(S, name="charge_potential")
        self.mu_s_out = fem.Function(S if self.spin_components == 1 else W3, name="spin_accumulation")
        self.j_out = fem.Function(W3, name="charge_current")
        self.js_out = fem.Function(W3, name="spin_current")
        self._S, self._W3 = S, W3

    def define_measures(self) -> None:
        from fem_spin.physics.terms import lumped_measure

        super().define_measures()
        self.dx_lumped = lumped_measure(self.mesh, self.mesh_data.cell_tags)

    def create_formulation(self) -> None:
        import dolfinx.fem as fem
        import ufl

        self.define_coefficients()
        u, v = self.u, ufl.TestFunction(self.V)
        mu_c, mu_s = self.split(u)
        dx, dx_l = self.dx, self.dx_lumped
        c = self.coefficients
        if self.spin_components == 1:
            mu_par = c["axis_sign"] * mu_s
            power = 0.5 * c["g_sf"] * mu_s**2 * dx_l
        else:
            m = c["m"]
            mu_par = ufl.dot(m, mu_s)
            mu_perp = mu_s - mu_par * m
            sigma = c["sigma_up"] + c["sigma_dn"]
            power = (sigma / 8 * ufl.inner(ufl.grad(mu_perp), ufl.grad(mu_perp)) * dx
                     + 0.5 * c["g_sf"] * mu_par**2 * dx_l
                     + 0.5 * c["g_perp"] * ufl.inner(mu_perp, mu_perp) * dx_l)
        mu_up, mu_dn = mu_c + mu_par / 2, mu_c - mu_par / 2
        power += 0.5 * (c["sigma_up"] * ufl.inner(ufl.grad(mu_up), ufl.grad(mu_up))
                        + c["sigma_dn"] * ufl.inner(ufl.grad(mu_dn), ufl.grad(mu_dn))) * dx
        self.power = power
        residual = ufl.derivative(power, u, v)
        if self.spin_components == 3:
            self.omega = fem.Constant(self.mesh, np.zeros(3))
            _, v_s = self.split(v)
            residual += -c["precession_weight"] * ufl.inner(ufl.cross(self.omega, mu_s), v_s) * dx_l
        self.residual = residual
        self.residual_form = fem.form(residual)
        du = ufl.TrialFunction(self.V)
        self.a = ufl.derivative(residual, u, du)
        zero = fem.Constant(self.mesh, 0.0)
        self.L = zero * v[0] * dx
        # currents for output (true values for the solved u): j_s = -sigma_s grad mu_s
        self.charge_current_expr = -(c["sigma_up"] * ufl.grad(mu_up) + c["sigma_dn"] * ufl.grad(mu_dn))
        self.spin_current_expr = -(c["sigma_up"] * ufl.grad(mu_up) - c["sigma_dn"] * ufl.grad(mu_dn))
        self._observables_forms()

    def split(self, u):
        import ufl

        if self.spin_components == 1:
            return u[0], u[1]
        return u[0], ufl.as_vector([u[1], u[2], u[3]])

    def _check_groups(self) -> None:
        md, p = self.mesh_data, self.params
        for name in md.cell_groups:
            if name not in p.region_data:
                raise ModelError(f"cell group {name!r} of the mesh has no material",
                                 key=f"model.regions.{name}")
        for name in p.region_data:
            if name not in md.cell_groups:
                raise ModelError(f"the mesh has no cell group {name!r} (have "
                                 f"{', '.join(sorted(md.cell_groups))})", key=f"model.regions.{name}")
        self._facet_group(p.current_contact, "model.current_contact")
        self._facet_group(p.ground, "model.ground")
        for name in p.voltage_probes:
            self._facet_group(name, "model.voltage_probes")

    def _facet_group(self, name: str, key: str) -> int:
        groups = self.mesh_data.facet_groups
        if name not in groups:
            raise ModelError(f"no surface {name!r} on the device: contacts must be facet groups of the "
                             f"mesh (have {', '.join(sorted(groups))})", key=key)
        return groups[name]

    def define_coefficients(self) -> None:
        """Cell-wise (DG0) conductivities, spin-flip conductances and magnetization directions."""
        import dolfinx.fem as fem

        p = self.params
        names = ["sigma_up", "sigma_dn", "g_sf", "g_perp", "precession_weight", "axis_sign"]
        c = {n: fem.Function(self.Q, name=n) for n in names}
        c["m"] = fem.Function(self.Qv, name="magnetization")
        self.materials = {}
        magnetized = [r.magnetization for r in p.region_data.values() if r.magnetization is not None]
        self.axis = magnetized[0] if magnetized else np.array([0.0, 1.0, 0.0])
        dofs_of = self.Q.dofmap.list
        self._region_cells = {}
        for name, region in p.region_data.items():
            cells = self.mesh_data.cell_tags.find(self.mesh_data.cell_groups[name])
            dofs = dofs_of[cells, 0]
            self._region_cells[name] = dofs
            mat = region.interface.thin_layer(region.thickness) if region.is_interface else region.material
            self.materials[name] = mat
            for coefficient, value in region_coefficients(region, mat, p).items():
                c[coefficient].x.array[dofs] = value
            m = region.magnetization if region.magnetization is not None else self.axis
            c["m"].x.array.reshape(-1, 3)[dofs] = m
            c["axis_sign"].x.array[dofs] = float(np.sign(m @ self.axis)) or 1.0
        for f in c.values():
            f.x.scatter_forward()
        self.coefficients = c

    def set_configuration(self, configuration: str) -> None:
        """Magnetizations of ``switch_regions`` reversed for "antiparallel"."""
        c, p = self.coefficients, self.params
        sign = -1.0 if configuration == "antiparallel" else 1.0
        for name in p.switch_regions:
            region = p.region_data.get(name)
            if region is None or name not in self._region_cells:
                continue
            dofs = self._region_cells[name]
            m = region.magnetization if region.magnetization is not None else self.axis
            c["m"].x.array.reshape(-1, 3)[dofs] = sign * m
            c["axis_sign"].x.array[dofs] = sign * (float(np.sign(m @ self.axis)) or 1.0)
        c["m"].x.scatter_forward()
        c["axis_sign"].x.scatter_forward()

    def _observables_forms(self) -> None:
        import dolfinx.fem as fem

        p, md = self.params, self.mesh_data
        fdim = self.mesh.topology.dim - 1
        self.mesh.topology.create_connectivity(fdim, self.mesh.topology.dim)
        self._contact_dofs = {}
        bcs = []
        bs = self.V.dofmap.index_map_bs
        n_owned = self.V.dofmap.index_map.size_local
        for key, surface, value in (("current_contact", p.current_contact, 1.0), ("ground", p.ground, 0.0)):
            tag = md.facet_groups[surface]
            facets = md.facet_tags.find(tag)
            dofs = fem.locate_dofs_topological(self.V, fdim, facets)
            # block dofs owned here, as indices of the charge component in the unrolled array
            self._contact_dofs[key] = dofs[dofs < n_owned] * bs
            if self.comm.allreduce(len(dofs), op=MPI.SUM) == 0:
                raise ModelError(f"surface {surface!r} has no mesh nodes", key=f"model.{key}")
            value_vector = np.zeros(bs)
            value_vector[0] = value
            bcs.append(fem.dirichletbc(value_vector, dofs, self.V))
        self.bcs = bcs
        mu_c = self.u[0]
        self._probe_forms = []
        for name in p.voltage_probes:
            tag = md.facet_groups[name]
            area = self.integrate(fem.form(fem.Constant(self.mesh, 1.0) * self.ds(tag)))
            self._probe_forms.append((fem.form(mu_c * self.ds(tag)), area))
        self._mass_S = None

    #: Default linear solver, chosen by measurement (benchmarks/bench_models.py, lateral spin
    #: valve, 9k-94k DOFs): CG (GMRES with precession, whose operator is not symmetric) with
    #: BoomerAMG tuned for 3-D (HMIS coarsening, ext+i interpolation): 1.0 s per case at 94k
    #: DOFs and cost ~ DOFs^1.04, against 13 s and ~ DOFs^1.9 for MUMPS LU, 1.5 s for GAMG.
    #: (Measured at ksp_rtol 1e-10; the default asks 1e-12, because tunnel barriers make the
    #: system ill-conditioned and resistances must agree between models to 1e-8.)
    #: If it fails, the case is solved again with MUMPS LU (and a warning is printed).
    KRYLOV_DEFAULTS = {"ksp_rtol": 1e-12, "ksp_atol": 1e-30, "ksp_max_it": 1000, "pc_type": "hypre",
                       "pc_hypre_type": "boomeramg",
                       "pc_hypre_boomeramg_strong_threshold": 0.5,
                       "pc_hypre_boomeramg_coarsen_type": "HMIS",
                       "pc_hypre_boomeramg_interp_type": "ext+i",
                       "pc_hypre_boomeramg_P_max": 4, "pc_hypre_boomeramg_agg_nl": 1}
    DIRECT = {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"}

    def create_solver(self, direct: bool = False) -> None:
        from dolfinx.fem.petsc import LinearProblem

        from fem_spin.solvers.newton import linear_solver_options, petsc_options_checked

        user = self.config.solver.petsc_options
        defaults = {"ksp_type": "gmres" if self.params.precession else "cg", **self.KRYLOV_DEFAULTS}
        # (a pc_type alone keeps the tight Krylov tolerances: a linear model's accuracy is the
        # Krylov tolerance, and PETSc's rtol 1e-5 is not enough)
        options = (dict(self.DIRECT) if direct
                   else linear_solver_options(defaults, user))
        self.uses_default_krylov = not direct and options.get("ksp_type") != "preonly"
        with petsc_options_checked():
            self.linear_problem = LinearProblem(self.a, self.L, bcs=self.bcs, u=self.u,
                                                petsc_options=options)

    # ------------------------------------------------------------------ solving
    def solve(self) -> None:
        """Solve for 1 V on the current contact (the fields are then scaled by current/I)."""
        from fem_spin.solvers import SimulationFailed

        self.linear_problem.solve()
        reason = self.linear_problem.solver.getConvergedReason()
        if reason <= 0 and self.uses_default_krylov:
            from fem_spin.io import rank0_print

            rank0_print(f"  warning: CG/GMRES + BoomerAMG failed (PETSc KSP converged reason "
                        f"{reason}); solving with MUMPS LU", comm=self.comm)
            self.create_solver(direct=True)
            self.linear_problem.solve()
            reason = self.linear_problem.solver.getConvergedReason()
        if reason <= 0:
            raise SimulationFailed(f"linear solver failed (PETSc KSP converged reason {reason})")
        self.u.x.scatter_forward()

    def contact_currents(self) -> dict[str, float]:
        """Charge current into the device through each reservoir (A) at the current solution:
        the residual of the charge equation at the contact nodes (exactly conservative)."""
        import dolfinx.fem as fem
        import dolfinx.la

        b = fem.assemble_vector(self.residual_form)
        b.scatter_reverse(dolfinx.la.InsertMode.add)
        return {key: self.global_sum(float(b.array[dofs].sum())) for key, dofs in self._contact_dofs.items()}

    def probe_voltage(self) -> float:
        """<mu_c>(plus) - <mu_c>(minus), or the contact voltage without probes (V, for 1 V applied)."""
        import dolfinx.fem as fem

        if not self._probe_forms:
            return 1.0
        (plus, a_plus), (minus, a_minus) = self._probe_forms
        return (self.global_sum(fem.assemble_scalar(plus)) / a_plus
                - self.global_sum(fem.assemble_scalar(minus)) / a_minus)

    def solve_cases(self):
        p = self.params
        self.results = []
        direction = np.asarray(p.field_direction, dtype=float)
        direction /= np.linalg.norm(direction)
        index = 0
        for configuration in p.configurations:
            configured = False
            for k, field in enumerate(p.hanle_fields):
                index += 1
                if index <= len(self.completed_cases):   # solved before a stop (resume)
                    row = self.completed_cases[index - 1]
                    self.results.append(row)
                    yield row, k == 0
                    continue
                if not configured:
                    self.set_configuration(configuration)
                    configured = True
                if self.spin_components == 3:
                    self.omega.value[:] = larmor_vector(field * direction, p.g_factor)
                self.solve()
                currents = self.contact_currents()
                current = currents["current_contact"]
                scale = p.current / current
                self.scale = scale
                spin = self.owned(self.u.x.array).reshape(-1, 1 + self.spin_components)[:, 1:]
                spin_max = self.global_max(np.linalg.norm(spin, axis=1) if spin.size else np.zeros(0))
                voltage = self.probe_voltage() * scale
                row = {"configuration": configuration, "field_T": float(field), "current_A": p.current,
                       "voltage_V": voltage, "resistance_ohm": voltage / p.current,
                       "current_balance_A": (currents["current_contact"] + currents["ground"]) * scale,
                       "max_spin_accumulation_V": spin_max * scale}
                self.results.append(row)
                yield row, k == 0

    def resistance(self, configuration: str = "parallel", field: float = 0.0) -> float:
        for row in self.results:
            if row["configuration"] == configuration and row["field_T"] == field:
                return row["resistance_ohm"]
        raise KeyError(f"no solved case {configuration!r} at B = {field} T")

    def summary(self) -> dict:
        p = self.params
        out: dict = {"current_A": p.current}
        solved = {r["configuration"] for r in self.results}
        for conf in ("parallel", "antiparallel"):
            if conf in solved:
                out[f"R_{conf}_ohm"] = self.resistance(conf, p.hanle_fields[0])
        if solved == {"parallel", "antiparallel"}:
            r_p, r_ap = out["R_parallel_ohm"], out["R_antiparallel_ohm"]
            out["delta_R_ohm"] = r_p - r_ap
            if not p.voltage_probes:
                out["gmr"] = (r_ap - r_p) / r_p
        estimate = self.takahashi_maekawa()
        if estimate is not None:
            out["delta_R_takahashi_maekawa_ohm"] = estimate
        out["max_abs_current_balance_A"] = max(abs(r["current_balance_A"]) for r in self.results)
        return out

    def takahashi_maekawa(self) -> float | None:
        """Delta R_s of the thin-wire formula (physics.md 3.1) for a lateral spin valve whose
        regions are named N, F1, F2 (and barrier1, barrier2), else None."""
        geometry = self.config.geometry
        area_j = geometry.junction_area()
        if area_j is None or not {"N", "F1", "F2"} <= set(self.materials):
            return None
        from fem_spin.analytic import spin_resistance, takahashi_maekawa

        n, f = self.materials["N"], self.materials["F1"]
        r_n = spin_resistance(n.resistivity, n.spin_diffusion_length, geometry.n_cross_section())
        r_f = spin_resistance(f.resistivity, f.spin_diffusion_length, area_j)
        contacts = []
        for name in ("barrier1", "barrier2"):
            region = self.params.region_data.get(name)
            if region is not None and name in self.materials:
                contacts.append((region.interface.area_resistance / area_j, region.interface.polarization))
            else:
                contacts.append((0.0, 0.0))
        (r1, pj1), (r2, pj2) = contacts
        return float(takahashi_maekawa(geometry.separation, n.spin_diffusion_length, r_n, r_f, r1, r2,
                                       pj1, pj2, f.bulk_polarization))

    # ------------------------------------------------------------------ output
    def output_functions(self) -> list:
        return [self.mu_c_out, self.mu_s_out, self.j_out, self.js_out]

    def update_output_functions(self) -> None:
        """Potentials and (lumped L2-projected) current densities for the requested current."""
        import dolfinx.fem as fem
        import dolfinx.la
        import ufl

        scale = self.scale
        bs = 1 + self.spin_components
        values = self.u.x.array.reshape(-1, bs)
        self.mu_c_out.x.array[:] = scale * values[:, 0]
        if self.spin_components == 1:
            self.mu_s_out.x.array[:] = scale * values[:, 1]
        else:
            self.mu_s_out.x.array[:] = scale * values[:, 1:].ravel()
        if self._mass_S is None:
            w = ufl.TestFunction(self._S)
            mass = fem.assemble_vector(fem.form(w * self.dx_lumped))
            mass.scatter_reverse(dolfinx.la.InsertMode.add)
            mass.scatter_forward()
            self._mass_S = mass.array.copy()
            q = ufl.TestFunction(self._W3)
            self._current_forms = (fem.form(ufl.inner(self.charge_current_expr, q) * self.dx),
                                   fem.form(ufl.inner(self.spin_current_expr, q) * self.dx))
        if self.spin_components == 1:
            for form, out in zip(self._current_forms, (self.j_out, self.js_out)):
                vec = fem.assemble_vector(form)
                vec.scatter_reverse(dolfinx.la.InsertMode.add)
                vec.scatter_forward()
                out.x.array[:] = scale * vec.array / np.repeat(self._mass_S, 3)
        else:  # the spin current is a tensor with precession: only the charge current is drawn
            vec = fem.assemble_vector(self._current_forms[0])
            vec.scatter_reverse(dolfinx.la.InsertMode.add)
            vec.scatter_forward()
            self.j_out.x.array[:] = scale * vec.array / np.repeat(self._mass_S, 3)

    def tangent_linear(self, keys):
        """Forward sensitivities of every solved case with respect to the run keys ``keys``
        (solvers/sensitivity.SteadyTangent; which keys: :meth:`ValetFertConfig.tangent_support`)."""
        from fem_spin.models.valet_fert_tangent import ValetFertTangent
        from fem_spin.solvers.sensitivity import NotDifferentiable

        reasons = [f"{k}: {r}" for k in keys if (r := self.params.tangent_support(k, self.config))]
        if reasons:
            raise NotDifferentiable("; ".join(reasons))
        return ValetFertTangent(self, keys)

    def destroy(self) -> None:
        solver = self.linear_problem
        if solver is not None:
            solver.solver.destroy()
            solver.A.destroy()
            solver.b.destroy()

    # ------------------------------------------------------------------ run-level plots/pictures


# =========================================================================== the [model] section
@register_model("valet_fert", problem=ValetFertProblem)
@dataclasses.dataclass(frozen=True)
class ValetFertConfig(ModelConfig):
    """[model] type = "valet_fert" (physics.md 3.1): stationary two-current spin transport."""

    regions: dict = param(doc="one table per cell group: a material (library name such as "
                          "\"Cu@4.2K\", explicit resistivity/spin_diffusion_length/bulk_polarization, or "
                          "microscopic values) or an interface layer (interface name, or area_resistance, "
                          "polarization, spin_memory_loss); spin-polarized regions add magnetization")
    current: float = param(1e-4, unit="A", doc="current driven from current_contact to ground",
                           check=positive)
    current_contact: str = param("F1_end", doc="facet group where the current enters (reservoir)")
    ground: str = param("N_left_end", doc="facet group where it leaves (reservoir at 0 V)")
    voltage_probes: list[str] = param(default_factory=lambda: ["F2_end", "N_right_end"],
                                      doc="[plus, minus] facet groups: V = <mu_c>(plus) - <mu_c>(minus); "
                                      "empty: the two-terminal voltage of the current contact")
    configurations: list[Literal["parallel", "antiparallel"]] = param(
        default_factory=lambda: ["parallel", "antiparallel"], doc="magnetic configurations to solve")
    switch_regions: list[str] = param(default_factory=lambda: ["F2", "barrier2"],
                                      doc="regions whose magnetization is reversed in the antiparallel "
                                      "configuration (names absent from the mesh are ignored)")
    precession: bool = param(False, doc="vector spin accumulation with Larmor precession (Hanle)")
    field_direction: tuple[float, float, float] = param((0.0, 0.0, 1.0),
                                                        doc="direction of the applied field B")
    hanle_fields: list[float] = param(default_factory=lambda: [0.0], unit="T",
                                      doc="field magnitudes to solve (precession = true)")
    g_factor: float = param(2.0, doc="electron g-factor", check=positive)
    transverse_dephasing_length: float = param(1e-9, unit="m", doc="length over which a ferromagnet "
                                               "absorbs spin transverse to m (precession = true)",
                                               check=positive)
    #: the regions' transport data (from ``regions``; interface thicknesses the geometry
    #: knows filled in by resolve)
    region_data: dict[str, Region] | None = derived(doc="Region per cell group")

    def unknowns_per_node(self) -> int:
        """mu_c and mu_s, with precession the three components of the spin accumulation."""
        return 4 if self.precession else 2

    def __post_init__(self):
        if not self.regions:
            raise ConfigError("regions", "give one table per cell group, e.g. "
                                         "[model.regions.N] material = \"Cu@4.2K\"")
        if self.region_data is None:
            object.__setattr__(self, "region_data", {name: _parse_region(name, table, f"regions.{name}")
                                                     for name, table in self.regions.items()})
        if len(self.voltage_probes) not in (0, 2):
            raise ConfigError("voltage_probes", f"give [plus, minus] facet groups or [] (got "
                                                f"{self.voltage_probes})")
        if self.current_contact == self.ground:
            raise ConfigError("ground", "must differ from current_contact")
        if not self.configurations:
            raise ConfigError("configurations", "name at least one of 'parallel', 'antiparallel'")
        if not np.linalg.norm(self.field_direction) > 0:
            raise ConfigError("field_direction", "must not be the zero vector")
        if not self.hanle_fields:
            raise ConfigError("hanle_fields", "give at least one field (e.g. [0.0])")
        if not self.precession and any(b != 0 for b in self.hanle_fields):
            raise ConfigError("hanle_fields", "non-zero fields need precession = true")
        magnetized = [r for r in self.region_data.values() if r.magnetization is not None]
        if not self.precession and magnetized:
            axis = magnetized[0].magnetization
            for r in magnetized:
                if abs(abs(float(r.magnetization @ axis)) - 1) > 1e-9:
                    raise ConfigError(f"regions.{r.name}.magnetization",
                                      "non-collinear magnetizations need precession = true")
        if self.precession:
            for r in self.region_data.values():
                if not r.is_interface and r.polarization == 0 and r.material.diffusion_constant is None:
                    raise ConfigError(f"regions.{r.name}.diffusion_constant",
                                      "needed for precession in a non-magnetic region (m^2/s)")

    def resolve(self, context: ResolveContext) -> "ValetFertConfig":
        """Interface layers without a thickness take the geometry's."""
        regions = {}
        for name, r in self.region_data.items():
            if r.is_interface and r.thickness is None:
                thickness = context.geometry.layer_thickness(r.name)
                if thickness is None:
                    raise ConfigError(f"model.regions.{r.name}.thickness",
                                      "this geometry does not know the layer's thickness: give it")
                r = dataclasses.replace(r, thickness=thickness)
            regions[name] = r
        return dataclasses.replace(self, region_data=regions)

    def tangent_support(self, key: str, run_config) -> str | None:
        """None for the region keys whose forward sensitivities the model computes (the
        regions' coefficients are differentiated through the material laws:
        models/valet_fert_tangent.py), else why not (finite differences then)."""
        from fem_spin.models.valet_fert_tangent import tangent_support

        return tangent_support(self, key, run_config)

    def tangent_observables(self) -> tuple[str, ...]:
        """What the sensitivities differentiate: per case the resistance and the voltage, and
        the summary's R_parallel_ohm, R_antiparallel_ohm and delta_R_ohm."""
        from fem_spin.models.valet_fert_tangent import OBSERVED, SUMMARY

        return OBSERVED + SUMMARY

    def length_scales(self) -> dict[str, float]:
        """Spin-flip length per region (m): the bulk material's, an interface layer's
        thickness/delta (infinite without spin memory loss); the geometry grades its mesh
        towards interfaces by them."""
        out = {}
        for name, r in self.region_data.items():
            if r.is_interface:
                delta = r.interface.spin_memory_loss
                out[name] = r.thickness / delta if delta > 0 and r.thickness else math.inf
            else:
                out[name] = float(r.material.spin_diffusion_length)
        return out
