"""The Jacobian of a fit's residuals.

Phase 1 has one method, :class:`FiniteDifferences`. Forward sensitivities of the discrete
solution (differentiate the residual form with respect to the parameters with ufl.derivative
on dolfinx Constants and solve the tangent linear system with each step's own Jacobian) are
phase 2 of issue 21: they plug in as another :class:`JacobianMethod` (``fit.jacobian =
"sensitivities"``, refused today by the fit-file parser) and must pass a test against these
finite differences.

Why the step is what it is. The forward model is not a smooth function of the parameters at
the level of its time error: the adaptive stepper chooses different steps for different
parameters, so the computed curve carries a "noise" of the order of the time tolerance
``eps`` (absolute, in units of P) that jumps when the step pattern changes. A one-sided
difference with step ``h`` (in the optimiser's coordinate: a relative change ``h`` of a
log-scaled parameter) then has the error ``~ 2 eps/h`` from that noise plus ``~ h |f''|/2``
from truncation; with derivatives and curvatures of order one (P and its logarithmic
derivatives are O(1) quantities) the total is smallest at ``h ~ 2 sqrt(eps)``. The default
(``fit.fd_step = "auto"``) is that, clipped to [1e-4, 1e-2]: at the default time tolerance
1e-6 the step is 2e-3 and the Jacobian's relative error about 2e-3, far below what matters
for the optimiser or for standard errors quoted to two digits.
"""

from __future__ import annotations

import abc
import math

import numpy as np

from fem_spin.fitting.objective import Evaluation, Objective

__all__ = ["JacobianMethod", "FiniteDifferences", "auto_step", "full_jacobian"]


def auto_step(time_tolerance: float) -> float:
    """The finite-difference step in optimiser coordinates for a forward model accurate to
    ``time_tolerance`` (see the module docstring)."""
    return float(min(max(2.0 * math.sqrt(time_tolerance), 1e-4), 1e-2))


class JacobianMethod(abc.ABC):
    """d(residuals)/dz of the objective (the nuisances projected out)."""

    name: str = ""

    @abc.abstractmethod
    def __call__(self, objective: Objective, z: np.ndarray) -> np.ndarray:
        """The Jacobian (n_points x n_free) at ``z``."""

    @abc.abstractmethod
    def perturbed(self, objective: Objective, z: np.ndarray) -> list[tuple[float, Evaluation]]:
        """Per free parameter: (signed step, the evaluation at z + step e_j), for the full
        Jacobian with the nuisance columns (:func:`full_jacobian`)."""


class FiniteDifferences(JacobianMethod):
    """One-sided differences (backwards where the forward step would cross an upper bound)."""

    name = "finite_differences"

    def __init__(self, step: float):
        self.step = float(step)

    def _steps(self, objective: Objective, z: np.ndarray) -> np.ndarray:
        _, upper = objective.bounds()
        return np.where(z + self.step > upper, -self.step, self.step)

    def perturbed(self, objective: Objective, z: np.ndarray) -> list[tuple[float, Evaluation]]:
        out = []
        for j, h in enumerate(self._steps(objective, z)):
            zj = np.array(z, float)
            zj[j] += h
            out.append((float(h), objective.evaluate(zj)))
        return out

    def __call__(self, objective: Objective, z: np.ndarray) -> np.ndarray:
        base = objective.evaluate(z).residuals
        columns = [(ev.residuals - base) / h for h, ev in self.perturbed(objective, z)]
        return np.column_stack(columns)


def full_jacobian(objective: Objective, method: JacobianMethod, at: Evaluation) -> tuple[np.ndarray, list[str]]:
    """The Jacobian of the weighted residuals with respect to the free parameters (in the
    optimiser's coordinates) AND the nuisance parameters, the nuisances held at their values
    at ``at`` for the parameter columns: r = (y - f0(z) - A(z) c)/sigma, so
    dr/dz_j = -(df0/dz_j + dA/dz_j c)/sigma and dr/dc = -A/sigma. Its covariance gives the
    standard errors of both; for the free parameters it equals the variable-projection
    (marginal) result. Returns (J, column names)."""
    names = [p.name for p in objective.free]
    perturbed = method.perturbed(objective, at.z)
    rows = []
    nuisance_blocks = []
    for k, (dataset, fit) in enumerate(zip(objective.datasets, at.datasets)):
        w = 1.0 / dataset.data.sigma if dataset.data.sigma is not None else np.ones(len(dataset.data))
        cols = []
        for h, ev in perturbed:
            other = ev.datasets[k].parts
            d_model = (other.f0 - fit.parts.f0 + (other.A - fit.parts.A) @ fit.nuisance) / h
            cols.append(-w * d_model)
        rows.append(np.column_stack(cols) if cols else np.zeros((len(w), 0)))
        nuisance_blocks.append(-w[:, None] * fit.parts.A)
    n = sum(len(b) for b in rows)
    n_nuisance = sum(b.shape[1] for b in nuisance_blocks)
    J = np.zeros((n, len(names) + n_nuisance))
    row, col = 0, len(names)
    for block, nb, fit in zip(rows, nuisance_blocks, at.datasets):
        J[row:row + len(block), :len(names)] = block
        J[row:row + len(block), col:col + nb.shape[1]] = nb
        names += [f"{nm}[{fit.name}]" for nm in fit.parts.names]
        row, col = row + len(block), col + nb.shape[1]
    return J, names
