"""Pictures that do not mislead (issue 18): flat colours equal to the colour map, colour-bar
labels that differ, length scales in sensible units, diverging maps for signed data,
legends and colour bars that cover no data, ``fem-spin render`` that never overwrites.

The pure helpers (fem_spin.viz.scales) are tested without a mesh; the pictures are drawn
from small pyvista grids (no finite-element run), off-screen.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fem_spin.viz.scales import (DIVERGING, colour_scale, label_format, legend_columns, length_unit,
                                 reserve_path, tick_values)

from conftest import run_cli, serial_only

# --------------------------------------------------------------------- pure helpers


@pytest.mark.parametrize("clim", [(0.8999, 0.9001), (0.0, 0.9), (-0.797, 0.797), (0.0011, 0.0019),
                                  (-1e-7, 1e-7), (1e5, 1e5 + 1.0), (0.899999999, 0.900000001),
                                  (-3.5e-12, 2.0e-12), (12.0, 12.5)])
@pytest.mark.parametrize("n", [2, 5, 7])
def test_colour_bar_labels_are_distinct_and_close_to_their_values(clim, n):
    fmt = label_format(clim, n)
    ticks = tick_values(clim, n)
    labels = [fmt % v for v in ticks]
    assert len(set(labels)) == n, labels
    step = ticks[1] - ticks[0]
    assert max(abs(float(s) - v) for s, v in zip(labels, ticks)) <= 0.1 * step, labels


def test_narrow_range_no_longer_repeats_one_label():
    # what VTK's default format did to a uniform-ish P = 0.9 field
    assert len({"%-#6.3g" % v for v in tick_values((0.8999, 0.9001), 5)}) == 1
    labels = [label_format((0.8999, 0.9001), 5) % v for v in tick_values((0.8999, 0.9001), 5)]
    assert labels == ["0.89990", "0.89995", "0.90000", "0.90005", "0.90010"]
    # ordinary ranges keep three digits
    assert label_format((0.0, 0.9), 5) == "%.3f"


@pytest.mark.parametrize("extent, unit, shown", [
    (3.46e-9, "nm", 3.46), (0.4e-9, "nm", 0.4), (190e-9, "nm", 190.0), (1e-6, "µm", 1.0),
    (6.5e-6, "µm", 6.5), (500e-6, "µm", 500.0), (4e-3, "mm", 4.0), (0.25, "mm", 250.0), (2.0, "m", 2.0)])
def test_length_unit_puts_the_extent_between_1_and_1000(extent, unit, shown):
    factor, got = length_unit(extent)
    assert got == unit
    assert extent * factor == pytest.approx(shown)


def test_signed_quantities_get_a_diverging_map_centred_on_zero():
    # the dipolar order is signed: diverging even where all values are positive or negative
    cmap, clim = colour_scale([0.05, 0.2], "dipolar_order")
    assert cmap == DIVERGING and clim == (-0.2, 0.2)
    cmap, clim = colour_scale([-0.23, -0.1], "dipolar_order")
    assert cmap == DIVERGING and clim == (-0.23, 0.23)
    # a polarization step from -0.8 to 0.6 straddles zero
    cmap, clim = colour_scale([-0.8, 0.1, 0.6], "polarization")
    assert cmap == DIVERGING and clim == (-0.8, 0.8)
    # round-off below zero does not: a DNP buildup stays on the sequential map
    cmap, clim = colour_scale([-1.1e-3, 0.5, 0.9], "polarization", include_zero=True)
    assert cmap == "magma" and clim == (-1.1e-3, 0.9)
    # spin accumulation components
    assert colour_scale([1e-6, 2e-6], "spin accumulation (uV)")[0] == DIVERGING


def test_uniform_field_gets_a_defined_range_around_its_value():
    cmap, (lo, hi) = colour_scale(np.full(10, 0.9), "polarization")
    assert cmap == "magma" and lo < 0.9 < hi and hi - lo < 0.01
    labels = [label_format((lo, hi)) % v for v in tick_values((lo, hi), 5)]
    assert len(set(labels)) == 5


def test_reserve_path_never_returns_an_existing_file(tmp_path):
    (tmp_path / "polarization_t3.png").write_bytes(b"old")
    (tmp_path / "polarization_t3-2.png").write_bytes(b"older")
    path = reserve_path(tmp_path, "polarization_t3")
    assert path.name == "polarization_t3-3.png" and path.exists()
    assert (tmp_path / "polarization_t3.png").read_bytes() == b"old"
    assert reserve_path(tmp_path, "polarization_t3").name == "polarization_t3-4.png"
    assert reserve_path(tmp_path, "other").name == "other.png"


def test_many_legend_entries_go_outside_the_axes():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fem_spin.viz.plots import place_legend

    assert legend_columns(3) == (False, 1) and legend_columns(12) == (True, 1)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    x = np.linspace(0, 1, 50)
    for k in range(12):
        ax.plot(x, np.full_like(x, k / 11), label=f"run {k}, t = {k} s")
    legend = place_legend(ax)
    fig.canvas.draw()
    box, axes = legend.get_window_extent(), ax.get_window_extent()
    assert box.x0 >= axes.x1                                    # right of the data
    assert fig.get_window_extent().x1 >= box.x1 - 1             # and inside the figure
    plt.close(fig)


def _write_profiles(directory: Path, times: list[float]) -> None:
    directory.mkdir(parents=True)
    x = np.linspace(0, 1e-7, 20)
    rows = np.column_stack([x] + [np.tanh(x / 3e-8) * (1 + t) / 10 for t in times])
    header = "distance_m," + ",".join(f"t={t:g}" for t in times)
    np.savetxt(directory / "profiles.csv", rows, delimiter=",", header=header, comments="")


def test_profile_legend_of_a_sweep_does_not_cover_the_curves(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from fem_spin.viz.plots import plot_profiles

    dirs = {}
    for k in range(3):
        dirs[f"speedup={k}"] = tmp_path / f"r{k}"
        _write_profiles(dirs[f"speedup={k}"], [0.0, 0.1, 1.0, 10.0])
    figures = []
    original = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda self, *a, **k: (figures.append(self), original(self, *a, **k)))
    plot_profiles(dirs, tmp_path / "profiles.png")
    fig = figures[0]
    ax = fig.axes[0]
    legend = ax.get_legend()
    fig.canvas.draw()
    # 4 times (colour) + 3 runs (line style), not 12 pairs, and right of the axes
    assert len(legend.get_texts()) == 7
    assert legend.get_window_extent().x0 >= ax.get_window_extent().x1


# --------------------------------------------------------------------- pictures (pyvista)

def _pyvista():
    from fem_spin.viz.render import RenderUnavailable, _pyvista

    try:
        return _pyvista()
    except RenderUnavailable as exc:
        pytest.skip(str(exc))


def _box_grid(values=None, size=(1e-7, 5e-8, 5e-8), shape=(9, 5, 5)):
    """A box (coordinates in m) as an unstructured grid with a point field 'polarization'."""
    pv = _pyvista()
    grid = pv.ImageData(dimensions=shape, spacing=[s / (n - 1) for s, n in zip(size, shape)],
                        origin=(0.0, 0.0, 0.0)).cast_to_unstructured_grid()
    x = grid.points[:, 0] / size[0]
    grid.point_data["polarization"] = (np.full(grid.n_points, 0.9) if values is None else values(x))
    grid.point_data["dipolar_order"] = 0.2 * np.cos(2 * np.pi * x)
    return grid


def _fake_run(directory: Path, snapshots: int = 3) -> Path:
    """A run directory with fields.pvd + .vtu snapshots, as ``fem-spin run`` leaves it."""
    directory.mkdir(parents=True)
    entries = []
    for k in range(snapshots):
        grid = _box_grid(lambda x, k=k: 0.9 * np.exp(-((x - 0.5) / (0.1 + 0.2 * k)) ** 2))
        grid.save(directory / f"fields{k:06d}.vtu")
        entries.append(f'    <DataSet timestep="{0.5 * k}" part="0" file="fields{k:06d}.vtu" />')
    (directory / "fields.pvd").write_text('<?xml version="1.0"?>\n<VTKFile type="Collection" version="1.0">\n'
                                          "  <Collection>\n" + "\n".join(entries) + "\n  </Collection>\n</VTKFile>\n")
    return directory


def _saturated(rgb: np.ndarray) -> np.ndarray:
    """Pixels of the colour map (not the white background, black/grey lines and text)."""
    rgb = rgb.astype(int)
    return (rgb.max(axis=-1) - rgb.min(axis=-1)) > 40


def test_uniform_field_is_drawn_in_exactly_its_colour_map_colour(tmp_path):
    """Flat shading: every visible face of a uniform P = 0.9 box (the clipped face and the
    outer faces) shows the colour map's colour of 0.9, not a lit (olive) shade of it."""
    import matplotlib
    from PIL import Image

    from fem_spin.viz.render import render_dataset, to_length_unit

    grid, unit = to_length_unit(_box_grid())
    png = render_dataset(grid, tmp_path / "uniform.png", "polarization", clim=(0.0, 1.0), unit=unit)
    image = np.asarray(Image.open(png).convert("RGB"))
    panel = image[:, : int(image.shape[1] / 1.25) - 5]      # left of the colour-bar column
    expected = np.round(np.array(matplotlib.colormaps["magma"](0.9)[:3]) * 255)
    coloured = panel[_saturated(panel)]
    assert len(coloured) > 0.05 * panel.shape[0] * panel.shape[1]   # the box is there
    close = np.all(np.abs(coloured - expected) <= 4, axis=1)
    assert close.mean() > 0.97, (close.mean(), expected, coloured[~close][:5])


