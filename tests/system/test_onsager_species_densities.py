"""Species densities that vary in space, Delta_a(x) and Delta_b(x), in the two-species instance
of the Onsager framework (docs/theory/onsager_framework.md section 3.6).

A layered sample (species b only in x > l/2, species a diluted in x < -5 l) keeps every
conserved total and grows the entropy; uniform densities given through the new input
reproduce the uniform path to round-off; a long run relaxes to the equilibrium of its totals
computed here from nodal fractions built by hand; the configuration rejects negative and
all-zero densities before anything runs.
"""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

from fem_spin.analytic import onsager_two_species as two
from fem_spin.config import ConfigError, load_config
from fem_spin.errors import ModelError
from fem_spin.models.onsager_framework import DENSITY_FLOOR

from test_onsager import ELL, T_UNIT
from test_onsager_framework import run
from test_onsager_two_species import allmax, two_species_config

#: 40 cells of one l over 40 l: the interfaces below lie between nodes
COARSE = {"cells": 40}
DELTA_A, DILUTED, DELTA_B = 5e28, 1e28, 3e28


def layered(x):
    """(Delta_a, Delta_b) of the layered sample as UFL expressions of x (1/m^3)."""
    import ufl

    a = ufl.conditional(ufl.lt(x[0], -5.5 * ELL), DILUTED, DELTA_A)
    b = ufl.conditional(ufl.gt(x[0], 0.5 * ELL), DELTA_B, 0.0)
    return a, b


