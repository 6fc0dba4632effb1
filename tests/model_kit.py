"""The shared test kit of the transient models (issue 19, item 7): every model opts in with one
:class:`ModelCase` in ``CASES``; tests/system/test_model_kit.py runs each check on each case.

A case is a small transient run (fixed steps, tight Newton tolerances, a direct linear
solve so that a restarted or repartitioned run rounds the same way) without sources and
relaxation, the observables that must then be conserved, and a run from a state near the
model's bounds with large steps together with those bounds.
"""

from __future__ import annotations

import copy
import dataclasses

OUTPUT = {"plot": False, "render": False, "field_snapshots": 2, "progress_interval": 1e9,
          "checkpoint_interval": 0.0}
SOLVER = {"rtol": 1e-12, "atol": 1e-14, "petsc_options": {"ksp_type": "preonly", "pc_type": "lu"}}


@dataclasses.dataclass(frozen=True)
class ModelCase:
    """One model in the kit."""

    name: str
    #: a run without sources and relaxation (fixed time steps)
    raw: dict
    #: observables conserved by ``raw`` (relative 1e-10)
    conserved: tuple[str, ...]
    #: (overrides of ``raw``: a state near the bounds, large steps) and the bounds:
    #: {column: (lower, upper, strict)}
    bound_overrides: dict
    bounds: dict

    def config(self, **overrides) -> dict:
        raw = copy.deepcopy(self.raw)
        for section, table in overrides.items():
            raw.setdefault(section, {}).update(copy.deepcopy(table))
        return raw


def _run(name, geometry, model, time) -> dict:
    return {"name": name, "geometry": geometry, "model": model,
            "time": {"adaptive": False, **time}, "solver": copy.deepcopy(SOLVER), "output": dict(OUTPUT)}


_BOX = {"type": "box", "size": [1e-7, 2e-8, 2e-8], "cells": [10, 2, 2]}
_INTERVAL = {"type": "interval", "x_min": 0.0, "x_max": 1e-7, "cells": 40}
_ELL, _GAMMA = 1e-8, 1e-15
_T = _ELL ** 2 / _GAMMA

NUCLEAR_DIFFUSION = ModelCase(
    "nuclear_diffusion",
    _run("kit_nd", _BOX, {"type": "nuclear_diffusion", "D0": 1e-16, "speedup": "global",
                          "region_shape": "ball", "region_radius": 3e-8, "region_center": [5e-8, 1e-8, 1e-8],
                          "region_polarization": 0.9, "initial_polarization": 0.1},
         {"t_end": 1.0, "dt_initial": 0.1}),
    conserved=("polarization_volume", "P_mean"),
    bound_overrides={"model": {"speedup": "local", "region_polarization": 0.999999},
                     "time": {"t_end": 20.0, "dt_initial": 5.0}},
    bounds={"P_min": (-1.0, 1.0, True), "P_max": (-1.0, 1.0, True)})

ONSAGER = ModelCase(
    "onsager_transport",
    _run("kit_onsager", {"type": "interval", "x_min": -20 * _ELL, "x_max": 20 * _ELL, "cells": 80},
         {"type": "onsager_transport", "spin_density": 5e28, "dipolar_field": 1e-4,
          "transport_coefficient": _GAMMA, "B0": 1.0, "field_gradient": [1e4, 0.0, 0.0],
          "initial_dipolar_order": 0.2, "initial_polarization": -0.8, "region_polarization": 0.6,
          "initial_profile": "step", "step_position": 3 * _ELL, "step_width": 2 * _ELL},
         {"t_end": 2 * _T, "dt_initial": 0.2 * _T}),
    conserved=("moment", "energy", "P_mean"),
    bound_overrides={"model": {"initial_dipolar_order": 0.0, "initial_polarization": -0.9999,
                               "region_polarization": 0.9999, "step_width": 0.0},
                     "time": {"t_end": 40 * _T, "dt_initial": 10 * _T}},
    bounds={"rho_max": (0.0, 1.0, True)})

