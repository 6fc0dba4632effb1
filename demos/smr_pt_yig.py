# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: light
# ---

# # Spin Hall magnetoresistance of Pt on YIG
#
# A Pt film ($0 < z < d$) on the magnetic insulator YIG (not meshed: its face $z = 0$ is a
# boundary of the film) carries a charge current along $x$. Through the spin Hall effect the
# current drives a spin current along $z$ with spins along $y$; the spin accumulation piles up at
# both faces and drives back, by the inverse spin Hall effect, a charge current. In fem_spin's
# valet_fert variables (docs/theory/spin_orbit_transport.md, potentials $U$ and
# $\mathbf S$ in volts):
#
# $$
# \mathbf j_c = -\sigma\nabla U - \theta_{SH}\frac{\sigma}{2}\sum_a \hat a\times\nabla S_a,
# \qquad
# \mathbf J_{s,a} = -\frac{\sigma}{2}\nabla S_a - \theta_{SH}\,\sigma\,\hat a\times\nabla U,
# \qquad \nabla^2 \mathbf S = \mathbf S/\lambda^2,
# $$
#
# and at the YIG, with magnetization $\mathbf m$ and mixing conductance $G = G_r + iG_i$, the
# spin current out of the metal is
#
# $$
# \mathbf J_s\cdot\mathbf n = G_r\,(\mathbf S - (\mathbf m\cdot\mathbf S)\mathbf m) - G_i\,\mathbf m\times\mathbf S .
# $$
#
# The YIG absorbs the spin accumulation transverse to $\mathbf m$: the film's resistance
# depends on the direction of $\mathbf m$. Chen et al. (Phys. Rev. B 87, 144411 (2013)) give,
# to $O(\theta_{SH}^2)$,
#
# $$
# \rho_\mathrm{long} = \rho + \Delta\rho_0 + \Delta\rho_1 (1 - m_y^2), \qquad
# \rho_\mathrm{trans} = \Delta\rho_1 m_x m_y + \Delta\rho_2 m_z,
# $$
# $$
# \frac{\Delta\rho_1 - i\Delta\rho_2}{\rho} = \theta_{SH}^2\frac{\lambda}{d}
#   \frac{2\lambda G \tanh^2(d/2\lambda)}{\sigma + 2\lambda G\coth(d/\lambda)} .
# $$
#
# We compute the 3-D bar (`smr_bar` geometry: contacts at its ends, voltage probes on its
# sides) for $\mathbf m$ turning in the xy, yz and xz planes, and the SMR amplitude
# $(R(\mathbf m = \hat x) - R(\mathbf m = \hat y))/R(\mathbf m = \hat y)$ against the Pt
# thickness, and compare with Chen's forms and with the exact 1-D film
# (`fem_spin.analytic.spin_orbit`). Pt: $\lambda$ = 3.4 nm, $\theta_{SH}$ = 0.056
# (Rojas-Sánchez et al. 2014), $\rho$ = 1.79e-7 Ohm m (Elliott–Yafet product of Sagasta et al.
# 2016); YIG/Pt: $G_r$ = 7e14, $G_i$ = 5e13 S/m$^2$ (Vlietstra et al. 2013; an assumption of
# the right order here, see examples/smr_pt_yig.toml).
#
# Run: `./fem-env python3 demos/smr_pt_yig.py` (or under `mpirun -n 2`).

# +
import os
from pathlib import Path

import numpy as np
from mpi4py import MPI

from fem_spin.analytic.spin_orbit import chen_smr, film_resistivity
from fem_spin.config import parse_config
from fem_spin.models.valet_fert import ValetFertProblem, rotation_directions

import fem_spin
from fem_spin.viz.notebook import show   # displays a PNG in a notebook; nothing in a script

# Outputs go to $FEM_SPIN_DEMO_DIR when set (tests/system/test_demos.py sets it), else to
# results/demos/ of the repository (git-ignored).
# The repository (examples/, results/) is found from the package, so that this also works
# in a notebook, which has no __file__.
REPO = Path(fem_spin.__file__).resolve().parents[1]
OUT = Path(os.environ.get("FEM_SPIN_DEMO_DIR") or REPO / "results" / "demos")
OUT.mkdir(parents=True, exist_ok=True)
# FEM_SPIN_DEMO_SHORT=1 (tests/system/test_demos.py sets it) cuts the run for CI: angles every
# 45 degrees (not 15), three thicknesses (not seven), a film graded to lambda/10 (not lambda/20)
# at its faces. The assertions are the same.
SHORT = os.environ.get("FEM_SPIN_DEMO_SHORT") == "1"

