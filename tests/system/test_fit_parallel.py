"""A real fit spread over MPI rank groups (fem_spin/fitting/parallel.py, issue 21 "Parallel"):
the global fit of examples/fit_dnp_global on two of its concentrations (20 and 80 mM; D0 and
k_x shared, one scale per curve; Jacobian by forward sensitivities). Under ``mpirun -n 2``
(tests/run_mpi_pytest.py) the same fit runs three ways: serially on every rank (COMM_SELF),
in two groups of one rank (each evaluation's two datasets run at once, one per rank) and in
one group of two ranks (every forward run distributed over both). With one rank per model
every forward run is the serial one, so the fit is the serial fit bit for bit; the two-rank
models solve by a Krylov method instead of LU (solvers/newton.py), which changes the runs
within the solvers' tolerances: the fits agree to 1e-8.

Kept cheap: time tolerance 1e-3 (80-90 steps a run) and the start at the data's truth, so
the optimiser needs 4 evaluations (8 forward runs a fit, measured); a two-rank forward run of
this 1-D cell costs more than a serial one, far more on a loaded machine (both ranks
synchronise at every solve)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from mpi4py import MPI

from fem_spin.fitting import load_fit_config
from fem_spin.fitting.driver import fit

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fit_dnp_global" / "fit.toml"
WORLD = MPI.COMM_WORLD


def _config():
    config = load_fit_config(EXAMPLE)
    # the data's truth as the start (make_data.py: D0 = 5e-16 m^2/s, k_x = 5e3 1/s)
    parameters = tuple(dataclasses.replace(p, initial={"model.D0": 5e-16, "model.exchange_rate": 5e3}[p.key])
                       for p in config.parameters)
    return dataclasses.replace(config, datasets=tuple(d for d in config.datasets if d.name in ("c20", "c80")),
                               parameters=parameters,
                               fit=dataclasses.replace(config.fit, time_tolerance=1e-3, profile="none"))


@pytest.mark.parallel
@pytest.mark.skipif(WORLD.size != 2, reason="compares rank groups of one and of two ranks: mpirun -n 2")
def test_two_rank_groups_fit_the_serial_fit_and_one_two_rank_group_agrees_to_1e_8():
    config = _config()
    serial = fit(config, comm=MPI.COMM_SELF)
    groups = fit(config, ranks_per_model=1)
    together = fit(config, ranks_per_model=2)
    assert serial.converged and groups.converged and together.converged
    assert (groups.parallel["groups"], together.parallel["groups"]) == (2, 1)
    for name, e in serial.parameters.items():
        assert (groups[name].value, groups[name].standard_error) == (e.value, e.standard_error), name
        for field in ("value", "standard_error"):
            a, b = getattr(together[name], field), getattr(e, field)
            assert abs(a / b - 1) < 1e-8, (name, field, a, b)
    for name, d in serial.datasets.items():
        assert groups.datasets[name].nuisance["scale"].value == d.nuisance["scale"].value
        assert abs(together.datasets[name].nuisance["scale"].value / d.nuisance["scale"].value - 1) < 1e-8
    assert groups.forward_runs == serial.forward_runs == together.forward_runs == 8
    # every rank holds the same result
    assert WORLD.allgather(groups["model.D0"].value) == [groups["model.D0"].value] * 2
    assert WORLD.allgather(together["model.D0"].value) == [together["model.D0"].value] * 2
