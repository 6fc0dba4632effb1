"""Observation models: what a measurement sees of a simulated run.

An observation turns a run's :class:`~fem_spin.api.Result` into the model of the measured
values at the data's independent variable, split as

    model = f0 + A @ c

where ``f0`` and the columns of ``A`` depend on the run (the physical parameters) and ``c``
are the linear nuisance parameters (an NMR signal scale, an offset): the objective solves for
``c`` by weighted linear least squares at every evaluation (variable projection), so they
never enter the nonlinear optimiser.

One small class per observation, registered by its ``type`` in the fit file's
``observation`` table with :func:`register_observation`. Two kinds of independent variable:

* the run's time (``run_key()`` is None): one forward run per dataset, observed at the data's
  times (``dnp_buildup``);
* a run-file key (``run_key()``, e.g. ``"geometry.separation"``): one forward run per distinct
  value of the data's independent variable, the key set to it (``x_factor`` converts the
  CSV's unit to the key's SI unit); ``basis`` then receives the list of those runs' Results,
  one per data point (``nonlocal_delta_r``: Delta R of a lateral spin valve against the
  injector-detector distance L; ``hanle`` in fem_spin/fitting/hanle.py: R_NL against the
  perpendicular field B, the key set to ``run_value(x)``). The objective caches the runs with
  the parameter set.

Observations of other models live in their own modules (:data:`OBSERVATION_MODULES`,
imported at the end of this one so that they register): ``onsager_signal``
(fem_spin/fitting/onsager_signal.py).
"""

from __future__ import annotations

import abc
import dataclasses
import importlib
import math
from typing import Any, ClassVar

import numpy as np

from fem_spin.config import ConfigError

__all__ = ["Observation", "DNPBuildup", "NonlocalDeltaR", "register_observation",
           "observation_types", "parse_observation", "LENGTH_UNITS"]

#: metres per unit of a length-valued independent variable
LENGTH_UNITS = {"m": 1.0, "mm": 1e-3, "um": 1e-6, "µm": 1e-6, "nm": 1e-9}

_OBSERVATIONS: dict[str, type["Observation"]] = {}


def register_observation(kind: str):
    """Class decorator: the observation ``type = kind`` of a fit file."""
    def wrap(cls):
        cls.kind = kind
        _OBSERVATIONS[kind] = cls
        return cls
    return wrap


def observation_types() -> list[str]:
    return sorted(_OBSERVATIONS)


