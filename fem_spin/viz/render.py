"""3-D pictures of field output with pyvista, off-screen (physics fields as colour).

Reads the parallel VTK output (``fields.pvd``) a run wrote, so it works on finished
runs (``fem-spin render RUN_DIR``) as well as at the end of ``fem-spin run``. Needs an
X server or off-screen VTK; ``./fem-env`` supplies Xvfb when there is no display.

Every picture follows the same rules (helpers below, pure parts in
:mod:`fem_spin.viz.scales`): scalar fields are drawn without lighting, so a colour on the
screen is exactly the colour map's colour for its value; signed quantities use a diverging
map centred on zero; colour-bar labels carry enough digits to differ; the colour bar has a
column of its own (it never covers the data); lengths are shown on the box edges in nm,
µm or mm chosen from the size of the object.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from fem_spin.viz.scales import colour_scale, label_format, length_unit

__all__ = ["RenderUnavailable", "render_result", "render_dataset", "render_series", "render_side_by_side",
           "snapshot_count",
           "add_scalar_mesh", "add_colour_bar", "add_length_axes", "to_length_unit"]

#: colour-bar labels per bar
N_LABELS = 5


class RenderUnavailable(RuntimeError):
    """pyvista/VTK cannot render here (not installed, no display)."""


def _pyvista():
    try:
        import pyvista as pv
    except ImportError as exc:  # optional dependency
        raise RenderUnavailable(f"pyvista is not installed ({exc})") from None
    pv.OFF_SCREEN = True
    return pv


def _plotter(**kwargs):
    pv = _pyvista()
    try:
        return pv.Plotter(off_screen=True, border=False, **kwargs)
    except Exception as exc:  # no display / no off-screen support
        raise RenderUnavailable(f"cannot open an off-screen render window: {exc}") from None


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


# --- the shared picture rules ---------------------------------------------------------------

def to_length_unit(grid_m):
    """(grid scaled from metres to nm, µm or mm, unit): the unit in which the largest side
    of the bounding box is between 1 and 1000 (this also keeps VTK's picking and clipping
    tolerances comfortable, which coordinates of 1e-9 would not)."""
    b = grid_m.bounds
    factor, unit = length_unit(max(b[1] - b[0], b[3] - b[2], b[5] - b[4]))
    return grid_m.scale(factor, inplace=False), unit


def add_scalar_mesh(plotter, mesh, scalar: str, cmap: str, clim, edges: bool = True,
                    edge_colour=(0.35, 0.35, 0.35), **kwargs):
    """``mesh`` coloured by ``scalar`` with flat, unlit colours (no shading: the colour on
    the screen is the colour map's colour of the value, on every face), and, with ``edges``,
    its sharp surface edges as thin grey lines (the shape cues shading no longer gives, and
    the outline of white, near-zero parts on the white background). No scalar bar:
    :func:`add_colour_bar` draws it where it covers nothing."""
    kwargs.setdefault("show_edges", False)
    actor = plotter.add_mesh(mesh, scalars=scalar, cmap=cmap, clim=clim, lighting=False,
                             show_scalar_bar=False, **kwargs)
    if edges:
        lines = mesh.extract_surface().extract_feature_edges(
            feature_angle=30.0, boundary_edges=True, feature_edges=True, manifold_edges=False,
            non_manifold_edges=False)
        if lines.n_points:
            plotter.add_mesh(lines, color=edge_colour, line_width=1.0, show_scalar_bar=False)
    return actor


def add_colour_bar(plotter, actor, title: str, clim, **kwargs):
    """A vertical colour bar of ``actor``'s map, labelled with :func:`label_format` digits,
    filling the current renderer (a narrow column of its own, next to the data)."""
    args = {"vertical": True, "position_x": 0.2, "position_y": 0.12, "width": 0.55, "height": 0.76,
            "title_font_size": 18, "label_font_size": 16, "color": "black"}
    args.update(kwargs)
    return plotter.add_scalar_bar(title=title, mapper=actor.mapper, n_labels=N_LABELS,
                                  fmt=label_format(clim, N_LABELS), **args)


def _ruler_edges(renderer, lo, hi, min_pixels: float):
    """[(axis, start, end, screen length)] of the box edges for :func:`add_length_axes`,
    and the screen points of those edges (display pixels)."""
    import numpy as np

    def screen(point):
        renderer.SetWorldPoint(*point, 1.0)
        renderer.WorldToDisplay()
        return np.array(renderer.GetDisplayPoint()[:2])

    corners = [np.where([i, j, k], hi, lo) for i in (0, 1) for j in (0, 1) for k in (0, 1)]
    projected = np.array([screen(c) for c in corners])
    size = float(np.ptp(projected, axis=0).max()) or 1.0
    candidates = {}
    for axis in range(3):
        candidates[axis] = []
        for i in (0, 1):
            for j in (0, 1):
                a, b = lo.copy(), lo.copy()
                b[axis] = hi[axis]
                for other, pick in zip([o for o in range(3) if o != axis], (i, j)):
                    a[other] = b[other] = (lo, hi)[pick][other]
                sa, sb = screen(a), screen(b)
                d = sb - sa
                length = float(np.hypot(*d))
                if length < min_pixels:
                    continue
                right = np.array([d[1], -d[0]]) / length
                side = (projected - sa) @ right
                if side.max() > 1e-3 * size and side.min() < -1e-3 * size:
                    continue                    # not on the silhouette
                if side.max() > 1e-3 * size:    # the box lies to the right: swap the ends
                    a, b, sa, sb = b, a, sb, sa
                mid = 0.5 * (sa + sb)
                score = mid[0] if axis == 2 else mid[1]   # left-most z, bottom-most x and y
                candidates[axis].append((score, a, b, length, sa, sb))
    # Silhouette edges every other one (x, then y and z not touching it or each other), so
    # no two rulers label the same corner; where that is impossible (a box seen face-on),
    # the best-placed edge.
    chosen, used, points = [], [], []
    for axis in range(3):
        ranked = sorted(candidates[axis], key=lambda c: c[0])
        free = [c for c in ranked if not any(np.allclose(p, q) for p in c[1:3] for q in used)]
        if ranked:
            pick = (free or ranked)[0]
            chosen.append((axis, *pick[1:4]))
            used += [pick[1], pick[2]]
            points += [pick[4], pick[5]]
    return chosen, np.array(points).reshape(-1, 2)


def add_length_axes(plotter, bounds, unit: str, font_factor: float = 1.0, min_pixels: float = 30.0,
                    short: float = 120.0, margin: tuple[float, float] = (80.0, 25.0),
                    stretch: tuple[float, float, float] = (1.0, 1.0, 1.0)):
    """Rulers along three outer edges of the box ``bounds`` (coordinates in ``unit``), one per
    axis, titled 'x (unit)' ..., labelled with the coordinates at the ends and the middle:
    the length scale of the picture. Call it after the camera is set: the edges are on the
    box's silhouette (the bottom x edge, then y and z edges sharing no corner with it or each
    other, so labels never pile up on a corner) with the labels outside; the camera backs off
    until the rulers are ``margin`` (x, y) pixels inside the view, leaving room for their
    labels. An edge shorter than ``short`` pixels on screen becomes a scale bar titled with
    its length ('y: 0.4 µm'); an axis seen end-on (shorter than ``min_pixels``) is left out.
    ``stretch``: the factors by which the picture stretched each axis (a thin film shown
    thicker); the labels give the true coordinates."""
    import numpy as np
    from vtkmodules.vtkRenderingAnnotation import vtkAxisActor2D

    renderer = plotter.renderer
    lo, hi = np.asarray(bounds[0::2], float), np.asarray(bounds[1::2], float)
    # round-off of the unit scaling (-4.5e-16 for 0) must not show in the labels
    tiny = 1e-9 * float(np.max(hi - lo))
    lo, hi = np.where(np.abs(lo) < tiny, 0.0, lo), np.where(np.abs(hi) < tiny, 0.0, hi)
    x0, y0 = renderer.GetOrigin()
    width, height = renderer.GetSize()
    for _ in range(6):
        chosen, points = _ruler_edges(renderer, lo, hi, min_pixels)
        if not len(points) or (points[:, 0].min() >= x0 + margin[0] and points[:, 0].max() <= x0 + width - margin[0]
                               and points[:, 1].min() >= y0 + margin[1]
                               and points[:, 1].max() <= y0 + height - margin[1]):
            break
        plotter.camera.zoom(0.9)
    rulers = []
    for axis, a, b, length in chosen:
        name = "xyz"[axis]
        ruler = vtkAxisActor2D()
        for coordinate, point in ((ruler.GetPositionCoordinate(), a), (ruler.GetPosition2Coordinate(), b)):
            coordinate.SetCoordinateSystemToWorld()
            coordinate.SetReferenceCoordinate(None)
            coordinate.SetValue(*point)
        ruler.SetRange(a[axis] / stretch[axis], b[axis] / stretch[axis])
        ruler.AdjustLabelsOff()
        ruler.SetLabelFormat("%.3g")
        if length >= short:
            ruler.SetNumberOfLabels(3 if length > 150 else 2)
            ruler.SetTitle(f"{name} ({unit})")
        else:   # too short for labels and a title: a scale bar with its length
            ruler.LabelVisibilityOff()
            ruler.SetNumberOfLabels(2)
            ruler.SetTitle(f"{name}: {abs(b[axis] - a[axis]) / stretch[axis]:.3g} {unit}")
        ruler.SetFontFactor(font_factor)
        ruler.SetLabelFactor(0.8)
        ruler.SetTickLength(6)
        ruler.SetTickOffset(3)
        ruler.SetNumberOfMinorTicks(0)
        ruler.GetProperty().SetColor(0.0, 0.0, 0.0)
        ruler.GetProperty().SetLineWidth(1.5)
        for text in (ruler.GetLabelTextProperty(), ruler.GetTitleTextProperty()):
            text.SetColor(0.0, 0.0, 0.0)
            text.BoldOff()
            text.ItalicOff()
            text.ShadowOff()
        plotter.add_actor(ruler, reset_camera=False, pickable=False)
        rulers.append(ruler)
    return rulers


def _bar_column(count: int, weight: float = 0.22) -> dict:
    """Plotter layout of ``count`` picture columns and one narrow column for the colour bar."""
    return {"shape": (1, count + 1), "col_weights": [1.0] * count + [weight]}


# --- pictures -------------------------------------------------------------------------------

def render_dataset(grid, png: Path, scalar: str, title: str = "", clim=None, clip: bool = True,
                   cmap: str = "magma", unit: str = "nm") -> Path:
    """Clip ``grid`` (coordinates in ``unit``) through its centre (normal -y) and draw
    ``scalar`` (diverging map for signed data), the box edges with a length scale, and the
    colour bar beside it."""
    import numpy as np

    values = np.asarray(grid.point_data[scalar], float)
    cmap, clim = colour_scale(values, scalar, cmap=cmap, clim=clim)
    bar_title = scalar
    if values.size and np.ptp(values) <= 1e-12 * np.max(np.abs(values)):
        bar_title = f"{scalar}\n(uniform: {values.flat[0]:.6g})"   # say so, not just one colour
    plotter = _plotter(window_size=(1300, 900), **_bar_column(1, 0.25))
    shown = grid.clip(normal="y", origin=grid.center, invert=False) if clip else grid
    plotter.subplot(0, 0)
    actor = add_scalar_mesh(plotter, shown, scalar, cmap, clim)
    plotter.add_mesh(grid.outline(), color="black", line_width=1.5)
    if title:
        plotter.add_text(title, font_size=12)
    plotter.show_axes()
    plotter.camera_position = "iso"
    plotter.camera.azimuth = 200
    plotter.camera.elevation = 10
    add_length_axes(plotter, grid.bounds, unit, font_factor=0.8)
    plotter.subplot(0, 1)
    add_colour_bar(plotter, actor, bar_title, clim)
    plotter.screenshot(str(png))
    plotter.close()
    return png


def snapshot_count(run_dir: str | Path) -> int:
    """Number of snapshots (distinct times) in ``run_dir/fields.pvd`` (read without VTK)."""
    pvd = Path(run_dir) / "fields.pvd"
    if not pvd.exists():
        raise FileNotFoundError(f"{pvd} not found (was the run written with VTK output?)")
    root = ET.parse(pvd).getroot()
    return len({d.get("timestep") for d in root.iter("DataSet")})


def render_result(run_dir: str | Path, scalar: str = "polarization", time_index: int | None = None,
                  png: str | Path | None = None, title: str = "") -> Path:
    """Picture of one snapshot of ``run_dir/fields.pvd`` (default: the middle one, where a
    transport problem usually shows the most structure). An index outside the snapshots
    raises IndexError (no wrapping around)."""
    run_dir = Path(run_dir)
    pvd, reader = _open_fields(run_dir)
    n = len(reader.time_values)
    index = n // 2 if time_index is None else time_index
    if not -n <= index < n:
        raise IndexError(f"snapshot {index} of {pvd} does not exist (it has {n}: 0..{n - 1})")
    reader.set_active_time_point(index % n)
    t = reader.active_time_value
    grid, unit = _read_grid(reader, pvd, scalar)
    png = Path(png) if png else run_dir / f"{scalar}_3d.png"
    return render_dataset(grid, png, scalar, title=f"{title}  t = {t:.3g} s".strip(), unit=unit)


def _open_fields(run_dir: Path):
    """(path, pyvista reader) of a run's ``fields.pvd``."""
    pvd = run_dir / "fields.pvd"
    if not pvd.exists():
        raise FileNotFoundError(f"{pvd} not found (was the run written with VTK output?)")
    return pvd, _pyvista().get_reader(str(pvd))