ONSAGER_TWO_SPECIES = ModelCase(
    "onsager_framework_two_species",
    _run("kit_onsager_two", {"type": "interval", "x_min": -20 * _ELL, "x_max": 20 * _ELL, "cells": 80},
         {"type": "onsager_framework", "instance": "two_species", "spin_density": 5e28,
          "second_spin_density": 2e28, "second_rate_ratio": 0.5, "dipolar_field": 1e-4,
          "transport_coefficient": _GAMMA, "B0": 1.0, "field_gradient": [1e4, 0.0, 0.0],
          "initial_dipolar_order": 0.2, "initial_polarization": -0.8, "region_polarization": 0.6,
          "second_initial_polarization": 0.3, "second_region_polarization": -0.4,
          "initial_profile": "step", "step_position": 3 * _ELL, "step_width": 2 * _ELL},
         {"t_end": 2 * _T, "dt_initial": 0.2 * _T}),
    conserved=("moment_a", "moment_b", "energy", "P_mean", "Pb_mean"),
    bound_overrides={"model": {"initial_dipolar_order": 0.0, "initial_polarization": -0.9999,
                               "region_polarization": 0.9999, "second_initial_polarization": 0.9999,
                               "second_region_polarization": -0.9999, "step_width": 0.0},
                     "time": {"t_end": 40 * _T, "dt_initial": 10 * _T}},
    bounds={"rho_max": (0.0, 1.0, True), "Pb_min": (-1.0, 1.0, True), "Pb_max": (-1.0, 1.0, True)})

_CELL_MODEL = {"D0": 2e-18, "speedup": "global", "source": "cycle_averaged", "source_polarization": 0.7,
               "exchange_probability": 1.0, "repetition_rate": 50.0, "R1": 0.0, "initial_polarization": 0.2}
TRIPLET_COUPLED = ModelCase(
    "triplet_dnp_coupled",
    _run("kit_triplet", {"type": "crystal", "shape": "slab", "size": [4e-3, 4e-3, 1e-3], "beam_diameter": 2e-3,
                         "mesh_size": 2e-3, "mesh_size_beam_edge": 1e-3},
         {"type": "triplet_dnp", "coupling": "coupled", "effective_exchange_rate": 0.02,
          "cell_geometry": {"type": "dnp_radial", "electron_concentration": 1e24, "source_radius": 1.0e-9},
          "cell_model": _CELL_MODEL, "optics": {"peak_excitation": 0.0}},
         {"t_end": 100.0, "dt_initial": 10.0}),
    conserved=("P_crystal",),
    bound_overrides={"model": {"effective_exchange_rate": 1e3, "optics": {"peak_excitation": 1.0},
                               "cell_model": {**_CELL_MODEL, "source_polarization": 0.9999}},
                     "time": {"t_end": 400.0, "dt_initial": 100.0}},
    bounds={"P_min": (-1.0, 1.0, True), "P_max": (-1.0, 1.0, True)})

LONGITUDINAL_RELAXATION = ModelCase(
    "longitudinal_relaxation",
    _run("kit_lr", _INTERVAL, {"type": "longitudinal_relaxation", "D": 1e-15, "initial_magnetization": 1.0,
                               "region_shape": "box", "region_magnetization": 0.0,
                               "region_lower": [0.0, -1.0, -1.0], "region_upper": [3e-8, 1.0, 1.0]},
         {"t_end": 2.0, "dt_initial": 0.2}),
    conserved=("magnetization_total", "M_mean"),
    bound_overrides={"model": {"T1": 0.5, "M0": 0.5, "source_shape": "ball", "source_rate": 100.0,
                               "source_magnetization": 1.0, "source_center": [9e-8, 0.0, 0.0],
                               "source_radius": 1e-8},
                     "time": {"t_end": 100.0, "dt_initial": 20.0}},
    bounds={"M_min": (0.0, 1.0, False), "M_max": (0.0, 1.0, False)})

#: every transient model of the package: one line each
CASES = [NUCLEAR_DIFFUSION, ONSAGER, ONSAGER_TWO_SPECIES, TRIPLET_COUPLED, LONGITUDINAL_RELAXATION]
