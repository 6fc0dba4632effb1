"""Materials and interfaces for the Valet–Fert two-current model (physics.md section 3.1).

A :class:`Material` carries what one region of the two-current drift-diffusion model
needs: the charge resistivity rho, the spin-diffusion length lambda_sf and the bulk
polarization P, from which the spin-resolved conductivities follow::

    sigma = 1/rho = sigma_up + sigma_dn,   P = (sigma_up - sigma_dn)/(sigma_up + sigma_dn)
    sigma_up = sigma (1 + P)/2,            sigma_dn = sigma (1 - P)/2
    g_sf = sigma_up sigma_dn / ((sigma_up + sigma_dn) lambda_sf^2)        [S/m^3]

so that -div(sigma_s grad mu_s) +- g_sf (mu_up - mu_dn) = 0 gives
laplacian(mu_up - mu_dn) = (mu_up - mu_dn)/lambda_sf^2 in a homogeneous region.

Spin–orbit transport (docs/theory/spin_orbit_transport.md, section 8): a material also
carries its spin Hall angle theta_SH (dimensionless, Pt > 0 in the convention of that note),
and where the Elliott–Yafet relation lambda rho = const holds, the product, so that
:meth:`Material.at_resistivity` gives the material at the resistivity of the user's film.
A :class:`MagneticInsulatorInterface` (YIG-like insulators, not meshed) is a spin-mixing
conductance G_r + i G_i per area [S/m^2].

An :class:`Interface` is a spin-dependent interface resistance (tunnel barrier or
F/N interface) r_up, r_dn [Ohm m^2] with Bass–Pratt spin memory loss delta;
:meth:`Interface.thin_layer` turns it into the equivalent thin :class:`Material`
layer that the FEM model meshes.

The microscopic helpers (physics.md section 3.1 "Materials helpers" and the primer)
relate the parameters to the Fermi velocity, the momentum relaxation time, the
density of states and the spin-flip mechanism (Elliott–Yafet or Dyakonov–Perel).

:func:`material_from_table` and :func:`interface_from_table` read a region table of
a TOML run file and raise :class:`fem_spin.config.ConfigError` naming the key.

Units are SI throughout: Ohm m, Ohm m^2, m, s, m^2/s, K, 1/(J m^3), S/m^2.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from fem_spin.config import ConfigError

__all__ = [
    "ELEMENTARY_CHARGE",
    "BOLTZMANN",
    "Material",
    "Interface",
    "MagneticInsulatorInterface",
    "MATERIALS",
    "INTERFACES",
    "MAGNETIC_INSULATOR_INTERFACES",
    "get_material",
    "get_interface",
    "get_magnetic_insulator_interface",
    "diffusion_constant_from_fermi",
    "spin_diffusion_length_from",
    "elliott_yafet_spin_lifetime",
    "dyakonov_perel_spin_lifetime",
    "einstein_conductivity",
    "free_electron_density_of_states",
    "density_of_states_from_heat_capacity",
    "material_from_microscopic",
    "material_from_table",
    "interface_from_table",
    "magnetic_insulator_interface_from_table",
]

ELEMENTARY_CHARGE = 1.602176634e-19  # C (exact, SI 2019)
BOLTZMANN = 1.380649e-23  # J/K (exact, SI 2019)


# --------------------------------------------------------------------------- checks
def _number(name: str, value: Any) -> float:
    """``value`` as a float; bool and non-numbers raise ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name}: must be a number (got {value!r})")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond the float range
        raise ValueError(f"{name}: must be a number below 1.8e308 (got {value!r})") from None
    if math.isnan(number):
        raise ValueError(f"{name}: must be a number (got {value!r})")
    return number


def _positive(name: str, value: Any, allow_inf: bool = False) -> float:
    number = _number(name, value)
    if not number > 0 or (math.isinf(number) and not allow_inf):
        bound = "> 0" if allow_inf else "> 0 and finite"
        raise ValueError(f"{name}: must be {bound} (got {value!r})")
    return number


def _non_negative(name: str, value: Any) -> float:
    number = _number(name, value)
    if not (number >= 0 and math.isfinite(number)):
        raise ValueError(f"{name}: must be >= 0 and finite (got {value!r})")
    return number


def _finite(name: str, value: Any) -> float:
    number = _number(name, value)
    if not math.isfinite(number):
        raise ValueError(f"{name}: must be finite (got {value!r})")
    return number


def _polarization(name: str, value: Any) -> float:
    number = _number(name, value)
    if not abs(number) < 1:
        raise ValueError(f"{name}: must satisfy |P| < 1 (got {value!r})")
    return number


def _spin_hall_angle(name: str, value: Any) -> float:
    number = _number(name, value)
    if not abs(number) <= 1:
        raise ValueError(f"{name}: must satisfy |theta_SH| <= 1 (got {value!r})")
    return number


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name}: must be a string (got {value!r})")
    return value


# --------------------------------------------------------------------------- Material
#: which spin Hall quantity a material keeps when its resistivity changes (Material.at_resistivity)
SPIN_HALL_SCALINGS = ("angle", "conductivity")


