"""``fem-spin show RUN``: a finished (or stopped) run directory summarised in the terminal
with rich tables: the model and status, the headline numbers with their error estimates and
SI units, the provenance (version, commit, stack), time steps and set-up times, a sweep's
variants, and where the figures, fields and tables are.

Only reads: nothing in the run directory is written or changed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

__all__ = ["show", "describe"]

#: the run's counters and times shown under "Run" (summary.json key -> label)
_RUN_KEYS = (("status", "status"), ("t_final", "simulated time (s)"), ("steps", "time steps"),
             ("newton_iterations", "Newton iterations"), ("linear_iterations", "linear iterations"),
             ("rejected_steps", "rejected steps"), ("cases", "cases solved"), ("dofs", "degrees of freedom"),
             ("ranks", "MPI ranks"), ("restarts", "restarts (resumed)"), ("setup_s", "set-up (s)"),
             ("stepping_s", "stepping / solving (s)"), ("wall_time_s", "wall time (s)"),
             ("mesh_cache", "mesh cache"))
#: the libraries shown under "Provenance" (summary.json's provenance.stack has them all)
_STACK_SHOWN = ("dolfinx", "basix", "ufl", "ffcx", "PETSc", "petsc4py", "mpi4py", "numpy", "python")


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:d}" if isinstance(value, int) else f"{value:.6g}"


def describe(run_dir: str | Path) -> dict:
    """What ``show`` prints, as data: {"directory", "result" (fem_spin.api.Result), "runs":
    {label: Result}, "sweep": bool}. FileNotFoundError naming the path for a directory that
    is no run directory or has no summary.json."""
    from fem_spin.api import load

    path = Path(run_dir)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such run directory" if not path.exists()
                                else f"{path}: not a directory")
    if not (path / "config.toml").is_file():
        raise FileNotFoundError(f"{path}: not a run directory (no config.toml)")
    result = load(path)
    runs = result.variants or {result.config.name: result}
    if not any((r.directory / "summary.json").is_file() for r in runs.values()):
        raise FileNotFoundError(f"{path / 'summary.json'}: missing (the run never started, or "
                                f"was killed before writing it)")
    return {"directory": path, "result": result, "runs": runs, "sweep": bool(result.variants)}


def _tables(info: dict) -> list:
    from rich import box
    from rich.table import Table

    from fem_spin.results import field_times, headline, sweep_values, unit_of

    result, runs, path = info["result"], info["runs"], info["directory"]
    first = next((r for r in runs.values() if r.summary), next(iter(runs.values())))
    summary = first.summary
    model = summary.get("model_type") or getattr(result.config.model, "model_type", "?")
    out = []

    title = Table.grid(padding=(0, 2))
    title.add_column(style="bold")
    title.add_column()
    title.add_row("run", f"{result.config.name}  ({path})")
    title.add_row("model", str(model))
    if info["sweep"]:
        title.add_row("sweep", ", ".join(f"{k} = {v}" for k, v in result.config.sweep.items()))
    out.append(title)

    if not info["sweep"]:
        numbers = headline(first.config, first.summary)
        if numbers:
            table = Table(title="Headline numbers", box=box.SIMPLE_HEAD, title_justify="left")
            for name, justify in (("quantity", "left"), ("value", "right"), ("unit", "left"),
                                  ("± space", "right"), ("± time", "right")):
                table.add_column(name, justify=justify)
            for key, entry in numbers.items():
                table.add_row(key, _number(entry["value"]), entry["unit"] or "?",
                              _number(entry["space"]) if "space" in entry else "",
                              _number(entry["time"]) if "time" in entry else "")
            out.append(table)

    if info["sweep"]:
        table = Table(title="Variants: headline numbers (± error estimates where computed)",
                      box=box.SIMPLE_HEAD, title_justify="left")
        # what identifies a row never shrinks away in a narrow terminal; the numbers wrap
        # instead, each error estimate on a line of its own
        table.add_column("variant", no_wrap=True)
        keys = list(result.config.sweep)
        for key in keys:
            table.add_column(key, justify="right", no_wrap=True)
        table.add_column("status", no_wrap=True)
        heads = list(headline(first.config, first.summary))
        for key in heads:
            unit = unit_of(key)
            table.add_column(f"{key} ({unit})" if unit else key, justify="right")

        def cell(entry: dict | None) -> str:
            if entry is None:
                return ""
            errors = "".join(f"\n± {_number(entry[p])} ({p})" for p in ("space", "time") if p in entry)
            return _number(entry["value"]) + errors

        for label, run in runs.items():
            values = sweep_values(result.config, run.config)
            numbers = headline(run.config, run.summary)
            table.add_row(label, *(_number(values[k]) for k in keys),
                          str(run.summary.get("status", "not started")),
                          *(cell(numbers.get(k)) for k in heads))
        out.append(table)

    table = Table(title="Run", box=box.SIMPLE_HEAD, title_justify="left", show_header=info["sweep"])
    table.add_column("")
    for label in runs:
        table.add_column(label if info["sweep"] else "value", justify="right")
    for key, name in _RUN_KEYS:
        cells = [run.summary.get(key) for run in runs.values()]
        if any(c is not None for c in cells):
            table.add_row(name, *("" if c is None else _number(c) for c in cells))
    out.append(table)

    prov = summary.get("provenance") or {}
    table = Table(title="Provenance", box=box.SIMPLE, title_justify="left", show_header=False)
    table.add_column("")
    table.add_column("")
    if prov:
        commit = str(prov.get("commit", "unknown"))
        if prov.get("dirty"):
            commit += " (with uncommitted changes)"
        table.add_row("fem_spin", str(prov.get("fem_spin", "?")))
        table.add_row("commit", commit)
        stack = prov.get("stack", {})
        for name in _STACK_SHOWN:
            if name in stack:
                table.add_row(name, str(stack[name]))
    else:
        from fem_spin.io.rundir import read_marker

        marker = read_marker(path) or {}
        table.add_row("fem_spin", f"{marker.get('fem_spin', '?')} (the run predates the "
                                  f"provenance record: no commit or stack)")
    out.append(table)

    table = Table(title="Files", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("what")
    table.add_column("where")
    pngs = sorted(p.relative_to(path) for p in path.rglob("*.png"))
    if pngs:
        table.add_row("figures", "\n".join(map(str, pngs)))
    for label, run in runs.items():
        d = run.directory
        where = "" if d == path else f"{d.relative_to(path)}/"
        try:
            times = field_times(d)
            unit = "s" if not run.config.model.is_steady() else "(snapshot index)"
            shown = ", ".join(f"{t:.3g}" for t in times[:6]) + (" ..." if len(times) > 6 else "")
            table.add_row("fields", f"{where}fields.pvd (ParaView, pyvista), {where}fields.bp (VTX): "
                                    f"{len(times)} snapshots at {shown} {unit}")
        except (FileNotFoundError, OSError, ValueError):
            table.add_row("fields", f"{where}(none written)")
        tables = [p.name for p in sorted(d.glob("*.csv"))]
        if tables:
            table.add_row("tables", ", ".join(f"{where}{t}" for t in tables))
    table.add_row("in Python", f'fem_spin.load("{path}")')
    out.append(table)
    return out


def show(run_dir: str | Path, file=None) -> None:
    """Print the summary of ``run_dir`` (rich tables; plain text where the output is no
    terminal, e.g. a pipe or a CI log)."""
    from rich.console import Console

    info = describe(run_dir)
    stream = file or sys.stdout
    terminal = hasattr(stream, "isatty") and stream.isatty()
    console = Console(file=stream, width=None if terminal else 120, highlight=False,
                      force_terminal=None if terminal else False)
    for renderable in _tables(info):
        console.print(renderable)