def layered_nodal(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same densities at nodes x (numpy)."""
    return np.where(x < -5.5 * ELL, DILUTED, DELTA_A), np.where(x > 0.5 * ELL, DELTA_B, 0.0)


@pytest.mark.parallel
def test_layered_sample_conserves_every_total_and_grows_the_entropy():
    raw = two_species_config(geometry=COARSE, time={"scheme": "backward_euler", "t_end": 10 * T_UNIT,
                                                    "tolerance": 1e-2})
    problem, rows, _ = run(raw, species_densities=layered)
    assert not problem.uniform_species
    # species b is absent on the left: its statistics are over x > l/2 only, where its step
    # spread (its largest value at t = 0 is the smoothed step's at x = l, 0.22)
    assert problem.comm.allreduce(int(np.count_nonzero(~problem.owned_present[1])), op=MPI.SUM) == 21          # x = -20 l .. 0
    assert rows[0]["Pb_max"] == pytest.approx(0.2166, abs=1e-3)
    assert abs(rows[-1]["Pb_max"] - rows[0]["Pb_max"]) > 0.05
    assert abs(rows[-1]["dipolar_mean"] - rows[0]["dipolar_mean"]) > 0.05
    for name in problem.system.quantities:
        values = np.array([r[name] for r in rows])
        drift = np.max(np.abs(values - values[0])) / problem.total_scales[name]
        print("layered", name, "drift / scale", drift)
        assert drift < 1e-10, name
    entropy = np.array([r["entropy"] for r in rows])
    assert np.diff(entropy).min() >= -1e-12 * abs(entropy[0]) and entropy[-1] > entropy[0]
    assert max(r["rho_max"] for r in rows) < 1
    # the moments are those of the densities: M_b = mu_b sum_i w_b,i p_b,i over b's nodes
    x = problem.V0.tabulate_dof_coordinates()[: len(problem.weights), 0]
    _, nodal_b = layered_nodal(x)
    p_b = problem.species_polarizations()[1]
    h = 40 * ELL / 40
    mass = np.where(np.isclose(np.abs(x), 20 * ELL, rtol=1e-9, atol=0), h / 2, h)
    moment_b = problem.comm.allreduce(float(np.sum(mass * nodal_b * p_b)), op=MPI.SUM) * problem.params.second_magnetic_moment
    assert moment_b == pytest.approx(rows[-1]["moment_b"], abs=1e-8 * problem.total_scales["moment_b"])


@pytest.mark.parallel
def test_uniform_densities_through_the_new_input_are_the_uniform_path():
    """Delta_a, Delta_b given as (constant) UFL expressions go through the nodal fractions;
    the result equals the uniform path's (numbers x_a, 1 - x_a) to round-off."""
    time = {"t_end": 3 * T_UNIT, "adaptive": False, "scheme": "backward_euler", "dt_initial": 0.05 * T_UNIT}
    raw = two_species_config(geometry=COARSE, time=time)
    uniform, rows_u, _ = run(raw)
    density_b = raw["model"]["second_spin_density"]
    given, rows_g, _ = run(raw, species_densities=lambda x: (DELTA_A + 0 * x[0], density_b + 0 * x[0]))
    assert uniform.uniform_species and not given.uniform_species
    difference = allmax(np.abs(given.owned(given.u.x.array) - uniform.owned(uniform.u.x.array)).max(initial=0))
    print("uniform through the new input: max |Omega - Omega_uniform|", difference)
    assert difference < 1e-12
    assert abs(rows_u[-1]["dipolar_mean"] - rows_u[0]["dipolar_mean"]) > 0.01      # the run moved
    for name in rows_u[0]:
        scale = uniform.total_scales.get(name, 1.0)
        assert rows_g[-1][name] == pytest.approx(rows_u[-1][name], rel=1e-12, abs=1e-12 * scale), name


def test_layered_sample_relaxes_to_the_equilibrium_of_its_totals():
    """The maximum of the total entropy at the run's totals, from nodal fractions, weights and
    fields built here (theory note 3.6: lumped averages of the densities over Delta_ref,
    floored where a species is absent), not from the problem's: the run ends within 1e-4 of it
    (measured: printed); species a's polarization contrast differs across the layers."""
    raw = two_species_config(geometry=COARSE, time={"t_end": 40000 * T_UNIT, "tolerance": 1e-3})
    problem, rows, _ = run(raw, species_densities=layered)
    p = problem.params
    x = problem.V0.tabulate_dof_coordinates()[: len(problem.weights), 0]
    order = np.argsort(x)
    x = x[order]
    delta_a, delta_b = layered_nodal(x)
    reference = (delta_a + delta_b).max()
    x_a = delta_a / reference
    x_b = np.maximum(delta_b, DENSITY_FLOOR * reference) / reference
    h = x[1] - x[0]
    w = np.full(x.size, reference * h)
    w[[0, -1]] /= 2
    B = p.B0 + p.field_gradient[0] * x
    scales = (p.magnetic_moment, p.second_magnetic_moment, p.magnetic_moment * p.dipolar_field)
    totals = [rows[0][name] / s for name, s in zip(("moment_a", "moment_b", "energy"), scales)]
    eq = two.equilibrium_from_totals(B, w, p.dipolar_field, x_a, problem.kappa,
                                     p.second_gyromagnetic_ratio / p.gyromagnetic_ratio, totals,
                                     B_ref=p.B0, x_b=x_b, referred=True)
    rho = problem.nodal_state()[:, order]
    present = delta_b > 0
    distance = max(np.abs(rho[:2] - eq.rho[:2]).max(), np.abs(rho[2, present] - eq.rho[2, present]).max())
    print("theta", eq.theta, "distance to the equilibrium", distance)
    assert distance < 1e-4
    assert abs(eq.theta) > 1e-3
    S_eq = float(np.dot(w, two.entropy(eq.Omega, x_a, problem.kappa, x_b))) * 1.380649e-23
    assert rows[0]["entropy"] < rows[-1]["entropy"] <= S_eq * (1 + 1e-12)


def _toml(value) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value).lower() if isinstance(value, bool) else repr(value)


