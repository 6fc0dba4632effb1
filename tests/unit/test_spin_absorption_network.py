"""The 1-D spin-absorption network (fem_spin/analytic/spin_absorption.py; docs/theory/
spin_orbit_transport.md section 7) against Takahashi–Maekawa without the absorber, and its
limits with it."""

import math

import numpy as np
import pytest

from fem_spin.analytic import spin_resistance, takahashi_maekawa
from fem_spin.analytic.spin_absorption import LateralSpinValveNetwork, absorber_spin_resistance

# Py/Cu-like: R_N = 4.9 Ohm, R_F = 0.36 Ohm, p_F = 0.3
BASE = dict(separation=600e-9, lambda_N=350e-9, R_N=4.9, R_F=0.364, p_F=0.3)


@pytest.mark.parametrize("contacts", [dict(), dict(R_1=2.0, R_2=0.5, P_J1=0.4, P_J2=-0.2),
                                      dict(R_1=400.0, R_2=400.0, P_J1=0.3, P_J2=0.3)])
@pytest.mark.parametrize("separation", [50e-9, 600e-9, 2e-6])
def test_without_absorber_it_is_takahashi_maekawa(contacts, separation):
    p = dict(BASE, separation=separation, **contacts)
    net = LateralSpinValveNetwork(**p)
    tm = takahashi_maekawa(separation, p["lambda_N"], p["R_N"], p["R_F"], p.get("R_1", 0.0),
                           p.get("R_2", 0.0), p.get("P_J1", 0.0), p.get("P_J2", 0.0), p["p_F"])
    assert net.delta_R() == pytest.approx(tm, rel=1e-12, abs=0)


def test_absorption_ratio_limits():
    net = LateralSpinValveNetwork(**BASE)
    R_N = BASE["R_N"]
    eta = np.array([LateralSpinValveNetwork(**BASE, R_M=r * R_N).absorption_ratio()
                    for r in (1e-9, 1e-6, 1e-3, 0.1, 1.0, 10.0, 1e3, 1e6, 1e9)])
    assert np.all(np.diff(eta) > 0)                      # a weaker absorber absorbs less
    assert 0 < eta[0] < 1e-8 and eta[1] < 1e-5           # short circuit: the line is cut at x_M
    assert eta[0] / 1e-9 == pytest.approx(eta[1] / 1e-6, rel=1e-3)   # and eta ~ R_M there
    assert abs(1 - eta[-1]) < 1e-8 and abs(1 - eta[-2]) < 1e-5      # no absorber
    assert net.absorption_ratio() == 1.0 and not net.has_absorber


@pytest.mark.parametrize("position", [0.5, 0.2, 0.9])
def test_tunnel_contacts_give_two_r_m_over_two_r_m_plus_r_n(position):
    """With tunnel contacts the injected spin current and the detector do not depend on mu_N:
    eta = 2 R_M / (2 R_M + R_N) wherever M sits (derived by hand from the node equations)."""
    for ratio in (0.05, 0.5, 3.0):
        R_M = ratio * BASE["R_N"]
        net = LateralSpinValveNetwork(**dict(BASE, R_1=1e9, R_2=1e9, P_J1=0.3, P_J2=0.3), R_M=R_M,
                                      absorber_position=position * BASE["separation"])
        assert net.absorption_ratio() == pytest.approx(2 * R_M / (2 * R_M + BASE["R_N"]), rel=1e-6)


def test_spin_accumulation_profile_and_the_absorber_dip():
    with_m = LateralSpinValveNetwork(**BASE, R_M=0.2).solve()
    without = LateralSpinValveNetwork(**BASE).solve()
    x = np.linspace(-1e-6, 1.6e-6, 261)
    a, b = with_m.spin_accumulation_along(x), without.spin_accumulation_along(x)
    assert np.allclose(with_m.spin_accumulation_along(with_m.positions), with_m.spin_accumulation, rtol=1e-12)
    assert np.all(a <= b + 1e-15) and a[np.argmin(np.abs(x - 300e-9))] < 0.5 * b[np.argmin(np.abs(x - 300e-9))]
    # the absorber draws spin out of N (negative injection), the injector pushes it in
    assert with_m.spin_currents[2] < 0 < with_m.spin_currents[0]


def test_absorber_spin_resistance_and_validation():
    # thick wire: rho lambda / A; thin wire t << lambda: rho lambda^2 / (A t)
    assert absorber_spin_resistance(2e-7, 3e-9, 2.5e-15, 1e-6) == pytest.approx(2e-7 * 3e-9 / 2.5e-15, rel=1e-12)
    thin = absorber_spin_resistance(2e-7, 3e-9, 2.5e-15, 3e-12)
    assert thin == pytest.approx(2e-7 * 9e-18 / (2.5e-15 * 3e-12), rel=1e-6)
    assert spin_resistance(2e-7, 3e-9, 2.5e-15) == pytest.approx(absorber_spin_resistance(2e-7, 3e-9, 2.5e-15, 1.0))
    with pytest.raises(ValueError, match="^thickness"):
        absorber_spin_resistance(2e-7, 3e-9, 2.5e-15, 0.0)
    for bad, name in [(dict(R_M=0.0), "R_M"), (dict(p_F=1.0), "p_F"), (dict(R_1=-1.0), "R_1"),
                      (dict(absorber_position=700e-9, R_M=1.0), "absorber_position"),
                      (dict(lambda_N=math.inf), "lambda_N")]:
        with pytest.raises(ValueError, match=f"^{name}:"):
            LateralSpinValveNetwork(**dict(BASE, **bad))
