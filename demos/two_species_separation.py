# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: light
# ---

# # Does a second spin species enhance separative magnetization transport? (issue 22, step 4)
#
# The Onsager seed paper ends with a conjecture: "an enhancement of this separative effect is
# possible with the introduction of a second spin-species". fem_spin's three-quantity
# instance of the Onsager framework (docs/theory/onsager_framework.md section 3: species a
# and b, each Zeeman moment conserved separately, one shared dipolar reservoir, the total
# energy conserved) lets us test it in a linear field gradient $B = B_0 + B'x$.
#
# **Set-up.** A 1-D sample of length $20\,\ell$, $\ell = B_{da}/B'$ (10 nm with
# $B_d = 10^{-4}$ T, $B' = 10^4$ T/m; times in $\ell^2/\Gamma = 0.1$ s with
# $\Gamma = 10^{-15}$ m^2/s), no-flux walls. At $t = 0$ every species is uniformly
# polarized (species a: $p_{a0} = 0.5$) and the dipolar reservoir has been cooled (e.g. by
# adiabatic demagnetisation in the rotating frame) to the dipolar inverse temperature
# $\theta_0 = \beta\mu_a B_{da} = 0.5$, common to both species (species b's dipolar variable
# is $\kappa\theta$, $\kappa = \mu_b B_{db}/(\mu_a B_{da})$). The comparison: species a alone
# (instance 1) against the same species a, same $p_{a0}$ and $\theta_0$, with a second
# species of fraction $x_b = \Delta_b/(\Delta_a + \Delta_b)$, gyromagnetic ratio
# $\gamma_b/\gamma_a$ and polarization $p_{b0}$. Model assumptions: $B_{db} = B_{da}$ (so
# $\kappa = \gamma_b/\gamma_a$), equal transport rates for the three channels (times then
# differ only through thermodynamics), the same $\Gamma$ with and without b.
#
# **The measures.** (i) The steady-state contrast $\Delta p_a = p_a(x_{max}) - p_a(x_{min})$
# of species a across the sample. (ii) The Fenske amplitude: at equilibrium
# $p_a = -\tanh$ of $\omega_a = \omega_{a0} - \theta\,(B - B_0)/B_{da}$ (up to the dipolar
# share), i.e. the Fenske profile $\tanh(a(\bar r - \bar r_0))$ in $\bar r = x B'/B_{da}$
# with slope $a = \theta$, the final dipolar inverse temperature, and relative volatility
# $\alpha = (1+a)/(1-a)$ (paper Eqs. 39-41; `langevin_fenske_mapping`). (iii) Time: the
# contrast at the walls does not grow monotonically to its steady value, it overshoots it
# (near a wall the still-cold dipolar reservoir separates a locally before the whole
# sample's gradient Zeeman energy has warmed it), so we report the transient peak of
# $\Delta p_a$ with its time, and the settling time: the last time $\Delta p_a$ is off its
# steady value by more than $1/e$ of it (it starts at 0, so this is the "1 - 1/e" time of a
# monotonic approach).
#
# The steady states are the maxima of the total entropy at the conserved totals
# (`onsager_two_species.equilibrium_from_totals`, checked against an independent primal
# maximisation and against long runs in the tests): no time stepping needed. The times come
# from runs of the FEM model.
#
# **Why the answer is what it is (theory note 1.6, 3.2).** At equilibrium the potentials
# conjugate to the conserved densities are uniform: one dipolar inverse temperature $\beta$
# and $\omega_k = \omega_{k0} - \beta\mu_k (B - B_0)$ for each species. Both species are
# separated by the *same* $\beta$, and that is the only way they interact. $\beta$ is fixed
# by energy conservation: the cold dipolar reservoir is the only source, and it warms while
# it feeds the Zeeman energy of the separated profiles. Each species' share of the final
# energy (its dipolar share plus its Zeeman energy in the gradient) is a function
# $F_k(\beta)$ of $\beta$ and of its own conserved moment only, monotonic (positive heat
# capacity); energy conservation reads
#
# $$
# x_a\,[F_a(\beta) - F_a^0] + x_b\,[F_b(\beta) - F_b^0] = 0,
# $$
#
# with $F_k^0$ the species' initial energy. Alone, species k would end at the root $\beta_k$
# of its own bracket. The mixture's root lies **between** $\beta_a$ and $\beta_b$ (both
# terms are monotonic in the same direction): the mixture's Fenske amplitude is a
# heat-capacity-weighted mean of the two species' own amplitudes — to linear order
# $\theta_\infty = (x_a e_a + x_b e_b)/(x_a c_a + x_b c_b)$, a mediant of $e_a/c_a$ and
# $e_b/c_b$, with $e_k$ the dipolar energy species k holds initially and $c_k$ its dipolar
# plus gradient-Zeeman heat capacity ($c_k \approx \kappa_k^2 + (\gamma_k/\gamma_a)^2
# \langle b^2\rangle(1 - p_k^2)$, $b = (B - B_0)/B_{da}$). So a second species enhances
# species a's separation exactly when b alone, prepared the same way, would reach the larger
# $|\beta|$ — a strongly polarized b (a stiff Zeeman reservoir that absorbs little gradient
# energy) does, a weakly polarized one does not — and the enhancement is bounded by
# $\beta_b/\beta_a$, approached only when species a is a trace. No synergy: the pair never
# separates a better than the better species alone sets the common $\beta$.
#
# Run: `./fem-env python3 demos/two_species_separation.py`.

