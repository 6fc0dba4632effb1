"""System tests of instance 2 of the Onsager framework: two spin species, one dipolar
reservoir, three conserved quantities (docs/theory/onsager_framework.md section 3).

Conservation of the three totals and the entropy inequality, the two limits of section 3.3
(one species' density -> 0; two equal species = one species of double density) and the
small-amplitude modes of section 3.4 in a uniform field.
"""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

from fem_spin.analytic import onsager_two_species as two
from fem_spin.models.onsager import PROTON_GYROMAGNETIC_RATIO

from test_onsager import ELL, GAMMA, T_UNIT
from test_onsager_framework import framework_config, run

DELTA_A = 5e28
SECOND = {"instance": "two_species", "second_spin_density": 2e28, "second_rate_ratio": 0.5,
          "second_initial_polarization": 0.3, "second_region_polarization": -0.4}


def two_species_config(model=None, **sections) -> dict:
    return framework_config(model={**SECOND, **(model or {})}, **sections)


def allmax(value: float) -> float:
    return MPI.COMM_WORLD.allreduce(float(value), op=MPI.MAX)


@pytest.mark.parallel
@pytest.mark.parametrize("scheme", ["bdf", "backward_euler"])
def test_three_totals_conserved_and_entropy_grows(scheme):
    problem, rows, _ = run(two_species_config(time={"scheme": scheme, "t_end": 10 * T_UNIT,
                                                    "tolerance": 1e-2 if scheme == "backward_euler" else 1e-3}))
    assert problem.system.quantities == ("moment_a", "moment_b", "energy")
    # the dipolar reservoir exchanged energy with both Zeeman reservoirs, species b separated
    assert abs(rows[-1]["dipolar_mean"] - rows[0]["dipolar_mean"]) > 0.05
    assert rows[-1]["Pb_max"] - rows[0]["Pb_max"] > 0.05
    for name in problem.system.quantities:
        values = np.array([r[name] for r in rows])
        assert np.max(np.abs(values - values[0])) < 1e-10 * problem.total_scales[name], name
    entropy = np.array([r["entropy"] for r in rows])
    assert entropy[-1] > entropy[0]
    if scheme == "backward_euler":
        assert np.diff(entropy).min() >= -1e-12 * abs(entropy[0])
    assert max(r["rho_max"] for r in rows) < 1


def _pair(model_two: dict, model_one: dict, time: dict):
    """(two-species problem, rows), (instance-1 problem, rows) on the same mesh and steps."""
    t = {"t_end": 3 * T_UNIT, "adaptive": False, "scheme": "backward_euler", "dt_initial": 0.05 * T_UNIT,
         **time}
    two_species = run(two_species_config(model=model_two, time=t))
    one = run(framework_config(model=model_one, time=t))
    return two_species, one


@pytest.mark.parallel
def test_one_species_limit():
    """Delta_b/Delta_a = 1e-6: species a and the dipolar order follow instance 1 with Delta_a
    to O(x_b) (measured: 2.5e-7)."""
    ratio = 1e-6
    (p2, rows2, _), (p1, rows1, _) = _pair({"second_spin_density": ratio * DELTA_A}, {}, {})
    rho2, rho1 = p2.nodal_state(), p1.nodal_state()
    p_a = rho2[1] / p2.species_fraction
    difference = max(allmax(np.abs(p_a - rho1[1]).max(initial=0)), allmax(np.abs(rho2[0] - rho1[0]).max(initial=0)))
    print("one-species limit: max difference", difference)
    assert difference < 10 * ratio
    # and the run moved: the step has spread
    assert allmax(np.abs(rho1[1] - p1.params.initial_state()(
        p1.V0.tabulate_dof_coordinates()[: rho1.shape[1]].T)[1]).max(initial=0)) > 0.05


