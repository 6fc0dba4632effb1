r"""The ``hanle`` observation: a nonlocal spin valve's signal against the perpendicular field.

A Hanle measurement sweeps a field B perpendicular to the injected spins and records the
nonlocal resistance R_NL = V/I of one magnetic configuration (or the difference of both):
the spins precess on their way to the detector, so the signal falls, changes sign and decays
(physics.md 3.1; demos/hanle.py). Its width gives the spin lifetime tau_sf (precession by
about pi during the transit time L^2/D), its amplitude P_J^2 R_N and its decay with L/lambda_N.

``value(B) = Q(the run with model.hanle_fields = [B]) + offset``, Q one of the stationary
``valet_fert`` run's summary numbers at its (only) field: ``R_parallel_ohm`` (default),
``R_antiparallel_ohm`` or ``delta_R_ohm``. One forward run per distinct B (the per-point
caching of :class:`~fem_spin.fitting.observations.NonlocalDeltaR`, which this extends); the
``offset`` (a measured R_NL has a spin-independent baseline) is ``"fit"`` (closed form) or a
fixed number. Forward sensitivities of Q (models/valet_fert_tangent.py) give the Jacobian
columns of the region keys the model differentiates (tau_sf, D, lambda_N, P_J, ...).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from fem_spin.config import ConfigError
from fem_spin.fitting.observations import NonlocalDeltaR, _fit_or_number, _reject_unknown_keys, register_observation

__all__ = ["FIELD_UNITS", "HANLE_QUANTITIES", "Hanle"]

#: tesla per unit of the field column
FIELD_UNITS = {"T": 1.0, "mT": 1e-3, "G": 1e-4}
#: the observable summary numbers and the magnetic configurations each needs
HANLE_QUANTITIES = {"R_parallel_ohm": ("parallel",), "R_antiparallel_ohm": ("antiparallel",),
                    "delta_R_ohm": ("parallel", "antiparallel")}


@register_observation("hanle")
@dataclasses.dataclass(frozen=True)
class Hanle(NonlocalDeltaR):
    """R_NL(B) of a valet_fert run with precession (see the module docstring)."""

    quantity: str = "R_parallel_ohm"
    key: str = "model.hanle_fields"
    unit: str = "mT"
    offset: float | str = 0.0

    x_name: ClassVar[str] = "field"
    x_signed: ClassVar[bool] = True

    @classmethod
    def from_table(cls, table: dict, source: str, key: str) -> "Hanle":
        _reject_unknown_keys(table, {"type", "quantity", "unit", "offset"}, source, key)
        quantity = table.get("quantity", "R_parallel_ohm")
        if quantity not in HANLE_QUANTITIES:
            raise ConfigError(f"{key}.quantity", f"must be one of {', '.join(HANLE_QUANTITIES)} "
                              f"(got {quantity!r})", file=source)
        unit = table.get("unit", "mT")
        if unit not in FIELD_UNITS:
            raise ConfigError(f"{key}.unit", f"must be one of {', '.join(FIELD_UNITS)} (the field "
                              f"column's unit; got {unit!r})", file=source)
        return cls(quantity=quantity, unit=unit,
                   offset=_fit_or_number(table.get("offset", 0.0), source, f"{key}.offset"))

    def run_value(self, x: float) -> list[float]:
        return [float(x)]   # one field per run: the summary's numbers are at hanle_fields[0]

    def x_factor(self, spec) -> float:
        return FIELD_UNITS[self.unit]

    def check(self, run_config, source: str, key: str) -> None:
        model = run_config.model
        if run_config.time is not None or model.model_type != "valet_fert":
            raise ConfigError(key, f"a hanle observation observes a stationary valet_fert run; "
                              f"{run_config.source} is a {'transient ' if run_config.time else ''}"
                              f"{model.model_type} run", file=source)
        if not model.precession:
            raise ConfigError(key, f"a Hanle curve needs model.precession = true ({run_config.source} "
                              f"has no spin precession)", file=source)
        missing = [c for c in HANLE_QUANTITIES[self.quantity] if c not in model.configurations]
        if missing:
            raise ConfigError(key, f"{self.quantity} needs model.configurations to include "
                              f"{', '.join(repr(c) for c in missing)} ({run_config.source} has "
                              f"{model.configurations})", file=source)

    def describe(self) -> str:
        offset = "offset (fitted, closed form)" if self.offset == "fit" else f"{self.offset:g}"
        return (f"value = {self.quantity} of the run with model.hanle_fields = [B] ({self.unit}; "
                f"one run per field) + {offset}")