# +
import os
from pathlib import Path

import numpy as np
from mpi4py import MPI
from scipy.optimize import brentq

from fem_spin.analytic import onsager
from fem_spin.analytic import onsager_two_species as two
from fem_spin.models.onsager import PROTON_GYROMAGNETIC_RATIO
from fem_spin.simulation import sample

import fem_spin
from fem_spin.viz.notebook import show   # displays a PNG in a notebook; nothing in a script

# the repository (examples/, results/), found from the package so that this also works in a
# notebook, which has no __file__
REPO = Path(fem_spin.__file__).resolve().parents[1]
OUT = Path(os.environ.get("FEM_SPIN_DEMO_DIR") or REPO / "results" / "demos")
OUT.mkdir(parents=True, exist_ok=True)
# FEM_SPIN_DEMO_SHORT=1 (tests/system/test_demos.py sets it) cuts the FEM runs for the times
# from 7 to 3 (species a alone and gamma_b/gamma_a = 0.94 at x_b = 0.5 with p_b0 = 0.5, 0.9);
# the steady states (cheap) are computed in full. The assertions are the same.
SHORT = os.environ.get("FEM_SPIN_DEMO_SHORT") == "1"

comm = MPI.COMM_WORLD
B_d, gradient, B0, Gamma = 1e-4, 1e4, 1.0, 1e-15
ell = B_d / gradient
t_unit = ell ** 2 / Gamma
length, cells = 20 * ell, 80
spin_density = 5e28                      # species a, 1/m^3 (drops out of every result)
theta0, p_a0 = 0.5, 0.5
x = np.linspace(-length / 2, length / 2, cells + 1)   # the P1 nodes of the runs
B = B0 + gradient * x
w = np.full(x.size, length / cells)                    # lumped weights (uniform density)
w[[0, -1]] *= 0.5
b = (B - B0) / B_d
ratios = (0.25, 0.94, 4.0)               # ~13C/1H, ~19F/1H, a hypothetical fast species
fractions = np.array([0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95])
p_b_values = np.linspace(0.0, 0.95, 20)


def zeeman_variable(p: float, th: float) -> float:
    """omega with p = -tanh|W| omega/|W|, W = (th, omega): the species' Zeeman variable for
    polarization p at dipolar variable th."""
    return brentq(lambda om: -np.tanh(np.hypot(th, om)) * om / np.hypot(th, om) - p, -60.0, 60.0)


def initial_single():
    """Species a alone: (dipolar order rho1, p_a) at (theta0, p_a0)."""
    return onsager.density(np.array([theta0, zeeman_variable(p_a0, theta0)]))


def initial_mixture(x_b: float, ratio: float, p_b0: float) -> np.ndarray:
    """rho = (rho_0, x_a p_a, x_b p_b) of the mixture at (theta0, p_a0, p_b0)."""
    kappa = ratio                                       # B_db = B_da
    omega = np.array([theta0, zeeman_variable(p_a0, theta0), zeeman_variable(p_b0, kappa * theta0)])
    return two.density(omega, 1.0 - x_b, kappa)