@pytest.mark.parallel
def test_equal_species_are_one_species_of_double_density():
    """a = b (gamma, B_d, rates, densities, initial polarizations): p_a = p_b = the
    polarization of instance 1 with density 2 Delta_a, rho_0 = its rho1 (theory note 3.3),
    to the Newton tolerance (measured: 8e-13)."""
    same = {"second_spin_density": DELTA_A, "second_gyromagnetic_ratio": PROTON_GYROMAGNETIC_RATIO,
            "second_rate_ratio": 1.0, "second_initial_polarization": -0.8,
            "second_region_polarization": 0.6}
    (p2, rows2, _), (p1, rows1, _) = _pair(same, {"spin_density": 2 * DELTA_A}, {})
    rho2, rho1 = p2.nodal_state(), p1.nodal_state()
    p_a, p_b = p2.species_polarizations()
    difference = max(allmax(np.abs(p_a - rho1[1]).max(initial=0)), allmax(np.abs(p_b - rho1[1]).max(initial=0)),
                     allmax(np.abs(rho2[0] - rho1[0]).max(initial=0)))
    print("equal species: max difference", difference)
    assert difference < 1e-10
    assert abs(rows2[-1]["dipolar_mean"] - rows2[0]["dipolar_mean"]) > 0.01
    moment = rows2[-1]["moment_a"] + rows2[-1]["moment_b"]
    assert moment == pytest.approx(rows1[-1]["moment"], rel=0, abs=1e-10 * p1.total_scales["moment"])
    assert rows2[-1]["energy"] == pytest.approx(rows1[-1]["energy"], rel=0,
                                                abs=1e-10 * p1.total_scales["energy"])
    assert rows2[-1]["entropy"] == pytest.approx(rows1[-1]["entropy"], rel=1e-10)


@pytest.mark.parallel
@pytest.mark.parametrize("mode", [0, 1, 2])
def test_small_amplitude_modes_in_a_uniform_field(mode):
    """Theory note 3.4: about a polarized uniform state, a cosine perturbation along an
    eigenvector e of (Sigma C Sigma) e = m C e decays as exp(-Gamma k^2 m t) and keeps its
    shape; the three channel rates differ (dipolar 2, a 1, b 0.3) and C couples them.
    Measured: the amplitudes to 1.3e-4 relative (the P1 lumped dispersion, (k h)^2/12).
    The slowest m (0.283) is below the slowest channel rate (0.3): coupling spreads them."""
    length, cells, eps = 20 * ELL, 80, 1e-3
    k = np.pi / length
    rates = (2.0, 1.0, 0.3)
    omega_bar = np.array([1.2, -1.0, 0.9])
    model = {"field": "uniform", "dipolar_rate_ratio": rates[0], "second_rate_ratio": rates[2],
             "second_spin_density": DELTA_A * 0.4 / 0.6}
    raw = two_species_config(model=model, geometry={"x_min": 0.0, "x_max": length, "cells": cells})
    from fem_spin.config import parse_config

    params = parse_config(raw).model
    x_a = 0.6
    kappa = (params.second_gyromagnetic_ratio / params.gyromagnetic_ratio)   # equal B_d
    m, e = two.mode_rates(omega_bar, x_a, kappa, rates)
    assert np.all(np.diff(m) > 0.05)                       # three distinct rates
    # det: prod m = prod sigma_k^2; the m are the squared singular values of
    # K^-1/2 Sigma K^1/2 (K = -C), not bounded by the channel rates (theory note 3.4)
    assert np.prod(m) == pytest.approx(np.prod(rates), rel=1e-12)
    shape = e[:, mode] / np.abs(e[:, mode]).max()
    assert np.count_nonzero(np.abs(shape) > 0.05) >= 2     # the channels are coupled
    t_end = 1.0 / (GAMMA * k * k * m[mode])                # one e-folding

    def initial(x):
        omega = omega_bar[:, None] + eps * shape[:, None] * np.cos(k * x[0])[None, :]
        return two.density(omega, x_a, kappa)

    raw["time"] = {"t_end": t_end, "dt_initial": t_end / 400, "adaptive": False, "scheme": "bdf2"}
    problem, _, _ = run(raw, initial_state=initial, record=False)
    assert problem.species_fraction == pytest.approx(x_a)
    omega = problem.owned(problem.u.x.array).reshape(-1, 3).T
    x = problem.V0.tabulate_dof_coordinates()[: omega.shape[1], 0]
    w = problem.weights
    c = np.cos(k * x)
    sums = np.array([np.dot(w * c, omega[i] - omega_bar[i]) for i in range(3)] + [np.dot(w * c, c)])
    sums = problem.comm.allreduce(sums, op=MPI.SUM)
    amplitude = sums[:3] / sums[3]
    expected = eps * shape * np.exp(-1.0)
    print("mode", mode, "m", m[mode], "amplitude", amplitude, "expected", expected)
    assert np.abs(amplitude - expected).max() < 5e-3 * eps
    # the measured decay rate of the dominant component
    i = int(np.argmax(np.abs(shape)))
    measured_m = -np.log(amplitude[i] / (eps * shape[i])) * m[mode]
    assert measured_m == pytest.approx(m[mode], rel=5e-3)


