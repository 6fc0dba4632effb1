"""Configuration fuzzing (issue 7, "Bad input everywhere"): mutated run configurations of
every model and every geometry either validate or fail with one ConfigError line that names
the file and the key; no other exception (a traceback for the user) may escape.

Only :func:`fem_spin.config.parse_config` runs (no mesh, no solve), so hundreds of examples
take seconds. Hypothesis is derandomized (and keeps no example database), so every run
tries the same inputs. A new model or geometry needs a seed below, or
``test_seeds_cover_every_registered_type`` fails.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import math
import subprocess
import sys
import tempfile
import tomllib
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fem_spin import config as C
from fem_spin.config import (ConfigError, RunConfig, geometry_types, in_range, model_types,
                             non_negative, parse_config, polarization, positive)
from conftest import REPO, serial_only

SOURCE = "fuzz.toml"
TOP_KEYS = set(C._TOP_KEYS)

# A mesh file for the "file" geometry: its resolve_paths only checks that it exists.
_MSH_DIR = tempfile.TemporaryDirectory(prefix="fem_spin_fuzz_")
MSH = Path(_MSH_DIR.name) / "mesh.msh"
MSH.write_text("$MeshFormat\n4.1 0 8\n$EndMeshFormat\n")


def _toml(path: Path) -> dict:
    return tomllib.loads(path.read_text())


# --------------------------------------------------------------------------- seeds
OUTPUT = {"plot": False, "render": False, "field_snapshots": 2, "progress_interval": 1e9}
ND_MODEL = {"type": "nuclear_diffusion", "D0": 1e-16, "speedup": "none"}
ND_TIME = {"t_end": 5.0, "dt_initial": 0.05, "adaptive": False}
VF_F = {"resistivity": 2e-7, "spin_diffusion_length": 10e-9, "bulk_polarization": 0.5,
        "magnetization": [0, 0, 1]}
VF_N = {"resistivity": 1e-8, "spin_diffusion_length": 100e-9}
ONSAGER_TIME = {"t_end": 1e-3, "dt_initial": 1e-5}

SEEDS: dict[str, dict] = {
    "nd_box": {
        "name": "nd_box",
        "geometry": {"type": "box", "size": [1e-7, 1e-8, 1e-8], "cells": [16, 1, 1]},
        "model": dict(ND_MODEL),
        "time": dict(ND_TIME),
        "solver": {"rtol": 1e-9, "max_iterations": 30,
                   "petsc_options": {"ksp_type": "cg", "pc_type": "hypre"}},
        "output": {**OUTPUT, "snapshot_times": [1.0, 2.0]},
    },
    "nd_box_tensor": {
        "name": "nd_box_tensor",
        "geometry": {"type": "box", "size": [1e-7, 1e-7, 1e-7], "mesh_size": 2e-8,
                     "origin": [0.0, 0.0, 0.0], "periodic": [True, False, False]},
        "model": {"type": "nuclear_diffusion",
                  "D0": [[1e-16, 0.0, 0.0], [0.0, 2e-16, 0.0], [0.0, 0.0, 3e-16]],
                  "speedup": "local", "region_shape": "box", "region_polarization": 0.9,
                  "region_lower": [0.0, 0.0, 0.0], "region_upper": [5e-8, 1e-7, 1e-7],
                  "source": "continuous", "exchange_rate": 10.0, "source_polarization": 0.5,
                  "source_regions": ["sample"], "flux": "quadrature", "quadrature_degree": 3},
        "time": {"t_end": 5.0, "dt_initial": 0.05, "dt_min": 1e-9, "dt_max": 1.0,
                 "tolerance": 1e-3, "growth_max": 1.5},
        "output": dict(OUTPUT),
    },
    "nd_lattice_D0": {
        "name": "nd_lattice_D0",
        "geometry": {"type": "box", "size": [1e-7, 1e-8, 1e-8], "cells": [4, 1, 1]},
        "model": {"type": "nuclear_diffusion", "speedup": "none",
                  "D0": {"lattice": "sc", "lattice_constant": 2.725e-10, "species": "19F",
                         "field_direction": [0, 0, 1], "use": "tensor"}},
        "time": dict(ND_TIME),
        "output": dict(OUTPUT),
    },
    # the embedded default configuration: a preset, a dnp_cube and a sweep
    "default": _toml(REPO / "fem_spin" / "configs" / "default.toml"),
    "nd_dnp_sphere": {
        "name": "nd_dnp_sphere",
        "geometry": {"type": "dnp_sphere", "electron_concentration": 5.6e23, "source_radius": 1.4e-9,
                     "barrier_radius": 0.5e-9, "mesh_size_source": 0.3e-9},
        "model": {"type": "nuclear_diffusion", "D0": 1e-18, "speedup": "global", "source": "pulsed",
                  "source_polarization": 0.7, "exchange_probability": 0.5, "repetition_rate": 50.0,
                  "pre_coefficient": 1e-60, "barrier_diffusion_factor": 0.1},
        "time": {"t_end": 100.0, "dt_initial": 1e-3},
        "output": dict(OUTPUT),
    },
    "nd_dnp_radial": {
        "name": "nd_dnp_radial",
        "geometry": {"type": "dnp_radial", "electron_concentration": "40 mM", "source_radius": 0.6e-9},
        "model": {"type": "nuclear_diffusion", "D0": 2e-17, "speedup": "global",
                  "source": "cycle_averaged", "source_polarization": 0.9, "repetition_rate": 1e3,
                  "R1": 0.1, "P_eq": 0.001, "pre_coefficient": 1e-60, "pre_cutoff_radius": 0.3e-9},
        "time": {"t_end": 3.0, "dt_initial": 1e-5},
        "output": dict(OUTPUT),
    },
    "nd_file": {
        "name": "nd_file",
        "geometry": {"type": "file", "path": str(MSH)},
        "model": dict(ND_MODEL),
        "time": dict(ND_TIME),
        "output": dict(OUTPUT),
    },
    # Onsager transport: the Fig. 8 example (interval, string density, sweep), a rectangle with
    # a preset, a box with a tensor and regions, and the MRFM film with a tip field
    "onsager_fig8": _toml(REPO / "examples" / "onsager_fig8.toml"),
    "onsager_rectangle": {
        "name": "onsager_rectangle",
        "preset": "CaF2_19F",
        "geometry": {"type": "rectangle", "size": [1e-7, 2e-8], "cells": [20, 4],
                     "origin": [-5e-8, 0.0], "cell_type": "triangle"},
        "model": {"initial_profile": "step", "initial_polarization": 0.5, "region_polarization": -0.5,
                  "step_axis": 0, "step_width": 1e-9},
        "time": dict(ONSAGER_TIME),
        "output": dict(OUTPUT),
    },
    "onsager_box": {
        "name": "onsager_box",
        "geometry": {"type": "box", "size": [1e-7, 1e-7, 1e-7], "cells": [4, 4, 4]},
        "model": {"type": "onsager_transport", "spin_density": 4.86e28, "B0": 1.0,
                  "formulation": "semilinear", "field": "linear", "field_gradient": [1e4, 0.0, 0.0],
                  "spin_density_regions": {"sample": "4.86e22 cm^-3"}, "dipolar_field": 1e-4,
                  "transport_coefficient": [[1e-16, 0.0, 0.0], [0.0, 1e-16, 0.0], [0.0, 0.0, 2e-16]],
                  "initial_profile": "ball", "region_center": [5e-8, 5e-8, 5e-8],
                  "region_radius": 2e-8, "region_polarization": 0.3, "initial_dipolar_order": 0.1},
        "time": dict(ONSAGER_TIME),
        "output": dict(OUTPUT),
    },
    "onsager_framework_interval": {
        "name": "onsager_framework_interval",
        "geometry": {"type": "interval", "x_min": -5e-8, "x_max": 5e-8, "cells": 40},
        "model": {"type": "onsager_framework", "instance": "two_quantity", "spin_density": 4.86e28,
                  "B0": 1.0, "field": "linear", "field_gradient": [1e4, 0.0, 0.0],
                  "dipolar_field": 1e-4, "transport_coefficient": 1e-15, "dipolar_rate_ratio": 2.0,
                  "initial_profile": "step", "initial_polarization": -0.8, "region_polarization": 0.6,
                  "initial_dipolar_order": 0.2, "speedup": "local"},
        "time": dict(ONSAGER_TIME),
        "output": dict(OUTPUT),
    },
    "onsager_two_species": _toml(REPO / "examples" / "onsager_two_species.toml"),
    "onsager_mrfm": {
        "name": "onsager_mrfm",
        "geometry": {"type": "mrfm_film", "film_size": [400e-9, 400e-9], "film_thickness": 60e-9,
                     "gap": 50e-9, "tip_shape": "sphere", "tip_radius": 100e-9,
                     "mesh_size_min": 25e-9, "mesh_size_max": 80e-9, "tip_x": 1e-8,
                     "grading_distance": 2e-7},
        "model": {"type": "onsager_transport", "spin_density": "4.86e22 cm^-3", "B0": 3.0,
                  "field": "sphere_tip", "tip_magnetization": 1.0, "initial_profile": "resonant_slice",
                  "resonant_field": 3.12, "slice_half_width": 0.02, "initial_polarization": 0.5,
                  "region_polarization": -0.5, "speedup": "local"},
        "time": dict(ONSAGER_TIME),
        "output": dict(OUTPUT),
    },
    "onsager_mrfm_cone": {
        "name": "onsager_mrfm_cone",
        "geometry": {"type": "mrfm_film", "tip_shape": "cylinder_cone", "cone_length": 3e-7,
                     "cone_half_angle": 20.0, "cylinder_length": 0.0, "tip_mesh_size": 2e-8},
        "model": {"type": "onsager_transport", "spin_density": 5e28, "B0": 3.0, "field": "fem_tip",
                  "tip_field_degree": 1},
        "time": dict(ONSAGER_TIME),
        "output": dict(OUTPUT),
    },
    # Valet-Fert (stationary: no [time]): a pillar of layers and the nonlocal spin valve example
    "vf_multilayer": {
        "name": "vf_multilayer",
        "geometry": {"type": "multilayer", "layers": [["F1", 10e-9], ["N", 20e-9], ["barrier", 1e-9],
                                                      ["F2", 10e-9]],
                     "width": 20e-9, "depth": 20e-9, "cells_per_layer": [4, 8, 1, 4],
                     "lateral_cells": [1, 1]},
        "model": {"type": "valet_fert", "current_contact": "bottom", "ground": "top",
                  "voltage_probes": [], "configurations": ["parallel", "antiparallel"],
                  "switch_regions": ["F2"], "current": 1e-5,
                  "regions": {"F1": copy.deepcopy(VF_F), "N": dict(VF_N), "F2": copy.deepcopy(VF_F),
                              "barrier": {"area_resistance": 1e-15, "polarization": 0.3,
                                          "magnetization": [0, 0, 1]}}},
        "output": dict(OUTPUT),
    },
    "vf_spin_valve": _toml(REPO / "examples" / "nonlocal_spin_valve.toml"),
    "vf_spin_absorption": _toml(REPO / "examples" / "spin_absorption_py_cu_pt.toml"),
    "vf_spin_hall_nonlocal": {
        "name": "vf_spin_hall_nonlocal",
        "geometry": {"type": "spin_hall_nonlocal", "separation": 400e-9, "h_length": 400e-9,
                     "mesh_size_junction": 25e-9, "mesh_size": 100e-9},
        "model": {"type": "valet_fert", "current_contact": "F_end", "ground": "N_left_end",
                  "voltage_probes": ["H_end_ymax", "H_end_ymin"], "configurations": ["parallel"],
                  "switch_regions": ["F"], "current": 1e-4,
                  "regions": {"N": {"material": "Cu@300K"}, "H": {"material": "Pt@300K"},
                              "F": {"material": "Py@300K", "magnetization": [0, 1, 0]}}},
        "output": dict(OUTPUT),
    },
    "vf_smr": _toml(REPO / "examples" / "smr_pt_yig.toml"),
    # triplet DNP: the crystal slab of the tests, and the naphthalene example (prism, preset)
    "triplet_slab": {
        "name": "triplet",
        "geometry": {"type": "crystal", "shape": "slab", "size": [4e-3, 4e-3, 1e-3],
                     "beam_diameter": 2e-3, "mesh_size": 0.8e-3, "mesh_size_beam_edge": 0.2e-3,
                     "beam_point": [0.0, 0.0, 0.0], "beam_direction": [0.0, 0.0, -1.0]},
        "model": {"type": "triplet_dnp", "coupling": "coupled", "effective_exchange_rate": 0.5,
                  "cell_geometry": {"type": "dnp_radial", "electron_concentration": 1e24,
                                    "source_radius": 1.0e-9},
                  "cell_model": {"D0": 2e-18, "speedup": "global", "source": "cycle_averaged",
                                 "source_polarization": 0.7, "exchange_probability": 1.0,
                                 "repetition_rate": 50.0, "R1": 2e-3},
                  "optics": {"beam_profile": "gaussian", "excitation": "saturating",
                             "pulse_energy": 1e-3, "saturation_fluence": 10.0, "triplet_yield": 0.6},
                  "table_tolerance": 2e-3, "table_initial_points": 5, "table_max_points": 33},
        "time": {"t_end": 400.0, "dt_initial": 0.05, "tolerance": 2e-3},
        "output": dict(OUTPUT),
    },
    "triplet_example": _toml(REPO / "examples" / "triplet_dnp_naphthalene.toml"),
    "longitudinal_relaxation_example": _toml(REPO / "examples" / "longitudinal_relaxation.toml"),
}


def _kinds(raw: dict, section: str) -> str | None:
    merged = C.apply_preset(raw)
    return merged.get(section, {}).get("type")


def test_seeds_cover_every_registered_type():
    """A model or geometry without a seed here is not fuzzed: add one."""
    models = {_kinds(raw, "model") for raw in SEEDS.values()}
    geometries = {_kinds(raw, "geometry") for raw in SEEDS.values()}
    assert set(model_types()) <= models, f"no fuzz seed for model(s) {set(model_types()) - models}"
    assert set(geometry_types()) <= geometries, \
        f"no fuzz seed for geometry(ies) {set(geometry_types()) - geometries}"


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_seeds_are_valid(name):
    assert isinstance(parse_config(copy.deepcopy(SEEDS[name]), source=SOURCE), RunConfig)


# --------------------------------------------------------------------------- paths in a raw dict
def _paths(node, prefix=()) -> list[tuple]:
    """Every path (tuple of dict keys and list indices) below ``node``."""
    out = []
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return out
    for k, v in items:
        out.append(prefix + (k,))
        out.extend(_paths(v, prefix + (k,)))
    return out


def _dict_paths(raw) -> list[tuple]:
    return [p for p in _paths(raw) if isinstance(_get(raw, p), dict)] + [()]


def _draw_path(draw, raw) -> tuple:
    """A path below ``raw``, deepest paths first: the strategy prefers early choices, and a
    broken ``name`` (checked first) would hide every other mutation of the example."""
    return draw(st.sampled_from(sorted(_paths(raw), key=lambda p: -len(p))))


def _get(raw, path):
    for k in path:
        raw = raw[k]
    return raw


def _set(raw, path, value):
    _get(raw, path[:-1])[path[-1]] = value


def _delete(raw, path):
    parent = _get(raw, path[:-1])
    del parent[path[-1]]


def _under_structure_D0(raw, path) -> bool:
    """Inside a D0 = {lattice/structure ...} table: the structure estimate runs on it."""
    return len(path) >= 3 and path[:2] == ("model", "D0") and isinstance(_get(raw, ("model", "D0")), dict)


def _known_fields() -> set[str]:
    from fem_spin.optics import OpticsConfig

    classes = [*C._MODELS.values(), *C._GEOMETRIES.values(), C.TimeConfig, C.SolverConfig,
               C.OutputConfig, OpticsConfig]
    return {"type"} | {f.name for cls in classes for f in dataclasses.fields(cls)}


KNOWN_FIELDS = _known_fields()

# --------------------------------------------------------------------------- bad values
SPECIAL_NUMBERS = [0, -1, 1, 0.0, -0.0, -1.0, 1.0, math.nan, -math.nan, math.inf, -math.inf, 1e308,
                   -1e308, 5e-324, 1e-300, 1e300, 2**63, -2**63 - 1, 2**64, 10**400, -10**400]
SPECIAL_STRINGS = ["", " ", "x" * 10_000, "µ∂ℏ Ω ☃", "a\nb", "cr\rlf", "nul\x00", "\u2028",
                   "\t", "40 mM", "1e999 mM", "nan mM", "-1 mM", "0 cm^-3", "1e-400 mM", "5 furlongs",
                   "inf", "nan", "-inf", "true", "1e-16", "[1, 2]", "~nosuchuser/x.cif",
                   "../../etc/passwd", "/", ".", "..", "type", "box", "nuclear_diffusion", "sample",
                   "source", "F1", "none", "global", "local", "parallel"]
DATES = [datetime.date(2024, 2, 29), datetime.datetime(1979, 5, 27, 7, 32),
         datetime.datetime(1979, 5, 27, 7, 32, tzinfo=datetime.timezone.utc), datetime.time(7, 32)]

numbers = st.one_of(st.sampled_from(SPECIAL_NUMBERS), st.integers(-5, 5),
                    st.floats(allow_nan=True, allow_infinity=True))
strings = st.one_of(st.sampled_from(SPECIAL_STRINGS), st.text(max_size=12))
scalars = st.one_of(st.booleans(), st.none(), numbers, strings, st.sampled_from(DATES))
keys = st.one_of(st.text(min_size=0, max_size=10), st.sampled_from(sorted(KNOWN_FIELDS)))
vectors = st.lists(st.one_of(numbers, st.booleans()), max_size=5)
matrices = st.lists(st.lists(numbers, max_size=4), max_size=4)            # ragged too
values = st.recursive(
    scalars | vectors | matrices,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=8)
# Inside a D0 structure table only bounded bad numbers: the estimate sums over the lattice, and
# (valid) small abundances or big cutoffs are legitimately slow.
structure_values = st.one_of(st.booleans(), st.none(), st.sampled_from(SPECIAL_NUMBERS), strings,
                             st.sampled_from(DATES), st.lists(st.sampled_from(SPECIAL_NUMBERS), max_size=4),
                             st.dictionaries(st.text(max_size=5), st.integers(-2, 2), max_size=2))
unknown_keys = st.text(min_size=1, max_size=12).filter(lambda k: k not in KNOWN_FIELDS | TOP_KEYS)
type_names = st.one_of(st.sampled_from(["", "Box", "box ", "spin_soup", "nuclear-diffusion", "file.msh"]),
                       st.text(max_size=10))


@dataclasses.dataclass
class Mutation:
    op: str
    path: tuple
    value: object = None

    def section(self):
        return self.path[0] if self.path else None


@st.composite
def mutated_configs(draw):
    """(seed name, mutated raw dict, list of mutations)."""
    seed = draw(st.sampled_from(sorted(SEEDS)))
    raw = copy.deepcopy(SEEDS[seed])
    done = []
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["replace", "replace", "replace", "delete", "add", "type", "swap",
                                   "sweep"]))
        paths = _paths(raw)
        if op == "replace" and paths:
            path = _draw_path(draw, raw)
            value = draw(structure_values if _under_structure_D0(raw, path) else values)
            _set(raw, path, value)
        elif op == "delete" and paths:
            path = _draw_path(draw, raw)
            _delete(raw, path)
            value = None
        elif op == "add":
            parent = draw(st.sampled_from(_dict_paths(raw)))
            key = draw(unknown_keys)
            if key in _get(raw, parent):
                continue
            value = draw(structure_values if parent[:2] == ("model", "D0") else values)
            path = parent + (key,)
            _set(raw, path, value)
        elif op == "type":
            targets = [p for p in (("geometry",), ("model",), ("model", "cell_geometry"))
                       if _is_table(raw, p)]
            if not targets:
                continue
            parent = draw(st.sampled_from(targets))
            value = draw(st.one_of(st.sampled_from(model_types() + geometry_types()), type_names))
            path = parent + ("type",)
            _set(raw, path, value)
        elif op == "swap":
            section = draw(st.sampled_from(["geometry", "model", "time"]))
            other = SEEDS[draw(st.sampled_from(sorted(SEEDS)))]
            path = (section,)
            value = copy.deepcopy(other.get(section))
            if value is None:
                raw.pop(section, None)
            else:
                raw[section] = value
        elif op == "sweep":
            two_level = [p for p in paths if len(p) == 2 and p[0] in ("geometry", "model", "time",
                                                                       "solver", "output")]
            dotted = draw(st.one_of(
                st.sampled_from([f"{a}.{b}" for a, b in two_level] or ["model.D0"]),
                st.sampled_from(["model", "sweep.x", "name.x", "bogus.x", ".x", "model.", ""]),
                st.text(max_size=10)))
            swept = draw(st.one_of(st.lists(values, max_size=4), values))
            sweep = raw.get("sweep")
            if not isinstance(sweep, dict):
                sweep = raw["sweep"] = {}
            sweep[dotted] = swept
            path, value = ("sweep", dotted), swept
        else:
            continue
        done.append(Mutation(op, path, value))
    return seed, raw, done


def _is_table(raw, path) -> bool:
    try:
        return isinstance(_get(raw, path), dict)
    except (KeyError, IndexError, TypeError):
        return False


# --------------------------------------------------------------------------- the property
def check_outcome(raw: dict, mutations: list[Mutation]) -> ConfigError | None:
    """parse_config either accepts ``raw`` or raises a one-line ConfigError naming a key;
    anything else propagates (and fails the test with its traceback). No warning either: on
    the command line it would add lines to the one-line message."""
    error = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            cfg = parse_config(raw, source=SOURCE)
        except ConfigError as exc:
            error = exc
    shown = [w for w in caught if not issubclass(w.category, (DeprecationWarning,
                                                                PendingDeprecationWarning))]
    assert not shown, [f"{w.filename}:{w.lineno}: {w.category.__name__}: {w.message}" for w in shown]
    if error is None:
        assert isinstance(cfg, RunConfig)
        _assert_finite(cfg)
        return None
    line = str(error)
    assert line.startswith(f"{SOURCE}: "), line
    assert len(line.splitlines()) == 1 and "\n" not in line and "\r" not in line, repr(line)
    assert line.isprintable(), repr(line)
    assert error.key, f"no key named: {line!r}"
    assert error.message, line
    top = error.key.split(".", 1)[0]
    added_top = {m.path[0] for m in mutations if m.op == "add" and len(m.path) == 1}
    assert top in TOP_KEYS or error.key in added_top, f"key {error.key!r} is no configuration key: {line!r}"
    if len(mutations) == 1:
        _check_key_names_mutation(error, mutations[0], line)
    return error


def _assert_finite(cfg: RunConfig) -> None:
    """An accepted configuration holds no inf (but where it means "none") and no implausible
    length: they used to pass here and fail later, inside gmsh or a solver."""
    for section in (cfg.geometry, cfg.model, cfg.time, cfg.solver, cfg.output):
        if section is None:
            continue
        for f in dataclasses.fields(section):
            value = getattr(section, f.name, None)
            numbers = [v for v in C._each(value) if isinstance(v, float)]
            if not f.metadata.get("allow_inf", False):
                assert all(math.isfinite(v) for v in numbers), (f.name, value)
            if f.metadata.get("unit") == "m":
                assert C._length_range(value) is None, (f.name, value)


def _check_key_names_mutation(exc: ConfigError, m: Mutation, line: str) -> None:
    """A single mutation: the error names the mutated key, or one of the sections it is
    checked against (geometry, model and time check each other)."""
    key, section = exc.key, m.section()
    if m.op == "add" and len(m.path) == 1:
        assert key == m.path[0], line                          # unknown top-level key
    elif m.op == "add" and len(m.path) == 2 and section in ("geometry", "model", "time", "solver",
                                                            "output"):
        assert key == f"{section}.{m.path[1]}", line           # unknown key in a section
    elif section in ("solver", "output", "name"):
        assert key == section or key.startswith(section + "."), line
    elif section in ("geometry", "model", "time"):
        assert key.split(".", 1)[0] in ("geometry", "model", "time"), line


def _numeric_leaves(raw) -> list[tuple]:
    return [p for p in _paths(raw) if isinstance(_get(raw, p), (int, float))
            and not isinstance(_get(raw, p), bool) and p[:2] != ("solver", "petsc_options")]


@st.composite
def renumbered_configs(draw):
    """Numbers replaced by other numbers (extreme, negative, zero, NaN, inf, huge integers):
    the types stay right, so the examples reach the value checks and the cross-section
    checks (__post_init__, check_against) instead of stopping at a type error."""
    seed = draw(st.sampled_from(sorted(SEEDS)))
    raw = copy.deepcopy(SEEDS[seed])
    leaves = _numeric_leaves(raw)
    done = []
    for path in draw(st.lists(st.sampled_from(leaves), min_size=1, max_size=3, unique=True)):
        value = draw(st.sampled_from(SPECIAL_NUMBERS) if _under_structure_D0(raw, path) else
                     st.one_of(numbers, st.builds(lambda x, f: x * f, st.floats(),
                                                  st.sampled_from([1e-9, 1e-6, 1e3, 1e9]))))
        _set(raw, path, value)
        done.append(Mutation("replace", path, value))
    return seed, raw, done


FUZZ = settings(max_examples=1000, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])


@FUZZ
@given(mutated_configs())
def test_fuzzed_configs_never_crash(case):
    _seed, raw, mutations = case
    check_outcome(raw, mutations)


@FUZZ
@given(renumbered_configs())
def test_fuzzed_numbers_never_crash(case):
    _seed, raw, mutations = case
    check_outcome(raw, mutations)




def _dotted(path) -> str:
    return ".".join(str(k) for k in path if not isinstance(k, int))


@pytest.mark.parametrize("name", sorted(SEEDS))
@pytest.mark.parametrize("bad", [math.nan, "nan", True, None, [1.0, 2.0], {"x": 1}],
                         ids=["nan", "str", "bool", "none", "list", "table"])
def test_every_number_rejects_nan_and_wrong_types(name, bad):
    """Every number of every seed (PETSc options pass through) rejects NaN and values of the
    wrong type, naming its own key (a list element: the list; a sweep: the swept key)."""
    seed = SEEDS[name]
    for path in _numeric_leaves(seed):
        raw = copy.deepcopy(seed)
        _set(raw, path, bad)
        if bad is not math.nan and _accepts_any(raw, path):
            continue
        with pytest.raises(ConfigError) as info:
            parse_config(raw, source=SOURCE)
        err = info.value
        check_outcome(raw, [Mutation("replace", path, bad)])
        dotted = path[1] if path[0] == "sweep" else _dotted(path)
        if bad is None:  # None is "not given": a default, or another key's error in the section
            assert err.key.split(".", 1)[0] == dotted.split(".", 1)[0], (path, str(err))
        else:  # the key itself, its list or table, or a key inside a table put in its place
            assert (err.key == dotted or dotted.startswith(err.key + ".")
                    or err.key.startswith(dotted + ".")), (path, str(err))


def _accepts_any(raw, path) -> bool:
    """Fields whose type admits more than a number: e.g. a float | None, a density given as a
    number or a string; a wrong type there is no error if the value still validates."""
    try:
        parse_config(copy.deepcopy(raw), source=SOURCE)
    except ConfigError:
        return False
    return True


def test_checks_reject_nan():
    for check in (positive, non_negative, polarization, in_range(0.0, 1.0)):
        assert check(math.nan), check
        assert check([1.0, math.nan]), check


# --------------------------------------------------------------------------- the command line
VALID_TOML = """name = "fuzzcli"
[geometry]
type = "box"
size = [1e-7, 1e-8, 1e-8]
cells = [4, 1, 1]
[model]
type = "nuclear_diffusion"
D0 = {D0}
[time]
t_end = {t_end}
[output]
plot = false
render = false
"""

CLI_CASES = {
    "syntax.toml": b"[model\nD0 = 1\n",
    "binary.toml": bytes(range(256)) * 8,
    "utf16.toml": VALID_TOML.format(D0="1e-16", t_end="1.0").encode("utf-16"),
    "empty.toml": b"",
    "wrong_type.toml": VALID_TOML.format(D0='"fast"', t_end="1.0").encode(),
    "nan.toml": VALID_TOML.format(D0="nan", t_end="1.0").encode(),
    "huge_int.toml": VALID_TOML.format(D0="1e-16", t_end="1" + "0" * 400).encode(),
    "huge_digits.toml": VALID_TOML.format(D0="1e-16", t_end="1" + "0" * 5000).encode(),
    "newline_key.toml": (VALID_TOML.format(D0="1e-16", t_end="1.0")
                         + '[solver]\n"a\\nb\\u0000c" = 1\n').encode(),
    "unknown_top.toml": (b'bogus = 1\n' + VALID_TOML.format(D0="1e-16", t_end="1.0").encode()),
    "bad_sweep.toml": (VALID_TOML.format(D0="1e-16", t_end="1.0")
                       + '[sweep]\n"model.speedup" = ["none", 7]\n').encode(),
}


@serial_only()
def test_cli_rejects_fuzzed_files_in_one_line(tmp_path):
    """``fem-spin run`` on bad files: exit 2, one line ``fem-spin: error: FILE: ...`` on stderr,
    no traceback, nothing written. The processes run side by side to keep this quick."""
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    for key in list(env):
        if key.startswith(("OMPI_COMM_WORLD", "PMIX_", "PMI_")):
            env.pop(key)
    procs = {}
    for name, content in CLI_CASES.items():
        path = tmp_path / name
        path.write_bytes(content)
        out = tmp_path / f"out_{path.stem}"
        procs[name] = (out, subprocess.Popen(
            [sys.executable, "-m", "fem_spin", "run", str(path), "--output-dir", str(out)],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            errors="replace"))
    failures = []
    for name, (out, proc) in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        lines = stderr.strip().splitlines()
        ok = (proc.returncode == 2 and len(lines) == 1 and "Traceback" not in stderr
              and lines[0].startswith(f"fem-spin: error: {tmp_path / name}: ")
              and (not out.exists() or not any(out.iterdir())))
        if not ok:
            failures.append(f"{name}: exit {proc.returncode}, stderr {stderr!r}")
    assert not failures, "\n".join(failures)