def steady_single():
    """(theta_inf, contrast of p_a) of species a alone (instance 1's equilibrium)."""
    r, p = initial_single()
    theta, _, rho = onsager.equilibrium_from_totals(B, w, B_d, w.sum() * p, np.dot(w, B_d * r - B * p), B_ref=B0)
    return theta, rho[1, -1] - rho[1, 0]


def steady_mixture(x_b: float, ratio: float, p_b0: float):
    """(theta_inf, contrast of p_a) with the second species (two-species equilibrium)."""
    x_a, rho = 1.0 - x_b, initial_mixture(x_b, ratio, p_b0)
    totals = (w.sum() * rho[1], w.sum() * rho[2], np.dot(w, rho[0] - (B / B_d) * (rho[1] + ratio * rho[2])))
    eq = two.equilibrium_from_totals(B, w, B_d, x_a, ratio, ratio, totals, B_ref=B0)
    p_a = eq.rho[1] / x_a
    return eq.theta, p_a[-1] - p_a[0]


def theta_b_alone(ratio: float, p_b0: float) -> float:
    """beta mu_a B_da that species b alone (instance 1 with mu_b, B_db = B_da: its own theta is
    kappa theta) reaches from the same preparation."""
    kappa = ratio
    r, p = onsager.density(np.array([kappa * theta0, zeeman_variable(p_b0, kappa * theta0)]))
    B_db = B_d * kappa / ratio
    theta_own, _, _ = onsager.equilibrium_from_totals(B, w, B_db, w.sum() * p, np.dot(w, B_db * r - B * p), B_ref=B0)
    return theta_own / kappa


theta_1, contrast_1 = steady_single()
# sweep 1: x_b and gamma_b/gamma_a with p_b0 = p_a0; sweep 2: p_b0 at x_b = 0.5
sweep_x = {r: np.array([steady_mixture(xb, r, p_a0) for xb in fractions]) for r in ratios}
sweep_p = {r: np.array([steady_mixture(0.5, r, pb) for pb in p_b_values]) for r in ratios}
# -

# The steady states: the contrast ratio (with b / alone) and the Fenske amplitude.

# +
if comm.rank == 0:
    print(f"l = {ell * 1e9:.3g} nm, l^2/Gamma = {t_unit:.3g} s, sample {length / ell:g} l, "
          f"<b^2> = {np.dot(w, b * b) / w.sum():.1f}")
    print(f"species a alone: theta_0 = {theta0} -> Fenske amplitude a = theta_inf = {theta_1:.5f} "
          f"(alpha = {(1 + theta_1) / (1 - theta_1):.5f}), contrast Delta p_a = {contrast_1:.5f}")
    print("contrast ratio of species a (with b / alone), p_b0 = p_a0 = 0.5; [theta_inf with b / alone]")
    print("  x_b " + "".join(f"{'gamma_b/gamma_a = ' + str(r):>26}" for r in ratios))
    for k, xb in enumerate(fractions):
        print(f"  {xb:4.2f}" + "".join(f"{sweep_x[r][k, 1] / contrast_1:>16.4f} [{sweep_x[r][k, 0] / theta_1:7.4f}]"
                                      for r in ratios))
    print("  b alone, theta_b/theta_a:" + "".join(f"{theta_b_alone(r, p_a0) / theta_1:>12.4f}" for r in ratios))
    print("contrast ratio at x_b = 0.5 against p_b0; [b alone: theta_b/theta_a]")
    for k in range(0, len(p_b_values), 3):
        pb = p_b_values[k]
        print(f"  p_b0 = {pb:4.2f}" + "".join(
            f"{sweep_p[r][k, 1] / contrast_1:>16.4f} [{theta_b_alone(r, pb) / theta_1:7.4f}]" for r in ratios))

# the one-species limit: x_b -> 0 is species a alone
theta_lim, contrast_lim = steady_mixture(1e-7, 0.94, p_a0)
assert abs(contrast_lim - contrast_1) < 1e-6 and abs(theta_lim - theta_1) < 1e-6
# an identical second species (gamma_b = gamma_a, B_db = B_da, p_b0 = p_a0) changes nothing:
# the mixture is one species (theory note 3.3)
for xb in (0.2, 0.5, 0.8):
    assert abs(steady_mixture(xb, 1.0, p_a0)[1] - contrast_1) < 1e-9
