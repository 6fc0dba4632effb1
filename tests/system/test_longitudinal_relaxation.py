"""The example model of docs/adding_a_model.md against exact solutions: uniform relaxation is
the T1 ODE, a cosine mode decays at D (pi/L)^2, the pumped source reaches its steady state."""

import math

import numpy as np
import pytest

from fem_spin import simulate
from fem_spin.config import ConfigError, parse_config

L = 1e-6
BASE = {"name": "lr", "geometry": {"type": "interval", "x_min": 0.0, "x_max": L, "cells": 200},
        "model": {"type": "longitudinal_relaxation", "D": 1e-15, "T1": 10.0, "M0": 1.0,
                  "initial_magnetization": -1.0},
        "time": {"t_end": 20.0, "dt_initial": 0.01, "tolerance": 1e-5},
        "output": {"plot": False, "render": False}}


def raw(**model):
    return {**BASE, "model": {**BASE["model"], **model}}


def test_uniform_state_relaxes_as_the_T1_ode():
    series = simulate(raw()).series
    exact = 1.0 - 2.0 * np.exp(-series["t"] / 10.0)            # inversion recovery
    np.testing.assert_allclose(series["M_mean"], exact, atol=2e-3)
    np.testing.assert_allclose(series["M_max"], series["M_min"], atol=1e-12)


def test_cosine_mode_decays_at_D_k_squared():
    """M = cos(pi x / L) without relaxation: amplitude exp(-D (pi/L)^2 t)."""
    from fem_spin.models.longitudinal_relaxation import LongitudinalRelaxationProblem

    D, t_end = 1e-15, 50.0
    cfg = parse_config(raw(T1=None, D=D, initial_magnetization=0.0, M0=1.0))
    problem = LongitudinalRelaxationProblem(cfg).initialise()
    problem.u.interpolate(lambda x: np.cos(np.pi * x[0] / L))
    problem.accept_step()   # the new state is the old one of the first (backward-Euler) step
    steps = 500
    for k in range(1, steps + 1):
        problem.set_time_step(k * t_end / steps, t_end / steps)
        assert problem.solve_step().converged
        problem.accept_step()
    amplitude = problem.global_max(problem.owned(problem.u.x.array))
    assert amplitude == pytest.approx(math.exp(-D * (np.pi / L) ** 2 * t_end), rel=5e-3)
    problem.destroy()


def test_source_drives_the_region_to_its_steady_state():
    """A source covering the sample, k (M_S - M) - (M - M0)/T1 = 0 at steady state."""
    k, T1, M_S = 2.0, 10.0, 3.0
    series = simulate(raw(source_shape="box", source_rate=k, source_magnetization=M_S,
                          source_lower=[-1.0, -1.0, -1.0], source_upper=[1.0, 1.0, 1.0],
                          T1=T1, initial_magnetization=1.0)).series
    steady = (k * M_S + 1.0 / T1) / (k + 1.0 / T1)
    assert series["M_source"][-1] == pytest.approx(steady, rel=1e-6)


@pytest.mark.parametrize("key,value,message", [
    ("T1", -1.0, "T1"), ("source_rate", 1.0, "source_shape"), ("region_shape", "ball", "region_radius")])
def test_bad_input_names_the_key(key, value, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(raw(**{key: value}))