def test_series_colour_bar_has_its_own_column_and_pictures_have_length_axes(tmp_path, monkeypatch):
    """render_series: the colour bar is in a renderer of its own, beside (not over) the
    panels; every panel has rulers titled in nm (the box is 100 nm long); the labels of the
    bar differ."""
    pv = _pyvista()
    from vtkmodules.vtkRenderingAnnotation import vtkAxisActor2D, vtkScalarBarActor

    from fem_spin.viz.render import render_series

    run = _fake_run(tmp_path / "run", snapshots=4)
    captured = []
    original = pv.Plotter.screenshot
    monkeypatch.setattr(pv.Plotter, "screenshot", lambda self, *a, **k: (captured.append(self), original(self, *a, **k))[1])
    png = render_series(run, count=3)
    assert png.exists() and png.name == "polarization_3d_series.png"
    plotter = captured[0]
    bars, panels = [], []
    for renderer in plotter.renderers:
        actors = list(renderer.actors.values())
        if any(isinstance(a, vtkScalarBarActor) for a in actors):
            bars.append(renderer)
        else:
            panels.append(renderer)
            rulers = [a for a in actors if isinstance(a, vtkAxisActor2D)]
            assert rulers and all("(nm)" in r.GetTitle() or " nm" in r.GetTitle() for r in rulers)
    assert len(bars) == 1 and len(panels) == 3
    bar_renderer = bars[0]
    assert not any(hasattr(a, "mapper") and getattr(a.mapper, "dataset", None) is not None
                   and a.mapper.dataset.n_points for a in bar_renderer.actors.values()
                   if not isinstance(a, vtkScalarBarActor))
    x0 = bar_renderer.GetViewport()[0]
    assert all(r.GetViewport()[2] <= x0 + 1e-9 for r in panels)   # panels end where the bar begins
    bar = next(a for a in bar_renderer.actors.values() if isinstance(a, vtkScalarBarActor))
    lo, hi = bar.GetLookupTable().GetRange()
    labels = [bar.GetLabelFormat() % v for v in tick_values((lo, hi), bar.GetNumberOfLabels())]
    assert len(set(labels)) == len(labels)