def _write(tmp_path, model: dict) -> str:
    """A run file of the 1-D two-species case with ``model`` keys changed."""
    raw = two_species_config(geometry=COARSE, model=model)
    text = "".join(f"name = {_toml(raw.pop('name'))}\n" for _ in [0])
    for section, table in raw.items():
        text += f"[{section}]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in table.items())
    path = tmp_path / "case.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("model, key", [
    ({"second_spin_density": -1e28}, "second_spin_density"),
    ({"second_spin_density_regions": {"film": "-2e22 cm^-3"}}, "second_spin_density_regions.film"),
    ({"spin_density_regions": {"film": -1.0}}, "spin_density_regions.film"),
    ({"second_spin_density": 0.0}, "second_spin_density"),
    ({"second_spin_density": 0.0, "second_spin_density_regions": {"film": 0}}, "second_spin_density"),
], ids=["negative", "negative_region", "negative_region_a", "all_zero", "all_zero_regions"])
def test_negative_or_all_zero_densities_rejected_naming_key_and_file(tmp_path, model, key):
    path = _write(tmp_path, model)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    print(message)
    assert "\n" not in message and path in message and key in message


def test_densities_zero_on_every_node_rejected_before_the_run():
    """A species whose expression vanishes on the mesh is refused when the densities are
    built (before any step), naming where they came from."""
    raw = two_species_config(geometry=COARSE)
    with pytest.raises(ModelError, match="species b has zero density everywhere"):
        run(raw, species_densities=lambda x: (DELTA_A + 0 * x[0], 0 * x[0]))
    with pytest.raises(ModelError, match="species a .* negative"):
        run(raw, species_densities=lambda x: (-DELTA_A + 0 * x[0], DELTA_B + 0 * x[0]))


@pytest.mark.parallel
def test_densities_per_cell_group_from_the_configuration():
    """spin_density_regions and second_spin_density_regions (species b only in the cell group
    'right', x > 0; species a diluted there): the nodal fractions are the lumped averages, so
    the interface node holds half of each side's density (theory note 3.6), and the totals
    are kept."""
    import dolfinx.mesh

    from fem_spin.config import parse_config
    from fem_spin.geometry.simple import IntervalGeometry

    raw = two_species_config(geometry=COARSE, model={"spin_density_regions": {"right": DILUTED},
                                                     "second_spin_density": 0,
                                                     "second_spin_density_regions": {"right": DELTA_B}},
                             time={"t_end": 5 * T_UNIT, "tolerance": 1e-2})
    g = parse_config(raw).geometry
    data = IntervalGeometry(x_min=g.x_min, x_max=g.x_max, cells=g.cells).create_mesh(MPI.COMM_WORLD)
    mesh, tdim = data.mesh, data.mesh.topology.dim
    imap = mesh.topology.index_map(tdim)
    cells = np.arange(imap.size_local + imap.num_ghosts, dtype=np.int32)
    mid = dolfinx.mesh.compute_midpoints(mesh, tdim, cells)[:, 0]
    data.cell_tags = dolfinx.mesh.meshtags(mesh, tdim, cells, np.where(mid < 0, 1, 2).astype(np.int32))
    data.cell_groups = {"left": 1, "right": 2}
    problem, rows, _ = run(raw, mesh_data=data)
    x = problem.V0.tabulate_dof_coordinates()[:, 0]
    side = np.where(np.abs(x) < 1e-3 * ELL, 0.5, (x > 0).astype(float))    # share of 'right'
    expected_a = DELTA_A * (1 - side) + DILUTED * side
    expected_b = DELTA_B * side
    reference = DELTA_A                                         # the densest mixture: the left
    assert problem.reference_total == pytest.approx(reference, rel=1e-14)
    assert np.allclose(problem.fractions[0] * reference, expected_a, rtol=1e-13, atol=0)
    assert np.allclose(problem.fractions[1] * reference, np.maximum(expected_b, DENSITY_FLOOR * reference),
                       rtol=1e-13, atol=0)
    assert np.array_equal(problem.present[1], expected_b > 0)
    for name in problem.system.quantities:
        values = np.array([r[name] for r in rows])
        assert np.max(np.abs(values - values[0])) < 1e-10 * problem.total_scales[name], name
    assert abs(rows[-1]["dipolar_mean"] - rows[0]["dipolar_mean"]) > 1e-3
