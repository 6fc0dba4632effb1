# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: light
# ---

# # Hanle precession in a nonlocal spin valve, and the spin lifetime from a fit
#
# An Al strip with two Co electrodes behind AlOx tunnel barriers at $L = 650$ nm (the kind of
# device of Jedema et al., Nature 416, 713 (2002)), with a field $B$ perpendicular to the
# substrate. In Al the spin accumulation is a vector that diffuses, relaxes and precesses
# (physics.md 3.1, Bloch–Torrey):
#
# $$
# 0 = D\nabla^2\boldsymbol\mu_s - \frac{\boldsymbol\mu_s}{\tau_{sf}}
#     + \boldsymbol\omega_L\times\boldsymbol\mu_s,
# \qquad \omega_L = \frac{g\mu_B B}{\hbar},
# $$
#
# while the ferromagnets keep only the component along their magnetization. The detector
# reads the projection on its magnetization, so $R_{NL}(B)$ falls, changes sign when the
# spins precess by about $\pi$ on their way, and decays: the Hanle curve. For tunnel
# contacts in a thin wire it is (1-D, parallel state)
#
# $$
# R_{NL}(B) = \frac{P_J^2 R_N}{2}\,\mathrm{Re}\,\frac{e^{-(L/\lambda)\sqrt{1+i\omega_L\tau_{sf}}}}
#   {\sqrt{1+i\omega_L\tau_{sf}}},
# $$
#
# and experiments fit it to obtain $\lambda_{sf}$ and $\tau_{sf}$. We compute the 3-D curve,
# compare its shape with the formula and its zero-field value with Takahashi–Maekawa (the
# contacts here, $R_i \approx 12 R_N$, are not quite non-invasive: the 1-D tunnel formula is
# ~6 % high at B = 0), and fit it as an experimentalist would.
#
# Run: `./fem-env python3 demos/hanle.py` (or under `mpirun -n 2`).

# +
import os
from pathlib import Path

import numpy as np
from mpi4py import MPI

from fem_spin.analytic import fit_hanle, hanle_nonlocal_resistance, spin_resistance
from fem_spin.config import parse_config
from fem_spin.materials import get_interface, get_material
from fem_spin.models.valet_fert import ValetFertProblem

import fem_spin
from fem_spin.viz.notebook import show   # displays a PNG in a notebook; nothing in a script

# Outputs go to $FEM_SPIN_DEMO_DIR when set (tests/system/test_demos.py sets it), else to
# results/demos/ of the repository (git-ignored); the repository (examples/, results/) is
# found from the package, so that this also works in a notebook, which has no __file__.
REPO = Path(fem_spin.__file__).resolve().parents[1]
OUT = Path(os.environ.get("FEM_SPIN_DEMO_DIR") or REPO / "results" / "demos")
OUT.mkdir(parents=True, exist_ok=True)
# FEM_SPIN_DEMO_SHORT=1 (tests/system/test_demos.py sets it) cuts the run for CI: 13 fields instead
# of 25 (50 mT apart instead of 25 mT, B = 0 still among them; the fit still has ~4 points
# per lobe). The assertions are the same.
SHORT = os.environ.get("FEM_SPIN_DEMO_SHORT") == "1"

comm = MPI.COMM_WORLD
separation = 650e-9
fields = np.linspace(-0.3, 0.3, 13 if SHORT else 25)  # T
barrier = {"interface": "AlOx tunnel barrier", "magnetization": [0, 1, 0]}
cobalt = {"material": "Co@4.2K", "magnetization": [0, 1, 0]}
raw = {
    "name": "hanle",
    "geometry": {"type": "lateral_spin_valve", "separation": separation, "n_width": 100e-9,
                 "n_thickness": 50e-9, "n_extension": 2.5e-6, "f_width": 100e-9, "f_thickness": 50e-9,
                 "barrier_thickness": 2e-9, "mesh_size_junction": 25e-9, "mesh_size": 150e-9},
    "model": {"type": "valet_fert", "current": 100e-6, "precession": True,
              "field_direction": [0, 0, 1], "hanle_fields": fields.tolist(),
              "regions": {"N": {"material": "Al@4.2K"}, "F1": cobalt, "F2": cobalt,
                          "barrier1": barrier, "barrier2": barrier}},
    "output": {"plot": False, "render": False},
}
problem = ValetFertProblem(parse_config(raw)).initialise()
for _ in problem.solve_cases():
    pass
