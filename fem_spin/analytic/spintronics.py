r"""Exact and closed-form 1-D results of the Valet-Fert spin-transport model (physics.md 3.1).

These are the references the finite-element Valet-Fert model is tested against, and
what the demos plot. Pure numpy (scipy only inside the fitting functions). SI units:
Ohm, Ohm m (resistivity), Ohm m^2 (area resistance), m, s, T, V, A/m^2.

Conventions (physics.md 3.1), used by every function here
---------------------------------------------------------
* Spin-resolved electrochemical potentials :math:`\mu_\uparrow, \mu_\downarrow` in volts;
  channel current densities :math:`j_s = -\sigma_s \nabla\mu_s` (conventional current:
  it flows from high to low :math:`\mu`). Charge current :math:`j = j_\uparrow + j_\downarrow`,
  spin current :math:`j_\uparrow - j_\downarrow`, spin accumulation
  :math:`\mu_s = \mu_\uparrow - \mu_\downarrow`.
* Per region :math:`\sigma_{\uparrow,\downarrow} = \sigma (1 \pm P)/2`, :math:`\sigma = 1/\rho`,
  i.e. :math:`\rho_{\uparrow,\downarrow} = 2\rho/(1 \pm P)`; in each homogeneous region
  :math:`\mu_s'' = \mu_s/\lambda^2` and the charge current is divergence free.
* A spin-dependent interface (tunnel barrier) has channel area resistances
  :math:`r_\uparrow, r_\downarrow` (Ohm m^2) with
  :math:`P_J = (r_\downarrow - r_\uparrow)/(r_\uparrow + r_\downarrow)` and
  :math:`RA = r_\uparrow r_\downarrow/(r_\uparrow + r_\downarrow)`, i.e.
  :math:`r_{\uparrow,\downarrow} = 2 RA/(1 \pm P_J)` -- the same relation as between
  bulk resistivities and bulk polarization. Each channel current is continuous through
  it and each channel potential drops by :math:`r_s j_s` in the direction of
  :math:`j_s`, so :math:`\mu_s(+) - \mu_s(-) = -(r_\uparrow j_\uparrow - r_\downarrow j_\downarrow)`.
  For lumped contacts (nonlocal valves) the same holds with resistances in Ohm.
* Majority ("up") is the channel of larger conductance: :math:`P, P_J > 0` means the
  up channel conducts better. A charge current :math:`I > 0` flowing *from* a
  ferromagnet (or contact) with :math:`P_J > 0` *into* a normal metal carries the spin
  current :math:`P_J I` into it and builds up :math:`\mu_s > 0` there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "BOHR_MAGNETON",
    "HBAR",
    "spin_resistance",
    "takahashi_maekawa",
    "takahashi_maekawa_tunnel_limit",
    "takahashi_maekawa_transparent_limit",
    "SpinDiffusionFit",
    "fit_spin_diffusion_length",
    "larmor_frequency",
    "hanle_nonlocal_resistance",
    "HanleFit",
    "fit_hanle",
    "Layer",
    "interface_resistances",
    "reverse_layer",
    "reverse_interface",
    "spin_memory_loss_layer",
    "MultilayerSolution",
    "solve_multilayer",
    "cpp_gmr",
]

BOHR_MAGNETON = 9.2740100783e-24  # J/T (CODATA 2018)
HBAR = 1.054571817e-34  # J s (exact, SI 2019)

Interface = tuple[float, float] | None


def _out(value: np.ndarray, *inputs: ArrayLike) -> float | np.ndarray:
    """A Python float when every input was a scalar, else the array."""
    if all(np.ndim(v) == 0 for v in inputs):
        return float(np.asarray(value))
    return value


# --------------------------------------------------------------------------------------
# Spin resistance and the Takahashi-Maekawa nonlocal spin-valve signal
# --------------------------------------------------------------------------------------


def spin_resistance(resistivity: ArrayLike, spin_diffusion_length: ArrayLike,
                    area: ArrayLike) -> float | np.ndarray:
    r"""Spin resistance :math:`R = \rho \lambda / A` in Ohm (physics.md 3.1).

    ``R_N = spin_resistance(rho_N, lambda_N, A_N)`` with :math:`A_N` the N-wire cross
    section; ``R_F = spin_resistance(rho_F, lambda_F, A_J)`` with :math:`A_J` the
    junction area (not the F-wire cross section), as in Takahashi-Maekawa.
    """
    r = np.asarray(resistivity, float) * np.asarray(spin_diffusion_length, float) \
        / np.asarray(area, float)
    return _out(r, resistivity, spin_diffusion_length, area)


def takahashi_maekawa(separation: ArrayLike, lambda_N: ArrayLike, R_N: ArrayLike,
                      R_F: ArrayLike, R_1: ArrayLike, R_2: ArrayLike, P_J1: ArrayLike,
                      P_J2: ArrayLike, p_F: ArrayLike) -> float | np.ndarray:
    r"""Nonlocal spin-valve signal :math:`\Delta R_s = R_P - R_{AP}` (Ohm), thin-wire limit.

    Takahashi & Maekawa, Phys. Rev. B 67, 052409 (2003); physics.md 3.1:

    .. math::

        \Delta R_s = \frac{4 R_N \prod_{i=1,2}\left[\frac{P_{Ji} r_i}{1-P_{Ji}^2}
                       + \frac{p_F r_F}{1-p_F^2}\right] e^{-L/\lambda_N}}
                      {\prod_{i=1,2}\left[1 + \frac{2 r_i}{1-P_{Ji}^2}
                       + \frac{2 r_F}{1-p_F^2}\right] - e^{-2L/\lambda_N}},
        \qquad r_i = R_i/R_N,\ r_F = R_F/R_N,

    with :math:`R_N = \rho_N\lambda_N/A_N`, :math:`R_F = \rho_F\lambda_F/A_J`
    (:math:`A_J` the junction area), :math:`R_i` the contact resistances (Ohm) and
    :math:`P_{Ji}` their polarizations, :math:`p_F` the bulk polarization of both
    ferromagnets, :math:`L` the injector-detector centre distance. This is the exact
    result of the 1-D model: an infinite N wire, two semi-infinite F branches of cross
    section :math:`A_J` attached through lumped spin-dependent contacts; injector current
    flows out of one N end only, voltage between the detector F and the other N end.
    Each configuration alone gives :math:`R_P = -R_{AP} = \Delta R_s/2`.

    All arguments broadcast (numpy arrays allowed; typically ``separation``).
    """
    L = np.asarray(separation, float)
    lam = np.asarray(lambda_N, float)
    RN = np.asarray(R_N, float)
    rF = np.asarray(R_F, float) / RN
    pF = np.asarray(p_F, float)
    terms_num = []
    terms_den = []
    for R_i, P_J in ((R_1, P_J1), (R_2, P_J2)):
        r_i = np.asarray(R_i, float) / RN
        P = np.asarray(P_J, float)
        terms_num.append(P * r_i / (1.0 - P**2) + pF * rF / (1.0 - pF**2))
        terms_den.append(1.0 + 2.0 * r_i / (1.0 - P**2) + 2.0 * rF / (1.0 - pF**2))
    e = np.exp(-L / lam)
    dR = 4.0 * RN * terms_num[0] * terms_num[1] * e / (terms_den[0] * terms_den[1] - e**2)
    return _out(dR, separation, lambda_N, R_N, R_F, R_1, R_2, P_J1, P_J2, p_F)


def takahashi_maekawa_tunnel_limit(separation: ArrayLike, lambda_N: ArrayLike, R_N: ArrayLike,
                                   P_J: ArrayLike) -> float | np.ndarray:
    r"""Tunnel-contact limit :math:`\Delta R_s = P_J^2 R_N e^{-L/\lambda_N}` (physics.md 3.1).

    Limit of :func:`takahashi_maekawa` for :math:`R_1, R_2 \gg R_N, R_F` (relative
    corrections of order :math:`(1-P_J^2) R_N/(2R_i)` and :math:`R_F/R_i`).
    """
    L = np.asarray(separation, float)
    dR = np.asarray(P_J, float)**2 * np.asarray(R_N, float) * np.exp(-L / np.asarray(lambda_N, float))
    return _out(dR, separation, lambda_N, R_N, P_J)


def takahashi_maekawa_transparent_limit(separation: ArrayLike, lambda_N: ArrayLike,
                                        R_N: ArrayLike, R_F: ArrayLike,
                                        p_F: ArrayLike) -> float | np.ndarray:
    r"""Transparent-contact limit (physics.md 3.1):

    .. math::

        \Delta R_s = \frac{2 p_F^2}{(1-p_F^2)^2} \frac{R_F^2}{R_N}
                     \frac{1}{\sinh(L/\lambda_N)} .

    Conditions: this is :func:`takahashi_maekawa` with :math:`R_i = 0` **and**
    :math:`R_F \ll R_N`. With :math:`R_i = 0` and :math:`a = 2 (R_F/R_N)/(1-p_F^2)` the
    general formula is exactly this expression times
    :math:`(1 - e^{-2L/\lambda_N}) / \left((1+a)^2 - e^{-2L/\lambda_N}\right)`, so the
    relative error is :math:`\approx (2a + a^2)/(1 - e^{-2L/\lambda_N})`: it needs
    :math:`a \ll 1` and, for :math:`L \lesssim \lambda_N`, also :math:`a \ll L/\lambda_N`
    (the limit diverges as :math:`L \to 0`, the general formula does not).
    """
    x = np.asarray(separation, float) / np.asarray(lambda_N, float)
    pF = np.asarray(p_F, float)
    with np.errstate(divide="ignore", over="ignore"):
        inv_sinh = 2.0 * np.exp(-x) / (-np.expm1(-2.0 * x))
    dR = 2.0 * pF**2 / (1.0 - pF**2)**2 * np.asarray(R_F, float)**2 / np.asarray(R_N, float) * inv_sinh
    return _out(dR, separation, lambda_N, R_N, R_F, p_F)


# --------------------------------------------------------------------------------------
# Least-squares helper
# --------------------------------------------------------------------------------------


def _fit(residual: Callable[[np.ndarray], np.ndarray], starts: Sequence[Sequence[float]],
         bounds: tuple[Sequence[float], Sequence[float]]):
    """Best of several scipy least_squares runs; returns (x, covariance, rms of residual)."""
    from scipy.optimize import least_squares

    best = None
    for x0 in starts:
        x0 = np.clip(np.asarray(x0, float), np.asarray(bounds[0]) + 1e-12,
                     np.asarray(bounds[1]) - 1e-12)
        try:
            res = least_squares(residual, x0, bounds=bounds, method="trf", x_scale="jac",
                                ftol=1e-14, xtol=1e-14, gtol=1e-14, max_nfev=5000)
        except (ValueError, FloatingPointError):
            continue
        if not np.all(np.isfinite(res.fun)):
            continue
        if best is None or res.cost < best.cost:
            best = res
    if best is None:
        raise RuntimeError("the fit failed from every starting point")
    n, p = best.fun.size, best.x.size
    J = best.jac
    s2 = 2.0 * best.cost / (n - p) if n > p else np.inf
    cov = np.linalg.pinv(J.T @ J) * s2
    return best.x, cov, best


@dataclass(frozen=True)
class SpinDiffusionFit:
    r"""Result of :func:`fit_spin_diffusion_length`.

    ``amplitude`` is the model's scale parameter: the prefactor :math:`A` (Ohm) of
    :math:`A e^{-L/\lambda_N}` ("tunnel", :math:`A = P_J^2 R_N`) or of
    :math:`A/\sinh(L/\lambda_N)` ("transparent"); for "general" it is the contact
    polarization :math:`P_J` (fitted when not given, else the fixed value with stderr 0).
    ``residual_rms`` is in the units of the data (Ohm); standard errors are from the
    Jacobian scaled by the reduced chi-square (like scipy's ``curve_fit``).
    """

    lambda_N: float
    amplitude: float
    lambda_N_stderr: float
    amplitude_stderr: float
    residual_rms: float
    model: str
    covariance: np.ndarray = field(repr=False)
    parameters: dict = field(default_factory=dict)

    def predict(self, separation: ArrayLike) -> float | np.ndarray:
        """The fitted model evaluated at ``separation`` (m)."""
        L = np.asarray(separation, float)
        if self.model == "tunnel":
            out = self.amplitude * np.exp(-L / self.lambda_N)
        elif self.model == "transparent":
            with np.errstate(divide="ignore", over="ignore"):
                out = self.amplitude * 2.0 * np.exp(-L / self.lambda_N) \
                    / (-np.expm1(-2.0 * L / self.lambda_N))
        else:
            out = _general_model(L, self.lambda_N, self.parameters)
        return _out(out, separation)


def _general_model(L: np.ndarray, lam: float, par: dict) -> np.ndarray:
    R_N = par["rho_N"] * lam / par["A_N"]
    return takahashi_maekawa(L, lam, R_N, par["R_F"], par["R_1"], par["R_2"],
                             par["P_J1"], par["P_J2"], par["p_F"])


def fit_spin_diffusion_length(separations: ArrayLike, delta_R: ArrayLike, model: str = "tunnel",
                              *, initial: float | None = None, sigma: ArrayLike | None = None,
                              **fixed: float) -> SpinDiffusionFit:
    r"""Fit :math:`\lambda_N` to nonlocal signals :math:`\Delta R_{NL}(L)` (physics.md 3.1).

    Models:

    * ``"tunnel"``: :math:`\Delta R = A e^{-L/\lambda_N}` (fits :math:`A, \lambda_N`);
    * ``"transparent"``: :math:`\Delta R = A / \sinh(L/\lambda_N)` (fits :math:`A, \lambda_N`);
    * ``"general"``: :func:`takahashi_maekawa` with :math:`R_N = \rho_N \lambda_N / A_N`
      depending on :math:`\lambda_N`. Keyword ``fixed`` values: ``rho_N`` and ``A_N``
      (required), ``R_1``/``R_2`` or ``R_i`` for both (Ohm, required), ``R_F`` (default
      0), ``p_F`` (default 0), ``P_J1``/``P_J2`` or ``P_J`` for both. If no contact
      polarization is given, a common :math:`P_J \in [0, 1)` is fitted as well (its sign
      relative to ``p_F`` enters only through the small :math:`p_F R_F` cross terms and is
      practically undetermined by the data, so it is fixed non-negative; pass a negative
      ``p_F`` for contacts of inverted polarization).

    ``sigma``: optional absolute uncertainties of ``delta_R`` (weights 1/sigma);
    ``initial``: optional starting :math:`\lambda_N` (m). Returns a
    :class:`SpinDiffusionFit`.
    """
    L = np.asarray(separations, float).ravel()
    y = np.asarray(delta_R, float).ravel()
    if L.shape != y.shape or L.size < 2:
        raise ValueError("separations and delta_R must have the same length >= 2")
    w = np.ones_like(y) / (np.max(np.abs(y)) or 1.0) if sigma is None \
        else 1.0 / np.broadcast_to(np.asarray(sigma, float), y.shape)

    # starting lambda from a straight line through log|dR| (exact for the tunnel model)
    if initial is not None:
        lam0 = float(initial)
    elif np.all(y > 0) or np.all(y < 0):
        slope, _ = np.polyfit(L, np.log(np.abs(y)), 1)
        lam0 = -1.0 / slope if slope < 0 else float(np.ptp(L) or np.max(L) or 1.0)
    else:
        lam0 = float(np.ptp(L) or np.max(np.abs(L)) or 1.0)
    lam_starts = [lam0, 0.3 * lam0, 3.0 * lam0]

    if model in ("tunnel", "transparent"):
        if fixed:
            raise TypeError(f"model {model!r} takes no fixed parameters (got {sorted(fixed)})")

        def shape(lam):
            if model == "tunnel":
                return np.exp(-L / lam)
            with np.errstate(divide="ignore", over="ignore"):
                return 2.0 * np.exp(-L / lam) / (-np.expm1(-2.0 * L / lam))

        def residual(p):
            return (p[1] * shape(np.exp(p[0])) - y) * w

        starts = []
        for lam in lam_starts:
            f = shape(lam)
            amp = float(np.sum(f * y * w**2) / np.sum((f * w)**2))
            starts.append([math.log(lam), amp])
        x, cov, res = _fit(residual, starts, ([-np.inf, -np.inf], [np.inf, np.inf]))
        lam, amp = math.exp(x[0]), float(x[1])
        jac = np.diag([lam, 1.0])
        cov = jac @ cov @ jac
        rms = float(np.sqrt(np.mean((res.fun / w)**2)))
        return SpinDiffusionFit(lam, amp, float(np.sqrt(cov[0, 0])), float(np.sqrt(cov[1, 1])),
                                rms, model, cov, {})

    if model != "general":
        raise ValueError(f"model must be 'tunnel', 'transparent' or 'general' (got {model!r})")
    par = dict(fixed)
    known = {"rho_N", "A_N", "R_1", "R_2", "R_i", "R_F", "p_F", "P_J", "P_J1", "P_J2"}
    if set(par) - known:
        raise TypeError(f"unknown fixed parameters {sorted(set(par) - known)}; "
                        f"expected some of {sorted(known)}")
    for key in ("rho_N", "A_N"):
        if key not in par:
            raise TypeError(f"model 'general' needs the fixed parameter {key}")
    if "R_i" in par:
        par.setdefault("R_1", par["R_i"])
        par.setdefault("R_2", par.pop("R_i"))
    if "R_1" not in par or "R_2" not in par:
        raise TypeError("model 'general' needs the contact resistances R_1, R_2 (or R_i)")
    par.setdefault("R_F", 0.0)
    par.setdefault("p_F", 0.0)
    if "P_J" in par:
        par.setdefault("P_J1", par["P_J"])
        par.setdefault("P_J2", par.pop("P_J"))
    fit_P = "P_J1" not in par and "P_J2" not in par
    if not fit_P and ("P_J1" not in par or "P_J2" not in par):
        raise TypeError("give both P_J1 and P_J2 (or P_J), or neither to fit a common P_J")
    par = {k: float(v) for k, v in par.items()}

    def model_at(p):
        q = dict(par)
        if fit_P:
            q["P_J1"] = q["P_J2"] = p[1]
        return _general_model(L, math.exp(p[0]), q), q

    def residual(p):
        return (model_at(p)[0] - y) * w

    if fit_P:
        pmax = 1.0 - 1e-9
        starts = [[math.log(lam), P0] for lam in lam_starts for P0 in (0.1, 0.3, 0.7)]
        bounds = ([-np.inf, 0.0], [np.inf, pmax])
    else:
        starts = [[math.log(lam)] for lam in lam_starts]
        bounds = ([-np.inf], [np.inf])
    x, cov, res = _fit(residual, starts, bounds)
    lam = math.exp(x[0])
    jac = np.diag([lam] + [1.0] * (x.size - 1))
    cov = jac @ cov @ jac
    q = {k: float(v) for k, v in model_at(x)[1].items()}
    amp = q["P_J1"]
    amp_err = float(np.sqrt(cov[1, 1])) if fit_P else 0.0
    rms = float(np.sqrt(np.mean((res.fun / w)**2)))
    return SpinDiffusionFit(lam, amp, float(np.sqrt(cov[0, 0])), amp_err, rms, model, cov, q)


# --------------------------------------------------------------------------------------
# Hanle precession
# --------------------------------------------------------------------------------------


def larmor_frequency(B: ArrayLike, g: float = 2.0) -> float | np.ndarray:
    r"""Larmor angular frequency :math:`\omega_L = g \mu_B B / \hbar` (rad/s), B in T.

    Sign convention: for electrons (negative gyromagnetic ratio) the spin obeys
    :math:`\dot{\mathbf s} = \boldsymbol\omega_L \times \mathbf s` with
    :math:`\boldsymbol\omega_L = g\mu_B \mathbf B/\hbar` parallel to :math:`\mathbf B`; the
    sign is kept (B may be negative). The nonlocal Hanle signal of
    :func:`hanle_nonlocal_resistance` is even in B, so the sign does not affect it.
    ``larmor_frequency(1.0)`` = 1.7588e11 rad/s for g = 2.
    """
    w = g * BOHR_MAGNETON * np.asarray(B, float) / HBAR
    return _out(w, B)


def hanle_nonlocal_resistance(B: ArrayLike, separation: ArrayLike, lambda_N: ArrayLike,
                              tau_sf: ArrayLike, R_N: ArrayLike, P_J: ArrayLike,
                              g: float = 2.0) -> float | np.ndarray:
    r"""Nonlocal resistance :math:`R_{NL}^P(B)` of a tunnel-contact spin valve, parallel state.

    Hanle extension of physics.md 3.1. Steady Bloch-Torrey equation for the vector spin
    accumulation in the N wire,
    :math:`0 = D \boldsymbol\mu_s'' - \boldsymbol\mu_s/\tau_{sf}
    + \boldsymbol\omega_L \times \boldsymbol\mu_s`, with :math:`\lambda_N^2 = D\tau_{sf}`,
    both F magnetizations along :math:`\mathbf m`, :math:`\mathbf B \perp \mathbf m` and
    perpendicular to the wire. Result:

    .. math::

        R_{NL}^P(B) = \frac{P_J^2 R_N}{2}\,
           \mathrm{Re}\left[\frac{e^{-(L/\lambda_N)\sqrt{1 + i\omega_L\tau_{sf}}}}
                                 {\sqrt{1 + i\omega_L\tau_{sf}}}\right],
        \qquad R_N = \rho_N\lambda_N/A_N .

    Derivation. Write the in-plane accumulation as :math:`u = \mu_m + i\mu_\perp` with
    :math:`\mu_\perp` along :math:`\hat{\mathbf B}\times\mathbf m`; then
    :math:`\boldsymbol\omega_L\times\boldsymbol\mu_s \to i\omega_L u` and
    :math:`u'' = k^2 u`, :math:`k = \sqrt{1 - i\omega_L\tau}/\lambda_N` (Re k > 0), so
    :math:`u = u_0 e^{-k|x|}`. Tunnel (non-invasive) injector at :math:`x = 0`: the current
    :math:`I` flowing from F1 into N carries the spin current :math:`P_J I \mathbf m` into N
    (the charge current leaves to :math:`x<0`; N is unpolarized so it does not drive
    :math:`\mu_s`). In N the spin current is :math:`-(\sigma_N A_N/2) \boldsymbol\mu_s'`, so the
    source condition :math:`\sigma_N A_N k u_0 = P_J I` gives
    :math:`u_0 = P_J I R_N/\sqrt{1 - i\omega_L\tau}` (at B = 0: :math:`\mu_s(0) = P_J I R_N > 0`).
    A tunnel detector at :math:`x = L` with zero current floats at
    :math:`\mu_c + P_J \boldsymbol\mu_s\cdot\mathbf m/2`, and :math:`\mu_c` in the
    current-free branch equals the far-end reference, so
    :math:`R_{NL} = P_J\,\mathrm{Re}\,u(L)/(2I)`. Complex conjugation (the opposite
    precession sense) leaves the real part unchanged. Checks: B = 0 gives
    :math:`P_J^2 R_N e^{-L/\lambda_N}/2`, half the Takahashi-Maekawa tunnel limit
    (:math:`R_P = +\Delta R_s/2`, :math:`R_{AP} = -R_P`); equivalently
    :math:`R_{NL} = P_J^2 R_N (D/\lambda_N)\int_0^\infty (4\pi D t)^{-1/2}
    e^{-L^2/4Dt} e^{-t/\tau} \cos(\omega_L t)\,dt`.

    Broadcasts over all arguments (typically an array of B in T).
    """
    w = g * BOHR_MAGNETON * np.asarray(B, float) / HBAR
    z = np.sqrt(1.0 + 1j * w * np.asarray(tau_sf, float))
    x = np.abs(np.asarray(separation, float)) / np.asarray(lambda_N, float)
    R = 0.5 * np.asarray(P_J, float)**2 * np.asarray(R_N, float) * np.real(np.exp(-x * z) / z)
    return _out(R, B, separation, lambda_N, tau_sf, R_N, P_J)


@dataclass(frozen=True)
class HanleFit:
    r"""Result of :func:`fit_hanle`: :math:`\lambda_N` (m), :math:`\tau_{sf}` (s),
    :math:`D = \lambda_N^2/\tau_{sf}` (m^2/s), amplitude :math:`P_J^2 R_N/2` (Ohm), their
    standard errors, the covariance of (lambda_N, tau_sf, amplitude) and the rms residual
    (Ohm)."""

    lambda_N: float
    tau_sf: float
    diffusion_constant: float
    amplitude: float
    lambda_N_stderr: float
    tau_sf_stderr: float
    diffusion_constant_stderr: float
    amplitude_stderr: float
    residual_rms: float
    separation: float
    g: float
    covariance: np.ndarray = field(repr=False)

    def predict(self, B: ArrayLike) -> float | np.ndarray:
        """The fitted Hanle curve at field(s) B (T)."""
        return hanle_nonlocal_resistance(B, self.separation, self.lambda_N, self.tau_sf,
                                         2.0 * self.amplitude, 1.0, self.g)


def fit_hanle(B: ArrayLike, R_NL: ArrayLike, separation: float, g: float = 2.0,
              initial: tuple[float, float, float] | None = None,
              sigma: ArrayLike | None = None) -> HanleFit:
    r"""Fit :math:`\lambda_N`, :math:`\tau_{sf}` and :math:`A = P_J^2 R_N/2` to a Hanle curve.

    Model: :func:`hanle_nonlocal_resistance`,
    :math:`R_{NL}(B) = A\,\mathrm{Re}[e^{-(L/\lambda_N)z}/z]`,
    :math:`z = \sqrt{1 + i g\mu_B B\tau_{sf}/\hbar}` (physics.md 3.1, Hanle extension),
    with the separation L fixed. ``initial = (lambda_N, tau_sf, amplitude)`` overrides the
    automatic start (several starts derived from the zero-field value and the half width
    of the curve). ``sigma``: optional absolute uncertainties. A constant background is
    not part of the model: subtract it first.
    """
    Bv = np.asarray(B, float).ravel()
    y = np.asarray(R_NL, float).ravel()
    if Bv.shape != y.shape or Bv.size < 4:
        raise ValueError("B and R_NL must have the same length >= 4")
    L = float(abs(separation))
    w = np.ones_like(y) / (np.max(np.abs(y)) or 1.0) if sigma is None \
        else 1.0 / np.broadcast_to(np.asarray(sigma, float), y.shape)
    omega = g * BOHR_MAGNETON * Bv / HBAR

    def shape(lam, tau):
        z = np.sqrt(1.0 + 1j * omega * tau)
        return np.real(np.exp(-(L / lam) * z) / z)

    def residual(p):
        return (p[2] * shape(math.exp(p[0]), math.exp(p[1])) - y) * w

    if initial is not None:
        lam0, tau0, amp0 = (float(v) for v in initial)
        starts = [[math.log(lam0), math.log(tau0), amp0]]
    else:
        i0 = int(np.argmin(np.abs(Bv)))
        y0 = y[i0]
        order = np.argsort(np.abs(omega))
        below = np.nonzero(np.abs(y[order]) < 0.5 * abs(y0))[0]
        w_half = abs(omega[order][below[0]]) if below.size else abs(omega).max()
        w_half = w_half or 1.0
        starts = []
        for lam_f in (0.3, 1.0, 3.0):
            lam = (L or 1.0) * lam_f
            for tau_f in (0.3, 1.0, 3.0):
                tau = tau_f / w_half
                f = shape(lam, tau)
                amp = float(np.sum(f * y * w**2) / np.sum((f * w)**2))
                starts.append([math.log(lam), math.log(tau), amp])
    x, cov, res = _fit(residual, starts, ([-np.inf] * 3, [np.inf] * 3))
    lam, tau, amp = math.exp(x[0]), math.exp(x[1]), float(x[2])
    jac = np.diag([lam, tau, 1.0])
    cov = jac @ cov @ jac
    D = lam**2 / tau
    grad = np.array([2.0 * lam / tau, -lam**2 / tau**2, 0.0])
    D_err = float(np.sqrt(max(grad @ cov @ grad, 0.0)))
    rms = float(np.sqrt(np.mean((res.fun / w)**2)))
    err = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    return HanleFit(lam, tau, D, amp, float(err[0]), float(err[1]), D_err, float(err[2]),
                    rms, L, g, cov)


# --------------------------------------------------------------------------------------
# Exact 1-D Valet-Fert solution of a multilayer between two reservoirs (CPP-GMR)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    r"""A homogeneous layer of a 1-D stack (physics.md 3.1).

    ``thickness`` (m), ``resistivity`` :math:`\rho` (Ohm m), ``spin_diffusion_length``
    :math:`\lambda` (m; ``math.inf`` = no spin flip), ``bulk_polarization``
    :math:`P = (\sigma_\uparrow - \sigma_\downarrow)/\sigma` in (-1, 1); channel
    resistivities :math:`\rho_{\uparrow,\downarrow} = 2\rho/(1 \pm P)`.
    """

    thickness: float
    resistivity: float
    spin_diffusion_length: float
    bulk_polarization: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.thickness) and self.thickness > 0):
            raise ValueError(f"thickness must be finite and > 0 (got {self.thickness})")
        if not (math.isfinite(self.resistivity) and self.resistivity > 0):
            raise ValueError(f"resistivity must be finite and > 0 (got {self.resistivity})")
        if not self.spin_diffusion_length > 0:
            raise ValueError("spin_diffusion_length must be > 0 (math.inf: no spin flip), "
                             f"got {self.spin_diffusion_length}")
        if not abs(self.bulk_polarization) < 1:
            raise ValueError(f"bulk_polarization must be in (-1, 1) (got {self.bulk_polarization})")

    @property
    def resistivity_up(self) -> float:
        return 2.0 * self.resistivity / (1.0 + self.bulk_polarization)

    @property
    def resistivity_dn(self) -> float:
        return 2.0 * self.resistivity / (1.0 - self.bulk_polarization)


def interface_resistances(area_resistance: float, polarization: float) -> tuple[float, float]:
    r""":math:`(r_\uparrow, r_\downarrow) = (2RA/(1+P_J),\ 2RA/(1-P_J))` (Ohm m^2), the inverse
    of :math:`RA = r_\uparrow r_\downarrow/(r_\uparrow + r_\downarrow)`,
    :math:`P_J = (r_\downarrow - r_\uparrow)/(r_\uparrow + r_\downarrow)`."""
    if not abs(polarization) < 1:
        raise ValueError(f"polarization must be in (-1, 1) (got {polarization})")
    return (2.0 * area_resistance / (1.0 + polarization), 2.0 * area_resistance / (1.0 - polarization))


def reverse_layer(layer: Layer) -> Layer:
    """The same layer with its magnetization reversed (P -> -P, up and down swapped)."""
    return replace(layer, bulk_polarization=-layer.bulk_polarization)


def reverse_interface(interface: Interface) -> Interface:
    """An interface with reversed magnetization: (r_up, r_dn) -> (r_dn, r_up); None stays None."""
    if interface is None:
        return None
    r_up, r_dn = interface
    return (r_dn, r_up)


def spin_memory_loss_layer(area_resistance: float, polarization: float, delta: float,
                           thickness: float) -> Layer:
    r"""A thin layer standing for an interface with spin memory loss (Bass-Pratt; physics.md 3.1).

    Resistivity :math:`RA/t_I`, bulk polarization :math:`P_J`, spin-flip length
    :math:`\lambda_I = t_I/\delta` (``math.inf`` for :math:`\delta = 0`). Its channel area
    resistances are :math:`\rho_{\uparrow,\downarrow} t_I = 2RA/(1 \pm P_J) = r_{\uparrow,\downarrow}`,
    so for :math:`\delta = 0` it is *exactly* equivalent to the zero-thickness interface
    ``interface_resistances(RA, P_J)`` (the only difference being the added thickness);
    for :math:`\delta > 0` it represents an interface that relaxes part of the spin
    current crossing it. In the 1-D model the layer's jump conditions depend only on
    :math:`RA`, :math:`P_J` and :math:`\delta` (:math:`\rho t_I = RA`,
    :math:`(1-P^2)/(2\rho\lambda_I) = (1-P^2)\delta/(2RA)`, :math:`t_I/\lambda_I = \delta`), so
    the limit :math:`t_I \to 0` at fixed :math:`\delta` is reached at any thickness.
    """
    if delta < 0:
        raise ValueError(f"delta must be >= 0 (got {delta})")
    lam = math.inf if delta == 0 else thickness / delta
    return Layer(thickness, area_resistance / thickness, lam, polarization)


def _u_coth(u: np.ndarray) -> np.ndarray:
    """u coth(u) for u >= 0 (1 at u = 0), without overflow."""
    u = np.asarray(u, float)
    small = u < 1e-4
    us = np.where(small, 1.0, u)
    with np.errstate(over="ignore", under="ignore"):
        big = us * (1.0 + np.exp(-2.0 * us)) / (-np.expm1(-2.0 * us))
    return np.where(small, 1.0 + u**2 / 3.0 - u**4 / 45.0, big)


def _u_over_sinh(u: np.ndarray) -> np.ndarray:
    """u / sinh(u) for u >= 0 (1 at u = 0), without overflow."""
    u = np.asarray(u, float)
    small = u < 1e-4
    us = np.where(small, 1.0, u)
    with np.errstate(over="ignore", under="ignore"):
        big = 2.0 * us * np.exp(-us) / (-np.expm1(-2.0 * us))
    return np.where(small, 1.0 - u**2 / 6.0 + 7.0 * u**4 / 360.0, big)


def _sinh_ratio(v: np.ndarray, u: float) -> np.ndarray:
    """sinh(v)/sinh(u) for 0 <= v <= u (v/u when u = 0 is the limit t/lambda -> 0)."""
    v = np.asarray(v, float)
    if u < 1e-6:  # u > 0 here: lambda = inf (u = 0) is handled by the caller
        return (v / u) * (1.0 + (v**2 - u**2) / 6.0)
    with np.errstate(over="ignore", under="ignore"):
        return np.exp(v - u) * np.expm1(-2.0 * v) / np.expm1(-2.0 * u)


def _cosh_ratio(v: np.ndarray, u: float) -> np.ndarray:
    """u cosh(v)/sinh(u) for 0 <= v <= u (1 at u = 0)."""
    v = np.asarray(v, float)
    if u < 1e-6:
        return (1.0 + v**2 / 2.0) * (1.0 - u**2 / 6.0)
    with np.errstate(over="ignore", under="ignore"):
        return u * np.exp(v - u) * (1.0 + np.exp(-2.0 * v)) / (-np.expm1(-2.0 * u))


@dataclass(frozen=True)
class MultilayerSolution:
    r"""Exact solution returned by :func:`solve_multilayer`.

    In layer k (local coordinate :math:`s = x - x_k \in [0, t_k]`, :math:`u_k = t_k/\lambda_k`):

    .. math::

        \mu_s = A_k \frac{\sinh((t_k - s)/\lambda_k)}{\sinh u_k}
              + B_k \frac{\sinh(s/\lambda_k)}{\sinh u_k},\qquad
        \psi = c_k - \rho_k J s,

        \mu_\uparrow = \psi + \tfrac{1-P_k}{2}\mu_s,\quad
        \mu_\downarrow = \psi - \tfrac{1+P_k}{2}\mu_s,\quad
        j_\uparrow - j_\downarrow = P_k J - \tfrac{1-P_k^2}{2\rho_k}\,\mu_s' ,

    (:math:`A_k, B_k` are the end values of :math:`\mu_s`; linear in s when
    :math:`\lambda_k = \infty`). :math:`J` is the uniform charge current density.

    Attributes: ``current_density`` J (A/m^2, flowing in +x), ``resistance_area``
    V/J (Ohm m^2), ``voltage``, ``layers``, ``interfaces``, ``layer_edges`` (len N+1, m),
    ``interfaces_x`` (the N-1 internal interface positions), ``coefficients`` (N x 3
    array of :math:`c_k, A_k, B_k`). Methods ``mu_up``, ``mu_dn``, ``spin_accumulation``,
    ``spin_current``, ``current_up``, ``current_dn``, ``charge_current`` take x (m,
    scalar or array, within [0, total thickness]); at an interface position the value on
    the +x side is returned unless ``side="left"``.
    """

    layers: tuple[Layer, ...]
    interfaces: tuple[Interface, ...]
    voltage: float
    current_density: float
    layer_edges: np.ndarray = field(repr=False)
    coefficients: np.ndarray = field(repr=False)

    @property
    def resistance_area(self) -> float:
        return self.voltage / self.current_density

    @property
    def interfaces_x(self) -> np.ndarray:
        return self.layer_edges[1:-1].copy()

    @property
    def total_thickness(self) -> float:
        return float(self.layer_edges[-1])

    def _locate(self, x: ArrayLike, side: str):
        xa = np.asarray(x, float)
        T = self.layer_edges[-1]
        tol = 1e-12 * T
        if np.any(xa < -tol) or np.any(xa > T + tol):
            raise ValueError(f"x must lie in [0, {T:g}] m")
        if side not in ("left", "right"):
            raise ValueError("side must be 'left' or 'right'")
        k = np.searchsorted(self.layer_edges[1:-1], xa, side=side)
        s = np.clip(xa - self.layer_edges[k], 0.0, None)
        return xa, k, s

    def _fields(self, x: ArrayLike, side: str):
        xa, k, s = self._locate(x, side)
        mu_s = np.empty_like(xa)
        dmu_s = np.empty_like(xa)
        psi = np.empty_like(xa)
        P = np.empty_like(xa)
        rho = np.empty_like(xa)
        J = self.current_density
        for i, layer in enumerate(self.layers):
            sel = k == i
            if not np.any(sel):
                continue
            c, A, Bc = self.coefficients[i]
            t, lam = layer.thickness, layer.spin_diffusion_length
            si = np.minimum(s[sel], t)
            u = t / lam
            if u == 0.0:
                mu_s[sel] = A * (t - si) / t + Bc * si / t
                dmu_s[sel] = (Bc - A) / t
            else:
                v = si / lam
                mu_s[sel] = A * _sinh_ratio(u - v, u) + Bc * _sinh_ratio(v, u)
                dmu_s[sel] = (-A * _cosh_ratio(u - v, u) + Bc * _cosh_ratio(v, u)) / t
            psi[sel] = c - layer.resistivity * J * si
            P[sel] = layer.bulk_polarization
            rho[sel] = layer.resistivity
        js = P * J - (1.0 - P**2) / (2.0 * rho) * dmu_s
        return xa, psi, mu_s, P, js

    def mu_up(self, x: ArrayLike, side: str = "right") -> float | np.ndarray:
        """Spin-up electrochemical potential (V)."""
        xa, psi, mu_s, P, _ = self._fields(x, side)
        return _out(psi + 0.5 * (1.0 - P) * mu_s, x)

    def mu_dn(self, x: ArrayLike, side: str = "right") -> float | np.ndarray:
        """Spin-down electrochemical potential (V)."""
        xa, psi, mu_s, P, _ = self._fields(x, side)
        return _out(psi - 0.5 * (1.0 + P) * mu_s, x)

    def spin_accumulation(self, x: ArrayLike, side: str = "right") -> float | np.ndarray:
        """mu_s = mu_up - mu_dn (V)."""
        return _out(self._fields(x, side)[2], x)

    def spin_current(self, x: ArrayLike, side: str = "right") -> float | np.ndarray:
        """j_up - j_dn (A/m^2, +x direction); continuous everywhere (no interfacial spin flip)."""
        return _out(self._fields(x, side)[4], x)

    def current_up(self, x: ArrayLike, side: str = "right") -> float | np.ndarray:
        """j_up (A/m^2, +x direction)."""
        return _out(0.5 * (self.current_density + self._fields(x, side)[4]), x)

    def current_dn(self, x: ArrayLike, side: str = "right") -> float | np.ndarray:
        """j_dn (A/m^2, +x direction)."""
        return _out(0.5 * (self.current_density - self._fields(x, side)[4]), x)

    def charge_current(self, x: ArrayLike, side: str = "right") -> float | np.ndarray:
        """j_up + j_dn (A/m^2); uniform, equal to ``current_density``."""
        return _out(np.full(np.shape(x), self.current_density), x)


def solve_multilayer(layers: Sequence[Layer], interfaces: Sequence[Interface] | None = None,
                     voltage: float = 1.0) -> MultilayerSolution:
    r"""Exact 1-D Valet-Fert solution of a stack of layers between two reservoirs.

    physics.md 3.1; Valet & Fert, PRB 48, 7099 (1993). Layer k occupies
    :math:`[x_k, x_{k+1}]`, :math:`x_0 = 0`. Boundary conditions: reservoir at x = 0 with
    :math:`\mu_\uparrow = \mu_\downarrow = V` (``voltage``), reservoir at the far end with
    :math:`\mu_\uparrow = \mu_\downarrow = 0`; so the charge current J > 0 flows in +x for
    V > 0. ``interfaces`` (length N-1, entries None = transparent, or
    :math:`(r_\uparrow, r_\downarrow)` in Ohm m^2) sit between consecutive layers:
    :math:`j_\uparrow, j_\downarrow` continuous and
    :math:`\mu_\sigma(x^-) - \mu_\sigma(x^+) = r_\sigma j_\sigma` for each channel
    :math:`\sigma = \uparrow, \downarrow`, i.e. the spin accumulation jumps by
    :math:`\mu_s(x^+) - \mu_s(x^-) = -(r_\uparrow j_\uparrow - r_\downarrow j_\downarrow)`.

    In each layer (see :class:`MultilayerSolution`) the combination
    :math:`\psi = (\sigma_\uparrow\mu_\uparrow + \sigma_\downarrow\mu_\downarrow)/\sigma`
    is linear with slope :math:`-\rho J` and :math:`\mu_s'' = \mu_s/\lambda^2`. The
    :math:`\mu_s` basis uses the values at the layer's two ends, with
    :math:`\sinh(\cdot)/\sinh(u)` ratios evaluated from decaying exponentials, so thick
    layers (:math:`t \gg \lambda`) do not overflow and thin ones
    (:math:`t \ll \lambda`, including :math:`\lambda = \infty`) stay well conditioned. The
    3N + 1 unknowns :math:`(c_k, A_k, B_k)_k, J` satisfy 2 + 2 reservoir conditions and
    3 conditions per interface (spin current continuity, two channel jumps); the
    row-equilibrated dense system is solved with numpy.
    """
    layers = tuple(layers)
    n = len(layers)
    if n == 0:
        raise ValueError("need at least one layer")
    for layer in layers:
        if not isinstance(layer, Layer):
            raise TypeError(f"layers must be Layer instances (got {type(layer).__name__})")
    if interfaces is None:
        interfaces = (None,) * (n - 1)
    interfaces = tuple(None if itf is None else (float(itf[0]), float(itf[1]))
                       for itf in interfaces)
    if len(interfaces) != n - 1:
        raise ValueError(f"need len(layers) - 1 = {n - 1} interfaces (got {len(interfaces)})")
    for itf in interfaces:
        if itf is not None and not (itf[0] >= 0 and itf[1] >= 0
                                    and math.isfinite(itf[0]) and math.isfinite(itf[1])):
            raise ValueError(f"interface resistances must be finite and >= 0 (got {itf})")

    t = np.array([l.thickness for l in layers])
    rho = np.array([l.resistivity for l in layers])
    P = np.array([l.bulk_polarization for l in layers])
    u = np.array([l.thickness / l.spin_diffusion_length for l in layers])
    G = (1.0 - P**2) / (2.0 * rho)  # spin conductivity sigma(1-P^2)/2
    near = _u_coth(u) / t  # coth(u)/lambda: d mu_s/ds at an end per unit of that end's value
    far = _u_over_sinh(u) / t  # 1/(lambda sinh u): the same for the other end's value
    R_ref = float(np.sum(rho * t) + sum(0.25 * (a + b) for a, b in
                                        (i for i in interfaces if i is not None)))

    m = 3 * n + 1
    M = np.zeros((m, m))
    rhs = np.zeros(m)
    jcol = 3 * n  # unknown J~ = J R_ref (volts)
    row = 0

    def ci(k):  # column indices of c_k, A_k, B_k
        return 3 * k, 3 * k + 1, 3 * k + 2

    # reservoir at x = 0: mu_up = mu_dn = V at s = 0 of layer 0
    c0, A0, _ = ci(0)
    M[row, c0], M[row, A0], rhs[row] = 1.0, 0.5 * (1 - P[0]), voltage
    row += 1
    M[row, c0], M[row, A0], rhs[row] = 1.0, -0.5 * (1 + P[0]), voltage
    row += 1
    # reservoir at the far end: mu_up = mu_dn = 0 at s = t of the last layer
    cl, _, Bl = ci(n - 1)
    M[row, cl], M[row, Bl], M[row, jcol] = 1.0, 0.5 * (1 - P[-1]), -rho[-1] * t[-1] / R_ref
    row += 1
    M[row, cl], M[row, Bl], M[row, jcol] = 1.0, -0.5 * (1 + P[-1]), -rho[-1] * t[-1] / R_ref
    row += 1

    for k in range(n - 1):
        ck, Ak, Bk = ci(k)
        cn, An, Bn = ci(k + 1)
        # spin current at the right end of layer k, as coefficients on (A_k, B_k, J~)
        js_k = {Ak: G[k] * far[k], Bk: -G[k] * near[k], jcol: P[k] / R_ref}
        # spin current at the left end of layer k+1
        js_n = {An: G[k + 1] * near[k + 1], Bn: -G[k + 1] * far[k + 1], jcol: P[k + 1] / R_ref}
        for col, val in js_k.items():
            M[row, col] += val
        for col, val in js_n.items():
            M[row, col] -= val
        row += 1
        r_up, r_dn = interfaces[k] if interfaces[k] is not None else (0.0, 0.0)
        for sgn_up, r_s, wk, wn in ((+1, r_up, 0.5 * (1 - P[k]), 0.5 * (1 - P[k + 1])),
                                    (-1, r_dn, -0.5 * (1 + P[k]), -0.5 * (1 + P[k + 1]))):
            # mu_s(left) - mu_s(right) - r_s (J + sgn j_s)/2 = 0 for channel s
            M[row, ck] += 1.0
            M[row, jcol] += -rho[k] * t[k] / R_ref
            M[row, Bk] += wk
            M[row, cn] -= 1.0
            M[row, An] -= wn
            M[row, jcol] -= 0.5 * r_s / R_ref
            for col, val in js_k.items():
                M[row, col] -= 0.5 * r_s * sgn_up * val
            row += 1
    assert row == m
    scale = np.max(np.abs(M), axis=1)
    sol = np.linalg.solve(M / scale[:, None], rhs / scale)
    J = sol[jcol] / R_ref
    coeffs = sol[:jcol].reshape(n, 3)
    edges = np.concatenate([[0.0], np.cumsum(t)])
    return MultilayerSolution(layers, interfaces, float(voltage), float(J), edges, coeffs)


def cpp_gmr(layers_parallel: Sequence[Layer], layers_antiparallel: Sequence[Layer],
            interfaces_P: Sequence[Interface] | None = None,
            interfaces_AP: Sequence[Interface] | None = None) -> tuple[float, float, float]:
    r"""CPP giant magnetoresistance of a stack: :math:`(R_P A,\ R_{AP} A,\ (R_{AP}-R_P)/R_P)`.

    Both area resistances (Ohm m^2) from :func:`solve_multilayer`. The antiparallel stack
    is usually the parallel one with one ferromagnet reversed: use :func:`reverse_layer`
    on it and :func:`reverse_interface` on its interfaces (``interfaces_AP`` defaults to
    ``interfaces_P``, which is only right when the reversed layer's interfaces are not
    spin dependent).
    """
    if interfaces_AP is None:
        interfaces_AP = interfaces_P
    RA_P = solve_multilayer(layers_parallel, interfaces_P).resistance_area
    RA_AP = solve_multilayer(layers_antiparallel, interfaces_AP).resistance_area
    return RA_P, RA_AP, (RA_AP - RA_P) / RA_P
