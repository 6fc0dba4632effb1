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

Multi-terminal mode (``terminals``, note section 7.1): every named facet group is a
reservoir (U = V_j, S = 0) in every solve; one solve per terminal (one operator, n right-hand
sides) gives the conductance matrix G from the reactions, and each of ``measurements`` its
four-terminal resistance with the other terminals floating (Büttiker; models/terminals.py).
The discrete identity A(m, B)^T = T A(-m, -B) T makes G(m, B)^T = G(-m, -B) to solver
tolerance, hence R_{kl,ij}(m) = R_{ij,kl}(-m): SHE injection and ISHE detection reciprocal.

A metallic F/N interface layer may carry ``mixing_conductance = [G_r, G_i]`` (note section
5.2): its transverse spin current is -t X grad S with X = G_r (1 - m m^T) - G_i [m x], the
circuit theory's X (S_N - S_F) across the layer; without it the transverse conductance is the
collinear one (G_r = 1/(2 RA)).

Observables: the current I (from the discrete, exactly conservative reaction at the
contacts), the voltage between two probes (surface averages of mu_c; a floating
ferromagnetic electrode far from its junction has mu_s = 0, so mu_c is what a voltmeter
reads), R = V/I for each magnetic configuration, Delta R = R_P - R_AP, and for a
pillar the CPP-GMR (R_AP - R_P)/R_P.

Spin–orbit transport (docs/theory/spin_orbit_transport.md, issue 23). A non-magnetic bulk
region may carry a spin Hall angle theta_SH (region key ``spin_hall_angle``): the currents get
the spin Hall and inverse spin Hall parts of the note's section 2 and the residual the two
antisymmetric terms F_SH of its section 4. A boundary surface of the metal in contact with a
magnetic insulator (``mixing_interfaces``) absorbs the spin transverse to the insulator's m
with the mixing conductance G_r and rotates it with G_i (section 5.1). Either makes the spin
accumulation a vector (three components) without ``precession``; the operator is then not
symmetric (GMRES, or LU: ``create_solver``).

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

__all__ = ["ValetFertConfig", "ValetFertProblem", "Region", "MixingInterface", "larmor_vector",
           "region_coefficients", "rotation_directions"]


_REGION_KEYS = ("magnetization", "thickness", "spin_hall_angle", "mixing_conductance")
#: keys of a [model.mixing_interfaces.<surface>] table
_MIXING_KEYS = ("interface", "conductance_real", "conductance_imag", "magnetization", "rotation_plane",
                "angles")
#: the in-plane axes of each rotation plane: m = cos(a) e1 + sin(a) e2 (a from the first axis)
ROTATION_PLANES = {"xy": (0, 1), "yz": (1, 2), "xz": (0, 2)}


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
    #: theta_SH (docs/theory/spin_orbit_transport.md section 2), non-magnetic bulk regions only
    spin_hall_angle: float = 0.0
    #: (G_r, G_i) of a metallic F/N contact's layer (note section 5.2, S/m^2), or None: the
    #: layer's transverse spin conductance is then its collinear one, G_r = 1/(2 RA)
    mixing_conductance: tuple[float, float] | None = None

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
    region.spin_hall_angle = _spin_hall_angle(region, table, key)
    if "mixing_conductance" in table:
        region.mixing_conductance = _layer_mixing(region, table["mixing_conductance"], f"{key}.mixing_conductance")
        if region.magnetization is None:
            raise ConfigError(f"{key}.magnetization", "required with mixing_conductance (the mixing "
                                                      "conductance acts on the spin transverse to m)")
    return region


def _layer_mixing(region: Region, value, key: str) -> tuple[float, float]:
    """[G_r, G_i] (S/m^2) of an interface layer, G_r >= 0 (note section 5.2)."""
    if not region.is_interface:
        raise ConfigError(key, "only interface layers take a mixing conductance (a magnetic insulator's "
                               "surface: [model.mixing_interfaces.<surface>])")
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(_is_finite_number(v) for v in value)):
        raise ConfigError(key, f"must be [G_r, G_i] in S/m^2, finite numbers (got {_shown(value)})")
    g_r, g_i = (float(v) for v in value)
    if g_r < 0:
        raise ConfigError(key, f"G_r must be >= 0: a negative real part would create spin in the "
                               f"layer (got {g_r:g})")
    return g_r, g_i


