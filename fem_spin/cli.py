"""``fem-spin`` command line: info, mesh, run, resume, render, show, structure, fit.

Errors the user can fix (configuration, files, existing results) print one line
naming the file and the key and exit non-zero, without a traceback (``--debug``
shows it). Under ``mpirun`` only rank 0 prints.
"""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
from importlib import resources
from pathlib import Path

__all__ = ["main", "default_config_path"]

EXIT_USAGE, EXIT_FAILED, EXIT_PAUSED, EXIT_INTERRUPTED = 2, 3, 4, 130


def default_config_path() -> Path:
    """The embedded configuration ``fem-spin run`` uses without arguments."""
    return Path(str(resources.files("fem_spin") / "configs" / "default.toml"))


def _rank() -> int:
    from mpi4py import MPI

    return MPI.COMM_WORLD.rank


def _error(msg: str) -> None:
    if _rank() == 0:
        print(f"fem-spin: error: {msg}", file=sys.stderr, flush=True)


def cmd_info(args) -> int:
    """The stack as this process loads it (every library imported, so one that is installed
    but fails to load says so), the commit, and the MPI size."""
    from mpi4py import MPI
    import importlib

    importlib.import_module("petsc4py.PETSc")   # loaded, so that the PETSc library is reported

    from fem_spin.provenance import STACK, provenance

    failed = {}
    for module, _ in STACK:
        try:
            __import__(module)
        except ImportError:
            pass   # reported as "not installed" (or "unknown") from its metadata
        except Exception as exc:  # an optional library that fails to load is reported, not fatal
            failed[module] = f"unavailable ({exc.__class__.__name__})"
    info = provenance()
    lines = {"fem_spin": info["fem_spin"],
             "commit": info["commit"] + (" (with uncommitted changes)" if info["dirty"] else ""),
             **info["stack"], **failed, "MPI size": str(MPI.COMM_WORLD.size)}
    if MPI.COMM_WORLD.rank == 0:
        width = max(map(len, lines))
        for k, v in lines.items():
            print(f"{k:<{width}}  {v}")
    return 0


