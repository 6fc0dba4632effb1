r"""Thermodynamics of two spin-1/2 species sharing one dipolar reservoir (numpy), the
three-quantity instance of docs/theory/onsager_framework.md section 3.

Entropy variables Omega = (theta, omega_a, omega_b) (shape (3, ...)), species fractions
x_a, x_b (numbers, or arrays broadcasting against Omega[0]: densities that vary in space,
theory note 3.6; x_b defaults to 1 - x_a) and kappa = mu_b B_db/(mu_a B_da):

.. math::

    \psi(\Omega) = x_a \psi_1(\theta, \omega_a) + x_b \psi_1(\kappa\theta, \omega_b),\qquad
    \rho = -\partial\psi/\partial\Omega = (x_a r_a + \kappa x_b r_b,\ x_a p_a,\ x_b p_b),

with (r_k, p_k) = -grad psi_1 at species k's variables (``onsager.density``). Used for
initial states (the inverse map rho -> Omega by Newton on the convex psi + Omega.rho), the
entropy and the small-amplitude modes of section 3.4.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from fem_spin.analytic import onsager

__all__ = ["species_variables", "psi", "density", "covariance", "potentials", "species_state",
           "entropy", "admissible", "mode_rates", "equilibrium_from_totals", "TwoSpeciesEquilibrium"]


def species_variables(Omega, kappa: float):
    """(Omega_a, Omega_b), each (2, ...): species a's (theta, omega_a), b's (kappa theta, omega_b)."""
    Om = np.asarray(Omega, float)
    return np.stack([Om[0], Om[1]]), np.stack([kappa * Om[0], Om[2]])


def _second(x_a, x_b):
    """x_b, by default 1 - x_a (the fractions of a mixture normalised by its own density)."""
    return 1.0 - np.asarray(x_a, float) if x_b is None else np.asarray(x_b, float)


def psi(Omega, x_a, kappa: float, x_b=None):
    Oa, Ob = species_variables(Omega, kappa)
    return x_a * onsager.psi(Oa) + _second(x_a, x_b) * onsager.psi(Ob)


def species_state(Omega, kappa: float):
    """((r_a, p_a), (r_b, p_b)): each species' dipolar share and polarization."""
    Oa, Ob = species_variables(Omega, kappa)
    return onsager.density(Oa), onsager.density(Ob)


def density(Omega, x_a, kappa: float, x_b=None) -> np.ndarray:
    (ra, pa), (rb, pb) = species_state(Omega, kappa)
    x_a, x_b = np.asarray(x_a, float), _second(x_a, x_b)
    return np.stack([x_a * ra + kappa * x_b * rb, x_a * pa, x_b * pb])


def covariance(Omega, x_a, kappa: float, x_b=None) -> np.ndarray:
    """C = d rho/d Omega, shape (3, 3, ...) (theory note 3.2)."""
    Oa, Ob = species_variables(Omega, kappa)
    Ca, Cb = onsager.covariance(Oa), onsager.covariance(Ob)
    x_b = _second(x_a, x_b)
    C = np.zeros((3, 3) + Ca.shape[2:])
    C[0, 0] = x_a * Ca[0, 0] + kappa ** 2 * x_b * Cb[0, 0]
    C[0, 1] = C[1, 0] = x_a * Ca[0, 1]
    C[0, 2] = C[2, 0] = kappa * x_b * Cb[0, 1]
    C[1, 1] = x_a * Ca[1, 1]
    C[2, 2] = x_b * Cb[1, 1]
    return C


def entropy(Omega, x_a, kappa: float, x_b=None):
    """s = psi + Omega . rho per spin of the mixture (k_B units)."""
    Om = np.asarray(Omega, float)
    return psi(Om, x_a, kappa, x_b) + np.sum(Om * density(Om, x_a, kappa, x_b), axis=0)


def admissible(rho, x_a, kappa: float, x_b=None) -> np.ndarray:
    """Whether rho (3, n) is a state of the mixture: |p_k| < 1 and |rho_0| below the largest
    dipolar order the species can hold at those polarizations (x_a, x_b > 0)."""
    r = np.asarray(rho, float)
    x_b = _second(x_a, x_b)
    pa, pb = r[1] / x_a, r[2] / x_b
    ok = (np.abs(pa) < 1) & (np.abs(pb) < 1)
    room = x_a * np.sqrt(np.clip(1 - pa ** 2, 0, None)) + kappa * x_b * np.sqrt(np.clip(1 - pb ** 2, 0, None))
    return ok & (np.abs(r[0]) < room)


