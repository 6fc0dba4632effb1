r"""Reference functions for the two-quantity Onsager magnetization-transport model (physics.md 2).

Pure numpy (scipy inside :func:`equilibrium_from_totals` and :func:`solve_1d` only), no
dolfinx: the thermodynamics of one spin species with two conserved quantities, its
equilibria (Langevin / Fenske limits) and an independent 1-D finite-volume solver of the
nonlinear, semi-linear and linear transport equations. These are what the finite-element
model is tested against.

Conventions (physics.md 2.1), used by every function here
---------------------------------------------------------
* State ("e-basis") :math:`\rho = (\rho_1, \rho_2)`, :math:`|\rho| < 1`;
  :math:`\rho_2` is the polarization, :math:`\rho_1` the dipolar energy density over
  :math:`\mu\Delta B_d`. Arrays of points have shape ``(2, n)`` (or ``(2,)`` for one
  point; generally ``(2, ...)``); component index first.
* Entropy per spin (units of :math:`k_B`), :math:`x = |\rho|`:

  .. math:: s(x) = \ln 2 - \tfrac{1+x}{2}\ln(1+x) - \tfrac{1-x}{2}\ln(1-x).

* Potentials (inverse spin temperatures) and their inverse:

  .. math:: \Omega = \partial s/\partial\rho = -\operatorname{artanh}(|\rho|)\,\rho/|\rho|,
            \qquad \rho = -\tanh(|\Omega|)\,\Omega/|\Omega|.

* :math:`\psi(\Omega) = \ln(2\cosh|\Omega|)` is the log-partition function:
  :math:`\rho = -\nabla_\Omega\psi`, :math:`C = -\nabla_\Omega^2\psi` and
  :math:`s = \psi + \Omega\cdot\rho` (Legendre pair).
* Covariance, :math:`w = |\Omega|`, :math:`n = \Omega/w`:

  .. math:: C = \partial\rho/\partial\Omega = -\operatorname{sech}^2(w)\, n n^T
                - \frac{\tanh w}{w}(I - n n^T), \qquad C(0) = -I.

* Equilibrium (zero generalised gradient, physics.md 2.4, paper Eq. 24):
  :math:`\Omega_1 = \theta`, :math:`\Omega_2 = \omega_0 - \theta (B - B_{ref})/B_d`.
* Discrete totals over points with positive weights :math:`w_i` (e.g. lumped nodal
  volumes times the spin density :math:`\Delta`), **without** the factors
  :math:`\mu` and :math:`k_B`:

  .. math:: M = \sum_i w_i\rho_{2,i},\quad
            E = \sum_i w_i (B_d\rho_{1,i} - B_i\rho_{2,i}),\quad
            S = \sum_i w_i\, s(|\rho_i|).

  The physical moment, energy and entropy are :math:`\mu M`, :math:`\mu E`,
  :math:`k_B S` (with :math:`w_i = \Delta_i V_i`).
* Transport (physics.md 2.2-2.3), :math:`j_i = -\Gamma K_i`, :math:`K = C G`,
  :math:`G_1 = \partial_x\Omega_1`, :math:`G_2 = \partial_x\Omega_2 + \Omega_1 B'/B_d`:

  .. math:: \Delta\,\partial_t\rho_1 = -\partial_x(\Delta j_1) + \Delta j_2 B'/B_d,
            \qquad \Delta\,\partial_t\rho_2 = -\partial_x(\Delta j_2).

  SI units: x in m, B and B_d in T, :math:`\Gamma` in m^2/s, t in s (any consistent
  units work: only :math:`B/B_d` and :math:`\Gamma t/x^2` enter).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "entropy_per_spin",
    "psi",
    "potentials",
    "density",
    "covariance",
    "equilibrium",
    "equilibrium_from_totals",
    "total_moment",
    "total_energy",
    "total_entropy",
    "langevin_polarization",
    "fenske_profile",
    "FenskeMapping",
    "langevin_fenske_mapping",
    "FVSolution1D",
    "solve_1d",
]

_SMALL = 1e-3  # below this |rho| or |Omega| the series expansions are used (error < 1e-24)


# --------------------------------------------------------------------------------------
# Thermodynamics of one spin-1/2 species with two conserved quantities (physics.md 2.1)
# --------------------------------------------------------------------------------------


def _norm(v: np.ndarray) -> np.ndarray:
    return np.sqrt(v[0] ** 2 + v[1] ** 2)


def _check_state(rho: ArrayLike, name: str = "rho") -> np.ndarray:
    r = np.asarray(rho, float)
    if r.ndim == 0 or r.shape[0] != 2:
        raise ValueError(f"{name} must have shape (2,) or (2, n); got {r.shape}")
    return r


def entropy_per_spin(x: ArrayLike) -> float | np.ndarray:
    r"""Entropy per spin :math:`s(x)` in units of :math:`k_B`, :math:`x = |\rho| \le 1`.

    :math:`s(x) = \ln 2 - \frac{1+x}{2}\ln(1+x) - \frac{1-x}{2}\ln(1-x)`
    (physics.md 2.1, paper Eq. 16); :math:`s(0) = \ln 2`, :math:`s(1) = 0`.
    """
    xa = np.abs(np.asarray(x, float))
    if np.any(xa > 1.0):
        raise ValueError("entropy_per_spin: |rho| must be <= 1")
    one_m = 1.0 - xa
    with np.errstate(divide="ignore", invalid="ignore"):
        tail = np.where(one_m > 0.0, one_m * np.log(np.where(one_m > 0.0, one_m, 1.0)), 0.0)
    s = math.log(2.0) - 0.5 * ((1.0 + xa) * np.log1p(xa) + tail)
    return float(s) if np.ndim(x) == 0 else s


def psi(Omega: ArrayLike) -> float | np.ndarray:
    r"""Log-partition function :math:`\psi(\Omega) = \ln(2\cosh|\Omega|)` (physics.md 2.1).

    :math:`\rho = -\nabla_\Omega\psi`, :math:`C = -\nabla^2_\Omega\psi`; evaluated as
    :math:`w + \ln(1 + e^{-2w})` (no overflow). ``Omega`` has shape ``(2, ...)``.
    """
    Om = _check_state(Omega, "Omega")
    w = _norm(Om)
    out = w + np.log1p(np.exp(-2.0 * w))
    return float(out) if out.ndim == 0 else out


def _artanh_over_x(x: np.ndarray) -> np.ndarray:
    """artanh(x)/x with the series 1 + x^2/3 + x^4/5 + x^6/7 near 0."""
    small = x < _SMALL
    xs = np.where(small, 1.0, x)
    with np.errstate(divide="ignore"):
        direct = np.arctanh(xs) / xs
    x2 = x * x
    series = 1.0 + x2 * (1.0 / 3.0 + x2 * (1.0 / 5.0 + x2 / 7.0))
    return np.where(small, series, direct)


def _tanh_over_w(w: np.ndarray) -> np.ndarray:
    """tanh(w)/w with the series 1 - w^2/3 + 2 w^4/15 - 17 w^6/315 near 0."""
    small = w < _SMALL
    ws = np.where(small, 1.0, w)
    direct = np.tanh(ws) / ws
    w2 = w * w
    series = 1.0 + w2 * (-1.0 / 3.0 + w2 * (2.0 / 15.0 - w2 * 17.0 / 315.0))
    return np.where(small, series, direct)


def _sech2(w: np.ndarray) -> np.ndarray:
    """sech^2(w) = 4 e^{-2w}/(1 + e^{-2w})^2 (w >= 0, no overflow)."""
    e = np.exp(-2.0 * w)
    return 4.0 * e / (1.0 + e) ** 2


def potentials(rho: ArrayLike) -> np.ndarray:
    r"""Potentials :math:`\Omega = -\operatorname{artanh}(|\rho|)\,\rho/|\rho|` (physics.md 2.1).

    ``rho`` has shape ``(2, ...)``; exact at :math:`\rho = 0` (series, no 0/0) and
    accurate up to :math:`|\rho| \to 1` (infinite at :math:`|\rho| = 1`). Raises
    ValueError for :math:`|\rho| > 1`.
    """
    r = _check_state(rho)
    x = _norm(r)
    if np.any(x > 1.0):
        raise ValueError(f"potentials: |rho| must be < 1 (max {float(np.max(x))!r})")
    with np.errstate(invalid="ignore"):
        return -_artanh_over_x(x) * r


def density(Omega: ArrayLike) -> np.ndarray:
    r"""State :math:`\rho = -\tanh(|\Omega|)\,\Omega/|\Omega|` (inverse of :func:`potentials`).

    ``Omega`` has shape ``(2, ...)``; exact at 0 (series), :math:`|\rho| < 1` always
    (up to rounding: :math:`\tanh w` rounds to 1 for :math:`w \gtrsim 19`).
    """
    Om = _check_state(Omega, "Omega")
    return -_tanh_over_w(_norm(Om)) * Om


def covariance(Omega: ArrayLike) -> np.ndarray:
    r"""Covariance :math:`C = \partial\rho/\partial\Omega`, shape ``(2, 2, ...)`` (physics.md 2.1).

    :math:`C = -\operatorname{sech}^2(w)\,nn^T - \frac{\tanh w}{w}(I - nn^T)`, written as
    :math:`C = -\frac{\tanh w}{w} I + g(w)\,\Omega\Omega^T` with
    :math:`g = (\tanh(w)/w - \operatorname{sech}^2 w)/w^2` (series
    :math:`2/3 - 8w^2/15 + 34 w^4/105` for small w), so :math:`C(0) = -I` without 0/0.
    Symmetric negative definite for every finite :math:`\Omega`.
    """
    Om = _check_state(Omega, "Omega")
    w = _norm(Om)
    t_w = _tanh_over_w(w)
    small = w < 1e-2
    ws = np.where(small, 1.0, w)
    direct = (np.tanh(ws) / ws - _sech2(ws)) / ws**2
    w2 = w * w
    series = 2.0 / 3.0 + w2 * (-8.0 / 15.0 + w2 * 34.0 / 105.0)
    g = np.where(small, series, direct)
    C = np.empty((2, 2) + Om.shape[1:])
    C[0, 0] = -t_w + g * Om[0] * Om[0]
    C[1, 1] = -t_w + g * Om[1] * Om[1]
    C[0, 1] = C[1, 0] = g * Om[0] * Om[1]
    return C


# --------------------------------------------------------------------------------------
# Totals and equilibria (physics.md 2.2, 2.4)
# --------------------------------------------------------------------------------------


def total_moment(rho: ArrayLike, weights: ArrayLike) -> float | np.ndarray:
    r""":math:`M = \sum_i w_i\rho_{2,i}` (physics.md 2.2; physical moment is :math:`\mu M`).

    ``rho`` has shape ``(..., 2, n)`` (e.g. a time series), ``weights`` shape ``(n,)``.
    """
    r = np.asarray(rho, float)
    return np.sum(np.asarray(weights, float) * r[..., 1, :], axis=-1)


def total_energy(rho: ArrayLike, weights: ArrayLike, B: ArrayLike,
                 B_d: float) -> float | np.ndarray:
    r""":math:`E = \sum_i w_i (B_d\rho_{1,i} - B_i\rho_{2,i})` in T (physical: :math:`\mu E`).

    physics.md 2.1/2.2: dipolar plus Zeeman energy. Shapes as in :func:`total_moment`.
    """
    r = np.asarray(rho, float)
    w = np.asarray(weights, float)
    return np.sum(w * (B_d * r[..., 0, :] - np.asarray(B, float) * r[..., 1, :]), axis=-1)


def total_entropy(rho: ArrayLike, weights: ArrayLike) -> float | np.ndarray:
    r""":math:`S = \sum_i w_i s(|\rho_i|)` (units of :math:`k_B`; physics.md 2.2)."""
    r = np.asarray(rho, float)
    x = np.sqrt(r[..., 0, :] ** 2 + r[..., 1, :] ** 2)
    return np.sum(np.asarray(weights, float) * entropy_per_spin(x), axis=-1)


def equilibrium(B: ArrayLike, B_d: float, theta: float, omega0: float,
                B_ref: float) -> np.ndarray:
    r"""Equilibrium state at field values ``B`` (physics.md 2.4, paper Eq. 24).

    :math:`\Omega_1 = \theta`, :math:`\Omega_2 = \omega_0 - \theta (B - B_{ref})/B_d`,
    :math:`\rho = -\tanh(|\Omega|)\Omega/|\Omega|`. Returns shape ``(2,) + B.shape``.
    Zero generalised gradient: :math:`G = 0` for any field :math:`B(x)`.
    """
    Bv = np.asarray(B, float)
    Om = np.empty((2,) + Bv.shape)
    Om[0] = theta
    Om[1] = omega0 - theta * (Bv - B_ref) / B_d
    return density(Om)


def _attainability_margin(y: np.ndarray, w: np.ndarray, b: np.ndarray,
                          scale: np.ndarray) -> float:
    """min over unit u of (h(u) - u.y)/h(u), h the support function of the attainable set.

    The attainable totals y = sum_i w_i L_i rho_i (L_i rho = (rho1 - b_i rho2, rho2)),
    |rho_i| < 1, form an open convex set with support function h(u) = sum w_i |L_i^T u|;
    y lies inside iff the margin is > 0. Computed in coordinates scaled by ``scale``.
    """
    from scipy.optimize import minimize_scalar

    ys = y / scale

    def margin(phi: float | np.ndarray) -> np.ndarray:
        phi = np.atleast_1d(phi)
        u1 = np.cos(phi)[:, None] / scale[0]
        u2 = np.sin(phi)[:, None] / scale[1]
        h = np.sum(w * np.sqrt(u1**2 + (u2 - b * u1) ** 2), axis=1)
        return (h - (np.cos(phi) * ys[0] + np.sin(phi) * ys[1])) / h

    phis = np.linspace(0.0, 2.0 * np.pi, 721)[:-1]
    chunks = [margin(p) for p in np.array_split(phis, max(1, b.size * phis.size // 2_000_000))]
    vals = np.concatenate(chunks)
    k = int(np.argmin(vals))
    dphi = phis[1] - phis[0]
    res = minimize_scalar(lambda p: float(margin(p)[0]), bounds=(phis[k] - dphi, phis[k] + dphi),
                          method="bounded", options={"xatol": 1e-12})
    return float(min(vals[k], res.fun))


def equilibrium_from_totals(B: ArrayLike, weights: ArrayLike, B_d: float, moment: float,
                            energy: float, B_ref: float | None = None,
                            *, tol: float = 1e-13,
                            max_iter: int = 200) -> tuple[float, float, np.ndarray]:
    r"""The equilibrium with given discrete totals; returns ``(theta, omega0, rho)``.

    Finds :math:`(\theta, \omega_0)` of :func:`equilibrium` (physics.md 2.4) such that
    :func:`total_moment` = ``moment`` and :func:`total_energy` = ``energy`` for the
    points with field values ``B`` and positive ``weights`` (shape ``(n,)``; totals
    without :math:`\mu`). ``B_ref`` defaults to the weighted mean of ``B``; ``omega0``
    refers to it. ``rho`` has shape ``(2, n)``.

    Method: with :math:`b_i = (B_i - B_{ref})/B_d` and :math:`p = (\theta, \omega_0)`,
    :math:`\Omega_i = A_i p`, the totals are the gradient of the strictly convex
    :math:`\Phi(p) = \sum_i w_i\psi(A_i p)`:
    :math:`-\partial\Phi/\partial\omega_0 = M`,
    :math:`-\partial\Phi/\partial\theta = (E + B_{ref} M)/B_d`. So the solution is the
    unique minimiser of :math:`\Phi(p) + p\cdot y` and is found by damped Newton
    (backtracking on the convex objective; globally convergent) from the linearised
    (:math:`\rho \approx -\Omega`) solution. Totals outside the attainable set (the open
    convex set of :math:`y` reachable with :math:`|\rho_i| < 1`, tested via its support
    function) raise ValueError; :math:`|M| \ge \sum w` is reported separately.
    """
    Bv = np.asarray(B, float).ravel()
    w = np.asarray(weights, float).ravel()
    if Bv.shape != w.shape or w.size == 0:
        raise ValueError("B and weights must be 1-D arrays of the same, non-zero length")
    if not np.all(w > 0.0) or not np.all(np.isfinite(w)):
        raise ValueError("weights must be positive and finite")
    if not B_d > 0.0:
        raise ValueError("B_d must be positive")
    W = float(np.sum(w))
    if B_ref is None:
        B_ref = float(np.sum(w * Bv) / W)
    b = (Bv - B_ref) / B_d
    M = float(moment)
    y = np.array([(float(energy) + B_ref * M) / B_d, M])
    if not abs(M) < W:
        raise ValueError(f"equilibrium_from_totals: |moment| = {abs(M):.6g} must be below "
                         f"sum(weights) = {W:.6g} (|rho2| < 1 everywhere)")
    scale = np.array([float(np.sum(w * np.sqrt(1.0 + b * b))), W])
    margin = _attainability_margin(y, w, b, scale)
    if not margin > 1e-12:
        raise ValueError("equilibrium_from_totals: the totals (moment, energy) = "
                         f"({M:.6g}, {float(energy):.6g}) are not attainable with |rho| < 1 "
                         f"at these points (support-function margin {margin:.3g} <= 0): "
                         "|energy| is too large for this moment and field range")

    def state(p: np.ndarray) -> np.ndarray:
        Om = np.empty((2, b.size))
        Om[0] = p[0]
        Om[1] = p[1] - p[0] * b
        return Om

    def objective(p: np.ndarray) -> float:
        return float(np.sum(w * psi(state(p)))) + float(p @ y)

    def grad_hess(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        Om = state(p)
        rho = density(Om)
        g = y - np.array([np.sum(w * (rho[0] - b * rho[1])), np.sum(w * rho[1])])
        C = covariance(Om)
        # H = sum w A^T (-C) A, A = [[1, 0], [-b, 1]]
        c11, c12, c22 = -C[0, 0], -C[0, 1], -C[1, 1]
        H = np.empty((2, 2))
        H[0, 0] = np.sum(w * (c11 - 2.0 * b * c12 + b * b * c22))
        H[0, 1] = H[1, 0] = np.sum(w * (c12 - b * c22))
        H[1, 1] = np.sum(w * c22)
        return g, H, rho

    # linearised start: rho ~ -Omega  =>  (sum w A^T A) p = -y
    A0 = np.array([[np.sum(w * (1.0 + b * b)), -np.sum(w * b)], [-np.sum(w * b), W]])
    p = -np.linalg.solve(A0, y)
    F = objective(p)
    converged = False
    for _ in range(max_iter):
        g, H, rho = grad_hess(p)
        if np.all(np.abs(g) <= tol * scale):
            converged = True
            break
        d = -np.linalg.solve(H, g)
        slope = float(g @ d)
        t = 1.0
        while True:
            p_new = p + t * d
            F_new = objective(p_new)
            if F_new <= F + 1e-4 * t * slope + 1e-14 * (abs(F) + W):
                break
            t *= 0.5
            if t < 1e-12:
                break
        if t < 1e-12:  # no further decrease possible in floating point
            g, H, rho = grad_hess(p)
            break
        p, F = p_new, F_new
    g, _, rho = grad_hess(p)
    if not converged and not np.all(np.abs(g) <= 1e-9 * scale):
        raise ValueError("equilibrium_from_totals: no convergence (totals too close to the "
                         f"boundary of the attainable set?); scaled residual {np.abs(g) / scale}")
    return float(p[0]), float(p[1]), rho


# --------------------------------------------------------------------------------------
# Langevin and Fenske limits (physics.md 2.4, paper Eqs. 25, 39-41)
# --------------------------------------------------------------------------------------


def langevin_polarization(B: ArrayLike, B_d: float, theta: float, omega0: float,
                          B_ref: float) -> float | np.ndarray:
    r"""Small-:math:`\theta` limit :math:`\rho_2 = -\tanh\Omega_2` (paper Eq. 25, physics.md 2.4).

    :math:`\Omega_2 = \omega_0 - \theta (B - B_{ref})/B_d`. The full equilibrium
    :math:`\rho_2 = -\tanh(|\Omega|)\Omega_2/|\Omega|` differs by :math:`O(\theta^2)`.
    """
    Bv = np.asarray(B, float)
    out = -np.tanh(omega0 - theta * (Bv - B_ref) / B_d)
    return float(out) if out.ndim == 0 else out


def fenske_profile(r: ArrayLike, a: float, r0: float) -> float | np.ndarray:
    r"""Fenske separation profile :math:`\rho_2 = \tanh(a (r - r_0))` (paper Eq. 39a).

    ``r`` is the dimensionless coordinate :math:`\bar r = r |B'|/B_d` in the paper's use;
    the relative volatility is :math:`\alpha = (1 + a)/(1 - a)` (Eqs. 39b, 41). See
    :func:`langevin_fenske_mapping`.
    """
    out = np.tanh(a * (np.asarray(r, float) - r0))
    return float(out) if out.ndim == 0 else out


class FenskeMapping(NamedTuple):
    """Parameters of the Fenske profile equal to a Langevin law in a linear field."""

    a: float       #: Fenske slope in rbar = r |G|/B_d: a = theta sign(G)
    rbar0: float   #: zero crossing in rbar: omega0/a
    r0: float      #: zero crossing in r (same units as r): omega0 B_d/(theta G)
    alpha: float   #: relative volatility (1 + a)/(1 - a) (nan for |a| >= 1)


def langevin_fenske_mapping(theta: float, omega0: float, gradient: float,
                            B_d: float) -> FenskeMapping:
    r"""Map the Langevin law in a linear field onto the Fenske profile (physics.md 2.4).

    In :math:`B(r) = B_{ref} + G r` (``gradient`` :math:`G = B'`, r measured from the
    point where :math:`B = B_{ref}`, the reference of ``omega0``), the Langevin law is

    .. math:: \rho_2 = -\tanh(\omega_0 - \theta G r/B_d) = \tanh(a(\bar r - \bar r_0)),
              \quad \bar r = r|G|/B_d,\ a = \theta\,\mathrm{sgn}\,G,\ \bar r_0 = \omega_0/a,

    exactly: ``langevin_polarization(B_ref + G*r, B_d, theta, omega0, B_ref) ==
    fenske_profile(r*abs(G)/B_d, a, rbar0)``, equivalently
    ``fenske_profile(r, theta*G/B_d, r0)`` in physical coordinates. So the dipolar
    inverse temperature :math:`\theta` is the Fenske slope and
    :math:`\alpha = (1+a)/(1-a)` (paper Eq. 41 with :math:`\beta = a`). Note
    :math:`\bar r_0 = -\operatorname{artanh}(\rho_2(\bar r = 0))/a` is the zero crossing
    (paper Eq. 39b prints it without the minus sign). Requires :math:`\theta G \ne 0`
    (otherwise the profile is uniform: no separative transport).
    """
    if theta == 0.0 or gradient == 0.0:
        raise ValueError("langevin_fenske_mapping: theta and the gradient must be non-zero "
                         "(no separative effect otherwise: rho2 is uniform)")
    a = float(theta) * math.copysign(1.0, gradient)
    alpha = (1.0 + a) / (1.0 - a) if abs(a) < 1.0 else float("nan")
    return FenskeMapping(a=a, rbar0=float(omega0) / a,
                         r0=float(omega0) * B_d / (float(theta) * gradient), alpha=alpha)


# --------------------------------------------------------------------------------------
# Independent 1-D finite-volume solver (physics.md 2.2-2.3)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FVSolution1D:
    """Result of :func:`solve_1d`: cell-centred states at the requested times.

    ``rho`` has shape ``(len(t), 2, n)``; ``weights = h * Delta`` are the cell weights
    for :func:`total_moment`, :func:`total_energy`, :func:`total_entropy`, with ``B`` the
    cell-centre field used by the discretisation.
    """

    t: np.ndarray
    x: np.ndarray          #: cell centres
    h: np.ndarray          #: cell widths
    B: np.ndarray          #: field at the cell centres
    Delta: np.ndarray      #: spin density at the cell centres
    rho: np.ndarray        #: (len(t), 2, n)
    model: str
    nfev: int = 0
    njev: int = 0

    @property
    def weights(self) -> np.ndarray:
        return self.h * self.Delta


def _cell_values(v: float | ArrayLike | Callable | None, x: np.ndarray, name: str,
                 default: float | None = None) -> np.ndarray:
    if v is None:
        if default is None:
            raise ValueError(f"{name} is required")
        return np.full(x.shape, float(default))
    if callable(v):
        out = np.asarray(v(x), float)
    else:
        out = np.asarray(v, float)
    return np.broadcast_to(out, x.shape).astype(float)


def solve_1d(model: str, x_faces: ArrayLike, rho0: ArrayLike | Callable,
             B_func: Callable | ArrayLike, B_d: float, Gamma: float | ArrayLike,
             t_out: ArrayLike, Delta: float | ArrayLike | Callable | None = None,
             *, rtol: float = 1e-10, atol: float = 1e-12, max_step: float = np.inf,
             max_nfev: int = 200_000) -> FVSolution1D:
    r"""Cell-centred finite-volume solution of the 1-D transport equations (physics.md 2.2/2.3).

    ``model`` in {"nonlinear", "semilinear", "linear"}; no-flux boundaries at
    ``x_faces[0]`` and ``x_faces[-1]``; ``rho0`` an array ``(2, n)`` of cell values or a
    callable ``x -> (2, n)``; ``B_func`` a callable ``x -> B`` (or cell values);
    ``Gamma`` scalar (or one value per interior face); ``Delta`` spin density (None: 1;
    scalar, cell values or callable). Method of lines with scipy's BDF (``rtol``,
    ``atol`` on :math:`\rho`), block-tridiagonal Jacobian sparsity; unknowns
    :math:`\rho` interleaved per cell. Returns :class:`FVSolution1D` at ``t_out``
    (sorted, :math:`\ge 0`; the integration starts at t = 0). More than ``max_nfev``
    right-hand-side evaluations (a run-away, stiff blow-up) raise RuntimeError.

    Discretisation (cells i with centres :math:`x_i`, widths :math:`h_i`, interior faces
    f = i+1/2 with :math:`h_f = x_{i+1} - x_i`, :math:`\Delta B_f = B_{i+1} - B_i`,
    B at cell centres, :math:`\Delta_f` the mean of the two cells):

    * cell update :math:`h_i\Delta_i\dot\rho_i = -(F_{i+1/2} - F_{i-1/2}) + (S_i, 0)`,
      :math:`F_f = \Delta_f j_f`, :math:`F = 0` on the boundary faces;
    * exchange term :math:`S_i = \frac{1}{2B_d}(F_{2,i-1/2}\Delta B_{i-1/2}
      + F_{2,i+1/2}\Delta B_{i+1/2})`: each face's :math:`F_2 B' h_f/B_d` split half to
      each neighbour. Then :math:`B_d\sum_i S_i = \sum_f F_{2,f}\Delta B_f
      = -\sum_i B_i (F_{2,i+1/2} - F_{2,i-1/2})` (summation by parts, zero boundary
      fluxes), which cancels the Zeeman part exactly: discrete energy :math:`\sum h\Delta(B_d\rho_1 - B\rho_2)` and
      moment :math:`\sum h\Delta\rho_2` are invariants of the semi-discrete system for
      all three models (linear invariants, kept by BDF to rounding).
    * nonlinear: :math:`\Omega_i` = :func:`potentials` of the cell state,
      :math:`G_{1,f} = (\Omega_{1,i+1} - \Omega_{1,i})/h_f`,
      :math:`G_{2,f} = (\Omega_{2,i+1} - \Omega_{2,i})/h_f + \bar\Omega_{1,f}\Delta B_f/(h_f B_d)`
      with :math:`\bar\Omega_{1,f}` the mean of the two cells, :math:`C_f` = :func:`covariance`
      of the face-mean :math:`\Omega`, :math:`j_f = -\Gamma C_f G_f`. With this choice
      :math:`\frac{d}{dt}\sum_i h_i\Delta_i s(\rho_i) = -\sum_f h_f\Gamma\Delta_f G_f^T C_f G_f \ge 0`
      exactly (semi-discrete entropy inequality), and the discrete steady states are exactly
      the equilibria :func:`equilibrium` at the cell centres (:math:`G_f = 0`).
    * semilinear: :math:`j_{1,f} = -\Gamma\,\delta\rho_1/h_f`,
      :math:`j_{2,f} = -\Gamma\,\delta\rho_2/h_f + \Gamma (1 - \bar\rho_{2,f}^2)\bar\Omega_{1,f}\Delta B_f/(h_f B_d)`,
      :math:`\Omega_1 = -\rho_1\operatorname{artanh}|\rho_2|/|\rho_2|` per cell, bars = face means.
    * linear: :math:`j_{1,f} = -\Gamma\,\delta\rho_1/h_f`,
      :math:`j_{2,f} = -\Gamma(\delta\rho_2/h_f + \bar\rho_{1,f}\Delta B_f/(h_f B_d))`.

    The nonlinear model needs :math:`|\rho| < 1`; trial states of the time integrator are
    clipped radially to :math:`1 - 10^{-15}` inside the right-hand side only (fluxes stay
    conservative). The linear model has no such bound and none is imposed.
    """
    from scipy import sparse
    from scipy.integrate import solve_ivp

    if model not in ("nonlinear", "semilinear", "linear"):
        raise ValueError(f"model must be 'nonlinear', 'semilinear' or 'linear', got {model!r}")
    xf = np.asarray(x_faces, float).ravel()
    if xf.size < 3 or not np.all(np.diff(xf) > 0.0):
        raise ValueError("x_faces must be increasing with at least 3 entries (2 cells)")
    if not B_d > 0.0:
        raise ValueError("B_d must be positive")
    n = xf.size - 1
    x = 0.5 * (xf[1:] + xf[:-1])
    h = np.diff(xf)
    hf = np.diff(x)
    B = _cell_values(B_func, x, "B_func")
    Dc = _cell_values(Delta, x, "Delta", default=1.0)
    if not np.all(Dc > 0.0):
        raise ValueError("Delta must be positive")
    Df = 0.5 * (Dc[1:] + Dc[:-1])
    Gam = np.broadcast_to(np.asarray(Gamma, float), (n - 1,)).astype(float)
    if not np.all(Gam > 0.0):
        raise ValueError("Gamma must be positive")
    dB = np.diff(B) / B_d            # Delta B_f / B_d (dimensionless)
    mass = h * Dc
    r0 = np.asarray(rho0(x) if callable(rho0) else rho0, float)
    if r0.shape != (2, n):
        raise ValueError(f"rho0 must have shape (2, {n}); got {r0.shape}")
    if model == "nonlinear" and np.any(_norm(r0) >= 1.0):
        raise ValueError("nonlinear model: the initial state needs |rho| < 1")
    t_eval = np.asarray(t_out, float).ravel()
    if t_eval.size == 0 or np.any(t_eval < 0.0) or np.any(np.diff(t_eval) < 0.0):
        raise ValueError("t_out must be non-empty, sorted and >= 0")
    gd = Gam * Df                    # Gamma_f Delta_f
    clip = 1.0 - 1e-15

    def face_fluxes(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if model == "nonlinear":
            xr = _norm(r)
            if np.any(xr > clip):
                r = r * np.minimum(1.0, clip / np.maximum(xr, 1e-300))
            Om = potentials(r)
            G1 = np.diff(Om[0]) / hf
            O1f = 0.5 * (Om[0, 1:] + Om[0, :-1])
            G2 = (np.diff(Om[1]) + O1f * dB) / hf
            C = covariance(0.5 * (Om[:, 1:] + Om[:, :-1]))
            F1 = -gd * (C[0, 0] * G1 + C[0, 1] * G2)
            F2 = -gd * (C[1, 0] * G1 + C[1, 1] * G2)
        elif model == "semilinear":
            a2 = np.minimum(np.abs(r[1]), clip)
            O1 = -r[0] * _artanh_over_x(a2)
            O1f = 0.5 * (O1[1:] + O1[:-1])
            r2f = 0.5 * (r[1, 1:] + r[1, :-1])
            F1 = -gd * np.diff(r[0]) / hf
            F2 = gd * (-np.diff(r[1]) + (1.0 - r2f**2) * O1f * dB) / hf
        else:
            r1f = 0.5 * (r[0, 1:] + r[0, :-1])
            F1 = -gd * np.diff(r[0]) / hf
            F2 = -gd * (np.diff(r[1]) + r1f * dB) / hf
        return F1, F2

    calls = [0]

    def rhs(_t: float, yv: np.ndarray) -> np.ndarray:
        calls[0] += 1
        if calls[0] > max_nfev:
            raise RuntimeError(f"solve_1d ({model}): more than max_nfev = {max_nfev} "
                               f"right-hand-side evaluations (reached t = {_t:.6g})")
        r = yv.reshape(n, 2).T
        F1, F2 = face_fluxes(r)
        div1 = np.zeros(n)
        div2 = np.zeros(n)
        div1[:-1] -= F1
        div1[1:] += F1
        div2[:-1] -= F2
        div2[1:] += F2
        ex = 0.5 * F2 * dB           # F2_f Delta B_f / (2 B_d), to both neighbours
        div1[:-1] += ex
        div1[1:] += ex
        out = np.empty((n, 2))
        out[:, 0] = div1 / mass
        out[:, 1] = div2 / mass
        return out.ravel()

    blocks = sparse.diags([np.ones(n - 1), np.ones(n), np.ones(n - 1)], [-1, 0, 1])
    pattern = sparse.kron(blocks, np.ones((2, 2)), format="csc")
    if t_eval[-1] == 0.0:
        rho = np.repeat(r0[None], t_eval.size, axis=0)
        return FVSolution1D(t=t_eval, x=x, h=h, B=B, Delta=Dc, rho=rho, model=model)
    sol = solve_ivp(rhs, (0.0, float(t_eval[-1])), r0.T.ravel(), method="BDF",
                    t_eval=t_eval, rtol=rtol, atol=atol, jac_sparsity=pattern,
                    max_step=max_step)
    if not sol.success:
        raise RuntimeError(f"solve_1d ({model}): time integration failed: {sol.message}")
    rho = sol.y.T.reshape(t_eval.size, n, 2).transpose(0, 2, 1).copy()
    return FVSolution1D(t=sol.t, x=x, h=h, B=B, Delta=Dc, rho=rho, model=model,
                        nfev=int(sol.nfev), njev=int(sol.njev))
