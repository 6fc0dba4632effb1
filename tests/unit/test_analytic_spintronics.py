"""Closed-form / exact 1-D spintronics references (fem_spin.analytic.spintronics, physics.md 3.1).

Where possible each formula is checked against an *independent* computation written
here: a lumped 1-D solver of the nonlocal spin valve (for Takahashi-Maekawa), the
time-integral representation of the Hanle curve, and a finite-volume discretisation of
the Valet-Fert equations (for the exact multilayer solution).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from fem_spin.analytic import (
    Layer,
    cpp_gmr,
    fit_hanle,
    fit_spin_diffusion_length,
    hanle_nonlocal_resistance,
    interface_resistances,
    larmor_frequency,
    reverse_interface,
    reverse_layer,
    solve_multilayer,
    spin_memory_loss_layer,
    spin_resistance,
    takahashi_maekawa,
    takahashi_maekawa_transparent_limit,
    takahashi_maekawa_tunnel_limit,
)

scipy = pytest.importorskip("scipy")
from scipy import integrate, sparse  # noqa: E402
from scipy.sparse import linalg as splinalg  # noqa: E402

# Typical lateral-valve numbers: Cu wire 100 nm x 100 nm, lambda_N = 500 nm.
RHO_N, A_N, LAM_N = 2e-8, 1e-14, 5e-7
R_N = RHO_N * LAM_N / A_N  # 1 Ohm


# ======================================================================================
# Independent lumped 1-D model of a nonlocal spin valve (for Takahashi-Maekawa)
# ======================================================================================

def nonlocal_valve_1d(L, lam, R_N, R_F, R_1, R_2, P_J1, P_J2, p_F1, p_F2):
    """R_NL = V/I of the 1-D model: infinite N wire (P = 0), F1 at x = 0 and F2 at x = L
    (semi-infinite branches, spin resistance R_F each, bulk polarizations p_F1, p_F2),
    lumped contacts (R_i, P_Ji). Current I = 1 flows from F1 into N and out at x -> -inf;
    V = potential of F2 far away minus that of the N end x -> +inf.

    Unknowns: mu_s in N = aL e^{x/lam} (x<0), b1 e^{-x/lam} + b2 e^{-(L-x)/lam} (0<x<L),
    aR e^{-(x-L)/lam} (x>L); mu_s in F_i = g_i e^{-y/lam_F}; psi_i (charge-like potential
    of F_i, constant along F2); channel currents through the contacts into N.
    mu_c of N is 0 for x >= 0 (no charge current there).
    """
    e = math.exp(-L / lam)
    ru = [2 * R_1 / (1 + P_J1), 2 * R_2 / (1 + P_J2)]
    rd = [2 * R_1 / (1 - P_J1), 2 * R_2 / (1 - P_J2)]
    p = [p_F1, p_F2]
    aL, b1, b2, aR, g1, g2, s1, s2, u1, d1, u2, d2 = range(12)
    M = np.zeros((12, 12))
    rhs = np.zeros(12)
    rows = [
        {aL: 1, b1: -1, b2: -e},                               # mu_s continuous at 0
        {aR: 1, b1: -e, b2: -1},                               # mu_s continuous at L
        # spin conservation at the N nodes: contact spin current = outflow along N,
        # outflow = -(sigma A/2)(mu_s'(+) - mu_s'(-)) and sigma A/(2 lam) = 1/(2 R_N)
        {u1: R_N, d1: -R_N, b1: -0.5, b2: 0.5 * e, aL: -0.5},
        {u2: R_N, d2: -R_N, aR: -0.5, b1: 0.5 * e, b2: -0.5},
        {u1: 1, d1: 1},                                        # charge: I = 1 through F1
        {u2: 1, d2: 1},                                        # no charge through F2
        # spin current arriving through F_i: p_i I_i - (1 - p_i^2) g_i/(2 R_F)
        {u1: R_F, d1: -R_F, g1: 0.5 * (1 - p[0]**2)},
        {u2: R_F, d2: -R_F, g2: 0.5 * (1 - p[1]**2)},
        # contacts: r_s I_s = mu_s(F) - mu_s(N), mu_up = psi + (1-p)/2 g, mu_dn = psi - (1+p)/2 g
        {u1: ru[0], s1: -1, g1: -0.5 * (1 - p[0]), aL: 0.5},
        {d1: rd[0], s1: -1, g1: 0.5 * (1 + p[0]), aL: -0.5},
        {u2: ru[1], s2: -1, g2: -0.5 * (1 - p[1]), aR: 0.5},
        {d2: rd[1], s2: -1, g2: 0.5 * (1 + p[1]), aR: -0.5},
    ]
    for i, r in enumerate(rows):
        for j, v in r.items():
            M[i, j] += v
    rhs[4] = 1.0
    rhs[6] = R_F * p[0]
    sol = np.linalg.solve(M, rhs)
    return sol[s2], sol[aL]  # R_NL, and mu_s under the injector (per unit current)


# ======================================================================================
# Spin resistance, Takahashi-Maekawa
# ======================================================================================

def test_spin_resistance():
    assert spin_resistance(RHO_N, LAM_N, A_N) == pytest.approx(1.0, rel=1e-14)
    np.testing.assert_allclose(spin_resistance(RHO_N, np.array([1e-7, 2e-7]), A_N), [0.2, 0.4])


@pytest.mark.parametrize("R_F, R_1, R_2, P_J1, P_J2, p_F", [
    (0.05, 3.0, 2.0, 0.3, 0.25, 0.4),
    (0.2, 0.0, 0.0, 0.0, 0.0, 0.5),     # transparent contacts
    (0.01, 0.5, 20.0, 0.1, -0.4, 0.7),  # mixed, opposite contact polarization
    (0.0, 10.0, 10.0, 0.35, 0.35, 0.0),  # tunnel, F as ideal reservoir
])
@pytest.mark.parametrize("L_over_lam", [0.1, 0.8, 3.0])
def test_tm_general_equals_exact_1d_model(R_F, R_1, R_2, P_J1, P_J2, p_F, L_over_lam):
    """physics.md's TM formula is the exact solution of the lumped 1-D model, and each
    configuration alone gives +-Delta R/2 (no baseline for an unpolarized N wire)."""
    L = L_over_lam * LAM_N
    args = (L, LAM_N, R_N, R_F * R_N, R_1 * R_N, R_2 * R_N)
    R_P, _ = nonlocal_valve_1d(*args, P_J1, P_J2, p_F, p_F)
    R_AP, _ = nonlocal_valve_1d(*args, P_J1, -P_J2, p_F, -p_F)  # F2 reversed
    dR = takahashi_maekawa(*args, P_J1, P_J2, p_F)
    assert R_P - R_AP == pytest.approx(dR, rel=1e-10, abs=1e-15)
    assert R_P == pytest.approx(-R_AP, rel=1e-10, abs=1e-15)


def test_tm_sign_convention_at_injector():
    """Current from a P_J > 0 contact into N builds mu_s = +P_J I R_N under it (tunnel)."""
    _, mu_s0 = nonlocal_valve_1d(1e-6, LAM_N, R_N, 0.0, 1e6, 1e6, 0.3, 0.3, 0.0, 0.0)
    assert mu_s0 == pytest.approx(0.3 * R_N, rel=1e-5)


def test_tm_tunnel_limit():
    L = np.linspace(0.0, 3.0, 13) * LAM_N
    P_J, p_F, R_F = 0.3, 0.4, 0.1 * R_N
    R_i = 1e4 * R_N
    general = takahashi_maekawa(L, LAM_N, R_N, R_F, R_i, R_i, P_J, P_J, p_F)
    limit = takahashi_maekawa_tunnel_limit(L, LAM_N, R_N, P_J)
    np.testing.assert_allclose(general, limit, rtol=1e-3)
    assert takahashi_maekawa_tunnel_limit(0.0, LAM_N, R_N, 0.3) == pytest.approx(0.09 * R_N)
    # the relative error shrinks like 1/R_i
    err = [abs(takahashi_maekawa(LAM_N, LAM_N, R_N, R_F, r * R_N, r * R_N, P_J, P_J, p_F)
               / takahashi_maekawa_tunnel_limit(LAM_N, LAM_N, R_N, P_J) - 1) for r in (1e2, 1e3, 1e4)]
    assert err[0] > 5 * err[1] > 25 * err[2]


def test_tm_transparent_limit_needs_small_R_F():
    L = np.array([0.5, 1.0, 2.0, 4.0]) * LAM_N
    p_F = 0.45
    R_F = 1e-5 * R_N
    general = takahashi_maekawa(L, LAM_N, R_N, R_F, 0.0, 0.0, 0.3, 0.3, p_F)
    limit = takahashi_maekawa_transparent_limit(L, LAM_N, R_N, R_F, p_F)
    np.testing.assert_allclose(general, limit, rtol=1e-3)
    # exact correction factor quoted in the docstring, for any R_F
    for rF in (1e-3, 0.3, 2.0):
        a = 2 * rF / (1 - p_F**2)
        e2 = np.exp(-2 * L / LAM_N)
        g = takahashi_maekawa(L, LAM_N, R_N, rF * R_N, 0.0, 0.0, 0.3, 0.3, p_F)
        lim = takahashi_maekawa_transparent_limit(L, LAM_N, R_N, rF * R_N, p_F)
        np.testing.assert_allclose(g, lim * (1 - e2) / ((1 + a)**2 - e2), rtol=1e-12)
    # ... and the limit is far off once R_F is comparable to R_N
    g = takahashi_maekawa(LAM_N, LAM_N, R_N, 0.5 * R_N, 0.0, 0.0, 0.3, 0.3, p_F)
    assert takahashi_maekawa_transparent_limit(LAM_N, LAM_N, R_N, 0.5 * R_N, p_F) > 1.5 * g


def test_tm_decreases_with_separation_and_vectorises():
    L = np.linspace(0.0, 5.0, 51) * LAM_N
    for R_i in (0.0, 0.3 * R_N, 30 * R_N):
        dR = takahashi_maekawa(L, LAM_N, R_N, 0.05 * R_N, R_i, R_i, 0.3, 0.3, 0.4)
        assert dR.shape == L.shape
        assert np.all(dR > 0) and np.all(np.diff(dR) < 0)
    assert isinstance(takahashi_maekawa(1e-7, LAM_N, R_N, 0.05, 1.0, 1.0, 0.3, 0.3, 0.4), float)


# -- fits ------------------------------------------------------------------------------

L_DATA = np.linspace(0.25, 3.0, 12) * 1e-6


def test_fit_tunnel_exact_and_noisy():
    data = takahashi_maekawa_tunnel_limit(L_DATA, LAM_N, R_N, 0.3)
    fit = fit_spin_diffusion_length(L_DATA, data, "tunnel")
    assert fit.lambda_N == pytest.approx(LAM_N, rel=1e-6)
    assert fit.amplitude == pytest.approx(0.09 * R_N, rel=1e-6)
    np.testing.assert_allclose(fit.predict(L_DATA), data, rtol=1e-6)
    rng = np.random.default_rng(1)
    noisy = data * (1 + 0.01 * rng.standard_normal(data.size))
    fit = fit_spin_diffusion_length(L_DATA, noisy, "tunnel")
    assert fit.lambda_N == pytest.approx(LAM_N, rel=0.03)
    assert 0 < fit.lambda_N_stderr < 0.05 * LAM_N
    assert abs(fit.lambda_N - LAM_N) < 4 * fit.lambda_N_stderr


def test_fit_transparent_exact():
    data = takahashi_maekawa_transparent_limit(L_DATA, LAM_N, R_N, 0.02 * R_N, 0.5)
    fit = fit_spin_diffusion_length(L_DATA, data, "transparent")
    assert fit.lambda_N == pytest.approx(LAM_N, rel=1e-6)
    assert fit.amplitude == pytest.approx(2 * 0.25 / 0.75**2 * (0.02 * R_N)**2 / R_N, rel=1e-6)


@pytest.mark.parametrize("fit_P", [False, True])
def test_fit_general_tm(fit_P):
    """R_N = rho_N lambda_N / A_N moves with lambda_N; intermediate contacts R_i ~ R_N."""
    fixed = dict(rho_N=RHO_N, A_N=A_N, R_F=0.03 * R_N, R_i=0.8 * R_N, p_F=0.4)
    P_J = 0.25
    data = takahashi_maekawa(L_DATA, LAM_N, R_N, fixed["R_F"], fixed["R_i"], fixed["R_i"],
                             P_J, P_J, fixed["p_F"])
    kw = dict(fixed) if fit_P else dict(fixed, P_J=P_J)
    fit = fit_spin_diffusion_length(L_DATA, data, "general", **kw)
    assert fit.lambda_N == pytest.approx(LAM_N, rel=1e-6)
    assert fit.amplitude == pytest.approx(P_J, rel=1e-5)
    rng = np.random.default_rng(7)
    noisy = data * (1 + 0.01 * rng.standard_normal(data.size))
    fit = fit_spin_diffusion_length(L_DATA, noisy, "general", **kw)
    assert fit.lambda_N == pytest.approx(LAM_N, rel=0.05)
    assert fit.amplitude == pytest.approx(P_J, rel=0.1)
    # the tunnel-model fit of the same data is biased: TM contacts are not non-invasive
    biased = fit_spin_diffusion_length(L_DATA, data, "tunnel")
    assert abs(biased.lambda_N / LAM_N - 1) > 0.01


def test_fit_rejects_bad_arguments():
    with pytest.raises(ValueError):
        fit_spin_diffusion_length(L_DATA, L_DATA, "exponential")
    with pytest.raises(TypeError):
        fit_spin_diffusion_length(L_DATA, L_DATA, "general", rho_N=1.0)


# ======================================================================================
# Hanle
# ======================================================================================

TAU = 1e-10  # s
HANLE_AMP = 0.5 * 0.3**2 * R_N


def test_larmor_frequency():
    assert larmor_frequency(1.0) == pytest.approx(1.7588e11, rel=1e-4)
    assert larmor_frequency(-0.1, g=2.0) == pytest.approx(-1.7588e10, rel=1e-4)


def test_hanle_zero_field_is_half_the_tunnel_signal():
    L = np.array([0.0, 0.5, 1.0, 2.0]) * LAM_N
    np.testing.assert_allclose(hanle_nonlocal_resistance(0.0, L, LAM_N, TAU, R_N, 0.3),
                               0.5 * takahashi_maekawa_tunnel_limit(L, LAM_N, R_N, 0.3),
                               rtol=1e-14)


def test_hanle_even_in_B_and_sign_reversal():
    B = np.linspace(0.0, 0.5, 2001)
    R = hanle_nonlocal_resistance(B, LAM_N, LAM_N, TAU, R_N, 0.3)
    np.testing.assert_allclose(hanle_nonlocal_resistance(-B, LAM_N, LAM_N, TAU, R_N, 0.3), R,
                               rtol=0, atol=1e-15)
    assert R[0] > 0 and R.min() < -0.05 * R[0]  # precession by ~pi: signal inverts
    first_zero = B[np.argmax(R < 0)]
    assert 0.01 < first_zero < 0.2
    # far field: fully dephased
    assert abs(hanle_nonlocal_resistance(20.0, LAM_N, LAM_N, TAU, R_N, 0.3)) < 1e-3 * R[0]
    # L = 0 (detector on the injector): Re[1/sqrt(1 + i w tau)] > 0, no sign change
    R0 = hanle_nonlocal_resistance(B, 0.0, LAM_N, TAU, R_N, 0.3)
    w = larmor_frequency(B)
    np.testing.assert_allclose(R0, HANLE_AMP * np.real(1 / np.sqrt(1 + 1j * w * TAU)), rtol=1e-13)
    assert np.all(R0 > 0) and np.all(np.diff(R0) < 0)


@pytest.mark.parametrize("x", [0.3, 1.0, 2.5])
@pytest.mark.parametrize("y", [0.0, 0.7, 3.0, 12.0])
def test_hanle_equals_time_integral_representation(x, y):
    """R = P^2 R_N int_0^inf (4 pi s)^(-1/2) exp(-x^2/(4s) - s) cos(y s) ds, s = t/tau,
    x = L/lambda, y = omega tau: diffusion + decay + precession of injected spins."""
    B = y / (larmor_frequency(1.0) * TAU)

    def f(s):
        return (4 * np.pi * s) ** -0.5 * np.exp(-x**2 / (4 * s) - s) if s > 0 else 0.0

    if y == 0:
        val = integrate.quad(f, 0, np.inf, epsabs=1e-14, epsrel=1e-12)[0]
    else:
        val = (integrate.quad(lambda s: f(s) * np.cos(y * s), 0, 1, epsabs=1e-14, limit=200)[0]
               + integrate.quad(f, 1, np.inf, weight="cos", wvar=y, epsabs=1e-14)[0])
    R = hanle_nonlocal_resistance(B, x * LAM_N, LAM_N, TAU, R_N, 0.3)
    assert R == pytest.approx(0.09 * R_N * val, rel=1e-7, abs=1e-12)


def test_hanle_integral_over_field_vanishes():
    """int R(omega) d omega = pi P^2 R_N (D/lambda) p(t=0) = 0 for L > 0 (no spin arrives at t=0)."""
    x = 1.2
    per_y = 1 / (larmor_frequency(1.0) * TAU)  # tesla per unit of y = omega tau

    def R(y):
        return hanle_nonlocal_resistance(y * per_y, x * LAM_N, LAM_N, TAU, R_N, 0.3)

    edges = np.concatenate([[0.0], np.geomspace(0.1, 1e5, 60)])
    total = sum(integrate.quad(R, a, b, epsabs=0, epsrel=1e-12, limit=200)[0]
                for a, b in zip(edges[:-1], edges[1:]))
    absolute = sum(integrate.quad(lambda y: abs(R(y)), a, b, limit=200)[0]
                   for a, b in zip(edges[:-1], edges[1:]))
    assert abs(total) < 1e-7 * absolute


def test_fit_hanle_recovers_parameters():
    L = 1.5 * LAM_N
    B = np.linspace(-0.3, 0.3, 241)
    data = hanle_nonlocal_resistance(B, L, LAM_N, TAU, R_N, 0.3)
    fit = fit_hanle(B, data, L)
    assert fit.lambda_N == pytest.approx(LAM_N, rel=1e-6)
    assert fit.tau_sf == pytest.approx(TAU, rel=1e-6)
    assert fit.amplitude == pytest.approx(HANLE_AMP, rel=1e-6)
    assert fit.diffusion_constant == pytest.approx(LAM_N**2 / TAU, rel=1e-6)
    rng = np.random.default_rng(2024)
    noisy = data + 0.01 * data[120] * rng.standard_normal(B.size)
    fit = fit_hanle(B, noisy, L)
    assert fit.lambda_N == pytest.approx(LAM_N, rel=0.05)
    assert fit.tau_sf == pytest.approx(TAU, rel=0.05)
    assert fit.amplitude == pytest.approx(HANLE_AMP, rel=0.05)
    assert fit.residual_rms == pytest.approx(0.01 * data[120], rel=0.2)
    for name in ("lambda_N", "tau_sf", "amplitude"):
        err = getattr(fit, name + "_stderr")
        assert 0 < err and abs(getattr(fit, name) - {"lambda_N": LAM_N, "tau_sf": TAU,
                                                      "amplitude": HANLE_AMP}[name]) < 4 * err
    np.testing.assert_allclose(fit.predict(B), noisy, atol=4 * 0.01 * data[120])


# ======================================================================================
# Exact multilayer solution
# ======================================================================================

def finite_volume_multilayer(layers, interfaces=None, cells=400, voltage=1.0):
    """Independent check: cell-centred finite volumes for the two Valet-Fert channel
    equations -(sigma_s mu_s')' +- g_sf (mu_up - mu_dn) = 0, interface resistances in the
    face conductances, reservoirs as Dirichlet values half a cell away. Returns (RA, x, mu_up, mu_dn)."""
    interfaces = interfaces or [None] * (len(layers) - 1)
    h, rho_up, rho_dn, gsf, x = [], [], [], [], []
    x0 = 0.0
    for layer in layers:
        dx = layer.thickness / cells
        h += [dx] * cells
        rho_up += [layer.resistivity_up] * cells
        rho_dn += [layer.resistivity_dn] * cells
        g = (1 - layer.bulk_polarization**2) / (4 * layer.resistivity * layer.spin_diffusion_length**2)
        gsf += [g] * cells
        x += list(x0 + (np.arange(cells) + 0.5) * dx)
        x0 += layer.thickness
    h, gsf = np.array(h), np.array(gsf)
    n = h.size
    rows, cols, vals = [], [], []
    rhs = np.zeros(2 * n)

    def add(i, j, v):
        rows.append(i), cols.append(j), vals.append(v)

    for c, rho in enumerate((np.array(rho_up), np.array(rho_dn))):
        face_r = 0.5 * (rho[:-1] * h[:-1] + rho[1:] * h[1:])
        for k, itf in enumerate(interfaces):
            if itf is not None:
                face_r[(k + 1) * cells - 1] += itf[c]
        for i in range(n - 1):
            G = 1 / face_r[i]
            a, b = 2 * i + c, 2 * (i + 1) + c
            add(a, a, G), add(a, b, -G), add(b, b, G), add(b, a, -G)
        G0, G1 = 2 / (rho[0] * h[0]), 2 / (rho[-1] * h[-1])
        add(c, c, G0)
        rhs[c] += G0 * voltage
        add(2 * (n - 1) + c, 2 * (n - 1) + c, G1)
    for i in range(n):
        gh = gsf[i] * h[i]
        add(2 * i, 2 * i, gh), add(2 * i, 2 * i + 1, -gh)
        add(2 * i + 1, 2 * i + 1, gh), add(2 * i + 1, 2 * i, -gh)
    A = sparse.csr_matrix((vals, (rows, cols)), shape=(2 * n, 2 * n))
    mu = splinalg.spsolve(A, rhs)
    up, dn = mu[0::2], mu[1::2]
    J = (voltage - up[0]) * 2 / (rho_up[0] * h[0]) + (voltage - dn[0]) * 2 / (rho_dn[0] * h[0])
    return voltage / J, np.array(x), up, dn


# A Co/Cu-like stack, lengths in m, resistivities in Ohm m.
F = Layer(8e-9, 2.0e-7, 6e-9, 0.45)
N = Layer(10e-9, 3.0e-8, 60e-9)
ITF = interface_resistances(5e-16, 0.6)  # (r_up, r_dn), RA = 0.5 fOhm m^2


def test_single_normal_layer_is_ohmic():
    sol = solve_multilayer([Layer(50e-9, 3e-8, 20e-9)], voltage=2.0)
    assert sol.resistance_area == pytest.approx(3e-8 * 50e-9, rel=1e-13)
    assert sol.current_density == pytest.approx(2.0 / (3e-8 * 50e-9), rel=1e-13)
    x = np.linspace(0, 50e-9, 11)
    np.testing.assert_allclose(sol.spin_accumulation(x), 0.0, atol=1e-14)
    np.testing.assert_allclose(sol.mu_up(x), 2.0 * (1 - x / 50e-9), atol=1e-13)


def test_interface_resistance_helpers():
    r_up, r_dn = interface_resistances(1e-15, 0.5)
    assert r_up * r_dn / (r_up + r_dn) == pytest.approx(1e-15)
    assert (r_dn - r_up) / (r_up + r_dn) == pytest.approx(0.5)
    assert reverse_interface((1.0, 2.0)) == (2.0, 1.0) and reverse_interface(None) is None
    assert reverse_layer(F).bulk_polarization == -F.bulk_polarization


def _two_channel(layers, interfaces):
    R_up = sum(l.resistivity_up * l.thickness for l in layers) + sum(i[0] for i in interfaces if i)
    R_dn = sum(l.resistivity_dn * l.thickness for l in layers) + sum(i[1] for i in interfaces if i)
    return R_up, R_dn


@pytest.mark.parametrize("lam", [math.inf, 1e30])
def test_no_spin_flip_is_two_channel_resistor_network(lam):
    layers = [Layer(5e-9, 1e-7, lam, 0.5), Layer(20e-9, 2e-8, lam), Layer(3e-9, 3e-7, lam, -0.2)]
    itfs = [ITF, (2e-16, 1e-16)]
    R_up, R_dn = _two_channel(layers, itfs)
    sol = solve_multilayer(layers, itfs)
    assert sol.resistance_area == pytest.approx(R_up * R_dn / (R_up + R_dn), rel=1e-12)
    # each channel carries V/R_s uniformly
    x = np.linspace(0, sol.total_thickness, 17)
    np.testing.assert_allclose(sol.current_up(x), 1 / R_up, rtol=1e-10)
    np.testing.assert_allclose(sol.current_dn(x), 1 / R_dn, rtol=1e-10)


def test_fast_spin_flip_is_sum_of_resistances():
    small = 1e-7
    layers = [Layer(5e-9, 1e-7, 5e-9 * small, 0.5), Layer(20e-9, 2e-8, 20e-9 * small),
              Layer(3e-9, 3e-7, 3e-9 * small, -0.2)]
    itfs = [ITF, (2e-16, 1e-16)]
    expected = sum(l.resistivity * l.thickness for l in layers) \
        + sum(a * b / (a + b) for a, b in itfs)
    assert solve_multilayer(layers, itfs).resistance_area == pytest.approx(expected, rel=1e-5)


def test_solution_satisfies_valet_fert_equations():
    layers = [F, N, reverse_layer(F), Layer(30e-9, 5e-8, 15e-9)]
    itfs = [ITF, reverse_interface(ITF), None]
    sol = solve_multilayer(layers, itfs, voltage=1e-3)
    J = sol.current_density
    edges = np.concatenate([[0.0], np.cumsum([l.thickness for l in layers])])
    for k, layer in enumerate(layers):
        x = np.linspace(edges[k], edges[k + 1], 9)[1:-1]
        d = 1e-4 * layer.spin_diffusion_length

        def deriv(f):
            return (f(x + d) - f(x - d)) / (2 * d)

        j_up = -deriv(sol.mu_up) / layer.resistivity_up
        j_dn = -deriv(sol.mu_dn) / layer.resistivity_dn
        np.testing.assert_allclose(j_up + j_dn, J, rtol=1e-6)                # div j = 0
        np.testing.assert_allclose(j_up - j_dn, sol.spin_current(x), rtol=1e-6, atol=1e-6 * J)
        mu_s = sol.spin_accumulation(x)
        second = (sol.spin_accumulation(x + d) - 2 * mu_s + sol.spin_accumulation(x - d)) / d**2
        np.testing.assert_allclose(second, mu_s / layer.spin_diffusion_length**2, rtol=1e-4,
                                   atol=1e-4 * np.abs(mu_s).max() / layer.spin_diffusion_length**2)
    # interface conditions: channel currents continuous, channel potentials drop by r_s j_s
    for xi, itf in zip(sol.interfaces_x, itfs):
        for side in ("left", "right"):
            assert sol.spin_current(xi, side=side) == pytest.approx(sol.spin_current(xi, side="left"),
                                                                    rel=1e-9, abs=1e-9 * J)
        r_up, r_dn = itf or (0.0, 0.0)
        drop_up = sol.mu_up(xi, side="left") - sol.mu_up(xi, side="right")
        drop_dn = sol.mu_dn(xi, side="left") - sol.mu_dn(xi, side="right")
        assert drop_up == pytest.approx(r_up * sol.current_up(xi), rel=1e-9, abs=1e-15)
        assert drop_dn == pytest.approx(r_dn * sol.current_dn(xi), rel=1e-9, abs=1e-15)
    # reservoirs
    assert sol.mu_up(0.0) == pytest.approx(1e-3) and sol.mu_dn(0.0) == pytest.approx(1e-3)
    T = sol.total_thickness
    assert abs(sol.mu_up(T)) < 1e-15 and abs(sol.mu_dn(T)) < 1e-15
    np.testing.assert_allclose(sol.charge_current(np.linspace(0, T, 5)), J)


@pytest.mark.parametrize("config", ["P", "AP"])
def test_multilayer_matches_finite_volumes(config):
    F2 = F if config == "P" else reverse_layer(F)
    I2 = ITF if config == "P" else reverse_interface(ITF)
    layers = [Layer(20e-9, 5e-8, 15e-9), F, N, F2, Layer(20e-9, 5e-8, 15e-9)]
    itfs = [None, ITF, I2, None]
    sol = solve_multilayer(layers, itfs)
    RA_fv, x, up, dn = finite_volume_multilayer(layers, itfs, cells=600)
    assert sol.resistance_area == pytest.approx(RA_fv, rel=1e-6)
    scale = np.abs(up - dn).max()
    np.testing.assert_allclose(sol.spin_accumulation(x), up - dn, atol=1e-4 * scale)
    np.testing.assert_allclose(sol.mu_up(x), up, atol=1e-4 * scale)


def test_spin_accumulation_decays_exponentially_in_long_normal_layer():
    lam = 100e-9
    layers = [Layer(10e-9, 1e-7, 5e-9, 0.6), Layer(60 * lam, 1e-8, lam)]
    sol = solve_multilayer(layers)
    x0 = sol.interfaces_x[0]
    mu = sol.spin_accumulation(x0 + lam * np.array([0.0, 1.0, 2.0, 5.0]))
    assert sol.current_density > 0 and mu[0] > 0  # current F(P>0) -> N builds mu_s > 0 in N
    np.testing.assert_allclose(mu[1:] / mu[0], np.exp(-np.array([1.0, 2.0, 5.0])), rtol=1e-12)
    # no overflow anywhere, and the reservoir forces mu_s -> 0 at the far end
    x = np.linspace(0, sol.total_thickness, 1001)
    assert np.all(np.isfinite(sol.spin_accumulation(x)))
    # a short layer (t << lambda): linear profile
    short = solve_multilayer([layers[0], Layer(0.01 * lam, 1e-8, lam)])
    xs = short.interfaces_x[0] + np.linspace(0, 0.01 * lam, 5)
    mus = short.spin_accumulation(xs)
    np.testing.assert_allclose(mus, np.linspace(mus[0], 0.0, 5), rtol=1e-4, atol=1e-4 * mus[0])


def test_cpp_gmr_two_current_limit():
    """No spin flip anywhere (lambda = inf): the channels are independent series resistors.
    Symmetric F/N/F with channel resistances per F (incl. its interface) r_u, r_d and
    r_n = 2 rho_N t_N per channel in N:
      P:  R_up = 2 r_u + r_n, R_dn = 2 r_d + r_n, RA_P = R_up R_dn / (R_up + R_dn);
      AP: both channels r_u + r_d + r_n = (R_up + R_dn)/2, RA_AP = (R_up + R_dn)/4;
      GMR = RA_AP/RA_P - 1 = (R_up + R_dn)^2/(4 R_up R_dn) - 1 = (R_up - R_dn)^2/(4 R_up R_dn)."""
    Fi, Ni = replace_lam(F, math.inf), replace_lam(N, math.inf)
    P_stack, AP_stack = [Fi, Ni, Fi], [Fi, Ni, reverse_layer(Fi)]
    itf_P, itf_AP = [ITF, ITF], [ITF, reverse_interface(ITF)]  # interfaces follow their F
    RA_P, RA_AP, gmr = cpp_gmr(P_stack, AP_stack, itf_P, itf_AP)
    R_up, R_dn = _two_channel(P_stack, itf_P)
    assert gmr == pytest.approx((R_up - R_dn)**2 / (4 * R_up * R_dn), rel=1e-12)
    assert RA_AP == pytest.approx((R_up + R_dn) / 4, rel=1e-12)


def replace_lam(layer, lam):
    return Layer(layer.thickness, layer.resistivity, lam, layer.bulk_polarization)


def test_cpp_gmr_positive_and_decreasing_with_spacer_thickness():
    gmrs = []
    for t_N in (1e-9, 5e-9, 20e-9, 60e-9, 200e-9):
        Ns = Layer(t_N, N.resistivity, N.spin_diffusion_length)
        _, _, g = cpp_gmr([F, Ns, F], [F, Ns, reverse_layer(F)],
                          [ITF, ITF], [ITF, reverse_interface(ITF)])
        gmrs.append(g)
    assert all(g > 0 for g in gmrs)
    assert np.all(np.diff(gmrs) < 0)
    assert gmrs[-1] < 0.3 * gmrs[0]


def _trilayer_with_sml(delta, t_I, reverse=False):
    I1 = spin_memory_loss_layer(5e-16, 0.6, delta, t_I)
    I2 = spin_memory_loss_layer(5e-16, -0.6 if reverse else 0.6, delta, t_I)
    F2 = reverse_layer(F) if reverse else F
    return [F, I1, N, I2, F2]


def test_spin_memory_loss_layer():
    lay = spin_memory_loss_layer(5e-16, 0.6, 0.0, 1e-10)
    assert lay.spin_diffusion_length == math.inf
    assert (lay.resistivity_up * lay.thickness, lay.resistivity_dn * lay.thickness) \
        == pytest.approx(interface_resistances(5e-16, 0.6), rel=1e-14)
    # delta = 0: the thin layer is the zero-thickness interface, at any thickness
    ref_P = solve_multilayer([F, N, F], [ITF, ITF]).resistance_area
    ref_AP = solve_multilayer([F, N, reverse_layer(F)], [ITF, reverse_interface(ITF)]).resistance_area
    for t_I in (1e-9, 1e-10, 1e-12):
        assert solve_multilayer(_trilayer_with_sml(0.0, t_I)).resistance_area \
            == pytest.approx(ref_P, rel=1e-10)
        assert solve_multilayer(_trilayer_with_sml(0.0, t_I, True)).resistance_area \
            == pytest.approx(ref_AP, rel=1e-10)
    # delta > 0: in 1-D the thin layer's jump conditions depend on delta and RA only
    # (rho t = RA, (1-P^2)/(2 rho lambda) = (1-P^2) delta/(2 RA)), so t -> 0 converges at once
    ras = [solve_multilayer(_trilayer_with_sml(0.4, t_I)).resistance_area for t_I in (1e-9, 1e-11, 1e-13)]
    np.testing.assert_allclose(ras, ras[-1], rtol=1e-10)
    # delta -> 0 approaches the interface result continuously
    assert solve_multilayer(_trilayer_with_sml(1e-6, 1e-11)).resistance_area \
        == pytest.approx(ref_P, rel=1e-6)


def test_spin_memory_loss_reduces_gmr():
    gmrs = []
    for delta in (0.0, 0.2, 0.5, 1.0, 2.0):
        RA_P = solve_multilayer(_trilayer_with_sml(delta, 1e-10)).resistance_area
        RA_AP = solve_multilayer(_trilayer_with_sml(delta, 1e-10, True)).resistance_area
        gmrs.append((RA_AP - RA_P) / RA_P)
    assert gmrs[0] > 0 and np.all(np.diff(gmrs) < 0)
    # cross-check a lossy stack against finite volumes (the SML layer is resolved)
    layers = _trilayer_with_sml(0.5, 1e-9)
    RA_fv = finite_volume_multilayer(layers, cells=600)[0]
    assert solve_multilayer(layers).resistance_area == pytest.approx(RA_fv, rel=1e-6)


def test_multilayer_input_validation():
    with pytest.raises(ValueError):
        Layer(0.0, 1e-8, 1e-8)
    with pytest.raises(ValueError):
        Layer(1e-9, 1e-8, 1e-8, 1.0)
    with pytest.raises(ValueError):
        solve_multilayer([F, N], [ITF, ITF])
    sol = solve_multilayer([F, N])
    with pytest.raises(ValueError):
        sol.mu_up(-1e-9)
    assert isinstance(sol.mu_up(1e-9), float)
    assert sol.mu_up(np.array([1e-9, 2e-9])).shape == (2,)
