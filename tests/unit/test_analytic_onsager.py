"""Two-quantity Onsager references (fem_spin.analytic.onsager, physics.md 2).

Thermodynamic identities are checked against finite differences computed here; the
equilibria against their defining properties (totals, zero generalised gradient); the
1-D finite-volume solver against its invariants, the entropy inequality, the
equilibrium it must relax to, the exact heat-equation solution it contains, the
reduced models at small amplitude and its own dimensionless twin (SI scaling).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("scipy")

from fem_spin.analytic.onsager import (  # noqa: E402
    covariance,
    density,
    entropy_per_spin,
    equilibrium,
    equilibrium_from_totals,
    fenske_profile,
    langevin_fenske_mapping,
    langevin_polarization,
    potentials,
    psi,
    solve_1d,
    total_energy,
    total_entropy,
    total_moment,
)

RNG = np.random.default_rng(20240611)


def random_states(n: int, x_max: float) -> np.ndarray:
    """n states with |rho| uniform in [0, x_max] and random direction, plus special points."""
    x = RNG.uniform(0.0, x_max, n)
    phi = RNG.uniform(0.0, 2.0 * np.pi, n)
    special = np.array([[0.0, 0.0], [x_max, 0.0], [0.0, -x_max], [1e-9, 0.0], [2e-3, -1e-3],
                        [0.999 / math.sqrt(2), 0.999 / math.sqrt(2)]]).T
    return np.concatenate([np.array([x * np.cos(phi), x * np.sin(phi)]), special], axis=1)


# ======================================================================================
# Thermodynamics (physics.md 2.1)
# ======================================================================================

def test_entropy_per_spin_values_and_legendre_pair():
    assert entropy_per_spin(0.0) == pytest.approx(math.log(2.0), abs=1e-15)
    assert entropy_per_spin(1.0) == 0.0
    assert entropy_per_spin(-0.5) == entropy_per_spin(0.5)
    x = 0.3
    ref = math.log(2) - 0.5 * (1 + x) * math.log(1 + x) - 0.5 * (1 - x) * math.log(1 - x)
    assert entropy_per_spin(x) == pytest.approx(ref, rel=1e-15)
    with pytest.raises(ValueError):
        entropy_per_spin(1.0 + 1e-9)
    # s = psi(Omega) + Omega . rho  (Legendre transform), incl. |rho| = 0.999 and 0
    rho = random_states(300, 0.999)
    Om = potentials(rho)
    s = entropy_per_spin(np.hypot(rho[0], rho[1]))
    np.testing.assert_allclose(psi(Om) + np.sum(Om * rho, axis=0), s, rtol=0, atol=1e-13)


def test_potentials_are_entropy_gradient():
    """Omega = ds/drho by central differences of s(|rho|)."""
    rho = random_states(200, 0.95)
    rho = rho[:, np.hypot(*rho) > 1e-3]  # |rho| is not differentiable at 0
    eps = 1e-6
    grad = np.empty_like(rho)
    for k in range(2):
        d = np.zeros((2, 1))
        d[k] = eps
        sp = entropy_per_spin(np.hypot(*(rho + d)))
        sm = entropy_per_spin(np.hypot(*(rho - d)))
        grad[k] = (sp - sm) / (2 * eps)
    # central-difference truncation grows like 1/(1-|rho|^2)^2: relative tolerance
    np.testing.assert_allclose(potentials(rho), grad, rtol=1e-7, atol=1e-9)


def test_density_potentials_round_trip():
    rho = random_states(2000, 0.999)
    back = density(potentials(rho))
    err = np.max(np.abs(back - rho))
    assert err < 1e-12, err
    assert np.array_equal(potentials(np.zeros(2)), np.zeros(2))
    assert np.array_equal(density(np.zeros(2)), np.zeros(2))
    # near the series switch and very near |rho| = 1
    for x in (9.99e-4, 1.001e-3, 1e-12, 0.999999):
        r = np.array([0.6 * x, -0.8 * x])
        assert np.max(np.abs(density(potentials(r)) - r)) <= 1e-12 * max(x, 1e-3)
    # the other way round, relative in Omega (|Omega| up to artanh(0.999) ~ 3.8)
    Om = potentials(rho)
    np.testing.assert_allclose(potentials(density(Om)), Om, rtol=1e-10, atol=1e-14)
    # scalar closed forms on the axes
    assert potentials(np.array([0.0, 0.5]))[1] == pytest.approx(-math.atanh(0.5), rel=1e-15)
    assert density(np.array([-2.0, 0.0]))[0] == pytest.approx(math.tanh(2.0), rel=1e-15)
    with pytest.raises(ValueError):
        potentials(np.array([0.8, 0.7]))


def test_covariance_is_jacobian_of_density():
    Om = potentials(random_states(300, 0.99))
    C = covariance(Om)
    eps = 1e-6
    J = np.empty_like(C)
    for k in range(2):
        d = np.zeros((2, 1))
        d[k] = eps
        J[:, k] = (density(Om + d) - density(Om - d)) / (2 * eps)
    assert np.max(np.abs(C - J)) < 1e-8
    np.testing.assert_array_equal(C[0, 1], C[1, 0])
    eig = np.linalg.eigvalsh(np.moveaxis(C, -1, 0))
    assert np.all(eig < 0.0)
    assert np.all(eig >= -1.0 - 1e-15)
    np.testing.assert_array_equal(covariance(np.zeros(2)), -np.eye(2))
    # continuous across the series switch at |Omega| = 1e-2 and 1e-3 (exact formula in mpmath-free form)
    for w in (1e-2 * (1 - 1e-9), 1e-2 * (1 + 1e-9), 1e-3 * (1 - 1e-9), 1e-3 * (1 + 1e-9), 0.3, 5.0):
        n = np.array([0.6, 0.8])
        exact = -(1 / math.cosh(w) ** 2) * np.outer(n, n) - math.tanh(w) / w * (np.eye(2) - np.outer(n, n))
        np.testing.assert_allclose(covariance(w * n), exact, rtol=0, atol=1e-15)


def test_psi_generates_density_and_covariance():
    """rho = -grad psi and C = -Hess psi, by central differences."""
    Om = potentials(random_states(200, 0.99))
    eps = 1e-5
    grad = np.empty_like(Om)
    hess = np.empty((2, 2, Om.shape[1]))
    for k in range(2):
        d = np.zeros((2, 1))
        d[k] = eps
        grad[k] = (psi(Om + d) - psi(Om - d)) / (2 * eps)
        for m in range(2):
            e = np.zeros((2, 1))
            e[m] = eps
            hess[k, m] = (psi(Om + d + e) - psi(Om + d - e) - psi(Om - d + e) + psi(Om - d - e)) / (4 * eps**2)
    np.testing.assert_allclose(-grad, density(Om), rtol=0, atol=1e-9)
    np.testing.assert_allclose(-hess, covariance(Om), rtol=0, atol=1e-5)
    assert psi(np.array([0.0, 800.0])) == pytest.approx(800.0 + 0.0, rel=1e-15)  # no overflow


# ======================================================================================
# Equilibria (physics.md 2.4)
# ======================================================================================

@pytest.mark.parametrize("theta, omega0, B_ref", [
    (0.7, 0.3, 0.0),         # |rho| up to ~0.95
    (0.0, 0.8, 0.0),         # theta = 0 exactly: uniform polarization
    (0.0, -2.6, 0.5),        # theta = 0, |rho2| = 0.989
    (-1.2, 0.4, -0.3),       # negative dipolar temperature, |rho| up to ~0.99
    (0.2, -0.5, 1.7),        # B_ref outside the field range
    (1e-9, 1e-9, 0.0),       # near the origin (linear regime)
])
def test_equilibrium_from_totals_recovers_parameters(theta, omega0, B_ref):
    n = 301
    B = np.linspace(-2.0, 2.0, n) + 0.3 * np.sin(np.linspace(0, 7, n))
    w = RNG.uniform(0.5, 2.0, n) * 1e-2
    B_d = 1.3
    rho = equilibrium(B, B_d, theta, omega0, B_ref)
    M, E = total_moment(rho, w), total_energy(rho, w, B, B_d)
    th, om, rho_fit = equilibrium_from_totals(B, w, B_d, M, E, B_ref=B_ref)
    assert th == pytest.approx(theta, rel=1e-9, abs=1e-12)
    assert om == pytest.approx(omega0, rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(rho_fit, rho, rtol=0, atol=1e-11)
    assert total_moment(rho_fit, w) == pytest.approx(M, rel=1e-12, abs=1e-15)
    assert total_energy(rho_fit, w, B, B_d) == pytest.approx(E, rel=1e-12, abs=1e-15)
    # default B_ref (weighted mean): same state, omega0 shifted accordingly
    th2, om2, rho2 = equilibrium_from_totals(B, w, B_d, M, E)
    B_mean = np.sum(w * B) / np.sum(w)
    assert th2 == pytest.approx(theta, rel=1e-9, abs=1e-12)
    assert om2 == pytest.approx(omega0 - theta * (B_mean - B_ref) / B_d, rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(rho2, rho, rtol=0, atol=1e-11)


def test_equilibrium_from_totals_max_polarization_and_theta_zero():
    B = np.linspace(0.0, 3.0, 200)
    w = np.full(B.size, 3.0 / 200)
    rho = equilibrium(B, 1.0, 0.0, math.atanh(0.95), 1.5)    # uniform rho2 = -0.95, rho1 = 0
    assert np.max(np.abs(rho[1] + 0.95)) < 1e-15 and np.max(np.abs(rho[0])) == 0.0
    th, om, fit = equilibrium_from_totals(B, w, 1.0, total_moment(rho, w),
                                          total_energy(rho, w, B, 1.0), B_ref=1.5)
    assert abs(th) < 1e-12 and om == pytest.approx(math.atanh(0.95), rel=1e-12)
    np.testing.assert_allclose(fit, rho, atol=1e-12)


def test_equilibrium_from_totals_rejects_unattainable_totals():
    B = np.linspace(-1.0, 1.0, 50)
    w = np.full(50, 0.04)  # sum 2
    with pytest.raises(ValueError, match="moment"):
        equilibrium_from_totals(B, w, 1.0, 2.0, 0.0)
    with pytest.raises(ValueError, match="moment"):
        equilibrium_from_totals(B, w, 1.0, -2.5, 0.0)
    # |E| <= sum w sqrt(B_d^2 + B^2) for any |rho| <= 1: beyond it nothing is attainable
    E_max = float(np.sum(w * np.hypot(1.0, B)))
    with pytest.raises(ValueError, match="not attainable"):
        equilibrium_from_totals(B, w, 1.0, 0.0, 1.01 * E_max)
    # with the moment nearly saturated the energy window shrinks to ~ -sum w B rho2
    with pytest.raises(ValueError, match="not attainable"):
        equilibrium_from_totals(B, w, 1.0, 1.99, 1.0)
    # just inside the boundary still works (|rho| -> 1)
    th, om, rho = equilibrium_from_totals(B, w, 1.0, 0.0, 0.98 * E_max)
    assert np.max(np.hypot(*rho)) > 0.97
    assert total_energy(rho, w, B, 1.0) == pytest.approx(0.98 * E_max, rel=1e-10)


def test_equilibrium_has_zero_generalised_gradient():
    """G1 = dOmega1/dx, G2 = dOmega2/dx + Omega1 B'/B_d vanish (second-order differences)."""
    B_d, theta, omega0 = 0.7, 0.9, -0.4

    def B_of(x):
        return 1.0 + x + 0.4 * np.sin(2 * x) + 0.05 * x**2

    def dB_of(x):
        return 1.0 + 0.8 * np.cos(2 * x) + 0.1 * x

    def G_max(n, perturb=0.0):
        x = np.linspace(-2.0, 2.0, n)
        rho = equilibrium(B_of(x), B_d, theta, omega0, 1.0)
        rho[1] += perturb * np.exp(-x**2)
        Om = potentials(rho)
        dB = dB_of(x)  # exact B': G vanishes only up to the truncation of d/dx
        G1 = np.gradient(Om[0], x, edge_order=2)
        G2 = np.gradient(Om[1], x, edge_order=2) + Om[0] * dB / B_d
        return max(np.max(np.abs(G1)), np.max(np.abs(G2))), np.max(np.hypot(*rho))

    g1, xmax = G_max(401)
    g2, _ = G_max(801)
    assert xmax > 0.95
    assert g1 < 1e-3 and g2 / g1 == pytest.approx(0.25, rel=0.05)  # zero up to O(h^2)
    assert G_max(801, perturb=1e-3)[0] > 1e-3  # and not for a non-equilibrium state