@dataclasses.dataclass(frozen=True)
class Material:
    """Two-current (Valet–Fert) parameters of one homogeneous region (physics.md section 3.1).

    ``resistivity`` is the measured charge resistivity rho = 1/(sigma_up + sigma_dn)
    [Ohm m]; ``spin_diffusion_length`` lambda_sf [m] (``math.inf``: no spin flip);
    ``bulk_polarization`` P = (sigma_up - sigma_dn)/(sigma_up + sigma_dn), |P| < 1
    (Bass–Pratt's beta, with rho_up/dn = 2 rho* (1 -+ beta) and rho = rho* (1 - beta^2));
    ``diffusion_constant`` D [m^2/s] (needed for precession / Hanle);
    ``temperature`` [K] the values refer to; ``source`` the publication or
    "assumption: ...".

    Spin–orbit transport (docs/theory/spin_orbit_transport.md, sections 2 and 8):
    ``spin_hall_angle`` theta_SH, |theta_SH| <= 1 (0: no spin Hall effect);
    ``elliott_yafet_product`` lambda_sf rho [Ohm m^2] where the Elliott–Yafet relation holds
    (None: not known to hold), used by :meth:`at_resistivity`; ``spin_hall_scaling`` which
    of theta_SH ("angle") and the spin Hall conductivity sigma_SH = theta_SH / rho
    ("conductivity", the intrinsic regime) is the material constant when the resistivity
    changes.

    Invalid values raise ``ValueError("<field>: <message>")``; the field name is the
    first word so that the configuration layer can turn it into a key.
    """

    name: str
    resistivity: float
    spin_diffusion_length: float
    bulk_polarization: float = 0.0
    diffusion_constant: float | None = None
    temperature: float | None = None
    source: str = ""
    spin_hall_angle: float = 0.0
    elliott_yafet_product: float | None = None
    spin_hall_scaling: str = "angle"

    def __post_init__(self) -> None:
        if self.spin_hall_scaling not in SPIN_HALL_SCALINGS:
            raise ValueError(f"spin_hall_scaling: must be one of {', '.join(SPIN_HALL_SCALINGS)} "
                             f"(got {self.spin_hall_scaling!r})")
        checked = {
            "name": _text("name", self.name),
            "resistivity": _positive("resistivity", self.resistivity),
            "spin_diffusion_length": _positive("spin_diffusion_length", self.spin_diffusion_length,
                                               allow_inf=True),
            "bulk_polarization": _polarization("bulk_polarization", self.bulk_polarization),
            "diffusion_constant": (None if self.diffusion_constant is None
                                   else _positive("diffusion_constant", self.diffusion_constant)),
            "temperature": (None if self.temperature is None
                            else _positive("temperature", self.temperature)),
            "source": _text("source", self.source),
            "spin_hall_angle": _spin_hall_angle("spin_hall_angle", self.spin_hall_angle),
            "elliott_yafet_product": (None if self.elliott_yafet_product is None
                                      else _positive("elliott_yafet_product",
                                                     self.elliott_yafet_product)),
        }
        for field, value in checked.items():  # store ints as floats
            object.__setattr__(self, field, value)

    # ---- conductivities
    @property
    def conductivity(self) -> float:
        """sigma = 1/rho = sigma_up + sigma_dn [S/m]."""
        return 1.0 / self.resistivity

    @property
    def conductivity_up(self) -> float:
        """sigma_up = sigma (1 + P)/2 [S/m]."""
        return self.conductivity * (1.0 + self.bulk_polarization) / 2.0

    @property
    def conductivity_down(self) -> float:
        """sigma_dn = sigma (1 - P)/2 [S/m]."""
        return self.conductivity * (1.0 - self.bulk_polarization) / 2.0

    @property
    def spin_flip_conductance(self) -> float:
        """g_sf = sigma_up sigma_dn / ((sigma_up + sigma_dn) lambda_sf^2) [S/m^3]; 0 if lambda_sf = inf."""
        if math.isinf(self.spin_diffusion_length):
            return 0.0
        up, down = self.conductivity_up, self.conductivity_down
        return up * down / ((up + down) * self.spin_diffusion_length ** 2)

    @property
    def spin_resistance_area(self) -> float:
        """rho lambda_sf [Ohm m^2]: the spin resistance R = rho lambda_sf / A of Takahashi–Maekawa
        (Phys. Rev. B 67, 052409 (2003)) times the cross-section A."""
        return self.resistivity * self.spin_diffusion_length

    @property
    def spin_lifetime(self) -> float | None:
        """tau_sf = lambda_sf^2 / D [s], or None without a diffusion constant."""
        if self.diffusion_constant is None:
            return None
        return self.spin_diffusion_length ** 2 / self.diffusion_constant

    @property
    def is_ferromagnet(self) -> bool:
        """True when the bulk polarization is non-zero."""
        return self.bulk_polarization != 0.0

    @property
    def spin_hall_conductivity(self) -> float:
        """sigma_SH = theta_SH / rho [S/m], in the charge-current units of the spin current
        (docs/theory/spin_orbit_transport.md section 1: J_s = j_up - j_dn)."""
        return self.spin_hall_angle / self.resistivity

    def at_resistivity(self, resistivity: float) -> "Material":
        """This material at another ``resistivity`` [Ohm m], by the Elliott–Yafet relation.

        Elliott–Yafet spin relaxation (a fixed spin-flip probability per momentum
        scattering, physics.md 3.1) gives lambda_sf = sqrt(D tau_sf) proportional to
        tau_p, i.e. to 1/rho: lambda_sf = elliott_yafet_product / resistivity. It holds for
        metals whose spin relaxation is Elliott–Yafet (Pt: Sagasta et al. 2016; permalloy:
        Sagasta et al. 2019) and not for Dyakonov–Perel relaxation (lambda independent of
        rho, or growing with it) nor across phases (alpha/beta-W, beta-Ta). The diffusion
        constant scales as 1/rho (Einstein relation at a fixed density of states); theta_SH
        stays, or with ``spin_hall_scaling = "conductivity"`` scales as rho (a fixed
        intrinsic sigma_SH). A material without an ``elliott_yafet_product`` is refused.
        """
        rho = _positive("resistivity", resistivity)
        if self.elliott_yafet_product is None:
            raise ValueError(f"elliott_yafet_product: not known for {self.name!r}; the Elliott-Yafet "
                             f"scaling lambda rho = const needs it (it does not hold for "
                             f"Dyakonov-Perel relaxation): give spin_diffusion_length instead")
        ratio = self.resistivity / rho
        changes: dict[str, Any] = {
            "resistivity": rho,
            "spin_diffusion_length": self.elliott_yafet_product / rho,
            "source": (f"{self.source}; scaled to rho = {rho:g} Ohm m by Elliott-Yafet "
                       f"lambda rho = {self.elliott_yafet_product:g} Ohm m^2"),
        }
        if self.diffusion_constant is not None:
            changes["diffusion_constant"] = self.diffusion_constant * ratio
        if self.spin_hall_scaling == "conductivity":
            changes["spin_hall_angle"] = self.spin_hall_angle / ratio
        return dataclasses.replace(self, **changes)

    def with_values(self, **changes: Any) -> "Material":
        """A copy with some fields changed (``dataclasses.replace``), validated again."""
        _reject_unknown_fields(type(self), changes)
        return dataclasses.replace(self, **changes)


def _reject_unknown_fields(cls: type, changes: dict) -> None:
    known = {f.name for f in dataclasses.fields(cls)}
    for field in changes:
        if field not in known:
            raise ValueError(f"{field}: not a {cls.__name__} field (known: {', '.join(sorted(known))})")


