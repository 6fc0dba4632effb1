"""Triplet DNP in a laser-illuminated crystal (physics.md 1.3): the multiscale model.

System tests against the unit cell it is built from: the tabulated field equals direct
unit-cell runs, uniform illumination gives the unit-cell buildup, the crystal average is
the volume-weighted average of the illuminated and dark parts, a vanishing beam leaves
the crystal thermal, and the coupled (macroscopic diffusion) mode obeys its analytic
limits. Unit cells are 1-D radial and cycle-averaged so that each run takes ~0.1 s.
"""

import math

import numpy as np
import pytest
from mpi4py import MPI

from fem_spin.config import ConfigError, parse_config
from fem_spin.simulation import sample

CRYSTAL = {"type": "crystal", "shape": "slab", "size": [4e-3, 4e-3, 1e-3], "beam_diameter": 2e-3,
           "mesh_size": 0.8e-3, "mesh_size_beam_edge": 0.2e-3}
CELL_GEOMETRY = {"type": "dnp_radial", "electron_concentration": 1e24, "source_radius": 1.0e-9}
CELL_MODEL = {"D0": 2e-18, "speedup": "global", "source": "cycle_averaged", "source_polarization": 0.7,
              "exchange_probability": 1.0, "repetition_rate": 50.0, "R1": 2e-3}
TIME = {"t_end": 400.0, "dt_initial": 0.05, "tolerance": 2e-3}


def raw_config(**model):
    optics = model.pop("optics", {})
    geometry = {**CRYSTAL, **model.pop("geometry", {})}
    return {"name": "triplet", "geometry": geometry,
            "model": {"type": "triplet_dnp", "cell_geometry": dict(CELL_GEOMETRY),
                      "cell_model": dict(CELL_MODEL), "optics": optics, **model},
            "time": dict(TIME), "output": {"plot": False, "render": False, "field_snapshots": 2}}


def problem_for(raw):
    from fem_spin.models.triplet_dnp import TripletDNPProblem

    return TripletDNPProblem(parse_config(raw), MPI.COMM_WORLD).initialise()


def cell_curve(raw, efficiency, times, speedup=None):
    """Pbar(t) of the unit cell with source efficiency ``efficiency`` (a direct run)."""
    cfg = parse_config(raw)
    cell = cfg.model.cell_raw(cfg.time, efficiency, speedup)
    return sample(cell, times, lambda p: p.mean_polarization(), comm=MPI.COMM_SELF)


def advance(problem, t):
    problem.evaluate(t)    # the tabulated problem is evaluated, not stepped