def test_langevin_is_fenske_in_linear_field():
    B_d = 2e-4
    r = np.linspace(-5e-8, 5e-8, 1001)
    cases = [(0.35, 0.2, 1e4, 0.0), (0.35, 0.2, -1e4, 3.0), (-0.8, -1.1, 3e4, 0.0),
             (1.5, 0.0, -2e3, 3.0)]
    for theta, omega0, G, B_ref in cases:
        # B_ref = 3 T costs digits in B - B_ref (G r ~ 5e-4 T): 3e-16 * 3 T / B_d ~ 5e-12
        tol = 2e-15 if B_ref == 0.0 else 1e-11
        B = B_ref + G * r
        lang = langevin_polarization(B, B_d, theta, omega0, B_ref)
        m = langevin_fenske_mapping(theta, omega0, G, B_d)
        assert m.a == pytest.approx(theta * np.sign(G))
        rbar = r * abs(G) / B_d
        np.testing.assert_allclose(fenske_profile(rbar, m.a, m.rbar0), lang, rtol=0, atol=tol)
        np.testing.assert_allclose(fenske_profile(r, theta * G / B_d, m.r0), lang, rtol=0, atol=tol)
        # the zero crossing: rho2(r0) = 0, and rbar0 = -artanh(rho2(rbar = 0))/a
        assert langevin_polarization(B_ref + G * m.r0, B_d, theta, omega0, B_ref) == \
            pytest.approx(0.0, abs=tol)
        assert m.rbar0 == pytest.approx(-math.atanh(-math.tanh(omega0)) / m.a, abs=1e-14)
        if abs(m.a) < 1:
            assert m.alpha == pytest.approx((1 + m.a) / (1 - m.a))
            assert (m.alpha - 1) / (m.alpha + 1) == pytest.approx(m.a)  # paper Eq. 39b
    with pytest.raises(ValueError):
        langevin_fenske_mapping(0.0, 0.1, 1e4, 1e-4)


