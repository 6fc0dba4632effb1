# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: light
# ---

# # Nonlinear, semi-linear and linear magnetization transport at an inverted step (paper Fig. 8)
#
# A hyperpolarized sample under an MRFM tip has had a region of its polarization inverted:
# the polarization $\rho_2$ jumps from $-p_0$ to $+p_0$ at the origin, the dipolar order
# $\rho_1$ is uniform, and the field is linear across the transition,
# $B = B_0 + B' x$. The two-quantity Onsager model (physics.md 2.2) transports both
# quantities; the generalised gradient
#
# $$
# G_1 = \nabla\Omega_1,\qquad G_2 = \nabla\Omega_2 + \Omega_1 \frac{\nabla B}{B_d},
# \qquad j_i = -\Gamma \sum_j C_{ij}(\Omega)\, G_j
# $$
#
# couples them through the field gradient: magnetization is not only diffused but
# separated (physics.md 2.4). The semi-linear model (paper Eq. 27) linearises in $\rho_1$,
# the linear one (Genack–Redfield, Eq. 29) in both:
#
# $$
# j_2^{\mathrm{lin}} = -\Gamma\Bigl(\nabla\rho_2 + \rho_1\frac{\nabla B}{B_d}\Bigr),\qquad
# \partial_t\rho_1 = -\nabla\cdot j_1 + j_2\cdot\frac{\nabla B}{B_d},\quad
# \partial_t\rho_2 = -\nabla\cdot j_2 .
# $$
#
# **Parameters** (the seed authors' own set-up, Dougherty et al., J. Magn. Reson. 143, 106
# (2000)): 1H in polystyrene, $n = 4.86\times10^{28}\ \mathrm{m^{-3}}$ (density
# 1.05 g/cm^3, 8 H per 104.15 g/mol), $B_0 = 0.0893$ T, $B' = 4.4\times10^4$ T/m,
# $B_d = (\mu_0/4\pi)\hbar\gamma n = 0.137$ mT and
# $\Gamma = (\mu_0/4\pi)\hbar\gamma^2 n^{1/3} = 2.76\times10^{-15}\ \mathrm{m^2/s}$
# (their estimates). Lengths are shown in units of $\ell = B_d/B' = 3.1$ nm and times in
# units of $\ell^2/\Gamma = 3.5$ ms. The initial dipolar order $\rho_1 = 0.2$ and the time
# are our choices: the paper's exact values and its deviation metric are not recoverable
# from its text (physics.md 2.4).
#
# **Metric.** The deviation of a reduced model from the nonlinear one is
# $100\,(\rho_2^{\mathrm{model}} - \rho_2^{\mathrm{nl}})/p_0$ percent, pointwise; we quote
# its maximum over $x$. We never tune the physics to reach the paper's 30 % and 20 %;
# we show how the deviations grow with the polarization $p_0$.
#
# Run: `./fem-env python3 demos/onsager_fig8.py` (also under `mpirun -n 2`).

# +
import os
from pathlib import Path

import numpy as np
from mpi4py import MPI

from fem_spin.models.onsager import dougherty_parameters
from fem_spin.simulation import sample

import fem_spin
from fem_spin.viz.notebook import show   # displays a PNG in a notebook; nothing in a script

# Outputs go to $FEM_SPIN_DEMO_DIR when set (tests/system/test_demos.py sets it), else to
# results/demos/ of the repository (git-ignored); the repository (examples/, results/) is
# found from the package, so that this also works in a notebook, which has no __file__.
REPO = Path(fem_spin.__file__).resolve().parents[1]
OUT = Path(os.environ.get("FEM_SPIN_DEMO_DIR") or REPO / "results" / "demos")
OUT.mkdir(parents=True, exist_ok=True)
# FEM_SPIN_DEMO_SHORT=1 (tests/system/test_demos.py sets it) cuts the run for CI: three initial
# polarizations (0.3, 0.9, 0.99) instead of five, so 9 runs instead of 15; the growth of the
# deviation still has three values, and 0.9 is the one drawn. The assertions are the same.
SHORT = os.environ.get("FEM_SPIN_DEMO_SHORT") == "1"

comm = MPI.COMM_WORLD
spin_density = 1.05e3 / 104.15e-3 * 8 * 6.02214076e23      # 1H per m^3 in polystyrene
B_d, Gamma = dougherty_parameters(spin_density)
gradient = 4.4e4                                              # T/m
ell = B_d / gradient
t_unit = ell ** 2 / Gamma
formulations = ("nonlinear", "semilinear", "linear")
polarizations = (0.3, 0.9, 0.99) if SHORT else (0.3, 0.5, 0.7, 0.9, 0.99)
times = [2.0 * t_unit, 10.0 * t_unit]
half_width, cells = 30 * ell, 600


def dipolar_order(p0: float) -> float:
    """rho1 = 0.2, reduced where needed to keep |rho| < 1 initially (p0 = 0.99)."""
    return min(0.2, 0.9 * np.sqrt(1 - p0 ** 2))


