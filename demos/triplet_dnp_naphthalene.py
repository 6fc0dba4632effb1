# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: light
# ---

# # Triplet DNP in a laser-illuminated naphthalene crystal (paper Fig. 2)
#
# Residual 1H (0.79 %) in a pentacene-doped, 99.21 % deuterated naphthalene crystal are
# polarized by triplet DNP at 50 Hz (physics.md 1.3). A laser beam of diameter $d$ defines
# the active volume; the NMR signal averages over the whole crystal, so the uncertainty in
# $d$ becomes the error band of the buildup. Every macroscopic point is a DNP unit cell
# (physics.md 1.2) whose source efficiency is its local excitation probability $e(x)$
# (beam profile times Beer--Lambert attenuation):
#
# $$ P(x,t) = \bar P_\text{cell}\bigl(e(x), t\bigr), \qquad
#    \langle P\rangle(t) = \frac1V\int_\text{crystal} \bar P_\text{cell}(e(x), t)\,dV , $$
#
# with the unit-cell curves tabulated over $e$ (to a controlled interpolation error) and
# solved with the corrected $D = D_0/\sqrt{1-\bar P^2}$ and the uncorrected $D_0$.
# All numbers and their sources (or ASSUMPTION marks) are in
# `examples/triplet_dnp_naphthalene.toml`.
#
# Run: `./fem-env python3 demos/triplet_dnp_naphthalene.py` (or under `mpirun -n 2`).

# +
import json
import os
import shutil
from pathlib import Path

from mpi4py import MPI

from fem_spin.config import load_config
from fem_spin.simulation import run

import fem_spin
from fem_spin.viz.notebook import show   # displays a PNG in a notebook; nothing in a script

# Outputs go to $FEM_SPIN_DEMO_DIR when set (tests/system/test_demos.py sets it), else to
# results/demos/ of the repository (git-ignored); the repository (examples/, results/) is
# found from the package, so that this also works in a notebook, which has no __file__.
REPO = Path(fem_spin.__file__).resolve().parents[1]
OUT = Path(os.environ.get("FEM_SPIN_DEMO_DIR") or REPO / "results" / "demos")
OUT.mkdir(parents=True, exist_ok=True)
# FEM_SPIN_DEMO_SHORT=1 (tests/system/test_demos.py sets it) cuts the run for CI: the structure
# estimate of D0 averages 32 random 1H/2H configurations instead of 100 (the fewest allowed
# is 16, one per H site of the cell); the crystal run is the example's. The assertions are
# the same.
SHORT = os.environ.get("FEM_SPIN_DEMO_SHORT") == "1"

EXAMPLE = REPO / "examples" / "triplet_dnp_naphthalene.toml"
config = load_config(EXAMPLE)
path = run(config, overwrite=True, output_dir=OUT)
# -

# ## The buildup, its error band and the effect of the speed-up
#
# With relaxation under laser irradiation the corrected model ends higher than the
# uncorrected one (physics.md 1.2, paper Fig. 2). The band spans the crystal average for
# beam diameters 1.5 to 2.5 mm; the illuminated region alone follows the unit cell.