def test_full_equilibrium_tends_to_langevin_as_theta_squared():
    """rho2 of the exact equilibrium = Langevin/Fenske + O(theta^2) (paper Eq. 25)."""
    B_d, G = 1.0, 1.0
    errs = []
    for theta in (1e-1, 1e-2, 1e-3):
        # span a fixed range of Omega2 in [-3, 3]: r in [-3/theta, 3/theta]
        r = np.linspace(-3.0, 3.0, 2001) / theta
        B = G * r
        rho2 = equilibrium(B, B_d, theta, 0.0, 0.0)[1]
        m = langevin_fenske_mapping(theta, 0.0, G, B_d)
        errs.append(np.max(np.abs(rho2 - fenske_profile(r * abs(G) / B_d, m.a, m.rbar0))))
    assert errs[0] < 0.1**2 and errs[0] > 0.1**2 / 20
    assert errs[1] / errs[0] == pytest.approx(1e-2, rel=0.05)
    assert errs[2] / errs[1] == pytest.approx(1e-2, rel=0.05)


# ======================================================================================
# 1-D finite-volume solver (physics.md 2.2-2.3)
# ======================================================================================

def step_state(x, p0=0.8, r1=0.3, centre=2.0, width=3.0):
    """Uniform rho1, step-like rho2 from -p0 to +p0 (Fig. 8 type)."""
    return np.array([np.full_like(x, r1), p0 * np.tanh(width * (x - centre))])


