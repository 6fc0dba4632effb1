"""Geometric multigrid on gmsh meshes (fem_spin/solvers/multigrid.py).

Unit tests of its parts (coarse meshes, P1 transfer, periodic folding) against exact
answers; system tests that the preconditioned DNP cube gives the ILU answer, with Krylov
iterations that do not grow with the mesh, on 1 and 2 ranks; configuration errors.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from mpi4py import MPI

from fem_spin.config import ConfigError, parse_config
from fem_spin.errors import ModelError
from fem_spin.geometry.dnp_cell import DNPCubeGeometry, build_dnp_cube
from fem_spin.solvers.multigrid import (coarse_hierarchy, coarse_tetrahedra, p1_interpolation,
                                        periodic_masters)

from conftest import run_cli, serial_only
from test_dnp import COARSE_3D, R_S, dnp_raw, simulate


def _cube(**kw) -> DNPCubeGeometry:
    return DNPCubeGeometry(electron_concentration="40 mM", source_radius=R_S,
                           **{**COARSE_3D, **kw})


def test_size_factor_coarsens_the_graded_mesh_about_eightfold():
    cube = _cube(mesh_size_source=R_S / 6)
    fine, _ = coarse_tetrahedra(build_dnp_cube, cube, 1.0)
    coarse, tets = coarse_tetrahedra(build_dnp_cube, cube, 2.0)
    assert 4.0 < fine.shape[0] / coarse.shape[0] < 12.0
    assert tets.min() == 0 and tets.max() == coarse.shape[0] - 1
    L = cube.side()
    assert np.allclose(coarse.min(axis=0), -L / 2) and np.allclose(coarse.max(axis=0), L / 2)


def test_automatic_hierarchy_stops_at_the_coarsest_size():
    meshes = coarse_hierarchy(build_dnp_cube, _cube(mesh_size_source=R_S / 6), coarsest_nodes=300)
    sizes = [x.shape[0] for x, _ in meshes]
    assert sizes == sorted(sizes) and len(sizes) >= 2
    assert sizes[0] <= 300 < sizes[1]


def test_p1_interpolation_is_exact_for_linear_functions():
    cube = _cube()
    points, _ = coarse_tetrahedra(build_dnp_cube, cube, 0.5)      # a finer, non-nested mesh
    x, tets = coarse_tetrahedra(build_dnp_cube, cube, 2.0)
    rows, nodes, weights = p1_interpolation(points, x, tets)
    assert np.all(weights >= 0)
    assert np.allclose(np.bincount(rows, weights=weights), 1.0, atol=1e-12)

    def linear(y):
        return 0.3 + y @ np.array([2.0, -1.0, 0.5]) / cube.side()

    interpolated = np.bincount(rows, weights=weights * linear(x)[nodes], minlength=points.shape[0])
    assert np.max(np.abs(interpolated - linear(points))) < 1e-10


def test_periodic_masters_tie_faces_edges_and_corners_to_the_lower_node():
    cube = _cube()
    x, _ = coarse_tetrahedra(build_dnp_cube, cube, 1.0)
    lower, upper, axes = cube.periodic_box()
    masters = periodic_masters(x, lower, upper, axes)
    L = cube.side()
    assert np.array_equal(masters[masters], masters)            # no slave is a master
    shift = (x - x[masters]) / L
    assert np.allclose(shift, np.round(shift), atol=1e-9)       # whole periods apart
    assert np.all(np.round(shift) >= 0)                         # slaves on upper faces
    corners = np.flatnonzero(np.all(np.isclose(np.abs(x), L / 2, rtol=1e-9, atol=0), axis=1))
    assert corners.size == 8 and np.unique(masters[corners]).size == 1
    assert np.allclose(x[masters[corners[0]]], -L / 2)
    on_upper = np.any(np.isclose(x, L / 2, rtol=1e-9, atol=0), axis=1)
    assert np.array_equal(masters != np.arange(x.shape[0]), on_upper)


MG_CUBE = {"type": "dnp_cube", **COARSE_3D}
MG_MODEL = {"speedup": "global", "exchange_rate": 1e3}
MG_TIME = {"t_end": 1.0, "dt_initial": 0.05, "adaptive": False}


def _krylov_per_newton(raw):
    counts = {"newton": 0, "krylov": 0}

    def count(info):
        counts["newton"] += info.newton_iterations
        counts["krylov"] += info.linear_iterations

    problem, seen = simulate(raw, on_step=count)
    return problem, seen, counts["krylov"] / counts["newton"]


@pytest.mark.parallel
def test_transfer_keeps_constants_and_leaves_slave_rows_empty():
    raw = dnp_raw(geometry=MG_CUBE, model=MG_MODEL, time=MG_TIME)
    raw["solver"] = {"preconditioner": "multigrid", "multigrid_levels": 3}
    cfg = parse_config(raw)
    from fem_spin.models.nuclear_diffusion import NuclearDiffusionProblem

    problem = NuclearDiffusionProblem(cfg).initialise()
    mg = problem.newton.assembler.multigrid
    assert mg.num_levels == 3
    P = mg.transfers[-1]
    ones = P.createVecRight()
    ones.set(1.0)
    fine = P.createVecLeft()
    P.mult(ones, fine)
    expected = np.ones(fine.getLocalSize())
    expected[problem.newton.assembler.slaves] = 0.0
    assert np.allclose(fine.array, expected, atol=1e-12)
    # the coarse unknowns are the periodic ones: no coarse operator row is empty
    mg.update({"stiffness": 1.0, "capacity": 1.0, "rates": 0.0})
    for A in mg.operators:
        assert A.getDiagonal().min()[1] > 0


@pytest.mark.parallel
def test_the_v_cycle_is_symmetric_positive_definite():
    """CG needs a symmetric positive-definite preconditioner: <y, B x> = <x, B y> and
    <x, B x> > 0 for the V-cycle (forward SOR down, backward SOR up, exact coarse solve)."""
    from fem_spin.models.nuclear_diffusion import NuclearDiffusionProblem
    raw = dnp_raw(geometry=MG_CUBE, model=MG_MODEL, time=MG_TIME)
    raw["solver"] = {"preconditioner": "multigrid", "multigrid_levels": 3}
    problem = NuclearDiffusionProblem(parse_config(raw)).initialise()
    problem.dt.value = 1e-2
    newton = problem.newton
    newton.assembler.jacobian(newton.A)
    newton.assembler.update_preconditioner()
    newton.ksp.setUp()
    pc = newton.ksp.getPC()
    assert pc.getType() == "mg" and pc.getMGLevels() == 3
    for level in (1, 2):
        assert pc.getMGSmootherDown(level).getPC().getType() == "sor"
        assert pc.getMGSmootherUp(level).getPC().getType() == "sor"
        assert pc.getMGSmootherUp(level).getType() == "richardson"
    x, y = newton.A.createVecs()
    rng = np.random.default_rng(7 + x.comm.rank)
    x.array[:] = rng.standard_normal(x.getLocalSize())
    y.array[:] = rng.standard_normal(y.getLocalSize())
    for v in (x, y):   # periodic slave entries are not unknowns
        v.array[problem.newton.assembler.slaves] = 0.0
    Bx, By = x.duplicate(), y.duplicate()
    pc.apply(x, Bx)
    pc.apply(y, By)
    assert abs(y.dot(Bx) - x.dot(By)) < 1e-10 * abs(y.dot(Bx)) + 1e-14 * Bx.norm() * y.norm()
    assert x.dot(Bx) > 0 and y.dot(By) > 0
    problem.destroy()


@pytest.mark.parallel
def test_multigrid_gives_the_ilu_answer_with_mesh_independent_iterations():
    """Pbar(t) equals the ILU(0) run to Newton's tolerance; with steps long enough for the
    diffusion operator to dominate (dt = 0.05 s), the Krylov iterations per Newton iteration
    stay flat from h_s = r_s/3 to r_s/6 (about 8x the DOFs), where ILU(0)'s grow."""
    results = {}
    ilu = {"preconditioner": "ilu", "petsc_options": {"ksp_rtol": 1e-4}}   # multigrid's rtol
    for name, solver, hs in (("ilu", ilu, R_S / 3),
                             ("mg", {"preconditioner": "multigrid"}, R_S / 3),
                             ("ilu_fine", ilu, R_S / 6),
                             ("mg_fine", {"preconditioner": "multigrid"}, R_S / 6)):
        raw = dnp_raw(geometry={**MG_CUBE, "mesh_size_source": hs}, model=MG_MODEL, time=MG_TIME)
        raw["solver"] = solver
        problem, seen, per_newton = _krylov_per_newton(raw)
        results[name] = (seen[MG_TIME["t_end"]]["P_mean"], per_newton, problem)
    assert results["mg"][2].newton.assembler.multigrid is not None
    assert results["ilu"][2].newton.assembler.multigrid is None
    assert abs(results["mg"][0] - results["ilu"][0]) < 1e-8
    assert abs(results["mg_fine"][0] - results["ilu_fine"][0]) < 1e-8
    # measured: multigrid 3.8 -> 3.9, ILU(0) 3.4 -> 5.7 Krylov iterations per Newton iteration.
    # One rank is deterministic (multigrid growth 1.05). On two ranks the partition changes
    # from run to run, and with Newton iterating down to the residual's rounding error the
    # growth measured 1.05, 1.05, 1.10, 1.16 and 1.19 in five runs: the bound there is 1.3,
    # and multigrid must grow less than ILU(0) in the same run
    bound = 1.15 if MPI.COMM_WORLD.size == 1 else 1.3
    assert results["mg_fine"][1] < bound * results["mg"][1], results
    assert (results["mg_fine"][1] / results["mg"][1]
            < results["ilu_fine"][1] / results["ilu"][1]), results
    assert results["ilu_fine"][1] > 1.3 * results["ilu"][1], results
    assert results["mg_fine"][1] < results["ilu_fine"][1], results


