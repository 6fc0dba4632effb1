"""Values of a run's time series at the data's times, by local cubic interpolation.

The series holds the steps the (variable-order, up to fifth-order) time scheme took; a linear
interpolation between long steps would add an error far above the scheme's own (the same
reason as :func:`fem_spin.analysis.time_to_fraction`). Each query point takes the cubic
through the four recorded samples nearest to it (two on each side where there are), which is
exact at the samples and fourth-order accurate in between.
"""

from __future__ import annotations

import numpy as np

__all__ = ["interpolate_cubic"]


def interpolate_cubic(t: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``values`` (recorded at increasing times ``t``) at the times ``query`` (inside
    [t[0], t[-1]]); linear with fewer than four samples. ValueError outside the range."""
    t, values, query = (np.asarray(a, dtype=float) for a in (t, values, query))
    if len(t) == 0 or np.any(np.diff(t) <= 0):
        raise ValueError("the series' times must increase strictly")
    span = max(abs(t[-1]), 1e-300) * 1e-12
    if np.any(query < t[0] - span) or np.any(query > t[-1] + span):
        raise ValueError(f"query times outside the series [{t[0]:g}, {t[-1]:g}] s")
    if len(t) < 4:
        return np.interp(query, t, values)
    i = np.clip(np.searchsorted(t, query), 2, len(t) - 2)
    lo = i - 2                                   # nodes lo .. lo+3 bracket the query
    nodes = lo[:, None] + np.arange(4)[None, :]
    tn, vn = t[nodes], values[nodes]
    out = np.zeros(len(query))
    for k in range(4):
        w = np.ones(len(query))
        for m in range(4):
            if m != k:
                w *= (query - tn[:, m]) / (tn[:, k] - tn[:, m])
        out += w * vn[:, k]
    return out