def rel_change(values, scale):
    values = np.asarray(values)
    return float(np.max(np.abs(values - values[0])) / scale)


@pytest.fixture(scope="module")
def nonlinear_run():
    """Nonlinear model, B = x on [0, 4] (B' = B_d = Gamma = 1), run to equilibrium."""
    xf = np.linspace(0.0, 4.0, 121)
    t = np.concatenate([[0.0], np.geomspace(1e-3, 400.0, 60)])
    return solve_1d("nonlinear", xf, step_state, lambda x: x, 1.0, 1.0, t)


def test_solve_1d_nonlinear_invariants_and_entropy(nonlinear_run):
    s = nonlinear_run
    w = s.weights
    scale = float(np.sum(w))
    dM = rel_change(total_moment(s.rho, w), scale)
    dE = rel_change(total_energy(s.rho, w, s.B, 1.0), scale * max(1.0, np.ptp(s.B)))
    assert dM < 1e-10 and dE < 1e-10, (dM, dE)
    S = total_entropy(s.rho, w)
    assert np.min(np.diff(S)) > -1e-12 * scale, np.min(np.diff(S))
    assert S[-1] - S[0] > 0.1 * scale  # it does relax
    assert np.max(np.hypot(*s.rho[0])) > 0.84 and np.all(np.hypot(s.rho[:, 0], s.rho[:, 1]) < 1)


