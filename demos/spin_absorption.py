# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: light
# ---

# # Spin absorption by a middle wire: Py/Cu/Pt lateral spin valve
#
# A permalloy injector F1 and detector F2 on a Cu strip N, and a Pt wire M crossing under the
# strip halfway between them (`examples/spin_absorption_py_cu_pt.toml`,
# docs/theory/spin_orbit_transport.md section 7). Spin flip in Pt drains the spin accumulation
# of Cu, and the nonlocal signal $\Delta R_{NL} = R_P - R_{AP}$ drops by the absorption ratio
#
# $$
# \eta = \frac{\Delta R_{NL}(\text{with M})}{\Delta R_{NL}(\text{without M})}.
# $$
#
# The 1-D spin-resistance network (`fem_spin/analytic/spin_absorption.py`) treats N as a
# diffusive line, $\mu_s'' = \mu_s/\lambda_N^2$ with $R_N = \rho_N\lambda_N/A_N$, each
# electrode as a branch taking $I_s = p_F I - (1-p_F^2)\,\mu_s/(2R_F)$ with
# $R_F = \rho_F\lambda_F/A_J$, and M as a point sink taking $I_s = -\mu_s(x_M)/(2R_M)$ with
#
# $$
# R_M = \frac{\rho_M \lambda_M}{w_N w_M \tanh(t_M/\lambda_M)} .
# $$
#
# Without M it is Takahashi–Maekawa's formula. The 3-D Valet–Fert model solves the same device
# with the wire as it is; "without M" is the same mesh with M's spin-flip length infinite. The
# point-sink picture needs the wire narrow against the length over which N loses its
# accumulation above M, $\ell_{abs} = \sqrt{\rho_M\lambda_M t_N / (\rho_N \tanh(t_M/\lambda_M))}$:
# for Pt under Cu that is a few tens of nm, shorter than the wire, and the 3-D device absorbs
# more than the network says. A weaker absorber (the system test's,
# tests/system/test_spin_absorption.py) shows the two agreeing where the network applies.
#
# Run: `./fem-env python3 demos/spin_absorption.py` (or under `mpirun -n 2`).

# +
import copy
import math
import os
import tomllib
from pathlib import Path

import numpy as np
from mpi4py import MPI

from fem_spin.analytic import spin_resistance, takahashi_maekawa
from fem_spin.analytic.spin_absorption import LateralSpinValveNetwork, absorber_spin_resistance
from fem_spin.config import parse_config
from fem_spin.io.probes import LineProbe
from fem_spin.materials import material_from_table
from fem_spin.models.valet_fert import ValetFertProblem

import fem_spin
from fem_spin.viz.notebook import show   # displays a PNG in a notebook; nothing in a script

# Outputs go to $FEM_SPIN_DEMO_DIR when set (tests/system/test_demos.py sets it), else to
# results/demos/ of the repository (git-ignored).
# The repository (examples/, results/) is found from the package, so that this also works
# in a notebook, which has no __file__.
REPO = Path(fem_spin.__file__).resolve().parents[1]
OUT = Path(os.environ.get("FEM_SPIN_DEMO_DIR") or REPO / "results" / "demos")
OUT.mkdir(parents=True, exist_ok=True)
# FEM_SPIN_DEMO_SHORT=1 (tests/system/test_demos.py sets it) cuts the run for CI: one electrode
# distance (0.6 um) instead of five. The assertions are the same.
SHORT = os.environ.get("FEM_SPIN_DEMO_SHORT") == "1"

comm = MPI.COMM_WORLD
EXAMPLE = REPO / "examples" / "spin_absorption_py_cu_pt.toml"
base = tomllib.loads(EXAMPLE.read_text())
separations = np.array([0.6] if SHORT else [0.6, 0.4, 0.8, 1.2, 1.6]) * 1e-6
CURRENT = base["model"]["current"]