# --------------------------------------------------------------------------- Interface
@dataclasses.dataclass(frozen=True)
class Interface:
    """Spin-dependent interface resistance (tunnel barrier or F/N interface) with spin memory loss.

    physics.md section 3.1: the spin-channel current j_s.n is continuous across the
    interface and the potential jumps, mu_s(+) - mu_s(-) = r_s j_s.n, with

        RA  = r_up r_dn / (r_up + r_dn)            charge resistance-area product [Ohm m^2]
        P_J = (r_dn - r_up) / (r_up + r_dn)        interface polarization (Bass–Pratt gamma)
        r_up = 2 RA / (1 + P_J),   r_dn = 2 RA / (1 - P_J)

    ``spin_memory_loss`` is the Bass–Pratt delta = t_I / lambda_I of an interfacial
    layer of thickness t_I and spin-flip length lambda_I (spin-flip probability
    1 - exp(-delta)).
    """

    area_resistance: float
    polarization: float = 0.0
    spin_memory_loss: float = 0.0
    source: str = ""

    def __post_init__(self) -> None:
        checked = {
            "area_resistance": _non_negative("area_resistance", self.area_resistance),
            "polarization": _polarization("polarization", self.polarization),
            "spin_memory_loss": _non_negative("spin_memory_loss", self.spin_memory_loss),
            "source": _text("source", self.source),
        }
        for field, value in checked.items():
            object.__setattr__(self, field, value)

    @property
    def resistance_up(self) -> float:
        """r_up = 2 RA / (1 + P_J) [Ohm m^2]."""
        return 2.0 * self.area_resistance / (1.0 + self.polarization)

    @property
    def resistance_down(self) -> float:
        """r_dn = 2 RA / (1 - P_J) [Ohm m^2]."""
        return 2.0 * self.area_resistance / (1.0 - self.polarization)

    @classmethod
    def from_bass_pratt(cls, AR_star: float, gamma: float, delta: float = 0.0,
                        source: str = "") -> "Interface":
        """From the Bass–Pratt CPP parameters: AR_up/dn = 2 AR* (1 -+ gamma).

        Hence RA = AR* (1 - gamma^2) (the two channels in parallel) and P_J = gamma;
        delta is the spin memory loss. Errors name ``AR_star``, ``gamma`` or ``delta``.
        """
        ar_star = _non_negative("AR_star", AR_star)
        gamma = _polarization("gamma", gamma)
        delta = _non_negative("delta", delta)
        return cls(area_resistance=ar_star * (1.0 - gamma ** 2), polarization=gamma,
                   spin_memory_loss=delta, source=source)

    def thin_layer(self, thickness: float, name: str = "interface layer") -> Material:
        """The equivalent finite layer of ``thickness`` [m] used by the FEM model.

        sigma_s = thickness / r_s, i.e. resistivity = RA / thickness, bulk_polarization
        = P_J and spin_diffusion_length = thickness / delta (inf when delta = 0).

        Without spin flip inside (delta = 0) the layer carries a uniform j_s in 1-D and
        reproduces the jump mu_s(+) - mu_s(-) = r_s j_s.n of physics.md section 3.1
        exactly. With delta > 0 it *is* the Bass–Pratt interfacial layer (thickness t_I,
        spin-flip length lambda_I, delta = t_I / lambda_I, rho_I,s = r_s / t_I). The only
        approximation is the geometric thickness (lateral spreading inside the layer,
        and the length the layer takes from its neighbours), small when the thickness
        is much less than the neighbouring spin-diffusion lengths.

        RA = 0 (a transparent interface) is no layer: raises ValueError.
        """
        thickness = _positive("thickness", thickness)
        if self.area_resistance == 0.0:
            raise ValueError("area_resistance: must be > 0 for a thin layer (RA = 0 is a "
                             "transparent interface: join the regions directly)")
        spin_diffusion_length = (math.inf if self.spin_memory_loss == 0.0
                                 else thickness / self.spin_memory_loss)
        source = f"thin layer ({thickness:g} m) equivalent to interface"
        if self.source:
            source += f" [{self.source}]"
        return Material(name=name, resistivity=self.area_resistance / thickness,
                        spin_diffusion_length=spin_diffusion_length,
                        bulk_polarization=self.polarization, source=source)

    def with_values(self, **changes: Any) -> "Interface":
        """A copy with some fields changed (``dataclasses.replace``), validated again."""
        _reject_unknown_fields(type(self), changes)
        return dataclasses.replace(self, **changes)


# --------------------------------------------------------------------------- magnetic insulator
@dataclasses.dataclass(frozen=True)
class MagneticInsulatorInterface:
    """The contact of a normal metal with a magnetic insulator (YIG-like): not meshed, a
    spin-mixing conductance per area G = G_r + i G_i [S/m^2] (docs/theory/spin_orbit_transport.md
    section 5.1, the magnetoelectronic circuit theory of Brataas, Nazarov & Bauer):

        J_s . n = G_r (S - (m . S) m) - G_i m x S      (spin flowing out of the metal)

    with S the spin accumulation [V] and J_s in charge-current units [A/m^2]. G_r >= 0 (the
    absorbed transverse spin dissipates power G_r |S_perp|^2 / 2 >= 0); G_i of either sign
    (a rotation, no dissipation; its sign is Chen et al.'s, the one that gives their transverse
    SMR coefficient Delta rho_2, note section 5.1). Values fitted with Chen et al.'s SMR formula
    (Phys. Rev. B 87, 144411 (2013)), which uses the same G in Ohm^-1 m^-2, enter unchanged.
    """

    name: str
    mixing_conductance_real: float
    mixing_conductance_imag: float = 0.0
    temperature: float | None = None
    source: str = ""

    def __post_init__(self) -> None:
        checked = {
            "name": _text("name", self.name),
            "mixing_conductance_real": _non_negative("mixing_conductance_real",
                                                     self.mixing_conductance_real),
            "mixing_conductance_imag": _finite("mixing_conductance_imag",
                                               self.mixing_conductance_imag),
            "temperature": (None if self.temperature is None
                            else _positive("temperature", self.temperature)),
            "source": _text("source", self.source),
        }
        for field, value in checked.items():
            object.__setattr__(self, field, value)

    @property
    def mixing_conductance(self) -> complex:
        """G = G_r + i G_i [S/m^2]."""
        return complex(self.mixing_conductance_real, self.mixing_conductance_imag)

    def with_values(self, **changes: Any) -> "MagneticInsulatorInterface":
        """A copy with some fields changed (``dataclasses.replace``), validated again."""
        _reject_unknown_fields(type(self), changes)
        return dataclasses.replace(self, **changes)


# --------------------------------------------------------------------------- microscopic relations
def diffusion_constant_from_fermi(fermi_velocity: float, momentum_relaxation_time: float) -> float:
    """D = v_F^2 tau_p / 3 [m^2/s] (3-D random walk; physics.md section 3.1)."""
    v = _positive("fermi_velocity", fermi_velocity)
    tau = _positive("momentum_relaxation_time", momentum_relaxation_time)
    return v * v * tau / 3.0


def spin_diffusion_length_from(diffusion_constant: float, spin_lifetime: float) -> float:
    """lambda_sf = sqrt(D tau_sf) [m] (physics.md section 3.1)."""
    d = _positive("diffusion_constant", diffusion_constant)
    tau = _positive("spin_lifetime", spin_lifetime, allow_inf=True)
    return math.sqrt(d * tau)