def test_long_run_relaxes_to_the_equilibrium_of_the_totals():
    """Issue 22: the run tends to the maximum of the total entropy at its conserved totals,
    computed independently of the solver (onsager_two_species.equilibrium_from_totals, itself
    checked against a primal maximisation in tests/unit/test_two_species_equilibrium.py).
    The initial state is far from it (a step in both species, dipolar order 0.2); at the end
    the largest nodal distance is below 1e-4 (measured: see the printout), and the equilibrium
    separates: theta != 0, p_a and p_b vary across the sample."""
    problem, rows, _ = run(two_species_config(time={"t_end": 40000 * T_UNIT, "tolerance": 1e-4}))
    theta, (omega_a0, omega_b0), rho_eq = problem.equilibrium()
    distance = problem.distance_to_equilibrium()
    print("theta", theta, "omega0", omega_a0, omega_b0, "final distance", distance)
    assert distance < 1e-4
    # the totals are the run's (conserved), the entropy at the end is below the maximum
    from fem_spin.analytic import onsager_two_species as two

    omega_eq = two.potentials(rho_eq, problem.species_fraction, problem.kappa)
    S_eq = problem.comm.allreduce(float(np.dot(problem.weights, two.entropy(
        omega_eq, problem.species_fraction, problem.kappa))), op=MPI.SUM) * 1.380649e-23
    assert rows[0]["entropy"] < rows[-1]["entropy"] <= S_eq * (1 + 1e-12)
    assert rows[-1]["entropy"] == pytest.approx(S_eq, rel=1e-6)
    assert abs(theta) > 1e-3
    p_a = rho_eq[1] / problem.species_fraction
    assert allmax(p_a.max(initial=-1)) + allmax(-p_a.min(initial=1)) > 0.01


def test_pvdf_preset_numbers_follow_from_their_sources():
    """fem_spin/presets/PVDF_1H_19F.toml: each number recomputed from the inputs its comment
    cites (density, atomic weights, N_A, gamma's, Dougherty's estimates), to the 4 digits
    written; then a few steps of a 1H + 19F run from it (the preset is a valid mixture)."""
    from fem_spin.config import parse_config
    from fem_spin.models.onsager import HBAR, MU0_OVER_4PI

    N_A, M = 6.02214076e23, 2 * 12.011 + 2 * 1.008 + 2 * 18.998403163
    n = 1.78 / M * 2 * N_A * 1e6
    gamma_H, gamma_F = 2.6752218744e8, 25.18148e7
    raw = two_species_config(geometry={"cells": 20}, time={"t_end": 0.5 * T_UNIT, "adaptive": False,
                                                           "dt_initial": 0.1 * T_UNIT})
    for key in ("spin_density", "second_spin_density", "dipolar_field", "transport_coefficient",
                "second_rate_ratio", "second_gyromagnetic_ratio"):
        raw["model"].pop(key, None)
    raw["preset"] = "PVDF_1H_19F"
    p = parse_config(raw).model
    assert p.instance == "two_species"
    assert p.spin_density == pytest.approx(n, rel=1e-4) and p.second_spin_density == pytest.approx(n, rel=1e-4)
    assert p.gyromagnetic_ratio == gamma_H and p.second_gyromagnetic_ratio == pytest.approx(gamma_F, rel=1e-12)
    assert p.dipolar_field == pytest.approx(MU0_OVER_4PI * HBAR * (gamma_H + gamma_F) * n, rel=5e-4)
    assert p.second_dipolar_field == p.dipolar_field
    assert p.transport_coefficient == pytest.approx(MU0_OVER_4PI * HBAR * gamma_H ** 2 * n ** (1 / 3), rel=1e-4)
    assert p.second_rate_ratio == pytest.approx((gamma_F / gamma_H) ** 2, rel=5e-4)
    problem, rows, _ = run(raw)
    assert problem.species_fraction == pytest.approx(0.5)
    assert len(rows) == 6 and max(r["rho_max"] for r in rows) < 1