comm = MPI.COMM_WORLD
rho, lam, theta = 1.794e-7, 3.4e-9, 0.056
g_r, g_i = 7e14, 5e13
sigma = 1 / rho
angles = np.arange(0, 181, 45 if SHORT else 15)
planes = ("xy", "yz", "xz")


def bar(thickness: float, directions) -> ValetFertProblem:
    """Solve the SMR bar for every direction of m; returns the problem (its results rows)."""
    raw = {"name": "smr_demo", "output": {"plot": False, "render": False},
           "geometry": {"type": "smr_bar", "length": 240e-9, "width": 20e-9, "thickness": thickness,
                        "probe_separation": 60e-9, "mesh_size": 10e-9,
                        "surface_cell": lam / (10 if SHORT else 20),
                        "thickness_grading": 1.25 if SHORT else 1.1},
           "model": {"type": "valet_fert", "current": 1e-4, "current_contact": "left_end",
                     "ground": "right_end", "voltage_probes": ["probe_left", "probe_right"],
                     "hall_probes": ["hall_ymin", "hall_ymax"], "configurations": ["parallel"],
                     "switch_regions": [],
                     "regions": {"film": {"resistivity": rho, "spin_diffusion_length": lam,
                                          "spin_hall_angle": theta}},
                     "mixing_interfaces": {"interface": {"conductance_real": g_r, "conductance_imag": g_i,
                                                         "magnetization": [list(m) for m in directions]}}}}
    problem = ValetFertProblem(parse_config(raw), comm).initialise()
    for _ in problem.solve_cases():
        pass
    return problem
# -

# ## R_long and R_trans against the direction of m
#
# One 5 nm film, all three rotation planes in one run (each direction is one solved case on
# the same mesh). The resistivities follow from the resistances as
# $\rho_\mathrm{long} = R_\mathrm{long}\, w d / L_\mathrm{probes}$ and
# $\rho_\mathrm{trans} = R_\mathrm{trans}\, d$.

# +
d = 5e-9
directions = [m for plane in planes for m in rotation_directions(plane, angles)]
problem = bar(d, directions)
geometry = problem.config.geometry
to_rho_long = geometry.width * d / (2 * geometry.probe_offset())
fem_long = np.array([r["resistance_ohm"] for r in problem.results]).reshape(3, -1) * to_rho_long
fem_trans = np.array([r["hall_resistance_ohm"] for r in problem.results]).reshape(3, -1) * d
problem.destroy()
chen = chen_smr(sigma, lam, theta, d, g_r, g_i)
exact = np.array([film_resistivity(sigma, lam, theta, d, g_r, g_i, m) for m in directions]).reshape(3, -1, 2)
fine = np.linspace(0, 180, 181)
if comm.rank == 0:
    print(f"Chen: Delta rho_1/rho = {chen.d1:.4e}, Delta rho_2/rho = {chen.d2:.4e}")
    for k, plane in enumerate(planes):
        print(f"{plane}: largest |rho_long(3-D)/rho_long(1-D) - 1| = "
              f"{np.abs(fem_long[k] / exact[k, :, 0] - 1).max():.1e}, largest |rho_trans(3-D) - "
              f"rho_trans(1-D)| / (rho Delta rho_1/rho) = "
              f"{np.abs(fem_trans[k] - exact[k, :, 1]).max() / (rho * chen.d1):.1e}")
