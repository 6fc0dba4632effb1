"""The fit's optimiser, chosen by measurement (issue 21: "scipy.optimize.least_squares or PETSc
TAO, chosen by measurement"): the same objective, Jacobian and bounds driven by scipy's
trust-region reflective least squares (what ``fem-spin fit`` uses) and by TAO's bounded
regularized Gauss-Newton (``brgn``, the TAO solver for nonlinear least squares), counting the
forward evaluations (residual vectors and Jacobians, each one set of forward runs) and the
wall time to the same optimum.

    ./fem-env python3 benchmarks/bench_fit_optimizer.py [--fit examples/fit_dnp_global/fit.toml]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from petsc4py import PETSc

from fem_spin.fitting.config import load_fit_config
from fem_spin.fitting.jacobian import FiniteDifferences, Sensitivities, auto_step
from fem_spin.fitting.objective import Objective
from fem_spin.fitting.setup import prepare

REPO = Path(__file__).resolve().parents[1]


class Counted:
    """The objective of a fit file with its Jacobian, counting what the optimiser asks for."""

    def __init__(self, fit_path: Path):
        config = load_fit_config(fit_path)
        datasets = prepare(config)
        tolerance = min(d.time_tolerance for d in datasets if d.time_tolerance is not None)
        self.objective = Objective(config, datasets, sensitivities=True)
        self.method = Sensitivities(FiniteDifferences(auto_step(tolerance)))
        self.residual_calls = self.jacobian_calls = 0

    def residuals(self, z: np.ndarray) -> np.ndarray:
        self.residual_calls += 1
        return self.objective.residuals(z)

    def jacobian(self, z: np.ndarray) -> np.ndarray:
        self.jacobian_calls += 1
        return self.method(self.objective, z)


def scipy_fit(fit_path: Path) -> dict:
    from scipy.optimize import least_squares

    c = Counted(fit_path)
    lower, upper = c.objective.bounds()
    start = time.perf_counter()
    sol = least_squares(c.residuals, c.objective.initial(), jac=c.jacobian, bounds=(lower, upper),
                        method="trf", x_scale=np.ones(len(lower)), ftol=1e-8, xtol=1e-8, gtol=1e-8)
    return {"optimiser": "scipy least_squares (trf)", "wall_s": time.perf_counter() - start,
            "residuals": c.residual_calls, "jacobians": c.jacobian_calls,
            "chi2": float(sol.fun @ sol.fun), "z": sol.x}


def tao_fit(fit_path: Path) -> dict:
    c = Counted(fit_path)
    lower, upper = c.objective.bounds()
    z0 = c.objective.initial()
    n_res = len(c.residuals(z0))
    c.residual_calls = 0
    p = len(z0)
    x = PETSc.Vec().createSeq(p, comm=PETSc.COMM_SELF)
    x.array[:] = z0
    r = PETSc.Vec().createSeq(n_res, comm=PETSc.COMM_SELF)
    J = PETSc.Mat().createDense((n_res, p), comm=PETSc.COMM_SELF)
    J.setUp()

    def residual(tao, X, R):
        R.array[:] = c.residuals(X.array_r.copy())

    def jacobian(tao, X, Jm, Jp):
        Jm.setValues(range(n_res), range(p), c.jacobian(X.array_r.copy()).ravel())
        Jm.assemble()

    tao = PETSc.TAO().create(PETSc.COMM_SELF)
    tao.setType("brgn")
    tao.setResidual(residual, r)
    tao.setJacobianResidual(jacobian, J, J)
    tao.setVariableBounds((PETSc.Vec().createWithArray(np.asarray(lower, float), comm=PETSc.COMM_SELF),
                           PETSc.Vec().createWithArray(np.asarray(upper, float), comm=PETSc.COMM_SELF)))
    tao.setTolerances(gatol=1e-8, grtol=1e-8)
    tao.setMaximumIterations(60)
    tao.setFromOptions()
    start = time.perf_counter()
    tao.solve(x)
    wall = time.perf_counter() - start
    z = x.array_r.copy()
    res = c.objective.residuals(z)
    return {"optimiser": "PETSc TAO (brgn)", "wall_s": wall, "residuals": c.residual_calls,
            "jacobians": c.jacobian_calls, "chi2": float(res @ res), "z": z,
            "reason": str(tao.getConvergedReason())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", default=str(REPO / "examples" / "fit_dnp_global" / "fit.toml"))
    args = parser.parse_args()
    rows = [scipy_fit(Path(args.fit)), tao_fit(Path(args.fit))]
    print("| optimiser | residual evaluations | Jacobians | wall (s) | chi^2 | optimum (ln p) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['optimiser']} | {r['residuals']} | {r['jacobians']} | {r['wall_s']:.1f} | "
              f"{r['chi2']:.6g} | {', '.join(f'{v:.6f}' for v in r['z'])} |"
              + (f" ({r['reason']})" if "reason" in r else ""))


if __name__ == "__main__":
    main()