@pytest.mark.parallel
def test_uniform_illumination_is_the_unit_cell():
    """A beam that covers the crystal, no absorption: every point, and the NMR average, is
    the unit cell at full efficiency (a table node, so exactly)."""
    raw = raw_config(geometry={"beam_diameter": 20e-3}, compare_uncorrected=False)
    problem = problem_for(raw)
    # the direct run samples the same times, so that it takes the same time steps
    reference = cell_curve(raw, 1.0, problem.times[1:])
    for k in (len(problem.times) // 2, len(problem.times) - 1):
        t, ref = problem.times[k], reference[k - 1]
        advance(problem, t)
        assert problem.crystal_average() == pytest.approx(ref, rel=1e-10, abs=0)
        P = problem.owned(problem.u.x.array)
        assert np.allclose(P, ref, rtol=1e-10, atol=0)
    assert reference[-1] > 0.05


@pytest.mark.parallel
def test_average_is_the_volume_weighted_average_of_the_regions():
    """Top-hat beam without absorption: illuminated = cell at e = 1, dark = thermal, and the
    crystal average weights them by their volumes; the illuminated volume the quadrature
    sees is pi d^2/4 lz up to the polygon deficit of the meshed beam edge."""
    raw = raw_config(compare_uncorrected=False)
    problem = problem_for(raw)
    t = problem.times[-1]
    advance(problem, t)
    lit = cell_curve(raw, 1.0, problem.times[1:])[-1]
    dark = cell_curve(raw, 0.0, problem.times[1:])[-1]
    assert dark == pytest.approx(0.0, abs=1e-12)
    lx, ly, lz = CRYSTAL["size"]
    volume = lx * ly * lz
    assert problem.volume == pytest.approx(volume, rel=1e-12, abs=0)
    e = problem.excitation_at(problem.q_points)
    assert set(np.unique(e)) <= {0.0, 1.0}
    lit_volume = problem.global_sum(float(problem.q_weights[e == 1.0].sum()))
    expected = (lit_volume * lit + (volume - lit_volume) * dark) / volume
    assert problem.crystal_average() == pytest.approx(expected, rel=1e-12, abs=0)
    # the quadrature misses the chord slivers of the polygonal edge: (2/3)(h_e/d)^2 at most
    deficit = 1 - lit_volume / (math.pi / 4 * CRYSTAL["beam_diameter"] ** 2 * lz)
    bound = 2 / 3 * (CRYSTAL["mesh_size_beam_edge"] / CRYSTAL["beam_diameter"]) ** 2
    assert 0 <= deficit < bound
    assert problem.crystal_average(region="illuminated") == pytest.approx(lit, rel=1e-3, abs=0)


@pytest.mark.parallel
def test_table_matches_direct_unit_cell_runs_at_sampled_points():
    """Gaussian beam with Beer-Lambert attenuation: the interpolated cell average equals
    unit-cell runs at efficiencies between the nodes -- quarter points of the steepest
    (first) interval and of a middle one -- to the table tolerance, at every time; and the
    field at mesh nodes is that interpolation of their own excitation."""
    raw = raw_config(optics={"beam_profile": "gaussian", "absorption_length": 0.5e-3},
                     table_tolerance=1e-3, compare_uncorrected=False)
    problem = problem_for(raw)
    assert problem.table.converged
    nodes = problem.table.nodes
    values = problem.table.values("corrected")
    mid = len(nodes) // 2
    samples = [nodes[0] + f * (nodes[1] - nodes[0]) for f in (0.25, 0.5, 0.75)]
    samples += [nodes[mid] + 0.5 * (nodes[mid + 1] - nodes[mid])]
    for e in samples:
        direct = cell_curve(raw, float(e), problem.times[1:])
        interpolated = (problem.basis(np.array([e])) @ values)[0, 1:]
        assert np.max(np.abs(interpolated - direct)) < raw["model"]["table_tolerance"], e
    advance(problem, problem.times[-1])
    e_nodes = problem.excitation.x.array
    np.testing.assert_allclose(problem.u.x.array, problem.basis(e_nodes) @ values[:, -1], rtol=1e-12)


def test_vanishing_beam_is_thermal_and_band_is_ordered():
    """The error band: a larger beam illuminates more of the crystal, so the average grows
    with d; as d -> 0 it tends to the thermal polarization (here P_eq = 0.02 held by R1),
    the excess scaling as the illuminated fraction pi d^2/4 / (lx ly)."""
    raw = raw_config(band_diameters=[0.1e-3, 3e-3], band_points=4, compare_uncorrected=False,
                     geometry={"band_refinement": [0.1e-3, 3e-3], "mesh_size": 1e-3,
                               "mesh_size_beam_edge": 0.25e-3})
    raw["model"]["cell_model"].update({"P_eq": 0.02, "initial_polarization": 0.02, "R1": 1e-2})
    problem = problem_for(raw)
    advance(problem, problem.times[-1])
    band = problem.band()
    thermal = problem.cell_values["corrected"][0]           # the table's e = 0 node
    lit = problem.crystal_average(region="illuminated")
    assert thermal == pytest.approx(0.02, rel=1e-9) and lit > 5 * thermal
    # dark cells touching the polygonal beam edge hold a few lit quadrature points
    assert problem.crystal_average(region="dark") == pytest.approx(thermal, rel=2e-3)
    assert np.all(np.diff(band) > 0)
    lx, ly, lz = CRYSTAL["size"]
    for d, value in zip(problem.band_diameters(), band):
        fraction = math.pi / 4 * d ** 2 / (lx * ly)
        expected = thermal + fraction * (lit - thermal)
        assert value == pytest.approx(expected, rel=0.05 if d > 1e-3 else 0.3, abs=1e-6), d
    assert band[0] - thermal < 1e-3 * (lit - thermal)


def test_corrected_ends_higher_than_uncorrected_with_relaxation():
    """physics.md 1.2 (paper Fig. 2): with relaxation the speed-up gives a higher average."""
    raw = raw_config(geometry={"beam_diameter": 20e-3})
    problem = problem_for(raw)
    advance(problem, 400.0)
    corrected = problem.crystal_average("corrected")
    uncorrected = problem.crystal_average("uncorrected")
    assert corrected > uncorrected > 0


def test_coupled_mode_uniform_illumination_is_the_homogenised_ode():
    """Coupled mode, uniform illumination: no gradients, so the crystal follows
    dP/dt = k (P_e - P) - R1 P exactly (backward Euler, error-controlled)."""
    from fem_spin.models.triplet_dnp import CoupledTripletDNPProblem, TripletDNPProblem

    raw = raw_config(geometry={"beam_diameter": 20e-3, "mesh_size": 2e-3, "mesh_size_beam_edge": 1e-3},
                     coupling="coupled", effective_exchange_rate=0.02)
    raw["time"]["tolerance"] = 1e-4
    config = parse_config(raw)
    problem = TripletDNPProblem(config, MPI.COMM_WORLD)
    assert isinstance(problem, CoupledTripletDNPProblem)
    values = sample(raw, [100.0, 400.0], lambda p: p.mean_polarization())
    k, R1, P_e = 0.02, CELL_MODEL["R1"], CELL_MODEL["source_polarization"]
    for t, v in zip([100.0, 400.0], values):
        exact = k * P_e / (k + R1) * (1 - math.exp(-(k + R1) * t))
        assert v == pytest.approx(exact, rel=5e-3, abs=0)


@pytest.mark.parametrize("excitation", [1.0, 0.3])
def test_coupled_mode_buildup_time_is_the_unit_cells(excitation):
    """The homogenised source reproduces the unit cell's buildup time at its efficiency
    (k_eff(e) = 1/t63(e), measured on the cell: diffusion-limited, far from e k_eff(1)):
    a uniformly illuminated crystal without relaxation reaches 63 % of P_e when the cell
    at the same e does."""
    from fem_spin.analysis import time_to_fraction
    from fem_spin.models.triplet_dnp import TripletDNPProblem

    raw = raw_config(geometry={"beam_diameter": 20e-3, "mesh_size": 2e-3, "mesh_size_beam_edge": 1e-3},
                     optics={"peak_excitation": excitation}, coupling="coupled")
    raw["model"]["cell_model"]["R1"] = 0.0
    raw["time"]["tolerance"] = 2e-4
    times = np.geomspace(1e-1, 400.0, 300)
    P_e = CELL_MODEL["source_polarization"]
    cfg = parse_config(raw)
    cell = sample(cfg.model.cell_raw(cfg.time, excitation), times, lambda p: p.mean_polarization(),
                  comm=MPI.COMM_SELF)
    crystal = sample(raw, times, lambda p: p.mean_polarization())
    t63_cell, t63_crystal = (time_to_fraction(times, c, P_e) for c in (cell, crystal))
    assert t63_crystal == pytest.approx(t63_cell, rel=0.03)
    if excitation < 1:
        k1 = TripletDNPProblem(parse_config(raw), MPI.COMM_WORLD).effective_exchange_rate
        assert 1 / t63_cell > 1.3 * excitation * k1       # not proportional to e


@pytest.mark.parametrize("change, key", [
    ({"geometry": {"type": "box", "size": [1e-3] * 3, "mesh_size": 1e-3}}, "geometry.type"),
    ({"model": {"cell_geometry": {"type": "box", "size": [1e-9] * 3, "mesh_size": 1e-9}}},
     "model.cell_geometry.type"),
    ({"model": {"cell_model": {**CELL_MODEL, "source": "none"}}}, "model.cell_model.source"),
    ({"model": {"cell_model": {**CELL_MODEL, "D0": -1.0}}}, "model.cell_model.D0"),
    ({"model": {"band_diameters": [3e-3, 1e-3]}}, "model.band_diameters"),
    ({"model": {"band_diameters": [1e-3, 3e-3], "coupling": "coupled"}}, "model.band_diameters"),
    ({"model": {"optics": {"absorption_length": -1e-3}}}, "model.optics.absorption_length"),
    ({"model": {"cell_preset": "nonexistent"}}, "model.cell_preset"),
])
def test_bad_input_names_the_key(change, key):
    raw = raw_config()
    if "geometry" in change:
        raw["geometry"] = change["geometry"]
    for k, v in change.get("model", {}).items():
        raw["model"][k] = v
    with pytest.raises(ConfigError) as info:
        parse_config(raw, source="crystal.toml")
    message = str(info.value)
    assert message.startswith("crystal.toml: ") and key in message and "\n" not in message


def test_D0_from_the_crystal_structure_fills_any_configuration(tmp_path):
    """physics.md 1.4: D0 = { lattice/structure ... } evaluates the rate-equation estimate;
    'mean' gives the isotropic value the radial cell needs, 'tensor' the full tensor, and
    the unit cell of the crystal model uses the same number."""
    from fem_spin.lattice import estimate_D, simple_lattice

    spec = {"lattice": "sc", "lattice_constant": 2.725e-10, "species": "19F", "field_direction": [0, 0, 1]}
    D = estimate_D(simple_lattice("sc", 2.725e-10, "19F"), "19F", (0, 0, 1)).D
    box = {"geometry": {"type": "box", "size": [1e-8] * 3, "mesh_size": 5e-9},
           "model": {"type": "nuclear_diffusion", "D0": dict(spec)}, "time": {"t_end": 1.0}}
    assert np.allclose(parse_config(box).model.D0, D, rtol=1e-12, atol=0)
    raw = raw_config()
    raw["model"]["cell_model"]["D0"] = {**spec, "use": "mean"}
    cfg = parse_config(raw)
    assert cfg.model.cell_config.model.D0 == pytest.approx(np.trace(D) / 3, rel=1e-12, abs=0)
    cell = cfg.model.cell_raw(cfg.time, 0.5)
    assert cell["model"]["D0"] == pytest.approx(np.trace(D) / 3, rel=1e-12, abs=0)
    # a CIF relative to the run file's directory
    from importlib import resources

    cif = resources.files("fem_spin").joinpath("data", "naphthalene_model.cif")
    (tmp_path / "n.cif").write_text(cif.read_text())
    run_file = tmp_path / "run.toml"
    run_file.write_text('[geometry]\ntype = "box"\nsize = [1e-8, 1e-8, 1e-8]\nmesh_size = 5e-9\n'
                        '[model]\ntype = "nuclear_diffusion"\n'
                        'D0 = { structure = "n.cif", species = "1H", use = "zz" }\n[time]\nt_end = 1.0\n')
    from fem_spin.config import load_config

    zz = load_config(run_file).model.D0
    assert 1e-17 < zz < 1e-14
    run_file.write_text(run_file.read_text().replace('use = "zz"', 'use = "trace"'))
    with pytest.raises(ConfigError, match="model.D0.use"):
        load_config(run_file)


@pytest.mark.parallel
def test_run_writes_fields_at_chosen_times_band_and_table(tmp_path):
    """End to end through the driver: chosen snapshot times, the band and table files, a
    depth profile along the beam that is P_illuminated inside the crystal (no absorption)."""
    import json

    from fem_spin.simulation import run

    raw = raw_config(band_diameters=[1.5e-3, 2.5e-3], band_points=3)
    raw["output"] = {"plot": True, "render": False, "snapshot_times": [100.0, 200.0]}
    out_dir = MPI.COMM_WORLD.bcast(str(tmp_path), root=0)
    path = run(parse_config(raw), output_dir=out_dir, quiet=True)
    summary = json.loads((path / "summary.json").read_text())
    assert summary["snapshot_times"] == [0.0, 100.0, 200.0, 400.0]
    assert summary["table"]["converged"]
    for name in ("band.csv", "unit_cell_table.csv", "profiles.csv", "fields.pvd", "buildup_band.png"):
        assert (path / name).exists(), name
    band = np.loadtxt(path / "band.csv", delimiter=",", skiprows=1)
    assert band.shape[1] == 1 + 2 * 3                      # t, corrected and uncorrected x 3
    profile = np.loadtxt(path / "profiles.csv", delimiter=",", skiprows=1)
    final = summary["final"]
    assert np.allclose(profile[:, -1], final["P_illuminated"], rtol=1e-8, atol=0)


@pytest.mark.parametrize("speedup", ["global", "local"])
def test_like_spin_fraction_zero_switches_the_speedup_off(speedup):
    """f = 1/sqrt(1 - phi P^2): phi = 0 (a line broadened only by unlike spins) is the
    uncorrected model, phi = 1 the paper's; the factor itself at the check values."""
    from conftest import make_raw
    from fem_spin.models.nuclear_diffusion import speedup_factor

    assert speedup_factor(0.9, 1.0) == pytest.approx(2.2942, rel=1e-4)
    assert speedup_factor(0.9, 0.25) == pytest.approx(1 / math.sqrt(1 - 0.25 * 0.81), rel=1e-14)
    base = {"speedup": "none", "region_shape": "box", "region_lower": [0.0, 0.0, 0.0],
            "region_upper": [5e-8, 1e-8, 1e-8], "region_polarization": 0.9}
    times = [1.0, 5.0]
    # the local mode integrates the flux at quadrature points: compare like with like
    flux = {"flux": "quadrature"} if speedup == "local" else {}
    plain = sample(make_raw(model={**base, **flux}), times, lambda p: p.observables()["P_region"])
    off = sample(make_raw(model={**base, "speedup": speedup, "like_spin_fraction": 0.0}), times,
                 lambda p: p.observables()["P_region"])
    on = sample(make_raw(model={**base, "speedup": speedup, "like_spin_fraction": 1.0}), times,
                lambda p: p.observables()["P_region"])
    np.testing.assert_allclose(off, plain, rtol=1e-9)
    assert np.all(on < plain - 1e-3)          # faster spreading out of the region