parallel = np.array([problem.resistance("parallel", b) for b in fields])
antiparallel = np.array([problem.resistance("antiparallel", b) for b in fields])
# -

# The 1-D formula with the same inputs, and a fit of the 3-D parallel curve.

# +
al = get_material("Al@4.2K")
p_j = get_interface("AlOx tunnel barrier").polarization
r_n = spin_resistance(al.resistivity, al.spin_diffusion_length, 100e-9 * 50e-9)
line = hanle_nonlocal_resistance(fields, separation, al.spin_diffusion_length, al.spin_lifetime, r_n, p_j)
fit = fit_hanle(fields, parallel, separation)
mid = len(fields) // 2  # B = 0
if comm.rank == 0:
    print(f"Al: lambda = {al.spin_diffusion_length * 1e9:.0f} nm, tau_sf = {al.spin_lifetime * 1e12:.0f} ps, "
          f"D = {al.diffusion_constant:.2e} m^2/s")
    print(f"R_NL(0): 3-D {parallel[len(fields) // 2] * 1e3:.3f} mOhm, 1-D {line[len(fields) // 2] * 1e3:.3f} mOhm")
    print(f"fit of the 3-D curve: lambda = {fit.lambda_N * 1e9:.0f} nm, tau_sf = {fit.tau_sf * 1e12:.1f} ps, "
          f"D = {fit.diffusion_constant:.2e} m^2/s")
    print(f"R_NL(0) of the Takahashi-Maekawa formula (invasive contacts): "
          f"{problem.takahashi_maekawa() / 2 * 1e3:.3f} mOhm")
    print(f"largest |shape 3-D - shape 1-D|: {np.abs(parallel / parallel[mid] - line / line[mid]).max():.3f}")
assert abs(parallel[mid] / (problem.takahashi_maekawa() / 2) - 1) < 0.02
assert np.abs(parallel / parallel[mid] - line / line[mid]).max() < 0.03
assert np.allclose(parallel, parallel[::-1], rtol=1e-6, atol=1e-9 * abs(parallel).max())  # even in B
assert np.allclose(antiparallel, -parallel, rtol=0.02, atol=0.02 * abs(parallel).max())
assert abs(fit.tau_sf / al.spin_lifetime - 1) < 0.1
assert abs(fit.lambda_N / al.spin_diffusion_length - 1) < 0.1
# -

# +
if comm.rank == 0:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fine = np.linspace(fields[0], fields[-1], 400)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    ax.plot(fields * 1e3, parallel * 1e3, "o", ms=4, label="fem_spin 3-D, parallel")
    ax.plot(fields * 1e3, antiparallel * 1e3, "s", ms=4, mfc="none", label="fem_spin 3-D, antiparallel")
    ax.plot(fine * 1e3, hanle_nonlocal_resistance(fine, separation, al.spin_diffusion_length,
                                                  al.spin_lifetime, r_n, p_j) * 1e3, "-", lw=1,
            label="1-D formula (inputs)")
    ax.plot(fine * 1e3, fit.predict(fine) * 1e3, "--", lw=1,
            label=f"fit: $\\tau_{{sf}}$ = {fit.tau_sf * 1e12:.0f} ps, $\\lambda$ = {fit.lambda_N * 1e9:.0f} nm")
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set_xlabel("perpendicular field B (mT)")
    ax.set_ylabel("R_NL (mOhm)")
    ax.set_title(f"Hanle curve, Co/AlOx/Al, L = {separation * 1e9:.0f} nm, 4.2 K")
    ax.legend(frameon=False, fontsize=8)
    fig.savefig(OUT / "hanle.png", dpi=130)
    show(OUT / "hanle.png")
    print(f"wrote {OUT / 'hanle.png'}")
problem.destroy()
# -
