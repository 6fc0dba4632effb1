"""Reading a finished run for :class:`fem_spin.api.Result`: its tables as pandas DataFrames,
a sweep's headline numbers, its fields as pyvista meshes, the run's plots as matplotlib
figures, and the SI unit of each number of summary.json.

Why pandas DataFrames and not xarray: every table a run writes (timeseries.csv,
results.csv, a sweep's headline numbers) is one index (step, case, variant) with columns of
mixed kinds (floats, counters, a configuration name), which is a DataFrame; the plots read
one column against ``t`` and a sweep comparison stacks the variants' tables with a
``variant`` column (:meth:`Result.table` of a sweep), which pandas does with ``concat``
and ``groupby``. xarray pays off for arrays sharing coordinates, but each variant of a
sweep takes its own adaptive time steps: on the two-variant adaptive sweep of
tests/system/test_results.py (measured) the variants share 4 of their 59 + 64 times, so
one (variant, t) array would be 48 % missing values. The N-dimensional data of a run (fields)
are meshes, not grids, and come as pyvista meshes instead. xarray is also not in the
environment, pandas is.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Mapping

__all__ = ["unit_of", "flat_numbers", "headline", "sweep_values", "field_times", "read_field",
           "figures", "render_field", "FieldsNotWritten"]


class FieldsNotWritten(FileNotFoundError):
    """The run wrote no field files (``[output] field_snapshots = 0``, or it stopped first)."""


# --------------------------------------------------------------------------- units
#: suffixes of summary and table keys -> SI unit (the package names numbers by their unit)
_SUFFIX_UNITS = {"_s": "s", "_ohm": "Ω", "_A": "A", "_V": "V", "_m": "m", "_T": "T", "_J": "J",
                 "_K": "K", "_Hz": "Hz", "_m2": "m²", "_m3": "m³", "_W": "W", "_bytes": "B"}
#: names of dimensionless numbers (polarizations, magnetizations over M0, ratios, counts)
_DIMENSIONLESS = re.compile(r"^(P|Pb|M|rho|dipolar|polarization|gmr|relative|fraction|speedup)"
                            r"|_(relative|ratio|fraction|mean|min|max|percent)$|^(steps|cases|dofs|"
                            r"ranks|restarts|newton_iterations|linear_iterations|rejected_steps|"
                            r"steps_above_tolerance)$")
_NAMED_UNITS = {"entropy": "J/K", "t_final": "s", "wall_time_s": "s", "current_A": "A",
                "field_T": "T", "P_inf": "dimensionless"}


def unit_of(key: str) -> str:
    """The SI unit of a number of summary.json or of a table column, by its name: ``"s"`` for
    ``buildup.t63_s`` and ``t50``, ``"Ω"`` for ``delta_R_ohm``, ``"dimensionless"`` for
    polarizations, ratios and counters, ``""`` when the name does not say."""
    name = key.rsplit(".", 1)[-1]
    if name in _NAMED_UNITS:
        return _NAMED_UNITS[name]
    for suffix, unit in _SUFFIX_UNITS.items():
        if name.endswith(suffix):
            return unit
    if re.fullmatch(r"t\d+|t|dt|t_end", name):
        return "s"
    if _DIMENSIONLESS.search(name):
        return "dimensionless"
    return ""


# --------------------------------------------------------------------------- numbers
def flat_numbers(data: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The finite numbers of a nested summary by dotted key (booleans and lists left out)."""
    out: dict[str, float] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flat_numbers(value, f"{name}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[name] = float(value)
    return out


def headline(config, summary: Mapping[str, Any]) -> dict[str, dict]:
    """The run's headline numbers (the model's ``headline_keys``; without those: the final
    observables and the buildup times) as {dotted key: {"value", "unit", and "space"/"time"
    error estimates where summary.json has them}}."""
    numbers = flat_numbers(summary)
    keys: tuple[str, ...] = ()
    try:
        keys = tuple(type(config.model).problem_class.headline_keys)
    except (AttributeError, ImportError):
        pass
    if not keys:
        keys = tuple(k for k in numbers if k.startswith(("final.", "buildup.t"))
                     and not k.startswith("buildup.fit"))
    estimates = summary.get("error_estimate") or {}
    out = {}
    for key in keys:
        if key not in numbers:
            continue
        entry = {"value": numbers[key], "unit": unit_of(key)}
        for part in ("space", "time"):
            value = (estimates.get(key) or {}).get(part)
            if isinstance(value, (int, float)):
                entry[part] = float(value)
        out[key] = entry
    return out


def sweep_values(config, variant_config) -> dict[str, Any]:
    """The swept keys' values of one variant (``[sweep] "model.D0" = [...]`` -> its D0)."""
    out = {}
    for dotted in (config.sweep or {}):
        value: Any = variant_config.raw
        for part in dotted.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        out[dotted] = value
    return out


# --------------------------------------------------------------------------- fields
def _fields_file(directory: Path) -> Path:
    pvd = Path(directory) / "fields.pvd"
    if not pvd.is_file():
        raise FieldsNotWritten(f"{directory}: no field files (fields.pvd): the run wrote no field "
                               f"snapshots ([output] field_snapshots = 0, or it stopped before "
                               f"the first)")
    return pvd


def field_times(directory: Path) -> list[float]:
    """The times of the field snapshots in ``directory/fields.pvd`` (a stationary run: the
    snapshot index of each case that wrote its fields)."""
    import xml.etree.ElementTree as ET

    root = ET.parse(_fields_file(directory)).getroot()
    return sorted({float(d.get("timestep")) for d in root.iter("DataSet")})


def _snapshot_index(times: list[float], t: float | None, index: int | None, where: Path) -> int:
    if t is not None and index is not None:
        raise ValueError("give the snapshot by its time t or by its index, not both")
    if index is not None:
        if not -len(times) <= index < len(times):
            raise IndexError(f"{where}: snapshot {index} does not exist (there are {len(times)}: "
                             f"0..{len(times) - 1})")
        return index % len(times)
    if t is None:
        return len(times) - 1
    for k, time in enumerate(times):
        if abs(time - t) <= 1e-6 * max(abs(t), abs(time), 1e-300):
            return k
    shown = ", ".join(f"{x:.6g}" for x in times)
    raise ValueError(f"{where}: no field snapshot at t = {t:g} s (the snapshots are at {shown} s)")


def read_field(directory: Path, name: str, t: float | None = None, index: int | None = None):
    """The snapshot of the field ``name`` at time ``t`` (a snapshot time, to 1e-6 relative;
    default: the last) or at snapshot ``index``, as a pyvista UnstructuredGrid in metres
    with every field of the snapshot as point data and ``name`` active; its time is in
    ``grid.field_data["t"]``."""
    directory = Path(directory)
    pvd = _fields_file(directory)
    times = field_times(directory)
    k = _snapshot_index(times, t, index, pvd)
    from fem_spin.viz.render import _pyvista

    pv = _pyvista()
    reader = pv.get_reader(str(pvd))
    reader.set_active_time_point(k)
    data = reader.read()
    grid = data.combine() if isinstance(data, pv.MultiBlock) else data
    if name not in grid.point_data:
        raise KeyError(f"no field {name!r} in {pvd} (it has {', '.join(grid.point_data)})")
    grid.set_active_scalars(name)
    grid.field_data["t"] = [times[k]]
    return grid


def render_field(grid, name: str, png: Path, title: str = "") -> Path:
    """An off-screen picture of ``grid`` coloured by ``name``: a 3-D mesh as the run draws it
    (clipped through the centre, fem_spin.viz.render), a 1-D or 2-D one seen from above."""
    import numpy as np

    from fem_spin.viz import render
    from fem_spin.viz.scales import colour_scale

    flat = render.linearise(grid)
    scaled, unit = render.to_length_unit(flat)
    b = scaled.bounds
    t = float(grid.field_data["t"][0]) if "t" in grid.field_data else None
    title = f"{title}  t = {t:.3g} s".strip() if t is not None else title
    if min(b[1] - b[0], b[3] - b[2], b[5] - b[4]) > 0:
        return render.render_dataset(scaled, png, name, title=title, unit=unit)
    values = np.asarray(scaled.point_data[name], float)
    if values.ndim > 1:   # a vector field: its magnitude
        name = f"|{name}|"
        scaled.point_data[name] = values = np.linalg.norm(values, axis=1)
    cmap, clim = colour_scale(values, name)
    plotter = render._plotter(window_size=(1100, 500), **render._bar_column(1, 0.25))
    plotter.subplot(0, 0)
    line = b[3] - b[2] <= 0 and b[5] - b[4] <= 0
    actor = render.add_scalar_mesh(plotter, scaled, name, cmap, clim, edges=not line,
                                   **({"line_width": 12} if line else {}))
    if title:
        plotter.add_text(title, font_size=12)
    plotter.view_xy()
    plotter.camera.zoom(0.85)
    render.add_length_axes(plotter, b, unit)
    plotter.subplot(0, 1)
    render.add_colour_bar(plotter, actor, name, clim)
    plotter.screenshot(str(png))
    plotter.close()
    return png


# --------------------------------------------------------------------------- plots
def figures(config, path: Path, dirs: dict[str, Path]) -> dict[str, Any]:
    """The matplotlib figures the run draws (fem_spin.viz.registry.plot_steps) as {name:
    figure}, name = the PNG's path in the run directory without ``.png``
    (``"P_mean"``, ``"speedup=none/conserved_totals"``); nothing is written."""
    from fem_spin.viz.plots import capture_figures
    from fem_spin.viz.registry import plot_steps

    with capture_figures() as captured:
        for _, draw in plot_steps(config, path, dirs, always=True):
            draw()
    from fem_spin.viz.plots import _pyplot

    out = {}
    for png, fig in captured.items():
        # closed for pyplot (no pile of open figures over many calls); the Figure itself
        # still draws, saves and shows in a notebook
        _pyplot().close(fig)
        try:
            name = str(Path(png).relative_to(path).with_suffix(""))
        except ValueError:
            name = Path(png).stem
        out[name] = fig
    return out
