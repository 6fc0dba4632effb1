"""The benchmark script runs in its quick mode (numbers are measured, never asserted)."""

import json
import os

import numpy as np
import subprocess
import sys

from conftest import REPO, serial_only

pytestmark = serial_only()


def _quick_then_report(script: str, out) -> None:
    """Run a benchmark script with --quick, then --report, into ``out``; both must succeed."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    for extra in (["--quick"], ["--report"]):
        res = subprocess.run([sys.executable, str(REPO / "benchmarks" / script), *extra,
                              "--out", str(out)], env=env, capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stderr[-2000:]


def test_bench_quick_mode_writes_json_and_report(tmp_path):
    _quick_then_report("bench_dnp_cube.py", tmp_path)
    data = json.loads((tmp_path / "bench_dnp_cube.json").read_text())
    assert data[0]["dofs"] > 100 and data[0]["steps"] > 0 and data[0]["newton_iterations"] > 0
    assert 0 < data[0]["P_mean_final"] < 0.9
    assert "| coarse | 1 |" in (tmp_path / "bench_dnp_cube.md").read_text()


def test_bench_models_quick_mode_covers_every_model(tmp_path):
    """bench_models.py --quick, then --report: an entry per model (DOFs and steps measured)
    and a report naming every model with the (labelled) weak-scaling projection."""
    _quick_then_report("bench_models.py", tmp_path)
    data = json.loads((tmp_path / "bench_models.json").read_text())
    models = ("nuclear_diffusion", "onsager_transport", "valet_fert", "triplet_dnp")
    report = (tmp_path / "bench_models.md").read_text()
    for model in models:
        runs = [r for r in data if r["model"] == model and r["solver"] == "default"]
        assert runs, model
        assert all(r["dofs"] > 0 and r["steps"] > 0 and r["ranks"] == 1 for r in runs), model
        assert f"## {model}" in report
    assert "## Weak-scaling projection (a projection, not a measurement)" in report


def test_bench_preconditioners_quick_mode(tmp_path):
    """Both preconditioners at two sizes give the same Pbar; the report states exponents."""
    _quick_then_report("bench_preconditioners.py", tmp_path)
    data = json.loads((tmp_path / "bench_preconditioners.json").read_text())
    assert {r["preconditioner"] for r in data} == {"ilu", "multigrid"}
    for size in {r["divisions"] for r in data}:
        ilu, mg = ([r for r in data if r["divisions"] == size and r["preconditioner"] == pc][0]
                   for pc in ("ilu", "multigrid"))
        assert ilu["dofs"] == mg["dofs"] and ilu["levels"] is None and len(mg["levels"]) >= 2
        assert abs(ilu["P_mean_final"] - mg["P_mean_final"]) < 1e-6
        assert mg["flops_per_dof_step"] > 0 and mg["matvec_ns_per_dof"] > 0
    report = (tmp_path / "bench_preconditioners.md").read_text()
    assert "multigrid, 1 rank(s)" in report and "cost per step ~ DOFs^" in report


def _comparison():
    sys.path.insert(0, str(REPO / "benchmarks"))
    import bench_fipy_comparison
    import fipy_dnp_cube
    return bench_fipy_comparison, fipy_dnp_cube


def test_fipy_source_fraction_is_the_sphere_volume():
    _, fipy_side = _comparison()
    side, radius = 3.46, 0.6
    for n in (16, 32):
        fraction = fipy_side.source_fraction(n, side, radius)
        assert 0 <= fraction.min() and fraction.max() <= 1
        assert abs(fraction.sum() * (side / n) ** 3 / (4 / 3 * 3.141592653589793 * radius ** 3) - 1) < 0.01
    f = fipy_side.source_fraction(16, side, radius).reshape(16, 16, 16)
    assert f[7, 7, 7] == 1.0 and f[8, 8, 8] == 1.0 and f[0, 0, 0] == 0.0
    assert np.allclose(f, f[::-1, :, :]) and np.allclose(f, f.transpose(2, 1, 0))


def test_richardson_and_observed_order_on_a_second_order_sequence():
    bench, _ = _comparison()
    ladder = [2, 3, 4]
    levels = [{"P_mean": [0.5 + 0.3 / d ** 2, 0.2 - 0.1 / d ** 2]} for d in ladder]
    assert abs(bench.observed_order(levels, ladder) - 2.0) < 1e-6
    ref = bench.richardson(levels[1], levels[2], 3, 4)
    assert abs(ref["P_mean"][0] - 0.5) < 1e-12 and abs(ref["P_mean"][1] - 0.2) < 1e-12


def test_fipy_comparison_quick_mode(tmp_path):
    pydeps = REPO / ".cache" / "pydeps"
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{pydeps}")
    probe = subprocess.run([sys.executable, "-c", "import fipy"], env=env, capture_output=True)
    if probe.returncode != 0:
        import pytest
        pytest.skip("FiPy not installed (make bench installs it into .cache/pydeps)")
    script = str(REPO / "benchmarks" / "bench_fipy_comparison.py")
    res = subprocess.run([sys.executable, script, "--quick", "--out", str(tmp_path)], env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    data = json.loads((tmp_path / "bench_fipy_quick.json").read_text())
    assert data["fipy"][0]["dofs"] == 512 and len(data["fipy"][0]["P_mean"]) == 10
    assert "| FiPy | 8^3 cells |" in (tmp_path / "bench_fipy_quick.md").read_text()


def test_fipy_comparison_total_quick_mode(tmp_path):
    """--total: reference, FiPy time study, both ladders and the summary rows for both targets
    (measured or extrapolated) written; a second call reuses the stored runs."""
    pydeps = REPO / ".cache" / "pydeps"
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{pydeps}")
    probe = subprocess.run([sys.executable, "-c", "import fipy"], env=env, capture_output=True)
    if probe.returncode != 0:
        import pytest
        pytest.skip("FiPy not installed (make bench installs it into .cache/pydeps)")
    script = str(REPO / "benchmarks" / "bench_fipy_comparison.py")
    for _ in range(2):
        res = subprocess.run([sys.executable, script, "--total", "--quick", "--out", str(tmp_path)], env=env,
                             capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stderr[-2000:]
    assert "from bench_fipy_total_quick_runs.json" in res.stdout
    data = json.loads((tmp_path / "bench_fipy_total_quick.json").read_text())
    assert len(data["reference"]["P_mean"]) == 10 and len(data["fipy_time_study"]) == 3
    assert [row["target"] for row in data["summary"]] == [1e-3, 1e-4]
    for row in data["summary"]:
        assert row["fem_spin"]["how"] in ("measured", "extrapolated") and row["ratio"] > 0
    steps = [r["steps"] for r in data["fipy_time_study"]]
    assert steps == sorted(steps)
    assert all(r["tolerance"] > 0 and r["error"] >= 0 for r in data["fem_spin"])
    assert "## Summary" in (tmp_path / "bench_fipy_total_quick.md").read_text()


def test_bench_api_quick_mode(tmp_path):
    """Three fem_spin.simulate calls with other D0: steps and times recorded per call, the
    report states the ratio of whole call to time stepping."""
    _quick_then_report("bench_api.py", tmp_path)
    data = json.loads((tmp_path / "bench_api.json").read_text())
    assert [r["call"] for r in data] == [1, 2, 3] and all(r["steps"] > 10 for r in data)
    assert all(r["total_s"] >= r["stepping_s"] > 0 for r in data)
    assert len({r["steps"] for r in data}) > 1          # D0 changed the run
    assert "whole call / time stepping" in (tmp_path / "bench_api.md").read_text()


def _quick(script: str, out) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    res = subprocess.run([sys.executable, str(REPO / "benchmarks" / script), "--quick", "--out", str(out)],
                         env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]


def test_time_integration_benchmarks_quick_mode(tmp_path):
    """bench_time_integration.py and bench_onsager_time.py: every integrator row written; BDF2
    is at least as accurate as backward Euler at the same tolerance with 10x fewer steps, and
    the variable-order BDF takes fewer steps than BDF2 for a better accuracy."""
    _quick("bench_time_integration.py", tmp_path)
    rows = json.loads((tmp_path / "bench_time_integration.json").read_text())
    assert {r["integrator"] for r in rows} == {"bdf", "bdf2", "backward_euler", "scipy_bdf"}
    bdf = next(r for r in rows if r["integrator"] == "bdf")
    bdf2 = next(r for r in rows if r["integrator"] == "bdf2" and r["tolerance"] == 1e-3)
    euler = next(r for r in rows if r["integrator"] == "backward_euler" and r["tolerance"] == 1e-3)
    assert bdf2["steps_or_rhs"] * 10 < euler["steps_or_rhs"] and bdf2["pbar_error"] < 2 * euler["pbar_error"]
    assert bdf["steps_or_rhs"] < bdf2["steps_or_rhs"] and bdf["pbar_error"] < bdf2["pbar_error"]
    _quick("bench_onsager_time.py", tmp_path)
    rows = {r["scheme"]: r for r in json.loads((tmp_path / "bench_onsager_time.json").read_text())}
    assert rows["bdf2"]["steps"] * 10 < rows["backward_euler"]["steps"]
    assert rows["bdf"]["steps"] < rows["bdf2"]["steps"] and rows["bdf"]["rho2_error"] < rows["bdf2"]["rho2_error"]


def test_bench_setup_quick_mode_first_and_cached_runs(tmp_path):
    """bench_setup.py --quick: an uncached, a first and a cached run of a small cube, with
    setup and stepping seconds and the mesh cache's answer; the report says the three runs
    ended with the same observables."""
    _quick_then_report("bench_setup.py", tmp_path)
    data = json.loads((tmp_path / "bench_setup.json").read_text())
    assert [r["mode"] for r in data] == ["uncached", "first", "cached"]
    assert [r["mesh_cache"] for r in data] == ["off", "stored", "hit"]
    assert all(r["setup_s"] > 0 and r["stepping_s"] > 0 for r in data)
    assert "quick: yes" in (tmp_path / "bench_setup.md").read_text()



def test_bench_spin_hall_solver_measures_and_reports():
    """bench_spin_hall_solver.py's measurement (in this process: a coarse SMR bar, one case)
    with the default and the fieldsplit solver: the same resistance, iterations and memory
    recorded; the report has a row for each and the 2-rank efficiency T1/(2 T2)."""
    from mpi4py import MPI

    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import bench_spin_hall_solver as bench
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    rows = [bench.measure("smr", 40e-9, solver, 1, MPI.COMM_SELF) for solver in ("gmres+amg", "gmres+fieldsplit")]
    assert all(r["dofs"] > 1000 and r["block_size"] == 4 and r["converged_reasons"][0] > 0 for r in rows)
    assert all(r["iterations"][0] > 0 and r["peak_rss_mb_max"] > 0 and r["case_s"][0] > 0 for r in rows)
    r_amg, r_split = (r["resistance_ohm"][0] for r in rows)
    assert abs(r_amg - r_split) < 1e-8 * r_amg
    two = dict(rows[0], ranks=2, case_s=[rows[0]["case_s"][0] / 1.6])
    table = bench.report(rows + [two])
    assert table.count("| smr |") == 3 and "| 80 % |" in table
