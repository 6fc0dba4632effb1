"""The statistics of a least-squares fit (numpy only: no mesh, no solver).

* :func:`solve_nuisance` - the linear nuisance parameters c minimising
  ``sum w (y - f0 - A c)^2`` in closed form (weighted linear least squares);
* :func:`analyse` - from the weighted residuals ``r`` and their Jacobian ``J`` (columns: the
  parameters in the optimiser's coordinates, then the nuisances) at the optimum: chi^2, the
  covariance ``(J^T J)^-1`` (times the reduced chi^2 when the data carry no sigma, or when
  asked), standard errors, the correlation matrix, near-degenerate pairs, the condition
  numbers, AIC and BIC.

With W = diag(1/sigma^2) folded into the residuals (r = (y - model)/sigma), ``J^T J`` is the
``J^T W J`` of the unweighted problem.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

__all__ = ["solve_nuisance", "FitStatistics", "analyse", "degenerate_pairs"]


def solve_nuisance(f0: np.ndarray, A: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """argmin_c sum weights * (y - f0 - A c)^2 (empty when A has no columns)."""
    A = np.asarray(A, float).reshape(len(y), -1)
    if A.shape[1] == 0:
        return np.zeros(0)
    sw = np.sqrt(np.asarray(weights, float))
    c, *_ = np.linalg.lstsq(sw[:, None] * A, sw * (np.asarray(y, float) - f0), rcond=None)
    return c


def degenerate_pairs(correlation: np.ndarray, names, threshold: float) -> list[tuple[str, str, float]]:
    """(name_i, name_j, rho) for every pair with |rho| > threshold, largest first."""
    pairs = []
    n = len(names)
    for i in range(n):
        for j in range(i + 1, n):
            rho = float(correlation[i, j])
            if abs(rho) > threshold:
                pairs.append((names[i], names[j], rho))
    return sorted(pairs, key=lambda p: -abs(p[2]))


@dataclasses.dataclass(frozen=True)
class FitStatistics:
    names: tuple[str, ...]
    n_points: int
    n_parameters: int          # nonlinear + nuisance
    chi2: float                # sum of the squared weighted residuals
    dof: int
    reduced_chi2: float
    scaled: bool               # covariance multiplied by the reduced chi^2
    covariance: np.ndarray     # in the Jacobian's coordinates
    standard_errors: np.ndarray
    correlation: np.ndarray
    condition_jtj: float       # of J^T W J in the optimiser's coordinates
    condition_correlation: float
    degenerate: tuple[tuple[str, str, float], ...]
    ill_conditioned: bool
    singular: bool
    log_likelihood: float
    aic: float
    bic: float

    def as_dict(self) -> dict:
        return {"n_points": self.n_points, "n_parameters": self.n_parameters, "chi2": self.chi2,
                "dof": self.dof, "reduced_chi2": self.reduced_chi2,
                "covariance_scaled_by_reduced_chi2": self.scaled,
                "condition_number_JtWJ": self.condition_jtj,
                "condition_number_correlation": self.condition_correlation,
                "degenerate_pairs": [{"a": a, "b": b, "correlation": r} for a, b, r in self.degenerate],
                "ill_conditioned": self.ill_conditioned, "singular": self.singular,
                "log_likelihood": self.log_likelihood, "aic": self.aic, "bic": self.bic}


def analyse(J: np.ndarray, residuals: np.ndarray, names, *, sigma: np.ndarray | None,
            scale_covariance: bool | str = "auto", correlation_threshold: float = 0.95,
            condition_threshold: float = 1e3) -> FitStatistics:
    """Statistics at the optimum from the weighted Jacobian ``J`` (n x p) and residuals.

    ``sigma`` (n,) the data's standard deviations, or None when the data gave none (the
    residuals are then unweighted, the covariance is scaled by the reduced chi^2 under
    ``scale_covariance = "auto"`` and the noise variance is estimated by maximum likelihood
    for AIC/BIC, counted as one more parameter).

    Log-likelihood of Gaussian errors: with sigma, ``-2 ln L = chi^2 + sum ln(2 pi sigma^2)``;
    without, ``-2 ln L = n (ln(2 pi RSS/n) + 1)``. AIC = -2 ln L + 2k, BIC = -2 ln L + k ln n."""
    J, r = np.asarray(J, float), np.asarray(residuals, float)
    n, p = J.shape
    chi2 = float(r @ r)
    dof = n - p
    reduced = chi2 / dof if dof > 0 else math.nan
    scaled = (sigma is None) if scale_covariance == "auto" else bool(scale_covariance)
    jtj = J.T @ J
    singular = False
    try:
        cond = float(np.linalg.cond(jtj))
        cov = np.linalg.inv(jtj) if math.isfinite(cond) and cond < 1e15 else np.linalg.pinv(jtj)
        singular = not (math.isfinite(cond) and cond < 1e15)
    except np.linalg.LinAlgError:
        cond, cov, singular = math.inf, np.linalg.pinv(jtj), True
    if scaled and math.isfinite(reduced):
        cov = cov * reduced
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(se, se)
    corr = np.where(np.isfinite(corr), corr, 0.0)
    np.fill_diagonal(corr, 1.0)
    cond_corr = float(np.linalg.cond(corr)) if p > 0 else 1.0
    names = tuple(names)
    pairs = tuple(degenerate_pairs(corr, names, correlation_threshold))
    if sigma is not None:
        minus2 = chi2 + float(np.sum(np.log(2 * math.pi * np.asarray(sigma, float) ** 2)))
        k = p
    else:
        minus2 = n * (math.log(2 * math.pi * max(chi2, 1e-300) / n) + 1.0)
        k = p + 1
    return FitStatistics(names=names, n_points=n, n_parameters=p, chi2=chi2, dof=dof,
                         reduced_chi2=reduced, scaled=scaled, covariance=cov, standard_errors=se,
                         correlation=corr, condition_jtj=cond, condition_correlation=cond_corr,
                         degenerate=pairs, ill_conditioned=singular or cond_corr > condition_threshold,
                         singular=singular, log_likelihood=-0.5 * minus2, aic=minus2 + 2 * k,
                         bic=minus2 + k * math.log(n))
