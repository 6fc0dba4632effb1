r"""Spin Hall magnetoresistance of a metal film on a magnetic insulator (docs/theory/
spin_orbit_transport.md section 6): the exact 1-D film solution and Chen et al.'s closed forms.

Units and conventions are the note's (section 1): potentials U and spin accumulation S in
volts, currents in A/m^2, sigma in S/m, lambda and the thickness d in m, the mixing
conductance G = G_r + i G_i in S/m^2, m a unit vector, theta_SH dimensionless. The film
occupies 0 < z < d on the insulator (z = 0, boundary condition of section 5.1) with vacuum
at z = d; the in-plane field E drives the current.

* :func:`film_conductance` solves the note's 3 x 3 system exactly (any m, complex G, any
  theta) for the thickness-averaged in-plane conductivity tensor; :func:`film_resistivity`
  inverts it (rho_long = rho_xx, rho_trans = rho_yx, the transverse field of an open
  circuit per longitudinal current density: E_y = rho_yx j_x).
* :func:`chen_smr` gives Chen et al. (Phys. Rev. B 87, 144411 (2013)) Delta rho_0,
  Delta rho_1, Delta rho_2 (relative to rho), exact to O(theta^2); the exact solution reduces
  to them as theta -> 0 (tests/unit/test_analytic_spin_orbit.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["ChenSMR", "chen_smr", "film_conductance", "film_resistivity", "smr_resistivities",
           "mixing_operator"]


def mixing_operator(g_real: float, g_imag: float, m: ArrayLike) -> np.ndarray:
    """X = G_r (1 - m m^T) - G_i [m x] (S/m^2): the spin current out of the metal per spin
    accumulation at a magnetic-insulator surface, J_s . n = X S (note section 5.1; the sign
    of G_i is Chen et al.'s Eq. 8 with mu_s = -e S, which gives their Delta rho_2)."""
    m = np.asarray(m, dtype=float)
    m = m / np.linalg.norm(m)
    cross = np.array([[0.0, -m[2], m[1]], [m[2], 0.0, -m[0]], [-m[1], m[0], 0.0]])
    return g_real * (np.eye(3) - np.outer(m, m)) - g_imag * cross


def _profile(sigma: float, lam: float, theta: float, d: float, x: np.ndarray, field: np.ndarray):
    """(A, B) of S(z) = A cosh((z - d)/lambda) + B sinh((z - d)/lambda) for the in-plane field
    ``field`` = (E_x, E_y) (V/m). The z-flow of a-spins is -(sigma/2) S_a' + b_a with the spin
    Hall source b = theta sigma (a-hat x E)_z = theta sigma (E_y, -E_x, 0) (note section 6)."""
    ex, ey = field
    b = theta * sigma * np.array([ey, -ex, 0.0])
    c, s = math.cosh(d / lam), math.sinh(d / lam)
    B = 2.0 * lam * b / sigma                      # J^z_s(d) = 0 (vacuum)
    # J^z_s(0) = -X S(0) (outward normal -z): (sigma s/(2 lam) + c X) A = ((c - 1) + (2 lam s/sigma) X) b
    lhs = sigma * s / (2.0 * lam) * np.eye(3) + c * x
    rhs = ((c - 1.0) * np.eye(3) + (2.0 * lam * s / sigma) * x) @ b
    return np.linalg.solve(lhs, rhs), B, c, s


def film_conductance(sigma: float, lam: float, theta: float, d: float, g_real: float = 0.0,
                     g_imag: float = 0.0, m: ArrayLike = (1.0, 0.0, 0.0)) -> np.ndarray:
    """The thickness-averaged in-plane conductivity tensor [[s_xx, s_xy], [s_yx, s_yy]] (S/m) of
    the film: <j> = s E for a uniform in-plane field E, exact (the charge potential stays
    linear in x, y: j_c,z = 0 at every z, note section 6)."""
    x = mixing_operator(g_real, g_imag, m)
    out = np.zeros((2, 2))
    for k, field in enumerate((np.array([1.0, 0.0]), np.array([0.0, 1.0]))):
        a, b, c, s = _profile(sigma, lam, theta, d, x, field)
        jump = a - (a * c - b * s)                 # S(d) - S(0)
        # j_x = sigma E_x - theta (sigma/2) S_y',  j_y = sigma E_y + theta (sigma/2) S_x'
        out[0, k] = sigma * field[0] - theta * sigma * jump[1] / (2.0 * d)
        out[1, k] = sigma * field[1] + theta * sigma * jump[0] / (2.0 * d)
    return out


def film_resistivity(sigma: float, lam: float, theta: float, d: float, g_real: float = 0.0,
                     g_imag: float = 0.0, m: ArrayLike = (1.0, 0.0, 0.0)) -> tuple[float, float]:
    """(rho_long, rho_trans) (Ohm m) of the film, exact: rho = s^-1 of :func:`film_conductance`,
    rho_long = rho_xx and rho_trans = rho_yx (E_y = rho_yx j_x with j_y = 0)."""
    rho = np.linalg.inv(film_conductance(sigma, lam, theta, d, g_real, g_imag, m))
    return float(rho[0, 0]), float(rho[1, 0])


@dataclass(frozen=True)
class ChenSMR:
    """Chen et al.'s SMR coefficients relative to rho (dimensionless):
    rho_long = rho (1 + d0 + d1 (1 - m_y^2)), rho_trans = rho (d1 m_x m_y + d2 m_z)."""

    d0: float
    d1: float
    d2: float

    def rho_long(self, rho: float, m: ArrayLike) -> float:
        m = np.asarray(m, dtype=float) / np.linalg.norm(m)
        return rho * (1.0 + self.d0 + self.d1 * (1.0 - m[1] ** 2))

    def rho_trans(self, rho: float, m: ArrayLike) -> float:
        m = np.asarray(m, dtype=float) / np.linalg.norm(m)
        return rho * (self.d1 * m[0] * m[1] + self.d2 * m[2])


def chen_smr(sigma: float, lam: float, theta: float, d: float, g_real: float,
             g_imag: float = 0.0) -> ChenSMR:
    """Delta rho_0/rho, Delta rho_1/rho, Delta rho_2/rho of Chen et al. 2013 (Eqs. of their
    section III; the note's section 6 in its units):

        Delta rho_0/rho = -theta^2 (2 lambda/d) tanh(d/(2 lambda)),
        Delta rho_1/rho =  theta^2 (lambda/d) Re[2 lambda G tanh^2(d/2lambda)/(sigma + 2 lambda G coth(d/lambda))],
        Delta rho_2/rho = -theta^2 (lambda/d) Im[same]."""
    g = complex(g_real, g_imag)
    t = math.tanh(d / (2.0 * lam))
    ratio = 2.0 * lam * g * t * t / (sigma + 2.0 * lam * g / math.tanh(d / lam))
    pre = theta * theta * lam / d
    return ChenSMR(d0=-theta * theta * (2.0 * lam / d) * t, d1=pre * ratio.real, d2=-pre * ratio.imag)


def smr_resistivities(sigma: float, lam: float, theta: float, d: float, g_real: float,
                      g_imag: float, directions: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(rho_long, rho_trans) (Ohm m) of the exact 1-D film for each row of ``directions``."""
    rows = [film_resistivity(sigma, lam, theta, d, g_real, g_imag, m) for m in np.atleast_2d(directions)]
    return np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