def test_solve_1d_nonlinear_relaxes_to_equilibrium_from_totals(nonlinear_run):
    s = nonlinear_run
    w = s.weights
    M0, E0 = total_moment(s.rho[0], w), total_energy(s.rho[0], w, s.B, 1.0)
    theta, omega0, rho_eq = equilibrium_from_totals(s.B, w, 1.0, M0, E0, B_ref=0.0)
    err = np.max(np.abs(s.rho[-1] - rho_eq))
    # the discrete steady states (G_f = 0 on every face) are exactly the equilibria at the
    # cell centres, so the only error left is the decay of the transient
    assert err < 1e-8, err
    assert abs(theta) > 0.1  # a genuinely separative equilibrium (theta != 0)
    # intermediate state is far from it (so the comparison can fail)
    assert np.max(np.abs(s.rho[1] - rho_eq)) > 0.1


@pytest.mark.parametrize("model", ["semilinear", "linear"])
def test_solve_1d_reduced_models_conserve(model):
    xf = np.linspace(0.0, 4.0, 81)
    t = np.array([0.0, 0.05, 0.5, 5.0])
    s = solve_1d(model, xf, lambda x: step_state(x, p0=0.9, r1=0.2), lambda x: 1.0 + x, 1.0, 1.0, t)
    w = s.weights
    scale = float(np.sum(w))
    assert rel_change(total_moment(s.rho, w), scale) < 1e-10
    assert rel_change(total_energy(s.rho, w, s.B, 1.0), scale * np.max(np.abs(s.B))) < 1e-10


def test_solve_1d_variable_density_and_grid():
    """Non-uniform cells and spin density: invariants, and relaxation to the equilibrium of
    the weighted totals (equal spin temperature where Delta varies, physics.md 2.2)."""
    u = np.linspace(0.0, 1.0, 91)
    xf = 4.0 * (u + 0.15 * np.sin(2 * np.pi * u) / (2 * np.pi))
    Delta = lambda x: 1.0 + 0.8 * np.tanh(4 * (x - 1.3))  # noqa: E731
    B = lambda x: 0.5 * x + 0.2 * np.cos(x)  # noqa: E731
    t = np.array([0.0, 0.1, 1.0, 800.0])
    s = solve_1d("nonlinear", xf, lambda x: step_state(x, p0=0.7, r1=-0.4, centre=2.5), B,
                 0.8, 1.0, t, Delta=Delta)
    w = s.weights
    scale = float(np.sum(w))
    assert rel_change(total_moment(s.rho, w), scale) < 1e-10
    assert rel_change(total_energy(s.rho, w, s.B, 0.8), scale * 2) < 1e-10
    assert np.all(np.diff(total_entropy(s.rho, w)) > 0)
    M0, E0 = total_moment(s.rho[0], w), total_energy(s.rho[0], w, s.B, 0.8)
    _, _, rho_eq = equilibrium_from_totals(s.B, w, 0.8, M0, E0)
    assert np.max(np.abs(s.rho[-1] - rho_eq)) < 1e-4


def test_solve_1d_models_agree_at_small_amplitude():
    xf = np.linspace(0.0, 4.0, 81)
    t = np.array([0.0, 0.1, 1.0, 10.0])
    amp = 1e-3
    rho0 = lambda x: np.array([amp * np.cos(1.3 * x), amp * np.tanh(3 * (x - 2))])  # noqa: E731
    sols = {m: solve_1d(m, xf, rho0, lambda x: x, 1.0, 1.0, t, atol=1e-15)
            for m in ("nonlinear", "semilinear", "linear")}
    ref = sols["nonlinear"].rho
    for m in ("semilinear", "linear"):
        rel = np.max(np.abs(sols[m].rho[1:] - ref[1:])) / amp
        assert rel < 1e-3, (m, rel)
    # the dynamics is non-trivial (the state changes by O(amp)) ...
    assert np.max(np.abs(ref[-1] - ref[0])) > 0.3 * amp
    # ... and at large amplitude the models do differ (this test can fail)
    big = {m: solve_1d(m, xf, lambda x: 600 * rho0(x), lambda x: x, 1.0, 1.0, t).rho
           for m in ("nonlinear", "linear")}
    assert np.max(np.abs(big["linear"][2] - big["nonlinear"][2])) > 1e-2