def elliott_yafet_spin_lifetime(momentum_relaxation_time: float, spin_flip_probability: float) -> float:
    """Elliott–Yafet: tau_sf = tau_p / eps [s], eps in (0, 1] the spin-flip probability per
    momentum scattering event (physics.md section 3.1). Dirtier metal, shorter tau_sf."""
    tau = _positive("momentum_relaxation_time", momentum_relaxation_time)
    eps = _number("spin_flip_probability", spin_flip_probability)
    if not 0.0 < eps <= 1.0:
        raise ValueError(f"spin_flip_probability: must lie in (0, 1] (got {spin_flip_probability!r})")
    return tau / eps


def dyakonov_perel_spin_lifetime(momentum_relaxation_time: float, spin_orbit_frequency: float) -> float:
    """Dyakonov–Perel: 1/tau_sf = Omega_so^2 tau_p [s] (physics.md section 3.1).

    Motional narrowing: valid only for Omega_so tau_p < 1 (otherwise the spin precesses
    through a full turn between collisions and the formula does not apply), which is
    checked. Dirtier material, longer tau_sf.
    """
    tau = _positive("momentum_relaxation_time", momentum_relaxation_time)
    omega = _positive("spin_orbit_frequency", spin_orbit_frequency)
    if not omega * tau < 1.0:
        raise ValueError(f"spin_orbit_frequency: Dyakonov-Perel needs Omega_so tau_p < 1 "
                         f"(motional narrowing; got {omega * tau:g})")
    return 1.0 / (omega * omega * tau)


def einstein_conductivity(density_of_states: float, diffusion_constant: float) -> float:
    """Einstein relation sigma = e^2 N(E_F) D [S/m]; N(E_F) in 1/(J m^3), both spins."""
    n = _positive("density_of_states", density_of_states)
    d = _positive("diffusion_constant", diffusion_constant)
    return ELEMENTARY_CHARGE ** 2 * n * d


def free_electron_density_of_states(electron_density: float, fermi_energy: float) -> float:
    """Free-electron N(E_F) = 3 n / (2 E_F) [1/(J m^3)], both spins; n in 1/m^3, E_F in J."""
    n = _positive("electron_density", electron_density)
    energy = _positive("fermi_energy", fermi_energy)
    return 1.5 * n / energy


def density_of_states_from_heat_capacity(sommerfeld_coefficient: float, molar_volume: float) -> float:
    """N(E_F) = 3 gamma / (pi^2 k_B^2 V_m) [1/(J m^3)], both spins, from the electronic
    specific heat C = gamma T (gamma in J/(mol K^2), molar volume V_m in m^3/mol): the
    density of states of transition metals, whose d bands the free-electron formula misses
    (it includes the electron-phonon enhancement, an overestimate of tens of per cent)."""
    gamma = _positive("sommerfeld_coefficient", sommerfeld_coefficient)
    volume = _positive("molar_volume", molar_volume)
    return 3.0 * gamma / (math.pi ** 2 * BOLTZMANN ** 2 * volume)


def material_from_microscopic(name: str, fermi_velocity: float, momentum_relaxation_time: float,
                              density_of_states: float, spin_flip_probability: float | None = None,
                              spin_orbit_frequency: float | None = None,
                              bulk_polarization: float = 0.0,
                              temperature: float | None = None) -> Material:
    """A Material from microscopic parameters (physics.md section 3.1):

        D = v_F^2 tau_p / 3,   rho = 1 / (e^2 N(E_F) D),   lambda_sf = sqrt(D tau_sf)
        tau_sf = tau_p / eps              (Elliott–Yafet, give spin_flip_probability)
        tau_sf = 1 / (Omega_so^2 tau_p)   (Dyakonov–Perel, give spin_orbit_frequency)

    Exactly one of the two spin-flip mechanisms must be given.
    """
    if (spin_flip_probability is None) == (spin_orbit_frequency is None):
        raise ValueError("spin_flip_probability: give exactly one of spin_flip_probability "
                         "(Elliott-Yafet) and spin_orbit_frequency (Dyakonov-Perel)")
    diffusion = diffusion_constant_from_fermi(fermi_velocity, momentum_relaxation_time)
    if spin_flip_probability is not None:
        lifetime = elliott_yafet_spin_lifetime(momentum_relaxation_time, spin_flip_probability)
        mechanism = f"Elliott-Yafet eps = {spin_flip_probability:g}"
    else:
        lifetime = dyakonov_perel_spin_lifetime(momentum_relaxation_time, spin_orbit_frequency)
        mechanism = f"Dyakonov-Perel Omega_so = {spin_orbit_frequency:g} 1/s"
    conductivity = einstein_conductivity(density_of_states, diffusion)
    source = (f"microscopic estimate (physics.md 3.1): v_F = {fermi_velocity:g} m/s, "
              f"tau_p = {momentum_relaxation_time:g} s, N(E_F) = {density_of_states:g} 1/(J m^3), "
              f"{mechanism}")
    return Material(name=name, resistivity=1.0 / conductivity,
                    spin_diffusion_length=spin_diffusion_length_from(diffusion, lifetime),
                    bulk_polarization=bulk_polarization, diffusion_constant=diffusion,
                    temperature=temperature, source=source)


# --------------------------------------------------------------------------- library
_EV = ELEMENTARY_CHARGE  # J per eV
_FREE_ELECTRON = ("free-electron N(E_F) = 3n/(2E_F) with n, E_F from Ashcroft & Mermin, "
                  "Solid State Physics (1976), ch. 2")
# free-electron N(E_F) [1/(J m^3)] from the textbook n [1/m^3] and E_F [eV]
_DOS = {
    "Cu": free_electron_density_of_states(8.47e28, 7.00 * _EV),
    "Ag": free_electron_density_of_states(5.86e28, 5.49 * _EV),
    "Au": free_electron_density_of_states(5.90e28, 5.53 * _EV),
    "Al": free_electron_density_of_states(18.1e28, 11.7 * _EV),
}


def _einstein_diffusion(element: str, resistivity: float) -> float:
    """D = 1 / (e^2 N(E_F) rho) with the free-electron N(E_F) of ``element``."""
    return 1.0 / (ELEMENTARY_CHARGE ** 2 * _DOS[element] * resistivity)


def _einstein_resistivity(element: str, diffusion_constant: float) -> float:
    """rho = 1 / (e^2 N(E_F) D) with the free-electron N(E_F) of ``element``."""
    return 1.0 / einstein_conductivity(_DOS[element], diffusion_constant)


_JEDEMA_2001 = "Jedema, Filip & van Wees, Nature 410, 345 (2001)"
_JEDEMA_2002 = "Jedema, Heersche, Filip, Baselmans & van Wees, Nature 416, 713 (2002)"
_BASS_PRATT = "Bass & Pratt, J. Phys.: Condens. Matter 19, 183201 (2007)"
_SAGASTA = ("Sagasta, Omori, Isasa, Otani, Hueso & Casanova, arXiv:1904.01921 (2019): "
            "lambda_Py = 0.91 fOhm m^2 / rho_Py")

