"""Observation models: what a measurement sees of a simulated run.

An observation turns a run's :class:`~fem_spin.api.Result` into the model of the measured
values at the data's independent variable, split as

    model = f0 + A @ c

where ``f0`` and the columns of ``A`` depend on the run (the physical parameters) and ``c``
are the linear nuisance parameters (an NMR signal scale, an offset): the objective solves for
``c`` by weighted linear least squares at every evaluation (variable projection), so they
never enter the nonlinear optimiser.

One small class per observation, registered by its ``type`` in the fit file's
``observation`` table with :func:`register_observation`. Phase 1 has ``dnp_buildup``; a
nonlocal-voltage observation (valet_fert, Delta R vs L) or a dipolar-order decay (onsager)
is one more class with its own ``check`` and ``basis``.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from typing import Any, ClassVar

import numpy as np

from fem_spin.config import ConfigError

__all__ = ["Observation", "DNPBuildup", "register_observation", "observation_types",
           "parse_observation"]

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

    def model_times(self, x: np.ndarray) -> np.ndarray:
        """The run's times (s) at which the data's independent variable ``x`` (s) is observed."""
        return x

    @abc.abstractmethod
    def basis(self, result, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
        """(f0, A, names of the nuisance parameters) at ``x`` for a finished run."""

    def describe(self) -> str:
        return self.kind


def _fit_or_number(value, source: str, key: str) -> float | str:
    if value == "fit":
        return "fit"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(key, f"must be \"fit\" or a finite number (got {value!r})", file=source)
    return float(value)


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
        for k in table:
            if k not in known:
                raise ConfigError(f"{key}.{k}", f"unknown key (expected one of "
                                  f"{', '.join(sorted(known))})", file=source)
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
        from fem_spin.fitting.series import interpolate_cubic

        if self.quantity not in result.series:
            raise ConfigError("observation.quantity", f"the run records no column {self.quantity!r} "
                              f"(it has {', '.join(k for k in result.series if k not in ('step', 't'))})")
        q = interpolate_cubic(result.series["t"], result.series[self.quantity], self.model_times(x))
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

    def describe(self) -> str:
        scale = "scale (fitted, closed form)" if self.scale == "fit" else f"{self.scale:g}"
        offset = "offset (fitted, closed form)" if self.offset == "fit" else f"{self.offset:g}"
        dead = f", dead time {self.dead_time:g} s" if self.dead_time else ""
        return f"signal = {scale} * {self.quantity}(t{' + t_dead' if dead else ''}) + {offset}{dead}"


def parse_observation(table: Any, source: str, key: str) -> Observation:
    if not isinstance(table, dict):
        raise ConfigError(key, f"must be a table such as {{ type = \"dnp_buildup\" }} (got {table!r})",
                          file=source)
    kind = table.get("type", "dnp_buildup")
    if kind not in _OBSERVATIONS:
        raise ConfigError(f"{key}.type", f"unknown observation {kind!r} (expected one of "
                          f"{', '.join(observation_types())}; valet_fert and onsager observations "
                          f"are planned, issue 21)", file=source)
    return _OBSERVATIONS[kind].from_table(table, source, key)
