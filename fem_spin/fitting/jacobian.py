"""The Jacobian of a fit's residuals.

Two methods. :class:`Sensitivities` (``fit.jacobian = "sensitivities"``, the default): the
forward runs carry the forward sensitivities of the discrete solution
(fem_spin/solvers/sensitivity.py: the derivative of the time-discrete map with the step
sequence frozen, one extra linear solve per parameter per step) for every parameter the model
can differentiate (nuclear_diffusion: D0, R1, P_eq, k_x, P_e, ...; ``tangent_support`` of the
model's config says which and why not), and finite differences give the columns of the
others (geometry keys such as ``geometry.source_radius`` or the concentration change the
mesh; a model without sensitivities). :class:`FiniteDifferences`
(``fit.jacobian = "finite_differences"``): every column by one-sided differences. The two
agree to the finite differences' own accuracy (tests/system/test_sensitivities.py).

The observation is affine in the run's series (``f0 + A c`` with f0 and A linear in the
observed quantity Q), so its derivatives are the observation applied to dQ/dp
(``Observation.basis_tangent``). The optimiser's residuals project the linear nuisances out
(variable projection); their exact Jacobian from d f0 and d A is :func:`projected_columns`.
Log-scaled parameters are optimised in z = ln p: d/dz = p d/dp; linear ones in z = p/typical:
d/dz = typical d/dp.

Why the finite-difference step is what it is. The forward model is not a smooth function of
the parameters at the level of its time error: the adaptive stepper chooses different steps
for different parameters, so the computed curve carries a "noise" of the order of the time
tolerance ``eps`` (absolute, in units of P) that jumps when the step pattern changes. A
one-sided difference with step ``h`` (in the optimiser's coordinate: a relative change ``h``
of a log-scaled parameter) then has the error ``~ 2 eps/h`` from that noise plus
``~ h |f''|/2`` from truncation; with derivatives and curvatures of order one (P and its
logarithmic derivatives are O(1) quantities) the total is smallest at ``h ~ 2 sqrt(eps)``.
The default (``fit.fd_step = "auto"``) is that, clipped to [1e-4, 1e-2]: at the default time
tolerance 1e-6 the step is 2e-3 and the Jacobian's relative error about 2e-3, far below what
matters for the optimiser or for standard errors quoted to two digits. Sensitivities have no
such error: they are exact for the discrete map the residuals are computed from.
"""

from __future__ import annotations

import abc
import math

import numpy as np

from fem_spin.fitting.objective import Evaluation, Objective

__all__ = ["JacobianMethod", "FiniteDifferences", "Sensitivities", "auto_step", "full_jacobian",
           "projected_columns"]


def auto_step(time_tolerance: float) -> float:
    """The finite-difference step in optimiser coordinates for a forward model accurate to
    ``time_tolerance`` (see the module docstring)."""
    return float(min(max(2.0 * math.sqrt(time_tolerance), 1e-4), 1e-2))


def projected_columns(weights: np.ndarray, fit, d_f0: np.ndarray, d_A: np.ndarray) -> np.ndarray:
    """d(weighted residuals)/dz of one dataset with the nuisances c re-solved (variable
    projection), from d f0/dz and d A/dz: with r = w (y - f0 - A c), c the weighted least
    squares solution, A~ = w A and g = -w (d f0 + d A c),
    dr = g - A~ pinv(A~) g - pinv(A~)^T (w d A)^T r (Golub and Pereyra 1973)."""
    g = -weights * (d_f0 + d_A @ fit.nuisance)
    At = weights[:, None] * fit.parts.A
    if At.shape[1] == 0:
        return g
    M = np.linalg.pinv(At)
    return g - At @ (M @ g) - M.T @ ((weights[:, None] * d_A).T @ fit.residuals)


def _weights(dataset) -> np.ndarray:
    return 1.0 / dataset.data.sigma if dataset.data.sigma is not None else np.ones(len(dataset.data))


class JacobianMethod(abc.ABC):
    """d(residuals)/dz of the objective (the nuisances projected out)."""

    name: str = ""

    @abc.abstractmethod
    def derivatives(self, objective: Objective, at: Evaluation) -> list[list[tuple[np.ndarray, np.ndarray]]]:
        """Per dataset, per free parameter: (d f0/dz_j, d A/dz_j) at ``at``."""

    def columns(self, objective: Objective) -> dict[str, str]:
        """How each free parameter's column is computed (for the report)."""
        return {p.name: self.name for p in objective.free}

    def __call__(self, objective: Objective, z: np.ndarray) -> np.ndarray:
        at = objective.evaluate(z)
        blocks = []
        for dataset, fit, derivs in zip(objective.datasets, at.datasets, self.derivatives(objective, at)):
            w = _weights(dataset)
            blocks.append(np.column_stack([projected_columns(w, fit, d0, dA) for d0, dA in derivs])
                          if derivs else np.zeros((len(w), 0)))
        return np.vstack(blocks)


