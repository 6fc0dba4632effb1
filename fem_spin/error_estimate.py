r"""Every result with its own discretisation error estimate (issue 20, item 4).

After a run, its headline numbers X (t50/t63/t90 of a buildup, the final means, Delta R of a
spin valve: the problem class's ``headline_keys``) are computed again

* in **space** on the same geometry meshed coarser twice (element sizes times sqrt 2 and 2,
  ``Geometry.coarsened``), with the observed order p of the three values (Richardson):

  .. math::  e_\mathrm{space} = \frac{|X_{h} - X_{rh}|}{r^{p} - 1},
             \qquad p = \frac{\ln(|X_{r^2 h} - X_{rh}| / |X_{rh} - X_h|)}{\ln r},

  with r the measured ratio of element sizes (from the DOF counts and the mesh dimension);
  where the three values are not in the asymptotic range (p outside [0.8, 6], or the
  differences change sign) the nominal order 2 of the P1 discretisation is assumed and the
  estimate says so (``space_order_assumed``);
* in **time** (transient runs) at ten times the tolerance: the global time error of the
  schemes is proportional to ``time.tolerance`` (solvers/timestepping.py;
  tests/system/test_time_accuracy.py), so

  .. math::  e_\mathrm{time} = |X(10\,\mathrm{tol}) - X(\mathrm{tol})| / 9 ,

  both on the coarsest mesh of the space estimate (element sizes times 2; the run at the
  tolerance is already there), where the geometry can be coarsened, else on the run's own
  mesh. The time error is a property of the solution's time dependence, which the coarser
  mesh shares, and the looser run on the run's own mesh was about half the cost of the whole
  estimate in 3-D. Measured on the default run with BDF2 (periodic cube, 24k DOFs, its
  coarsest mesh 3.5k; benchmarks/README.md section 10): where the time error is of any size
  the two agree to 5-15 % (t90: 0.77 / 0.82 ms (none), 0.73 / 0.81 ms (global), coarsest /
  own mesh); t50 and t63 carry time errors of ~1e-4 relative, 30-100 times below their
  space errors, and there the two estimates differ by up to 5x either way (the step
  sequences differ).

The estimates go to ``summary.json`` under ``error_estimate`` and to the run's last line,
e.g. ``t63 = 7.83 ms ± 0.02 ms (space) ± 0.01 ms (time)``. The extra runs cost about 0.4
of the run itself in 3-D (two coarser meshes, the coarsest once more at the looser
tolerance; measured on the default run).
``[output] error_estimate``: ``"auto"`` (the default) estimates after runs that took less
than :data:`AUTO_MAX_WALL_S` and whose geometry can be coarsened; ``true`` always; ``false``
never. The environment variable ``FEM_SPIN_ERROR_ESTIMATE=off`` turns ``"auto"`` off (the test
suite sets it; an explicit ``true`` still estimates).
"""

from __future__ import annotations

import math
import os
from typing import Any, Mapping

import numpy as np

__all__ = ["AUTO_MAX_WALL_S", "RATIOS", "wanted", "headline_numbers", "richardson",
           "time_error", "estimate", "format_estimate"]

#: "auto" estimates after runs that finished in less wall time than this (seconds)
AUTO_MAX_WALL_S = 60.0
#: element-size factors of the two coarser meshes
RATIOS = (math.sqrt(2.0), 2.0)
#: the looser tolerance of the time estimate, as a factor on time.tolerance
TOLERANCE_FACTOR = 10.0


def wanted(config, summary: Mapping[str, Any]) -> bool:
    """Whether ``[output] error_estimate`` asks for an estimate after this finished run."""
    setting = config.output.error_estimate
    if setting is True:
        return True
    if setting is False or os.environ.get("FEM_SPIN_ERROR_ESTIMATE", "").lower() in ("off", "0", "no"):
        return False
    return (summary.get("status") == "completed"
            and float(summary.get("wall_time_s", math.inf)) < AUTO_MAX_WALL_S
            and config.geometry.coarsened(2.0) is not None)


