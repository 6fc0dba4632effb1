# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: light
# ---

# # Polarization spreading from the electron in the periodic unit cell (3-D)
#
# The paper's own cell (physics.md 1.2): a cube of side $L = n_e^{-1/3}$ with periodic
# faces (dolfinx_mpc), the electron at the centre, the source sphere $r < r_s$ driven at
# $k_x$ towards $P_e$, spin diffusion with the global speed-up. The run goes through the
# same driver as `fem-spin run` (CSV, VTX/VTK fields, summary with t63 and a fit), and the
# picture shows the cube clipped through the electron at four times on one colour scale.
#
# Run: `./fem-env python3 demos/dnp_cube_3d.py` (or under `mpirun -n 2`).

# +
import json
import os
import shutil
from pathlib import Path

from mpi4py import MPI

from fem_spin.config import parse_config
from fem_spin.simulation import run

import fem_spin
from fem_spin.viz.notebook import show   # displays a PNG in a notebook; nothing in a script

# Outputs go to $FEM_SPIN_DEMO_DIR when set (tests/system/test_demos.py sets it), else to
# results/demos/ of the repository (git-ignored); the repository (examples/, results/) is
# found from the package, so that this also works in a notebook, which has no __file__.
REPO = Path(fem_spin.__file__).resolve().parents[1]
OUT = Path(os.environ.get("FEM_SPIN_DEMO_DIR") or REPO / "results" / "demos")
OUT.mkdir(parents=True, exist_ok=True)
# FEM_SPIN_DEMO_SHORT=1 (tests/system/test_demos.py sets it) would cut the run for CI, but there is
# nothing worth cutting here: the time stepping takes ~0.5 s of the ~4.5 s, the rest is
# imports, meshing and the 3-D picture that is this demo's point. SHORT is unused.
SHORT = os.environ.get("FEM_SPIN_DEMO_SHORT") == "1"

raw = {"preset": "glassy_1H_nitroxide", "name": "dnp_cube_3d",
       # h = r_s/4 at the source: a picture of the buildup in seconds; the default mesh
       # (~40k DOFs here, t63 within ~1.5 %) is what an accurate number needs
       "geometry": {"type": "dnp_cube", "mesh_size_source": 0.15e-9},
       "model": {"speedup": "global", "source_polarization": 0.9},
       "time": {"t_end": 1.0, "dt_initial": 1e-5, "tolerance": 2e-3},
       "output": {"field_snapshots": 8, "plot": True, "render": True, "progress_interval": 5.0}}
path = run(parse_config(raw), overwrite=True, output_dir=OUT)
# -

# The buildup numbers come from the run's summary; the periodic cube keeps every value in
# $[0, P_e]$.

# +
if MPI.COMM_WORLD.rank == 0:
    summary = json.loads((path / "summary.json").read_text())
    buildup = summary["buildup"]
    print(f"{summary['dofs']} dofs, {summary['steps']} steps, t63 = {buildup['t63_s']:.4g} s, "
          f"fitted T_b = {buildup['fit']['T_b']:.4g} s (beta = {buildup['fit']['beta']:.3f}), "
          f"final Pbar = {buildup['P_final']:.4f}")
    final = summary["final"]
    assert 0.0 <= final["P_min"] and final["P_max"] <= 0.9 + 1e-9
    assert buildup["t63_s"] < 1.0 and final["P_mean"] > 0.6
    for png in ("polarization_3d_series.png", "P_mean.png"):
        if (path / png).exists():
            shutil.copy(path / png, OUT / f"dnp_cube_{png}")
            show(OUT / f"dnp_cube_{png}")
# -
