# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: light
# ---

# # The spin Hall nonlocal device: ISHE detection, SHE injection, and their reciprocity
#
# Kimura et al. (Phys. Rev. Lett. 98, 156601 (2007)): a permalloy wire F on a Cu bridge N,
# which ends on a Pt wire H. A charge current from F into N (out at N's far end) injects a
# spin accumulation along F's magnetization $\mathbf m$; its pure spin current diffuses along
# the bridge and sinks into Pt, where the inverse spin Hall effect turns it into a voltage
# along the Pt wire: $R_\mathrm{ISHE} = (V(H_{y+}) - V(H_{y-}))/I$. The reverse measurement
# drives the current along Pt; its spin Hall effect pushes spin into N, which F detects:
# $R_\mathrm{SHE} = (V(F) - V(N_\mathrm{left}))/I$.
#
# The spin current flows down into Pt ($-z$) with its spin along $\mathbf m$; the ISHE charge
# current is along (flow) $\times$ (spin), so only $m_x$ (along the bridge) gives a current
# along the Pt wire (y): $R_\mathrm{ISHE} \propto m_x = \cos\theta$ for $\mathbf m$ at the angle
# $\theta$ from x in the film plane (Kimura et al.'s Fig. 3 rotates m with an in-plane field).
#
# Onsager–Casimir (docs/theory/spin_orbit_transport.md sections 2 and 7.1): the conductance
# matrix of the four terminals obeys $G(\mathbf m)^T = G(-\mathbf m)$, hence
# $R_\mathrm{SHE}(\mathbf m) = R_\mathrm{ISHE}(-\mathbf m)$. The model's multi-terminal mode
# (`terminals`, `measurements`) makes every terminal an ideal reservoir, solves once per
# terminal and gets both measurements from G, with the other terminals floating.
#
# Run: `./fem-env python3 demos/spin_hall_nonlocal.py` (or under `mpirun -n 2`).

# +
import os
from pathlib import Path

import numpy as np
from mpi4py import MPI

import fem_spin
from fem_spin.config import parse_config
from fem_spin.models.valet_fert import ValetFertProblem
from fem_spin.viz.notebook import show   # displays a PNG in a notebook; nothing in a script

# Outputs go to $FEM_SPIN_DEMO_DIR when set (tests/system/test_demos.py sets it), else to
# results/demos/ of the repository (git-ignored).
# (the repository from the package: a notebook has no __file__)
REPO = Path(fem_spin.__file__).resolve().parents[1]
OUT = Path(os.environ.get("FEM_SPIN_DEMO_DIR") or REPO / "results" / "demos")
OUT.mkdir(parents=True, exist_ok=True)
# FEM_SPIN_DEMO_SHORT=1 (tests/system/test_demos.py sets it) cuts the run for CI: boundary
# layers from 1 nm growing by 1.5 (15k DOFs; not 0.5 nm by 1.4, 22k DOFs: the ISHE signal 2 %
# lower), angles every 60 degrees (not 30). The assertions are the same.
SHORT = os.environ.get("FEM_SPIN_DEMO_SHORT") == "1"

comm = MPI.COMM_WORLD
angles = np.arange(0, 180, 60 if SHORT else 30)     # m at theta and, reversed, at theta + 180


def device(theta_deg: float) -> ValetFertProblem:
    """Solve both measurements for m at theta (parallel) and at theta + 180 (antiparallel)."""
    t = np.radians(theta_deg)
    raw = {"name": "kimura_demo", "output": {"plot": False, "render": False},
           # boundary layers graded from 1 nm (0.5 nm) at the Py/Cu and Cu/Pt contacts: lambda_Pt
           # = 3.4 nm must be resolved, a uniform 12.5 nm mesh gives a 5x smaller signal
           "geometry": {"type": "spin_hall_nonlocal", "separation": 400e-9, "h_length": 1e-6,
                        "n_extension": 700e-9, "mesh_size_interface": 1e-9 if SHORT else 0.5e-9,
                        "mesh_grading": 1.5 if SHORT else 1.4},
           "model": {"type": "valet_fert", "current": 1e-4,
                     "terminals": ["F_end", "N_left_end", "H_end_ymin", "H_end_ymax"],
                     "measurements": [{"name": "ISHE", "current": ["F_end", "N_left_end"],
                                       "voltage": ["H_end_ymax", "H_end_ymin"]},
                                      {"name": "SHE", "current": ["H_end_ymax", "H_end_ymin"],
                                       "voltage": ["F_end", "N_left_end"]}],
                     "configurations": ["parallel", "antiparallel"], "switch_regions": ["F"],
                     "regions": {"N": {"material": "Cu@300K"}, "H": {"material": "Pt@300K"},
                                 "F": {"material": "Py@300K",
                                       "magnetization": [float(np.cos(t)), float(np.sin(t)), 0.0]}}},
           # the nonlocal R is ~1e-7 of the two-terminal R: a direct solve keeps its digits
           "solver": {"petsc_options": {"ksp_type": "preonly", "pc_type": "lu",
                                        "pc_factor_mat_solver_type": "mumps"}}}
    problem = ValetFertProblem(parse_config(raw), comm).initialise()
    for _ in problem.solve_cases():
        pass
    return problem


