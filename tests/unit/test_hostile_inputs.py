"""Hostile input, end to end (issue 18): bad run files of every model, command-line misuse,
damaged inputs and resource bombs, each through ``fem-spin`` as a user types it.

For every case: the exit code, one line on stderr (argparse's usage errors: a usage line and
one error line) naming the key or option, no traceback, and nothing changed outside what the
case may change -- in particular a previous run directory and a file beside it stay
byte-identical. The cases run in ONE child process (the package is imported once) under a
memory limit (RLIMIT_AS), so a case that would allocate gigabytes fails here instead of
taking the machine down, and a watchdog names a case that hangs.

Run ``python3 tests/unit/test_hostile_inputs.py OUT.json`` to produce the results by hand.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
# run as a script (the child below), the test tree's helper modules must be importable too
sys.path[:0] = [str(HERE.parent), str(HERE.parent / "unit"), str(HERE.parent / "system")]

#: address-space limit of the child (bytes): far below the machine's memory, far above a
#: small run's needs (dolfinx + PETSc + gmsh map ~1 GB of address space)
MEMORY_LIMIT = 3 << 30
#: seconds one case may take before the watchdog ends the child naming it
CASE_TIMEOUT = 60


@dataclasses.dataclass(frozen=True)
class Case:
    """``args`` (``{W}`` is the case's work directory); ``files``: name -> TOML dict or text or
    bytes written into it first; ``code`` and ``words`` expected; ``may_change``: paths below W
    the case may create or modify (everything else must stay as it was)."""

    args: tuple[str, ...]
    code: int
    words: tuple[str, ...]
    files: tuple = ()
    may_change: tuple[str, ...] = ()
    usage: bool = False      # an argparse usage error: "usage: ..." then one error line


def _seed(name: str) -> dict:
    from test_fuzz_config import SEEDS

    raw = copy.deepcopy(SEEDS[name])
    raw["name"] = "new"
    raw.setdefault("output", {}).update(plot=False, render=False)
    return raw


def _with(seed: str, section: str, **changes) -> dict:
    raw = _seed(seed)
    if section == "":
        raw.update(changes)
    else:
        raw.setdefault(section, {}).update(changes)
    return raw


def _without(seed: str, section: str, key: str | None = None) -> dict:
    raw = _seed(seed)
    if key is None:
        raw.pop(section)
    else:
        raw[section].pop(key)
    return raw


def _run(raw, *extra, code=2, words=(), may_change=()) -> Case:
    return Case(("run", "{W}/run.toml", "--output-dir", "{W}/out", "-q", *extra), code, tuple(words),
                files=(("run.toml", raw),), may_change=tuple(may_change))


CORRUPT_MSH = "$MeshFormat\n4.1 0 8\n$EndMeshFormat\n$Nodes\nthis is not a node block\n"
EMPTY_MSH = "$MeshFormat\n4.1 0 8\n$EndMeshFormat\n"


def _file_mesh(text: str) -> tuple:
    raw = _seed("nd_file")
    raw["geometry"] = {"type": "file", "path": "{W}/mesh.msh"}
    return (("run.toml", raw), ("mesh.msh", text))


def cases() -> dict[str, Case]:
    C: dict[str, Case] = {}
    # ---------------------------------------------------------------- the command line
    C["no subcommand"] = Case((), 2, ("required",), usage=True)
    C["unknown subcommand"] = Case(("fly",), 2, ("invalid choice",), usage=True)
    C["unknown option"] = Case(("run", "--frobnicate"), 2, ("--frobnicate",), usage=True)
    C["run file missing"] = Case(("run", "{W}/nope.toml"), 2, ("nope.toml", "not found"))
    C["run file is a directory"] = Case(("run", "{W}/prev"), 2, ("prev", "directory"))
    C["--name .."] = _run(_seed("nd_box"), "--name", "..", "--overwrite", words=("--name",))
    C["--name escaping"] = _run(_seed("nd_box"), "--name", "x/../../escaped", words=("--name",))
    C["--name hidden"] = _run(_seed("nd_box"), "--name", ".hidden", words=("--name",))
    C["--max-dofs 0"] = _run(_seed("nd_box"), "--max-dofs", "0", words=("--max-dofs",))
    C["--max-memory negative"] = _run(_seed("nd_box"), "--max-memory", "-1", words=("--max-memory",))
    C["--max-dofs not a number"] = Case(("run", "x.toml", "--max-dofs", "many"), 2, ("--max-dofs",),
                                        usage=True)
    C["resume missing directory"] = Case(("resume", "{W}/nowhere"), 2, ("nowhere",))
    C["resume a file"] = Case(("resume", "{W}/sibling.txt"), 2, ("sibling.txt",))
    C["resume a directory fem_spin did not make"] = Case(("resume", "{W}"), 2,
                                                         ("not a fem_spin run directory",))
    C["resume without config.toml"] = Case(("resume", "{W}/prev"), 2, ("config.toml",),
                                           files=(("prev/config.toml", "DELETE"),))
    C["malformed manifest"] = Case(("resume", "{W}/prev", "--t-end", "9"), 2, ("manifest.json",),
                                   files=(("prev/checkpoint/manifest.json",
                                           '{"files": {"state.json": 5}}'),))
    C["overwrite a run holding the user's notebook"] = Case(
        ("run", "{W}/run.toml", "--output-dir", "{W}", "--name", "prev", "--overwrite", "-q"), 2,
        ("did not write", "analysis.ipynb"), files=(("run.toml", _seed("nd_box")),
                                                    ("prev/analysis.ipynb", "{}")))
    C["--name of 240 bytes"] = _run(_seed("nd_box"), "--name", "a" * 240, words=("--name", "bytes"))
    C["--max-memory unit unknown"] = _run(_seed("nd_box"), "--max-memory", "8 parsecs",
                                          words=("--max-memory",))
    C["mesh output of unknown kind"] = Case(("mesh", "box", "-p", "size=[1e-7,1e-7,1e-7]", "-p",
                                             "mesh_size=5e-8", "-o", "{W}/m.txt"), 2, ("--output",))
    C["mesh that would not fit in memory"] = Case(("mesh", "box", "-p", "size=[1,1,1]", "-p",
                                                   "mesh_size=1e-9"), 2, ("geometry.mesh_size",))
    C["resume --t-end negative"] = Case(("resume", "{W}/prev", "--t-end", "-1"), 2, ("--t-end",))
    C["resume --t-end not longer"] = Case(("resume", "{W}/prev", "--t-end", "1"), 2,
                                          ("--t-end", "must exceed"))
    C["resume edited config"] = Case(("resume", "{W}/prev"), 2, ("config.toml", "model.D0"),
                                     files=(("prev/config.toml", "EDIT:D0 = 1e-16=>D0 = 3e-16"),),
                                     may_change=("prev/config.toml",))
    C["resume garbage state.json"] = Case(("resume", "{W}/prev", "--t-end", "9"), 2, ("state.json",),
                                          files=(("prev/checkpoint/state.json", "{{{"),),
                                          may_change=("prev/checkpoint/state.json",))
    C["render missing directory"] = Case(("render", "{W}/nowhere"), 2, ("nowhere",))
    C["render index out of range"] = Case(("render", "{W}/prev", "--time-index", "99"), 2,
                                          ("--time-index", "out of range"))
    C["mesh unknown geometry"] = Case(("mesh", "teapot"), 2, ("geometry", "teapot"))
    C["mesh bad size"] = Case(("mesh", "box", "-p", "size=[-1,1,1]", "-p", "mesh_size=0.1"), 2,
                              ("geometry.size",))
    C["mesh parameter without ="] = Case(("mesh", "box", "-p", "size"), 2, ("size", "KEY=VALUE"))
    # ---------------------------------------------------------------- run directories
    C["overwrite a foreign directory"] = Case(
        ("run", "{W}/run.toml", "--output-dir", "{W}", "--name", "thesis", "--overwrite", "-q"), 2,
        ("not a fem_spin run directory",), files=(("run.toml", _seed("nd_box")),
                                                  ("thesis/chapter1.tex", "\\chapter{One}\n")))
    C["overwrite a file"] = Case(
        ("run", "{W}/run.toml", "--output-dir", "{W}", "--name", "sibling.txt", "--overwrite", "-q"),
        2, ("not a directory",), files=(("run.toml", _seed("nd_box")),))
    C["existing run without --overwrite"] = Case(
        ("run", "{W}/run.toml", "--output-dir", "{W}", "--name", "prev", "-q"), 2, ("--overwrite",),
        files=(("run.toml", _seed("nd_box")),))
    C["output directory below a file"] = Case(
        ("run", "{W}/run.toml", "--output-dir", "{W}/sibling.txt/sub", "-q"), 2, ("not a directory",),
        files=(("run.toml", _seed("nd_box")),))
    C["overwrite with a corrupt mesh keeps the old run"] = Case(
        ("run", "{W}/run.toml", "--output-dir", "{W}", "--name", "prev", "--overwrite", "-q"), 2,
        ("geometry.path", "mesh.msh"), files=_file_mesh(CORRUPT_MSH))
    C["overwrite with a bad PETSc option keeps the old run"] = Case(
        ("run", "{W}/run.toml", "--output-dir", "{W}", "--name", "prev", "--overwrite", "-q"), 2,
        ("solver.petsc_options", "bogus"),
        files=(("run.toml", _with("nd_box", "solver", petsc_options={"pc_type": "bogus"})),))
    # ---------------------------------------------------------------- files that are not run files
    C["not TOML"] = _run("this is = = not toml\n", words=("not valid TOML",))
    C["not UTF-8"] = _run(b"name = \"\xff\xfe\"\n", words=("UTF-8",))
    C["empty file"] = _run("", words=("geometry",))
    C["unknown top-level key"] = _run(_with("nd_box", "", colour="blue"), words=("colour",))
    C["missing [model]"] = _run(_without("nd_box", "model"), words=("model",))
    C["missing [time]"] = _run(_without("nd_box", "time"), words=("time",))
    C["unknown model"] = _run(_with("nd_box", "model", type="spin_ice"), words=("model.type",))
    C["unknown preset"] = _run(_with("nd_box", "", preset="nope"), words=("preset",))
    C["name with a slash"] = _run(_with("nd_box", "", name="a/b"), words=("name",))
    C["integer of 5000 digits"] = _run("name = \"x\"\n[time]\nt_end = " + "9" * 5000 + "\n",
                                       words=("TOML",))
    # ---------------------------------------------------------------- values (nuclear_diffusion)
    C["D0 NaN"] = _run(_with("nd_box", "model", D0=float("nan")), words=("model.D0", "finite"))
    C["D0 1e300"] = _run(_with("nd_box", "model", D0=1e300), words=("model.D0",))
    C["D0 negative"] = _run(_with("nd_box", "model", D0=-1e-16), words=("model.D0",))
    C["D0 a string"] = _run(_with("nd_box", "model", D0="fast"), words=("model.D0",))
    C["speedup unknown"] = _run(_with("nd_box", "model", speedup="warp"), words=("model.speedup",))
    C["polarization 1"] = _run(_with("nd_box_tensor", "model", region_polarization=1.0),
                               words=("model.region_polarization",))
    C["D0 tensor not symmetric"] = _run(
        _with("nd_box_tensor", "model", D0=[[1e-16, 1e-17, 0], [0, 1e-16, 0], [0, 0, 1e-16]]),
        words=("model.D0", "symmetric"))
    C["size wrong length"] = _run(_with("nd_box", "geometry", size=[1e-7, 1e-8]),
                                  words=("geometry.size",))
    C["size a boolean"] = _run(_with("nd_box", "geometry", size=True), words=("geometry.size",))
    C["t_end inf"] = _run(_with("nd_box", "time", t_end=float("inf")), words=("time.t_end",))
    C["dt_initial above t_end"] = _run(_with("nd_box", "time", dt_initial=10.0),
                                       words=("time.dt_initial",))
    C["dt_min above dt_max"] = _run(_with("nd_box_tensor", "time", dt_min=0.5, dt_max=0.1,
                                          dt_initial=0.5), words=("time.dt_min", "dt_max"))
    C["multigrid levels 1"] = _run(_with("nd_box", "solver", multigrid_levels=1),
                                   words=("solver.multigrid_levels",))
    C["sweep of unequal lengths"] = _run(_with("nd_box", "", sweep={"model.D0": [1e-16, 2e-16],
                                                                    "model.R1": [0.0]}),
                                         words=("sweep",))
    C["sweep value invalid"] = _run(_with("nd_box", "", sweep={"model.D0": [1e-16, -1.0]}),
                                    words=("model.D0",))
    # ---------------------------------------------------------------- resources
    C["cells 1e20"] = _run(_with("nd_box", "geometry", cells=[99999999999999999999, 2, 2]),
                           words=("geometry.cells",))
    C["cells 2e9"] = _run(_with("nd_box", "geometry", cells=[2000, 1000, 1000]),
                          words=("geometry.cells",))
    C["box mesh_size 1e-12"] = _run(_with("nd_box_tensor", "geometry", mesh_size=1e-12),
                                    words=("geometry.mesh_size",))
    C["dnp_cube mesh_size_source 1e-13"] = _run(
        _with("default", "geometry", mesh_size_source=1e-13), words=("geometry.mesh_size_source",))
    C["dnp_sphere mesh_size_source tiny"] = _run(
        _with("nd_dnp_sphere", "geometry", mesh_size_source=1e-13),
        words=("geometry.mesh_size_source",))
    C["field_snapshots 1e9"] = _run(_with("nd_box", "output", field_snapshots=10**9),
                                    words=("output.field_snapshots",))
    C["fixed steps of 1e-8 s"] = _run(_with("nd_box", "time", dt_initial=1e-8, adaptive=False),
                                      words=("time.dt_initial",))
    C["t_end 1e30"] = _run(_with("nd_box", "time", t_end=1e30), words=("time",))
    C["--max-dofs below the mesh"] = _run(_seed("nd_box"), "--max-dofs", "10", words=("--max-dofs",))
    C["[limits] max_dofs below the mesh"] = _run(_with("nd_box", "limits", max_dofs=10),
                                                 words=("[limits] max_dofs",))
    # ---------------------------------------------------------------- mesh files and the solver
    C["corrupt mesh file"] = Case(("run", "{W}/run.toml", "--output-dir", "{W}/out", "-q"), 2,
                                  ("geometry.path", "mesh.msh", "run.toml"), files=_file_mesh(CORRUPT_MSH))
    C["mesh file without cells"] = Case(("run", "{W}/run.toml", "--output-dir", "{W}/out", "-q"), 2,
                                        ("geometry.path", "no mesh cells"), files=_file_mesh(EMPTY_MSH))
    C["mesh file missing"] = _run(_with("nd_file", "geometry", path="/nonexistent/mesh.msh"),
                                  words=("geometry.path", "not found"))
    C["mesh file of the wrong kind"] = _run(_with("nd_file", "geometry", path="{W}/sibling.txt"),
                                            words=("geometry.path",))
    C["unknown pc_type"] = _run(_with("nd_box", "solver", petsc_options={"pc_type": "bogus"}),
                                words=("solver.petsc_options", "bogus"))
    C["unknown ksp_type"] = _run(_with("nd_box", "solver", petsc_options={"ksp_type": "bogus"}),
                                 words=("solver.petsc_options", "bogus"))
    # found by the physics while the problem is set up (a ModelError, fem_spin/errors.py): the
    # run's boundary names the key and the run file, as for an error found while parsing
    C["nuclear_diffusion source region not in the mesh"] = _run(
        _with("nd_box", "model", source="continuous", exchange_rate=1e3, source_polarization=0.5,
              source_regions=["nowhere"]),
        words=("run.toml: model.source_regions: ", "no cell group 'nowhere'"))
    C["onsager spin-density region not in the mesh"] = _run(
        _with("onsager_box", "model", spin_density_regions={"nowhere": "4.86e22 cm^-3"}),
        words=("run.toml: model.spin_density_regions: ", "'nowhere'"))
    C["valet_fert contact not on the device"] = _run(
        _with("vf_multilayer", "model", current_contact="nowhere"),
        words=("run.toml: model.current_contact: ", "no surface 'nowhere'"))
    # ---------------------------------------------------------------- other models
    C["dnp_sphere source beyond the cell"] = _run(
        _with("nd_dnp_sphere", "geometry", source_radius=2e-8), words=("source_radius",))
    C["dnp_radial concentration unknown unit"] = _run(
        _with("nd_dnp_radial", "geometry", electron_concentration="40 parsecs"),
        words=("geometry.electron_concentration",))
    C["onsager formulation unknown"] = _run(_with("onsager_box", "model", formulation="magic"),
                                            words=("model.formulation",))
    C["onsager spin density negative"] = _run(_with("onsager_box", "model", spin_density=-1.0),
                                              words=("model.spin_density",))
    C["onsager transport NaN"] = _run(_with("onsager_box", "model", transport_coefficient=float("nan")),
                                      words=("model.transport_coefficient",))
    C["mrfm tip radius negative"] = _run(_with("onsager_mrfm", "geometry", tip_radius=-1e-7),
                                         words=("geometry.tip_radius",))
    C["mrfm mesh 1e-13"] = _run(_with("onsager_mrfm", "geometry", mesh_size_min=1e-13),
                                words=("geometry.mesh_size_min",))
    C["valet_fert with [time]"] = _run(_with("vf_multilayer", "time", t_end=1.0), words=("time",))
    C["valet_fert polarization 1"] = _run(
        _with("vf_multilayer", "model", regions={**_seed("vf_multilayer")["model"]["regions"],
                                                 "F1": {"resistivity": 2e-7,
                                                        "spin_diffusion_length": 1e-8,
                                                        "bulk_polarization": 1.0,
                                                        "magnetization": [0, 0, 1]}}),
        words=("bulk_polarization",))
    C["valet_fert resistivity zero"] = _run(
        _with("vf_multilayer", "model", regions={**_seed("vf_multilayer")["model"]["regions"],
                                                 "N": {"resistivity": 0.0,
                                                       "spin_diffusion_length": 1e-7}}),
        words=("resistivity",))
    C["valet_fert multigrid"] = _run(_with("vf_multilayer", "solver", preconditioner="multigrid"),
                                     words=("solver.preconditioner",))
    C["valet_fert cells_per_layer 1e9"] = _run(
        _with("vf_multilayer", "geometry", cells_per_layer=[10**9, 8, 1, 4]),
        words=("geometry.cells_per_layer",))
    # spin-orbit transport (issue 23): refused before anything runs, naming the key
    vf_regions = _seed("vf_multilayer")["model"]["regions"]
    C["valet_fert spin Hall angle above 1"] = _run(
        _with("vf_multilayer", "model", regions={**vf_regions, "N": {**vf_regions["N"], "spin_hall_angle": 1.5}}),
        words=("run.toml: model.regions.N.spin_hall_angle: ", "<= 1"))
    C["valet_fert spin Hall angle on a ferromagnet"] = _run(
        _with("vf_multilayer", "model", regions={**vf_regions, "F1": {**vf_regions["F1"], "spin_hall_angle": 0.1}}),
        words=("model.regions.F1.spin_hall_angle: ", "magnetized"))
    C["valet_fert mixing interface without magnetization"] = _run(
        _with("vf_multilayer", "model", mixing_interfaces={"top": {"conductance_real": 1e14}}),
        words=("run.toml: model.mixing_interfaces.top.magnetization: ", "required"))
    C["valet_fert negative mixing conductance"] = _run(
        _with("vf_multilayer", "model", mixing_interfaces={"top": {"conductance_real": -1e14,
                                                                   "magnetization": [1, 0, 0]}}),
        words=("model.mixing_interfaces.top.conductance_real: ", ">= 0"))
    C["valet_fert mixing surface not on the device"] = _run(
        _with("vf_multilayer", "model", mixing_interfaces={"nowhere": {"conductance_real": 1e14,
                                                                       "magnetization": [1, 0, 0]}}),
        words=("run.toml: model.mixing_interfaces.nowhere: ", "no surface 'nowhere'"))
    C["valet_fert mixing rotation plane unknown"] = _run(
        _with("vf_multilayer", "model", mixing_interfaces={"top": {"conductance_real": 1e14,
                                                                   "rotation_plane": "xw", "angles": [0]}}),
        words=("model.mixing_interfaces.top.rotation_plane: ",))
    # multi-terminal mode and the metallic mixing layer (note sections 7.1 and 5.2)
    terminal_mode = _seed("vf_multilayer")
    for key in ("current_contact", "ground", "voltage_probes"):
        terminal_mode["model"].pop(key)
    terminal_mode["model"].update(terminals=["bottom", "top"],
                                  measurements=[{"current": ["bottom", "top"], "voltage": ["bottom", "top"]}])
    C["valet_fert measurement on a face that is not a terminal"] = _run(
        {**terminal_mode, "model": {**terminal_mode["model"],
                                    "measurements": [{"current": ["bottom", "side"], "voltage": ["bottom", "top"]}]}},
        words=("run.toml: model.measurements[0].current: ", "'side'"))
    C["valet_fert terminal not on the device"] = _run(
        {**terminal_mode, "model": {**terminal_mode["model"], "terminals": ["bottom", "top", "nowhere"]}},
        words=("run.toml: model.terminals: ", "no surface 'nowhere'"))
    C["valet_fert terminals with a ground"] = _run(
        {**terminal_mode, "model": {**terminal_mode["model"], "ground": "top"}},
        words=("run.toml: model.ground: ", "not used with terminals"))
    C["valet_fert layer mixing conductance negative"] = _run(
        _with("vf_multilayer", "model", regions={**vf_regions, "barrier": {**vf_regions["barrier"],
                                                                           "mixing_conductance": [-1e14, 0]}}),
        words=("run.toml: model.regions.barrier.mixing_conductance: ", ">= 0"))
    C["valet_fert mixing conductance on a bulk region"] = _run(
        _with("vf_multilayer", "model", regions={**vf_regions, "N": {**vf_regions["N"],
                                                                     "mixing_conductance": [1e14, 0]}}),
        words=("model.regions.N.mixing_conductance: ", "interface layers"))
    C["triplet beam larger than nothing"] = _run(_with("triplet_slab", "geometry", beam_diameter=-1.0),
                                                 words=("geometry.beam_diameter",))
    C["triplet mesh 1e-12"] = _run(_with("triplet_slab", "geometry", mesh_size=1e-12,
                                         mesh_size_beam_edge=1e-13),
                                   words=("geometry.mesh_size",))
    C["triplet yield above 1"] = _run(
        _with("triplet_slab", "model", optics={**_seed("triplet_slab")["model"]["optics"],
                                               "triplet_yield": 1.5}),
        words=("triplet_yield",))
    return C


# =========================================================================== the child
def _write(work: Path, name: str, content) -> None:
    from fem_spin.config import dump_toml

    path = work / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, dict):
        text = dump_toml(content).replace("{W}", str(work))
        path.write_text(text)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "DELETE":
        path.unlink()
    elif content.startswith("EDIT:"):
        old, new = content[5:].split("=>")
        path.write_text(path.read_text().replace(old, new))
    else:
        path.write_text(content.replace("{W}", str(work)))


def _tree(root: Path) -> dict[str, str]:
    import hashlib

    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _previous_run(root: Path) -> Path:
    """One finished run, copied into every case's directory as ``prev``."""
    from test_fuzz_config import SEEDS

    from fem_spin.config import dump_toml
    from fem_spin.cli import main

    raw = copy.deepcopy(SEEDS["nd_box"])
    raw["name"] = "prev"
    raw["output"] = {"plot": False, "render": False, "field_snapshots": 2, "progress_interval": 1e9}
    (root / "prev.toml").write_text(dump_toml(raw))
    with contextlib.redirect_stderr(io.StringIO()) as err, contextlib.redirect_stdout(io.StringIO()):
        code = main(["run", str(root / "prev.toml"), "--output-dir", str(root), "-q"])
    assert code == 0, err.getvalue()
    return root / "prev"


def child(out: Path) -> None:
    import resource
    import tempfile

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    from fem_spin.cli import main

    results = {}
    current = {"case": None, "since": time.monotonic()}

    def watchdog():
        while True:
            time.sleep(1)
            if current["case"] and time.monotonic() - current["since"] > CASE_TIMEOUT:
                out.write_text(json.dumps({**results, current["case"]: {"hung": True}}))
                os._exit(97)

    threading.Thread(target=watchdog, daemon=True).start()
    root = Path(tempfile.mkdtemp(prefix="fem_spin_hostile_"))
    prev = _previous_run(root)
    for name, case in cases().items():
        work = root / f"case{len(results)}"
        work.mkdir()
        shutil.copytree(prev, work / "prev")
        (work / "sibling.txt").write_text("a user's file\n")
        for fname, content in case.files:
            _write(work, fname, content)
        before = _tree(work)
        args = [a.replace("{W}", str(work)) for a in case.args]
        current.update(case=name, since=time.monotonic())
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main(args)
            except SystemExit as exc:  # argparse
                code = exc.code
            except BaseException as exc:  # noqa: BLE001 - reported, the test fails on it
                code = f"raised {exc.__class__.__name__}: {exc}"
        after = _tree(work)
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        results[name] = {"code": code, "stderr": err.getvalue(), "changed": changed,
                         "seconds": time.monotonic() - current["since"]}
        current["case"] = None
        shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)
    out.write_text(json.dumps(results, indent=1))


