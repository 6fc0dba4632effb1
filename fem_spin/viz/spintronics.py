"""Plots and 3-D pictures of stationary spin-transport runs (valet_fert, physics.md 3).

* :func:`plot_spin_valve_results`: Hanle curves R(B) when a run solved several fields, and
  Delta R against the swept parameter of a [sweep] (with the Takahashi–Maekawa thin-wire
  formula beside it when the geometry is a lateral spin valve).
* :func:`render_spin_accumulation`: the device coloured by the spin accumulation, whole
  and around the junctions with streamlines of the spin current (pyvista, off-screen).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from fem_spin.viz.plots import place_legend, save_figure

__all__ = ["plot_spin_valve_results", "plot_hanle", "plot_sweep", "render_spin_accumulation",
           "render_spin_components", "render_current_streamlines", "render_valet_fert",
           "current_streamlines", "dominant_spin_component", "is_vector_spin_run"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _read_results(directory: Path) -> dict[str, np.ndarray] | None:
    """results.csv with the configuration column kept as strings."""
    import csv

    path = directory / "results.csv"
    if not path.exists():
        return None
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return None
    out = {key: np.array([r[key] for r in rows]) for key in rows[0]}
    for key in out:
        if key != "configuration":
            out[key] = out[key].astype(float)
    return out


def plot_hanle(dirs: dict[str, Path], png: Path) -> Path | None:
    """R(B) per configuration and run; None unless some run solved more than one field."""
    data = {label: _read_results(d) for label, d in dirs.items()}
    data = {k: v for k, v in data.items() if v is not None and len(np.unique(v["field_T"])) > 1}
    if not data:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    for label, r in data.items():
        for conf in np.unique(r["configuration"]):
            keep = r["configuration"] == conf
            order = np.argsort(r["field_T"][keep])
            name = f"{label}, {conf}" if len(data) > 1 else conf
            ax.plot(1e3 * r["field_T"][keep][order], 1e3 * r["resistance_ohm"][keep][order], "o-", ms=3,
                    label=name)
    ax.axhline(0.0, color="0.5", lw=0.8)
    ax.set_xlabel("perpendicular field B (mT)")
    ax.set_ylabel("nonlocal resistance R_NL (mΩ)")
    ax.set_title("Hanle precession")
    ax.grid(True, alpha=0.3)
    place_legend(ax)
    return save_figure(fig, png)


def plot_sweep(dirs: dict[str, Path], sweep: dict, png: Path) -> Path | None:
    """Delta R (and the Takahashi–Maekawa value) against the first swept parameter."""
    if not sweep or len(dirs) < 2:
        return None
    key = next(iter(sweep))
    x = np.asarray(sweep[key], dtype=float)
    summaries = [json.loads((d / "summary.json").read_text()) for d in dirs.values()
                 if (d / "summary.json").exists()]
    if len(summaries) != len(x) or not all("delta_R_ohm" in s for s in summaries):
        return None
    fem = np.array([s["delta_R_ohm"] for s in summaries])
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    scale = 1e6 if key.endswith(("separation", "thickness", "width", "length")) else 1.0
    unit = " (µm)" if scale == 1e6 else ""
    ax.semilogy(x * scale, 1e3 * np.abs(fem), "o", label="fem_spin (3-D)")
    if all("delta_R_takahashi_maekawa_ohm" in s for s in summaries):
        tm = np.array([s["delta_R_takahashi_maekawa_ohm"] for s in summaries])
        ax.semilogy(x * scale, 1e3 * np.abs(tm), "-", label="Takahashi-Maekawa (thin wire)")
    ax.set_xlabel(key + unit)
    ax.set_ylabel("|Delta R_NL| = |R_P - R_AP| (mΩ)")
    ax.grid(True, which="both", alpha=0.3)
    place_legend(ax)
    return save_figure(fig, png)


def plot_spin_valve_results(dirs: dict[str, Path], out: Path, sweep: dict) -> list[Path]:
    pngs = [plot_hanle(dirs, Path(out) / "hanle.png"), plot_sweep(dirs, sweep, Path(out) / "delta_R_sweep.png")]
    return [p for p in pngs if p is not None]


def render_spin_accumulation(run_dir: str | Path, png: str | Path | None = None, title: str = "",
                             snapshot: int = 0) -> Path:
    """The device coloured by the spin accumulation (uV): top view, and a zoom on the junctions
    with streamlines of the (collinear) spin current. The collinear (signed) accumulation uses
    a diverging map centred on zero; a vector one (precession) is drawn as its magnitude.
    Flat colours, lengths on the edges, the colour bar in a column of its own."""
    from fem_spin.viz.render import _plotter, _pyvista, add_colour_bar, add_length_axes, add_scalar_mesh
    from fem_spin.viz.scales import colour_scale

    pv = _pyvista()
    run_dir = Path(run_dir)
    # the pieces of an MPI run merged: no inner surface at the partition boundary
    grid, unit = _read_snapshot(run_dir, snapshot)
    mu_s = np.asarray(grid.point_data["spin_accumulation"])
    if mu_s.ndim == 2:  # vector spin accumulation: draw its magnitude
        name = "|spin accumulation| (uV)"
        grid.point_data[name] = 1e6 * np.linalg.norm(mu_s, axis=1)
        cmap, clim = colour_scale(grid.point_data[name], "magnitude", cmap="magma", include_zero=True)
    else:
        name = "spin accumulation (uV)"
        grid.point_data[name] = 1e6 * mu_s
        cmap, clim = colour_scale(grid.point_data[name], name)
    # Zoom on the junctions: the part of the device under its top-most structures
    # (the electrodes of a lateral valve), widened by their own extent.
    z = grid.points[:, 2]
    top = grid.points[z > z.min() + 0.7 * (z.max() - z.min())]
    x0, x1 = top[:, 0].min(), top[:, 0].max()
    pad = 0.5 * (x1 - x0)
    bounds = list(grid.bounds)
    zoom = grid.clip_box([x0 - pad, x1 + pad, *bounds[2:]], invert=False)
    plotter = _plotter(shape=(2, 2), groups=[(np.s_[:], 1)], col_weights=[1.0, 0.2],
                       window_size=(1550, 1000))
    plotter.subplot(0, 0)
    actor = add_scalar_mesh(plotter, grid.copy(), name, cmap, clim)
    plotter.add_text(f"{title}: whole device, top view".strip(": "), font_size=11)
    plotter.view_xy()
    add_length_axes(plotter, grid.bounds, unit, font_factor=0.8)
    plotter.subplot(1, 0)
    add_scalar_mesh(plotter, zoom.copy(), name, cmap, clim, opacity=0.4)
    current = np.asarray(grid.point_data["spin_current"]) if "spin_current" in grid.point_data else None
    if current is not None and np.abs(current).max() > 0:
        # seeds on a line through the lower part of the device (the N strip of a valve)
        zs = z.min() + 0.25 * (z.max() - z.min())
        ym = float(np.median(grid.points[z <= zs, 1]))
        source = pv.Line((x0 - pad, ym, zs), (x1 + pad, ym, zs), resolution=40)
        lines = grid.copy().streamlines_from_source(source, vectors="spin_current",
                                                    max_time=4 * (bounds[1] - bounds[0]),
                                                    integration_direction="both")
        if lines.n_points:
            lines = lines.clip_box([x0 - pad, x1 + pad, *bounds[2:]], invert=False)
        if lines.n_points:
            plotter.add_mesh(lines, color="black", line_width=2, show_scalar_bar=False)
    plotter.add_text("around the junctions (translucent colours): spin-current lines (black)",
                     font_size=11)
    plotter.camera_position = "iso"
    plotter.camera.elevation = 20
    plotter.add_mesh(zoom.outline(), color=(0.6, 0.6, 0.6), line_width=1.0)
    add_length_axes(plotter, zoom.bounds, unit, font_factor=0.8)
    plotter.subplot(0, 1)
    add_colour_bar(plotter, actor, name, clim, position_x=0.3, width=0.5, position_y=0.2, height=0.6)
    png = Path(png) if png else run_dir / "spin_accumulation_3d.png"
    plotter.screenshot(str(png))
    plotter.close()
    return png


# --------------------------------------------------------------- vector spin accumulation (issue 23)
#: [output] streamlines: the current whose streamlines are drawn for a vector-spin run
STREAMLINE_CHOICES = ("auto", "spin_x", "spin_y", "spin_z", "charge", "none")
#: thin devices are drawn with their thinnest axis stretched until it is at least this fraction
#: of the longest one (at most MAX_STRETCH times), the rulers showing the true lengths
THIN_FRACTION, MAX_STRETCH = 0.25, 25.0


def _read_snapshot(run_dir: Path, snapshot: int):
    """(grid in a length unit, unit) of snapshot ``snapshot`` of ``run_dir/fields.pvd``."""
    from fem_spin.viz.render import _open_fields, _pyvista, linearise, to_length_unit

    pv = _pyvista()
    pvd, reader = _open_fields(Path(run_dir))
    n = len(reader.time_values)
    if not -n <= snapshot < n:
        raise IndexError(f"snapshot {snapshot} of {pvd} does not exist (it has {n}: 0..{n - 1})")
    reader.set_active_time_point(snapshot % n)
    data = reader.read()
    grid = data.combine() if isinstance(data, pv.MultiBlock) else data
    # the pieces of an MPI run repeat their shared boundary points: merged (within 1e-9 of the
    # device's size), so the device has no inner surfaces and streamlines cross the pieces
    grid = grid.clean(tolerance=1e-9)
    return to_length_unit(linearise(grid))


def is_vector_spin_run(run_dir: str | Path, snapshot: int = 0) -> bool:
    """Whether the run wrote a three-component spin accumulation (spin Hall, mixing
    interfaces or precession), read from the header of its first field file."""
    import xml.etree.ElementTree as ET

    run_dir = Path(run_dir)
    pvd = run_dir / "fields.pvd"
    if not pvd.exists():
        return False
    first = next(ET.parse(pvd).getroot().iter("DataSet"), None)
    if first is None:
        return False
    piece = run_dir / first.get("file")
    try:
        for element in ET.parse(piece).getroot().iter():
            if element.get("Name") == "spin_accumulation":
                return element.get("NumberOfComponents") == "3"
    except (ET.ParseError, OSError):
        return False
    return False


def stretch_factor(bounds) -> tuple[tuple[float, float, float], float]:
    """((sx, sy, sz), s): the thinnest axis of ``bounds`` stretched by s (a whole number, 1 when
    the device is not thin) so it is at least THIN_FRACTION of the longest (at most MAX_STRETCH)."""
    extents = [bounds[1] - bounds[0], bounds[3] - bounds[2], bounds[5] - bounds[4]]
    thin = int(np.argmin(extents))
    s = THIN_FRACTION * max(extents) / max(extents[thin], 1e-30)
    s = float(min(MAX_STRETCH, math.ceil(s))) if s > 1.5 else 1.0
    factors = [1.0, 1.0, 1.0]
    factors[thin] = s
    return tuple(factors), s


def _stretch_note(factors) -> str:
    s = max(factors)
    return "" if s == 1 else f"{'xyz'[int(np.argmax(factors))]} stretched x{s:g} for the picture"


def case_label(run_dir: str | Path, snapshot: int) -> str:
    """The solved case of field snapshot ``snapshot`` from results.csv (the cases that wrote
    fields: the first field of each Hanle sweep), e.g. "parallel, m = (1, 0, 0)"; "" if unknown."""
    data = _read_results(Path(run_dir))
    if data is None or "configuration" not in data:
        return ""
    keep = data["field_T"] == data["field_T"][0]
    rows = {key: value[keep] for key, value in data.items()}
    if not -len(rows["configuration"]) <= snapshot < len(rows["configuration"]):
        return ""
    parts = [str(rows["configuration"][snapshot])]
    if "m_x" in rows:
        m = [float(rows[f"m_{a}"][snapshot]) for a in "xyz"]
        parts.append("m = (" + ", ".join(f"{0.0 if abs(c) < 1e-12 else c:.3g}" for c in m) + ")")
    return ", ".join(parts)


def output_option(run_dir: Path, key: str, default):
    """A key of the run's [output] table (its config.toml, or a sweep's above its variant
    directory), else ``default``."""
    import tomllib

    for directory in (run_dir, run_dir.parent):
        try:
            return tomllib.loads((directory / "config.toml").read_text()).get("output", {}).get(key, default)
        except (OSError, tomllib.TOMLDecodeError):
            continue
    return default


def render_spin_components(run_dir: str | Path, png: str | Path | None = None, title: str = "",
                           snapshot: int = 0) -> Path:
    """The three components S_x, S_y, S_z of the vector spin accumulation side by side (uV),
    each clipped through the middle of the device (normal y) on a diverging scale centred on
    zero of its own (the components differ by orders of magnitude: one common scale would show
    the small ones white), its colour bar below it. A thin device is stretched along its
    thinnest axis (said in the title; the rulers give true lengths)."""
    from fem_spin.viz.render import _plotter, add_colour_bar, add_length_axes, add_scalar_mesh
    from fem_spin.viz.scales import DIVERGING

    run_dir = Path(run_dir)
    grid, unit = _read_snapshot(run_dir, snapshot)
    if "spin_accumulation" not in grid.point_data or np.asarray(grid.point_data["spin_accumulation"]).ndim != 2:
        raise KeyError(f"{run_dir}: no vector spin accumulation in fields.pvd")
    factors, _ = stretch_factor(grid.bounds)
    shown = grid.scale(factors, inplace=False)
    spin = 1e6 * np.asarray(grid.point_data["spin_accumulation"], dtype=float)
    plotter = _plotter(shape=(2, 3), row_weights=[1.0, 0.25], window_size=(1700, 640))
    case = case_label(run_dir, snapshot)
    note = "; ".join(p for p in ("cut through the middle (y)", _stretch_note(factors)) if p)
    heading = "\n".join(p for p in ("; ".join(p for p in (title, case) if p), note) if p)
    for k, axis in enumerate("xyz"):
        name = f"S_{axis} (µV)"
        shown.point_data[name] = spin[:, k]
        peak = float(np.abs(spin[:, k]).max()) if spin.size else 0.0
        clim = (-peak, peak) if peak > 0 else (-1.0, 1.0)
        plotter.subplot(0, k)
        cut = shown.clip(normal="y", origin=shown.center, invert=False)
        actor = add_scalar_mesh(plotter, cut, name, DIVERGING, clim)
        plotter.add_mesh(shown.outline(), color="black", line_width=1.5)
        plotter.add_text(f"spin accumulation S_{axis}: max |S_{axis}| = {peak:.3g} µV\n{heading}", font_size=10)
        plotter.camera_position = "iso"
        plotter.camera.azimuth = 200
        plotter.camera.elevation = 10
        add_length_axes(plotter, shown.bounds, unit, font_factor=1.2, stretch=factors)
        plotter.subplot(1, k)
        bar = add_colour_bar(plotter, actor, f"{name}, a scale of its own", clim, vertical=False,
                             position_x=0.1, position_y=0.3, width=0.8, height=0.6, title_font_size=15,
                             label_font_size=13)
        bar.SetTextPositionToPrecedeScalarBar()   # labels below the bar, clear of the title
    png = Path(png) if png else run_dir / "spin_accumulation_components_3d.png"
    plotter.screenshot(str(png))
    plotter.close()
    return png


def dominant_spin_component(grid) -> str:
    """"x", "y" or "z": the spin component whose spin current has the largest volume integral
    of its magnitude (point magnitudes averaged to cells, times the cell volumes)."""
    volumes = np.abs(np.asarray(grid.compute_cell_sizes(length=False, area=False, volume=True)
                                .cell_data["Volume"]))
    totals = {}
    for axis in "xyz":
        field = f"spin_current_{axis}"
        if field not in grid.point_data:
            continue
        probe = grid.copy(deep=False)
        probe.clear_data()
        probe.point_data["m"] = np.linalg.norm(np.asarray(grid.point_data[field]), axis=1)
        cells = np.asarray(probe.point_data_to_cell_data().cell_data["m"])
        totals[axis] = float(cells @ volumes)
    if not totals:
        raise KeyError("no spin_current_x/y/z in the fields")
    return max(totals, key=totals.get)


def current_streamlines(grid, field: str, seeds_along: int = 30, seeds_across: int = 6):
    """Streamlines of the point vector field ``field`` of ``grid`` (coordinates in a length
    unit), seeded on a grid of points over the plane through the middle of the device normal
    to y (across the film: the x-z section), integrated both ways; each line carries the
    field and its magnitude ``|field|``. Seeds outside the device give no line."""
    from fem_spin.viz.render import _pyvista

    pv = _pyvista()
    b = grid.bounds
    dx, dz = b[1] - b[0], b[5] - b[4]
    source = pv.Plane(center=(0.5 * (b[0] + b[1]), 0.5 * (b[2] + b[3]), 0.5 * (b[4] + b[5])),
                      direction=(0.0, 1.0, 0.0), i_size=0.98 * dx, j_size=0.98 * dz,
                      i_resolution=seeds_along, j_resolution=seeds_across)
    if abs(source.bounds[1] - source.bounds[0] - 0.98 * dx) > 1e-6 * dx:   # the plane's axes the other way
        source = pv.Plane(center=source.center, direction=(0.0, 1.0, 0.0), i_size=0.98 * dz,
                          j_size=0.98 * dx, i_resolution=seeds_across, j_resolution=seeds_along)
    work = grid.copy(deep=False)
    work.clear_data()
    work.point_data[field] = np.asarray(grid.point_data[field], dtype=float)
    extents = [b[1] - b[0], b[3] - b[2], b[5] - b[4]]
    # steps in lengths, not cell lengths: a cell's length is its diagonal, which on a thin
    # film's flat cells is longer than the film is thick (the lines would leave at once)
    thin = min(extents)
    lines = work.streamlines_from_source(source, vectors=field, integration_direction="both",
                                         max_time=3.0 * float(np.linalg.norm(extents)), step_unit="l",
                                         initial_step_length=thin / 100, min_step_length=thin / 1000,
                                         max_step_length=max(extents) / 100, max_steps=20000,
                                         terminal_speed=0.0)
    if lines.n_points:
        lines.point_data[f"|{field}|"] = np.linalg.norm(np.asarray(lines.point_data[field]), axis=1)
    return lines


def render_current_streamlines(run_dir: str | Path, png: str | Path | None = None, title: str = "",
                               snapshot: int = 0, current: str = "auto") -> Path:
    """Streamlines of a current density over the device, coloured by its magnitude (A/m²):
    ``current`` "auto" (the spin current of the dominant spin component), "spin_x",
    "spin_y", "spin_z" (the flow of x, y or z spins: valet_fert's spin_current_x/y/z, in
    charge units) or "charge". The device is drawn translucent with its edges; a thin one is
    stretched along its thinnest axis (the lines computed in the true geometry, then
    stretched with it)."""
    from fem_spin.viz.render import _plotter, add_colour_bar, add_length_axes, add_scalar_mesh
    from fem_spin.viz.scales import colour_scale

    if current not in STREAMLINE_CHOICES or current == "none":
        raise ValueError(f"current must be one of {', '.join(STREAMLINE_CHOICES[:-1])} (got {current!r})")
    run_dir = Path(run_dir)
    grid, unit = _read_snapshot(run_dir, snapshot)
    if current == "charge":
        field, what = "charge_current", "charge current j"
    else:
        axis = dominant_spin_component(grid) if current == "auto" else current[-1]
        field = f"spin_current_{axis}"
        what = (f"spin current of the {axis} spins J_s,{axis}"
                + (" (the dominant component)" if current == "auto" else ""))
    if field not in grid.point_data:
        raise KeyError(f"no field {field!r} in {run_dir / 'fields.pvd'} (have {list(grid.point_data)})")
    lines = current_streamlines(grid, field)
    factors, _ = stretch_factor(grid.bounds)
    shown = grid.scale(factors, inplace=False)
    magnitude = f"|{field}|"
    name = f"|{'j' if field == 'charge_current' else 'J_s,' + field[-1]}| (A/m²)"
    plotter = _plotter(window_size=(1400, 820), shape=(1, 2), col_weights=[1.0, 0.2])
    plotter.subplot(0, 0)
    plotter.add_mesh(shown.extract_surface(), color=(0.85, 0.85, 0.85), opacity=0.25, lighting=False)
    edges = shown.extract_surface().extract_feature_edges(feature_angle=30.0, boundary_edges=True,
                                                           feature_edges=True, manifold_edges=False,
                                                           non_manifold_edges=False)
    if edges.n_points:
        plotter.add_mesh(edges, color=(0.35, 0.35, 0.35), line_width=1.0)
    actor, name_bar = None, name
    if lines.n_points:
        lines = lines.scale(factors, inplace=False)
        lines.point_data[name] = np.asarray(lines.point_data[magnitude])
        # the lines' own range (a uniform current shows one colour), on a map whose every
        # colour stands out on the white background and the grey device
        cmap, clim = colour_scale(lines.point_data[name], "magnitude", cmap="turbo")
        log = clim[0] > 0 and clim[1] > 100 * clim[0]
        if log:   # a current spread over decades (spin currents decay): a log scale, 4 decades at most
            clim = (max(clim[0], 1e-4 * clim[1]), clim[1])
            name_bar = f"{name}, log scale"
        actor = add_scalar_mesh(plotter, lines, name, cmap, clim, edges=False, line_width=3,
                                render_lines_as_tubes=True, log_scale=log)
    else:
        clim = (0.0, 1.0)
    case = case_label(run_dir, snapshot)
    plotter.add_text(f"streamlines of the {what}\n"
                     + "; ".join(p for p in (title, case, _stretch_note(factors)) if p), font_size=10)
    plotter.camera_position = "iso"
    plotter.camera.azimuth = 200
    plotter.camera.elevation = 15
    add_length_axes(plotter, shown.bounds, unit, font_factor=0.9, stretch=factors)
    plotter.subplot(0, 1)
    if actor is not None:
        add_colour_bar(plotter, actor, name_bar, clim, position_x=0.25, width=0.5, position_y=0.15, height=0.7)
    else:
        plotter.add_text("no streamlines\n(zero current)", font_size=10)
    png = Path(png) if png else run_dir / f"{field}_streamlines_3d.png"
    plotter.screenshot(str(png))
    plotter.close()
    return png


def render_valet_fert(run_dir: str | Path, title: str = "", snapshot: int = 0) -> list[Path]:
    """A valet_fert run's pictures: the spin accumulation (:func:`render_spin_accumulation`);
    for a vector spin accumulation also its three components and the streamlines of the
    current named by the run's ``[output] streamlines`` (default "auto": the spin current of
    the dominant spin component; "none": no streamline picture)."""
    from fem_spin.viz.render import RenderUnavailable

    run_dir = Path(run_dir)
    pngs = [render_spin_accumulation(run_dir, title=title, snapshot=snapshot)]
    if is_vector_spin_run(run_dir):
        current = output_option(run_dir, "streamlines", "auto")
        try:
            pngs.append(render_spin_components(run_dir, title=title, snapshot=snapshot))
            if current != "none":
                pngs.append(render_current_streamlines(run_dir, title=title, snapshot=snapshot,
                                                       current=current))
        except (KeyError, ValueError) as exc:   # fields of an older run, a hand-edited choice
            raise RenderUnavailable(f"{run_dir}: {exc} (drawn: {', '.join(p.name for p in pngs)})") from None
    return pngs
