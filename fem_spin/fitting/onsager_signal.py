"""The ``onsager_signal`` observation: a measured time series of an ``onsager_transport`` run.

An MRFM experiment detects the spins of the resonant slice |B(x) - B_res| <= delta_B (the
cantilever force is proportional to their moment), in units the transduction fixes: the
signal is ``scale * Q(t + dead_time) + offset`` with Q a spin-density-weighted region mean
of the run's time series,

* ``P_slice``: mean polarization rho2 over the resonant slice (default; the run needs
  ``model.resonant_field`` and ``model.slice_half_width`` > 0);
* ``dipolar_slice``: mean dipolar order rho1 over the slice;
* ``dipolar_mean``: mean dipolar order over the sample (an NMR dipolar-order signal).

The other columns are refused: the mean polarization, moment and energy are conserved by
the model (they carry no information about transport), the nodal extremes (P_min, P_max,
rho_max) and the entropy are no region means a detector records. ``scale`` and ``offset``
are linear nuisance parameters solved in closed form, exactly as for ``dnp_buildup``, whose
affine form (and variable projection) this observation shares.

What it identifies (docs/fitting.md): the transport coefficient Gamma sets the time scale
l^2/Gamma of the signal, the dipolar field B_d the separation length l = B_d/|grad B| against
the slice and the initial profile; both from one curve when the slice is a few l wide.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from fem_spin.config import ConfigError
from fem_spin.fitting.observations import DNPBuildup, register_observation

__all__ = ["OnsagerSignal", "MEASURED_QUANTITIES", "REFUSED_QUANTITIES"]

#: the run's columns this observation observes -> what they are (messages, docs)
MEASURED_QUANTITIES = {
    "P_slice": "mean polarization over the resonant slice",
    "dipolar_slice": "mean dipolar order over the resonant slice",
    "dipolar_mean": "mean dipolar order over the sample",
}

#: the run's other columns -> why a fit cannot observe them
REFUSED_QUANTITIES = {
    "P_mean": "conserved by the model (no information about transport)",
    "moment": "conserved by the model (no information about transport)",
    "energy": "conserved by the model (no information about transport)",
    "P_min": "a nodal extreme, not a region mean a detector records",
    "P_max": "a nodal extreme, not a region mean a detector records",
    "rho_max": "a nodal extreme, not a region mean a detector records",
    "entropy": "not a measured signal",
}


@register_observation("onsager_signal")
@dataclasses.dataclass(frozen=True)
class OnsagerSignal(DNPBuildup):
    """``signal(t) = scale * Q(t + dead_time) + offset`` of an ``onsager_transport`` run, Q
    one of :data:`MEASURED_QUANTITIES` (default ``P_slice``); keys and nuisances as
    :class:`~fem_spin.fitting.observations.DNPBuildup`."""

    quantity: str = "P_slice"

    @classmethod
    def from_table(cls, table: dict, source: str, key: str) -> "OnsagerSignal":
        quantity = table.get("quantity", "P_slice")
        if isinstance(quantity, str) and quantity not in MEASURED_QUANTITIES:
            why = REFUSED_QUANTITIES.get(quantity, "not a time-series column of onsager_transport")
            raise ConfigError(f"{key}.quantity", f"{quantity!r} cannot be fitted: {why} (expected "
                              f"one of {', '.join(MEASURED_QUANTITIES)})", file=source)
        parsed = DNPBuildup.from_table({**table, "quantity": quantity}, source, key)
        return cls(**dataclasses.asdict(parsed))

    def check(self, run_config, source: str, key: str) -> None:
        model = run_config.model
        if run_config.time is None or model.model_type != "onsager_transport":
            raise ConfigError(key, f"an onsager_signal observes a transient onsager_transport run; "
                              f"{run_config.source} is a {model.model_type} run", file=source)
        columns = model.problem_class.series_names(model)
        if self.quantity not in columns:
            raise ConfigError(f"{key}.quantity", f"{run_config.source} records no {self.quantity!r} "
                              f"({MEASURED_QUANTITIES[self.quantity]}): it needs model.resonant_field "
                              f"and model.slice_half_width > 0", file=source)

    def basis(self, result, x):
        # a mean over an empty slice is NaN (only known once the mesh exists): say why
        if self.quantity.endswith("_slice") and not np.all(np.isfinite(result.series.get(self.quantity, ()))):
            raise ConfigError("observation.quantity", f"{self.quantity} of the run is not finite: "
                              f"the resonant slice (model.resonant_field +- model.slice_half_width, "
                              f"with the dataset's overrides) misses the sample of "
                              f"{getattr(result.config, 'source', 'the run')}")
        return super().basis(result, x)

    def describe(self) -> str:
        return f"{super().describe()} ({MEASURED_QUANTITIES[self.quantity]})"