# Al (Jedema 2002): D = lambda^2 / tau_sf from the quoted lambda_sf and Hanle tau_sf.
_AL_4K_D = (650e-9) ** 2 / 100e-12
_AL_RT_D = (350e-9) ** 2 / 45e-12


# ---- spin-orbit (heavy) metals: docs/theory/spin_orbit_transport.md section 8
_ROJAS_SANCHEZ = ("Rojas-Sanchez, Reyren, Laczkowski, Savero, Attane, Deranlot, Jamet, George, "
                  "Vila & Jaffres, Phys. Rev. Lett. 112, 106602 (2014)")
_SAGASTA_PT = ("Sagasta, Omori, Isasa, Gradhand, Hueso, Niimi, Otani & Casanova, Phys. Rev. B 94, "
               "060412(R) (2016)")
_LIU_TA = "Liu, Pai, Li, Tseng, Ralph & Buhrman, Science 336, 555 (2012)"
_PAI_W = "Pai, Liu, Li, Tseng, Ralph & Buhrman, Appl. Phys. Lett. 101, 122404 (2012)"
_KITTEL = "Kittel, Introduction to Solid State Physics (8th ed., 2005), ch. 6"
#: Pt: lambda rho [Ohm m^2] of the Elliott-Yafet relation (Sagasta16: lambda_Pt linear in
#: sigma_Pt over the whole range studied; the value of the product approximate)
_PT_EY_PRODUCT = 0.61e-15
_PT_LAMBDA = 3.4e-9
#: permalloy: lambda rho [Ohm m^2] (Sagasta et al. 2019, the value of the Py@300K entry)
_PY_EY_PRODUCT = 0.91e-15
#: Sommerfeld coefficient gamma [J/(mol K^2)] and molar volume [m^3/mol] (molar mass / density)
#: of the heavy metals, for the Einstein-relation estimate of D (only the Hanle precession
#: term uses D, and only at B != 0)
_SOMMERFELD = {"Pt": (6.8e-3, 195.08e-3 / 21.45e3), "Ta": (5.9e-3, 180.95e-3 / 16.65e3),
               "W": (1.3e-3, 183.84e-3 / 19.25e3)}
_SOMMERFELD_SOURCE = (f"D: Einstein-relation estimate D = 1/(e^2 N(E_F) rho) with N(E_F) from the "
                      f"electronic specific heat gamma ({_KITTEL}; approximate: gamma includes the "
                      f"electron-phonon enhancement, and is that of the bulk alpha phase)")


def _heavy_metal_diffusion(element: str, resistivity: float) -> float:
    """D = 1 / (e^2 N(E_F) rho) with N(E_F) from the element's Sommerfeld coefficient."""
    gamma, molar_volume = _SOMMERFELD[element]
    return 1.0 / (ELEMENTARY_CHARGE ** 2 * density_of_states_from_heat_capacity(gamma, molar_volume)
                  * resistivity)


