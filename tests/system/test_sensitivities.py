"""Forward sensitivities of the discrete solution (fem_spin/solvers/sensitivity.py, issue 21
phase 2) against finite differences.

* against central differences of replays of the SAME accepted steps (``frozen_steps``): the
  derivative of the discrete map itself, to 1e-5 relative (the differences' own truncation
  and Newton error are ~1e-8), for D0, k_x, R1 and P_e, in the radial cell (speed-up none and
  global: the global mode's coupling through Pbar is in the tangent system) and a small
  periodic cube;
* against central differences of ordinary adaptive runs (different step sequences), to the
  accuracy those differences have (time tolerance / step ~ 1e-3 relative);
* refusals named, before any run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fem_spin.api import simulate

ROOT = Path(__file__).resolve().parents[2]
RADIAL = ROOT / "examples" / "fit_dnp_radial" / "run.toml"
KEYS = ("model.D0", "model.exchange_rate", "model.R1", "model.source_polarization")
BASE = {"model.D0": 5e-16, "model.exchange_rate": 5e3, "model.R1": 20.0, "model.source_polarization": 0.9}

CUBE = """name = "cube"
[geometry]
type = "dnp_cube"
electron_concentration = "40 mM"
source_radius = 0.6e-9
mesh_size_source = 0.3e-9
mesh_size_bulk = 0.8e-9
[model]
type = "nuclear_diffusion"
D0 = 5e-16
speedup = "global"
source = "continuous"
source_polarization = 0.9
exchange_rate = 5e3
[time]
t_end = 0.01
dt_initial = 1e-8
tolerance = 1e-5
[output]
plot = false
render = false
error_estimate = false
"""


def _frozen_check(run, overrides, keys=KEYS):
    base = simulate(run, overrides, sensitivities=keys)
    plain = simulate(run, overrides)
    # the sensitivities do not change the forward run
    np.testing.assert_array_equal(base.series["P_mean"], plain.series["P_mean"])
    errors = {}
    for key in keys:
        p = overrides[key]
        h = 1e-4 * p
        up = simulate(run, {**overrides, key: p + h}, frozen_steps=base.steps)
        down = simulate(run, {**overrides, key: p - h}, frozen_steps=base.steps)
        np.testing.assert_array_equal(up.series["t"], base.series["t"])
        fd = (up.series["P_mean"] - down.series["P_mean"]) / (2 * h)
        s = base.sensitivities[key]["P_mean"]
        assert s.shape == fd.shape and s[0] == 0.0
        errors[key] = float(np.max(np.abs(s - fd)) / np.max(np.abs(s)))
    assert all(e < 1e-5 for e in errors.values()), errors
    return base


@pytest.mark.parametrize("speedup", ["none", "global"])
def test_radial_sensitivities_equal_frozen_step_central_differences(speedup):
    base = _frozen_check(RADIAL, {**BASE, "model.speedup": speedup, "time.tolerance": 1e-6})
    assert len(base.steps) > 100
    info = base.summary["sensitivities"]
    assert info["linear_solves"] == len(base.steps) * (len(KEYS) + (speedup == "global"))


def test_cube_sensitivities_equal_frozen_step_central_differences(tmp_path):
    (tmp_path / "cube.toml").write_text(CUBE)
    _frozen_check(tmp_path / "cube.toml", {**BASE, "model.R1": 20.0})


def test_pulsed_sensitivities_equal_frozen_step_central_differences():
    """A pulsed source (six pulses, 1 ms apart, with relaxation): each pulse maps the
    sensitivities by its derivative (the pulse's p_x and P_e act only there), the steps
    between pulses are the continuous model's without a source term."""
    pulsed = {**BASE, "model.source": "pulsed", "model.repetition_rate": 1e3,
              "model.exchange_probability": 0.5, "time.t_end": 5e-3, "time.dt_initial": 1e-6,
              "time.tolerance": 1e-5}
    base = _frozen_check(RADIAL, pulsed, ("model.D0", "model.R1", "model.exchange_probability",
                                          "model.source_polarization"))
    assert base.summary["final"]["pulses"] == 6
    # p_x acts only at the pulses: its sensitivity grows pulse by pulse
    s = base.sensitivities["model.exchange_probability"]["P_mean"]
    assert s[-1] > 5 * s[1] > 0


def test_radial_sensitivities_agree_with_adaptive_differences():
    """Ordinary (adaptive) runs at p(1 -+ h): a different step sequence each, so their
    difference carries the time error over 2h (tolerance 1e-7, h = 1e-3: ~1e-4 of the
    largest value) besides the derivative; compared at 60 times by cubic interpolation."""
    from fem_spin.analysis import interpolate_cubic

    overrides = {**BASE, "time.tolerance": 1e-7}
    base = simulate(RADIAL, overrides, sensitivities=KEYS)
    times = np.linspace(1e-4, 0.04, 60)
    for key in KEYS:
        p, h = overrides[key], 1e-3 * overrides[key]
        up = simulate(RADIAL, {**overrides, key: p + h})
        down = simulate(RADIAL, {**overrides, key: p - h})
        fd = (interpolate_cubic(up.series["t"], up.series["P_mean"], times)
              - interpolate_cubic(down.series["t"], down.series["P_mean"], times)) / (2 * h)
        s = interpolate_cubic(base.series["t"], base.sensitivities[key]["P_mean"], times)
        error = np.max(np.abs(s - fd)) / np.max(np.abs(s))
        assert error < 3e-3, (key, error)


def test_sensitivities_refused_with_the_reason():
    from fem_spin.api import _parse
    from fem_spin.solvers.sensitivity import NotDifferentiable, sensitivity_support

    config = _parse(RADIAL, None)
    assert sensitivity_support(config, "model.D0") is None
    assert "changes the mesh" in sensitivity_support(config, "geometry.source_radius")
    assert "quadrature flux" in sensitivity_support(_parse(RADIAL, {"model.speedup": "local"}), "model.D0")
    assert "not one of" in sensitivity_support(config, "model.like_spin_fraction")
    pulsed = _parse(RADIAL, {"model.source": "pulsed", "model.repetition_rate": 1e3})
    assert sensitivity_support(pulsed, "model.exchange_probability") is None
    assert "moves the pulses" in sensitivity_support(pulsed, "model.repetition_rate")
    assert "only with" in sensitivity_support(pulsed, "model.exchange_rate")
    with pytest.raises(NotDifferentiable, match="quadrature flux"):
        simulate(RADIAL, {"model.speedup": "local", "time.t_end": 1e-6}, sensitivities=["model.D0"])
