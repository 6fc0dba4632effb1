# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: light
# ---

# # Fitting $\Gamma$ and $B_d$ to an MRFM slice signal
#
# The forward model is `examples/fit_onsager_relaxation/run.toml`: the two-quantity Onsager
# model (physics.md 2.2, nonlinear) of 1H in polystyrene in a field gradient
# $B' = 4.4\times10^4$ T/m, in 1-D. The polarization $\rho_2$ has been inverted on one side
# of a step ($-0.9 \mid +0.9$), the dipolar order $\rho_1 = 0.2$ is uniform. The step then
# relaxes by spin diffusion and, through the generalised gradient
# $G_2 = \nabla\Omega_2 + \Omega_1\nabla B/B_d$, separates magnetization over the length
# $\ell = B_d/B'$:
#
# $$
# \partial_t\rho_1 = -\nabla\cdot j_1 + j_2\cdot\frac{\nabla B}{B_d},\qquad
# \partial_t\rho_2 = -\nabla\cdot j_2,\qquad j_i = -\Gamma\sum_j C_{ij}(\Omega)\,G_j .
# $$
#
# An MRFM experiment detects the spins of a resonant slice $|B(x) - B_\mathrm{res}| \le \delta B$
# (here 3.4 to 10.6 nm beside the step) in units its transduction fixes, so the observation
# (`onsager_signal`, docs/fitting.md) is $y_i = s\,P_\mathrm{slice}(t_i; \Gamma, B_d) +
# \varepsilon_i$, with $P_\mathrm{slice}$ the spin-density-weighted mean of $\rho_2$ over the
# slice and the scale $s$ solved in closed form at every evaluation. $\Gamma$ sets the time
# scale $\ell^2/\Gamma$, $B_d$ the length $\ell$ against the slice (whose width is fixed in
# field units): one curve determines both. The Onsager model has no forward sensitivities,
# so the Jacobian goes by finite differences.
#
# The "measurement" is made with the package itself, but on a 4x finer mesh at a ten times
# tighter time tolerance, plus seeded noise; the fit starts at Dougherty et al.'s estimates
# for the sample ($\Gamma = 2.75\times10^{-15}$ m$^2$/s, $B_d = 0.137$ mT). The check is the
# one a fit must pass: the truth lies within two standard errors.
#
# Run: `./fem-env python3 demos/fit_onsager_relaxation.py` (also under `mpirun -n 2`).

# +
import os
import tempfile
from pathlib import Path

import numpy as np
from mpi4py import MPI

import fem_spin
from fem_spin.analysis import interpolate_cubic
from fem_spin.fitting.config import parse_fit_config
from fem_spin.models.onsager import dougherty_parameters

from fem_spin.viz.notebook import show   # displays a PNG in a notebook; nothing in a script

# Outputs go to $FEM_SPIN_DEMO_DIR when set (tests/system/test_demos.py sets it), else to
# results/demos/ of the repository (git-ignored); the repository (examples/, results/) is
# found from the package, so that this also works in a notebook, which has no __file__.
REPO = Path(fem_spin.__file__).resolve().parents[1]
OUT = Path(os.environ.get("FEM_SPIN_DEMO_DIR") or REPO / "results" / "demos")
OUT.mkdir(parents=True, exist_ok=True)
# FEM_SPIN_DEMO_SHORT=1 (tests/system/test_demos.py sets it) cuts the run for CI: the
# "measurement" on a 2x (not 4x) finer mesh and 20 points (not 30); the fit itself is the
# same. The assertions are the same.
SHORT = os.environ.get("FEM_SPIN_DEMO_SHORT") == "1"

comm = MPI.COMM_WORLD
RUN = REPO / "examples" / "fit_onsager_relaxation" / "run.toml"
GAMMA, B_D = "model.transport_coefficient", "model.dipolar_field"
TRUTH = {GAMMA: 2.2e-15, B_D: 1.6e-4}
SCALE, SIGMA, SEED = 100.0, 0.4, 20240612
times = np.geomspace(2e-4, 0.035, 20 if SHORT else 30)     # s
B_d0, Gamma0 = dougherty_parameters(4.86e28)               # the fit's starting point
# -

# ## The synthetic data

# +
fine = fem_spin.simulate(RUN, overrides={**TRUTH, "geometry.cells": 240 if SHORT else 480,
                                         "time.tolerance": 1e-7})
clean = SCALE * interpolate_cubic(fine.series["t"], fine.series["P_slice"], times)
data = clean + np.random.default_rng(SEED).normal(0.0, SIGMA, len(times))
# -

# ## The fit
#
# The fit file as a dictionary (the same keys as a TOML fit file, `fem-spin fit`): one
# dataset, the scale fitted in closed form, $\Gamma$ and $B_d$ in $\ln$.

