r"""Forward sensitivities of the valet_fert model (issue 21; solvers/sensitivity.py).

The model is linear and stationary: each case (magnetic configuration, field) solves
:math:`F(u; p) = A(p)\,u = 0` with 1 V on the current contact and 0 on the ground, and reports
:math:`R = V_\mathrm{probe}/I` (both for the 1 V solution; the model rescales to the requested
current, which R does not depend on). Differentiating with respect to a parameter p, with the
Dirichlet values independent of p,

.. math::  J\,s = -\partial F/\partial p, \quad s = du/dp, \quad s = 0 \text{ on the contacts},

solved with the case's own assembled operator and Krylov (or LU) solver: one linear solve per
parameter per case. Then :math:`dV/dp` is the probe functional of s and :math:`dI/dp` the
contact sum of :math:`J s + \partial F/\partial p` (the current is the residual's reaction at
the contact, exactly as the forward model computes it), and
:math:`dR/dp = (dV/dp - R\,dI/dp)/I`.

Where p enters. The region data are cell-wise (DG0) coefficient Functions set from each
region's material (:func:`~fem_spin.models.valet_fert.region_coefficients`): sigma_up,
sigma_dn, g_sf, g_perp and the precession weight sigma/(4D). The derivative of the residual
form is the chain rule through them: :math:`\partial F/\partial p = \sum_c
\mathrm{ufl.derivative}(F, c, dc/dp)` with :math:`dc/dp` the closed-form derivative of the
material law on the region's cells (below), so the UFL derivative is exact for the discrete
problem. Differentiated keys, ``model.regions.<name>.<field>``:

* a bulk region: ``resistivity`` (every coefficient is proportional to sigma = 1/rho),
  ``spin_diffusion_length`` (g_sf = sigma (1 - P^2)/(4 lambda^2)), ``spin_lifetime`` (tau_sf with
  D held: lambda^2 = D tau_sf), ``diffusion_constant`` (the precession weight; and g_sf when the
  table gives spin_lifetime, lambda^2 = D tau_sf), ``bulk_polarization`` of a magnetized region
  (sigma_up/dn = sigma (1 +- P)/2 and g_sf);
* an interface layer: ``polarization`` (P_J) and ``area_resistance`` (its thin layer has sigma =
  t/RA, bulk_polarization P_J: interface/contact polarization and resistance).

Not differentiated (finite differences): geometry keys and spin-flip lengths that size the
mesh (a lateral spin valve without explicit ``mesh_size_junction`` and ``mesh_size`` is meshed
by lambda_N), the P = 0 point of a bulk polarization (the model treats a non-magnetic region
differently), Bass-Pratt or microscopic inputs, spin memory loss, the current (R does not
depend on it) and every other key.
"""

from __future__ import annotations

import math

from fem_spin.solvers.sensitivity import SteadyTangent

__all__ = ["BULK_FIELDS", "INTERFACE_FIELDS", "OBSERVED", "SUMMARY", "tangent_support",
           "coefficient_derivatives", "ValetFertTangent"]

BULK_FIELDS = ("resistivity", "spin_diffusion_length", "spin_lifetime", "diffusion_constant",
               "bulk_polarization")
INTERFACE_FIELDS = ("polarization", "area_resistance")
#: results-table columns differentiated per case
OBSERVED = ("resistance_ohm", "voltage_V")
#: summary numbers differentiated (from the cases)
SUMMARY = ("R_parallel_ohm", "R_antiparallel_ohm", "delta_R_ohm")
#: fields that change a region's spin-flip length (and so, possibly, the mesh)
_LENGTH_FIELDS = ("spin_diffusion_length", "spin_lifetime", "diffusion_constant")
#: spin-flip lengths tried against the mesh's size rule, relative to the current one
_LENGTH_FACTORS = (1e-3, 0.1, 0.99, 1.01, 10.0, 1e3)


def _region_key(key: str) -> tuple[str, str] | None:
    parts = key.split(".")
    if len(parts) == 4 and parts[:2] == ["model", "regions"]:
        return parts[2], parts[3]
    return None


def _lifetime_given(model, name: str) -> bool:
    """Whether the region's table gives tau_sf (then lambda^2 = D tau_sf follows D)."""
    table = model.regions.get(name, {})
    return isinstance(table, dict) and "spin_lifetime" in table