class _VersionAction(argparse.Action):
    """``--version``: computed when asked (reading the checkout's git files and the
    libraries' metadata), not every time the parser is built."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from fem_spin.provenance import version_text

        print(version_text())
        parser.exit()


def _parse_params(items: list[str], source: str) -> dict:
    from fem_spin.config import ConfigError

    params = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(item, "expected KEY=VALUE (TOML value, e.g. size=[1e-7,1e-7,1e-7])",
                              file=source)
        key, value = item.split("=", 1)
        try:
            params[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            params[key.strip()] = value  # a bare string
    return params


def cmd_mesh(args) -> int:
    from fem_spin.config import _GEOMETRIES, build_section, geometry_types
    from fem_spin.config import ConfigError
    from fem_spin.geometry import write_msh

    kinds = [k for k in geometry_types() if _GEOMETRIES[k].gmsh_built]
    if args.geometry not in kinds:
        raise ConfigError("geometry", f"unknown geometry {args.geometry!r} (expected one of "
                                      f"{', '.join(kinds)})", file="command line")
    try:
        geo = build_section(_GEOMETRIES[args.geometry], _parse_params(args.param, "command line"),
                            "geometry")
    except ConfigError as exc:
        exc.file = "command line"
        raise
    out = Path(args.output or f"meshes/{args.geometry}.msh")
    if out.suffix not in (".msh", ".xdmf"):
        raise ConfigError("--output", f"must end in .msh or .xdmf (got {out.name})",
                          file="command line")
    written = [out, out.with_suffix(".h5"), out.with_suffix(".groups.json")] \
        if out.suffix == ".xdmf" else [out]
    existing = [p for p in written if p.exists() or p.is_symlink()]
    if existing and not args.overwrite:
        raise ConfigError("--output", f"{existing[0]} exists; choose another name or pass "
                          f"--overwrite", file="command line")
    _check_mesh_resources(geo, args.force)
    if out.suffix == ".xdmf":
        # gmsh on rank 0, partitioned by dolfinx, written in parallel: read back by any
        # number of ranks without a rank holding the whole mesh
        from fem_spin.geometry import create_mesh, write_xdmf

        write_xdmf(create_mesh(geo), out)
        if _rank() == 0:
            print(f"fem-spin: wrote {out} (+ {out.with_suffix('.groups.json').name})")
        return 0
    if _rank() == 0:
        write_msh(geo.builder(), geo, out)
        print(f"fem-spin: wrote {out}")
    return 0


def _check_mesh_resources(geometry, force: bool) -> None:
    """The memory gmsh would need for the mesh, refused above half the machine's memory (as
    ``fem-spin run`` refuses it) unless ``--force``."""
    from fem_spin.config import ConfigError
    from fem_spin.limits import BASE_BYTES, BYTES_PER_CELL, default_max_memory, estimate_mesh

    mesh = estimate_mesh(geometry)
    if mesh is None or force:
        return
    memory, limit = BASE_BYTES + BYTES_PER_CELL * mesh.cells, default_max_memory()
    if memory > limit:
        raise ConfigError(mesh.key, f"the mesh would have about {mesh.cells:.2g} cells (about "
                          f"{memory:.2g} bytes of memory for gmsh; limit {limit:.2g} bytes = half "
                          f"the machine's memory); coarsen it or pass --force", file="command line")


def cmd_run(args) -> int:
    import dataclasses

    from fem_spin.config import ConfigError, load_config, run_name_problem
    from fem_spin.simulation import run

    if args.name is not None:   # the rule of the TOML name, checked before the file is read
        problem = run_name_problem(args.name)
        if problem:
            raise ConfigError("--name", problem, file="command line")
    if args.max_dofs is not None and not args.max_dofs > 0:
        raise ConfigError("--max-dofs", f"must be > 0 (got {args.max_dofs:g})", file="command line")
    max_memory = None
    if args.max_memory is not None:
        from fem_spin.config import parse_bytes

        try:
            max_memory = parse_bytes(args.max_memory)
        except ValueError as exc:
            raise ConfigError("--max-memory", str(exc), file="command line") from None
    path = Path(args.config) if args.config else default_config_path()
    config = load_config(path)
    if args.name:
        config = dataclasses.replace(config, name=args.name)
    for warning in config.warnings:
        if _rank() == 0:
            print(f"fem-spin: warning: {warning}", file=sys.stderr, flush=True)
    run(config, overwrite=args.overwrite, output_dir=args.output_dir, quiet=args.quiet,
        force=args.force, max_dofs=args.max_dofs, max_memory=max_memory)
    return 0


def cmd_resume(args) -> int:
    from fem_spin.config import ConfigError
    from fem_spin.simulation import resume

    if args.t_end is not None and not (args.t_end > 0 and args.t_end < float("inf")):
        raise ConfigError("--t-end", f"must be a finite time > 0 in s (got {args.t_end:g})",
                          file="command line")
    resume(args.run_dir, quiet=args.quiet, t_end=args.t_end,
           allow_config_change=args.allow_config_change, force=args.force)
    return 0


def _is_spin_transport_run(directory: Path) -> bool:
    """A stationary valet_fert run (its fields are potentials, not a polarization)."""
    import json

    summary = directory / "summary.json"
    if not summary.exists():
        return False
    data = json.loads(summary.read_text())
    # runs written before summary.json had "model_type" name only the section class
    return data.get("model_type", {"ValetFertConfig": "valet_fert"}.get(data.get("model"))) == "valet_fert"


def cmd_render(args) -> int:
    """Pictures of finished runs, each into a NEW file beside the run's own pictures
    (``<field>_t<index>.png``, then ``-2``, ``-3`` ...): nothing is ever overwritten. Every
    snapshot index is checked before anything is drawn."""
    import re

    from fem_spin.config import ConfigError
    from fem_spin.viz.render import render_result, snapshot_count
    from fem_spin.viz.scales import reserve_path

    if _rank() == 0:
        run_dir = Path(args.run_dir)
        if not run_dir.is_dir():
            raise FileNotFoundError(f"{run_dir}: no such run directory")
        pvds = sorted(run_dir.rglob("fields.pvd"))
        if not pvds:
            raise FileNotFoundError(f"{run_dir}: no fields.pvd below it")
        jobs = []
        for pvd in pvds:
            n = snapshot_count(pvd.parent)
            if n == 0:
                raise FileNotFoundError(f"{pvd}: no snapshots in it")
            spin = _is_spin_transport_run(pvd.parent)
            index = args.time_index
            if index is None:
                index = 0 if spin else n // 2
            elif not (0 <= index < n or index == -1):
                raise ConfigError("", f"--time-index {index} is out of range (the run has {n} "
                                  f"snapshot{'s' if n != 1 else ''}: 0..{n - 1}, or -1 for the last)",
                                  file=str(pvd.parent))
            jobs.append((pvd.parent, spin, index % n))
        for directory, spin, index in jobs:
            title = str(directory.relative_to(run_dir.parent))
            field = "spin_accumulation" if spin else re.sub(r"[^A-Za-z0-9_.-]", "_", args.field)
            png = reserve_path(directory, f"{field}_t{index}")
            try:
                if spin:
                    from fem_spin.viz import spintronics

                    spintronics.render_spin_accumulation(directory, png=png, title=title, snapshot=index)
                    if spintronics.is_vector_spin_run(directory):
                        _render_vector_spin(directory, args.field, title, index, reserve_path)
                else:
                    render_result(directory, scalar=args.field, time_index=index, png=png, title=title)
            except KeyError as exc:   # --field names a field the run did not write
                png.unlink(missing_ok=True)
                raise ConfigError("--field", str(exc).strip("'\""), file="command line") from None
            except BaseException:
                png.unlink(missing_ok=True)   # our own empty placeholder, nothing else
                raise
            print(f"fem-spin: wrote {png}")
    return 0


def cmd_show(args) -> int:
    """A finished or stopped run directory summarised in the terminal (fem_spin/show.py)."""
    from fem_spin.show import describe, show

    if _rank() == 0:
        show(args.run_dir)
    else:
        describe(args.run_dir)   # the same error on every rank, so the exit codes agree
    return 0


def _render_vector_spin(directory: Path, field: str, title: str, index: int, reserve_path) -> None:
    """A vector-spin valet_fert run's other pictures (fem_spin/viz/spintronics.py), each into a
    new file: the three components of the spin accumulation, and the streamlines of the
    current ``--field`` names (charge_current, spin_current_x/y/z), else of the run's
    ``[output] streamlines`` choice."""
    from fem_spin.viz import spintronics

    choices = {"charge_current": "charge", **{f"spin_current_{a}": f"spin_{a}" for a in "xyz"}}
    current = choices.get(field) or spintronics.output_option(directory, "streamlines", "auto")
    jobs = [("spin_accumulation_components", spintronics.render_spin_components, {})]
    if current != "none":
        jobs.append((f"{'charge_current' if current == 'charge' else 'spin_current'}_streamlines",
                     spintronics.render_current_streamlines, {"current": current}))
    for stem, draw, extra in jobs:
        png = reserve_path(directory, f"{stem}_t{index}")
        try:
            draw(directory, png=png, title=title, snapshot=index, **extra)
        except BaseException:
            png.unlink(missing_ok=True)   # our own empty placeholder
            raise
        print(f"fem-spin: wrote {png}")


def cmd_fit(args) -> int:
    """Fit the models of a fit file to its datasets (fem_spin/fitting); the results go to
    ``<output-dir or [output] directory>/<name>``, guarded like a run directory."""
    from mpi4py import MPI

    from fem_spin.fitting.config import load_fit_config
    from fem_spin.fitting.driver import FitNotConverged, fit
    from fem_spin.fitting.parallel import check_ranks_per_model

    config = load_fit_config(args.config)
    ranks_per_model = None
    if args.ranks_per_model is not None:
        try:
            value = int(args.ranks_per_model)
        except ValueError:
            value = args.ranks_per_model   # refused below, by name
        ranks_per_model = check_ranks_per_model(value, MPI.COMM_WORLD.size, "--ranks-per-model",
                                                "command line")
    directory = args.output_dir or config.output_directory
    if args.compare:
        return _compare_fits(config, args, directory)
    try:
        result = fit(config, directory=directory, overwrite=args.overwrite, quiet=args.quiet,
                     command=" ".join(["fem-spin", *sys.argv[1:]]), ranks_per_model=ranks_per_model)
    except FitNotConverged as exc:
        _error(str(exc))
        return EXIT_FAILED
    if _rank() == 0:
        for name, e in result.parameters.items():
            print(f"{name} = {e.value:.6g} ± {e.standard_error:.2g} ({100 * e.relative_error:.2g} %)")
        for pair in result.statistics.degenerate:
            print(f"fem-spin: warning: {pair[0]} and {pair[1]} are nearly degenerate "
                  f"(correlation {pair[2]:+.3f}); see fit_report.md", file=sys.stderr)
        print(f"fem-spin: reduced chi^2 = {result.statistics.reduced_chi2:.3g}; results in {result.directory}")
    return 0


def _compare_fits(config, args, directory) -> int:
    """``fem-spin fit FIT.toml --compare KEY=V1,V2,...`` (fitting/compare.py)."""
    from fem_spin.fitting.compare import compare, parse_compare_option

    key, values = parse_compare_option(args.compare)
    comparison = compare(config, key, values, directory=directory, overwrite=args.overwrite,
                         quiet=args.quiet, command=" ".join(["fem-spin", *sys.argv[1:]]))
    if _rank() == 0:
        for f in comparison.fits:
            if f.result is None:
                print(f"{key} = {f.value!s}: failed: {f.failure}")
            else:
                print(f"{key} = {f.value!s}: AIC {f.aic:.5g} (Delta {f.delta_aic:.3g}, weight "
                      f"{f.akaike_weight:.3f}), BIC {f.bic:.5g} (Delta {f.delta_bic:.3g})")
        print(f"fem-spin: {comparison.verdict()}; results in {comparison.directory}")
    return 0 if any(f.result is not None for f in comparison.fits) else EXIT_FAILED


_STRUCTURE_OPTIONS = {"structure": "FILE", "lattice": "--lattice", "lattice_constant": "--a",
                      "species": "--species", "abundance": "--abundance",
                      "other_isotope": "--other-isotope", "field_direction": "--field",
                      "configurations": "--configurations", "seed": "--seed",
                      "cutoff_M2": "--cutoff-m2", "cutoff_D": "--cutoff-d", "block": "--block"}


def cmd_structure(args) -> int:
    from fem_spin.config import ConfigError
    from fem_spin.lattice import estimate_from_spec, write_json

    spec = {"structure": args.cif, "lattice": args.lattice, "lattice_constant": args.a,
            "species": args.species, "abundance": args.abundance,
            "other_isotope": args.other_isotope, "field_direction": args.field,
            "configurations": args.configurations, "seed": args.seed,
            "cutoff_M2": args.cutoff_m2, "cutoff_D": args.cutoff_d, "block": args.block}
    spec = {k: v for k, v in spec.items() if v is not None}
    try:
        est = estimate_from_spec(spec, Path.cwd(), key_prefix="")
    except ConfigError as exc:
        if exc.file is None:  # an option, not the CIF: name the option
            raise ConfigError(_STRUCTURE_OPTIONS.get(exc.key, exc.key), exc.message,
                              file="command line") from None
        raise
    if _rank() == 0:
        print(est.report())
        if args.json:
            print(f"fem-spin: wrote {write_json(est, args.json)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fem-spin", description="Finite-element spin transport "
                                "(nuclear spin diffusion, Onsager transport, spin accumulation).")
    p.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    p.add_argument("--version", action=_VersionAction, help="the fem_spin version, the git commit "
                   "it runs from and the versions of the stack, then exit")
    # --debug is accepted after the subcommand too (every error message suggests it there);
    # SUPPRESS keeps a --debug given before the subcommand from being reset by the subparser
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks of errors")
    # gmsh meshes are cached on disk across runs (fem_spin/geometry/mesh_cache.py)
    for parser, default in ((p, False), (common, argparse.SUPPRESS)):
        parser.add_argument("--no-mesh-cache", action="store_true", default=default,
                            help="mesh with gmsh even if the mesh cache holds the mesh, and store "
                                 "nothing there (same as FEM_SPIN_MESH_CACHE=off)")
    sub = p.add_subparsers(dest="command", required=True)
    _add_parser = sub.add_parser
    sub.add_parser = lambda *a, **k: _add_parser(*a, parents=[common], **k)

    s = sub.add_parser("info", help="versions of the stack and the MPI size")
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("mesh", help="build a named geometry with gmsh and write a .msh (SI metres)")
    s.add_argument("geometry", help="geometry name, e.g. box")
    s.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                   help="geometry parameter (TOML value), repeatable: -p size=[1e-7,1e-7,1e-7]")
    s.add_argument("-o", "--output", help="output .msh (default meshes/<geometry>.msh), or .xdmf "
                   "(written in parallel under mpirun, with NAME.groups.json)")
    s.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    s.add_argument("--force", action="store_true", help="mesh even if the memory estimate "
                   "exceeds half the machine's memory")
    s.set_defaults(func=cmd_mesh)

    s = sub.add_parser("run", help="run a simulation described by a TOML file")
    s.add_argument("config", nargs="?", help="TOML file (default: the embedded demo configuration)")
    s.add_argument("--output-dir", help="parent directory of the run directory (overrides [output])")
    s.add_argument("--name", help="run name (overrides the file's name)")
    s.add_argument("--overwrite", action="store_true", help="replace an existing fem_spin run "
                   "directory (only one fem_spin made, never one in use; the old results stay "
                   "until the new run has been set up)")
    s.add_argument("--max-dofs", type=float, metavar="N", help="refuse runs estimated above N "
                   "degrees of freedom (overrides [limits] max_dofs)")
    s.add_argument("--max-memory", metavar="SIZE", help="refuse runs estimated to need more "
                   "memory: bytes or e.g. '8 GB' (overrides [limits] max_memory; default: half "
                   "the machine's)")
    s.add_argument("--force", action="store_true", help="run even if the resource estimate "
                   "exceeds a limit")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("resume", help="continue a stopped run from its checkpoint (any number "
                       "of ranks)")
    s.add_argument("run_dir", help="the run directory (holds config.toml and checkpoint/)")
    s.add_argument("--t-end", type=float, metavar="T", help="extend the run to T seconds (also a "
                   "completed run, from its final checkpoint)")
    s.add_argument("--allow-config-change", action="store_true", help="resume although "
                   "config.toml was edited since the run started (recorded in summary.json)")
    s.add_argument("--force", action="store_true", help="extend even if the resource estimate "
                   "exceeds a limit")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    s.set_defaults(func=cmd_resume)

    s = sub.add_parser("fit", help="fit physical models to measured curves (a fit file: datasets, "
                       "run files, free parameters, observation model)")
    s.add_argument("config", metavar="FIT.toml", help="the fit file")
    s.add_argument("--output-dir", help="parent directory of the fit directory (overrides the fit "
                   "file's [output] directory)")
    s.add_argument("--overwrite", action="store_true", help="replace an existing fit directory "
                   "(only one fem_spin made)")
    s.add_argument("--ranks-per-model", metavar="N", help="under mpirun: MPI ranks per forward "
                   "model; the ranks are cut into groups of N that run independent forward runs "
                   "at once (default: the fit file's fit.ranks_per_model, 1); must divide the "
                   "number of ranks")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    s.add_argument("--compare", metavar="KEY=V1,V2,...",
                   help="fit once per value of a run key the fit does not vary (e.g. "
                        "model.speedup=none,global,local) and rank the fits by AIC/BIC")
    s.set_defaults(func=cmd_fit)

    s = sub.add_parser("render", help="pyvista picture(s) of a run's fields (off-screen PNG)")
    s.add_argument("run_dir", help="run directory (every fields.pvd below it is drawn)")
    s.add_argument("--field", default="polarization", help="point field to colour by")
    s.add_argument("--time-index", type=int, default=None,
                   help="snapshot index, -1 for the last (default: the middle snapshot)")
    s.set_defaults(func=cmd_render)

    s = sub.add_parser("show", help="summary of a finished or stopped run directory: model, "
                       "headline numbers with error estimates and units, provenance, steps and "
                       "times, sweep variants, where the figures and fields are")
    s.add_argument("run_dir", help="the run directory (holds config.toml and summary.json)")
    s.set_defaults(func=cmd_show)

    s = sub.add_parser("structure", help="spin-diffusion tensor D0 and second moment M2 from a CIF "
                       "or a cubic lattice (physics.md 1.4)")
    s.add_argument("cif", nargs="?", help="CIF file (or give --lattice and --a)")
    s.add_argument("--lattice", help="cubic lattice instead of a CIF: sc, bcc or fcc")
    s.add_argument("--a", type=float, help="cubic lattice constant (m), with --lattice")
    s.add_argument("--species", help="spin species, e.g. 1H, 19F")
    s.add_argument("--abundance", type=float, help="fraction of the element's sites carrying the "
                   "species (default 1)")
    s.add_argument("--other-isotope", help="isotope on the other sites: auto (default), none, or "
                   "e.g. 2H")
    s.add_argument("--field", type=float, nargs=3, metavar=("X", "Y", "Z"),
                   help="field direction in the structure's Cartesian frame (default 0 0 1)")
    s.add_argument("--configurations", type=int, help="random configurations for abundance < 1 "
                   "(default 200)")
    s.add_argument("--seed", type=int, help="random seed (default 0)")
    s.add_argument("--cutoff-m2", type=float, help="M2 summation radius in mean spin spacings "
                   "(default 5)")
    s.add_argument("--cutoff-d", type=float, help="D summation radius in mean spin spacings "
                   "(default 6)")
    s.add_argument("--block", help="CIF data block (default: the first with atom sites)")
    s.add_argument("--json", help="also write every number to this JSON file")
    s.set_defaults(func=cmd_structure)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.no_mesh_cache:
        from fem_spin.geometry import mesh_cache

        mesh_cache.disable()
    from fem_spin.config import ConfigError
    from fem_spin.errors import ModelError
    from fem_spin.io import RunDirectoryExists
    from fem_spin.io.checkpoint import CheckpointError

    try:
        return args.func(args)
    except (ConfigError, ModelError, RunDirectoryExists, FileNotFoundError, CheckpointError) as exc:
        if args.debug:
            raise
        if isinstance(exc, ModelError):  # the physics' error (a mesh group missing, ...): its key
            exc = ConfigError(exc.key or "", exc.message)
        if isinstance(exc, ConfigError) and exc.file is None and getattr(args, "config", None):
            exc.file = args.config   # raised while setting up the run (e.g. by a model), not parsing
        _error(str(exc).strip("'\""))
        return EXIT_USAGE
    except KeyboardInterrupt:
        _error("interrupted; files written so far are closed and readable")
        return EXIT_INTERRUPTED
    except Exception as exc:
        from fem_spin.simulation import Interrupted
        from fem_spin.solvers import SimulationFailed

        if args.debug:
            raise
        from fem_spin.simulation import OutputFailed, Paused, SetupInterrupted

        if isinstance(exc, SetupInterrupted):
            _error(str(exc))
            return EXIT_INTERRUPTED
        if isinstance(exc, OutputFailed):
            _error(f"{exc}; the files written before are closed and readable")
            from fem_spin.io.fields import _UNCLOSED

            if _UNCLOSED:
                # leave without the interpreter's clean-up: a parallel writer that could not
                # close on a full disk would abort the process from its destructor
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(EXIT_FAILED)
            return EXIT_FAILED
        run_dir = getattr(exc, "run_dir", None) or "RUN_DIR"
        if isinstance(exc, Paused):
            _error(f"{exc}; continue with: fem-spin resume {run_dir}")
            return EXIT_PAUSED
        if isinstance(exc, Interrupted):
            if "while drawing the pictures" in str(exc):
                _error(str(exc))
            else:
                _error(f"{exc}; files written so far are closed and readable, the checkpoint "
                       f"resumes the run: fem-spin resume {run_dir}")
            return EXIT_INTERRUPTED
        if isinstance(exc, SimulationFailed):
            _error(f"simulation failed: {exc}; the last good state is in the run's checkpoint")
            return EXIT_FAILED
        from mpi4py import MPI

        print(f"fem-spin: error: {exc.__class__.__name__}: {exc} (run with --debug for the "
              f"traceback)", file=sys.stderr, flush=True)
        if MPI.COMM_WORLD.size > 1:
            # An unexpected error may hit one rank only: stop the others instead of hanging.
            MPI.COMM_WORLD.Abort(EXIT_FAILED)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
