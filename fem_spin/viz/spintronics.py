"""Plots and 3-D pictures of stationary spin-transport runs (valet_fert, physics.md 3).

* :func:`plot_spin_valve_results`: Hanle curves R(B) when a run solved several fields, and
  Delta R against the swept parameter of a [sweep] (with the Takahashi–Maekawa thin-wire
  formula beside it when the geometry is a lateral spin valve).
* :func:`render_spin_accumulation`: the device coloured by the spin accumulation, whole
  and around the junctions with streamlines of the spin current (pyvista, off-screen).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from fem_spin.viz.plots import place_legend, save_figure

__all__ = ["plot_spin_valve_results", "plot_hanle", "plot_sweep", "render_spin_accumulation"]


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
    from fem_spin.viz.render import (_open_fields, _plotter, _pyvista, add_colour_bar,
                                     add_length_axes, add_scalar_mesh, linearise, to_length_unit)
    from fem_spin.viz.scales import colour_scale

    pv = _pyvista()
    run_dir = Path(run_dir)
    pvd, reader = _open_fields(run_dir)
    n = len(reader.time_values)
    if not -n <= snapshot < n:
        raise IndexError(f"snapshot {snapshot} of {pvd} does not exist (it has {n}: 0..{n - 1})")
    reader.set_active_time_point(snapshot % n)
    data = reader.read()
    grid = data.combine() if isinstance(data, pv.MultiBlock) else data
    grid, unit = to_length_unit(linearise(grid))
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
