# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: light
# ---

# # Fitting the spin lifetime and the contact polarization to a Hanle curve
#
# The forward model is the Co/AlOx/Al lateral spin valve of `examples/fit_hanle/run.toml`
# (physics.md 3.1; the device of `demos/hanle.py`): two Co electrodes behind tunnel barriers
# at $L = 650$ nm on an Al strip, a field $B$ perpendicular to the substrate. In Al the spin
# accumulation diffuses, relaxes and precesses,
#
# $$
# 0 = D\nabla^2\boldsymbol\mu_s - \frac{\boldsymbol\mu_s}{\tau_{sf}}
#     + \boldsymbol\omega_L\times\boldsymbol\mu_s, \qquad \omega_L = \frac{g\mu_B B}{\hbar},
# $$
#
# and the detector reads $R_{NL}(B)$: a peak of height $\approx P_J^2 R_N/2$ at $B = 0$ (with
# $R_N = \rho_N\lambda_N/A_N$, $\lambda_N = \sqrt{D\tau_{sf}}$) that falls, changes sign where
# the spins precess by about $\pi$ during the transit time $L^2/D$, and decays. A measured
# curve carries a spin-independent baseline $c$, so the observation is
# $y_i = R_{NL}(B_i; \tau_{sf}, P_J) + c + \varepsilon_i$, $c$ solved in closed form at
# every evaluation (variable projection) and $\tau_{sf}$ (in $\ln$) and $P_J$ (one value for
# both barriers) by a trust-region least-squares optimiser. $D$ is held at the library value
# of Al at 4.2 K (from the resistivity by the Einstein relation, as an experimentalist would).
#
# One forward run (a stationary 3-D solve) per field. The Jacobian comes from the **forward
# sensitivities of the stationary problem**: for $A(p)\,u = 0$ with the contact values fixed,
# $A\,s = -\partial_p A\,u$ with the run's own operator, $\partial_p A$ by `ufl.derivative`
# of the residual through the regions' coefficients (models/valet_fert_tangent.py), one
# extra linear solve per parameter per field, no finite-difference runs.
#
# The "measurement" is made with the package on a finer mesh plus seeded noise, so the fit
# meets its own discretisation error as it would a real model error; the check is that the
# truth lies within two standard errors. For comparison, the 1-D thin-wire Hanle formula
# (`fem_spin.analytic.fit_hanle`, the usual experimental analysis) is fitted to the same data.
#
# Run: `./fem-env python3 demos/fit_hanle.py` (or under `mpirun -n 2`).

# +
import os
import tempfile
from pathlib import Path

import numpy as np
from mpi4py import MPI

import fem_spin
from fem_spin.analytic import fit_hanle
from fem_spin.fitting.config import parse_fit_config
from fem_spin.materials import get_material

from fem_spin.viz.notebook import show   # displays a PNG in a notebook; nothing in a script

# Outputs go to $FEM_SPIN_DEMO_DIR when set (tests/system/test_demos.py sets it), else to
# results/demos/ of the repository (git-ignored); the repository (examples/, results/) is
# found from the package, so that this also works in a notebook, which has no __file__.
REPO = Path(fem_spin.__file__).resolve().parents[1]
OUT = Path(os.environ.get("FEM_SPIN_DEMO_DIR") or REPO / "results" / "demos")
OUT.mkdir(parents=True, exist_ok=True)
# FEM_SPIN_DEMO_SHORT=1 (tests/system/test_demos.py sets it) cuts the run for CI: 9 fields
# (not 25) and the "measurement" on a 35/250 nm mesh (not 25/150 nm); the fit itself is the
# same. The assertions are the same.
SHORT = os.environ.get("FEM_SPIN_DEMO_SHORT") == "1"

comm = MPI.COMM_WORLD
RUN = REPO / "examples" / "fit_hanle" / "run.toml"
TAU, P_J = 120e-12, 0.28              # the truth: tau_sf (s) and the barriers' polarization
BASELINE, SIGMA, SEED = 0.5e-3, 1e-3, 20261222         # Ohm (noise ~0.8 % of the peak)
SEPARATION = 650e-9
fields = np.linspace(-0.3, 0.3, 9 if SHORT else 25)     # T
fine = ({"geometry.mesh_size_junction": 35e-9, "geometry.mesh_size": 250e-9} if SHORT
        else {"geometry.mesh_size_junction": 25e-9, "geometry.mesh_size": 150e-9})
# -

# ## The synthetic data

# +
truth = {"model.regions.N.spin_lifetime": TAU, "model.regions.barrier1.polarization": P_J,
         "model.regions.barrier2.polarization": P_J}
clean = np.array([fem_spin.simulate(RUN, overrides={**truth, **fine, "model.hanle_fields": [float(b)]})
                  .summary["R_parallel_ohm"] for b in fields])
data = clean + BASELINE + np.random.default_rng(SEED).normal(0.0, SIGMA, len(fields))
# -

