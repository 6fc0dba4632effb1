"""3-D pictures of field output with pyvista, off-screen (physics fields as colour).

Reads the parallel VTK output (``fields.pvd``) a run wrote, so it works on finished
runs (``fem-spin render RUN_DIR``) as well as at the end of ``fem-spin run``. Needs an
X server or off-screen VTK; ``./fem-env`` supplies Xvfb when there is no display.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["RenderUnavailable", "render_result", "render_dataset", "render_series"]


class RenderUnavailable(RuntimeError):
    """pyvista/VTK cannot render here (not installed, no display)."""


def _pyvista():
    try:
        import pyvista as pv
    except ImportError as exc:  # optional dependency
        raise RenderUnavailable(f"pyvista is not installed ({exc})") from None
    pv.OFF_SCREEN = True
    return pv


# VTK Lagrange cells of degree 1 -> the classic linear cells (same vertex order), which
# VTK's clip and slice filters cut properly.
_LINEAR = {68: (3, 2), 69: (5, 3), 70: (9, 4), 71: (10, 4), 72: (12, 8), 73: (13, 6)}


def linearise(grid):
    """Replace degree-1 VTK Lagrange cells by linear ones (leaves other grids alone)."""
    import numpy as np

    pv = _pyvista()
    types = np.asarray(grid.celltypes)
    if not np.isin(types, list(_LINEAR)).all():
        return grid
    sizes = np.array([_LINEAR[t][1] for t in types])
    offsets = np.concatenate([[0], np.cumsum(sizes + 1)[:-1]])
    counts = np.asarray(grid.cells)[offsets]
    if not np.array_equal(counts, sizes):  # higher-order cells: keep as they are
        return grid
    out = pv.UnstructuredGrid(np.asarray(grid.cells), np.array([_LINEAR[t][0] for t in types],
                                                               dtype=np.uint8), grid.points)
    for name in grid.point_data:
        out.point_data[name] = grid.point_data[name]
    return out


def render_dataset(grid, png: Path, scalar: str, title: str = "", clim=None, clip: bool = True,
                   cmap: str = "magma") -> Path:
    """Clip ``grid`` through its centre (normal -y) and draw ``scalar`` with edges of the box."""
    pv = _pyvista()
    try:
        plotter = pv.Plotter(off_screen=True, window_size=(1200, 900))
    except Exception as exc:  # no display / no off-screen support
        raise RenderUnavailable(f"cannot open an off-screen render window: {exc}") from None
    shown = grid.clip(normal="y", origin=grid.center, invert=False) if clip else grid
    bar = {"title": scalar, "vertical": True, "position_x": 0.85, "position_y": 0.15}
    plotter.add_mesh(shown, scalars=scalar, cmap=cmap, clim=clim, show_edges=False,
                     scalar_bar_args=bar)
    plotter.add_mesh(grid.outline(), color="black", line_width=1.5)
    if title:
        plotter.add_text(title, font_size=12)
    plotter.show_axes()
    plotter.camera_position = "iso"
    plotter.camera.azimuth = 200
    plotter.camera.elevation = 10
    plotter.screenshot(str(png))
    plotter.close()
    return png


def render_result(run_dir: str | Path, scalar: str = "polarization", time_index: int | None = None,
                  png: str | Path | None = None, title: str = "") -> Path:
    """Picture of one snapshot of ``run_dir/fields.pvd`` (default: the middle one, where a
    transport problem usually shows the most structure)."""
    run_dir = Path(run_dir)
    pvd, reader = _open_fields(run_dir)
    n = len(reader.time_values)
    reader.set_active_time_point((n // 2 if time_index is None else time_index) % n)
    t = reader.active_time_value
    grid = _read_grid(reader, pvd, scalar)
    png = Path(png) if png else run_dir / f"{scalar}_3d.png"
    return render_dataset(grid, png, scalar, title=f"{title}  t = {t:.3g} s".strip())


def _open_fields(run_dir: Path):
    """(path, pyvista reader) of a run's ``fields.pvd``."""
    pvd = run_dir / "fields.pvd"
    if not pvd.exists():
        raise FileNotFoundError(f"{pvd} not found (was the run written with VTK output?)")
    return pvd, _pyvista().get_reader(str(pvd))


def _read_grid(reader, pvd: Path, scalar: str):
    pv = _pyvista()
    data = reader.read()
    grid = data.combine() if isinstance(data, pv.MultiBlock) else data
    if scalar not in grid.point_data:
        raise KeyError(f"no field {scalar!r} in {pvd} (have {list(grid.point_data)})")
    bounds = grid.bounds
    if min(bounds[1] - bounds[0], bounds[3] - bounds[2], bounds[5] - bounds[4]) <= 0:
        raise RenderUnavailable("the mesh is not three-dimensional (e.g. the 1-D radial cell)")
    # Coordinates in nm keep VTK's picking and clipping tolerances comfortable.
    return linearise(grid).scale(1e9, inplace=False)


def render_series(run_dir: str | Path, scalar: str = "polarization", count: int = 4,
                  png: str | Path | None = None, title: str = "", cmap: str = "magma") -> Path:
    """``count`` snapshots side by side (log-spaced in the run's snapshot list), each clipped
    through the centre, one colour scale: how the field spreads over time."""
    import numpy as np

    pv = _pyvista()
    run_dir = Path(run_dir)
    pvd, reader = _open_fields(run_dir)
    n = len(reader.time_values)
    picks = sorted({int(round(i)) for i in np.linspace(1 if n > count else 0, n - 1, min(count, n))})
    grids = []
    for i in picks:
        reader.set_active_time_point(i)
        grids.append((reader.active_time_value, _read_grid(reader, pvd, scalar)))
    values = np.concatenate([np.asarray(g.point_data[scalar]) for _, g in grids])
    clim = (float(min(values.min(), 0.0)), float(values.max()) or 1.0)
    try:
        plotter = pv.Plotter(off_screen=True, shape=(1, len(grids)), window_size=(420 * len(grids), 460),
                             border=False)
    except Exception as exc:
        raise RenderUnavailable(f"cannot open an off-screen render window: {exc}") from None
    for k, (t, grid) in enumerate(grids):
        plotter.subplot(0, k)
        shown = grid.clip(normal="y", origin=grid.center, invert=False)
        plotter.add_mesh(shown, scalars=scalar, cmap=cmap, clim=clim, show_edges=False,
                         show_scalar_bar=(k == len(grids) - 1),
                         scalar_bar_args={"title": scalar, "vertical": True, "position_x": 0.82,
                                          "position_y": 0.15})
        plotter.add_mesh(grid.outline(), color="black", line_width=1.5)
        plotter.add_text(f"t = {t:.3g} s", font_size=11)
        plotter.camera_position = "iso"
        plotter.camera.azimuth = 200
        plotter.camera.elevation = 10
    if title:
        plotter.subplot(0, 0)
        plotter.add_text(title, font_size=9, position="lower_left")
    png = Path(png) if png else run_dir / f"{scalar}_3d_series.png"
    plotter.screenshot(str(png))
    plotter.close()
    return png
