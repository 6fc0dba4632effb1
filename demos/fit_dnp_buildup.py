# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: light
# ---

# # Fitting $D_0$ and $k_x$ to a DNP buildup curve
#
# The forward model is the radial DNP cell of `examples/fit_dnp_radial/run.toml`
# (physics.md 1.2): one nitroxide per sphere of radius $R = (3/(4\pi n_e))^{1/3}$ (40 mM:
# 2.15 nm), microwaves driving the nuclei within $r_s = 0.6$ nm towards $P_e = 0.9$, spin
# diffusion with the global speed-up carrying the polarization out,
#
# $$
# \frac{\partial P}{\partial t} = \nabla\cdot\Bigl(\frac{D_0}{\sqrt{1-\bar P^2}}\nabla P\Bigr)
#   + k_x (P_e - P)\,\chi_{r<r_s}.
# $$
#
# An NMR experiment sees the mean polarization $\bar P(t)$ only up to an unknown receiver
# scale $s$, so the observation is $y_i = s\,\bar P(t_i; D_0, k_x) + \varepsilon_i$ with
# Gaussian noise of known $\sigma$. The fit (`fem_spin.fit`, docs/fitting.md) minimises
#
# $$
# \chi^2(D_0, k_x) = \min_s \sum_i \Bigl(\frac{y_i - s\,\bar P(t_i; D_0, k_x)}{\sigma}\Bigr)^2,
# \qquad s^\ast = \frac{\sum_i y_i \bar P_i}{\sum_i \bar P_i^2},
# $$
#
# the scale in closed form at every evaluation (variable projection), $D_0$ and $k_x$ in
# $\ln$ by a trust-region least-squares optimiser whose Jacobian comes from the forward
# sensitivities of the discrete solution. The standard errors are those of the Gaussian
# approximation, $\mathrm{Cov} = (J^T W J)^{-1}$ over $(\ln D_0, \ln k_x, s)$.
#
# The "measurement" is made with the package itself, but on a finer mesh (2.5x inside the
# source, 4x in the bulk) at a ten times tighter time tolerance, plus seeded noise: the
# fit meets its own discretisation error as it would a real experiment's model error.
# The check is the one a fit must pass: the truth lies within two standard errors.
#
# Run: `./fem-env python3 demos/fit_dnp_buildup.py`.

# +
import os
import tempfile
from pathlib import Path

import numpy as np
from mpi4py import MPI

import fem_spin
from fem_spin.analysis import interpolate_cubic
from fem_spin.fitting.config import parse_fit_config

from fem_spin.viz.notebook import show   # displays a PNG in a notebook; nothing in a script

# Outputs go to $FEM_SPIN_DEMO_DIR when set (tests/system/test_demos.py sets it), else to
# results/demos/ of the repository (git-ignored); the repository (examples/, results/) is
# found from the package, so that this also works in a notebook, which has no __file__.
REPO = Path(fem_spin.__file__).resolve().parents[1]
OUT = Path(os.environ.get("FEM_SPIN_DEMO_DIR") or REPO / "results" / "demos")
OUT.mkdir(parents=True, exist_ok=True)
# FEM_SPIN_DEMO_SHORT=1 (tests/system/test_demos.py sets it) cuts the run for CI: the
# "measurement" on a 2x (not 4x) finer bulk mesh and 20 points (not 40); the fit itself is
# the same. The assertions are the same.
SHORT = os.environ.get("FEM_SPIN_DEMO_SHORT") == "1"

comm = MPI.COMM_WORLD
RUN = REPO / "examples" / "fit_dnp_radial" / "run.toml"
TRUTH = {"model.D0": 5e-16, "model.exchange_rate": 5e3}
SCALE, SIGMA, SEED = 1000.0, 5.0, 20261205
times = np.geomspace(2e-4, 0.04, 20 if SHORT else 40)     # s
# -

# ## The synthetic data

# +
fine = fem_spin.simulate(RUN, overrides={
    **TRUTH, "geometry.mesh_size_source": 0.6e-9 / 25,
    "geometry.mesh_size_bulk": 2.15e-9 / (200 if SHORT else 400), "time.tolerance": 1e-7})
