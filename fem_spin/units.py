"""Physical quantities given with units in a configuration, converted to SI.

Numbers in a run file are SI. A few inputs are conventionally quoted in other units
(radical concentrations in mM, spin densities per cm^3); for those a string with a
unit is accepted too::

    electron_concentration = "40 mM"      # -> 2.409e25 1/m^3
    electron_concentration = 2.4e25        # 1/m^3
    nuclear_density = "6.7e22 cm^-3"       # -> 6.7e28 1/m^3
"""

from __future__ import annotations

import math
import re

__all__ = ["AVOGADRO", "number_density", "cell_side", "wigner_seitz_radius"]

AVOGADRO = 6.02214076e23  # 1/mol (exact, SI 2019)

# factor from the unit to 1/m^3
_DENSITY_UNITS = {
    "1/m^3": 1.0, "m^-3": 1.0, "/m^3": 1.0,
    "1/cm^3": 1e6, "cm^-3": 1e6, "/cm^3": 1e6,
    "1/nm^3": 1e27, "nm^-3": 1e27, "/nm^3": 1e27,
    "M": AVOGADRO * 1e3, "mol/L": AVOGADRO * 1e3, "mol/l": AVOGADRO * 1e3,
    "mM": AVOGADRO, "mmol/L": AVOGADRO, "mmol/l": AVOGADRO,
    "uM": AVOGADRO * 1e-3, "µM": AVOGADRO * 1e-3,
}


def number_density(value: float | int | str) -> float:
    """A number density in 1/m^3 from a number (already 1/m^3) or a string with a unit.

    Accepted units: 1/m^3, 1/cm^3, 1/nm^3 (also written m^-3 ...), M, mM, uM (mol/L
    of the species, times Avogadro's number). Raises ValueError naming the problem.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a number or a string like '40 mM' (got {value!r})")
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond 1.8e308
            raise ValueError(f"must be a positive density below 1.8e308 1/m^3 (got an integer of "
                             f"{value.bit_length() * 3 // 10 + 1} digits)") from None
    else:
        match = re.fullmatch(r"\s*([-+0-9.eE]+)\s*(\S+)\s*", str(value))
        if not match or match.group(2) not in _DENSITY_UNITS:
            units = ", ".join(sorted(_DENSITY_UNITS))
            raise ValueError(f"expected a number in 1/m^3 or '<number> <unit>' with unit one of "
                             f"{units} (got {value!r})")
        try:
            number = float(match.group(1)) * _DENSITY_UNITS[match.group(2)]
        except ValueError:
            raise ValueError(f"not a number: {match.group(1)!r} in {value!r}") from None
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"must be a positive density (got {value!r})")
    return number


def cell_side(electron_density: float) -> float:
    """Side L = n_e^(-1/3) of the cube holding one electron (physics.md 1.2), in m."""
    return electron_density ** (-1.0 / 3.0)


def wigner_seitz_radius(electron_density: float) -> float:
    """Radius R = (3/(4 pi n_e))^(1/3) of the sphere of the same volume (physics.md 1.2), in m."""
    return (3.0 / (4.0 * math.pi * electron_density)) ** (1.0 / 3.0)