class FiniteDifferences(JacobianMethod):
    """One-sided differences (backwards where the forward step would cross an upper bound)."""

    name = "finite_differences"

    def __init__(self, step: float):
        self.step = float(step)

    def _steps(self, objective: Objective, z: np.ndarray) -> np.ndarray:
        _, upper = objective.bounds()
        return np.where(z + self.step > upper, -self.step, self.step)

    def points(self, objective: Objective, z: np.ndarray, which=None) -> list[tuple[int, float, np.ndarray]]:
        """(j, signed step, z + step e_j) per free parameter j (``which``: only these)."""
        out = []
        for j, h in enumerate(self._steps(objective, z)):
            if which is not None and j not in which:
                continue
            zj = np.array(z, float)
            zj[j] += h
            out.append((j, float(h), zj))
        return out

    @staticmethod
    def prefetch(objective: Objective, zs) -> None:
        """Ask for the forward runs of every dataset at every z of ``zs`` at once: each
        (column, dataset) run is one task for the rank groups."""
        objective.prefetch((d, objective.physical(z), False) for z in zs for d in objective.datasets)

    def perturbed(self, objective: Objective, z: np.ndarray, which=None) -> list[tuple[int, float, Evaluation]]:
        """(j, signed step, the evaluation at z + step e_j) per free parameter j (``which``:
        only these)."""
        points = self.points(objective, z, which)
        self.prefetch(objective, [zj for _, _, zj in points])
        return [(j, h, objective.evaluate(zj, tangent=False)) for j, h, zj in points]

    def _difference(self, objective, at, which=None):
        out = [[None] * len(objective.free) for _ in objective.datasets]
        for j, h, ev in self.perturbed(objective, at.z, which):
            for k, fit in enumerate(at.datasets):
                other = ev.datasets[k].parts
                out[k][j] = ((other.f0 - fit.parts.f0) / h, (other.A - fit.parts.A) / h)
        return out

    def derivatives(self, objective, at):
        return self._difference(objective, at)

    def __call__(self, objective: Objective, z: np.ndarray) -> np.ndarray:
        """Differences of the projected residuals (phase 1's Jacobian, kept as it was)."""
        points = self.points(objective, z)
        self.prefetch(objective, [z] + [zj for _, _, zj in points])
        base = objective.evaluate(z, tangent=False).residuals
        columns = [(objective.evaluate(zj, tangent=False).residuals - base) / h for _, h, zj in points]
        return np.column_stack(columns)


class Sensitivities(JacobianMethod):
    """Forward sensitivities where the dataset's model gives them (the objective's forward
    runs carry them: ``ModelParts.tangent``), finite differences (``fd``) for the rest."""

    name = "sensitivities"

    def __init__(self, fd: FiniteDifferences):
        self.fd = fd

    def columns(self, objective: Objective) -> dict[str, str]:
        out = {}
        for p in objective.free:
            acting = [d for d in objective.datasets if p in d.parameters]
            out[p.name] = ("sensitivities" if acting and all(objective.differentiates(d, p) for d in acting)
                           else "finite_differences")
        return out

    def derivatives(self, objective, at):
        methods = self.columns(objective)
        missing = {j for j, p in enumerate(objective.free) if methods[p.name] != "sensitivities"}
        fd = self.fd._difference(objective, at, missing) if missing else None
        out = []
        for k, (dataset, fit) in enumerate(zip(objective.datasets, at.datasets)):
            n, m = fit.parts.A.shape
            row = []
            for j, p in enumerate(objective.free):
                if j in missing:
                    row.append(fd[k][j])
                elif p not in dataset.parameters:
                    row.append((np.zeros(n), np.zeros((n, m))))
                else:
                    d_f0, d_A = fit.parts.tangent[p.name]
                    factor = at.values[p.name] if p.log else p.typical
                    row.append((factor * d_f0, factor * d_A))
            out.append(row)
        return out


def full_jacobian(objective: Objective, method: JacobianMethod, at: Evaluation) -> tuple[np.ndarray, list[str]]:
    """The Jacobian of the weighted residuals with respect to the free parameters (in the
    optimiser's coordinates) AND the nuisance parameters, the nuisances held at their values
    at ``at`` for the parameter columns: r = (y - f0(z) - A(z) c)/sigma, so
    dr/dz_j = -(df0/dz_j + dA/dz_j c)/sigma and dr/dc = -A/sigma. Its covariance gives the
    standard errors of both; for the free parameters it equals the variable-projection
    (marginal) result. Returns (J, column names)."""
    names = [p.name for p in objective.free]
    derivatives = method.derivatives(objective, at)
    rows = []
    nuisance_blocks = []
    for dataset, fit, derivs in zip(objective.datasets, at.datasets, derivatives):
        w = _weights(dataset)
        cols = [-w * (d_f0 + d_A @ fit.nuisance) for d_f0, d_A in derivs]
        rows.append(np.column_stack(cols) if cols else np.zeros((len(w), 0)))
        nuisance_blocks.append(-w[:, None] * fit.parts.A)
    n = sum(len(b) for b in rows)
    n_nuisance = sum(b.shape[1] for b in nuisance_blocks)
    n_free = len(names)
    J = np.zeros((n, n_free + n_nuisance))
    row, col = 0, n_free
    for block, nb, fit in zip(rows, nuisance_blocks, at.datasets):
        J[row:row + len(block), :n_free] = block
        J[row:row + len(block), col:col + nb.shape[1]] = nb
        names += [f"{nm}[{fit.name}]" for nm in fit.parts.names]
        row, col = row + len(block), col + nb.shape[1]
    return J, names