# ## The fit
#
# The fit file as a dictionary (the keys of a TOML fit file, `fem-spin fit`; the same fit is
# `examples/fit_hanle/fit.toml`): one dataset, the offset in closed form, $\tau_{sf}$ and $P_J$
# started at the library values (100 ps, 0.3).

# +
with tempfile.TemporaryDirectory(dir=OUT) as work:   # each rank its own scratch copy of the data
    work = Path(work)
    (work / "hanle.csv").write_text("B_mT,R_NL_ohm\n" + "".join(
        f"{b * 1e3:.10g},{y:.10g}\n" for b, y in zip(fields, data)))
    fit_file = {
        "name": "fit_hanle", "fit": {"profile": "none", "ftol": 1e-6, "xtol": 1e-6},
        "dataset": [{"name": "hanle", "file": "hanle.csv", "run": str(RUN), "sigma": SIGMA, "value_unit": "Ohm",
                     "observation": {"type": "hanle", "quantity": "R_parallel_ohm", "unit": "mT",
                                     "offset": "fit"}}],
        "parameter": [{"key": "model.regions.N.spin_lifetime", "initial": 100e-12, "bounds": [5e-12, 2e-9],
                       "scale": "log"},
                      {"key": "model.regions.barrier1.polarization", "initial": 0.3, "bounds": [0.01, 0.95],
                       "scale": "linear", "also": ["model.regions.barrier2.polarization"]}]}
    result = fem_spin.fit(parse_fit_config(fit_file, source="fit_hanle.toml", base_dir=work))

stats = result.statistics
tau, p_j = result["model.regions.N.spin_lifetime"], result["model.regions.barrier1.polarization"]
offset = result.datasets["hanle"].nuisance["offset"]
al = get_material("Al@4.2K")
lam, lam_se = np.sqrt(al.diffusion_constant * tau.value), 0.5 * tau.relative_error * np.sqrt(al.diffusion_constant * tau.value)
one_d = fit_hanle(fields, data - offset.value, SEPARATION)   # the thin-wire formula, baseline removed
if comm.rank == 0:
    print(f"converged: {result.converged} ({result.forward_runs} forward runs, {result.wall_time_s:.1f} s; "
          f"Jacobian columns: {result.jacobian['columns']}); chi2/dof = {stats.reduced_chi2:.3f} ({stats.dof} dof)")
    print(f"{'parameter':>22} {'fitted':>11} {'SE':>9} {'truth':>9} {'(fit-truth)/SE':>15}")
    for name, e, true in (("tau_sf (s)", tau, TAU), ("P_J", p_j, P_J), ("baseline (Ohm)", offset, BASELINE)):
        deviation = np.log(e.value / true) / e.relative_error if e.scale == "log" else (e.value - true) / e.standard_error
        print(f"{name:>22} {e.value:11.4g} {e.standard_error:9.2g} {true:9.4g} {deviation:15.2f}")
    print(f"{'lambda_N (m)':>22} {lam:11.4g} {lam_se:9.2g} {np.sqrt(al.diffusion_constant * TAU):9.4g}"
          f"   (sqrt(D tau_sf), D = {al.diffusion_constant:.3g} m^2/s held)")
    print(f"correlation tau_sf/P_J {stats.correlation[0, 1]:+.3f}")
    print(f"1-D thin-wire formula on the same data: tau_sf = {one_d.tau_sf * 1e12:.1f} ps, lambda_N = "
          f"{one_d.lambda_N * 1e9:.0f} nm, D = {one_d.diffusion_constant:.3g} m^2/s")

assert result.converged
assert result.jacobian["columns"] == {"model.regions.N.spin_lifetime": "sensitivities",
                                      "model.regions.barrier1.polarization": "sensitivities"}
assert abs(np.log(tau.value / TAU)) < 2 * tau.relative_error, tau
assert abs(p_j.value - P_J) < 2 * p_j.standard_error, p_j
assert tau.relative_error < 0.05 and p_j.relative_error < 0.05   # "within 2 SE" says something
assert abs(offset.value - BASELINE) < 2 * offset.standard_error, offset
assert 0.2 < stats.reduced_chi2 < 3, stats.reduced_chi2
# -

# ## Data, model, residuals and the correlation
#
# $\tau_{sf}$ sets both the width of the curve and, through $\lambda_N = \sqrt{D\tau_{sf}}$,
# the decay $e^{-L/\lambda_N}$ of its amplitude, which $P_J^2$ scales: the two come out
# anticorrelated but well separated by the shape.

# +
if comm.rank == 0:
    from fem_spin.fitting.report import plot_correlation, plot_dataset

    png = plot_dataset(result.datasets["hanle"], OUT / "fit_hanle_data_model.png")
    print(f"wrote {png}")
    show(png)
    png = plot_correlation(stats, OUT / "fit_hanle_correlation.png")
    print(f"wrote {png}")
    show(png)
# -