# =========================================================================== the tests
from conftest import _cli_env, serial_only  # noqa: E402

CASES = cases()


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("hostile") / "results.json"
    proc = subprocess.run([sys.executable, __file__, str(out)], env=_cli_env(), capture_output=True,
                          text=True, timeout=900)
    data = json.loads(out.read_text()) if out.exists() else {}
    hung = [k for k, v in data.items() if v.get("hung")]
    assert not hung, f"case {hung[0]!r} did not finish within {CASE_TIMEOUT} s"
    assert proc.returncode == 0, proc.stderr[-3000:]
    return data


def test_at_least_sixty_cases_across_every_model():
    assert len(CASES) >= 60
    seeds = " ".join(str(c.files) for c in CASES.values())
    for model in ("nuclear_diffusion", "onsager_transport", "valet_fert", "triplet_dnp"):
        assert model in seeds, model


@serial_only()
@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_input_is_refused_cleanly(results, name):
    case, got = CASES[name], results[name]
    assert got["code"] == case.code, got
    err = got["stderr"]
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if re.match(r"fem-spin( [a-z]+)?: error: ", ln)]
    if case.usage:
        assert len(errors) == 1 and all(ln.startswith(("usage:", " ")) or ln in errors
                                        for ln in lines), err
    else:
        assert lines == errors and len(errors) == 1, err
    for word in case.words:
        assert word in errors[0], (word, errors[0])
    allowed = set(case.may_change) | {f for f, _ in case.files}
    assert not [p for p in got["changed"] if p not in allowed], got["changed"]


if __name__ == "__main__":
    child(Path(sys.argv[1]))