def _is_finite_number(value) -> bool:
    """A real number that is finite as a float (an integer beyond the float range is not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _finite_number(value, key: str, what: str) -> float:
    if not _is_finite_number(value):
        raise ConfigError(key, f"must be {what} (got {_shown(value)})")
    return float(value)


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _spin_hall_angle(region: Region, table: dict, key: str) -> float:
    """theta_SH of the region: the table's ``spin_hall_angle``, else its material's (the
    materials library may carry one), else 0. The note (section 2) models it in non-magnetic
    bulk regions only: an explicit nonzero value elsewhere is refused, a library value on a
    magnetized region is not used (a ferromagnet's own spin Hall effect is not modelled)."""
    explicit = "spin_hall_angle" in table
    if explicit:
        theta = _finite_number(table["spin_hall_angle"], f"{key}.spin_hall_angle", "a number in [-1, 1]")
    else:
        theta = float(getattr(region.material, "spin_hall_angle", 0.0) or 0.0)
    if theta == 0.0:
        return 0.0
    if not explicit and (region.is_interface or region.magnetization is not None):
        return 0.0
    if abs(theta) > 1:
        raise ConfigError(f"{key}.spin_hall_angle", f"|theta_SH| must be <= 1 (got {theta:g})")
    if region.is_interface:
        raise ConfigError(f"{key}.spin_hall_angle", "interface layers take no spin Hall angle "
                                                    "(give it to the bulk region)")
    if region.magnetization is not None or region.polarization != 0:
        raise ConfigError(f"{key}.spin_hall_angle", "a spin Hall angle on a magnetized region is not "
                                                    "modelled (theta_SH belongs to non-magnetic metals)")
    return theta


@dataclasses.dataclass(frozen=True)
class MixingInterface:
    """A surface of the metal on a magnetic insulator (docs/theory/spin_orbit_transport.md
    5.1): mixing conductance G_r + i G_i (S/m^2) and one or more magnetization directions
    (one solved case each)."""

    surface: str
    conductance_real: float
    conductance_imag: float
    directions: tuple[tuple[float, float, float], ...]


def rotation_directions(plane: str, angles_deg) -> list[tuple[float, float, float]]:
    """m = cos(a) e1 + sin(a) e2 for the angles a (degrees) in the plane "xy", "yz" or "xz"
    (a measured from the plane's first axis)."""
    i, j = ROTATION_PLANES[plane]
    out = []
    for a in angles_deg:
        m = [0.0, 0.0, 0.0]
        m[i], m[j] = math.cos(math.radians(a)), math.sin(math.radians(a))
        out.append(tuple(m))
    return out


def _direction(value, key: str) -> tuple[float, float, float]:
    if (not isinstance(value, (list, tuple)) or len(value) != 3
            or any(isinstance(c, bool) or not isinstance(c, (int, float)) for c in value)):
        raise ConfigError(key, f"must be a direction [mx, my, mz] or a list of them (got {_shown(value)})")
    if not all(map(_is_finite_number, value)):
        raise ConfigError(key, f"must be finite numbers (got {_shown(value)})")
    scale = max(abs(float(c)) for c in value)
    if not scale > 0:
        raise ConfigError(key, "must not be the zero vector")
    m = np.asarray(value, dtype=float) / scale
    return tuple(float(c) for c in m / np.linalg.norm(m))


def _parse_mixing(surface: str, table, key: str) -> MixingInterface:
    if not isinstance(table, dict):
        raise ConfigError(key, "must be a table, e.g. {conductance_real = 4e14, magnetization = [1, 0, 0]}")
    for field in table:
        if field not in _MIXING_KEYS:
            raise ConfigError(f"{key}.{field}", f"unknown key (known: {', '.join(_MIXING_KEYS)})")
    library = None
    if "interface" in table:
        # a library contact (fem_spin.materials.MAGNETIC_INSULATOR_INTERFACES) gives G_r and G_i,
        # which conductance_real / conductance_imag may still override
        from fem_spin.materials import get_magnetic_insulator_interface

        if not isinstance(table["interface"], str):
            raise ConfigError(f"{key}.interface", f"must be the name of a library magnetic-insulator "
                                                  f"interface, e.g. \"YIG/Pt@300K\" (got {_shown(table['interface'])})")
        try:
            library = get_magnetic_insulator_interface(table["interface"])
        except ValueError as error:
            raise ConfigError(f"{key}.interface", str(error)) from None
    if "conductance_real" not in table and library is None:
        raise ConfigError(f"{key}.conductance_real", "required: the real part G_r of the spin-mixing "
                                                     "conductance (S/m^2, >= 0), or interface = a library "
                                                     "name such as \"YIG/Pt@300K\"")
    g_r = _finite_number(table.get("conductance_real", library.mixing_conductance_real if library else 0.0),
                         f"{key}.conductance_real", "a number >= 0 (S/m^2)")
    if g_r < 0:
        raise ConfigError(f"{key}.conductance_real", f"must be >= 0: a negative G_r would create "
                                                     f"spin at the interface (got {g_r:g})")
    g_i = _finite_number(table.get("conductance_imag", library.mixing_conductance_imag if library else 0.0),
                         f"{key}.conductance_imag", "a number (S/m^2)")
    has_m, has_plane = "magnetization" in table, "rotation_plane" in table
    if has_m and (has_plane or "angles" in table):
        raise ConfigError(f"{key}.magnetization", "give magnetization or rotation_plane with angles, not both")
    if has_m:
        m = table["magnetization"]
        if isinstance(m, (list, tuple)) and m and all(isinstance(r, (list, tuple)) for r in m):
            directions = tuple(_direction(r, f"{key}.magnetization") for r in m)
        else:
            directions = (_direction(m, f"{key}.magnetization"),)
    elif has_plane:
        plane = table["rotation_plane"]
        if plane not in ROTATION_PLANES:
            raise ConfigError(f"{key}.rotation_plane", f"must be one of {', '.join(ROTATION_PLANES)} "
                                                       f"(got {plane!r})")
        angles = table.get("angles")
        if not isinstance(angles, (list, tuple)) or not angles or not all(map(_is_finite_number, angles)):
            raise ConfigError(f"{key}.angles", f"a list of angles in degrees is required with "
                                               f"rotation_plane (got {_shown(angles)})")
        directions = tuple(rotation_directions(plane, angles))
    else:
        raise ConfigError(f"{key}.magnetization", "required: the insulator's magnetization direction "
                                                  "[mx, my, mz] (or rotation_plane with angles)")
    return MixingInterface(surface, g_r, g_i, directions)


def region_coefficients(region: Region, material, params) -> dict[str, float]:
    """The cell-wise coefficients of one region's cells (S/m and S/m^3): the spin
    conductivities, the spin-flip conductance, the transverse one (a ferromagnet absorbs
    transverse spin within ``transverse_dephasing_length``), the precession weight
    sigma/(4D) of a non-magnetic bulk region, theta_SH sigma/2, and for an interface layer with
    a mixing conductance the transverse conductivity beyond sigma (2 t G_r - sigma) and t G_i (``material``: the region's Material, an
    interface's thin layer). The forward sensitivities differentiate these
    (models/valet_fert_tangent.py)."""
    sigma = material.conductivity
    transverse = material.spin_flip_conductance
    if region.polarization != 0 and not region.is_interface:
        transverse += sigma / (4 * params.transverse_dephasing_length**2)
    precessing = params.precession and not region.is_interface and region.polarization == 0
    # a metallic F/N layer with a mixing conductance (note section 5.2): the transverse spin
    # current through it is -t X grad S, X = G_r (1 - m m^T) - G_i [m x], so that a layer of
    # thickness t passes X (S_N - S_F) per area: the transverse conductivity 2 t G_r in place of
    # sigma, and the antisymmetric t G_i
    excess, torque = 0.0, 0.0
    if region.mixing_conductance is not None:
        g_r, g_i = region.mixing_conductance
        excess, torque = 2 * region.thickness * g_r - sigma, region.thickness * g_i
    return {"sigma_up": material.conductivity_up, "sigma_dn": material.conductivity_down,
            "g_sf": material.spin_flip_conductance, "g_perp": transverse,
            "precession_weight": sigma / (4 * material.diffusion_constant) if precessing else 0.0,
            # theta_SH sigma/2, the coefficient of both F_SH terms (note section 4)
            "spin_hall": region.spin_hall_angle * sigma / 2,
            "sigma_perp_excess": excess, "mixing_torque": torque}


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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        p = self.params
        columns = type(self).result_columns
        if p.mixing_data:     # the insulator's magnetization of the case (SMR)
            columns = columns[:2] + ("m_x", "m_y", "m_z") + columns[2:]
        if p.hall_probes and not p.multi_terminal():
            columns = columns + ("hall_voltage_V", "hall_resistance_ohm")
        if p.multi_terminal():   # every measurement's R, then G (note section 7.1)
            n = len(p.terminals)
            columns = (columns + tuple(m.column() for m in p.measurement_data)
                       + tuple(f"G_{i}_{j}_S" for i in range(n) for j in range(n)))
        self.result_columns = columns

    # ------------------------------------------------------------------ pipeline
    def define_mesh(self) -> None:
        super().define_mesh()
        self._check_groups()  # regions and contacts against the mesh's named groups

    def define_function_spaces(self) -> None:
        import dolfinx.fem as fem

        self.spin_components = 3 if self.params.vector_spin() else 1
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
        if self.spin_components == 1:
            self.js_out = [fem.Function(W3, name="spin_current")]
        else:   # the flow of x, y and z spins (note section 7): J_{s,a} for a = x, y, z
            self.js_out = [fem.Function(W3, name=f"spin_current_{a}") for a in "xyz"]
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
            sigma_perp = sigma + c["sigma_perp_excess"]   # sigma but in mixing layers (5.2)
            power = (sigma_perp / 8 * ufl.inner(ufl.grad(mu_perp), ufl.grad(mu_perp)) * dx
                     + 0.5 * c["g_sf"] * mu_par**2 * dx_l
                     + 0.5 * c["g_perp"] * ufl.inner(mu_perp, mu_perp) * dx_l)
        mu_up, mu_dn = mu_c + mu_par / 2, mu_c - mu_par / 2
        power += 0.5 * (c["sigma_up"] * ufl.inner(ufl.grad(mu_up), ufl.grad(mu_up))
                        + c["sigma_dn"] * ufl.inner(ufl.grad(mu_dn), ufl.grad(mu_dn))) * dx
        self.power = power
        residual = ufl.derivative(power, u, v)
        charge_current = -(c["sigma_up"] * ufl.grad(mu_up) + c["sigma_dn"] * ufl.grad(mu_dn))
        if self.spin_components == 3:
            self.omega = fem.Constant(self.mesh, np.zeros(3))
            v_c, v_s = self.split(v)
            residual += -c["precession_weight"] * ufl.inner(ufl.cross(self.omega, mu_s), v_s) * dx_l
            # G_i of a metallic F/N layer (note 5.2): the spin current t G_i m x grad S, weighted
            # 1/2; antisymmetric and odd in m like precession (m is cell-wise constant, so
            # grad(m x S) = m x grad S)
            residual += -0.5 * c["mixing_torque"] * ufl.inner(ufl.grad(ufl.cross(m, mu_s)), ufl.grad(v_s)) * dx
            # spin Hall and inverse spin Hall effects (note section 4): minus each current's
            # spin Hall part dotted with its test function's gradient, the spin one halved;
            # always present in the vector state (zero where theta_SH = 0)
            sh = c["spin_hall"]
            axes = [ufl.as_vector([1.0 if i == a else 0.0 for i in range(3)]) for a in range(3)]
            for a, e in enumerate(axes):
                residual += sh * ufl.inner(ufl.cross(e, ufl.grad(mu_s[a])), ufl.grad(v_c)) * dx
                residual += sh * ufl.inner(ufl.cross(e, ufl.grad(mu_c)), ufl.grad(v_s[a])) * dx
            charge_current -= sh * sum(ufl.cross(e, ufl.grad(mu_s[a])) for a, e in enumerate(axes))
            # magnetic-insulator surfaces (note section 5.1): J_s.n = G_r S_perp - G_i m x S,
            # weighted 1/2 like the spin equation; m and G are Constants set per case
            self.mixing = []
            for interface in self.params.mixing_data:
                m_i = fem.Constant(self.mesh, np.asarray(interface.directions[0], dtype=float))
                g_r = fem.Constant(self.mesh, interface.conductance_real)
                g_i = fem.Constant(self.mesh, interface.conductance_imag)
                ds = self.ds(self.mesh_data.facet_groups[interface.surface])
                s_perp = mu_s - ufl.dot(m_i, mu_s) * m_i
                residual += 0.5 * (g_r * ufl.inner(s_perp, v_s) - g_i * ufl.inner(ufl.cross(m_i, mu_s), v_s)) * ds
                self.mixing.append((interface, m_i))
            # the spin current tensor J_{s,a,i} (rows a): along m the two-current spin current,
            # transverse -(sigma/2) grad S_perp, and the spin Hall part -theta sigma a x grad U
            sigma = c["sigma_up"] + c["sigma_dn"]
            collinear = -(c["sigma_up"] * ufl.grad(mu_up) - c["sigma_dn"] * ufl.grad(mu_dn))
            rotated = ufl.cross(m, mu_s)
            self.spin_current_exprs = [m[a] * collinear - sigma_perp / 2 * ufl.grad(mu_perp[a])
                                       + c["mixing_torque"] * ufl.grad(rotated[a])
                                       - 2 * sh * ufl.cross(e, ufl.grad(mu_c)) for a, e in enumerate(axes)]
        else:
            self.spin_current_exprs = [-(c["sigma_up"] * ufl.grad(mu_up) - c["sigma_dn"] * ufl.grad(mu_dn))]
        self.residual = residual
        self.residual_form = fem.form(residual)
        du = ufl.TrialFunction(self.V)
        self.a = ufl.derivative(residual, u, du)
        zero = fem.Constant(self.mesh, 0.0)
        self.L = zero * v[0] * dx
        # currents for output (true values for the solved u), spin Hall parts included
        self.charge_current_expr = charge_current
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
        if p.multi_terminal():
            for name in p.terminals:
                self._facet_group(name, "model.terminals")
        else:
            self._facet_group(p.current_contact, "model.current_contact")
            self._facet_group(p.ground, "model.ground")
            for name in p.voltage_probes:
                self._facet_group(name, "model.voltage_probes")
            for name in p.hall_probes:
                self._facet_group(name, "model.hall_probes")
        for interface in p.mixing_data:
            self._facet_group(interface.surface, f"model.mixing_interfaces.{interface.surface}")

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
        names = ["sigma_up", "sigma_dn", "g_sf", "g_perp", "precession_weight", "spin_hall",
                 "sigma_perp_excess", "mixing_torque", "axis_sign"]
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
        self._probe_forms, self._hall_forms, self._mass_S = [], [], None
        if p.multi_terminal():
            self._terminal_forms(fdim, bs, n_owned)
            return
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

        def probe(name):
            tag = md.facet_groups[name]
            area = self.integrate(fem.form(fem.Constant(self.mesh, 1.0) * self.ds(tag)))
            return fem.form(mu_c * self.ds(tag)), area

        self._probe_forms = [probe(name) for name in p.voltage_probes]
        self._hall_forms = [probe(name) for name in p.hall_probes]
        self._mass_S = None

    def _terminal_forms(self, fdim: int, bs: int, n_owned: int) -> None:
        """Multi-terminal mode (note section 7.1): one Dirichlet condition on the nodes of every
        terminal (U from a Function set per solve, S = 0), the owned charge dofs of each for
        its reaction current. A node on two terminals would be at two voltages: refused."""
        import dolfinx.fem as fem

        p, md = self.params, self.mesh_data
        self._terminal_nodes = []
        for name in p.terminals:
            dofs = fem.locate_dofs_topological(self.V, fdim, md.facet_tags.find(md.facet_groups[name]))
            if self.comm.allreduce(len(dofs), op=MPI.SUM) == 0:
                raise ModelError(f"terminal {name!r} has no mesh nodes", key="model.terminals")
            self._terminal_nodes.append(dofs)
            self._contact_dofs[name] = dofs[dofs < n_owned] * bs
        everything = np.concatenate(self._terminal_nodes)
        shared = self.comm.allreduce(len(everything) - len(np.unique(everything)), op=MPI.SUM)
        if shared:
            raise ModelError(f"terminals touch: {shared} mesh nodes lie on two of them (each "
                             f"terminal is a reservoir at its own voltage)", key="model.terminals")
        self._terminal_value = fem.Function(self.V, name="terminal_voltages")
        self.bcs = [fem.dirichletbc(self._terminal_value, np.sort(everything).astype(np.int32))]

    def _set_terminal(self, index: int) -> None:
        """1 V on terminal ``index``, 0 V (and S = 0) on the others."""
        values = self._terminal_value.x.array.reshape(-1, 1 + self.spin_components)
        values[:] = 0.0
        values[self._terminal_nodes[index], 0] = 1.0   # ghosts included: no scatter needed

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
    #: With a spin Hall angle or a mixing interface: GMRES preconditioned by a multiplicative
    #: fieldsplit, BoomerAMG (the settings above) on mu_c, then on the three spin components
    #: together. Chosen by measurement (benchmarks/README.md 12.1, "gmres+fieldsplit agg": SMR bar
    #: and Py/Cu/Pt absorption valve, 1e4-1.3e6 DOFs): 23-30 % less time than BoomerAMG on the
    #: whole system at 2-3e5 DOFs on both devices, bounded iterations. (Precession alone:
    #: fieldsplit saves iterations but no time there, so it keeps the coupled BoomerAMG.)
    SPIN_ORBIT_PC = {"pc_type": "fieldsplit", "pc_fieldsplit_block_size": 4, "pc_fieldsplit_0_fields": 0,
                     "pc_fieldsplit_1_fields": "1,2,3", "pc_fieldsplit_type": "multiplicative",
                     **{f"fieldsplit_{i}_{k}": v for i in (0, 1) for k, v in (
                         ("ksp_type", "preonly"), ("pc_type", "hypre"), ("pc_hypre_type", "boomeramg"),
                         ("pc_hypre_boomeramg_coarsen_type", "HMIS"), ("pc_hypre_boomeramg_interp_type", "ext+i"),
                         ("pc_hypre_boomeramg_strong_threshold", 0.5), ("pc_hypre_boomeramg_P_max", 4),
                         ("pc_hypre_boomeramg_agg_nl", 1))}}

    def create_solver(self, direct: bool = False) -> None:
        from dolfinx.fem.petsc import LinearProblem

        from fem_spin.solvers.newton import _LIVE_OPTION_KEYS, linear_solver_options, petsc_options_checked

        user = self.config.solver.petsc_options
        defaults = {"ksp_type": "gmres" if self.params.vector_spin() else "cg", **self.KRYLOV_DEFAULTS}
        if self.params.mixing_data or any(r.spin_hall_angle for r in self.params.region_data.values()):
            defaults = {**{k: v for k, v in defaults.items() if k.startswith("ksp_")}, **self.SPIN_ORBIT_PC}
        # (a pc_type alone keeps the tight Krylov tolerances: a linear model's accuracy is the
        # Krylov tolerance, and PETSc's rtol 1e-5 is not enough)
        options = (dict(self.DIRECT) if direct
                   else linear_solver_options(defaults, user))
        self.uses_default_krylov = not direct and options.get("ksp_type") != "preonly"
        with petsc_options_checked():
            self.linear_problem = LinearProblem(self.a, self.L, bcs=self.bcs, u=self.u,
                                                petsc_options=options)
        # sub-solver options (fieldsplit_*) are read at the first solve: removed at exit, so a
        # problem set up but never solved leaves no PETSc unused-options warning
        prefix = self.linear_problem.solver.getOptionsPrefix() or ""
        _LIVE_OPTION_KEYS.update(prefix + key for key in options)

    # ------------------------------------------------------------------ solving
    def solve(self, reassemble: bool = True) -> None:
        """Solve for 1 V on the current contact (the fields are then scaled by current/I), or
        for the terminal voltages set; ``reassemble = False`` keeps the operator and its
        preconditioner (or LU factors) of the last solve: between the terminals of one case
        only the Dirichlet values, i.e. the right-hand side, change."""
        from fem_spin.solvers import SimulationFailed

        if reassemble:
            self.linear_problem.solve()
        else:
            self._solve_same_operator()
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

    def _solve_same_operator(self) -> None:
        """LinearProblem.solve (dolfinx 0.9) without assembling the matrix again."""
        from dolfinx.fem.petsc import apply_lifting, assemble_vector
        from petsc4py import PETSc

        lp = self.linear_problem
        b = lp.b
        with b.localForm() as local:
            local.set(0.0)
        assemble_vector(b, lp.L)
        apply_lifting(b, [lp.a], bcs=[lp.bcs])
        b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        for bc in lp.bcs:
            bc.set(b.array_w)
        lp.solver.solve(b, self.u.x.petsc_vec)
        self.u.x.scatter_forward()

    def solve_terminals(self) -> np.ndarray:
        """The conductance matrix G (n x n, S) of the current case (note section 7.1): terminal j
        at 1 V, the others at 0 V, column j the currents into the device through each terminal
        (the discrete reaction, as ``contact_currents``); one operator, n right-hand sides. The
        solutions are kept for the measurements' fields."""
        names = self.params.terminals
        G = np.zeros((len(names), len(names)))
        self._terminal_solutions = []
        for j in range(len(names)):
            self._set_terminal(j)
            self.solve(reassemble=j == 0)
            currents = self.contact_currents()
            G[:, j] = [currents[name] for name in names]
            self._terminal_solutions.append(self.u.x.array.copy())
        return G

    def contact_currents(self) -> dict[str, float]:
        """Charge current into the device through each reservoir (A) at the current solution:
        the residual of the charge equation at the contact nodes (exactly conservative)."""
        import dolfinx.fem as fem
        import dolfinx.la

        b = fem.assemble_vector(self.residual_form)
        b.scatter_reverse(dolfinx.la.InsertMode.add)
        return {key: self.global_sum(float(b.array[dofs].sum())) for key, dofs in self._contact_dofs.items()}

    def probe_voltage(self, forms=None) -> float:
        """<mu_c>(plus) - <mu_c>(minus) of the voltage probes (or of ``forms``, e.g. the Hall
        probes'), or the contact voltage without probes (V, for 1 V applied)."""
        import dolfinx.fem as fem

        forms = self._probe_forms if forms is None else forms
        if not forms:
            return 1.0
        (plus, a_plus), (minus, a_minus) = forms
        return (self.global_sum(fem.assemble_scalar(plus)) / a_plus
                - self.global_sum(fem.assemble_scalar(minus)) / a_minus)

    def set_mixing_direction(self, index: int) -> np.ndarray | None:
        """The insulators' magnetization of case ``index`` (an interface with one direction keeps
        it); returns the first interface's m, None without mixing interfaces."""
        first = None
        for interface, constant in getattr(self, "mixing", []):
            m = interface.directions[index if len(interface.directions) > 1 else 0]
            constant.value[:] = m
            first = np.asarray(m) if first is None else first
        return first

    def solve_cases(self):
        p = self.params
        self.results = []
        direction = np.asarray(p.field_direction, dtype=float)
        direction /= np.linalg.norm(direction)
        index = 0
        for configuration in p.configurations:
            configured = False
            for d in range(p.mixing_cases()):
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
                    m = self.set_mixing_direction(d)
                    if self.spin_components == 3:
                        self.omega.value[:] = larmor_vector(field * direction, p.g_factor)
                    if p.multi_terminal():
                        row = self._terminal_row(configuration, field, m, self.solve_terminals())
                    else:
                        self.solve()
                        row = self._case_row(configuration, field, m)
                    self.results.append(row)
                    yield row, k == 0

    def _case_row(self, configuration: str, field: float, m: np.ndarray | None) -> dict:
        """The results row of the case just solved (and the scale to the requested current)."""
        p = self.params
        currents = self.contact_currents()
        current = currents["current_contact"]
        scale = p.current / current
        self.scale = scale
        spin = self.owned(self.u.x.array).reshape(-1, 1 + self.spin_components)[:, 1:]
        spin_max = self.global_max(np.linalg.norm(spin, axis=1) if spin.size else np.zeros(0))
        voltage = self.probe_voltage() * scale
        row = {"configuration": configuration, "field_T": float(field)}
        if m is not None:
            row.update(m_x=float(m[0]), m_y=float(m[1]), m_z=float(m[2]))
        row.update({"current_A": p.current, "voltage_V": voltage, "resistance_ohm": voltage / p.current,
                    "current_balance_A": (currents["current_contact"] + currents["ground"]) * scale,
                    "max_spin_accumulation_V": spin_max * scale})
        if p.hall_probes:
            hall = self.probe_voltage(self._hall_forms) * scale
            row.update(hall_voltage_V=hall, hall_resistance_ohm=hall / p.current)
        return row

    def _terminal_row(self, configuration: str, field: float, m: np.ndarray | None, G: np.ndarray) -> dict:
        """The results row of a multi-terminal case: every measurement's R from G (Büttiker), G
        itself, and u set to the first measurement's state at the requested current (the
        terminal solutions superposed with the voltages of the floating terminals)."""
        from fem_spin.models.terminals import four_terminal_resistance, terminal_voltages

        p = self.params
        first = p.measurement_data[0]
        currents = np.zeros(len(G))
        currents[first.source], currents[first.drain] = p.current, -p.current
        voltages = terminal_voltages(G, currents, first.drain)
        self.u.x.array[:] = sum(v * u for v, u in zip(voltages, self._terminal_solutions))
        self.scale = 1.0
        spin = self.owned(self.u.x.array).reshape(-1, 1 + self.spin_components)[:, 1:]
        resistance = four_terminal_resistance(G, first)
        row = {"configuration": configuration, "field_T": float(field)}
        if m is not None:
            row.update(m_x=float(m[0]), m_y=float(m[1]), m_z=float(m[2]))
        row.update({"current_A": p.current, "voltage_V": resistance * p.current, "resistance_ohm": resistance,
                    "current_balance_A": float((G @ voltages).sum()),
                    "max_spin_accumulation_V": self.global_max(np.linalg.norm(spin, axis=1))})
        row.update({meas.column(): four_terminal_resistance(G, meas) for meas in p.measurement_data})
        n = len(G)
        row.update({f"G_{i}_{j}_S": float(G[i, j]) for i in range(n) for j in range(n)})
        return row

    def conductance_matrix(self, row: dict) -> np.ndarray:
        """G of a multi-terminal results row (S)."""
        n = len(self.params.terminals)
        return np.array([[row[f"G_{i}_{j}_S"] for j in range(n)] for i in range(n)])

    def _terminal_summary(self) -> dict:
        """G of every case, each measurement's R per configuration (first field and direction),
        the conservation residuals and, where the cases allow it, the Onsager-Casimir asymmetry
        max |G(m, B)^T - G(-m, -B)| / max |G| (note sections 2 and 7.1)."""
        from fem_spin.models.terminals import conservation_residual, onsager_asymmetry

        p, rows = self.params, self.results
        keys = ("configuration", "field_T", "m_x", "m_y", "m_z")
        out: dict = {"terminals": list(p.terminals),
                     "conductance_matrices_S": [{**{k: r[k] for k in keys if k in r},
                                                 "G": self.conductance_matrix(r).tolist()} for r in rows]}
        for conf in p.configurations:
            row = next((r for r in rows if r["configuration"] == conf), None)
            for meas in p.measurement_data:
                if row is not None:
                    out[f"R_{meas.name}_{conf}_ohm"] = row[meas.column()]
        residuals = [conservation_residual(self.conductance_matrix(r)) for r in rows]
        out["max_G_column_sum_relative"] = max(c for c, _ in residuals)
        out["max_G_row_sum_relative"] = max(r for _, r in residuals)
        asymmetry = [onsager_asymmetry(self.conductance_matrix(a), self.conductance_matrix(b))
                     for a, b in self._reversed_pairs()]
        if asymmetry:
            out["onsager_asymmetry"] = max(asymmetry)
        return out

    def _reversed_pairs(self) -> list[tuple[dict, dict]]:
        """(row, row with every magnetization and the field reversed): parallel and antiparallel
        when the antiparallel configuration reverses every magnetized region, B and -B, and an
        insulator's m and -m."""
        p = self.params
        magnetized = {name for name, r in p.region_data.items() if r.magnetization is not None}
        if not magnetized <= set(p.switch_regions):
            return []
        pairs = []
        for a in self.results:
            if a["configuration"] != "parallel":
                continue
            for b in self.results:
                if (b["configuration"] == "antiparallel" and b["field_T"] == -a["field_T"]
                        and all(math.isclose(b[k], -a[k], abs_tol=1e-12) for k in ("m_x", "m_y", "m_z") if k in a)):
                    pairs.append((a, b))
                    break
        return pairs

    def resistance(self, configuration: str = "parallel", field: float = 0.0,
                   magnetization=None, column: str = "resistance_ohm") -> float:
        """``column`` of the solved case (the first with the insulators' ``magnetization``
        when given, to 1e-9)."""
        for row in self.results:
            if row["configuration"] == configuration and row["field_T"] == field and (
                    magnetization is None
                    or np.allclose([row["m_x"], row["m_y"], row["m_z"]], magnetization, atol=1e-9)):
                return row[column]
        raise KeyError(f"no solved case {configuration!r} at B = {field} T"
                       + ("" if magnetization is None else f", m = {list(magnetization)}"))

    def smr_amplitude(self) -> float | None:
        """(R(m = x) - R(m = y))/R(m = y) of the insulators' magnetization (note section 7), at
        the first configuration and field, when both directions (or their reverses) were solved."""
        p = self.params
        if not p.mixing_data:
            return None
        conf, field = p.configurations[0], p.hanle_fields[0]
        values = {}
        for axis in ("x", "y"):
            m = np.eye(3)[0 if axis == "x" else 1]
            for sign in (1.0, -1.0):
                try:
                    values[axis] = self.resistance(conf, field, sign * m)
                    break
                except KeyError:
                    continue
        if len(values) < 2:
            return None
        return (values["x"] - values["y"]) / values["y"]

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
        amplitude = self.smr_amplitude()
        if amplitude is not None:
            out["smr_amplitude"] = amplitude
        out["max_abs_current_balance_A"] = max(abs(r["current_balance_A"]) for r in self.results)
        if p.multi_terminal():
            out.update(self._terminal_summary())
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
        return [self.mu_c_out, self.mu_s_out, self.j_out, *self.js_out]

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
            self._current_forms = [fem.form(ufl.inner(expr, q) * self.dx)
                                   for expr in (self.charge_current_expr, *self.spin_current_exprs)]
        for form, out in zip(self._current_forms, (self.j_out, *self.js_out)):
            vec = fem.assemble_vector(form)
            vec.scatter_reverse(dolfinx.la.InsertMode.add)
            vec.scatter_forward()
            out.x.array[:] = scale * vec.array / np.repeat(self._mass_S, 3)

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
                                               "absorbs spin transverse to m (vector spin accumulation)",
                                               check=positive)
    mixing_interfaces: dict = param(default_factory=dict, doc="one table per facet group of the metal "
                                    "on a magnetic insulator (docs/theory/spin_orbit_transport.md 5.1): "
                                    "conductance_real G_r >= 0 and conductance_imag G_i (S/m^2), and "
                                    "magnetization [mx, my, mz] (or a list of directions: one solved case "
                                    "each) or rotation_plane (\"xy\", \"yz\", \"xz\") with angles "
                                    "(degrees from the plane's first axis); makes the spin accumulation "
                                    "a vector")
    hall_probes: list[str] = param(default_factory=list, doc="[plus, minus] facet groups of a second, "
                                   "transverse voltage <mu_c>(plus) - <mu_c>(minus) (results: "
                                   "hall_voltage_V, hall_resistance_ohm); [] for none")
    terminals: list[str] = param(default_factory=list, doc="multi-terminal mode (docs/theory/"
                                 "spin_orbit_transport.md 7.1): facet groups that are all ideal reservoirs "
                                 "(U = V_j, S = 0); one solve per terminal gives the conductance matrix G "
                                 "and the measurements' four-terminal resistances; current_contact, "
                                 "ground, voltage_probes and hall_probes are then not used; [] for the "
                                 "contact/probe mode")
    measurements: list[dict] = param(default_factory=list, doc="with terminals: tables {current = [in, "
                                     "out], voltage = [plus, minus], name = \"...\"}: R = (V_plus - "
                                     "V_minus)/I with the other terminals floating (results column "
                                     "R_<name>_ohm; the first one is also resistance_ohm)")
    #: the regions' transport data (from ``regions``; interface thicknesses the geometry
    #: knows filled in by resolve)
    region_data: dict[str, Region] | None = derived(doc="Region per cell group")
    #: the mixing interfaces (from ``mixing_interfaces``)
    mixing_data: tuple[MixingInterface, ...] | None = derived(doc="MixingInterface per surface")
    #: the terminals' measurements (from ``measurements``)
    measurement_data: tuple | None = derived(doc="terminals.Measurement per measurement")

    def vector_spin(self) -> bool:
        """Whether the spin accumulation is a vector: with precession, a spin Hall angle or a
        magnetic-insulator surface (the last two need no precession and no diffusion constant)."""
        return (self.precession or bool(self.mixing_data)
                or any(r.spin_hall_angle != 0 or r.mixing_conductance is not None
                       for r in self.region_data.values()))

    def mixing_cases(self) -> int:
        """Magnetization directions of the mixing interfaces solved (1 without them)."""
        return max([len(i.directions) for i in self.mixing_data or ()] or [1])

    def unknowns_per_node(self) -> int:
        """mu_c and mu_s; with a vector spin accumulation its three components."""
        return 4 if self.vector_spin() else 2

    def __post_init__(self):
        if not self.regions:
            raise ConfigError("regions", "give one table per cell group, e.g. "
                                         "[model.regions.N] material = \"Cu@4.2K\"")
        if self.region_data is None:
            object.__setattr__(self, "region_data", {name: _parse_region(name, table, f"regions.{name}")
                                                     for name, table in self.regions.items()})
        if self.mixing_data is None:
            if not isinstance(self.mixing_interfaces, dict):
                raise ConfigError("mixing_interfaces", "must be a table of [model.mixing_interfaces.<surface>] "
                                                       "tables")
            object.__setattr__(self, "mixing_data", tuple(
                _parse_mixing(name, table, f"mixing_interfaces.{name}")
                for name, table in self.mixing_interfaces.items()))
        counts = {len(i.directions) for i in self.mixing_data} - {1}
        if len(counts) > 1:
            raise ConfigError("mixing_interfaces", f"interfaces with several directions must have as "
                                                   f"many each (they are solved together; got {sorted(counts)})")
        if self.terminals or self.measurements:
            self._check_terminal_mode()
        if len(self.voltage_probes) not in (0, 2):
            raise ConfigError("voltage_probes", f"give [plus, minus] facet groups or [] (got "
                                                f"{self.voltage_probes})")
        if len(self.hall_probes) not in (0, 2):
            raise ConfigError("hall_probes", f"give [plus, minus] facet groups or [] (got {self.hall_probes})")
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
        if not self.vector_spin() and magnetized:
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

    def multi_terminal(self) -> bool:
        """Whether every terminal is a reservoir and G is solved (section 7.1 of the note)."""
        return bool(self.terminals)

    def _check_terminal_mode(self) -> None:
        from fem_spin.models.terminals import parse_measurements, parse_terminals

        if not self.terminals:
            raise ConfigError("terminals", "measurements need terminals = [facet groups] (the "
                                           "multi-terminal mode)")
        terminals = parse_terminals(self.terminals)
        # the contact/probe keys mean something else here: refuse them rather than ignore them
        defaults = {f.name: f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
                    for f in dataclasses.fields(self)
                    if f.name in ("current_contact", "ground", "voltage_probes", "hall_probes")}
        for name, default in defaults.items():
            if getattr(self, name) != default:
                raise ConfigError(name, "not used with terminals (every terminal is a reservoir): "
                                        "give the current and voltage terminals in measurements")
        if self.measurement_data is None:
            object.__setattr__(self, "measurement_data", parse_measurements(self.measurements, terminals))

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
