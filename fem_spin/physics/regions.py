"""Initial-state regions of a sample: vectorised predicates of points x with shape (3, n).

One tolerance for every shape: a point within :data:`RELATIVE_TOLERANCE` times the region's
size of its boundary is inside, so that mesh nodes placed on the boundary by a generator
(whose coordinates carry round-off) are counted the same way by every model.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

__all__ = ["RELATIVE_TOLERANCE", "Region", "ball", "box", "slab", "nowhere", "region",
           "step_weight", "field_slice"]

#: a point within this fraction of the region's size outside its boundary counts as inside
RELATIVE_TOLERANCE = 1e-12

#: a region: points (3, n) -> bool (n,)
Region = Callable[[np.ndarray], np.ndarray]


def ball(center: Sequence[float], radius: float) -> Region:
    """|x - center| <= radius (1 + tolerance)."""
    c = np.asarray(center, dtype=float).reshape(3, 1)
    limit = radius ** 2 * (1 + RELATIVE_TOLERANCE)

    def inside(x: np.ndarray) -> np.ndarray:
        return np.sum((x - c) ** 2, axis=0) <= limit

    return inside


def box(lower: Sequence[float], upper: Sequence[float]) -> Region:
    """lower <= x <= upper componentwise, widened by tolerance x the box's largest side."""
    lo = np.asarray(lower, dtype=float).reshape(3, 1)
    hi = np.asarray(upper, dtype=float).reshape(3, 1)
    margin = RELATIVE_TOLERANCE * float(np.max(hi - lo))

    def inside(x: np.ndarray) -> np.ndarray:
        return np.all((x >= lo - margin) & (x <= hi + margin), axis=0)

    return inside


def slab(axis: int, lower: float, upper: float) -> Region:
    """lower <= x[axis] <= upper (a slice of the sample across one axis)."""
    margin = RELATIVE_TOLERANCE * abs(upper - lower)

    def inside(x: np.ndarray) -> np.ndarray:
        return (x[axis] >= lower - margin) & (x[axis] <= upper + margin)

    return inside


def nowhere(x: np.ndarray) -> np.ndarray:
    """The empty region."""
    return np.zeros(x.shape[1], dtype=bool)


def region(shape: str, center=(0.0, 0.0, 0.0), radius: float = 0.0, lower=(0.0, 0.0, 0.0),
           upper=(0.0, 0.0, 0.0)) -> Region:
    """The region a model's ``region_shape`` / ``initial_profile`` names: "ball", "box", or
    anything else (e.g. "none", "uniform") for the empty region."""
    if shape == "ball":
        return ball(center, radius)
    if shape == "box":
        return box(lower, upper)
    return nowhere


def step_weight(x: np.ndarray, axis: int, position: float, width: float = 0.0) -> np.ndarray:
    """0 before and 1 after ``position`` along ``axis``: tanh-smoothed over ``width``, or sharp
    (1/2 exactly on the step) for width 0."""
    s = x[axis] - position
    if width > 0:
        return 0.5 * (1 + np.tanh(s / width))
    return (s > 0).astype(float) + 0.5 * (s == 0)


def field_slice(values: np.ndarray, center: float, half_width: float) -> np.ndarray:
    """|values - center| <= half_width: the slice of a field (e.g. the resonant slice
    |B(x) - B_res| <= delta an adiabatic sweep inverts), on nodal values."""
    return np.abs(values - center) <= half_width
