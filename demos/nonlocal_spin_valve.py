# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: light
# ---

# # Nonlocal spin valve: $\Delta R_{NL}$ against the electrode distance
#
# A Cu strip crossed by two permalloy electrodes with AlOx tunnel barriers
# (`examples/nonlocal_spin_valve.toml`). The Valet–Fert two-current model
# (physics.md 3.1) gives the spin-resolved potentials in the 3-D device,
#
# $$
# -\nabla\cdot(\sigma_s\nabla\mu_s) \pm g_{sf}(\mu_\uparrow - \mu_\downarrow) = 0,
# \qquad g_{sf} = \frac{\sigma_\uparrow\sigma_\downarrow}{(\sigma_\uparrow+\sigma_\downarrow)\lambda_{sf}^2},
# $$
#
# and the nonlocal resistance $R_{NL} = V_{NL}/I$ for parallel and antiparallel electrodes.
# The Takahashi–Maekawa formula (PRB 67, 052409 (2003)) is the thin-wire (1-D) result,
#
# $$
# \Delta R_s = \frac{4 R_N \prod_i\bigl[\frac{P_J r_i}{1-P_J^2} + \frac{p_F r_F}{1-p_F^2}\bigr] e^{-L/\lambda_N}}
#   {\prod_i\bigl[1 + \frac{2 r_i}{1-P_J^2} + \frac{2 r_F}{1-p_F^2}\bigr] - e^{-2L/\lambda_N}},
# $$
#
# which tends to $P_J^2 R_N e^{-L/\lambda_N}$ for tunnel contacts. We compute
# $\Delta R_{NL}(L)$ from the 3-D device, compare it with the formula, fit $\lambda_N$ from the
# 3-D "measurement" as an experimentalist would, and draw the spin accumulation.
#
# Run: `./fem-env python3 demos/nonlocal_spin_valve.py` (or under `mpirun -n 2`).

# +
import copy
import os
import tomllib
from pathlib import Path

import numpy as np
from mpi4py import MPI

from fem_spin.analytic import fit_spin_diffusion_length, spin_resistance
from fem_spin.config import parse_config
from fem_spin.materials import get_interface, get_material
from fem_spin.models.valet_fert import ValetFertProblem
from fem_spin.simulation import run

import fem_spin
from fem_spin.viz.notebook import show   # displays a PNG in a notebook; nothing in a script

# Outputs go to $FEM_SPIN_DEMO_DIR when set (tests/system/test_demos.py sets it), else to
# results/demos/ of the repository (git-ignored); the repository (examples/, results/) is
# found from the package, so that this also works in a notebook, which has no __file__.
REPO = Path(fem_spin.__file__).resolve().parents[1]
OUT = Path(os.environ.get("FEM_SPIN_DEMO_DIR") or REPO / "results" / "demos")
OUT.mkdir(parents=True, exist_ok=True)
# FEM_SPIN_DEMO_SHORT=1 (tests/system/test_demos.py sets it) cuts the run for CI: four electrode
# distances (0.25, 0.75, 1.5, 3 um) instead of seven, still spanning 3 lambda_N for the fit.
# The assertions are the same.
SHORT = os.environ.get("FEM_SPIN_DEMO_SHORT") == "1"

comm = MPI.COMM_WORLD
EXAMPLE = REPO / "examples" / "nonlocal_spin_valve.toml"
base = tomllib.loads(EXAMPLE.read_text())
separations = np.array([0.25, 0.75, 1.5, 3.0] if SHORT else [0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0]) * 1e-6


def delta_r(separation: float) -> tuple[float, float]:
    """(Delta R_NL of the 3-D device, Takahashi–Maekawa value) for one electrode distance."""
    raw = copy.deepcopy(base)
    raw["geometry"]["separation"] = float(separation)
    problem = ValetFertProblem(parse_config(raw, source=str(EXAMPLE))).initialise()
    for _ in problem.solve_cases():
        pass
    summary = problem.summary()
    problem.destroy()
    return summary["delta_R_ohm"], summary["delta_R_takahashi_maekawa_ohm"]


fem, tm = np.array([delta_r(L) for L in separations]).T
# -

# The 3-D device against the formula, and $\lambda_N$ fitted from the 3-D values (tunnel
# form $A e^{-L/\lambda}$, which is what the $R_i \gg R_N$ contacts justify).

# +
cu = get_material("Cu@4.2K")
barrier = get_interface("AlOx tunnel barrier")
geometry = base["geometry"]
r_n = spin_resistance(cu.resistivity, cu.spin_diffusion_length, geometry["n_width"] * geometry["n_thickness"])
fit = fit_spin_diffusion_length(separations, fem, model="tunnel")
if comm.rank == 0:
    print(f"R_N = {r_n:.3f} Ohm, R_i = {barrier.area_resistance / (geometry['f_width'] * geometry['n_width']):.0f} Ohm")
    print(f"{'L (um)':>7} {'3-D (mOhm)':>11} {'TM (mOhm)':>10} {'3-D/TM':>7}")
    for L, a, b in zip(separations, fem, tm):
        print(f"{L * 1e6:7.2f} {a * 1e3:11.3f} {b * 1e3:10.3f} {a / b:7.3f}")
    print(f"fitted lambda_N = {fit.lambda_N * 1e9:.0f} +- {fit.lambda_N_stderr * 1e9:.0f} nm "
          f"(input {cu.spin_diffusion_length * 1e9:.0f} nm)")
assert np.all(np.abs(fem / tm - 1) < 0.05), fem / tm
assert abs(fit.lambda_N / cu.spin_diffusion_length - 1) < 0.05
# -

# The figure, and the 3-D picture from an ordinary TOML-driven run of the example.

# +
if comm.rank == 0:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    grid = np.linspace(0.1e-6, 3.2e-6, 200)
    ax.semilogy(separations * 1e6, fem * 1e3, "o", label="fem_spin, 3-D device")
    ax.semilogy(separations * 1e6, tm * 1e3, "s", mfc="none", label="Takahashi–Maekawa (thin wire)")
    ax.semilogy(grid * 1e6, fit.predict(grid) * 1e3, "-", lw=1,
                label=f"fit $A e^{{-L/\\lambda}}$: $\\lambda_N$ = {fit.lambda_N * 1e9:.0f} nm")
    ax.set_xlabel("electrode distance L (um)")
    ax.set_ylabel(r"$\Delta R_{NL} = R_P - R_{AP}$ (mOhm)")
    ax.set_title("Cu/AlOx/Py lateral spin valve, 4.2 K")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(frameon=False)
    fig.savefig(OUT / "nonlocal_spin_valve_delta_R.png", dpi=130)
    show(OUT / "nonlocal_spin_valve_delta_R.png")
    print(f"wrote {OUT / 'nonlocal_spin_valve_delta_R.png'}")

raw = copy.deepcopy(base)
raw.setdefault("output", {})["plot"] = False
config = parse_config(raw, source=str(EXAMPLE))
path = run(config, comm, overwrite=True, output_dir=OUT, quiet=True)
if comm.rank == 0:
    import shutil

    picture = path / "spin_accumulation_3d.png"
    if picture.exists():
        shutil.copy(picture, OUT / "nonlocal_spin_valve_3d.png")
        print(f"wrote {OUT / 'nonlocal_spin_valve_3d.png'}")
        show(OUT / "nonlocal_spin_valve_3d.png")
# -
