r"""The 1-D spin-resistance network of a lateral spin valve with a middle absorber wire.

docs/theory/spin_orbit_transport.md section 7 (spin absorption): an injector F1 and a detector
F2 on a non-magnetic wire N, and optionally a wire M (a heavy metal) in contact with N between
them, which absorbs spin by spin flip. In the thin-wire limit (widths and thicknesses of N much
smaller than lambda_N) N is a 1-D diffusive line and every other element a lumped spin
resistance. Conventions of :mod:`fem_spin.analytic.spintronics` (physics.md 3.1): potentials in
volts, spin accumulation mu_s = mu_up - mu_dn, spin current I_s = I_up - I_dn in amperes,
spin resistances as Takahashi & Maekawa (Phys. Rev. B 67, 052409 (2003)) define them:

* N, infinite in both directions: mu_s'' = mu_s / lambda_N^2, R_N = rho_N lambda_N / A_N. A
  spin current I_k injected at x_k gives mu_s(x) = R_N I_k exp(-|x - x_k| / lambda_N) (half of
  it flows each way: each half-line has the spin conductance 1/(2 R_N)).
* F (semi-infinite branch of cross-section A_J, the junction area, bulk polarization p_F),
  R_F = rho_F lambda_F / A_J: a charge current I from F into N carries the spin current
  I_s = p_F I - (1 - p_F^2) mu_F / (2 R_F) (two-current model, j_s = P j - (1 - P^2)(sigma/2)
  grad mu_s). The spin resistance of the note, rho_F lambda_F / ((1 - p_F^2) A_J), is
  R_F / (1 - p_F^2).
* A contact between F and N (optional: R_i = 0 is transparent) with resistance R_i and
  polarization P_J: I_s = P_J I + (1 - P_J^2)(mu_F - mu_N) / (2 R_i). F and its contact in
  series give I_s = s I - G mu_N with an effective polarization s and spin conductance G.
* M (absorber) at x_M: a lumped branch to zero accumulation, R_M = rho_M lambda_M /
  (A_M tanh(t_M / lambda_M)), A_M = w_N w_M the N/M contact area and t_M the thickness of M
  (the spin current entering M decays across t_M with no flux through its far face), which
  takes I_s = -mu_N(x_M) / (2 R_M) from N -- the same branch convention as F's.

The node equations (a few linear equations) are solved as they stand; no closed form is
transcribed. The detector F2 carries no charge current; its voltage against the far end of N
(where mu_s = 0 and N carries no charge current) is V = (p_F / 2) mu_F - (P_J / 2)(mu_F - mu_N),
which reverses with F2's magnetization, so Delta R_NL = R_P - R_AP = 2 V / I. Without M this is
Takahashi–Maekawa's formula (:func:`fem_spin.analytic.spintronics.takahashi_maekawa`) exactly.

Limits (tested): eta = Delta R_NL(with M) / Delta R_NL(without) -> 1 as R_M -> infinity and
-> 0 as R_M -> 0 (an ideal sink at x_M cuts the line: nothing drives the accumulation beyond
it); with tunnel contacts on both electrodes eta = 2 R_M / (2 R_M + R_N) wherever M sits
between them.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["LateralSpinValveNetwork", "NetworkSolution", "absorber_spin_resistance"]


def absorber_spin_resistance(resistivity: float, spin_diffusion_length: float, contact_area: float,
                             thickness: float) -> float:
    """R_M = rho_M lambda_M / (A_M tanh(t_M / lambda_M)) [Ohm] (docs/theory/spin_orbit_transport.md
    section 7): a wire of thickness t_M in contact with N over the area A_M = w_N w_M."""
    for name, value in (("resistivity", resistivity), ("spin_diffusion_length", spin_diffusion_length),
                        ("contact_area", contact_area), ("thickness", thickness)):
        if not (value > 0 and math.isfinite(value)):
            raise ValueError(f"{name}: must be > 0 and finite (got {value!r})")
    return resistivity * spin_diffusion_length / (contact_area * math.tanh(thickness / spin_diffusion_length))


@dataclasses.dataclass(frozen=True)
class NetworkSolution:
    """The solved network for 1 A injected from F1 into N (parallel configuration).

    ``positions`` x of the nodes (F1, F2[, M]) [m]; ``spin_accumulation`` mu_s of N at the
    nodes [V]; ``spin_currents`` the spin current each branch injects into N [A];
    ``detector_voltage`` V of F2 against the far end of N [V]."""

    positions: np.ndarray
    spin_accumulation: np.ndarray
    spin_currents: np.ndarray
    detector_voltage: float
    R_N: float
    lambda_N: float

    def spin_accumulation_along(self, x: ArrayLike) -> np.ndarray:
        """mu_s(x) in N [V per A injected] (a sum of the nodes' exponentials)."""
        x = np.asarray(x, dtype=float)
        kernel = np.exp(-np.abs(x[..., None] - self.positions) / self.lambda_N)
        return self.R_N * kernel @ self.spin_currents


@dataclasses.dataclass(frozen=True)
class LateralSpinValveNetwork:
    """F1 at x = 0, F2 at x = ``separation``, optional absorber M at ``absorber_position``
    (default the midpoint). Resistances in Ohm, lengths in m (see the module docs).

    ``R_N`` = rho_N lambda_N / A_N, ``R_F`` = rho_F lambda_F / A_J (Takahashi–Maekawa's),
    ``p_F`` the ferromagnets' bulk polarization, ``R_M`` the absorber's spin resistance
    (``math.inf``: no absorber), ``R_1``, ``R_2`` the contact resistances (0: transparent)
    with polarizations ``P_J1``, ``P_J2``."""

    separation: float
    lambda_N: float
    R_N: float
    R_F: float
    p_F: float
    R_M: float = math.inf
    absorber_position: float | None = None
    R_1: float = 0.0
    R_2: float = 0.0
    P_J1: float = 0.0
    P_J2: float = 0.0

    def __post_init__(self) -> None:
        for name in ("separation", "lambda_N", "R_N", "R_F"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name}: must be > 0 and finite (got {value!r})")
        if not self.R_M > 0:
            raise ValueError(f"R_M: must be > 0 (math.inf: no absorber; got {self.R_M!r})")
        for name in ("R_1", "R_2"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"{name}: must be >= 0 and finite (got {value!r})")
        for name in ("p_F", "P_J1", "P_J2"):
            if not abs(getattr(self, name)) < 1:
                raise ValueError(f"{name}: must satisfy |P| < 1 (got {getattr(self, name)!r})")
        x = self.absorber_position
        if x is not None and not 0 < x < self.separation:
            raise ValueError(f"absorber_position: must lie between the electrodes, 0 < x < "
                             f"{self.separation:g} m (got {x!r})")

    # ---------------------------------------------------------------- the lumped branches
    def _electrode(self, R_i: float, P_J: float) -> tuple[float, float, float, float]:
        """(s, G, g_F, g_i) of an electrode: I_s into N = s I - G mu_N; g_F = (1 - p_F^2)/(2 R_F)
        and g_i = (1 - P_J^2)/(2 R_i) (inf when transparent) are the two spin conductances
        in series."""
        g_F = (1.0 - self.p_F**2) / (2.0 * self.R_F)
        if R_i == 0.0:
            return self.p_F, g_F, g_F, math.inf
        g_i = (1.0 - P_J**2) / (2.0 * R_i)
        return (P_J * g_F + self.p_F * g_i) / (g_F + g_i), g_F * g_i / (g_F + g_i), g_F, g_i

    @property
    def has_absorber(self) -> bool:
        return math.isfinite(self.R_M)

    def without_absorber(self) -> "LateralSpinValveNetwork":
        return dataclasses.replace(self, R_M=math.inf)

    # ---------------------------------------------------------------- solution
    def solve(self) -> NetworkSolution:
        """Node spin currents from (1 + diag(G) R_N E) I_s = s I_c, E_jk = exp(-|x_j - x_k|/lambda_N),
        for I_c = 1 A into N at F1 (parallel configuration)."""
        s1, G1, _, _ = self._electrode(self.R_1, self.P_J1)
        s2, G2, g_F2, g_i2 = self._electrode(self.R_2, self.P_J2)
        positions = [0.0, self.separation]
        drive, conductance = [s1, 0.0], [G1, G2]
        if self.has_absorber:
            positions.append(0.5 * self.separation if self.absorber_position is None
                             else float(self.absorber_position))
            drive.append(0.0)
            conductance.append(1.0 / (2.0 * self.R_M))
        x = np.asarray(positions)
        E = np.exp(-np.abs(x[:, None] - x[None, :]) / self.lambda_N)
        system = np.eye(len(x)) + np.asarray(conductance)[:, None] * self.R_N * E
        currents = np.linalg.solve(system, np.asarray(drive))
        mu = self.R_N * E @ currents
        mu_N2 = mu[1]
        # detector: mu_F from the spin current continuity through its contact (no charge current)
        mu_F2 = mu_N2 if math.isinf(g_i2) else g_i2 * mu_N2 / (g_F2 + g_i2)
        voltage = 0.5 * self.p_F * mu_F2 - 0.5 * self.P_J2 * (mu_F2 - mu_N2)
        return NetworkSolution(x, mu, currents, float(voltage), self.R_N, self.lambda_N)

    def delta_R(self) -> float:
        """Delta R_NL = R_P - R_AP [Ohm]: reversing F2 (p_F and P_J2 of the detector) reverses V."""
        return 2.0 * self.solve().detector_voltage

    def absorption_ratio(self) -> float:
        """eta = Delta R_NL(with M) / Delta R_NL(without M)."""
        return self.delta_R() / self.without_absorber().delta_R()