@pytest.mark.serial  # spawns mpirun: run alone (Makefile test-serial)
@serial_only()
def test_multigrid_run_is_rank_independent(tmp_path):
    cfg = (
        'name = "cube"\n[geometry]\ntype = "dnp_cube"\nelectron_concentration = "40 mM"\n'
        f'source_radius = {R_S}\nmesh_size_source = {R_S / 3}\nmesh_size_bulk = 0.8e-9\n'
        '[model]\ntype = "nuclear_diffusion"\nD0 = 1e-18\nspeedup = "global"\nsource = "continuous"\n'
        'source_polarization = 0.9\nexchange_rate = 1e3\n'
        '[time]\nt_end = 5.0\ndt_initial = 0.05\nadaptive = false\n'
        '[solver]\npreconditioner = "multigrid"\n'
        '[output]\nplot = false\nrender = false\nfield_snapshots = 1\n')
    (tmp_path / "cube.toml").write_text(cfg)
    series, per_newton = {}, {}
    for n in (1, 2):
        proc = run_cli("run", "cube.toml", "-q", "--output-dir", f"out{n}", cwd=tmp_path, mpi=n)
        assert proc.returncode == 0, proc.stderr
        data = np.genfromtxt(tmp_path / f"out{n}" / "cube" / "timeseries.csv", delimiter=",", names=True)
        series[n] = data["P_mean"]
        summary = json.loads((tmp_path / f"out{n}" / "cube" / "summary.json").read_text())
        per_newton[n] = summary["linear_iterations"] / summary["newton_iterations"]
    assert len(series[1]) == len(series[2]) > 5
    assert np.allclose(series[1], series[2], rtol=1e-8, atol=0)
    # the 2-rank hierarchy is the same one (distributed transfers and coarse operators): its
    # V-cycle differs only by the processor-local SOR sweeps
    assert per_newton[2] < 1.5 * per_newton[1], per_newton