def configuration(formulation: str, p0: float) -> dict:
    return {"name": "fig8",
            "geometry": {"type": "interval", "x_min": -half_width, "x_max": half_width, "cells": cells},
            "model": {"type": "onsager_transport", "formulation": formulation,
                      "spin_density": spin_density, "B0": 0.0893, "field_gradient": [gradient, 0, 0],
                      "initial_dipolar_order": dipolar_order(p0),
                      "initial_polarization": -p0, "region_polarization": p0,
                      "initial_profile": "step", "step_width": 0.25 * ell},
            "time": {"t_end": times[-1], "dt_initial": 1e-4 * t_unit, "tolerance": 2e-4},
            "output": {"plot": False, "render": False}}


probe_x = np.linspace(-half_width, half_width, 1201)


def profile(problem) -> np.ndarray:
    """rho1, rho2 on the probe points, the same array on every rank."""
    from fem_spin.io import LineProbe

    if not hasattr(problem, "_demo_probe"):
        problem._demo_probe = LineProbe(problem.mesh, [-half_width, 0, 0], [half_width, 0, 0], len(probe_x))
    problem.update_output_functions()
    return np.vstack([problem._demo_probe.evaluate(problem.dipolar_out),
                      problem._demo_probe.evaluate(problem.polarization_out)])


results = {(f, p0): sample(configuration(f, p0), times, profile) for f in formulations for p0 in polarizations}
# -

# The deviation of each reduced model from the nonlinear one, and the largest |rho|
# each model reaches (only the nonlinear model is bounded by construction).

# +
deviation = {}
for (f, p0), data in results.items():
    if f == "nonlinear":
        continue
    reference = results[("nonlinear", p0)]
    deviation[(f, p0)] = 100 * (data[:, 1] - reference[:, 1]) / p0      # (times, points) in %
rho_max = {key: float(np.max(np.hypot(d[:, 0], d[:, 1]))) for key, d in results.items()}

if comm.rank == 0:
    print(f"l = B_d/B' = {ell * 1e9:.3g} nm, time unit l^2/Gamma = {t_unit * 1e3:.3g} ms, "
          f"B_d = {B_d * 1e4:.3g} G, Gamma = {Gamma:.3g} m^2/s")
    print("max |deviation from nonlinear| of rho2, % of p0, at t = "
          + ", ".join(f"{t / t_unit:g}" for t in times) + " l^2/Gamma")
    print(f"{'p0':>5} {'semilinear':>22} {'linear':>22} {'max|rho| nl/semi/lin':>24}")
    for p0 in polarizations:
        cells_ = [" / ".join(f"{np.max(np.abs(deviation[(f, p0)][k])):6.2f}" for k in range(len(times)))
                  for f in ("semilinear", "linear")]
        bounds = " / ".join(f"{rho_max[(f, p0)]:.4f}" for f in formulations)
        print(f"{p0:5.2f} {cells_[0]:>22} {cells_[1]:>22} {bounds:>24}")

# The physics statements of paper section 3.3.7, checked (not tuned):
for p0 in polarizations:
    semi, lin = (np.max(np.abs(deviation[(f, p0)][-1])) for f in ("semilinear", "linear"))
    assert lin > semi, f"p0 = {p0}: the linear model must deviate more than the semi-linear one"
    where = probe_x[np.argmax(np.abs(deviation[("linear", p0)][-1]))]
    assert abs(where) < 6 * ell, "the deviation is concentrated at the transition"
    assert rho_max[("nonlinear", p0)] < 1
lin_growth = [np.max(np.abs(deviation[("linear", p0)][-1])) for p0 in polarizations]
assert all(np.diff(lin_growth) > 0), "deviations grow with the polarization"
# -

# Figure: the profiles at p0 = 0.9 (top), the pointwise deviations (middle) and the growth
# of the largest deviation with the polarization (bottom).

# +
if comm.rank == 0:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p_show, k = 0.9, len(times) - 1
    xs = probe_x / ell
    fig, axes = plt.subplots(3, 1, figsize=(7, 10), constrained_layout=True)
    styles = {"nonlinear": "-", "semilinear": "--", "linear": ":"}
    for f in formulations:
        axes[0].plot(xs, results[(f, p_show)][k, 1], styles[f], label=f"{f} rho2")
    axes[0].plot(xs, results[("nonlinear", p_show)][k, 0], "-", color="grey", label="nonlinear rho1")
    axes[0].set(xlabel="x / l", ylabel="rho", xlim=(-15, 15),
                title=f"p0 = {p_show}, t = {times[k] / t_unit:g} l^2/Gamma (1H in polystyrene, "
                      f"B' = {gradient:.2g} T/m)")
    axes[0].legend()
    for f in ("semilinear", "linear"):
        axes[1].plot(xs, deviation[(f, p_show)][k], styles[f], label=f"{f} - nonlinear")
    axes[1].set(xlabel="x / l", ylabel="deviation of rho2 (% of p0)", xlim=(-15, 15))
    axes[1].legend()
    for f in ("semilinear", "linear"):
        axes[2].plot(polarizations, [np.max(np.abs(deviation[(f, p)][k])) for p in polarizations],
                     "o" + styles[f], label=f)
    axes[2].set(xlabel="initial polarization p0", ylabel="max deviation (% of p0)")
    axes[2].legend()
    fig.savefig(OUT / "onsager_fig8.png", dpi=120)
    show(OUT / "onsager_fig8.png")
    print(f"wrote {OUT / 'onsager_fig8.png'}")
# -
