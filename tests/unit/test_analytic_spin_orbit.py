"""The exact 1-D SMR film solution (fem_spin/analytic/spin_orbit.py) against Chen et al.'s
closed forms (docs/theory/spin_orbit_transport.md section 6): they agree to O(theta^2)
relative, which also fixes the sign of G_i in the mixing boundary condition (section 5.1)."""

from __future__ import annotations

import numpy as np
import pytest

from fem_spin.analytic.spin_orbit import chen_smr, film_conductance, film_resistivity, mixing_operator

SIGMA, LAM = 1 / 2.4e-7, 3.4e-9


@pytest.mark.parametrize("d, g_real, g_imag", [(2e-9, 4e14, 1e14), (5e-9, 4e14, -2e14),
                                               (20e-9, 1e15, 3e14), (5e-9, 1e13, 1e13)])
def test_exact_film_reduces_to_chen_as_theta_goes_to_zero(d, g_real, g_imag):
    rho = 1 / SIGMA
    errors = []
    for theta in (0.05, 0.005):
        chen = chen_smr(SIGMA, LAM, theta, d, g_real, g_imag)
        r = {name: film_resistivity(SIGMA, LAM, theta, d, g_real, g_imag, m)
             for name, m in {"x": [1, 0, 0], "y": [0, 1, 0], "z": [0, 0, 1], "xy": [1, 1, 0]}.items()}
        errors.append([r["y"][0] / rho - 1 - chen.d0,                 # no absorption along y
                       (r["x"][0] - r["y"][0]) / rho - chen.d1,       # Delta rho_1
                       r["xy"][1] / rho - chen.d1 / 2,                # m_x m_y = 1/2
                       r["z"][1] / rho - chen.d2])                    # Delta rho_2, the sign of G_i
        scale = np.array([chen.d0, chen.d1, chen.d1, chen.d2])
        assert np.all(np.abs(np.array(errors[-1]) / scale) < 3 * theta**2)
        assert abs(r["x"][1]) < 1e-12 * rho and abs(r["y"][1]) < 1e-12 * rho
    # O(theta^2) relative: the error falls by ~100 for a tenfold smaller theta
    ratio = np.abs(np.array(errors[0]) / np.array(errors[1]))
    assert np.all((ratio > 1e4 / 1.3) & (ratio < 1e4 * 1.3)), ratio


def test_sign_of_the_imaginary_mixing_conductance():
    """G_i > 0 gives rho_trans(m = z) of Chen's sign (Delta rho_2 = -theta^2 (lambda/d) Im[..]);
    the opposite sign of the G_i term (the note's first version) would reverse it."""
    chen = chen_smr(SIGMA, LAM, 0.01, 5e-9, 4e14, 1e14)
    rho_trans = film_resistivity(SIGMA, LAM, 0.01, 5e-9, 4e14, 1e14, [0, 0, 1])[1]
    assert np.sign(rho_trans) == np.sign(chen.d2) != 0
    flipped = film_resistivity(SIGMA, LAM, 0.01, 5e-9, 4e14, -1e14, [0, 0, 1])[1]
    assert flipped == pytest.approx(-rho_trans, rel=1e-9)


def test_film_without_spin_hall_or_absorption():
    """theta = 0: sigma exactly; m along y with any G: no absorption (the Delta rho_0 film)."""
    assert np.allclose(film_conductance(SIGMA, LAM, 0.0, 5e-9, 4e14, 1e14, [1, 0, 0]), SIGMA * np.eye(2),
                       rtol=1e-15)
    theta, d = 0.1, 5e-9
    s = film_conductance(SIGMA, LAM, theta, d, 4e14, 0.0, [0, 1, 0])[0, 0]
    assert s / SIGMA == pytest.approx(1 + 2 * theta**2 * LAM / d * np.tanh(d / (2 * LAM)), rel=1e-13)
    x = mixing_operator(4e14, 1e14, [0, 0, 2])
    assert np.allclose(x @ [0, 0, 1], 0) and np.allclose(x - x.T, 2 * np.array(
        [[0, 1e14, 0], [-1e14, 0, 0], [0, 0, 0]]))