@pytest.mark.parametrize("geometry, model, solver, message", [
    ({"type": "dnp_radial"}, {}, {}, "interval cells, not tetrahedra"),
    (MG_CUBE, {"speedup": "local"}, {}, "speedup = 'local'"),
    (MG_CUBE, {"flux": "quadrature"}, {}, "flux = 'quadrature'"),
])
def test_multigrid_where_it_cannot_work_is_a_model_error_naming_the_key(geometry, model, solver, message):
    """Found while the problem is set up (the mesh decides): the physics' own error, naming
    the key (the run's boundary shows it as the configuration error, test_cli_... below)."""
    from fem_spin.models.nuclear_diffusion import NuclearDiffusionProblem

    raw = dnp_raw(geometry=geometry, model=model)
    raw["solver"] = {"preconditioner": "multigrid", **solver}
    config = parse_config(raw)
    with pytest.raises(ModelError) as err:
        NuclearDiffusionProblem(config).initialise()
    assert err.value.key == "solver.preconditioner" and message in str(err.value)


@pytest.mark.parametrize("petsc_options, key", [
    ({"pc_type": "hypre"}, "pc_type"), ({"pc_mg_levels": 2}, "pc_mg_levels"),
    ({"ksp_type": "cg", "pc_mg_galerkin": "both"}, "ksp_type"),
])
def test_multigrid_against_solver_options_is_refused_while_parsing(petsc_options, key):
    raw = dnp_raw(geometry=MG_CUBE)
    raw["solver"] = {"preconditioner": "multigrid", "petsc_options": petsc_options}
    with pytest.raises(ConfigError, match="solver.preconditioner") as err:
        parse_config(raw, source="mg.toml")
    assert str(err.value).startswith(f"mg.toml: solver.preconditioner: 'multigrid' conflicts with "
                                     f"petsc_options.{key} ")
    raw["solver"]["preconditioner"] = "ilu"
    parse_config(raw)                                   # the options alone are fine