def potentials(rho, x_a, kappa: float, tol: float = 1e-13, max_iterations: int = 200, x_b=None
               ) -> np.ndarray:
    """Omega with density(Omega) = rho (3, n): damped Newton on the strictly convex
    f(Omega) = psi(Omega) + Omega . rho (gradient rho - density, Hessian -C)."""
    r = np.asarray(rho, float).reshape(3, -1)
    if not np.all(admissible(r, x_a, kappa, x_b)):
        raise ValueError("rho is not a state of the two-species mixture (|p_k| < 1 and the "
                         "dipolar order within what the species can hold)")
    Om = np.zeros_like(r)

    def f(O):
        return psi(O, x_a, kappa, x_b) + np.sum(O * r, axis=0)

    for _ in range(max_iterations):
        g = r - density(Om, x_a, kappa, x_b)                      # grad f
        H = -np.moveaxis(covariance(Om, x_a, kappa, x_b), -1, 0)  # (n, 3, 3), SPD
        step = -np.linalg.solve(H, g.T[..., None])[..., 0].T
        # converged: the residual at round-off, or a Newton step below round-off of Omega
        if np.all((np.max(np.abs(g), axis=0) < tol)
                  | (np.max(np.abs(step), axis=0) < 1e-14 * (1 + np.max(np.abs(Om), axis=0)))):
            return Om
        t = np.ones(r.shape[1])
        f0 = f(Om)
        slope = np.sum(g * step, axis=0)
        # Armijo backtracking per node; a step whose predicted decrease is below the round-off
        # of f (the quadratic-convergence tail) is taken whole
        tail = -slope < 1e-12 * (1 + np.abs(f0))
        for _ in range(60):
            trial = Om + t * step
            bad = (f(trial) > f0 + 1e-4 * t * slope) & ~tail
            if not np.any(bad):
                break
            t = np.where(bad, 0.5 * t, t)
        Om = Om + t * step
    raise ValueError("potentials: Newton did not converge (a state too close to the bound?)")


def mode_rates(Omega_bar, x_a: float, kappa: float, rates, x_b=None) -> tuple[np.ndarray, np.ndarray]:
    """Small-amplitude modes in a uniform field about the uniform state Omega_bar (theory note
    3.4): (m, e) with (Sigma C Sigma) e = m C e; a cosine mode of wavenumber k decays as
    exp(-Gamma k^2 m t). Columns of e are C-orthonormal (e^T (-C) e = I)."""
    from scipy.linalg import eigh

    C = covariance(np.asarray(Omega_bar, float), x_a, kappa, x_b)
    S = np.diag(np.sqrt(np.asarray(rates, float)))
    m, e = eigh(-(S @ C @ S), -C)
    return m, e


class TwoSpeciesEquilibrium(NamedTuple):
    """The equilibrium of the conserved totals (theory note 1.6 and 3.2)."""

    theta: float          #: the common dipolar variable beta mu_a B_da (species b's: kappa theta)
    omega_a0: float       #: omega_a at B = B_ref
    omega_b0: float       #: omega_b at B = B_ref
    B_ref: float          #: the reference field of omega_a0, omega_b0 (T)
    Omega: np.ndarray     #: (3, n) entropy variables at the points
    rho: np.ndarray       #: (3, n) the state (rho_0, x_a p_a, x_b p_b) at the points


