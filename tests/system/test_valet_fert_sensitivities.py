"""Forward sensitivities of the stationary valet_fert model (models/valet_fert_tangent.py,
issue 21) against central finite differences of the resistances, to 1e-5 relative, on the
coarse devices of the fit examples (1.2k and 0.6k unknowns, ~0.05 s per run):

* the Hanle device (precession, one field, parallel and antiparallel): the Al channel's spin
  lifetime tau_sf and diffusion constant D, the tunnel barrier's P_J and resistance-area
  product, a Co electrode's bulk polarization;
* the nonlocal spin valve without precession: the Cu channel's spin diffusion length lambda_N
  and resistivity, and P_J;
* the refusals, named before any run (the fit then uses finite differences).

Solved with LU (with the default Krylov tolerance 1e-12 the cancellation in the small
nonlocal voltage leaves the differences ~1e-5 noisy);
fourth-order differences with the relative step 2e-3 (truncation ~1e-9, round-off ~1e-6).
The two tests above pass under ``mpirun -n 2`` as well (~50 s each there on this loaded
machine, so the one marked parallel, run only there, is cheaper): tau_sf and P_J of the Hanle device
by second-order differences, step 1e-4 (5 runs).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from fem_spin.api import simulate

ROOT = Path(__file__).resolve().parents[2]
HANLE = ROOT / "examples" / "fit_hanle" / "run.toml"
VALVE = ROOT / "examples" / "fit_nonlocal_spin_valve" / "run.toml"
LU = {"solver.petsc_options": {"ksp_type": "preonly", "pc_type": "lu"},
      "model.configurations": ["parallel", "antiparallel"]}


def _central_difference_errors(run, base, keys, step=2e-3):
    """Relative error of the sensitivities of every case's resistance and of Delta R against the
    fourth-order central difference (-f(2h) + 8 f(h) - 8 f(-h) + f(-2h))/(12 h)."""
    result = simulate(run, base, sensitivities=keys)
    assert result.summary["sensitivities"]["linear_solves"] == len(keys) * len(result.series["resistance_ohm"])
    errors = {}
    for key in keys:
        h = step * base[key]
        runs = {j: simulate(run, {**base, key: base[key] + j * h}) for j in (-2, -1, 1, 2)}

        def difference(value):
            return (-value(runs[2]) + 8 * value(runs[1]) - 8 * value(runs[-1]) + value(runs[-2])) / (12 * h)

        fd = difference(lambda r: r.series["resistance_ohm"])
        fd_delta = difference(lambda r: r.summary["delta_R_ohm"])
        s = result.sensitivities[key]["resistance_ohm"]
        errors[key] = max(float(np.max(np.abs(s - fd)) / np.max(np.abs(fd))),
                          abs(float(result.sensitivities[key]["delta_R_ohm"]) / fd_delta - 1))
    return errors


def test_hanle_device_sensitivities_equal_central_differences():
    base = {**LU, "model.hanle_fields": [0.06], "model.regions.N.spin_lifetime": 100e-12,
            "model.regions.N.diffusion_constant": 4.2e-3, "model.regions.barrier1.polarization": 0.3,
            "model.regions.barrier1.area_resistance": 1e-12, "model.regions.F1.bulk_polarization": 0.35}
    errors = _central_difference_errors(HANLE, base, [k for k in base if k.startswith("model.regions")])
    print(errors)
    assert all(e < 1e-5 for e in errors.values()), errors


def test_spin_valve_lambda_and_polarization_sensitivities_equal_central_differences():
    base = {**LU, "model.regions.N.spin_diffusion_length": 0.8e-6, "model.regions.N.resistivity": 1.43e-8,
            "model.regions.barrier2.polarization": 0.35}
    errors = _central_difference_errors(VALVE, base, [k for k in base if k.startswith("model.regions")])
    print(errors)
    assert all(e < 1e-5 for e in errors.values()), errors


def test_valet_fert_sensitivities_refused_with_the_reason():
    from fem_spin.api import _parse
    from fem_spin.solvers.sensitivity import NotDifferentiable, sensitivity_support

    config = _parse(HANLE, None)
    assert sensitivity_support(config, "model.regions.N.spin_lifetime") is None
    assert sensitivity_support(config, "model.regions.barrier2.polarization") is None
    assert "changes the mesh" in sensitivity_support(config, "geometry.separation")
    assert "not differentiated" in sensitivity_support(config, "model.regions.barrier1.spin_memory_loss")
    assert "not a region key" in sensitivity_support(config, "model.current")
    # without explicit mesh sizes the lateral spin valve is meshed by lambda_N
    sized = _parse(HANLE, {"geometry.mesh_size_junction": None, "geometry.mesh_size": None})
    assert "mesh is sized" in sensitivity_support(sized, "model.regions.N.spin_lifetime")
    assert sensitivity_support(sized, "model.regions.barrier1.polarization") is None
    with pytest.raises(NotDifferentiable, match="spin_memory_loss"):
        simulate(HANLE, sensitivities=["model.regions.barrier1.spin_memory_loss"])


@pytest.mark.parallel
@pytest.mark.skipif(MPI.COMM_WORLD.size == 1, reason="the serial tests above check more")
def test_hanle_sensitivities_on_a_distributed_mesh():
    base = {**LU, "model.configurations": ["parallel"], "model.hanle_fields": [0.1],
            "model.regions.N.spin_lifetime": 100e-12, "model.regions.barrier1.polarization": 0.3}
    keys = ["model.regions.N.spin_lifetime", "model.regions.barrier1.polarization"]
    result = simulate(HANLE, base, sensitivities=keys)
    for key in keys:
        h = 1e-4 * base[key]
        up, down = simulate(HANLE, {**base, key: base[key] + h}), simulate(HANLE, {**base, key: base[key] - h})
        fd = (up.summary["R_parallel_ohm"] - down.summary["R_parallel_ohm"]) / (2 * h)
        assert float(result.sensitivities[key]["R_parallel_ohm"]) == pytest.approx(fd, rel=1e-5), key