MATERIALS: dict[str, Material] = {m.name: m for m in [
    Material(
        "Cu@4.2K", resistivity=1.43e-8, spin_diffusion_length=1.0e-6,
        diffusion_constant=_einstein_diffusion("Cu", 1.43e-8), temperature=4.2,
        source=f"lambda_sf: {_JEDEMA_2001} (Py/Cu lateral spin valves, ~1 um at 4.2 K); "
               f"resistivity: approximate thin-film value for such devices; "
               f"D: Einstein-relation estimate, {_FREE_ELECTRON}"),
    Material(
        "Cu@300K", resistivity=2.1e-8, spin_diffusion_length=350e-9,
        diffusion_constant=_einstein_diffusion("Cu", 2.1e-8), temperature=300.0,
        source=f"lambda_sf: {_JEDEMA_2001} (~350 nm at room temperature); "
               f"resistivity: approximate thin-film value; "
               f"D: Einstein-relation estimate, {_FREE_ELECTRON}"),
    Material(
        "Al@4.2K", resistivity=_einstein_resistivity("Al", _AL_4K_D), spin_diffusion_length=650e-9,
        diffusion_constant=_AL_4K_D, temperature=4.2,
        source=f"{_JEDEMA_2002} (Co/Al2O3/Al valves with Hanle fits): lambda_sf ~ 650 nm and "
               f"tau_sf ~ 100 ps at 4.2 K, approximate values; D = lambda^2/tau_sf derived here; "
               f"resistivity: Einstein-relation estimate from that D ({_FREE_ELECTRON}), "
               f"typical of thin Al films"),
    Material(
        "Al@300K", resistivity=_einstein_resistivity("Al", _AL_RT_D), spin_diffusion_length=350e-9,
        diffusion_constant=_AL_RT_D, temperature=300.0,
        source=f"{_JEDEMA_2002}: lambda_sf ~ 350 nm and tau_sf ~ 45 ps at room temperature, "
               f"approximate values (Jedema et al., Appl. Phys. Lett. 81, 5162 (2002) report "
               f"500 nm in another Al strip); D = lambda^2/tau_sf derived here; resistivity: "
               f"Einstein-relation estimate from that D ({_FREE_ELECTRON})"),
    Material(
        "Ag@300K", resistivity=3.0e-8, spin_diffusion_length=300e-9,
        diffusion_constant=_einstein_diffusion("Ag", 3.0e-8), temperature=300.0,
        source="approximate typical room-temperature value for Ag lateral spin valves "
               "(a few hundred nm; see Kimura & Otani, Phys. Rev. Lett. 99, 196604 (2007) and the "
               "review Idzuchi, Fukuma & Otani, Physica E 68, 239 (2015)), not one quoted "
               "measurement; resistivity: assumption (typical thin film); "
               f"D: Einstein-relation estimate, {_FREE_ELECTRON}"),
    Material(
        "Au@10K", resistivity=3.0e-8, spin_diffusion_length=63e-9,
        diffusion_constant=_einstein_diffusion("Au", 3.0e-8), temperature=10.0,
        source="lambda_sf = 63 +- 15 nm at 10 K: Ji, Hoffmann, Jiang & Bader, Appl. Phys. Lett. 85, "
               "6218 (2004) (Py/Au lateral spin valves); resistivity: assumption (typical thin "
               f"film); D: Einstein-relation estimate, {_FREE_ELECTRON}"),
    Material(
        "Au@300K", resistivity=4.0e-8, spin_diffusion_length=35e-9,
        diffusion_constant=_einstein_diffusion("Au", 4.0e-8), temperature=300.0,
        source="assumption: typical room-temperature thin-film Au (lambda_sf of order 30-90 nm "
               f"in the literature collected by {_BASS_PRATT}, depending on purity); "
               f"D: Einstein-relation estimate, {_FREE_ELECTRON}"),
    Material(
        "Py@4.2K", resistivity=1.5e-7, spin_diffusion_length=5.5e-9, bulk_polarization=0.73,
        temperature=4.2,
        source=f"permalloy Ni80Fe20; review values of {_BASS_PRATT}: lambda_sf ~ 5.5 nm, "
               f"beta ~ 0.73 (approximate); resistivity: approximate typical sputtered-film value"),
    Material(
        "Py@300K", resistivity=2.5e-7, spin_diffusion_length=_PY_EY_PRODUCT / 2.5e-7,
        bulk_polarization=0.3, temperature=300.0, elliott_yafet_product=_PY_EY_PRODUCT,
        source=f"permalloy Ni80Fe20; lambda_sf from {_SAGASTA} with rho = 250 nOhm m "
               f"(approximate typical film resistivity); bulk_polarization: assumption, typical "
               f"room-temperature lateral-spin-valve range 0.2-0.4; Elliott-Yafet: lambda rho = "
               f"0.91 fOhm m^2 (the same source: lambda_Py linear in sigma_Py)"),
    Material(
        "Co@4.2K", resistivity=7.5e-8, spin_diffusion_length=59e-9, bulk_polarization=0.46,
        temperature=4.2,
        source=f"review values of {_BASS_PRATT}: lambda_sf ~ 59 nm, beta ~ 0.46 (approximate); "
               f"resistivity: approximate sputtered-film value (assumption)"),
    Material(
        "Fe@4.2K", resistivity=5.0e-8, spin_diffusion_length=8.5e-9, bulk_polarization=0.65,
        temperature=4.2,
        source=f"review value of {_BASS_PRATT}: lambda_sf ~ 8.5 nm; beta ~ 0.6-0.7 (approximate); "
               f"resistivity: assumption (typical sputtered film)"),
    Material(
        "Pt@300K", resistivity=_PT_EY_PRODUCT / _PT_LAMBDA, spin_diffusion_length=_PT_LAMBDA,
        diffusion_constant=_heavy_metal_diffusion("Pt", _PT_EY_PRODUCT / _PT_LAMBDA),
        temperature=300.0, spin_hall_angle=0.056, elliott_yafet_product=_PT_EY_PRODUCT,
        spin_hall_scaling="conductivity",
        source=f"lambda_sf = 3.4 +- 0.4 nm and theta_SH = 0.056 +- 0.010 (spin pumping and ISHE in "
               f"Co|Pt and Co|Cu|Pt, room temperature): {_ROJAS_SANCHEZ} (0.056 is the value of "
               f"that group's 2014 proceedings abstract with the same lambda; the arXiv:1312.2717 "
               f"abstract gives 0.051 +- 0.004); resistivity: derived here as lambda rho / lambda "
               f"with the Elliott-Yafet product lambda rho ~ 0.61 fOhm m^2 of {_SAGASTA_PT} "
               f"(approximate: that study's linear lambda-sigma relation verified, the product's "
               f"value not; Nguyen, Ralph & Buhrman, arXiv:1512.06931, give 0.77 +- 0.08 fOhm "
               f"m^2), i.e. ~18 uOhm cm, not the measured resistivity of the Rojas-Sanchez films; "
               f"theta_SH scales with rho at fixed spin Hall conductivity (intrinsic regime, "
               f"{_SAGASTA_PT}); {_SOMMERFELD_SOURCE}"),
    Material(
        "beta-Ta@300K", resistivity=1.9e-6, spin_diffusion_length=2.5e-9,
        diffusion_constant=_heavy_metal_diffusion("Ta", 1.9e-6), temperature=300.0,
        spin_hall_angle=-0.15,
        source=f"beta-tantalum; theta_SH: |J_s/J_e| = 0.15 +- 0.03 from spin-torque FMR of 8 nm Ta "
               f"films, {_LIU_TA}, sign opposite to Pt's (that paper; also Sagasta et al., Phys. "
               f"Rev. B 98, 060410(R) (2018), negative theta_SH up to -0.35 in resistive Ta); "
               f"resistivity: approximate, ~190 uOhm cm typical of beta-Ta films (not verified "
               f"against {_LIU_TA}); lambda_sf: approximate, ~2.5 nm for beta-Ta from spin torques "
               f"(arXiv:1411.0601), not from {_LIU_TA}; {_SOMMERFELD_SOURCE}"),
    Material(
        "beta-W@300K", resistivity=2.6e-6, spin_diffusion_length=1.5e-9,
        diffusion_constant=_heavy_metal_diffusion("W", 2.6e-6), temperature=300.0,
        spin_hall_angle=-0.30,
        source=f"beta-tungsten (A15); theta_SH: |theta| = 0.30 +- 0.02 from spin-torque FMR of "
               f"beta-W/CoFeB (0.33 +- 0.06 from switching), {_PAI_W}, sign opposite to Pt's (as "
               f"Ta; e.g. arXiv:1810.00641: -0.36 for W/CoFeB against +0.09 for CoFeB/Pt); "
               f"resistivity: approximate, ~260 uOhm cm typical of beta-W films (not verified "
               f"against {_PAI_W}); lambda_sf: assumption, of order 1-2 nm as for the other "
               f"resistive 5d metals (not measured in {_PAI_W}); {_SOMMERFELD_SOURCE}"),
]}

INTERFACES: dict[str, Interface] = {
    "Co/Cu@4.2K": Interface.from_bass_pratt(
        0.51e-15, 0.77, 0.33,
        source=f"review values of {_BASS_PRATT} (CPP-MR): AR* ~ 0.51 fOhm m^2, gamma ~ 0.77, "
               f"delta ~ 0.33 (approximate)"),
    "Py/Cu@4.2K": Interface.from_bass_pratt(
        0.5e-15, 0.7, 0.25,
        source=f"review values of {_BASS_PRATT} (CPP-MR): AR* ~ 0.5 fOhm m^2, gamma ~ 0.7, "
               f"delta ~ 0.25 (approximate)"),
    "AlOx tunnel barrier": Interface(
        1e-12, 0.3, 0.0,
        source="assumption: generic AlOx tunnel barrier, RA ~ 1e-12 Ohm m^2 (1 kOhm um^2), "
               "P_J ~ 0.3, no spin memory loss"),
}


MAGNETIC_INSULATOR_INTERFACES: dict[str, MagneticInsulatorInterface] = {i.name: i for i in [
    MagneticInsulatorInterface(
        "YIG/Pt@300K", mixing_conductance_real=7e14, mixing_conductance_imag=5e13,
        temperature=300.0,
        source="G_r = (7 +- 3) x 10^14 and G_i = (5 +- 3) x 10^13 Ohm^-1 m^-2 from the SMR of "
               "YIG/Pt (Pt 3-35 nm, room temperature) fitted with theta_SH = 0.08 and "
               "lambda_Pt = 1.1 nm: Vlietstra, Shan, Castel, Ben Youssef, Bauer & van Wees, "
               "arXiv:1305.3117 (2013) (Appl. Phys. Lett. 103, 032401 (2013)); the values belong "
               "with those theta_SH and lambda, not with the Pt@300K entry"),
]}