def test_solve_1d_semilinear_is_first_order_in_rho1_at_large_polarization():
    """Uniform rho2 = 0.8, small rho1: semi-linear = nonlinear to O(rho1^2); linear is not
    (it lacks the (1 - rho2^2) artanh(rho2)/rho2 = 0.49 factor of the exchange flux)."""
    xf = np.linspace(0.0, 4.0, 81)
    t = np.array([0.0, 0.3, 3.0])
    eps = 1e-3
    rho0 = lambda x: np.array([eps * np.cos(1.3 * x), np.full_like(x, 0.8)])  # noqa: E731
    ch = {m: solve_1d(m, xf, rho0, lambda x: x, 1.0, 1.0, t, atol=1e-15).rho[1:] - rho0(
        0.5 * (xf[1:] + xf[:-1]))[None] for m in ("nonlinear", "semilinear", "linear")}
    size = np.max(np.abs(ch["nonlinear"][:, 1]))  # change of rho2, O(eps)
    assert size > 0.1 * eps
    d_semi = np.max(np.abs(ch["semilinear"] - ch["nonlinear"])) / size
    d_lin = np.max(np.abs(ch["linear"] - ch["nonlinear"])) / size
    assert d_semi < 1e-2, d_semi
    assert d_lin > 0.3, d_lin


def test_solve_1d_nonlinear_heat_equation_at_large_amplitude():
    """Uniform B, rho1 = 0: rho2 obeys d(rho2)/dt = Gamma rho2'' exactly (K2 = d rho2/dx)."""
    L, n, Gamma, amp = 2.0, 400, 1.0, 0.9
    k = math.pi / L
    xf = np.linspace(0.0, L, n + 1)
    t = np.array([0.0, 0.02, 0.1, 0.4])
    s = solve_1d("nonlinear", xf, lambda x: np.array([0 * x, amp * np.cos(k * x)]),
                 lambda x: np.full_like(x, 1.5), 1.0, Gamma, t)
    exact = amp * np.cos(k * s.x)[None, :] * np.exp(-Gamma * k**2 * t)[:, None]
    err = np.max(np.abs(s.rho[:, 1] - exact)) / amp
    assert err < 1e-2, err
    assert np.max(np.abs(s.rho[:, 0])) < 1e-12  # rho1 stays 0
    # exp(-k^2 t) = 0.37 by the end: the comparison is not trivial
    assert np.max(np.abs(s.rho[-1, 1])) < 0.4 * amp
    # second order in h (C at the face-mean Omega)
    errs = []
    for n_c in (25, 50):
        c = solve_1d("nonlinear", np.linspace(0.0, L, n_c + 1),
                     lambda x: np.array([0 * x, amp * np.cos(k * x)]),
                     lambda x: np.full_like(x, 1.5), 1.0, Gamma, t)
        ex = amp * np.cos(k * c.x)[None, :] * np.exp(-Gamma * k**2 * t)[:, None]
        errs.append(np.max(np.abs(c.rho[:, 1] - ex)))
    assert errs[0] / errs[1] == pytest.approx(4.0, rel=0.1), errs


def test_solve_1d_si_scaling_matches_dimensionless():
    """lengths 1e-8 m, Gamma 1e-15 m^2/s, B_d 1e-4 T, B' = 1e4 T/m on top of 2 T."""
    L0, Gam, B_d, G, B0 = 1e-8, 1e-15, 1e-4, 1e4, 2.0
    T0 = L0**2 / Gam  # 0.1 s
    xf_d = np.linspace(0.0, 5.0, 81)
    t_d = np.array([0.0, 0.01, 0.3, 3.0])
    rho0 = lambda x: step_state(x, p0=0.9, r1=0.3, centre=2.5)  # noqa: E731
    dimless = solve_1d("nonlinear", xf_d, rho0, lambda x: x - 2.5, 1.0, 1.0, t_d)
    si = solve_1d("nonlinear", xf_d * L0, lambda x: rho0(x / L0),
                  lambda x: B0 + G * (x - 2.5 * L0), B_d, Gam, t_d * T0, Delta=5e28)
    np.testing.assert_allclose(si.rho, dimless.rho, rtol=0, atol=1e-8)
    assert np.max(np.abs(dimless.rho[-1] - dimless.rho[0])) > 0.1
    w = si.weights
    W = float(np.sum(w))
    assert rel_change(total_moment(si.rho, w), W) < 1e-10
    assert rel_change(total_energy(si.rho, w, si.B, B_d), W * B_d * 5) < 1e-10
    assert np.all(np.diff(total_entropy(si.rho, w)) > 0)
