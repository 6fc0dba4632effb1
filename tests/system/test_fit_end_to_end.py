"""End-to-end fits (fem_spin/fitting) on the radial DNP cell: recovery of known parameters
from synthetic noisy data made with a different mesh, and ``fem-spin fit`` on the example
(files written, the directory guarded like a run directory). Each test takes about 10-20 s
on one core."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fem_spin
from fem_spin.fitting.config import parse_fit_config
from fem_spin.analysis import interpolate_cubic

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "fit_dnp_radial"


def test_recovers_known_parameters_within_two_standard_errors(tmp_path):
    """Truth D0 = 3e-16 m^2/s, k_x = 8e3 1/s, scale 250, offset 4 (both nuisances fitted in
    closed form); data from a 2.5x finer mesh at a ten times tighter time tolerance, with
    seeded Gaussian noise (sigma 0.5, 0.25 % of the final signal)."""
    truth = {"model.D0": 3e-16, "model.exchange_rate": 8e3}
    scale, offset, sigma = 250.0, 4.0, 0.5
    fine = fem_spin.simulate(EXAMPLE / "run.toml", overrides={
        **truth, "geometry.mesh_size_source": 0.6e-9 / 25, "geometry.mesh_size_bulk": 2.15e-9 / 250,
        "time.tolerance": 1e-7})
    t = np.geomspace(2e-4, 0.04, 25)
    y = scale * interpolate_cubic(fine.series["t"], fine.series["P_mean"], t) + offset
    y += np.random.default_rng(1234).normal(0.0, sigma, len(t))
    (tmp_path / "data.csv").write_text("t,signal\n" + "".join(f"{float(a)!r},{float(b)!r}\n" for a, b in zip(t, y)))
    raw = {"name": "recovery", "fit": {"profile": "none"}, "dataset": [{
        "name": "d", "file": "data.csv", "run": str(EXAMPLE / "run.toml"), "sigma": sigma,
        "observation": {"type": "dnp_buildup", "scale": "fit", "offset": "fit"}}],
        "parameter": [{"key": "model.D0", "initial": 8e-16, "bounds": [1e-18, 1e-13]},
                      {"key": "model.exchange_rate", "initial": 4e3, "bounds": [10.0, 1e7]}]}
    result = fem_spin.fit(parse_fit_config(raw, source="recovery.toml", base_dir=tmp_path))
    assert result.converged
    for key, value in truth.items():
        e = result[key]
        # log-scaled: the Gaussian approximation is in ln p, SE(ln p) = relative error
        assert abs(math.log(e.value / value)) < 2 * e.relative_error, (key, e)
        # the fitted offset correlates with the early (k_x-limited) signal: measured SE(ln p)
        # about 0.2-0.35 here; a wide error would make "within 2 SE" empty
        assert e.relative_error < 0.5
        print(f"{key}: {e.value:.4g} +- {e.standard_error:.2g} (truth {value:g})")
    d = result.datasets["d"]
    for name, true in (("scale", scale), ("offset", offset)):
        e = d.nuisance[name]
        assert abs(e.value - true) < 2 * e.standard_error, (name, e)
    # the closed-form nuisances are the optimum of chi^2 at the best-fit physical parameters
    g = (d.model - d.nuisance["offset"].value) / d.nuisance["scale"].value
    chi2 = lambda s, o: float(np.sum(((d.y - s * g - o) / sigma) ** 2))
    best = chi2(d.nuisance["scale"].value, d.nuisance["offset"].value)
    for ds, do in ((1e-3, 0), (-1e-3, 0), (0, 1e-2), (0, -1e-2)):
        assert chi2(d.nuisance["scale"].value + ds * scale, d.nuisance["offset"].value + do) > best
    assert 0.3 < result.statistics.reduced_chi2 < 2.5
    assert not result.statistics.scaled and result.time_tolerance == 1e-6


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fem_spin", *args], capture_output=True, text=True,
                          cwd=REPO)


def test_cli_fits_the_example_and_guards_its_directory(tmp_path):
    out = tmp_path / "fits"
    done = run_cli("fit", str(EXAMPLE / "fit.toml"), "--output-dir", str(out), "-q")
    assert done.returncode == 0, done.stderr
    fit_dir = out / "dnp_radial_fit"
    for name in ("fit.json", "fit_report.md", "fit.toml", "c40_fit.csv", "c40_fit.png",
                 "correlation.png", ".fem_spin_run.json"):
        assert (fit_dir / name).is_file(), name
    data = json.loads((fit_dir / "fit.json").read_text())
    assert data["fem_spin"] == fem_spin.__version__ and data["converged"]
    truth = {"model.D0": 5e-16, "model.exchange_rate": 5e3}   # examples/fit_dnp_radial/make_data.py
    for key, value in truth.items():
        p = data["parameters"][key]
        assert abs(math.log(p["value"] / value)) < 2 * p["relative_error"], (key, p)
        assert f"{key} = " in done.stdout
    assert "statistics" in data and data["statistics"]["covariance_scaled_by_reduced_chi2"] is False
    report = (fit_dir / "fit_report.md").read_text()
    assert "not scaled by the reduced chi^2" in report and "well below the noise" in report

    # a second fit into the same place: refused before any simulation, nothing changed
    before = {p.name: p.stat().st_mtime_ns for p in fit_dir.iterdir()}
    again = run_cli("fit", str(EXAMPLE / "fit.toml"), "--output-dir", str(out), "-q")
    assert again.returncode == 2
    assert again.stderr.strip().splitlines() == [again.stderr.strip()]
    assert "already holds results" in again.stderr and "--overwrite" in again.stderr
    assert {p.name: p.stat().st_mtime_ns for p in fit_dir.iterdir()} == before
    # a directory of the user's is never replaced, even with --overwrite
    (out / "mine").mkdir()
    (out / "mine" / "notes.txt").write_text("keep")
    fit_file = tmp_path / "fit.toml"
    fit_file.write_text((EXAMPLE / "fit.toml").read_text().replace('name = "dnp_radial_fit"', 'name = "mine"')
                        .replace('"buildup_40mM.csv"', f'"{EXAMPLE / "buildup_40mM.csv"}"')
                        .replace('"run.toml"', f'"{EXAMPLE / "run.toml"}"'))
    mine = run_cli("fit", str(fit_file), "--output-dir", str(out), "--overwrite", "-q")
    assert mine.returncode == 2 and "not a fem_spin run directory" in mine.stderr
    assert (out / "mine" / "notes.txt").read_text() == "keep"


def test_pulsed_fit_recovers_D0_and_px_within_two_standard_errors(tmp_path):
    """examples/fit_dnp_pulsed cut to its first 20 ms (11 pulses, 20 points, to keep it
    cheap) and started nearer the truth than the example is: D0 and the exchange probability
    per pulse p_x, both columns by forward sensitivities through the pulses, recovered within
    two standard errors of the truth of its make_data.py (D0 = 1e-16 m^2/s, p_x = 0.8)."""
    pulsed = REPO / "examples" / "fit_dnp_pulsed"
    lines = (pulsed / "buildup_pulsed.csv").read_text().splitlines()
    rows = [ln for ln in lines if ln and not ln.startswith("#")]
    kept = [rows[0]] + [r for r in rows[1:] if float(r.split(",")[0]) < 20.0]
    assert len(kept) == 21
    (tmp_path / "data.csv").write_text("\n".join(kept) + "\n")
    raw = {"name": "pulsed", "fit": {"profile": "none", "time_tolerance": 1e-5, "ftol": 1e-6}, "dataset": [{
        "name": "p", "file": "data.csv", "run": str(pulsed / "run.toml"), "time_unit": "ms",
        "overrides": {"time.t_end": 0.02},
        "observation": {"type": "dnp_buildup", "scale": 1.0}}],
        "parameter": [{"key": "model.D0", "initial": 1.3e-16, "bounds": [1e-18, 1e-14]},
                      {"key": "model.exchange_probability", "initial": 0.75, "bounds": [0.01, 0.99]}]}
    result = fem_spin.fit(parse_fit_config(raw, source="pulsed.toml", base_dir=tmp_path))
    assert result.converged
    assert result.jacobian["columns"] == {"model.D0": "sensitivities",
                                          "model.exchange_probability": "sensitivities"}
    for key, truth in {"model.D0": 1e-16, "model.exchange_probability": 0.8}.items():
        estimate = result[key]
        assert abs(estimate.value - truth) < 2 * estimate.standard_error, (key, estimate)
        assert estimate.relative_error < 0.3, (key, estimate)


def test_confirm_run_reports_the_3d_cell_at_the_best_fit(tmp_path):
    """examples/fit_dnp_radial/fit_confirm.toml: the radial fit, then its run_cube.toml (a coarse
    periodic cube) once at the best fit. The confirmation's model is the cube's Pbar at the
    best fit times the fit's scale (checked against a separate cube run), its chi^2 and
    deviations follow from it, and fit.json, fit_report.md and the plot carry it."""
    from fem_spin.fitting.config import load_fit_config

    config = load_fit_config(EXAMPLE / "fit_confirm.toml")
    result = fem_spin.fit(config, directory=tmp_path)
    c = result.confirmation["c40"]
    assert result.confirmation_runs[0] == 1
    best = {k: e.value for k, e in result.parameters.items()}
    cube = fem_spin.simulate(EXAMPLE / "run_cube.toml", overrides={**best, "time.tolerance": 1e-6})
    d = result.datasets["c40"]
    scale = d.nuisance["scale"].value
    expected = scale * interpolate_cubic(cube.series["t"], cube.series["P_mean"], d.x)
    np.testing.assert_allclose(c.model, expected, rtol=1e-9)
    assert c.chi2 == pytest.approx(float(np.sum(((d.y - expected) / d.sigma) ** 2)), rel=1e-9)
    assert c.max_deviation_sigma == pytest.approx(float(np.max(np.abs(expected - d.model) / d.sigma)), rel=1e-9)
    assert c.chi2_refit_nuisances <= c.chi2 and c.chi2_fit == pytest.approx(d.chi2)
    saved = json.loads((result.directory / "fit.json").read_text())["confirmation"]
    assert saved["datasets"]["c40"]["holds"] == c.holds and saved["forward_runs"] == 1
    assert "## Confirmation on the 3-D cell" in (result.directory / "fit_report.md").read_text()
    assert (result.directory / "c40_fit.png").is_file()