# the angle dependence, measured from each curve's own m = y (or the plane's start)
base = fem_long[0, len(angles) // 2]        # xy plane at 90 degrees: m = y
smr_3d = fem_long[0, 0] / base - 1
assert abs(smr_3d / chen.d1 - 1) < 0.02
assert np.allclose(fem_long[2], fem_long[2, 0], rtol=0.1 * chen.d1)          # xz: m_y = 0 throughout
assert np.allclose(fem_trans[0], rho * chen.d1 * np.sin(2 * np.radians(angles)) / 2,
                   atol=0.03 * rho * chen.d1)                                 # xy: Delta rho_1 m_x m_y
assert np.allclose(fem_trans[1], exact[1, :, 1], atol=0.02 * rho * abs(chen.d2))  # yz: Delta rho_2 m_z
# -

# The xy rotation and the Hall signals follow Chen's film. The yz and xz rotations do not at
# m = z: a bar of finite width also accumulates z-spins at its side walls (the charge current
# along x drives them along y), and the YIG absorbs those unless m is along z. That adds a
# resistance change of relative size ~ 2 lambda/w (here w = 20 nm, a third of Delta rho_1)
# between m = z and m in the plane, which a 1-D film does not have; it is the same for m = x and
# m = y, so the SMR amplitude (x against y) is free of it (note section 6). The side-wall
# layer (lambda = 3.4 nm) is not resolved by the 10 nm lateral cells here, so that part of the
# picture is qualitative.

# +
if comm.rank == 0:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for k, plane in enumerate(planes):
        ms = np.array(rotation_directions(plane, fine))
        chen_long = np.array([chen.rho_long(rho, m) for m in ms]) / (rho * (1 + chen.d0)) - 1
        chen_trans = np.array([chen.rho_trans(rho, m) for m in ms]) / rho
        line, = axes[0].plot(fine, 1e4 * chen_long, "-", lw=1, label=f"Chen, {plane} plane")
        axes[0].plot(angles, 1e4 * (fem_long[k] / base - 1), "o", color=line.get_color(), ms=4,
                     label=f"fem_spin 3-D, {plane}")
        axes[1].plot(fine, 1e4 * chen_trans, "-", lw=1, color=line.get_color())
        axes[1].plot(angles, 1e4 * fem_trans[k] / rho, "o", color=line.get_color(), ms=4)
    axes[0].set_ylabel(r"$\rho_\mathrm{long}/\rho_\mathrm{long}(m = y) - 1$  ($10^{-4}$)")
    axes[1].set_ylabel(r"$\rho_\mathrm{trans}/\rho$  ($10^{-4}$)")
    for ax in axes:
        ax.set_xlabel("angle of m from the plane's first axis (degrees)")
        ax.axhline(0, color="0.6", lw=0.8)
    axes[0].legend(frameon=False, fontsize=7)
    fig.suptitle(f"SMR of a Pt bar ({d * 1e9:.0f} nm thick, {geometry.width * 1e9:.0f} nm wide) on YIG: "
                 f"lines Chen's film, dots 3-D")
    fig.savefig(OUT / "smr_angles.png", dpi=130)
    show(OUT / "smr_angles.png")
    print(f"wrote {OUT / 'smr_angles.png'}")
# -

# ## The SMR amplitude against the Pt thickness
#
# Largest near $d \approx 2\lambda$; thin films have little spin accumulation to absorb, thick
# ones carry most of their current far from the interface. The 3-D amplitude
# $(R(\hat x) - R(\hat y))/R(\hat y)$ against Chen's $\Delta\rho_1/\rho$ and the exact film.

# +
thicknesses = np.array([2e-9, 5e-9, 12e-9] if SHORT else [1.5e-9, 2.5e-9, 4e-9, 6e-9, 9e-9, 14e-9, 20e-9])
amplitudes = []
for t in thicknesses:
    p = bar(float(t), [(1.0, 0.0, 0.0), (0.0, 1.0, 0.0)])
    amplitudes.append(p.summary()["smr_amplitude"])
    p.destroy()
amplitudes = np.array(amplitudes)
chen_d1 = np.array([chen_smr(sigma, lam, theta, t, g_r, g_i).d1 for t in thicknesses])
exact_amplitude = np.array([film_resistivity(sigma, lam, theta, t, g_r, g_i, [1, 0, 0])[0]
                            / film_resistivity(sigma, lam, theta, t, g_r, g_i, [0, 1, 0])[0] - 1
                            for t in thicknesses])
if comm.rank == 0:
    for t, a, c, e in zip(thicknesses, amplitudes, chen_d1, exact_amplitude):
        print(f"d = {t * 1e9:5.1f} nm: SMR 3-D {a:.4e}, Chen {c:.4e} ({a / c - 1:+.2%}), "
              f"exact 1-D {e:.4e} ({a / e - 1:+.2%})")
assert np.all(np.abs(amplitudes / exact_amplitude - 1) < 0.02)
assert np.all(np.abs(amplitudes / chen_d1 - 1) < 0.025)
# -

# +
if comm.rank == 0:
    fine_d = np.linspace(0.5e-9, 25e-9, 300)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    ax.plot(fine_d * 1e9, [1e4 * chen_smr(sigma, lam, theta, t, g_r, g_i).d1 for t in fine_d], "-", lw=1,
            label=r"Chen et al. $\Delta\rho_1/\rho$")
    ax.plot(thicknesses * 1e9, 1e4 * exact_amplitude, "s", mfc="none", ms=6, label="exact 1-D film")
    ax.plot(thicknesses * 1e9, 1e4 * amplitudes, "o", ms=4, label="fem_spin 3-D bar")
    ax.set_xlabel("Pt thickness d (nm)")
    ax.set_ylabel(r"SMR amplitude ($10^{-4}$)")
    ax.set_title(r"Pt/YIG, $\lambda$ = 3.4 nm, $\theta_{SH}$ = 0.056, $G_r$ = 7e14 S/m$^2$")
    ax.legend(frameon=False, fontsize=8)
    fig.savefig(OUT / "smr_thickness.png", dpi=130)
    show(OUT / "smr_thickness.png")
    print(f"wrote {OUT / 'smr_thickness.png'}")
# -