@pytest.mark.parametrize("solver, message", [
    ({"preconditioner": "amg"}, "preconditioner"),
    ({"preconditioner": "multigrid", "multigrid_levels": 1}, "multigrid_levels"),
])
def test_bad_solver_settings_are_rejected(solver, message):
    raw = dnp_raw()
    raw["solver"] = solver
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)


def test_multigrid_for_a_model_without_it_is_rejected():
    import tomllib

    from conftest import REPO

    raw = tomllib.loads((REPO / "examples" / "nonlocal_spin_valve.toml").read_text())
    parse_config(raw)                                           # valid as it is
    raw["solver"] = {"preconditioner": "multigrid"}
    with pytest.raises(ConfigError, match="solver.preconditioner") as err:
        parse_config(raw)
    assert "takes its solver from petsc_options" in str(err.value)


def test_auto_takes_multigrid_from_the_size_threshold(monkeypatch):
    """auto: multigrid on the cube above the threshold; ILU below it, on geometries not
    measured for it (the sphere) and when petsc_options tune the linear solver."""
    import fem_spin.models.nuclear_diffusion as nd

    def multigrid(geometry=MG_CUBE, solver=None):
        raw = dnp_raw(geometry=geometry, model=MG_MODEL, time=MG_TIME)
        raw["solver"] = solver or {}
        problem = nd.NuclearDiffusionProblem(parse_config(raw)).initialise()
        used = problem.newton.assembler.multigrid is not None
        problem.destroy()
        return used

    assert not multigrid()                                    # 1.5k DOFs < 100k
    import fem_spin.solvers.multigrid as mg

    monkeypatch.setattr(mg, "AUTO_DOFS", 100)
    assert multigrid()
    assert not multigrid(solver={"petsc_options": {"pc_type": "jacobi"}})
    assert not multigrid(solver={"petsc_options": {"sub_pc_factor_levels": 1}})
    assert not multigrid(geometry={**MG_CUBE, "type": "dnp_sphere"})
    assert not multigrid(solver={"preconditioner": "ilu"})


@serial_only()
def test_cli_reports_a_multigrid_conflict_in_one_line_naming_the_file(tmp_path):
    cfg = (
        'name = "cube"\n[geometry]\ntype = "dnp_cube"\nelectron_concentration = "40 mM"\n'
        f'source_radius = {R_S}\nmesh_size_source = {R_S / 2}\nmesh_size_bulk = 0.8e-9\n'
        '[model]\ntype = "nuclear_diffusion"\nD0 = 1e-18\nsource = "continuous"\n'
        'source_polarization = 0.9\nexchange_rate = 1e3\n[time]\nt_end = 1.0\n'
        '[solver]\npreconditioner = "multigrid"\npetsc_options = { pc_type = "hypre" }\n'
        '[output]\nplot = false\nrender = false\n')
    (tmp_path / "mg.toml").write_text(cfg)
    proc = run_cli("run", "mg.toml", "-q", cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "mg.toml: solver.preconditioner: 'multigrid' conflicts with petsc_options.pc_type" in lines[0]


def test_solver_documentation_quotes_the_policy_constants():
    """config.py cannot import the solvers: its [solver] documentation quotes the numbers of
    the one multigrid policy, which must stay the same."""
    import dataclasses

    from fem_spin.config import SolverConfig
    from fem_spin.solvers.multigrid import AUTO_DOFS, COARSEST_NODES

    docs = {f.name: f.metadata.get("doc", "") for f in dataclasses.fields(SolverConfig)}
    assert f"AUTO_DOFS ({AUTO_DOFS:.0e})".replace("e+0", "e") in docs["preconditioner"]
    assert f"COARSEST_NODES ({COARSEST_NODES})" in docs["multigrid_levels"]