# with equal polarizations a near-identical species (19F) changes the contrast by < 1 %
assert np.all(np.abs(sweep_x[0.94][:, 1] / contrast_1 - 1) < 0.01)
# the mixture's amplitude lies between the two species' own ones (the mediant), for every
# point of both sweeps; so the contrast of a is enhanced exactly when b alone reaches more
for r in ratios:
    for (th, c), pb in [(sweep_x[r][k], p_a0) for k in range(len(fractions))] + \
                       [(sweep_p[r][k], p_b_values[k]) for k in range(len(p_b_values))]:
        th_b = theta_b_alone(r, pb)
        assert min(theta_1, th_b) - 1e-12 <= th <= max(theta_1, th_b) + 1e-12, (r, pb, th, theta_1, th_b)
        assert (c > contrast_1) == (th_b > theta_1) or abs(th_b - theta_1) < 1e-9, (r, pb)
# the sign of the effect follows the polarization of b: an unpolarized b suppresses, a
# strongly polarized one enhances, monotonically in p_b0 (every ratio, x_b = 0.5)
for r in ratios:
    ratio_vs_p = sweep_p[r][:, 1] / contrast_1
    assert ratio_vs_p[0] < 1 < ratio_vs_p[-1], (r, ratio_vs_p[0], ratio_vs_p[-1])
    assert np.all(np.diff(ratio_vs_p) > 0)
# -

# The transient and the settling time, from FEM runs (instance 1 alone, instance 2 with b).

# +
def base_config(model: dict, t_end: float) -> dict:
    return {"name": "two_species_separation",
            "geometry": {"type": "interval", "x_min": -length / 2, "x_max": length / 2, "cells": cells},
            "model": {"type": "onsager_framework", "spin_density": spin_density, "dipolar_field": B_d,
                      "transport_coefficient": Gamma, "B0": B0, "field_gradient": [gradient, 0.0, 0.0],
                      "initial_profile": "uniform", **model},
            "time": {"t_end": t_end, "dt_initial": 1e-3 * t_unit, "tolerance": 1e-4},
            "output": {"plot": False, "render": False}}


def contrast_of_a(problem) -> float:
    """p_a(x_max) - p_a(x_min), the same number on every rank."""
    n = len(problem.weights)
    xs = problem.V0.tabulate_dof_coordinates()[:n, 0]
    p_a = problem.species_polarizations()[0] if problem.two_species else problem.nodal_state()[1]
    hi = problem.comm.allreduce(float(np.sum(p_a[np.isclose(xs, length / 2, atol=1e-3 * ell)])), op=MPI.SUM)
    lo = problem.comm.allreduce(float(np.sum(p_a[np.isclose(xs, -length / 2, atol=1e-3 * ell)])), op=MPI.SUM)
    return hi - lo


t_end = 4000 * t_unit
times = np.geomspace(0.01 * t_unit, t_end, 60)
runs = [("alone", None, None, None)]
runs += [("b", 0.5, 0.94, 0.5), ("b", 0.5, 0.94, 0.9)]
if not SHORT:
    runs += [("b", 0.2, 0.94, 0.9), ("b", 0.8, 0.94, 0.9), ("b", 0.5, 0.25, 0.9), ("b", 0.5, 0.94, 0.0)]