def _mesh_follows(model, run_config, name: str) -> bool:
    """Whether the geometry's mesh changes with the spin-flip length of region ``name``: the
    geometry sized by the model's lengths and by those with ``name``'s scaled over six decades
    (a fit may go there; a size rule with a min/max is flat near the current value only),
    compared by their effective element sizes (``coarsened(1)``), else as sections."""
    geometry = run_config.geometry
    lengths = model.length_scales()
    if name not in lengths or not math.isfinite(lengths[name]):
        return False
    a = geometry.with_length_scales(lengths)
    for factor in _LENGTH_FACTORS:
        b = geometry.with_length_scales({**lengths, name: factor * lengths[name]})
        sizes_a, sizes_b = a.coarsened(1.0), b.coarsened(1.0)
        if (a != b) if sizes_a is None or sizes_b is None else (sizes_a != sizes_b):
            return True
    return False


def tangent_support(model, key: str, run_config) -> str | None:
    """None if the valet_fert ``model`` (a ValetFertConfig) differentiates its cases with respect
    to the run key ``key``, else why not (see the module docstring)."""
    if model.multi_terminal():
        return "the multi-terminal mode (terminals) is not differentiated (finite differences)"
    if key.startswith("geometry."):
        return "a geometry key changes the mesh (finite differences)"
    parsed = _region_key(key)
    if parsed is None:
        return (f"not a region key (differentiated: model.regions.<name>.<field>, field one of "
                f"{', '.join(BULK_FIELDS + INTERFACE_FIELDS)})")
    name, field = parsed
    region = model.region_data.get(name)
    if region is None:
        return f"no region {name!r}"
    if region.is_interface:
        if field not in INTERFACE_FIELDS:
            return (f"{field!r} of an interface layer is not differentiated (only "
                    f"{', '.join(INTERFACE_FIELDS)})")
        return None
    if field not in BULK_FIELDS:
        return f"{field!r} of a bulk region is not differentiated (only {', '.join(BULK_FIELDS)})"
    if field == "bulk_polarization" and (region.magnetization is None or region.polarization == 0):
        return "P = 0 makes the region non-magnetic (the model switches its treatment there)"
    if field in _LENGTH_FIELDS and (field != "diffusion_constant" or _lifetime_given(model, name)) \
            and _mesh_follows(model, run_config, name):
        return (f"the mesh is sized by the spin-flip length of {name!r} (give the geometry's mesh "
                f"sizes, e.g. mesh_size_junction and mesh_size, to differentiate it)")
    return None


def coefficient_derivatives(model, name: str, field: str, material) -> dict[str, float]:
    """d(coefficient)/d(field) on the cells of region ``name`` (constant over the region), for the
    coefficients of :func:`~fem_spin.models.valet_fert.region_coefficients`; ``material`` is
    the region's Material (an interface's thin layer)."""
    from fem_spin.models.valet_fert import region_coefficients

    region = model.region_data[name]
    values = region_coefficients(region, material, model)
    g = values["g_sf"]
    if field in ("resistivity", "area_resistance"):
        # sigma = 1/rho (bulk) or t/RA (layer): every coefficient is proportional to sigma
        x = material.resistivity if field == "resistivity" else region.interface.area_resistance
        out = {c: -v / x for c, v in values.items()}
        if region.mixing_conductance is not None:   # 2 t G_r - sigma and t G_i: not through sigma's law
            out.update(sigma_perp_excess=material.conductivity / x, mixing_torque=0.0)
        return out
    if field == "spin_diffusion_length":
        dg = -2.0 * g / material.spin_diffusion_length
        return {"g_sf": dg, "g_perp": dg}
    if field == "spin_lifetime":   # lambda^2 = D tau: g_sf ~ 1/tau
        dg = -g / material.spin_lifetime
        return {"g_sf": dg, "g_perp": dg}
    if field == "diffusion_constant":
        d = material.diffusion_constant
        out = {"precession_weight": -values["precession_weight"] / d}
        if _lifetime_given(model, name):   # lambda^2 = D tau: g_sf ~ 1/D
            out.update(g_sf=-g / d, g_perp=-g / d)
        return out
    if field in ("bulk_polarization", "polarization"):
        # sigma_up/dn = sigma (1 +- P)/2, g_sf = sigma (1 - P^2)/(4 lambda^2)
        sigma, p, lam = material.conductivity, material.bulk_polarization, material.spin_diffusion_length
        dg = 0.0 if math.isinf(lam) else -sigma * p / (2.0 * lam**2)
        return {"sigma_up": sigma / 2, "sigma_dn": -sigma / 2, "g_sf": dg, "g_perp": dg}
    raise ValueError(f"{field}: not a differentiated field")


