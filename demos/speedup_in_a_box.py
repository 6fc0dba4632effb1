# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: light
# ---

# # Hyperpolarization speed-up of nuclear spin diffusion in a box
#
# Nuclear spin diffusion with a polarization-dependent coefficient (physics.md 1.1):
#
# $$
# \frac{\partial P}{\partial t} = \nabla\cdot\bigl(D_0 f \nabla P\bigr) - R_1 (P - P_\mathrm{eq}),
# \qquad f = \frac{1}{\sqrt{1-\bar P^2}}\ (\texttt{global}),\quad
# f = \frac{1}{\sqrt{1-P(x)^2}}\ (\texttt{local}),\quad f = 1\ (\texttt{none}).
# $$
#
# Half of a quasi-1-D sample starts at $P = 0.95$, the other half at $P = 0$. The spreading
# is measured by the mean polarization of the initially unpolarized half, $P_\mathrm{out}(t)$,
# and summarised by the time at which it reaches half of its final value.
# Run it with `./fem-env python3 demos/speedup_in_a_box.py` (add `mpirun -n 2` at will).

# +
import os
from pathlib import Path

import numpy as np
from mpi4py import MPI

from fem_spin.config import parse_config
from fem_spin.models import NuclearDiffusionProblem
from fem_spin.solvers import TimeStepper

import fem_spin
from fem_spin.viz.notebook import show   # displays a PNG in a notebook; nothing in a script

# Outputs go to $FEM_SPIN_DEMO_DIR when set (tests/system/test_demos.py sets it), else to
# results/demos/ of the repository (git-ignored); the repository (examples/, results/) is
# found from the package, so that this also works in a notebook, which has no __file__.
REPO = Path(fem_spin.__file__).resolve().parents[1]
OUT = Path(os.environ.get("FEM_SPIN_DEMO_DIR") or REPO / "results" / "demos")
OUT.mkdir(parents=True, exist_ok=True)
# FEM_SPIN_DEMO_SHORT=1 (tests/system/test_demos.py sets it) would cut the run for CI, but there is
# nothing worth cutting here: the three runs take ~0.3 s of the ~2.7 s, the rest is imports
# and the figure. SHORT is unused.
SHORT = os.environ.get("FEM_SPIN_DEMO_SHORT") == "1"

length, D0, P_hyper = 200e-9, 5e-16, 0.95
base = {
    "name": "speedup_in_a_box",
    "geometry": {"type": "box", "size": [length, 10e-9, 10e-9], "cells": [80, 1, 1]},
    "model": {"type": "nuclear_diffusion", "D0": D0, "region_shape": "box",
              "region_polarization": P_hyper, "region_lower": [0, 0, 0],
              "region_upper": [length / 2, 10e-9, 10e-9]},
    "time": {"t_end": 60.0, "dt_initial": 1e-3, "tolerance": 1e-3},
}
# -

# Each mode is one run; `on_step` records the observable after every accepted step.

# +
curves = {}
for mode in ("none", "global", "local"):
    raw = {**base, "model": {**base["model"], "speedup": mode}}
    config = parse_config(raw)
    problem = NuclearDiffusionProblem(config).initialise()
    t, p_out = [0.0], [problem.observables()["P_outside"]]

    def record(info, problem=problem, t=t, p_out=p_out):
        t.append(info.t)
        p_out.append(problem.observables()["P_outside"])

    TimeStepper(problem, config.time, on_step=record).run()
    curves[mode] = (np.array(t), np.array(p_out))
# -

# The half-rise time of $P_\mathrm{out}$ (final value: $\bar P \approx 0.475$):

# +
final = curves["none"][1][-1]
half_time = {mode: float(np.interp(0.5 * final, p, t)) for mode, (t, p) in curves.items()}
if MPI.COMM_WORLD.rank == 0:
    for mode, th in half_time.items():
        print(f"{mode:>6}: P_out reaches {0.5 * final:.3f} at t = {th:.3f} s "
              f"(speed-up {half_time['none'] / th:.3f})")
# -

# The global mode accelerates by about f(Pbar = 0.475) = 1.136; the local mode more, because
# the speed-up acts where the polarization is high.

assert half_time["local"] < half_time["global"] < half_time["none"]
assert abs(half_time["none"] / half_time["global"] - 1 / np.sqrt(1 - 0.475 ** 2)) < 0.03

# Optional picture (matplotlib, rank 0).

if MPI.COMM_WORLD.rank == 0:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    for mode, (t, p) in curves.items():
        ax.plot(t[1:], p[1:], label=mode)
    ax.set(xscale="log", xlabel="t (s)", ylabel="mean P of the initially unpolarized half")
    ax.legend(frameon=False)
    fig.savefig(OUT / "speedup_in_a_box.png", dpi=120)
    show(OUT / "speedup_in_a_box.png")
    print(f"wrote {OUT / 'speedup_in_a_box.png'}")