def _read_grid(reader, pvd: Path, scalar: str):
    """(grid of the active snapshot in a length unit, the unit); 3-D meshes only."""
    pv = _pyvista()
    data = reader.read()
    grid = data.combine() if isinstance(data, pv.MultiBlock) else data
    if scalar not in grid.point_data:
        raise KeyError(f"no field {scalar!r} in {pvd} (have {list(grid.point_data)})")
    bounds = grid.bounds
    if min(bounds[1] - bounds[0], bounds[3] - bounds[2], bounds[5] - bounds[4]) <= 0:
        raise RenderUnavailable("the mesh is not three-dimensional (e.g. the 1-D radial cell)")
    return to_length_unit(linearise(grid))


def render_series(run_dir: str | Path, scalar: str = "polarization", count: int = 4,
                  png: str | Path | None = None, title: str = "", cmap: str = "magma") -> Path:
    """``count`` snapshots side by side (log-spaced in the run's snapshot list), each clipped
    through the centre, one colour scale (its bar in a column of its own): how the field
    spreads over time."""
    import numpy as np

    run_dir = Path(run_dir)
    pvd, reader = _open_fields(run_dir)
    n = len(reader.time_values)
    picks = sorted({int(round(i)) for i in np.linspace(1 if n > count else 0, n - 1, min(count, n))})
    grids = []
    for i in picks:
        reader.set_active_time_point(i)
        grids.append((reader.active_time_value, *_read_grid(reader, pvd, scalar)))
    values = np.concatenate([np.asarray(g.point_data[scalar]) for _, g, _ in grids])
    cmap, clim = colour_scale(values, scalar, cmap=cmap, include_zero=True)
    plotter = _plotter(window_size=(430 * len(grids) + 130, 480), **_bar_column(len(grids), 0.3))
    actor = None
    for k, (t, grid, unit) in enumerate(grids):
        plotter.subplot(0, k)
        shown = grid.clip(normal="y", origin=grid.center, invert=False)
        actor = add_scalar_mesh(plotter, shown, scalar, cmap, clim)
        plotter.add_mesh(grid.outline(), color="black", line_width=1.5)
        plotter.add_text(f"t = {t:.3g} s", font_size=11)
        plotter.camera_position = "iso"
        plotter.camera.azimuth = 200
        plotter.camera.elevation = 10
        add_length_axes(plotter, grid.bounds, unit, font_factor=1.3)
    if title:
        plotter.subplot(0, 0)
        plotter.add_text(title, font_size=9, position="lower_left")
    plotter.subplot(0, len(grids))
    add_colour_bar(plotter, actor, scalar, clim, position_x=0.1, width=0.75, title_font_size=15,
                   label_font_size=14)
    png = Path(png) if png else run_dir / f"{scalar}_3d_series.png"
    plotter.screenshot(str(png))
    plotter.close()
    return png