theta, r_ishe, r_she, asymmetry = [], [], [], []
for a in angles:
    p = device(float(a))
    rows = {r["configuration"]: r for r in p.results}
    for conf, shift in (("parallel", 0), ("antiparallel", 180)):
        theta.append(a + shift)
        r_ishe.append(rows[conf]["R_ISHE_ohm"])
        r_she.append(rows[conf]["R_SHE_ohm"])
    asymmetry.append(p.summary()["onsager_asymmetry"])
    p.destroy()
order = np.argsort(theta)
theta, r_ishe, r_she = np.array(theta)[order], np.array(r_ishe)[order], np.array(r_she)[order]
# -

# ## R_ISHE against the angle of m, and R_SHE at the reversed m
#
# A least-squares fit $R = R_0 + R_c\cos\theta + R_s\sin\theta$: $R_c$ is the ISHE signal,
# $R_0$ a background even in $\mathbf m$ (the spreading of the charge current into the bridge
# and the device's asymmetry: F's arm runs to $+y$ only), $R_s$ small.

# +
rad = np.radians(theta)
basis = np.column_stack([np.ones_like(rad), np.cos(rad), np.sin(rad)])
(r0, rc, rs), *_ = np.linalg.lstsq(basis, r_ishe, rcond=None)
fit = basis @ np.array([r0, rc, rs])
reversed_index = [int(np.flatnonzero(theta == (t + 180) % 360)[0]) for t in theta]
reciprocity = np.abs(r_she[reversed_index] - r_ishe).max() / np.abs(r_ishe).max()
if comm.rank == 0:
    print(f"R_ISHE(theta) = {r0:.4e} + {rc:.4e} cos(theta) + {rs:.4e} sin(theta) Ohm; "
          f"largest misfit {np.abs(fit - r_ishe).max() / abs(rc):.1e} of R_c")
    print(f"max |R_SHE(theta + 180) - R_ISHE(theta)| / max |R_ISHE| = {reciprocity:.1e}; "
          f"max |G(m)^T - G(-m)| / |G| = {max(asymmetry):.1e}")
assert reciprocity < 1e-5                        # Onsager-Casimir, to round-off (LU)
assert max(asymmetry) < 1e-12
assert rc > 0 and abs(rc) > abs(r0)              # the ISHE signal, positive for theta_SH(Pt) > 0
assert abs(rs) < 0.05 * abs(rc)
assert np.abs(fit - r_ishe).max() < 1e-3 * abs(rc)   # linear in m (measured 2e-8)
# -

# +
if comm.rank == 0:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fine = np.linspace(0, 360, 361)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    ax.plot(fine, 1e6 * (r0 + rc * np.cos(np.radians(fine)) + rs * np.sin(np.radians(fine))), "-",
            color="0.6", lw=1, label=r"$R_0 + R_c\cos\theta + R_s\sin\theta$")
    ax.plot(theta, 1e6 * r_ishe, "o", ms=5, label=r"$R_\mathrm{ISHE}(\theta)$ (F injects, Pt detects)")
    ax.plot(theta, 1e6 * r_she[reversed_index], "x", ms=7,
            label=r"$R_\mathrm{SHE}(\theta + 180°)$ (Pt injects, F detects)")
    ax.set_xlabel(r"angle $\theta$ of F's magnetization from the bridge (x) (degrees)")
    ax.set_ylabel(r"R ($\mu\Omega$)")
    ax.set_xticks(np.arange(0, 361, 60))
    ax.axhline(0, color="0.8", lw=0.8)
    ax.legend(frameon=False, fontsize=8)
    ax.set_title("Py/Cu/Pt spin Hall nonlocal device (Kimura et al. 2007)")
    fig.savefig(OUT / "spin_hall_nonlocal.png", dpi=130)
    print(f"wrote {OUT / 'spin_hall_nonlocal.png'}")
    show(OUT / "spin_hall_nonlocal.png")
# -

# The two measurements are one matrix: reversing the roles of injector and detector is
# transposing G, and the transpose is the device with m reversed. In the experiment this is
# why the SHE and ISHE signals of Kimura et al. have the same size. A voltage probe that is
# a reservoir absorbs spin (S = 0 on its face), so the numbers differ slightly from the
# probe mode's floating surface averages (`voltage_probes`), for which reciprocity holds only
# approximately (note section 7.1).