class ValetFertTangent(SteadyTangent):
    """:class:`~fem_spin.solvers.sensitivity.SteadyTangent` of a ValetFertProblem.

    One compiled form serves every key: dF/dp = sum_c ufl.derivative(F, c, w_c) with one DG0
    direction Function w_c per coefficient, filled with dc/dp on the key's region before its
    solve (compiling a form per key costs more than the solves on a small device). The
    observables of s reuse the forward model's own compiled forms: F is linear and homogeneous
    in u, so the probe voltage and the contact reaction of u = s are dV/dp and J s."""

    observable_names = OBSERVED

    def __init__(self, problem, keys):
        super().__init__(keys)
        import dolfinx.fem as fem
        import ufl

        self.problem = problem
        p = problem.params
        self.s = fem.Function(problem.V, name="sensitivity")
        present = set(ufl.algorithms.extract_coefficients(problem.residual))
        self.directions = {c: fem.Function(problem.Q, name=f"d_{c}")
                           for c in ("sigma_up", "sigma_dn", "g_sf", "g_perp", "precession_weight", "spin_hall",
                                     "sigma_perp_excess", "mixing_torque")
                           if problem.coefficients[c] in present}
        dF = sum(ufl.derivative(problem.residual, problem.coefficients[c], w) for c, w in self.directions.items())
        self.rhs = fem.form(-dF)
        self.derivatives = {}
        for key in self.keys:
            name, field = _region_key(key)
            values = coefficient_derivatives(p, name, field, problem.materials[name])
            self.derivatives[key] = (name, {c: v for c, v in values.items() if v != 0.0 and c in self.directions})

    def _set_directions(self, key: str) -> bool:
        """w_c = dc/dp of ``key`` on its region, 0 elsewhere; False when F does not depend on it."""
        name, values = self.derivatives[key]
        cells = self.problem._region_cells[name]
        for c, w in self.directions.items():
            w.x.array[:] = 0.0
            w.x.array[cells] = values.get(c, 0.0)
        return bool(values)

    def _solve(self) -> float:
        """s from J s = -dF/dp with s = 0 on the contacts (the case's own operator and solver);
        returns the contact sum of dF/dp (part of dI/dp)."""
        import dolfinx.fem.petsc as fem_petsc
        from petsc4py import PETSc

        from fem_spin.solvers import SimulationFailed

        b = fem_petsc.assemble_vector(self.rhs)
        b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        contact = self.problem._contact_dofs["current_contact"]
        dF_contact = -self.problem.global_sum(float(b.array_r[contact].sum()))
        for bc in self.problem.bcs:
            bc.set(b.array_w, alpha=0.0)   # homogeneous: the contact values do not depend on p
        x = self.s.x.petsc_vec
        x.set(0.0)
        solver = self.problem.linear_problem.solver
        solver.solve(b, x)
        b.destroy()
        reason = solver.getConvergedReason()
        if reason <= 0:
            raise SimulationFailed(f"the sensitivity solve failed (PETSc KSP converged reason {reason})")
        self.s.x.scatter_forward()
        self.linear_solves += 1
        return dF_contact

    def _observe_s(self) -> tuple[float, float]:
        """(probe voltage, contact reaction) of u = s by the forward model's forms."""
        u = self.problem.u
        saved = u.x.array.copy()
        try:
            u.x.array[:] = self.s.x.array
            return self.problem.probe_voltage() if self.problem._probe_forms else 0.0, \
                self.problem.contact_currents()["current_contact"]
        finally:
            u.x.array[:] = saved

    def differentiate(self) -> dict[str, dict[str, float]]:
        problem = self.problem
        current = problem.params.current
        resistance = problem.results[-1]["resistance_ohm"]
        unit_current = current / problem.scale   # I for 1 V on the contact
        out = {}
        for key in self.keys:
            if not self._set_directions(key):   # e.g. D without precession
                out[key] = {"resistance_ohm": 0.0, "voltage_V": 0.0}
                continue
            dF_contact = self._solve()
            dV, Js_contact = self._observe_s()
            dR = (dV - resistance * (Js_contact + dF_contact)) / unit_current
            out[key] = {"resistance_ohm": dR, "voltage_V": current * dR}
        return out

    def summary_derivatives(self, summary: dict) -> dict[str, dict[str, float]]:
        """R_parallel_ohm and R_antiparallel_ohm (at the first field, as the summary takes
        them) and delta_R_ohm = R_P - R_AP."""
        rows = self.problem.results
        first = self.problem.params.hanle_fields[0]
        out = {}
        for key in self.keys:
            values = {}
            for conf in ("parallel", "antiparallel"):
                if f"R_{conf}_ohm" in summary:
                    k = next(i for i, r in enumerate(rows)
                             if r["configuration"] == conf and r["field_T"] == first)
                    values[f"R_{conf}_ohm"] = self.records[key]["resistance_ohm"][k]
            if "delta_R_ohm" in summary:
                values["delta_R_ohm"] = values["R_parallel_ohm"] - values["R_antiparallel_ohm"]
            out[key] = values
        return out

    def destroy(self) -> None:
        self.directions = {}
