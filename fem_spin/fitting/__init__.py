"""Fitting physical models to measured curves (issue 21, phase 1).

A fit file (TOML, :mod:`fem_spin.fitting.config`) names datasets (CSV files,
:mod:`~fem_spin.fitting.data`), the run file each is simulated with, the free parameters and
the observation model (:mod:`~fem_spin.fitting.observations`). The objective
(:mod:`~fem_spin.fitting.objective`) runs ``fem_spin.simulate`` per dataset, solves the
linear nuisance parameters (an NMR signal scale, an offset) in closed form and returns the
weighted residuals; :mod:`~fem_spin.fitting.driver` minimises them with
``scipy.optimize.least_squares`` (Jacobian: :mod:`~fem_spin.fitting.jacobian`);
:mod:`~fem_spin.fitting.statistics` gives standard errors, correlations, degeneracy flags and
AIC/BIC; :mod:`~fem_spin.fitting.report` writes fit.json, fit_report.md and the plots.

    >>> import fem_spin
    >>> result = fem_spin.fit("examples/fit_dnp_radial/fit.toml")
    >>> result.parameters["model.D0"].value, result.parameters["model.D0"].standard_error
"""

from __future__ import annotations

__all__ = ["fit", "FitResult", "load_fit_config", "FitConfig"]


def __getattr__(name: str):
    # imported on first use: the configuration layer must not load MPI, PETSc or scipy
    if name in ("fit", "FitResult"):
        from fem_spin.fitting import driver

        return getattr(driver, name)
    if name in ("load_fit_config", "FitConfig"):
        from fem_spin.fitting import config

        return getattr(config, name)
    raise AttributeError(f"module 'fem_spin.fitting' has no attribute {name!r}")