def _lookup(summary: Mapping[str, Any], dotted: str):
    value: Any = summary
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def headline_numbers(summary: Mapping[str, Any], keys) -> dict[str, float]:
    """The finite numbers of ``summary`` at the dotted ``keys`` (missing ones are left out)."""
    out = {}
    for key in keys:
        value = _lookup(summary, key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[key] = float(value)
    return out


def richardson(fine: float, coarse: float, coarser: float, ratio1: float,
               ratio2: float, nominal_order: float = 2.0) -> tuple[float, float, bool]:
    """(error estimate of ``fine``, order used, whether the order was assumed) from values on
    meshes with element sizes h, ratio1 h and ratio2 h (ratio2 > ratio1 > 1)."""
    d1, d2 = coarse - fine, coarser - coarse
    order, assumed = nominal_order, True
    if d1 != 0.0 and d2 != 0.0 and np.sign(d1) == np.sign(d2):
        # |X(r2 h) - X(r1 h)| / |X(r1 h) - X(h)| = (r2^p - r1^p) / (r1^p - 1): solve for p
        target = abs(d2 / d1)
        lo, hi = 0.05, 8.0
        g = lambda p: (ratio2 ** p - ratio1 ** p) / (ratio1 ** p - 1.0) - target
        if g(lo) < 0 < g(hi):
            for _ in range(80):
                mid = 0.5 * (lo + hi)
                lo, hi = (mid, hi) if g(mid) < 0 else (lo, mid)
            observed = 0.5 * (lo + hi)
            if 0.8 <= observed <= 6.0:
                order, assumed = observed, False
    return abs(d1) / (ratio1 ** order - 1.0), order, assumed


def time_error(value: float, loose: float, factor: float = TOLERANCE_FACTOR) -> float:
    """The time error of ``value`` from the same run at ``factor`` times the tolerance (the
    global error is proportional to the tolerance)."""
    return abs(loose - value) / (factor - 1.0)


def _size_ratio(dofs_fine: float, dofs_coarse: float, dim: int) -> float:
    return (dofs_fine / dofs_coarse) ** (1.0 / dim)


def estimate(config, summary: Mapping[str, Any], comm=None) -> dict | None:
    """Run the coarser meshes and the looser tolerance, return the ``error_estimate`` table
    of summary.json (collective; None when the model has no headline numbers)."""
    from mpi4py import MPI

    from fem_spin.api import apply_overrides, simulate

    comm = comm or MPI.COMM_WORLD
    problem_class = type(config.model).problem_class
    values = comm.bcast(headline_numbers(summary, problem_class.headline_keys) if comm.rank == 0
                        else None, root=0)
    if not values:
        return None
    raw = {**config.raw, "output": {**config.raw.get("output", {}), "error_estimate": False}}
    raw.pop("sweep", None)

    def rerun(overrides: dict) -> tuple[dict, float]:
        result = simulate(apply_overrides(raw, overrides), comm=comm, quiet=True)
        s = comm.bcast(result.summary if comm.rank == 0 else None, root=0)
        return headline_numbers(s, values), float(s.get("dofs", 0))

    table: dict[str, dict] = {k: {"value": v} for k, v in values.items()}
    dofs = float(summary.get("dofs", 0))
    coarse = [config.geometry.coarsened(r) for r in RATIOS]
    space_runs: list = []
    if all(c is not None for c in coarse) and dofs > 0:
        runs = space_runs = [rerun({f"geometry.{k}": v for k, v in c.items()}) for c in coarse]
        dim = config.geometry.mesh_dimension
        ratios = [_size_ratio(dofs, d, dim) if d > 0 else r for (_, d), r in zip(runs, RATIOS)]
        for key, value in values.items():
            if key in runs[0][0] and key in runs[1][0] and ratios[1] > ratios[0] > 1.0:
                err, order, assumed = richardson(value, runs[0][0][key], runs[1][0][key], *ratios)
                table[key].update(space=err, space_order=order, space_order_assumed=assumed)
        for entry in table.values():
            entry["space_dofs"] = [dofs, *(d for _, d in runs)]
    if not problem_class.steady and not problem_class.sampled:
        loose_overrides = {"time.tolerance": config.time.tolerance * TOLERANCE_FACTOR}
        reference = values
        if space_runs:
            # on the coarsest mesh, against its own run at the tolerance (module docstring)
            loose_overrides.update({f"geometry.{k}": v for k, v in coarse[-1].items()})
            reference = space_runs[-1][0]
        loose, loose_dofs = rerun(loose_overrides)
        for key in values:
            if key in loose and key in reference:
                table[key].update(time=time_error(reference[key], loose[key]), time_dofs=loose_dofs)
    return table


def _unit(key: str) -> tuple[float, str]:
    if key.endswith("_s"):
        return 1e3, "ms"
    return 1.0, ""


def format_estimate(table: Mapping[str, Mapping[str, float]]) -> list[str]:
    """One line per headline number: ``t63 = 7.83 ms ± 0.02 ms (space) ± 0.01 ms (time)``."""
    lines = []
    for key, entry in table.items():
        scale, unit = _unit(key)
        name = key.split(".")[-1].removesuffix("_s")
        text = f"{name} = {entry['value'] * scale:.6g}{' ' + unit if unit else ''}"
        for part in ("space", "time"):
            if part in entry:
                text += f" ± {entry[part] * scale:.2g}{' ' + unit if unit else ''} ({part})"
        lines.append(text)
    return lines
