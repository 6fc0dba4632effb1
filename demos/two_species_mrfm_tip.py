# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: light
# ---

# # A second spin species under an MRFM tip: does it enhance separation? (issue 22, step 4)
#
# The Onsager seed paper conjectures that "an enhancement of this separative effect is
# possible with the introduction of a second spin-species". `demos/two_species_separation.py`
# answers it in a linear gradient (1-D); this demo asks it where MRFM would use it: a film
# under a magnetic sphere, in 3-D, in the tip's strongly non-uniform field (physics.md 4)
#
# $$
# B(x) = \bigl|B_0\hat z + \mathbf B_\mathrm{tip}(x)\bigr|,\qquad
# \mathbf B_\mathrm{tip} = \frac{\mu_0}{4\pi}\frac{3(\mathbf m\cdot\hat r)\hat r - \mathbf m}{r^3}.
# $$
#
# **Set-up** (the geometry of `demos/mrfm_tip.py`): a film 500 x 500 x 100 nm, sphere
# $R$ = 150 nm, $\mu_0 M$ = 1 T, gap 50 nm, $B_0$ = 3 T. Species a is 1H at the density of
# polystyrene ($4.86\times10^{28}$ m$^{-3}$; $B_{da}$ and $\Gamma$ from Dougherty et al. 2000).
# At $t = 0$ every species is uniformly polarized ($p_{a0} = 0.5$) and the shared dipolar
# reservoir has been cooled to $\theta_0 = \beta\mu_a B_{da} = 0.5$. Species b has fraction
# $x_b = \Delta_b/(\Delta_a + \Delta_b)$, gyromagnetic ratio $\gamma_b/\gamma_a$ (0.25 ~ 13C,
# 0.94 ~ 19F, 4 a hypothetical fast species) and polarization $p_{b0}$; as in the 1-D demo
# $B_{db} = B_{da}$ (so $\kappa = \gamma_b/\gamma_a$), equal channel rates and the same $\Gamma$
# with and without b (model assumptions, theory note 3.1 and 3.5).
#
# **The measures** (theory note 3.7). (i) The steady-state contrast of species a across the
# film, $\Delta p_a = \max p_a - \min p_a$ over the nodes at the equilibrium of the conserved
# totals (`onsager_two_species.equilibrium_from_totals` on the mesh's nodes and lumped weights).
# (ii) The Fenske amplitude: at equilibrium $\omega_a = \omega_{a0} - \theta\,(B - B_0)/B_{da}$,
# the Fenske profile in the field coordinate $(B - B_0)/B_{da}$, with slope $a = \theta_\infty$.
# (iii) Time: FEM runs (the framework's two-species instance in 3-D) record the contrast
# $\max p_a - \min p_a$. As in 1-D it overshoots: where the tip's gradient is largest the
# still-cold reservoir separates species a locally within microseconds, before the gradient
# energy of the whole film has warmed it; we report the transient peak with its time and the
# settling time, the last time the contrast is off its steady value by more than $1/e$ of it.
#
# **Why the answer is the 1-D one.** Nothing in the argument of theory note 3.5 depends on the
# shape of $B(x)$: at equilibrium one dipolar inverse temperature $\beta$ separates both
# species, each species' share of the energy is a monotonic function of $\beta$ and its own
# moment, so the mixture's $\beta$ lies between the two species' own. The tip only changes the
# numbers: its field spread over the film is ~1000 $B_d$, so the gradient-Zeeman heat capacity
# $\propto (\gamma_k/\gamma_a)^2\langle b^2\rangle(1 - p_k^2)$ dwarfs the dipolar one, and the
# final $\beta$ is set almost entirely by how much gradient-Zeeman energy each species can
# absorb: a weakly polarized or high-$\gamma$ b drains the reservoir, a strongly polarized one
# (stiff Zeeman reservoir, $1 - p_b^2$ small) leaves more of it to species a.
#
# **Answer (the full setting's numbers; theory note 3.7).** No synergy, as in 1-D. Species a
# alone ends at $\theta_\infty = 6.0\times10^{-6}$ with contrast 0.0094; a second species
# enhances it only by being the better-separating species itself, bounded by what b alone
# reaches: 19F-like b at $p_{b0} = p_{a0}$ changes it by +0.04 % to +0.9 %, at $p_{b0} = 0.9$
# by +29 % ($x_b = 0.5$; b alone: $\theta$ ratio 2.60), unpolarized b lowers it 9 %, a
# four-times-faster-precessing b halves it. With equal channel rates no time changes: every run
# settles at 28.6-28.7 s (the transient and its timing are under-resolved near the apex, where
# the Fenske length is ~0.1 nm: mesh-dependent; the steady ratios are not).
#
# Run: `./fem-env python3 demos/two_species_mrfm_tip.py` (also under `mpirun -n 2`).