clean = SCALE * interpolate_cubic(fine.series["t"], fine.series["P_mean"], times)
data = clean + np.random.default_rng(SEED).normal(0.0, SIGMA, len(times))
# -

# ## The fit
#
# The fit file as a dictionary (the same keys as a TOML fit file, `fem-spin fit`): one
# dataset, the scale fitted in closed form, $D_0$ and $k_x$ started a factor 2.5 off.

# +
with tempfile.TemporaryDirectory(dir=OUT) as work:
    work = Path(work)
    (work / "buildup.csv").write_text("t_ms,signal\n" + "".join(
        f"{t * 1e3:.10g},{y:.10g}\n" for t, y in zip(times, data)))
    fit_file = {
        "name": "fit_dnp_buildup", "fit": {"time_tolerance": 1e-6, "profile": "none"},
        "dataset": [{"name": "c40", "file": "buildup.csv", "run": str(RUN), "time_unit": "ms",
                     "sigma": SIGMA, "value_unit": "a.u.",
                     "observation": {"type": "dnp_buildup", "scale": "fit", "offset": 0.0}}],
        "parameter": [{"key": "model.D0", "initial": 2e-16, "bounds": [1e-18, 1e-13], "scale": "log"},
                      {"key": "model.exchange_rate", "initial": 2e3, "bounds": [10.0, 1e7],
                       "scale": "log"}]}
    result = fem_spin.fit(parse_fit_config(fit_file, source="fit_dnp_buildup.toml", base_dir=work))

stats = result.statistics
scale = result.datasets["c40"].nuisance["scale"]
if comm.rank == 0:
    print(f"converged: {result.converged} ({result.forward_runs} forward runs, "
          f"{result.wall_time_s:.1f} s); chi2/dof = {stats.reduced_chi2:.3f} ({stats.dof} dof)")
    print(f"{'parameter':>22} {'fitted':>11} {'SE':>9} {'truth':>9} {'(fit-truth)/SE':>15}")
    rows = [(k, result[k], TRUTH[k]) for k in TRUTH] + [("scale (closed form)", scale, SCALE)]
    for name, e, true in rows:
        print(f"{name:>22} {e.value:11.4g} {e.standard_error:9.2g} {true:9.4g} "
              f"{(e.value - true) / e.standard_error:15.2f}")
    names = list(stats.names)
    print("correlation:", ", ".join(f"{names[i]}/{names[j]} {stats.correlation[i, j]:+.3f}"
                                    for i in range(len(names)) for j in range(i + 1, len(names))))
    if stats.degenerate:
        print("nearly degenerate (|r| > 0.95):", ", ".join(f"{a}/{b}" for a, b, _ in stats.degenerate))

assert result.converged
for key, true in TRUTH.items():
    e = result[key]
    # log-scaled: the Gaussian approximation is in ln p, SE(ln p) = the relative error
    assert abs(np.log(e.value / true)) < 2 * e.relative_error, (key, e)
    assert e.relative_error < 0.5, (key, e)   # "within 2 SE" is not an empty statement
assert abs(scale.value - SCALE) < 2 * scale.standard_error, scale
assert 0.3 < stats.reduced_chi2 < 2.5, stats.reduced_chi2
# -

# ## Data, model, residuals and the correlation
#
# A single buildup curve determines $D_0$ and $k_x$ only jointly at early times (the rate
# at which the source fills against the rate at which diffusion drains it), which shows as
# a strong $D_0$–$k_x$ correlation; the late approach to $P_e$ fixes the scale. The global
# fit over three concentrations (`examples/fit_dnp_global/`) breaks that degeneracy.

# +
if comm.rank == 0:
    from fem_spin.fitting.report import plot_correlation, plot_dataset

    png = plot_dataset(result.datasets["c40"], OUT / "fit_dnp_buildup_data_model.png")
    print(f"wrote {png}")
    show(png)
    png = plot_correlation(stats, OUT / "fit_dnp_buildup_correlation.png")
    print(f"wrote {png}")
    show(png)
# -