def _lookup(library: dict, kind: str, name: str):
    if name not in library:
        raise ValueError(f"unknown {kind} {name!r} (available: {', '.join(sorted(library))})")
    return library[name]


def get_material(name: str) -> Material:
    """The library material ``name`` (e.g. "Cu@4.2K"); ValueError lists the available names."""
    return _lookup(MATERIALS, "material", name)


def get_interface(name: str) -> Interface:
    """The library interface ``name`` (e.g. "Co/Cu@4.2K"); ValueError lists the available names."""
    return _lookup(INTERFACES, "interface", name)


def get_magnetic_insulator_interface(name: str) -> MagneticInsulatorInterface:
    """The library magnetic-insulator contact ``name`` (e.g. "YIG/Pt@300K"); ValueError lists
    the available names."""
    return _lookup(MAGNETIC_INSULATOR_INTERFACES, "magnetic insulator interface", name)


# --------------------------------------------------------------------------- configuration tables
_MATERIAL_FIELDS = ("name", "resistivity", "spin_diffusion_length", "bulk_polarization",
                    "diffusion_constant", "temperature", "source", "spin_hall_angle",
                    "elliott_yafet_product", "spin_hall_scaling")
#: a region table may ask for its material at another resistivity with lambda scaled by the
#: Elliott-Yafet relation (Material.at_resistivity)
_AT_RESISTIVITY = "at_resistivity"
_MAGNETIC_INSULATOR_FIELDS = ("mixing_conductance_real", "mixing_conductance_imag", "temperature",
                              "source", "name")
_MICROSCOPIC_FIELDS = ("fermi_velocity", "momentum_relaxation_time", "density_of_states",
                       "spin_flip_probability", "spin_orbit_frequency")
_MICROSCOPIC_EXTRA = ("name", "bulk_polarization", "temperature")
_INTERFACE_FIELDS = ("area_resistance", "polarization", "spin_memory_loss", "source")
_BASS_PRATT_FIELDS = ("AR_star", "gamma", "delta")
#: keys that mark a run-file table as an interface rather than a bulk material
INTERFACE_TABLE_KEYS = frozenset({"interface", *_INTERFACE_FIELDS, *_BASS_PRATT_FIELDS} - {"source"})
_TEXT_FIELDS = {"name", "source", "material", "interface", "spin_hall_scaling"}


def _config_error(error: ValueError, key: str, table: dict) -> ConfigError:
    """A ConfigError naming ``key.<field>`` from a ValueError "<field>: <message>"."""
    field, sep, message = str(error).partition(": ")
    if sep and field in table:
        return ConfigError(f"{key}.{field}", message)
    if sep and field.isidentifier():
        return ConfigError(key, f"{field}: {message}")
    return ConfigError(key, str(error))


def _checked_entries(table: Any, key: str, allowed: tuple[str, ...],
                     ignore: tuple[str, ...]) -> dict:
    """The entries of ``table`` (minus ``ignore``), with keys and value types checked."""
    if not isinstance(table, dict):
        raise ConfigError(key, f"must be a table (got {table!r})")
    entries = {}
    for field, value in table.items():
        if field in ignore:
            continue
        if field not in allowed:
            known = ", ".join(sorted(set(allowed)))
            raise ConfigError(f"{key}.{field}", f"unknown key (known keys: {known})")
        if field in _TEXT_FIELDS:
            if not isinstance(value, str):
                raise ConfigError(f"{key}.{field}", f"must be a string (got {value!r})")
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}.{field}", f"must be a number (got {value!r})")
        entries[field] = value
    return entries


def _require(entries: dict, key: str, fields: tuple[str, ...], mode: str) -> None:
    for field in fields:
        if field not in entries:
            raise ConfigError(f"{key}.{field}", f"missing required key ({mode})")


def _forbid(entries: dict, key: str, fields: tuple[str, ...], mode: str) -> None:
    for field in fields:
        if field in entries:
            raise ConfigError(f"{key}.{field}", f"cannot be combined with {mode}")


#: a region table may give the spin lifetime tau_sf instead of lambda_sf (Hanle fits measure
#: tau_sf; the material stores lambda_sf = sqrt(D tau_sf))
_LIFETIME_FIELD = "spin_lifetime"


def _lifetime_as_length(entries: dict, key: str, library_diffusion: float | None) -> dict:
    """``entries`` with ``spin_lifetime`` replaced by ``spin_diffusion_length`` = sqrt(D tau_sf),
    D the table's diffusion_constant or else the library material's."""
    if _LIFETIME_FIELD not in entries:
        return entries
    if "spin_diffusion_length" in entries:
        raise ConfigError(f"{key}.{_LIFETIME_FIELD}", "give either spin_lifetime or "
                                                      "spin_diffusion_length, not both")
    out = dict(entries)
    tau = out.pop(_LIFETIME_FIELD)
    diffusion = out.get("diffusion_constant", library_diffusion)
    if diffusion is None:
        raise ConfigError(f"{key}.{_LIFETIME_FIELD}", "needs a diffusion_constant (m^2/s): "
                                                      "lambda_sf = sqrt(D tau_sf)")
    try:
        out["spin_diffusion_length"] = spin_diffusion_length_from(diffusion, tau)
    except ValueError as error:
        raise _config_error(error, key, {**entries, _LIFETIME_FIELD: tau}) from None
    return out