def test_signed_field_is_drawn_with_a_diverging_map(tmp_path, monkeypatch):
    pv = _pyvista()
    from fem_spin.viz.render import render_result

    run = _fake_run(tmp_path / "run")
    captured = []
    original = pv.Plotter.screenshot
    monkeypatch.setattr(pv.Plotter, "screenshot", lambda self, *a, **k: (captured.append(self), original(self, *a, **k))[1])
    render_result(run, scalar="dipolar_order", time_index=1, png=tmp_path / "d.png")
    mesh_actor = next(a for a in captured[0].renderers[0].actors.values()
                      if hasattr(a, "mapper") and a.mapper is not None and a.mapper.GetScalarVisibility()
                      and a.mapper.GetLookupTable() is not None and a.mapper.array_name == "dipolar_order")
    lo, hi = mesh_actor.mapper.scalar_range
    assert lo == pytest.approx(-hi) and hi == pytest.approx(0.2, rel=1e-6)
    assert not mesh_actor.prop.lighting
    table = mesh_actor.mapper.lookup_table
    middle = np.array(table.map_value(0.0)[:3] if hasattr(table, "map_value") else table.GetColor(0.0))
    assert np.all(np.asarray(middle, float) > 0.9 * (255 if np.max(middle) > 1 else 1))   # white at zero


# --------------------------------------------------------------------- fem-spin render

def _snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(directory.iterdir())}


@serial_only()
def test_render_rejects_an_index_out_of_range_and_touches_nothing(tmp_path):
    run = _fake_run(tmp_path / "run")
    (run / "polarization_3d.png").write_bytes(b"the run's own picture")
    before = _snapshot(run)
    res = run_cli("render", str(run), "--time-index", "99")
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1] == (
        f"fem-spin: error: {run}: --time-index 99 is out of range (the run has 3 snapshots: "
        f"0..2, or -1 for the last)")
    assert "Traceback" not in res.stderr and res.stdout == ""
    assert _snapshot(run) == before


def test_render_writes_a_new_file_and_never_overwrites(tmp_path, capsys):
    _pyvista()
    from fem_spin.cli import main

    run = _fake_run(tmp_path / "run")
    (run / "polarization_3d.png").write_bytes(b"the run's own picture")
    (run / "polarization_t2.png").write_bytes(b"an earlier render")
    before = _snapshot(run)
    assert main(["render", str(run), "--time-index", "-1"]) == 0
    assert main(["render", str(run)]) == 0          # default: the middle snapshot, 1
    after = _snapshot(run)
    assert {k: v for k, v in after.items() if k in before} == before
    new = sorted(set(after) - set(before))
    assert new == ["polarization_t1.png", "polarization_t2-2.png"]
    for name in new:
        assert after[name][0].startswith(b"\x89PNG")
    out = capsys.readouterr().out
    assert f"wrote {run / 'polarization_t2-2.png'}" in out
    assert main(["render", str(run), "--time-index", "3"]) == 2
    assert "out of range" in capsys.readouterr().err
    assert _snapshot(run).keys() == after.keys()