# +
import os
from pathlib import Path

import numpy as np
from mpi4py import MPI
from scipy.optimize import brentq

from fem_spin.analytic import onsager
from fem_spin.analytic import onsager_two_species as two
from fem_spin.config import parse_config
from fem_spin.models.onsager import PROTON_GYROMAGNETIC_RATIO
from fem_spin.simulation import sample

import fem_spin
from fem_spin.viz.notebook import show   # displays a PNG in a notebook; nothing in a script

# The repository (examples/, results/) is found from the package, so that this also works
# in a notebook, which has no __file__.
REPO = Path(fem_spin.__file__).resolve().parents[1]
OUT = Path(os.environ.get("FEM_SPIN_DEMO_DIR") or REPO / "results" / "demos")
OUT.mkdir(parents=True, exist_ok=True)
# FEM_SPIN_DEMO_SHORT=1 (tests/system/test_demos.py sets it): a coarser mesh (30-100 nm instead
# of 12-40 nm), 2 FEM runs instead of 5 (species a alone; x_b = 0.5, gamma_b/gamma_a = 0.94,
# p_b0 = 0.9) to 30 s (not 100 s) at time tolerance 1e-2 (not 1e-3), sampled at 16 times (not
# 45); the steady-state sweeps (cheap) stay. The assertions are the same.
SHORT = os.environ.get("FEM_SPIN_DEMO_SHORT") == "1"

comm = MPI.COMM_WORLD
B0, radius, gap, tip_T = 3.0, 150e-9, 50e-9, 1.0
n_a = 4.86e28                                   # 1H in polystyrene, 1/m^3
theta0, p_a0 = 0.5, 0.5
ratios = (0.25, 0.94, 4.0)
fractions = np.array([0.05, 0.2, 0.5, 0.8, 0.95])
p_b_values = np.array([0.0, 0.25, 0.5, 0.75, 0.9])


def base_config(model: dict, t_end: float = 1.0) -> dict:
    return {"name": "two_species_mrfm_tip",
            "geometry": {"type": "mrfm_film", "film_size": [500e-9, 500e-9], "film_thickness": 100e-9,
                         "gap": gap, "tip_shape": "sphere", "tip_radius": radius,
                         "mesh_size_min": 30e-9 if SHORT else 12e-9,
                         "mesh_size_max": 100e-9 if SHORT else 40e-9, "grading_distance": 250e-9},
            "model": {"type": "onsager_framework", "spin_density": n_a, "B0": B0, "field": "sphere_tip",
                      "tip_magnetization": tip_T, "initial_profile": "uniform", **model},
            "time": {"t_end": t_end, "dt_initial": 1e-5, "tolerance": 1e-2 if SHORT else 1e-3},
            "output": {"plot": False, "render": False}}


# the mesh's nodes, fields and lumped volumes, gathered on every rank (the equilibria are
# computed identically everywhere, so every rank holds the same numbers)
config = parse_config(base_config({"instance": "two_quantity"}))
probe = type(config.model).problem_class(config, comm).initialise()
B_d, Gamma = float(config.model.dipolar_field), float(config.model.transport_coefficient)
n_owned = len(probe.weights)
B = np.concatenate(comm.allgather(probe.owned_nodal(probe.field_magnitude.x.array).copy()))
w = np.concatenate(comm.allgather(probe.weights / n_a))           # int phi_i (m^3)
dofs = probe.V.dofmap.index_map.size_global * 2
probe.destroy()
b = (B - B0) / B_d


def zeeman_variable(p: float, th: float) -> float:
    """omega with p = -tanh|W| omega/|W|, W = (th, omega)."""
    return brentq(lambda om: -np.tanh(np.hypot(th, om)) * om / np.hypot(th, om) - p, -60.0, 60.0)


def initial_single():
    return onsager.density(np.array([theta0, zeeman_variable(p_a0, theta0)]))


def initial_mixture(x_b: float, ratio: float, p_b0: float) -> np.ndarray:
    omega = np.array([theta0, zeeman_variable(p_a0, theta0), zeeman_variable(p_b0, ratio * theta0)])
    return two.density(omega, 1.0 - x_b, ratio)


def steady_single():
    """(theta_inf, contrast of p_a) of species a alone."""
    r, p = initial_single()
    theta, _, rho = onsager.equilibrium_from_totals(B, w, B_d, w.sum() * p, np.dot(w, B_d * r - B * p), B_ref=B0)
    return theta, rho[1].max() - rho[1].min()


def steady_mixture(x_b: float, ratio: float, p_b0: float):
    """(theta_inf, contrast of p_a) with the second species."""
    x_a, rho = 1.0 - x_b, initial_mixture(x_b, ratio, p_b0)
    totals = (w.sum() * rho[1], w.sum() * rho[2], np.dot(w, rho[0] - (B / B_d) * (rho[1] + ratio * rho[2])))
    eq = two.equilibrium_from_totals(B, w, B_d, x_a, ratio, ratio, totals, B_ref=B0)
    p_a = eq.rho[1] / x_a
    return eq.theta, p_a.max() - p_a.min()


