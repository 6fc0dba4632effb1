"""Pictures of triplet-DNP crystal runs (physics.md 1.3): the buildup with its error band
over the beam diameter, and the crystal clipped through the laser beam in 3-D.

Both read a finished run directory (``band.csv``, ``fields.pvd``), so they also work on
runs copied from a cluster. Rendering is off-screen; without pyvista or a display
:class:`~fem_spin.viz.render.RenderUnavailable` is raised and the run is unaffected.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np

__all__ = ["plot_buildup_band", "render_crystal"]


def plot_buildup_band(band_csv: str | Path, png: str | Path, title: str = "",
                      experiment: tuple[np.ndarray, np.ndarray] | None = None) -> Path:
    """Crystal-average polarization vs time: the band between the smallest and largest beam
    diameter (shaded) and the central diameter (line), corrected and uncorrected D."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fem_spin.viz.plots import place_legend, save_figure

    with open(band_csv) as fh:
        header = fh.readline().strip().split(",")
    data = np.loadtxt(band_csv, delimiter=",", skiprows=1, ndmin=2)
    t = data[:, 0]
    fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    styles = {"corrected": ("C3", "D0 / sqrt(1 - Pbar^2) (corrected)"),
              "uncorrected": ("C0", "D0 (uncorrected)")}
    for name, (colour, label) in styles.items():
        cols = [i for i, h in enumerate(header) if h.startswith(name + "_d=")]
        if not cols:
            continue
        values = data[:, cols]
        diameters = [float(header[i].split("=", 1)[1]) for i in cols]
        ax.fill_between(t, values.min(axis=1), values.max(axis=1), color=colour, alpha=0.25, lw=0)
        mid = cols[len(cols) // 2]
        ax.plot(t, data[:, mid], color=colour, lw=1.6,
                label=f"{label}, d = {diameters[len(cols) // 2] * 1e3:.3g} mm "
                      f"(band {min(diameters) * 1e3:.3g}-{max(diameters) * 1e3:.3g} mm)")
    if experiment is not None:
        ax.plot(*experiment, "ko", ms=3, label="experiment")
    ax.set_xlabel("buildup time t (s)")
    ax.set_ylabel("crystal-average 1H polarization, NMR (dimensionless)")
    ax.grid(True, alpha=0.3)
    place_legend(ax)
    if title:
        ax.set_title(title, fontsize=10)
    png = Path(png)
    return save_figure(fig, png)


def _beam_from_config(run_dir: Path) -> tuple[np.ndarray, np.ndarray, str]:
    """(point, direction, profile) of the beam from the run's config.toml (crystal defaults)."""
    for candidate in (run_dir / "config.toml", run_dir.parent / "config.toml"):
        if candidate.exists():
            raw = tomllib.loads(candidate.read_text())
            geometry = raw.get("geometry", {})
            point = np.asarray(geometry.get("beam_point", (0.0, 0.0, 0.0)), float)
            direction = np.asarray(geometry.get("beam_direction", (0.0, 0.0, -1.0)), float)
            profile = raw.get("model", {}).get("optics", {}).get("beam_profile", "top_hat")
            return point, direction / np.linalg.norm(direction), profile
    return np.zeros(3), np.array([0.0, 0.0, -1.0]), "top_hat"


def render_crystal(run_dir: str | Path, png: str | Path | None = None, title: str = "",
                   time_index: int = -1) -> Path:
    """The crystal clipped through the beam axis at one snapshot (default: the last):
    polarization as colour, the beam edge (top-hat: half the maximum excitation; Gaussian:
    1/e^2 of it, on the entrance side where absorption is small) as a contour,
    and the excitation probability in a second panel; flat colours, each colour bar beside
    its panel, lengths on the edges (mm for a mm crystal)."""
    from fem_spin.viz.render import (_open_fields, _plotter, _pyvista, add_colour_bar,
                                     add_length_axes, add_scalar_mesh, linearise, to_length_unit)
    from fem_spin.viz.scales import colour_scale, unit_factor

    pv = _pyvista()
    run_dir = Path(run_dir)
    pvd, reader = _open_fields(run_dir)
    n = len(reader.time_values)
    if not -n <= time_index < n:
        raise IndexError(f"snapshot {time_index} of {pvd} does not exist (it has {n}: 0..{n - 1})")
    reader.set_active_time_point(time_index % n)
    t = reader.active_time_value
    data = reader.read()
    grid = data.combine() if isinstance(data, pv.MultiBlock) else data
    grid, unit = to_length_unit(linearise(grid))
    point, direction, profile = _beam_from_config(run_dir)
    scale = unit_factor(unit)
    # the beam edge r = d/2: half the top-hat step, or 1/e^2 of the Gaussian's peak
    edge_level = 0.5 if profile == "top_hat" else float(np.exp(-2.0))
    # The clip plane contains the beam axis and is as close to vertical as possible.
    normal = np.cross(direction, [0.0, 0.0, 1.0])
    if np.linalg.norm(normal) < 1e-6:
        normal = np.array([0.0, 1.0, 0.0])
    normal /= np.linalg.norm(normal)
    plotter = _plotter(shape=(1, 4), col_weights=[1.0, 0.24, 1.0, 0.24], window_size=(1700, 620))
    clipped = grid.clip(normal=normal, origin=point * scale, invert=False)
    panels = [("polarization", "magma", "P", False), ("excitation_probability", "viridis", "excitation", True)]
    for k, (scalar, cmap, label, from_zero) in enumerate(panels):
        if scalar not in grid.point_data:
            continue
        plotter.subplot(0, 2 * k)
        cmap, clim = colour_scale(grid.point_data[scalar], scalar, cmap=cmap, include_zero=from_zero)
        actor = add_scalar_mesh(plotter, clipped, scalar, cmap, clim)
        if "excitation_probability" in grid.point_data:
            e = np.asarray(grid.point_data["excitation_probability"])
            if e.max() > 0:
                edge = clipped.contour([edge_level * float(e.max())], scalars="excitation_probability")
                if edge.n_points:
                    plotter.add_mesh(edge, color="white", line_width=2)
        plotter.add_mesh(grid.outline(), color="black", line_width=1.5)
        plotter.add_text(f"{label}, t = {t:.4g} s" if k == 0 else label, font_size=11)
        plotter.camera_position = "iso"
        plotter.camera.azimuth = 200
        plotter.camera.elevation = 15
        add_length_axes(plotter, grid.bounds, unit, font_factor=1.1)
        plotter.subplot(0, 2 * k + 1)
        add_colour_bar(plotter, actor, label, clim, position_x=0.1, width=0.7)
    if title:
        plotter.subplot(0, 0)
        plotter.add_text(title, font_size=9, position="lower_left")
    png = Path(png) if png else run_dir / "crystal_3d.png"
    plotter.screenshot(str(png))
    plotter.close()
    return png