def solve(raw: dict, profile: bool = False):
    """(Delta R_NL, mu_s along the middle of N or None) of one device."""
    problem = ValetFertProblem(parse_config(raw, source=str(EXAMPLE))).initialise()
    for _ in problem.solve_cases():
        pass
    delta = problem.summary()["delta_R_ohm"]
    line = None
    if profile:   # mu_s in N is the same in both configurations (the detector draws no current)
        problem.update_output_functions()
        g = problem.config.geometry
        half = 0.5 * g.n_length()
        probe = LineProbe(problem.mesh, (-half, 0.0, 0.5 * g.n_thickness), (half, 0.0, 0.5 * g.n_thickness), 241)
        line = (probe.points[:, 0], probe.evaluate(problem.mu_s_out))
    problem.destroy()
    return delta, line


def device(separation: float, absorber: bool, changes: dict | None = None) -> dict:
    raw = copy.deepcopy(base)
    raw["geometry"]["separation"] = float(separation)
    raw["geometry"].update(changes or {})
    if not absorber:   # the same mesh, a wire without spin flip: it absorbs nothing
        raw["model"]["regions"]["M"]["spin_diffusion_length"] = math.inf
    return raw


def network(raw: dict) -> LateralSpinValveNetwork:
    g, regions = raw["geometry"], raw["model"]["regions"]
    n, f, m = (material_from_table(regions[k], f"model.regions.{k}", ignore=("magnetization",))
               for k in ("N", "F1", "M"))
    return LateralSpinValveNetwork(
        g["separation"], n.spin_diffusion_length,
        spin_resistance(n.resistivity, n.spin_diffusion_length, g["n_width"] * g["n_thickness"]),
        spin_resistance(f.resistivity, f.spin_diffusion_length, g["f_width"] * g["n_width"]),
        f.bulk_polarization,
        R_M=absorber_spin_resistance(m.resistivity, m.spin_diffusion_length, g["n_width"] * g["m_width"],
                                     g["m_thickness"]))


rows = []
profiles = {}
for L in separations:
    first = L == separations[0]
    with_m, line_with = solve(device(L, True), profile=first)
    without, line_without = solve(device(L, False), profile=first)
    if first:
        profiles = {"with": line_with, "without": line_without}
    net = network(device(L, True))
    rows.append((L, with_m, without, net.delta_R(), net.without_absorber().delta_R()))
rows = np.array(rows)
L_, fem_with, fem_without, net_with, net_without = rows.T
eta_fem, eta_net = fem_with / fem_without, net_with / net_without
# -

# The network without M is Takahashi–Maekawa's formula, exactly; the 3-D device without M is
# 6-9 % above it (pillar electrodes on a 100 x 50 nm strip). With Pt the 3-D device
# absorbs more than the point sink: the accumulation above the 100 nm wide wire decays across it.

# +
first = device(separations[0], True)
g = first["geometry"]
n_mat = material_from_table(first["model"]["regions"]["N"], "N")
m_mat = material_from_table(first["model"]["regions"]["M"], "M")
l_abs = math.sqrt(m_mat.resistivity * m_mat.spin_diffusion_length * g["n_thickness"]
                  / (n_mat.resistivity * math.tanh(g["m_thickness"] / m_mat.spin_diffusion_length)))
net0 = network(first)
tm = [takahashi_maekawa(L, net0.lambda_N, net0.R_N, net0.R_F, 0.0, 0.0, 0.0, 0.0, net0.p_F) for L in L_]
if comm.rank == 0:
    print(f"R_N = {net0.R_N:.3f} Ohm, R_F = {net0.R_F:.4f} Ohm, R_M = {net0.R_M:.4f} Ohm, "
          f"l_abs = {l_abs * 1e9:.0f} nm (Pt wire {g['m_width'] * 1e9:.0f} nm wide)")
    print(f"{'L (um)':>7} {'3-D no M':>10} {'net no M':>10} {'eta 3-D':>8} {'eta net':>8}   (mOhm)")
    for r, e_f, e_n in zip(rows, eta_fem, eta_net):
        print(f"{r[0] * 1e6:7.2f} {r[2] * 1e3:10.4f} {r[4] * 1e3:10.4f} {e_f:8.4f} {e_n:8.4f}")
assert np.allclose(net_without, tm, rtol=1e-12, atol=0)
# (measured 6-9 % above: the 3-D pillar electrodes on a 100 x 50 nm strip, not the thin-wire limit)
assert np.all(np.abs(fem_without / net_without - 1) < 0.15), fem_without / net_without
assert np.all((0 < eta_fem) & (eta_fem < eta_net) & (eta_net < 1)), (eta_fem, eta_net)
# -

