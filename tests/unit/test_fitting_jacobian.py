"""The variable-projection Jacobian from d f0 and d A (fitting/jacobian.projected_columns)
against central differences of the projected residuals, with and without weights and
nuisance columns (numpy only)."""

from __future__ import annotations

import types

import numpy as np
import pytest

from fem_spin.fitting.jacobian import projected_columns
from fem_spin.fitting.statistics import solve_nuisance


def _model(z, t):
    f0 = 0.1 * np.exp(-z * t)
    A = np.column_stack([1 - np.exp(-z * t), np.ones_like(t), t * np.sin(z * t)])
    return f0, A


def _residuals(z, t, y, w, ncols):
    f0, A = _model(z, t)
    A = A[:, :ncols]
    c = solve_nuisance(f0, A, y, w * w)
    return w * (y - f0 - A @ c), c, f0, A


@pytest.mark.parametrize("ncols", [0, 1, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_projected_columns_equal_central_differences(ncols, weighted):
    rng = np.random.default_rng(3)
    t = np.linspace(0, 4, 40)
    y = 2.0 * (1 - np.exp(-0.7 * t)) + 0.3 + rng.normal(0, 0.05, t.size)
    w = 1 / rng.uniform(0.02, 0.1, t.size) if weighted else np.ones(t.size)
    z = 0.9
    r, c, f0, A = _residuals(z, t, y, w, ncols)
    h = 1e-6
    fp, Ap = _model(z + h, t)
    fm, Am = _model(z - h, t)
    d_f0, d_A = (fp - fm) / (2 * h), ((Ap - Am) / (2 * h))[:, :ncols]
    fit = types.SimpleNamespace(nuisance=c, residuals=r, parts=types.SimpleNamespace(A=A))
    column = projected_columns(w, fit, d_f0, d_A)
    numeric = (_residuals(z + h, t, y, w, ncols)[0] - _residuals(z - h, t, y, w, ncols)[0]) / (2 * h)
    np.testing.assert_allclose(column, numeric, rtol=1e-6, atol=1e-6 * np.max(np.abs(numeric)))