# (gamma_b/gamma_a = 4 is not run: its mixture's dipolar order rho_0 exceeds 1 in species a's
# units, which the [model] check of initial_dipolar_order, written for one species, refuses)
histories, finals, settle, peak = {}, {}, {}, {}
for kind, xb, r, pb in runs:
    if kind == "alone":
        r1, p1 = initial_single()
        model = {"instance": "two_quantity", "initial_dipolar_order": float(r1), "initial_polarization": p_a0}
        final = contrast_1
    else:
        rho = initial_mixture(xb, r, pb)
        model = {"instance": "two_species", "second_spin_density": spin_density * xb / (1 - xb),
                 "second_gyromagnetic_ratio": r * PROTON_GYROMAGNETIC_RATIO, "second_rate_ratio": 1.0,
                 "initial_dipolar_order": float(rho[0]), "initial_polarization": p_a0,
                 "second_initial_polarization": pb}
        final = steady_mixture(xb, r, pb)[1]
    history = sample(base_config(model, t_end), times, contrast_of_a)
    histories[(kind, xb, r, pb)] = history
    finals[(kind, xb, r, pb)] = final
    # the run tends to the independently computed equilibrium
    assert abs(history[-1] / final - 1) < 0.01, (kind, xb, r, pb, history[-1] / final)
    # settling: the last time the contrast is off its steady value by more than 1/e of it
    # (the contrast starts at 0); log-linear interpolation to the crossing after it
    off = np.abs(history - final) > final / np.e
    k = int(np.nonzero(off)[0][-1])
    d0, d1 = abs(history[k] - final) - final / np.e, abs(history[k + 1] - final) - final / np.e
    settle[(kind, xb, r, pb)] = np.exp(np.log(times[k]) + d0 / (d0 - d1) * np.log(times[k + 1] / times[k]))
    # the transient: the contrast at the walls first overshoots the steady one
    peak[(kind, xb, r, pb)] = (float(history.max()), float(times[np.argmax(history)]))

if comm.rank == 0:
    print("FEM runs: the transient peak of the contrast of p_a (time), the steady contrast and the time")
    print("to settle within 1/e of it; times in l^2/Gamma")
    print(f"  {'':40s} {'peak':>8} {'at t':>8} {'steady':>8} {'settle':>8} {'t_end/steady':>12}")
    for key in histories:
        kind, xb, r, pb = key
        label = "species a alone" if kind == "alone" else f"x_b = {xb}, gamma_b/gamma_a = {r}, p_b0 = {pb}"
        print(f"  {label:40s} {peak[key][0]:8.4f} {peak[key][1] / t_unit:8.2f} {finals[key]:8.4f} "
              f"{settle[key] / t_unit:8.1f} {histories[key][-1] / finals[key]:12.6f}")

alone = ("alone", None, None, None)
# every run overshoots: near the walls the still-cold dipolar reservoir separates species a
# locally before the reservoir, warmed by the whole sample's gradient Zeeman energy, sets the
# weaker steady separation
assert all(peak[key][0] > 1.5 * finals[key] for key in histories)
# a near-identical species at the same polarization changes neither the steady contrast nor
# its timing by more than 1 %; a strongly polarized one (x_b = 0.5, p_b0 = 0.9) raises the
# steady contrast and the transient peak and settles sooner (its heat-capacity-weighted
# reservoir has less gradient-Zeeman capacity to fill)
same, stiff = ("b", 0.5, 0.94, 0.5), ("b", 0.5, 0.94, 0.9)
assert abs(settle[same] / settle[alone] - 1) < 0.01 and abs(finals[same] / finals[alone] - 1) < 0.01
assert finals[stiff] > 1.2 * finals[alone] and peak[stiff][0] > 1.1 * peak[alone][0]
assert settle[stiff] < 0.9 * settle[alone]
# -

# Figure: the contrast ratio against x_b (top) and against p_b0 (middle), the approach to the
# steady contrast in time (bottom).

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
        axes[1].plot(p_b_values, [theta_b_alone(r, pb) / theta_1 for pb in p_b_values], ":", color=line.get_color())
    for ax in axes[:2]:
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set(ylabel="steady contrast of p_a: with b / alone")
        ax.legend()
    axes[0].set(xlabel="fraction x_b of species b (p_b0 = p_a0 = 0.5)",
                title=f"theta_0 = {theta0}, p_a0 = {p_a0}, sample {length / ell:g} l; dotted: theta_b(b alone)/theta_a")
    axes[1].set(xlabel="initial polarization p_b0 of species b (x_b = 0.5)")
    for key, history in histories.items():
        kind, xb, r, pb = key
        label = "a alone" if kind == "alone" else f"x_b={xb}, g_b/g_a={r}, p_b0={pb}"
        axes[2].semilogx(times / t_unit, history, label=label)
    axes[2].set(xlabel="t / (l^2/Gamma)", ylabel="contrast p_a(x_max) - p_a(x_min)")
    axes[2].legend(fontsize=7)
    fig.savefig(OUT / "two_species_separation.png", dpi=120)
    show(OUT / "two_species_separation.png")
    print(f"wrote {OUT / 'two_species_separation.png'}")
# -