# Where the network applies: the system test's device (a 10 nm wide absorber of rho_M =
# 100 nOhm m, lambda_M = 20 nm, t_M = 10 nm on a 50 x 20 nm Cu strip, l_abs = 64 nm).

# +
weak_geometry = {"n_width": 50e-9, "n_thickness": 20e-9, "f_width": 50e-9, "f_thickness": 20e-9,
                 "m_width": 10e-9, "m_thickness": 10e-9, "m_length": 50e-9}
weak = []
for absorber in (True, False):
    raw = device(600e-9, absorber, weak_geometry)
    raw["model"]["regions"]["M"] = {"resistivity": 1e-7, "spin_diffusion_length": 20e-9 if absorber else math.inf}
    weak.append(solve(raw)[0])
raw["model"]["regions"]["M"]["spin_diffusion_length"] = 20e-9
eta_weak_fem, eta_weak_net = weak[0] / weak[1], network(raw).absorption_ratio()
if comm.rank == 0:
    print(f"weak absorber: eta 3-D = {eta_weak_fem:.4f}, network = {eta_weak_net:.4f} "
          f"({(eta_weak_fem / eta_weak_net - 1) * 100:+.2f} %)")
assert abs(eta_weak_fem / eta_weak_net - 1) < 0.015
# -

# The figures: Delta R_NL(L) with and without the Pt wire, and the spin accumulation along the
# middle of the Cu strip at L = 0.6 um, 3-D and network. The 3-D accumulation vanishes at the
# left end of the strip, the ground (a reservoir), which the infinite line of the network does
# not have: it lies 3 lambda_Cu from F1 and changes the signals by ~e^-6.

# +
if comm.rank == 0:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    grid = np.linspace(0.3e-6, 1.7e-6, 120)
    curve = [dict(net0.__dict__, separation=float(x)) for x in grid]
    ax.semilogy(L_ * 1e6, fem_without * 1e3, "o", label="3-D, no Pt")
    ax.semilogy(L_ * 1e6, fem_with * 1e3, "s", label="3-D, Pt wire")
    ax.semilogy(grid * 1e6, [LateralSpinValveNetwork(**c).without_absorber().delta_R() * 1e3 for c in curve],
                "-", lw=1, label="network, no Pt (= Takahashi–Maekawa)")
    ax.semilogy(grid * 1e6, [LateralSpinValveNetwork(**c).delta_R() * 1e3 for c in curve], "--", lw=1,
                label="network, Pt point sink")
    ax.set_xlabel("electrode distance L (um)")
    ax.set_ylabel(r"$\Delta R_{NL}$ (mOhm)")
    ax.set_title(f"Py/Cu/Pt, 300 K: eta 3-D {eta_fem[0]:.3f}, network {eta_net[0]:.3f} at L = "
                 f"{L_[0] * 1e6:.1f} um", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
    x = np.linspace(profiles["with"][0].min(), profiles["with"][0].max(), 400)
    offset = 0.5 * L_[0]     # the network puts F1 at 0, the geometry at -L/2
    for key, style, solution in (("without", "-", net0.without_absorber().solve()), ("with", "--", net0.solve())):
        xs, mu = profiles[key]
        bx.plot(xs * 1e6, mu * 1e6, style, lw=2, alpha=0.6, label=f"3-D, {key} Pt")
        bx.plot(x * 1e6, solution.spin_accumulation_along(x + offset) * CURRENT * 1e6, "k" + style, lw=0.8,
                label=f"network, {key} Pt")
    for xm, name in ((-offset, "F1"), (0.0, "Pt"), (offset, "F2")):
        bx.axvline(xm * 1e6, color="0.7", lw=0.5)
        bx.text(xm * 1e6, bx.get_ylim()[1] * 0.95, name, ha="center", fontsize=8)
    bx.set_xlabel("x along the Cu strip (um)")
    bx.set_ylabel(r"spin accumulation $\mu_s$ (uV) at 100 uA")
    bx.legend(frameon=False, fontsize=8)
    fig.savefig(OUT / "spin_absorption.png", dpi=130)
    show(OUT / "spin_absorption.png")
    print(f"wrote {OUT / 'spin_absorption.png'}")
# -
