"""Buildup-curve analysis on series a higher-order time scheme leaves (fem_spin/analysis.py)."""

import math

import numpy as np
import pytest

from fem_spin.analysis import interpolate_cubic, time_to_fraction


def test_time_to_fraction_is_accurate_between_long_steps():
    """P = 1 - exp(-t) sampled at 40 log-spaced times (the spacing of long variable-order
    steps): the crossing of 1 - 1/e is t = 1; linear interpolation of the same samples is
    off by 5.7e-3, the cubic by 5.6e-5."""
    t = np.geomspace(1e-3, 10.0, 40)
    value = 1.0 - np.exp(-t)
    assert time_to_fraction(t, value, 1.0) == pytest.approx(1.0, abs=1e-4)
    i = int(np.argmax(value >= 1 - math.exp(-1)))
    linear = t[i - 1] + (1 - math.exp(-1) - value[i - 1]) * (t[i] - t[i - 1]) / (value[i] - value[i - 1])
    assert abs(linear - 1.0) > 1e-3


def test_time_to_fraction_falls_and_short_series():
    t = np.linspace(0.0, 3.0, 4)
    assert time_to_fraction(t, -(1.0 - np.exp(-t)), -1.0) == pytest.approx(1.0, abs=1e-2)
    assert time_to_fraction(np.array([0.0, 1.0]), np.array([0.0, 1.0]), 1.0) == pytest.approx(1 - math.exp(-1))
    assert math.isnan(time_to_fraction(t, np.zeros(4), 1.0))


def test_cubic_interpolation_is_exact_for_cubics():
    t = np.array([0.0, 0.3, 0.5, 1.1, 1.6, 2.0])
    q = np.linspace(0.0, 2.0, 17)
    cubic = lambda x: 2 * x ** 3 - x + 0.5
    assert interpolate_cubic(t, cubic(t), q) == pytest.approx(cubic(q), abs=1e-12)