def theta_b_alone(ratio: float, p_b0: float) -> float:
    """theta (in species a's units) that species b alone reaches from the same preparation."""
    r, p = onsager.density(np.array([ratio * theta0, zeeman_variable(p_b0, ratio * theta0)]))
    theta_own, _, _ = onsager.equilibrium_from_totals(B, w, B_d, w.sum() * p, np.dot(w, B_d * r - B * p), B_ref=B0)
    return theta_own / ratio


theta_1, contrast_1 = steady_single()
sweep_x = {r: np.array([steady_mixture(xb, r, p_a0) for xb in fractions]) for r in ratios}
sweep_p = {r: np.array([steady_mixture(0.5, r, pb) for pb in p_b_values]) for r in ratios}
alone_b = {r: np.array([theta_b_alone(r, pb) for pb in p_b_values]) for r in ratios}
# -

# The steady states: contrast ratio (with b / alone) and Fenske amplitude ratio.

# +
if comm.rank == 0:
    print(f"{dofs} dofs (one species), B - B0 over the film {B.min() - B0:.3f} .. {B.max() - B0:.3f} T, "
          f"B_d = {B_d:.3g} T, <b^2> = {np.dot(w, b * b) / w.sum():.3g}, Gamma = {Gamma:.3g} m^2/s")
    print(f"species a alone: theta_0 = {theta0} -> Fenske amplitude theta_inf = {theta_1:.4g}, "
          f"contrast max p_a - min p_a = {contrast_1:.4g}")
    print("contrast ratio of species a (with b / alone), p_b0 = p_a0; [theta_inf ratio]")
    print("  x_b " + "".join(f"{'gamma_b/gamma_a = ' + str(r):>26}" for r in ratios))
    for k, xb in enumerate(fractions):
        print(f"  {xb:4.2f}" + "".join(f"{sweep_x[r][k, 1] / contrast_1:>16.4f} [{sweep_x[r][k, 0] / theta_1:7.4f}]"
                                      for r in ratios))
    print("contrast ratio at x_b = 0.5 against p_b0; [b alone: theta_b/theta_a]")
    for k, pb in enumerate(p_b_values):
        print(f"  p_b0 = {pb:4.2f}" + "".join(
            f"{sweep_p[r][k, 1] / contrast_1:>16.4f} [{alone_b[r][k] / theta_1:7.4f}]" for r in ratios))

# the one-species limit and an identical second species change nothing
theta_lim, contrast_lim = steady_mixture(1e-7, 0.94, p_a0)
assert abs(contrast_lim / contrast_1 - 1) < 1e-5 and abs(theta_lim / theta_1 - 1) < 1e-5
for xb in (0.2, 0.8):
    assert abs(steady_mixture(xb, 1.0, p_a0)[1] / contrast_1 - 1) < 1e-8
# the mixture's amplitude lies between the two species' own (no synergy), at every point of
# both sweeps, and species a's contrast is enhanced exactly when b alone reaches more
for r in ratios:
    points = [(sweep_x[r][k], theta_b_alone(r, p_a0)) for k in range(len(fractions))]
    points += [(sweep_p[r][k], alone_b[r][k]) for k in range(len(p_b_values))]
    for (th, c), th_b in points:
        assert min(theta_1, th_b) * (1 - 1e-9) <= th <= max(theta_1, th_b) * (1 + 1e-9), (r, th, theta_1, th_b)
        assert (c > contrast_1) == (th_b > theta_1) or abs(th_b / theta_1 - 1) < 1e-9, (r, c, th_b)
# the sign follows b's polarization: unpolarized b suppresses, a strongly polarized one enhances
for r in ratios:
    ratio_vs_p = sweep_p[r][:, 1] / contrast_1
    assert ratio_vs_p[0] < 1 < ratio_vs_p[-1] and np.all(np.diff(ratio_vs_p) > 0), (r, ratio_vs_p)
# -

# The time to separate, from FEM runs in 3-D.

# +
t_end = 30.0 if SHORT else 100.0
times = np.geomspace(1e-6, t_end, 16 if SHORT else 45)
runs = [("alone", None, None, None), ("b", 0.5, 0.94, 0.9)]
if not SHORT:
    runs += [("b", 0.5, 0.94, 0.5), ("b", 0.5, 0.94, 0.0), ("b", 0.8, 0.94, 0.9)]


def contrast_of_a(problem) -> float:
    values = problem.observables()
    return values["P_max"] - values["P_min"]