# +
with tempfile.TemporaryDirectory(dir=OUT) as work:
    work = comm.bcast(work)
    if comm.rank == 0:
        (Path(work) / "slice.csv").write_text("t_ms,signal\n" + "".join(
            f"{t * 1e3:.10g},{y:.10g}\n" for t, y in zip(times, data)))
    comm.barrier()
    fit_file = {
        "name": "fit_onsager_relaxation", "fit": {"time_tolerance": 1e-6, "profile": "none"},
        "dataset": [{"name": "slice", "file": "slice.csv", "run": str(RUN), "time_unit": "ms",
                     "sigma": SIGMA, "value_unit": "a.u.",
                     "observation": {"type": "onsager_signal", "quantity": "P_slice", "scale": "fit"}}],
        "parameter": [{"key": GAMMA, "initial": Gamma0, "bounds": [1e-16, 1e-13], "scale": "log"},
                      {"key": B_D, "initial": B_d0, "bounds": [2e-5, 1e-3], "scale": "log"}]}
    result = fem_spin.fit(parse_fit_config(fit_file, source="fit_onsager_relaxation.toml",
                                           base_dir=Path(work)))
    comm.barrier()   # every rank has read the data before rank 0 removes the directory

stats = result.statistics
scale = result.datasets["slice"].nuisance["scale"]
if comm.rank == 0:
    print(f"converged: {result.converged} ({result.forward_runs} forward runs, "
          f"{result.wall_time_s:.1f} s); chi2/dof = {stats.reduced_chi2:.3f} ({stats.dof} dof)")
    print(f"{'parameter':>28} {'fitted':>11} {'SE':>9} {'truth':>9} {'(fit-truth)/SE':>15}")
    rows = [(k, result[k], TRUTH[k]) for k in TRUTH] + [("scale (closed form)", scale, SCALE)]
    for name, e, true in rows:
        print(f"{name:>28} {e.value:11.4g} {e.standard_error:9.2g} {true:9.4g} "
              f"{(e.value - true) / e.standard_error:15.2f}")
    names = list(stats.names)
    print("correlation:", ", ".join(f"{names[i]}/{names[j]} {stats.correlation[i, j]:+.3f}"
                                    for i in range(len(names)) for j in range(i + 1, len(names))))

assert result.converged
for key, true in TRUTH.items():
    e = result[key]
    # log-scaled: the Gaussian approximation is in ln p, SE(ln p) = the relative error
    assert abs(np.log(e.value / true)) < 2 * e.relative_error, (key, e)
    assert e.relative_error < 0.1, (key, e)   # "within 2 SE" is not an empty statement
assert abs(scale.value - SCALE) < 2 * scale.standard_error, scale
assert 0.3 < stats.reduced_chi2 < 2.5, stats.reduced_chi2
assert abs(stats.correlation[0, 1]) < 0.95     # one slice curve separates Gamma and B_d
# -

# ## Which signal determines what
#
# The same three forward runs (at the truth, and with $\Gamma$ or $B_d$ raised by 0.2 %) give
# the Gaussian correlation of $\ln\Gamma$ and $\ln B_d$ (the scale projected out, equal noise)
# for each signal the run records. The slice's polarization separates them; the dipolar order
# of the whole sample hardly does: it changes only by the energy the diffusion current at
# the step exchanges with the dipolar reservoir ($\partial_t\langle\rho_1\rangle =
# \langle j_2\rangle B'/B_d$), a smooth curve on which $\Gamma$ and $B_d$ act nearly along
# one combination (the fit of that signal alone would be flagged as nearly degenerate).

# +
h = 2e-3
series = [fem_spin.simulate(RUN, overrides={**TRUTH, **change}).series
          for change in ({}, {GAMMA: TRUTH[GAMMA] * np.exp(h)}, {B_D: TRUTH[B_D] * np.exp(h)})]


def log_correlation(quantity: str) -> float:
    """corr(ln Gamma, ln B_d) of the signal scale * quantity(t) at the data's times."""
    q = [interpolate_cubic(s["t"], s[quantity], times) for s in series]
    J = np.column_stack([(q[1] - q[0]) / h, (q[2] - q[0]) / h, q[0]])
    cov = np.linalg.inv(J.T @ J)
    return float(cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1]))


correlations = {q: log_correlation(q) for q in ("P_slice", "dipolar_slice", "dipolar_mean")}
if comm.rank == 0:
    print("corr(ln Gamma, ln B_d) by signal:", ", ".join(f"{q} {c:+.3f}" for q, c in correlations.items()))
assert abs(correlations["P_slice"]) < 0.95 < abs(correlations["dipolar_mean"])
# -

# ## Data, model, residuals and the correlation

# +
if comm.rank == 0:
    from fem_spin.fitting.report import plot_correlation, plot_dataset

    png = plot_dataset(result.datasets["slice"], OUT / "fit_onsager_relaxation_data_model.png")
    print(f"wrote {png}")
    show(png)
    png = plot_correlation(stats, OUT / "fit_onsager_relaxation_correlation.png")
    print(f"wrote {png}")
    show(png)
# -
