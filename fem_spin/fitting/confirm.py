"""Confirming a fit on the 3-D cell (``confirm_run`` of a dataset).

A DNP fit runs on the 1-D radial cell because it is fast; the radial cell is a reduction (one
electron per Wigner-Seitz sphere). After the fit, each dataset with a ``confirm_run`` is
simulated once more with that run file (a ``dnp_cube`` or ``dnp_sphere`` cell, or any
transient nuclear_diffusion run) at the best-fit parameters, with the dataset's overrides and
the fit's time tolerance, and observed as the dataset is. What is reported:

* ``chi2_fit``: the data against the fitted (radial) model;
* ``chi2``: the data against the 3-D model with the fit's nuisances (scale, offset) held, and
  ``chi2_refit_nuisances`` with them re-solved for the 3-D curve (what the 3-D model could
  reach without refitting the physical parameters);
* ``max_deviation``: the largest |3-D model - radial model| at the data's points (nuisances
  held), in the data's units and in units of the data's sigma.

The verdict: the reduction holds for these data when the 3-D model stays within one sigma of
the radial one at every point (it cannot change the fit's conclusions by more than the noise);
otherwise fit on the 3-D cell (or a finer one). Without sigma, the rms residual of the fit
stands in for it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from fem_spin.fitting.objective import Evaluation, Objective

__all__ = ["Confirmation", "confirm"]


@dataclasses.dataclass(frozen=True)
class Confirmation:
    """One dataset's confirmation run at the best-fit parameters."""

    dataset: str
    run: str
    model: np.ndarray            # the 3-D model at the data's points, the fit's nuisances held
    chi2_fit: float
    chi2: float
    chi2_refit_nuisances: float
    max_deviation: float         # data units
    max_deviation_sigma: float   # in units of sigma (or of the fit's rms residual without sigma)
    steps: int

    @property
    def holds(self) -> bool:
        return self.max_deviation_sigma < 1.0

    def verdict(self) -> str:
        if self.holds:
            return (f"the 3-D cell stays within {self.max_deviation_sigma:.2g} sigma of the radial model: "
                    f"the radial reduction holds for these data")
        return (f"the 3-D cell differs from the radial model by up to {self.max_deviation_sigma:.3g} sigma: "
                f"the radial reduction does not hold at this noise; fit on the 3-D cell")

    def as_dict(self) -> dict:
        return {"run": self.run, "chi2_fit": self.chi2_fit, "chi2": self.chi2,
                "chi2_refit_nuisances": self.chi2_refit_nuisances, "max_deviation": self.max_deviation,
                "max_deviation_sigma": self.max_deviation_sigma, "holds": self.holds,
                "verdict": self.verdict(), "steps": self.steps, "model": self.model}


def confirm(objective: Objective, at: Evaluation) -> tuple[dict[str, Confirmation], int, float]:
    """The confirmation runs of the datasets that have one, at the parameters of ``at`` (spread
    over the rank groups like any forward runs). Returns (dataset -> Confirmation, forward
    runs, their seconds); the objective's own counters are left as they were."""
    todo = [(d, fitted) for d, fitted in zip(objective.datasets, at.datasets) if d.confirm is not None]
    if not todo:
        return {}, 0, 0.0
    runs, seconds = objective.forward_runs, objective.forward_seconds
    objective.prefetch((d.confirm, at.values, False) for d, _ in todo)
    used = (objective.forward_runs - runs, objective.forward_seconds - seconds)
    objective.forward_runs, objective.forward_seconds = runs, seconds
    out = {}
    for d, fitted in todo:
        parts = objective.parts(d.confirm, at.values, tangent=False)
        held = parts.f0 + parts.A @ fitted.nuisance
        refit = objective.fit_dataset(d.confirm, parts)
        sigma = d.data.sigma
        if sigma is None:   # the fit's scatter stands in for the noise
            sigma = np.full(len(held), max(float(np.sqrt(np.mean(fitted.residuals ** 2))), 1e-300))
        r = (d.data.y - held) / (d.data.sigma if d.data.sigma is not None else 1.0)
        deviation = np.abs(held - fitted.model)
        out[d.spec.name] = Confirmation(
            dataset=d.spec.name, run=str(d.confirm.spec.run), model=held,
            chi2_fit=float(fitted.residuals @ fitted.residuals), chi2=float(r @ r),
            chi2_refit_nuisances=float(refit.residuals @ refit.residuals),
            max_deviation=float(deviation.max()), max_deviation_sigma=float(np.max(deviation / sigma)),
            steps=parts.steps)
    return out, used[0], used[1]