def equilibrium_from_totals(B, weights, B_da: float, x_a, kappa: float, mu_ratio: float,
                            totals, B_ref: float | None = None, *, x_b=None, referred: bool = False,
                            tol: float = 1e-12, max_iterations: int = 200) -> TwoSpeciesEquilibrium:
    r"""The maximum of the total entropy sum_i w_i s(rho_i) at given conserved totals.

    ``B`` (T) and ``weights`` w_i > 0 at n points (the lumped weights int Delta phi_i of the
    mixture), ``totals`` = (T_a, T_b, T_E), the dimensionless totals sum_i w_i (A_i rho_i)
    with the map of theory note 3.2 divided by its row scales (mu_a, mu_b, mu_a B_da):

        T_a = sum w x_a p_a,   T_b = sum w x_b p_b,
        T_E = sum w (rho_0 - (B/B_da) x_a p_a - mu_ratio (B/B_da) x_b p_b),

    ``mu_ratio`` = mu_b/mu_a = gamma_b/gamma_a, ``kappa`` = mu_b B_db/(mu_a B_da).
    ``x_a``, ``x_b`` (default 1 - x_a): the species fractions, numbers or one per point
    (densities that vary in space, theory note 3.6; each > 0). ``referred``: T_E is already the
    energy referred to B_ref, T_E + (B_ref/B_da)(T_a + mu_ratio T_b) (what the framework
    reports with B_ref = B0, theory note 1.6).

    Method (theory note 1.6): zero entropy production needs the potentials of the conserved
    densities lambda = A^-T Omega uniform, i.e. Omega_i = (theta, omega_a0 - theta b_i,
    omega_b0 - mu_ratio theta b_i) with b_i = (B_i - B_ref)/B_da; the constant
    p = (theta, omega_a0, omega_b0) minimises the strictly convex dual
    Phi(p) = sum_i w_i psi(Omega_i(p)) + p . y, whose gradient is y minus the totals of the
    state Omega(p) (y: the totals referred to B_ref). Damped Newton (Armijo backtracking on
    Phi: globally convergent when the totals are attainable). ``B_ref`` defaults to the
    weighted mean of B (it only conditions the problem: T_E + (B_ref/B_da)(T_a + mu_ratio T_b)
    is the energy referred to it).
    """
    Bv = np.asarray(B, float).ravel()
    w = np.asarray(weights, float).ravel()
    if Bv.shape != w.shape or w.size == 0:
        raise ValueError("B and weights must be 1-D arrays of the same, non-zero length")
    if not np.all(w > 0) or not np.all(np.isfinite(w)):
        raise ValueError("weights must be positive and finite")
    x_b = _second(x_a, x_b)
    x_a = np.asarray(x_a, float)
    if not (np.all(x_a > 0) and np.all(x_b > 0) and B_da > 0 and kappa > 0 and mu_ratio > 0):
        raise ValueError("need x_a, x_b > 0 (0 < x_a < 1 for one fraction) and B_da, kappa, mu_ratio > 0")
    W = float(w.sum())
    if B_ref is None:
        B_ref = float(np.dot(w, Bv) / W)
    b = (Bv - B_ref) / B_da
    T_a, T_b, T_E = (float(t) for t in totals)
    W_a, W_b = float(np.sum(w * x_a)), float(np.sum(w * x_b))
    if not (abs(T_a) < W_a and abs(T_b) < W_b):
        raise ValueError("the moments are not attainable: |p_k| < 1 needs |T_a| < sum w x_a "
                         "and |T_b| < sum w x_b")
    # y: (energy referred to B_ref, T_a, T_b), the gradient of -sum w psi(Omega(p)) at the solution
    y = np.array([T_E if referred else T_E + (B_ref / B_da) * (T_a + mu_ratio * T_b), T_a, T_b])
    # Omega_i = M_i p with M_i = [[1, 0, 0], [-b_i, 1, 0], [-mu_ratio b_i, 0, 1]]
    M = np.zeros((b.size, 3, 3))
    M[:, 0, 0] = M[:, 1, 1] = M[:, 2, 2] = 1.0
    M[:, 1, 0] = -b
    M[:, 2, 0] = -mu_ratio * b

    def state(p):
        return np.einsum("nij,j->in", M, p)

    def objective(p):
        return float(np.dot(w, psi(state(p), x_a, kappa, x_b))) + float(p @ y)

    def gradient(p):
        rho = density(state(p), x_a, kappa, x_b)
        return y - np.einsum("nij,in,n->j", M, rho, w)

    def hessian(p):
        C = covariance(state(p), x_a, kappa, x_b)                 # (3, 3, n)
        return -np.einsum("nia,ijn,njb,n->ab", M, C, M, w)

    scale = np.array([np.dot(w, np.sqrt(1 + b * b) * (1 + kappa)), W, W])
    p = np.zeros(3)
    for _ in range(max_iterations):
        g = gradient(p)
        if np.all(np.abs(g) < tol * scale):
            Om = state(p)
            return TwoSpeciesEquilibrium(float(p[0]), float(p[1]), float(p[2]), float(B_ref), Om,
                                         density(Om, x_a, kappa, x_b))
        step = -np.linalg.solve(hessian(p), g)
        # a Newton step from far away (the Hessian of a saturating psi is small there) is
        # capped: |theta b|, |omega| change by at most 4 per iteration
        size = max(abs(step[0]) * (1 + np.abs(b).max() * max(1.0, mu_ratio)), abs(step[1]), abs(step[2]))
        step *= min(1.0, 4.0 / size)
        f0, slope, t = objective(p), float(g @ step), 1.0
        for _ in range(60):
            with np.errstate(over="ignore", invalid="ignore"):
                f = objective(p + t * step)
            if (np.isfinite(f) and f <= f0 + 1e-4 * t * slope) or -slope < 1e-14 * (1 + abs(f0)):
                break
            t *= 0.5
        p = p + t * step
    raise ValueError("equilibrium_from_totals: Newton did not converge (totals not attainable: "
                     "|energy| too large for these moments and this field range?)")