# +
comm = MPI.COMM_WORLD
if comm.rank == 0:
    summary = json.loads((path / "summary.json").read_text())
    final = summary["final"]
    table = summary["table"]
    print(f"unit-cell table: {len(table['efficiencies'])} efficiencies, interpolation error "
          f"estimate {table['interpolation_error_estimate']:.1e}")
    print(f"crystal volume {summary['crystal_volume_m3'] * 1e9:.3f} mm^3, illuminated "
          f"{summary['illuminated_volume_m3'] * 1e9:.3f} mm^3")
    print(f"final crystal average: corrected {final['P_crystal']:.4f}, uncorrected "
          f"{final['P_crystal_uncorrected']:.4f} (ratio {final['P_crystal'] / final['P_crystal_uncorrected']:.4f})")
    print(f"error band over d = 1.5-2.5 mm: {final['P_band_min']:.4f} - {final['P_band_max']:.4f}")
    common = summary["time_to_63pct_of_uncorrected_final_s"]
    print(f"illuminated region: {final['P_illuminated']:.4f}; 63 % of the uncorrected final average "
          f"reached after {common['corrected']:.1f} s (corrected) and {common['uncorrected']:.1f} s "
          f"(uncorrected)")
    assert common["corrected"] < common["uncorrected"]
    assert table["converged"]
    assert final["P_crystal"] > final["P_crystal_uncorrected"] > 0
    assert final["P_band_min"] < final["P_crystal"] < final["P_band_max"]
    assert final["P_max"] < 0.7                    # never above the triplet polarization
    for png in ("buildup_band.png", "crystal_3d.png", "profiles.png"):
        if (path / png).exists():
            shutil.copy(path / png, OUT / f"triplet_dnp_{png}")
            show(OUT / f"triplet_dnp_{png}")
# -

# ## D0 from the crystal structure (physics.md 1.4)
#
# The rate-equation estimate from the 1H positions of an idealized naphthalene crystal
# (`fem_spin/data/naphthalene_model.cif`, molecule orientation fitted to the published
# structure), with 0.79 % 1H placed at random on the H sites and 2H on the others, whose
# heteronuclear couplings broaden the 1H line (the Supplement's point: 2H slows 1H spin
# diffusion). Flip-flop rates $W_{ij} = \frac{\pi}{2} b_{ij}^2 g_{ij}(0)$ with a Gaussian
# zero-quantum line of the local Van Vleck second moments, $D = \frac12\sum_j W_{0j}\,
# r_{0j} r_{0j}^T$. Polarizing the 1H narrows only the 1H-1H part of the line,
# $M_2(P) = M_2^{HH}(1-P^2) + M_2^{HD}$, so $D(P) = D_0/\sqrt{1-\phi P^2}$ with
# $\phi = M_2^{HH}/M_2$: in this sample a much weaker speed-up than the paper's $f(P)$.
# The diluted-lattice average is dominated by rare close pairs and is an upper bound.

# +
from importlib import resources

import numpy as np

from fem_spin.lattice import estimate_D, read_cif

cif = resources.files("fem_spin").joinpath("data", "naphthalene_model.cif")
structure = read_cif(cif)
estimate = estimate_D(structure, "1H", (0.0, 0.0, 1.0), abundance=0.0079, other_isotope="2H",
                      configurations=32 if SHORT else 100, seed=1)
if comm.rank == 0:
    eig = np.linalg.eigvalsh(estimate.D)
    print(f"structure estimate, 0.79 % 1H with 2H broadening: D eigenvalues {eig[0]:.2e}, "
          f"{eig[1]:.2e}, {eig[2]:.2e} m^2/s; mean {np.trace(estimate.D) / 3:.2e} m^2/s; "
          f"line width sqrt(M2)/2pi = {estimate.line_width_hz / 1e3:.2f} kHz")
    print(f"the run above uses the preset's D0 = {config.model.cell_config.model.D0:.1e} m^2/s "
          f"(an assumption); D0 = {{ structure = ..., use = 'mean' }} in cell_model uses the estimate")
    phi = estimate.like_fraction
    print(f"like-spin part of M2: phi = {phi:.2f} (the rest is 1H-2H broadening, which 1H DNP does "
          f"not narrow): the structural speed-up is D(P)/D0 = 1/sqrt(1 - phi P^2) = "
          f"{1 / np.sqrt(1 - phi * 0.7 ** 2):.3f} at P = 0.7, against the paper's "
          f"f(0.7) = {1 / np.sqrt(1 - 0.7 ** 2):.3f} (set model.like_spin_fraction = phi to use it)")
    assert np.all(eig > 0) and 1e-19 < eig.mean() < 1e-15
    assert 0 < phi < 1
    P = 0.7
    assert abs(estimate.D_at(P)[2, 2] / estimate.D[2, 2] - 1 / np.sqrt(1 - phi * P * P)) < 1e-12
# -
