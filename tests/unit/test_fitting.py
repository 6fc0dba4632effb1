"""The fit file, the datasets and the statistics of fem_spin/fitting (no mesh, no solve):
every bad input is refused before any simulation with one line naming the file and the key
or line; the closed-form nuisance scale is the brute-force optimum; a degenerate pair is
flagged; the statistics match the textbook formulas on a linear model."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from fem_spin.config import ConfigError
from fem_spin.fitting import statistics as st
from fem_spin.fitting.config import load_fit_config, parse_fit_config
from fem_spin.fitting.data import DataError
from fem_spin.fitting.jacobian import auto_step
from fem_spin.analysis import interpolate_cubic
from fem_spin.fitting.setup import prepare

RUN = """\
name = "m"
[geometry]
type = "dnp_radial"
electron_concentration = "40 mM"
source_radius = 0.6e-9
[model]
type = "nuclear_diffusion"
D0 = 5e-16
speedup = "global"
source = "continuous"
source_polarization = 0.9
exchange_rate = 5e3
[time]
t_end = 0.04
dt_initial = 1e-8
[output]
plot = false
render = false
"""

FIT = """\
name = "f"
[[dataset]]
name = "c40"
file = "data.csv"
run = "run.toml"
time_unit = "ms"
[[parameter]]
key = "model.D0"
initial = 2e-16
bounds = [1e-18, 1e-13]
[[parameter]]
key = "model.exchange_rate"
initial = 2e3
bounds = [10.0, 1e7]
"""

GOOD_DATA = "# comment\nt_ms,signal,sigma\n" + "".join(f"{t},{10 * t},1.0\n" for t in (0.5, 1, 2, 5, 10, 20))


def write_case(tmp_path: Path, data: str = GOOD_DATA, fit: str = FIT, run: str = RUN) -> Path:
    (tmp_path / "run.toml").write_text(run)
    (tmp_path / "data.csv").write_text(data)
    (tmp_path / "fit.toml").write_text(fit)
    return tmp_path / "fit.toml"


def refusal(tmp_path, **kw) -> str:
    path = write_case(tmp_path, **kw)
    with pytest.raises(ConfigError) as info:
        prepare(load_fit_config(path))
    message = str(info.value)
    assert "\n" not in message
    return message


def test_good_case_parses_into_frozen_objects(tmp_path):
    config = load_fit_config(write_case(tmp_path))
    (d,) = prepare(config)
    assert d.data.x.tolist() == pytest.approx([5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2])
    assert d.data.lines == (3, 4, 5, 6, 7, 8)
    assert [p.name for p in config.free_parameters()] == ["model.D0", "model.exchange_rate"]
    assert dict(d.fixed)["time.tolerance"] == 1e-6
    with pytest.raises(AttributeError):
        config.name = "other"   # frozen
    assert config.free_parameters()[0].to_internal(2e-16) == pytest.approx(math.log(2e-16))


@pytest.mark.parametrize("data, line, words", [
    (GOOD_DATA.replace("5,50,1.0", "5,abc,1.0"), 6, "not a number ('abc')"),
    (GOOD_DATA.replace("5,50,1.0", "5,50,-1.0"), 6, "must be > 0 (got -1)"),
    (GOOD_DATA.replace("5,50,1.0", "5,50,0"), 6, "must be > 0 (got 0)"),
    (GOOD_DATA.replace("5,50,1.0", "5,nan,1.0"), 6, "not finite"),
    (GOOD_DATA.replace("5,50,1.0", "5,inf,1.0"), 6, "not finite"),
    (GOOD_DATA.replace("20,200,1.0", "50,500,1.0"), 8, "after the run's time.t_end = 0.04 s"),
    (GOOD_DATA.replace("0.5,5.0,1.0", "-0.5,5.0,1.0"), 3, "negative"),
    (GOOD_DATA.replace("5,50,1.0", "5,50"), 6, "2 cells, the header has 3"),
    ("t_ms,signal,sigma\n1,10,1\n2,20,1\n", 3, "fewer than the 3 free parameters"),
])
def test_bad_data_is_refused_naming_file_and_line(tmp_path, data, line, words):
    message = refusal(tmp_path, data=data)
    assert message.startswith(f"{tmp_path / 'data.csv'}: line {line}: "), message
    assert words in message, message


def test_bad_data_names_line_with_comment_lines_counted(tmp_path):
    data = "# a\n# b\nt,y\n1e-3,1\n\n2e-3,x\n"
    message = refusal(tmp_path, data=data, fit=FIT.replace('time_unit = "ms"', 'time_unit = "s"'))
    assert ": line 6: column 'y' (value): not a number ('x')" in message


def test_missing_dataset_and_named_columns(tmp_path):
    path = write_case(tmp_path)
    (tmp_path / "data.csv").unlink()
    with pytest.raises(DataError, match="data.csv: dataset file not found"):
        prepare(load_fit_config(path))
    fit = FIT.replace('time_unit = "ms"', 'time_unit = "ms"\ncolumns = { time = "t_ms", value = "nope" }')
    message = refusal(tmp_path, fit=fit)
    assert "data.csv: line 2: no column 'nope' for the value" in message


@pytest.mark.parametrize("edit, key, words", [
    (lambda f: f.replace('bounds = [1e-18, 1e-13]', 'bounds = [1e-18, 1e-17]'), "parameter[0].initial", "strictly inside"),
    (lambda f: f.replace('bounds = [1e-18, 1e-13]', 'bounds = [-1e-18, 1e-13]'), "parameter[0].bounds", "log-scaled"),
    (lambda f: f.replace('key = "model.D0"', 'key = "D0"'), "parameter[0].key", "section.key"),
    (lambda f: f + '[fit]\njacobian = "adjoint"\n', "fit.jacobian", "must be \"sensitivities\""),
    (lambda f: f + '[fit]\nbogus = 1\n', "fit.bogus", "unknown key"),
    (lambda f: f.replace('time_unit = "ms"', 'time_unit = "fortnight"'), "dataset[0].time_unit", "must be one of"),
    (lambda f: f.replace('time_unit = "ms"', 'time_unit = "ms"\nobservation = { type = "kerr_rotation" }'),
     "dataset[0].observation.type", "unknown observation 'kerr_rotation'"),
    (lambda f: f.replace('time_unit = "ms"', 'time_unit = "ms"\nobservation = { scale = "x" }'),
     "dataset[0].observation.scale", "must be \"fit\""),
])
def test_bad_fit_file_is_refused_naming_the_key(tmp_path, edit, key, words):
    message = refusal(tmp_path, fit=edit(FIT))
    assert message.startswith(f"{tmp_path / 'fit.toml'}: {key}: "), message
    assert words in message


def test_a_value_the_run_refuses_names_the_fit_files_key(tmp_path):
    fit = FIT.replace('initial = 2e-16\nbounds = [1e-18, 1e-13]', 'initial = 2e-16\nbounds = [-1e-16, 1e-13]\nscale = "linear"')
    message = refusal(tmp_path, fit=fit)
    assert message.startswith(f"{tmp_path / 'fit.toml'}: parameter[0].bounds: model.D0 = -1e-16 is refused"), message
    message = refusal(tmp_path, fit=FIT.replace('key = "model.D0"', 'key = "model.nonsense"'))
    assert "model.nonsense" in message and "fit.toml: parameter[0].initial" in message, message


def test_per_dataset_parameters_and_no_degrees_of_freedom_left(tmp_path):
    fit = FIT + '[[dataset]]\nname = "b"\nfile = "data.csv"\nrun = "run.toml"\ntime_unit = "ms"\n'
    fit = fit.replace('[[parameter]]\nkey = "model.exchange_rate"',
                      '[[parameter]]\nshared = false\nkey = "model.exchange_rate"')
    config = load_fit_config(write_case(tmp_path, fit=fit))
    assert [p.name for p in config.free_parameters()] == ["model.D0", "model.exchange_rate[c40]",
                                                          "model.exchange_rate[b]"]
    (a, b) = prepare(config)
    assert [p.name for p in b.parameters] == ["model.D0", "model.exchange_rate[b]"]
    # as many points as free parameters (D0, k_x, scale): nothing left for the errors
    write_case(tmp_path, data="t_ms,signal,sigma\n1,10,1\n2,20,1\n3,30,1\n")
    with pytest.raises(ConfigError, match="fit.toml: dataset: 3 data points for 3 free parameters"):
        prepare(load_fit_config(tmp_path / "fit.toml"))


def test_cli_refuses_bad_data_with_one_line_and_exit_2(tmp_path, capsys):
    from fem_spin.cli import main

    path = write_case(tmp_path, data=GOOD_DATA.replace("5,50,1.0", "5,50,-2"))
    assert main(["fit", str(path), "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"fem-spin: error: {tmp_path / 'data.csv'}: line 6: column 'sigma' (sigma): must be > 0 (got -2)"]
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- statistics
def test_closed_form_scale_and_offset_equal_the_brute_force_optimum():
    from scipy.optimize import minimize

    rng = np.random.default_rng(3)
    g = np.linspace(0.0, 0.9, 25) ** 0.7
    sigma = rng.uniform(0.5, 2.0, 25)
    y = 830.0 * g + 12.0 + rng.normal(0, sigma)
    w = 1 / sigma**2
    c = st.solve_nuisance(np.zeros(25), np.column_stack([g, np.ones(25)]), y, w)
    brute = minimize(lambda p: np.sum(w * (y - p[0] * g - p[1]) ** 2), x0=[1.0, 0.0],
                     method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000})
    assert c == pytest.approx(brute.x, rel=1e-6, abs=1e-6)
    # scale alone, with a fixed offset folded into f0
    (s,) = st.solve_nuisance(np.full(25, 12.0), g[:, None], y, w)
    grid = np.linspace(s - 5, s + 5, 20001)
    chi2 = [np.sum(w * (y - 12.0 - a * g) ** 2) for a in grid]
    assert s == pytest.approx(grid[int(np.argmin(chi2))], abs=1e-3)


def test_statistics_of_a_linear_model_match_the_textbook():
    rng = np.random.default_rng(7)
    x = np.linspace(0, 1, 40)
    sigma = np.full(40, 0.1)
    X = np.column_stack([np.ones(40), x])
    y = X @ [1.0, 2.0] + rng.normal(0, 0.1, 40)
    beta, *_ = np.linalg.lstsq(X / 0.1, y / 0.1, rcond=None)
    r = (y - X @ beta) / sigma
    s = st.analyse(-X / 0.1, r, ["a", "b"], sigma=sigma)
    cov = np.linalg.inv(X.T @ X) * 0.01
    assert not s.scaled
    assert s.standard_errors == pytest.approx(np.sqrt(np.diag(cov)), rel=1e-10)
    assert s.correlation[0, 1] == pytest.approx(cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1]))
    assert s.dof == 38 and s.reduced_chi2 == pytest.approx(np.sum(r**2) / 38)
    minus2 = np.sum(r**2) + np.sum(np.log(2 * np.pi * sigma**2))
    assert s.aic == pytest.approx(minus2 + 4) and s.bic == pytest.approx(minus2 + 2 * np.log(40))
    # without sigma: scaled by the reduced chi^2, the noise variance counted as a parameter
    u = st.analyse(-X, y - X @ beta, ["a", "b"], sigma=None)
    assert u.scaled
    assert u.standard_errors == pytest.approx(np.sqrt(np.diag(np.linalg.inv(X.T @ X)) * u.reduced_chi2))
    assert u.aic == pytest.approx(40 * (np.log(2 * np.pi * u.chi2 / 40) + 1) + 6)


def test_a_degenerate_pair_is_flagged_and_an_independent_one_is_not():
    t = np.linspace(0.01, 1, 30)
    a = np.exp(-t)
    J_bad = np.column_stack([a, a * (1 + 1e-3 * t), np.sin(6 * np.pi * t)])   # columns 0 and 1 nearly parallel
    s = st.analyse(J_bad, np.zeros(30), ["D0", "r_s", "k"], sigma=np.ones(30))
    assert [(p[0], p[1]) for p in s.degenerate] == [("D0", "r_s")]
    assert abs(s.degenerate[0][2]) > 0.95 and s.ill_conditioned
    good = st.analyse(np.column_stack([np.ones(30), t - t.mean()]), np.zeros(30), ["a", "b"],
                      sigma=np.ones(30))
    assert good.degenerate == () and not good.ill_conditioned
    singular = st.analyse(np.column_stack([a, 2 * a]), np.zeros(30), ["p", "q"], sigma=np.ones(30))
    assert singular.singular and singular.ill_conditioned


def test_cubic_interpolation_is_exact_for_cubics_and_refuses_outside():
    t = np.array([0.0, 0.1, 0.15, 0.4, 0.5, 0.9, 1.0])
    f = lambda x: 1 - 2 * x + 3 * x**2 - 0.5 * x**3
    q = np.linspace(0, 1, 17)
    assert interpolate_cubic(t, f(t), q) == pytest.approx(f(q), abs=1e-13)
    with pytest.raises(ValueError):
        interpolate_cubic(t, f(t), [1.2])


def test_finite_difference_step_follows_the_time_tolerance():
    assert auto_step(1e-6) == pytest.approx(2e-3)
    assert auto_step(1e-12) == 1e-4 and auto_step(1e-2) == 1e-2


# --------------------------------------------------------------------------- nonlocal_delta_r
_VALVE = Path(__file__).resolve().parents[2] / "examples" / "fit_nonlocal_spin_valve"


def _valve_fit(tmp_path, data="L_um,dR,s\n0.5,0.15,0.001\n1.0,0.08,0.001\n2.0,0.02,0.001\n", **edits):
    (tmp_path / "d.csv").write_text(data)
    dataset = {"name": "v", "file": "d.csv", "run": str(_VALVE / "run.toml"),
               "columns": {"x": "L_um", "value": "dR", "sigma": "s"},
               "observation": {"type": "nonlocal_delta_r", "unit": "um"}}
    dataset.update(edits.pop("dataset", {}))
    raw = {"name": "v", "dataset": [dataset],
           "parameter": [{"key": "model.regions.N.spin_diffusion_length", "initial": 1e-6,
                          "bounds": [1e-7, 1e-5]},
                         {"key": "model.regions.barrier1.polarization", "initial": 0.3,
                          "bounds": [0.01, 0.95], "scale": "linear",
                          "also": ["model.regions.barrier2.polarization"]}]}
    raw.update(edits)
    return parse_fit_config(raw, source="v.toml", base_dir=tmp_path)


def test_nonlocal_delta_r_reads_distances_and_ties_both_barriers(tmp_path):
    from fem_spin.fitting.setup import run_overrides

    config = _valve_fit(tmp_path)
    (d,) = prepare(config)
    np.testing.assert_allclose(d.data.x, [0.5e-6, 1e-6, 2e-6])
    assert d.time_tolerance is None and "time.tolerance" not in dict(d.fixed)
    assert d.spec.observation.run_key() == "geometry.separation"
    values = {p.name: p.spec.initial for p in d.parameters}
    overrides = run_overrides(d, values)
    assert overrides["model.regions.barrier1.polarization"] == overrides["model.regions.barrier2.polarization"] == 0.3
    # both by the valet_fert sensitivities, P_J as the sum over the barriers' keys
    assert set(d.tangent_keys) == {p.spec.key for p in d.parameters} and d.tangent_refused == ()


@pytest.mark.parametrize("edit, key, words", [
    ({"dataset": {"time_unit": "ms"}}, "dataset[0].time_unit", "observation.unit"),
    ({"dataset": {"overrides": {"geometry.separation": 1e-6}}}, "dataset[0].overrides.geometry.separation",
     "each data point sets it"),
    ({"dataset": {"observation": {"type": "nonlocal_delta_r", "unit": "inch"}}}, "dataset[0].observation.unit",
     "must be one of"),
])
def test_nonlocal_delta_r_bad_fit_file(tmp_path, edit, key, words):
    with pytest.raises(ConfigError) as info:
        _valve_fit(tmp_path, **edit)
    assert info.value.key == key and words in str(info.value)


def test_nonlocal_delta_r_refuses_the_independent_key_as_a_parameter_and_bad_distances(tmp_path):
    with pytest.raises(ConfigError, match="independent variable"):
        _valve_fit(tmp_path, parameter=[{"key": "geometry.separation", "initial": 1e-6, "bounds": [1e-7, 1e-5]}])
    with pytest.raises(DataError, match=r"line 3: distance -1 um is negative"):
        prepare(_valve_fit(tmp_path, data="L_um,dR,s\n0.5,0.1,0.001\n-1,0.1,0.001\n2,0.1,0.001\n"))


def test_nonlocal_delta_r_refuses_a_transient_run(tmp_path):
    config = _valve_fit(tmp_path)
    bad = dataclasses_replace_run(config, Path(__file__).resolve().parents[2] / "examples" / "fit_dnp_radial" / "run.toml")
    with pytest.raises(ConfigError, match="stationary valet_fert"):
        prepare(bad)


def dataclasses_replace_run(config, run):
    import dataclasses

    return dataclasses.replace(config, datasets=(dataclasses.replace(config.datasets[0], run=run),),
                               parameters=(dataclasses.replace(config.parameters[0], key="model.D0",
                                                               initial=1e-16, lower=1e-18, upper=1e-13),))


# --------------------------------------------------------------------------- confirm_run
@pytest.mark.parametrize("confirm, words", [
    ("missing.toml", "run file {dir}/missing.toml not found"),
    ("spin_valve.toml", "has a stationary valet_fert run: a confirmation runs a transient nuclear_diffusion"),
    ("short.toml", "ends at time.t_end = 0.001 s, before the dataset's run (0.04 s)"),
])
def test_a_bad_confirm_run_is_refused_naming_the_key_and_the_file(tmp_path, capsys, confirm, words):
    """Checked before any run (fitting/setup.py): the CLI prints one line naming the fit file,
    the key and the run file, exits with 2 and creates nothing."""
    from fem_spin.cli import main

    fit = FIT.replace('time_unit = "ms"', f'time_unit = "ms"\nconfirm_run = "{confirm}"')
    path = write_case(tmp_path, fit=fit)
    (tmp_path / "spin_valve.toml").write_text((Path(__file__).resolve().parents[2] / "examples" /
                                               "nonlocal_spin_valve.toml").read_text())
    (tmp_path / "short.toml").write_text(RUN.replace("t_end = 0.04", "t_end = 0.001"))
    assert main(["fit", str(path), "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"fem-spin: error: {path}: dataset[0].confirm_run: "), err
    assert words.format(dir=tmp_path) in err[0], err
    assert not (tmp_path / "out").exists()