def render_side_by_side(run_dir: str | Path, scalars: tuple[str, ...], time_index: int = -1,
                        png: str | Path | None = None, title: str = "", bar_title: str = "") -> Path:
    """Several fields of one snapshot side by side (e.g. the polarizations of two spin
    species), each clipped through the centre, on one colour scale (diverging for signed
    data) with its bar in a column of its own: values compare across the panels."""
    import numpy as np

    run_dir = Path(run_dir)
    pvd, reader = _open_fields(run_dir)
    n = len(reader.time_values)
    if not -n <= time_index < n:
        raise IndexError(f"snapshot {time_index} of {pvd} does not exist (it has {n}: 0..{n - 1})")
    reader.set_active_time_point(time_index % n)
    t = reader.active_time_value
    grids = [_read_grid(reader, pvd, scalar) for scalar in scalars]
    values = np.concatenate([np.asarray(g.point_data[scalar]) for (g, _), scalar in zip(grids, scalars)])
    cmap, clim = colour_scale(values, scalars[0], include_zero=True)
    plotter = _plotter(window_size=(520 * len(scalars) + 150, 480), **_bar_column(len(scalars), 0.3))
    actor = None
    for k, ((grid, unit), scalar) in enumerate(zip(grids, scalars)):
        plotter.subplot(0, k)
        actor = add_scalar_mesh(plotter, grid.clip(normal="y", origin=grid.center, invert=False), scalar,
                                cmap, clim)
        plotter.add_mesh(grid.outline(), color="black", line_width=1.5)
        plotter.add_text(f"{scalar}\n{title + '  ' if title else ''}t = {t:.3g} s", font_size=10)
        plotter.camera_position = "iso"
        plotter.camera.azimuth = 200
        plotter.camera.elevation = 10
        add_length_axes(plotter, grid.bounds, unit, font_factor=1.3)
    plotter.subplot(0, len(scalars))
    add_colour_bar(plotter, actor, bar_title or scalars[0], clim, position_x=0.1, width=0.75,
                   title_font_size=15, label_font_size=14)
    png = Path(png) if png else run_dir / f"{'_'.join(scalars)}_3d.png"
    plotter.screenshot(str(png))
    plotter.close()
    return png