histories, finals, settle, peak = {}, {}, {}, {}
for key in runs:
    kind, xb, r, pb = key
    if kind == "alone":
        r1, _ = initial_single()
        model = {"instance": "two_quantity", "initial_dipolar_order": float(r1), "initial_polarization": p_a0}
        final = contrast_1
    else:
        rho = initial_mixture(xb, r, pb)
        model = {"instance": "two_species", "second_spin_density": n_a * xb / (1 - xb),
                 "second_gyromagnetic_ratio": r * PROTON_GYROMAGNETIC_RATIO, "second_dipolar_field": B_d,
                 "second_rate_ratio": 1.0, "initial_dipolar_order": float(rho[0]),
                 "initial_polarization": p_a0, "second_initial_polarization": pb}
        final = steady_mixture(xb, r, pb)[1]
    history = sample(base_config(model, t_end), times, contrast_of_a)
    histories[key], finals[key] = history, final
    # settling: the last time the contrast is off its steady value by more than 1/e of it;
    # log-linear interpolation to the crossing after it
    off = np.abs(history - final) > final / np.e
    k = int(np.nonzero(off)[0][-1])
    assert k + 1 < len(times), (key, history[-1] / final)
    d0, d1 = abs(history[k] - final) - final / np.e, abs(history[k + 1] - final) - final / np.e
    settle[key] = float(np.exp(np.log(times[k]) + d0 / (d0 - d1) * np.log(times[k + 1] / times[k])))
    peak[key] = (float(history.max()), float(times[np.argmax(history)]))

if comm.rank == 0:
    print(f"FEM runs (t_end = {t_end} s): the transient peak of the contrast of p_a (time), the steady "
          f"contrast, the settling time, the contrast at t_end / steady")
    print(f"  {'':42s} {'peak':>9} {'at t (s)':>9} {'steady':>9} {'settle (s)':>10} {'t_end/steady':>12}")
    for key in runs:
        kind, xb, r, pb = key
        label = "species a alone" if kind == "alone" else f"x_b = {xb}, gamma_b/gamma_a = {r}, p_b0 = {pb}"
        print(f"  {label:42s} {peak[key][0]:9.4g} {peak[key][1]:9.2g} {finals[key]:9.4g} {settle[key]:10.3g} "
              f"{histories[key][-1] / finals[key]:12.4f}")

alone, stiff = ("alone", None, None, None), ("b", 0.5, 0.94, 0.9)
# the runs approach the independently computed steady contrast
for key in runs:
    assert abs(histories[key][-1] / finals[key] - 1) < 0.1, (key, histories[key][-1] / finals[key])
# a strongly polarized 19F-like b raises species a's steady contrast (the enhancement of the
# sweeps above, seen in the dynamics)
assert finals[stiff] > 1.05 * finals[alone] and histories[stiff][-1] > histories[alone][-1]
# -

# Figure: contrast ratio against x_b and against p_b0 (dotted: b alone's theta over a's,
# the bound), and the contrast in time.

# +
if comm.rank == 0:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(7, 11), constrained_layout=True)
    for r in ratios:
        line, = axes[0].plot(fractions, sweep_x[r][:, 1] / contrast_1, "o-", label=f"gamma_b/gamma_a = {r}")
        axes[0].axhline(theta_b_alone(r, p_a0) / theta_1, ls=":", color=line.get_color())
        line, = axes[1].plot(p_b_values, sweep_p[r][:, 1] / contrast_1, "o-", label=f"gamma_b/gamma_a = {r}")
        axes[1].plot(p_b_values, alone_b[r] / theta_1, ":", color=line.get_color())
    for ax in axes[:2]:
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set(ylabel="steady contrast of p_a: with b / alone")
        ax.legend()
    axes[0].set(xlabel="fraction x_b of species b (p_b0 = p_a0 = 0.5)",
                title=f"MRFM tip: sphere R = {radius * 1e9:g} nm, gap {gap * 1e9:g} nm, B0 = {B0} T\n"
                      f"theta_0 = {theta0}, p_a0 = {p_a0}; dotted: theta(b alone)/theta(a alone)")
    axes[1].set(xlabel="initial polarization p_b0 of species b (x_b = 0.5)")
    for key, history in histories.items():
        kind, xb, r, pb = key
        label = "a alone" if kind == "alone" else f"x_b={xb}, g_b/g_a={r}, p_b0={pb}"
        line, = axes[2].semilogx(times, history, label=label)
        axes[2].axhline(finals[key], ls=":", color=line.get_color())
    axes[2].set(xlabel="t (s)", ylabel="contrast max p_a - min p_a")
    axes[2].legend(fontsize=7)
    fig.savefig(OUT / "two_species_mrfm_tip.png", dpi=120)
    show(OUT / "two_species_mrfm_tip.png")
    print(f"wrote {OUT / 'two_species_mrfm_tip.png'}")
# -
