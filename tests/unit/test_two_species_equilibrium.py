"""The equilibrium of the two-species totals (fem_spin/analytic/onsager_two_species.py,
theory note 1.6 and 3.2) against an independent maximisation of the total entropy.

The reference maximises sum_i w_i [x_a s_1(|(r_a, p_a)_i|) + x_b s_1(|(r_b, p_b)_i|)] over
every species' dipolar share and polarization at every point (4 n unknowns, the primal
problem of assumption 4: no potentials, no Legendre transform) subject to the three totals,
with scipy's SLSQP; the function under test solves the dual (uniform conjugate potentials).
"""

import numpy as np
import pytest
from scipy.optimize import minimize

from fem_spin.analytic import onsager
from fem_spin.analytic import onsager_two_species as two

CASES = [  # x_a, kappa (= mu_ratio B_db/B_da), mu_ratio, B_db/B_da
    (0.6, 0.94, 0.94),
    (0.3, 2.0, 1.0),
    (0.8, 0.5, 0.25),
]


def primal_totals(z, w, b, x_a, kappa, mu_ratio):
    ra, pa, rb, pb = z.reshape(4, -1)
    x_b = 1 - x_a
    return np.array([np.dot(w, x_a * pa), np.dot(w, x_b * pb),
                     np.dot(w, x_a * ra + kappa * x_b * rb - b * x_a * pa - mu_ratio * b * x_b * pb)])


def primal_entropy(z, w, x_a):
    ra, pa, rb, pb = z.reshape(4, -1)
    return float(np.dot(w, x_a * onsager.entropy_per_spin(np.hypot(ra, pa))
                        + (1 - x_a) * onsager.entropy_per_spin(np.hypot(rb, pb))))


@pytest.mark.parametrize("x_a, kappa, mu_ratio", CASES)
def test_equilibrium_is_the_entropy_maximum_at_the_totals(x_a, kappa, mu_ratio):
    n, B_da = 7, 1e-4
    B = 1.0 + np.linspace(-3, 3, n) * B_da           # b from -3 to 3 about B_ref = 1 T
    w = np.full(n, 1.0 / n)
    w[[0, -1]] *= 0.5
    b = (B - 1.0) / B_da
    rng = np.random.default_rng(5)
    # totals of some admissible non-equilibrium state
    start = np.concatenate([rng.uniform(-0.4, 0.4, n), rng.uniform(-0.6, 0.8, n),
                            rng.uniform(-0.4, 0.4, n), rng.uniform(-0.7, 0.2, n)])
    totals = primal_totals(start, w, b, x_a, kappa, mu_ratio)
    # the totals as the model reports them: energy with B itself, not B - B_ref
    T = totals.copy()
    T[2] -= (1.0 / B_da) * (T[0] + mu_ratio * T[1])
    eq = two.equilibrium_from_totals(B, w, B_da, x_a, kappa, mu_ratio, T)
    # 1. the totals hold
    x_b = 1 - x_a
    got = np.array([np.dot(w, eq.rho[1]), np.dot(w, eq.rho[2]),
                    np.dot(w, eq.rho[0] - (B / B_da) * (eq.rho[1] + mu_ratio * eq.rho[2]))])
    assert np.allclose(got, T, rtol=0, atol=1e-11 * (1 + np.abs(T).max()))
    # 2. the independent primal maximum
    cons = {"type": "eq", "fun": lambda z: primal_totals(z, w, b, x_a, kappa, mu_ratio) - totals}
    inside = {"type": "ineq", "fun": lambda z: 1 - 1e-9 - np.concatenate(
        [np.hypot(*z.reshape(4, -1)[:2]), np.hypot(*z.reshape(4, -1)[2:])])}
    res = minimize(lambda z: -primal_entropy(z, w, x_a), start, constraints=[cons, inside],
                   method="SLSQP", options={"ftol": 1e-14, "maxiter": 2000})
    assert res.success, res.message
    (ra, pa), (rb, pb) = two.species_state(eq.Omega, kappa)
    S_eq = primal_entropy(np.concatenate([ra, pa, rb, pb]), w, x_a)
    print("S_eq", S_eq, "S_primal", -res.fun, "S_start", primal_entropy(start, w, x_a))
    assert S_eq >= -res.fun - 1e-10                        # nothing beats it
    assert S_eq == pytest.approx(-res.fun, abs=1e-8)
    ra_p, pa_p, rb_p, pb_p = res.x.reshape(4, -1)
    assert np.abs(pa_p - pa).max() < 1e-4 and np.abs(pb_p - pb).max() < 1e-4
    assert np.abs((x_a * ra_p + kappa * x_b * rb_p) - eq.rho[0]).max() < 1e-4
    # 3. the structure: theta uniform, omega_k linear in B with slopes theta, mu_ratio theta
    assert np.allclose(eq.Omega[0], eq.theta)
    assert np.allclose(eq.Omega[1], eq.omega_a0 - eq.theta * b, atol=1e-12)
    assert np.allclose(eq.Omega[2], eq.omega_b0 - mu_ratio * eq.theta * b, atol=1e-12)


def test_one_species_limit_is_the_single_species_equilibrium():
    """x_b -> 0: theta and omega_a0 are onsager.equilibrium_from_totals' (instance 1)."""
    n, B_da = 41, 1e-4
    B = 1.0 + np.linspace(-10, 10, n) * B_da
    w = np.full(n, 0.5)
    moment, energy = 0.3 * w.sum(), (0.1 - 0.3 * 1.0 / B_da) * w.sum() + 0.2
    # instance 1's energy is in tesla (sum w (B_d rho1 - B rho2)); ours over B_da
    theta1, omega1, rho1 = onsager.equilibrium_from_totals(B, w, B_da, moment, B_da * energy, B_ref=1.0)
    x_b = 1e-9
    x_a = 1 - x_b
    eq = two.equilibrium_from_totals(B, w, B_da, x_a, 0.94, 0.94, (moment, 0.0, energy),
                                     B_ref=1.0)
    assert eq.theta == pytest.approx(theta1, abs=1e-7)
    assert eq.omega_a0 == pytest.approx(omega1, abs=1e-7)
    assert np.abs(eq.rho[1] / x_a - rho1[1]).max() < 1e-7


def test_unattainable_moment_is_refused():
    with pytest.raises(ValueError, match="attainable"):
        two.equilibrium_from_totals([1.0, 1.0001], [1.0, 1.0], 1e-4, 0.5, 1.0, 1.0, (0.0, 1.0, 0.0))
