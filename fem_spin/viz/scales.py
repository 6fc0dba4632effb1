"""Pure helpers behind every picture: length units, colour-bar label formats, colour maps
and limits, unused file names. No pyvista or matplotlib here, so they are tested without
a mesh or a display.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

__all__ = ["length_unit", "unit_factor", "tick_values", "label_format", "colour_scale", "DIVERGING", "SIGNED_FIELDS",
           "reserve_path", "legend_columns"]

#: (factor from metres, unit label), smallest first
_LENGTH_UNITS = ((1e9, "nm"), (1e6, "µm"), (1e3, "mm"), (1.0, "m"))

#: diverging map for signed quantities (zero is white, the middle of the map)
DIVERGING = "RdBu_r"

#: point fields whose sign carries meaning: always drawn with a diverging map centred on zero
SIGNED_FIELDS = ("dipolar_order", "spin_accumulation", "spin accumulation", "charge_potential")

# A range straddles zero (and earns a diverging map) when the smaller side is at least
# this fraction of the larger one; below it the other side is round-off / undershoot.
_STRADDLE = 0.01


def length_unit(extent: float) -> tuple[float, str]:
    """(factor, unit) for lengths of about ``extent`` metres (the largest side of a
    picture): the largest of nm, µm, mm, m in which ``extent`` is at least 1, so the axis
    numbers lie in [1, 1000) (nm below 1 nm, m above 1000 m)."""
    extent = abs(float(extent))
    if not math.isfinite(extent) or extent == 0.0:
        return _LENGTH_UNITS[0]
    for factor, unit in reversed(_LENGTH_UNITS):
        # tiny tolerance: 1e-6 m is "1 µm", not "1000 nm" after binary round-off
        if extent * factor >= 1.0 - 1e-9:
            return factor, unit
    return _LENGTH_UNITS[0]


def unit_factor(unit: str) -> float:
    """Factor from metres to ``unit`` (one of :func:`length_unit`'s units)."""
    return {u: f for f, u in _LENGTH_UNITS}[unit]


def tick_values(clim: tuple[float, float], n_labels: int) -> np.ndarray:
    """Where a VTK scalar bar puts its ``n_labels`` labels: evenly from low to high."""
    lo, hi = float(clim[0]), float(clim[1])
    return np.linspace(lo, hi, max(int(n_labels), 2))


def label_format(clim: tuple[float, float], n_labels: int = 5, significant: int = 3) -> str:
    """printf format for the ``n_labels`` colour-bar labels of ``clim``: at least
    ``significant`` digits, and enough that every label is within a tenth of a label step
    of the value it marks (so neighbouring labels always differ: (0.8999, 0.9001) gives
    0.89990 ... 0.90010, not 0.900 five times). Fixed point for magnitudes in
    [1e-3, 1e4), exponent notation outside."""
    ticks = tick_values(clim, n_labels)
    step = abs(ticks[1] - ticks[0])
    largest = float(np.max(np.abs(ticks)))
    if largest == 0.0 or not math.isfinite(largest):
        return "%.3g"
    exponent = math.floor(math.log10(largest))
    fixed = -3 <= exponent < 4
    if fixed:
        first = max(significant - 1 - exponent, 0)
        candidates = [("%.{}f".format(d), d) for d in range(first, 17)]
    else:
        candidates = [("%.{}e".format(d), d) for d in range(significant - 1, 17)]
    fmt = candidates[-1][0]
    for fmt, _ in candidates:
        labels = [fmt % v for v in ticks]
        error = max(abs(float(s) - v) for s, v in zip(labels, ticks))
        if step == 0.0 or (len(set(labels)) == len(labels) and error <= 0.1 * step):
            return fmt
    return fmt


def colour_scale(values, name: str = "", cmap: str = "magma", clim=None,
                 include_zero: bool = False) -> tuple[str, tuple[float, float]]:
    """(colour map, limits) for drawing ``values`` of the field ``name``.

    Signed quantities get the diverging map :data:`DIVERGING` with limits symmetric about
    zero (white = 0): the fields in :data:`SIGNED_FIELDS` always, any other field when its
    range straddles zero (both signs above 1 % of the largest magnitude). Otherwise ``cmap``
    over the data range (from 0 with ``include_zero``). A given ``clim`` is kept (a signed
    one made symmetric). A range of zero width (a uniform field) is widened by 0.1 % of the
    value (or 1 for zero) so the map and the labels stay defined."""
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 0.0)
    if clim is not None:
        lo, hi = float(clim[0]), float(clim[1])
    signed = any(name.startswith(s) for s in SIGNED_FIELDS) or (
        lo < 0.0 < hi and min(-lo, hi) >= _STRADDLE * max(-lo, hi))
    if signed:
        m = max(abs(lo), abs(hi))
        m = m if m > 0 else 1.0
        return DIVERGING, (-m, m)
    if include_zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi - lo <= 1e-12 * max(abs(lo), abs(hi)):
        half = 1e-3 * abs(hi) if hi != 0 else 1.0
        lo, hi = hi - half, hi + half
    return cmap, (lo, hi)


def reserve_path(directory: str | Path, stem: str, suffix: str = ".png") -> Path:
    """A file name in ``directory`` that did not exist: ``stem + suffix``, else
    ``stem-2 + suffix``, ``stem-3`` ...; the file is created empty (exclusively, so two
    writers never get the same name) and the caller writes over its own placeholder."""
    directory = Path(directory)
    k = 1
    while True:
        path = directory / (f"{stem}{suffix}" if k == 1 else f"{stem}-{k}{suffix}")
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            k += 1
            continue
        os.close(fd)
        return path


def legend_columns(entries: int, inside: int = 4) -> tuple[bool, int]:
    """(outside, columns) for a legend of ``entries`` lines: up to ``inside`` entries stay
    in the axes; more go outside (right of the axes), in columns of at most 12 entries."""
    if entries <= inside:
        return False, 1
    return True, max(1, math.ceil(entries / 12))
