"""Buildup-curve analysis: the numbers a DNP experimentalist quotes (physics.md 1.2).

* :func:`time_to_fraction` - the time at which Pbar(t) first reaches a fraction of a
  target (e.g. t63 = time to 63.2 % of P_e), by cubic interpolation of the series;
* :func:`fit_buildup` - least-squares fit of the stretched exponential
  ``Pbar(t) = P_inf (1 - exp(-(t/T_b)^beta))`` (beta = 1: mono-exponential), the usual
  description of DNP buildups; returns P_inf, T_b, beta and the rms misfit.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["time_to_fraction", "fit_buildup", "buildup_summary"]

ONE_MINUS_INV_E = 1.0 - math.exp(-1.0)   # 0.632...


def _lagrange(nodes: np.ndarray, values: np.ndarray, x: float) -> float:
    return float(sum(values[k] * np.prod([(x - nodes[m]) / (nodes[k] - nodes[m])
                                          for m in range(len(nodes)) if m != k])
                     for k in range(len(nodes))))


def time_to_fraction(t: np.ndarray, value: np.ndarray, target: float,
                     fraction: float = ONE_MINUS_INV_E) -> float:
    """First time at which ``value`` reaches ``fraction * target`` (NaN if never).

    Between the two samples that bracket the level, the series is interpolated by the cubic
    through the four nearest samples (linear with fewer than four): the series holds the
    steps a second- or higher-order scheme took, and a linear interpolation between long steps
    would add an error larger than the time discretisation's (solvers/schemes.py). The cubic
    passes through both bracketing samples, so a crossing inside the interval exists and is
    found by bisection."""
    t, value = np.asarray(t, float), np.asarray(value, float)
    level = fraction * target
    above = np.nonzero(value >= level)[0] if target >= 0 else np.nonzero(value <= level)[0]
    if len(above) == 0:
        return math.nan
    i = above[0]
    if i == 0:
        return float(t[0])
    t0, t1, v0, v1 = t[i - 1], t[i], value[i - 1], value[i]
    if v1 == v0:
        return float(t1)
    if len(t) < 4:
        return float(t0 + (level - v0) * (t1 - t0) / (v1 - v0))
    lo = min(max(i - 2, 0), len(t) - 4)
    nodes, values = t[lo:lo + 4], value[lo:lo + 4] - level
    a, b, fa = t0, t1, v0 - level
    for _ in range(60):
        m = 0.5 * (a + b)
        fm = _lagrange(nodes, values, m)
        if (fm < 0) == (fa < 0):
            a, fa = m, fm
        else:
            b = m
        if b - a <= 1e-14 * max(abs(t1), 1e-300):
            break
    return float(0.5 * (a + b))


def fit_buildup(t: np.ndarray, value: np.ndarray, stretched: bool = True) -> dict[str, float]:
    """Fit P_inf (1 - exp(-(t/T_b)^beta)) to a buildup curve (t > 0 points only)."""
    from scipy.optimize import curve_fit

    t, value = np.asarray(t, float), np.asarray(value, float)
    keep = t > 0
    t, value = t[keep], value[keep]
    if len(t) < 4:
        return {"P_inf": math.nan, "T_b": math.nan, "beta": math.nan, "rms": math.nan}
    p_inf0 = value[-1] if value[-1] != 0 else 1e-6
    t_guess = time_to_fraction(t, value, p_inf0)
    t_guess = t_guess if math.isfinite(t_guess) and t_guess > 0 else float(np.median(t))

    def model(tt, p_inf, log_tb, beta):
        return p_inf * (1.0 - np.exp(-(tt / math.exp(log_tb)) ** beta))

    # Log-spaced samples weigh every decade alike (buildups are followed over decades).
    grid = np.geomspace(t[0], t[-1], 200)
    samples = np.interp(grid, t, value)
    try:
        if stretched:
            popt, _ = curve_fit(model, grid, samples, p0=(p_inf0, math.log(t_guess), 1.0),
                                bounds=([-1, -np.inf, 0.2], [1, np.inf, 3.0]), maxfev=20000)
        else:
            popt2, _ = curve_fit(lambda tt, a, b: model(tt, a, b, 1.0), grid, samples,
                                 p0=(p_inf0, math.log(t_guess)), maxfev=20000)
            popt = (*popt2, 1.0)
    except (RuntimeError, ValueError):
        return {"P_inf": math.nan, "T_b": math.nan, "beta": math.nan, "rms": math.nan}
    rms = float(np.sqrt(np.mean((model(grid, *popt) - samples) ** 2)))
    return {"P_inf": float(popt[0]), "T_b": float(math.exp(popt[1])), "beta": float(popt[2]),
            "rms": rms}


def buildup_summary(t: np.ndarray, Pbar: np.ndarray, source_polarization: float) -> dict:
    """t50/t63/t90 relative to P_e, final Pbar and the stretched-exponential fit."""
    out = {f"t{int(round(100 * f))}_s": time_to_fraction(t, Pbar, source_polarization, f)
           for f in (0.5, ONE_MINUS_INV_E, 0.9)}
    out["P_final"] = float(Pbar[-1])
    out["fit"] = fit_buildup(t, Pbar)
    return out