@dataclasses.dataclass(frozen=True)
class Observation(abc.ABC):
    """Base of the observation models (frozen: parsed once from the fit file)."""

    kind: ClassVar[str] = ""

    @classmethod
    @abc.abstractmethod
    def from_table(cls, table: dict, source: str, key: str) -> "Observation":
        """The observation from its fit-file table (ConfigError naming ``source`` and ``key``)."""

    def check(self, run_config, source: str, key: str) -> None:
        """Refuse (ConfigError naming ``source`` and ``key``) a run this observation cannot
        observe; called once per dataset before any simulation."""

    def nuisance_names(self) -> tuple[str, ...]:
        """The linear nuisance parameters this observation solves for (the columns of A)."""
        return ()

    def run_key(self) -> str | None:
        """The run-file key the data's independent variable sets (one forward run per distinct
        value; ``basis`` then gets one Result per point); None: it is the run's time."""
        return None

    #: what the independent variable is (messages, plots)
    x_name: ClassVar[str] = "time"
    #: whether the data's independent variable may be negative (a magnetic field); a time or
    #: a distance may not
    x_signed: ClassVar[bool] = False

    def run_value(self, x: float) -> Any:
        """The value the run key is set to for a data point at ``x`` (SI units)."""
        return x

    def x_factor(self, spec) -> float:
        """SI units per unit of the data's independent-variable column (``spec``: the
        DatasetSpec; a time observation uses its ``time_unit``)."""
        return spec.time_factor

    def x_unit(self, spec) -> str:
        return spec.time_unit

    def model_times(self, x: np.ndarray) -> np.ndarray:
        """The run's times (s) at which the data's independent variable ``x`` (s) is observed."""
        return x

    @abc.abstractmethod
    def basis(self, result, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
        """(f0, A, names of the nuisance parameters) at ``x`` for a finished run."""

    def tangent_quantities(self) -> tuple[str, ...]:
        """The run's time-series columns whose sensitivities :meth:`basis_tangent` needs;
        () when the observation cannot use sensitivities (finite differences then)."""
        return ()

    def basis_tangent(self, result, x: np.ndarray, sensitivity: dict[str, np.ndarray]
                      ) -> tuple[np.ndarray, np.ndarray]:
        """(d f0/dp, d A/dp) at ``x`` from ``sensitivity`` (column -> d column/dp per row of
        the run's series; an observation with a ``run_key``: ``result`` is the list of the
        points' Results and ``sensitivity`` quantity -> its derivative per data point)."""
        raise NotImplementedError(f"the observation {self.kind!r} has no sensitivities")

    def describe(self) -> str:
        return self.kind


def _reject_unknown_keys(table: dict, known: set[str], source: str, key: str) -> None:
    """A ConfigError naming the first key of the observation table that is not in ``known``."""
    for k in table:
        if k not in known:
            raise ConfigError(f"{key}.{k}", f"unknown key (expected one of "
                              f"{', '.join(sorted(known))})", file=source)


def _fit_or_number(value, source: str, key: str) -> float | str:
    if value == "fit":
        return "fit"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(key, f"must be \"fit\" or a finite number (got {value!r})", file=source)
    return float(value)


def _interpolate_between_pulses(series: dict, values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """``values`` (a column of the run's series, or its sensitivity) at ``times``: the local
    cubic through the four nearest steps (analysis.interpolate_cubic) for a run without
    pulses. A pulsed run's Pbar jumps at every pulse, and its series holds the state after a
    pulse at the pulse's time: a stencil reaching across a pulse would mix the states before
    and after it (an error of the size of a jump, which is comparable to the noise of real
    data). There the stencil stays between the pulses the time lies between (extrapolating
    over at most the last step before the next pulse); at a pulse's time it is the state just
    after it. Linear in ``values``, so the sensitivities are interpolated the same way."""
    from fem_spin.analysis import interpolate_cubic

    t = np.asarray(series["t"], float)
    pulses = series.get("pulses")
    if pulses is None:
        return interpolate_cubic(t, values, times)
    pulses, values = np.asarray(pulses), np.asarray(values, float)
    starts = np.flatnonzero(np.r_[True, pulses[1:] != pulses[:-1]])
    ends = np.r_[starts[1:], len(t)]
    out = np.empty(len(times))
    for k, x in enumerate(np.asarray(times, float)):
        row = max(int(np.searchsorted(t, x, side="right")) - 1, 0)
        segment = int(np.searchsorted(starts, row, side="right")) - 1
        a, b = starts[segment], ends[segment]
        ts, vs = t[a:b], values[a:b]
        m = min(4, len(ts))
        lo = int(np.clip(np.searchsorted(ts, x) - 2, 0, len(ts) - m))
        nodes = range(lo, lo + m)
        out[k] = sum(vs[i] * np.prod([(x - ts[j]) / (ts[i] - ts[j]) for j in nodes if j != i])
                     for i in nodes)
    return out


@register_observation("dnp_buildup")
@dataclasses.dataclass(frozen=True)
class DNPBuildup(Observation):
    """NMR signal of a DNP buildup: ``signal(t) = scale * Q(t + dead_time) + offset``, with Q a
    column of the run's time series (default ``P_mean``, the mean polarization Pbar).

    ``scale`` and ``offset`` are ``"fit"`` (linear nuisance parameters, solved in closed form)
    or fixed numbers; by default the scale is fitted and the offset is 0. ``dead_time`` (s)
    is fixed: the data's clock starts that long after the buildup does."""

    quantity: str = "P_mean"
    scale: float | str = "fit"
    offset: float | str = 0.0
    dead_time: float = 0.0

    @classmethod
    def from_table(cls, table: dict, source: str, key: str) -> "DNPBuildup":
        known = {"type", "quantity", "scale", "offset", "dead_time"}
        _reject_unknown_keys(table, known, source, key)
        quantity = table.get("quantity", "P_mean")
        if not isinstance(quantity, str) or not quantity:
            raise ConfigError(f"{key}.quantity", f"must be a time-series column name (got "
                              f"{quantity!r})", file=source)
        dead = table.get("dead_time", 0.0)
        if isinstance(dead, bool) or not isinstance(dead, (int, float)) or not (0 <= dead < math.inf):
            raise ConfigError(f"{key}.dead_time", f"must be a time >= 0 in s (got {dead!r})", file=source)
        return cls(quantity=quantity, scale=_fit_or_number(table.get("scale", "fit"), source, f"{key}.scale"),
                   offset=_fit_or_number(table.get("offset", 0.0), source, f"{key}.offset"),
                   dead_time=float(dead))

    def check(self, run_config, source: str, key: str) -> None:
        if run_config.time is None:
            raise ConfigError(key, f"a dnp_buildup observes a transient run; {run_config.source} "
                              f"is stationary", file=source)

    def nuisance_names(self) -> tuple[str, ...]:
        return tuple(n for n, v in (("scale", self.scale), ("offset", self.offset)) if v == "fit")

    def model_times(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, float) + self.dead_time

    def basis(self, result, x):
        if self.quantity not in result.series:
            raise ConfigError("observation.quantity", f"the run records no column {self.quantity!r} "
                              f"(it has {', '.join(k for k in result.series if k not in ('step', 't'))})")
        q = _interpolate_between_pulses(result.series, result.series[self.quantity], self.model_times(x))
        f0 = np.zeros(len(q))
        columns, names = [], []
        if self.scale == "fit":
            columns.append(q)
            names.append("scale")
        else:
            f0 = f0 + self.scale * q
        if self.offset == "fit":
            columns.append(np.ones(len(q)))
            names.append("offset")
        else:
            f0 = f0 + self.offset
        A = np.column_stack(columns) if columns else np.zeros((len(q), 0))
        return f0, A, tuple(names)

    def tangent_quantities(self) -> tuple[str, ...]:
        return (self.quantity,)

    def basis_tangent(self, result, x, sensitivity):
        """Q enters f0 and A linearly: their derivatives are the same expressions in dQ/dp
        (the cubic interpolation is linear in the samples), the constant columns' are 0."""
        dq = _interpolate_between_pulses(result.series, sensitivity[self.quantity], self.model_times(x))
        d_f0 = np.zeros(len(dq)) if self.scale == "fit" else self.scale * dq
        columns = ([dq] if self.scale == "fit" else []) + ([np.zeros(len(dq))] if self.offset == "fit" else [])
        return d_f0, (np.column_stack(columns) if columns else np.zeros((len(dq), 0)))

    def describe(self) -> str:
        scale = "scale (fitted, closed form)" if self.scale == "fit" else f"{self.scale:g}"
        offset = "offset (fitted, closed form)" if self.offset == "fit" else f"{self.offset:g}"
        dead = f", dead time {self.dead_time:g} s" if self.dead_time else ""
        return f"signal = {scale} * {self.quantity}(t{' + t_dead' if dead else ''}) + {offset}{dead}"


@register_observation("nonlocal_delta_r")
@dataclasses.dataclass(frozen=True)
class NonlocalDeltaR(Observation):
    """A stationary ``valet_fert`` run's summary quantity (default ``delta_R_ohm``, the
    nonlocal spin signal Delta R = R_P - R_AP) against a run-file key (default
    ``geometry.separation``, the injector-detector distance L): ``value(x) = Q(run with
    key = x) + offset``. One forward run per distinct x (one device per distance, as measured);
    ``offset`` is ``"fit"`` (closed form) or a fixed number (default 0; Delta R has no
    baseline, R_P alone has one)."""

    quantity: str = "delta_R_ohm"
    key: str = "geometry.separation"
    unit: str = "um"
    offset: float | str = 0.0

    x_name: ClassVar[str] = "distance"

    @classmethod
    def from_table(cls, table: dict, source: str, key: str) -> "NonlocalDeltaR":
        known = {"type", "quantity", "key", "unit", "offset"}
        _reject_unknown_keys(table, known, source, key)
        quantity = table.get("quantity", "delta_R_ohm")
        if not isinstance(quantity, str) or not quantity:
            raise ConfigError(f"{key}.quantity", f"must be a summary key of the run such as "
                              f"\"delta_R_ohm\" (got {quantity!r})", file=source)
        run_key = table.get("key", "geometry.separation")
        if not isinstance(run_key, str) or "." not in run_key:
            raise ConfigError(f"{key}.key", f"must be a run-file key 'section.key' such as "
                              f"\"geometry.separation\" (got {run_key!r})", file=source)
        unit = table.get("unit", "um")
        if unit not in LENGTH_UNITS:
            raise ConfigError(f"{key}.unit", f"must be one of {', '.join(LENGTH_UNITS)} (got "
                              f"{unit!r})", file=source)
        return cls(quantity=quantity, key=run_key, unit=unit,
                   offset=_fit_or_number(table.get("offset", 0.0), source, f"{key}.offset"))

    def run_key(self) -> str:
        return self.key

    def x_factor(self, spec) -> float:
        return LENGTH_UNITS[self.unit]

    def x_unit(self, spec) -> str:
        return self.unit

    def check(self, run_config, source: str, key: str) -> None:
        model = run_config.model
        if run_config.time is not None or model.model_type != "valet_fert":
            raise ConfigError(key, f"a nonlocal_delta_r observes a stationary valet_fert run; "
                              f"{run_config.source} is a {'transient ' if run_config.time else ''}"
                              f"{model.model_type} run", file=source)
        if self.quantity == "delta_R_ohm" and set(model.configurations) != {"parallel", "antiparallel"}:
            raise ConfigError(key, f"Delta R needs model.configurations = [\"parallel\", "
                              f"\"antiparallel\"] ({run_config.source} has {model.configurations})",
                              file=source)

    def nuisance_names(self) -> tuple[str, ...]:
        return ("offset",) if self.offset == "fit" else ()

    def basis(self, results, x):
        q = []
        for r in results:
            if self.quantity not in r.summary:
                numeric = [k for k, v in r.summary.items() if isinstance(v, (int, float))
                           and not isinstance(v, bool) and k.endswith("_ohm")]
                raise ConfigError("observation.quantity", f"the run's summary has no "
                                  f"{self.quantity!r} (it has {', '.join(numeric)})")
            q.append(float(r.summary[self.quantity]))
        q = np.array(q)
        if self.offset == "fit":
            return q, np.ones((len(q), 1)), ("offset",)
        return q + self.offset, np.zeros((len(q), 0)), ()

    def tangent_quantities(self) -> tuple[str, ...]:
        return (self.quantity,)

    def basis_tangent(self, results, x, sensitivity):
        """Q enters f0 (or the fixed offset's f0) linearly; the offset's column is constant."""
        dq = np.asarray(sensitivity[self.quantity], float)
        return dq, np.zeros((len(dq), 1 if self.offset == "fit" else 0))

    def describe(self) -> str:
        offset = "offset (fitted, closed form)" if self.offset == "fit" else f"{self.offset:g}"
        return (f"value = {self.quantity} of the run with {self.key} = x ({self.unit}; one run "
                f"per point) + {offset}")


def parse_observation(table: Any, source: str, key: str) -> Observation:
    importlib.import_module("fem_spin.fitting.hanle")   # registers "hanle" (it extends this module)
    if not isinstance(table, dict):
        raise ConfigError(key, f"must be a table such as {{ type = \"dnp_buildup\" }} (got {table!r})",
                          file=source)
    kind = table.get("type", "dnp_buildup")
    if kind not in _OBSERVATIONS:
        raise ConfigError(f"{key}.type", f"unknown observation {kind!r} (expected one of "
                          f"{', '.join(observation_types())})", file=source)
    return _OBSERVATIONS[kind].from_table(table, source, key)


#: modules defining further observations (each registers its classes when imported)
OBSERVATION_MODULES = ("fem_spin.fitting.onsager_signal",)
for _module in OBSERVATION_MODULES:
    importlib.import_module(_module)