def material_from_table(table: dict, key: str, ignore: tuple[str, ...] = ()) -> Material:
    """The Material described by a region table of a run file (``key`` e.g. "model.regions.N").

    Three forms (keys in ``ignore`` belong to the region, not the material, and are skipped):

    * library entry plus optional overrides of Material fields::

          {"material": "Cu@4.2K", "spin_diffusion_length": 5e-7}

    * explicit fields: ``resistivity`` and ``spin_diffusion_length`` (required),
      ``bulk_polarization``, ``diffusion_constant``, ``temperature``, ``name``, ``source``;
      in the first two forms ``spin_lifetime`` tau_sf (s) may replace ``spin_diffusion_length``
      (then lambda_sf = sqrt(D tau_sf) with the table's or the library's diffusion_constant);
    * either of the first two forms with ``at_resistivity`` (Ohm m): the material at that
      resistivity, lambda_sf scaled by the Elliott–Yafet relation lambda rho = const
      (:meth:`Material.at_resistivity`; needs an ``elliott_yafet_product``, as "Pt@300K" and
      "Py@300K" have); ``spin_hall_angle``, ``elliott_yafet_product`` and
      ``spin_hall_scaling`` are Material fields like the others;
    * microscopic fields: ``fermi_velocity``, ``momentum_relaxation_time``,
      ``density_of_states`` and exactly one of ``spin_flip_probability`` (Elliott–Yafet)
      or ``spin_orbit_frequency`` (Dyakonov–Perel), optionally ``bulk_polarization``,
      ``temperature``, ``name`` (see :func:`material_from_microscopic`).

    Unknown keys, wrong types, missing or invalid values raise ConfigError("<key>.<field>", ...).
    """
    allowed = ("material",) + _MATERIAL_FIELDS + (_LIFETIME_FIELD, _AT_RESISTIVITY) + _MICROSCOPIC_FIELDS
    entries = _checked_entries(table, key, allowed, ignore)
    if _AT_RESISTIVITY in entries:
        rho = entries.pop(_AT_RESISTIVITY)
        if "resistivity" in entries or "spin_diffusion_length" in entries \
                or _LIFETIME_FIELD in entries:
            raise ConfigError(f"{key}.{_AT_RESISTIVITY}", "sets resistivity and spin_diffusion_length "
                                                          "(Elliott-Yafet): give neither of them")
        base = material_from_table(entries, key)
        try:
            return base.at_resistivity(rho)
        except ValueError as error:
            field, _, message = str(error).partition(": ")
            if field == "resistivity":
                raise ConfigError(f"{key}.{_AT_RESISTIVITY}", message) from None
            raise ConfigError(f"{key}.{_AT_RESISTIVITY}", str(error)) from None
    default_name = key.rsplit(".", 1)[-1] if key else "material"
    microscopic = [f for f in _MICROSCOPIC_FIELDS if f in entries]
    try:
        if "material" in entries:
            _forbid(entries, key, _MICROSCOPIC_FIELDS, "'material' (a library entry)")
            try:
                base = get_material(entries["material"])
            except ValueError as error:
                raise ConfigError(f"{key}.material", str(error)) from None
            overrides = {f: v for f, v in entries.items() if f != "material"}
            return base.with_values(**_lifetime_as_length(overrides, key, base.diffusion_constant))
        if microscopic:
            mode = "microscopic fields"
            _forbid(entries, key, tuple(f for f in _MATERIAL_FIELDS + (_LIFETIME_FIELD,)
                                        if f not in _MICROSCOPIC_EXTRA),
                    f"{mode} ({', '.join(microscopic)})")
            _require(entries, key, ("fermi_velocity", "momentum_relaxation_time",
                                    "density_of_states"), mode)
            if ("spin_flip_probability" in entries) == ("spin_orbit_frequency" in entries):
                field = ("spin_orbit_frequency" if "spin_orbit_frequency" in entries
                         else "spin_flip_probability")
                raise ConfigError(f"{key}.{field}", "give exactly one of spin_flip_probability "
                                                    "(Elliott-Yafet) and spin_orbit_frequency "
                                                    "(Dyakonov-Perel)")
            kwargs = dict(entries)
            kwargs.setdefault("name", default_name)
            return material_from_microscopic(**kwargs)
        entries = _lifetime_as_length(entries, key, None)
        _require(entries, key, ("resistivity", "spin_diffusion_length"),
                 "give 'material', explicit fields or microscopic fields")
        kwargs = dict(entries)
        kwargs.setdefault("name", default_name)
        return Material(**kwargs)
    except ConfigError:
        raise
    except ValueError as error:
        raise _config_error(error, key, entries) from None


def interface_from_table(table: dict, key: str, ignore: tuple[str, ...] = ()) -> Interface:
    """The Interface described by a table of a run file (``key`` e.g. "model.interfaces.F1N").

    Three forms (keys in ``ignore`` are skipped):

    * library entry plus optional overrides: ``{"interface": "Co/Cu@4.2K", "spin_memory_loss": 0.2}``;
    * explicit: ``area_resistance`` (required, Ohm m^2), ``polarization``, ``spin_memory_loss``,
      ``source``;
    * Bass–Pratt: ``AR_star`` (required), ``gamma``, ``delta``, ``source``
      (see :meth:`Interface.from_bass_pratt`).

    Unknown keys, wrong types, missing or invalid values raise ConfigError("<key>.<field>", ...).
    """
    allowed = ("interface",) + _INTERFACE_FIELDS + _BASS_PRATT_FIELDS
    entries = _checked_entries(table, key, allowed, ignore)
    bass_pratt = [f for f in _BASS_PRATT_FIELDS if f in entries]
    try:
        if "interface" in entries:
            _forbid(entries, key, _BASS_PRATT_FIELDS, "'interface' (a library entry)")
            try:
                base = get_interface(entries["interface"])
            except ValueError as error:
                raise ConfigError(f"{key}.interface", str(error)) from None
            overrides = {f: v for f, v in entries.items() if f != "interface"}
            return base.with_values(**overrides)
        if bass_pratt:
            mode = f"Bass-Pratt fields ({', '.join(bass_pratt)})"
            _forbid(entries, key, ("area_resistance", "polarization", "spin_memory_loss"), mode)
            _require(entries, key, ("AR_star",), "Bass-Pratt fields")
            return Interface.from_bass_pratt(entries["AR_star"], entries.get("gamma", 0.0),
                                             entries.get("delta", 0.0), entries.get("source", ""))
        _require(entries, key, ("area_resistance",),
                 "give 'interface', explicit fields or Bass-Pratt fields")
        return Interface(**entries)
    except ConfigError:
        raise
    except ValueError as error:
        raise _config_error(error, key, entries) from None


def magnetic_insulator_interface_from_table(table: dict, key: str,
                                            ignore: tuple[str, ...] = ()) -> MagneticInsulatorInterface:
    """The MagneticInsulatorInterface of a table of a run file (``key`` names it in errors).

    Two forms (keys in ``ignore`` are skipped): a library entry plus optional overrides,
    ``{"interface": "YIG/Pt@300K", "mixing_conductance_imag": 0.0}``, or explicit
    ``mixing_conductance_real`` (required, S/m^2 = Ohm^-1 m^-2), ``mixing_conductance_imag``,
    ``temperature``, ``name``, ``source``. Unknown keys, wrong types, missing or invalid values
    (e.g. a negative real part) raise ConfigError("<key>.<field>", ...).
    """
    entries = _checked_entries(table, key, ("interface",) + _MAGNETIC_INSULATOR_FIELDS, ignore)
    try:
        if "interface" in entries:
            try:
                base = get_magnetic_insulator_interface(entries["interface"])
            except ValueError as error:
                raise ConfigError(f"{key}.interface", str(error)) from None
            return base.with_values(**{f: v for f, v in entries.items() if f != "interface"})
        _require(entries, key, ("mixing_conductance_real",),
                 "give 'interface' (a library entry) or explicit fields")
        kwargs = dict(entries)
        kwargs.setdefault("name", key.rsplit(".", 1)[-1] if key else "magnetic insulator")
        return MagneticInsulatorInterface(**kwargs)
    except ConfigError:
        raise
    except ValueError as error:
        raise _config_error(error, key, entries) from None
