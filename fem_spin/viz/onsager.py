"""Comparison of the nonlinear, semi-linear and linear Onsager models (physics.md 2.3).

A run file with ``[sweep] "model.formulation" = ["nonlinear", "semilinear", "linear"]``
runs the three models on one problem; afterwards :func:`compare_formulations` reads each
variant's ``profiles.csv`` (rho2 along x at the snapshot times) and writes

* ``comparison.csv``: per snapshot time and reduced model, the largest deviation
  max_x |rho2_model - rho2_nonlinear| (absolute, and in % of max_x |rho2_nonlinear|),
  where it occurs, and the largest |rho2| each model reaches;
* ``comparison.png``: the profiles at the last time and the pointwise deviations.

The metric is stated in the files; it is ours (the paper's is not recoverable).

After every run of an Onsager model (both ``onsager_transport`` and ``onsager_framework``),
:func:`plot_onsager_run` draws in each run directory ``conserved_totals.png`` (the drift of
every conserved total over its scale, from timeseries.csv and summary.json) and
``density_profiles.png`` (each density along the probe line at the snapshot times, with the
equilibrium of the conserved totals where equilibrium_profiles.csv exists); for a 3-D run
of the framework :func:`render_species` adds the species' polarizations side by side.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["read_profiles", "formulation_deviations", "compare_formulations", "render_resonant_slices",
           "plot_conserved_totals", "plot_density_profiles", "plot_onsager_run", "render_species"]

#: the densities of an Onsager run: the field (and profiles_<name>.csv) -> axis label
DENSITIES = {"polarization": "polarization p, species a (dimensionless)",
             "second_polarization": "polarization p_b, species b (dimensionless)",
             "dipolar_order": "dipolar order rho_0 (dimensionless)"}


def read_profiles(path: Path) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(distance along the probe line in m, time labels, values (points, times)) of a profiles.csv."""
    with open(path) as fh:
        header = fh.readline().strip().split(",")
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return data[:, 0], [h.removeprefix("t=") for h in header[1:]], data[:, 1:]


def formulation_deviations(reference: np.ndarray, model: np.ndarray) -> dict[str, np.ndarray]:
    """Pointwise deviation of ``model`` from ``reference`` (same points and times, arrays of
    shape (points, times)): absolute, in % of max_x |reference| per time, and the maxima."""
    difference = model - reference
    scale = np.max(np.abs(reference), axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    return {"absolute": difference, "percent": 100 * difference / scale,
            "max_absolute": np.max(np.abs(difference), axis=0),
            "max_percent": np.max(np.abs(100 * difference / scale), axis=0),
            "argmax": np.argmax(np.abs(difference), axis=0)}


def compare_formulations(dirs: dict[str, Path], out: Path) -> list[Path]:
    """Write comparison.csv/png for the variants of a formulation sweep (labels contain
    ``formulation=<name>``); returns the files written (nothing without a nonlinear run)."""
    runs = {}
    for label, d in dirs.items():
        for name in ("nonlinear", "semilinear", "linear"):
            if f"formulation={name}" in label and (d / "profiles.csv").exists():
                runs[name] = read_profiles(d / "profiles.csv")
    if "nonlinear" not in runs or len(runs) < 2:
        return []
    distance, times, reference = runs["nonlinear"]
    rows = ["time_s,model,max_abs_deviation,max_deviation_percent_of_max_rho2,distance_along_probe_m,max_abs_rho2"]
    deviations = {}
    for name, (d2, t2, values) in runs.items():
        if name == "nonlinear":
            continue
        if len(d2) != len(distance) or t2 != times:
            raise ValueError(f"the {name} run has other probe points or snapshot times than the "
                             f"nonlinear run: compare runs of one sweep")
        dev = formulation_deviations(reference, values)
        deviations[name] = dev
        for k, t in enumerate(times):
            rows.append(f"{t},{name},{dev['max_absolute'][k]:.6g},{dev['max_percent'][k]:.6g},"
                        f"{distance[dev['argmax'][k]]:.6g},{np.max(np.abs(values[:, k])):.6g}")
    for k, t in enumerate(times):
        rows.append(f"{t},nonlinear,0,0,nan,{np.max(np.abs(reference[:, k])):.6g}")
    from fem_spin.viz.plots import _pyplot, capturing, place_legend, save_figure

    csv = out / "comparison.csv"
    written = []
    if not capturing():   # Result.plot() asks for the figure alone
        csv.write_text("# deviation of rho2 from the nonlinear model along the probe line; percent of "
                       "max_x |rho2_nonlinear| at that time\n" + "\n".join(rows) + "\n")
        written = [csv]
    plt = _pyplot()
    k = len(times) - 1
    fig, axes = plt.subplots(2, 1, figsize=(6.4, 7), constrained_layout=True, sharex=True)
    styles = {"nonlinear": "-", "semilinear": "--", "linear": ":"}
    for name, (_, _, values) in runs.items():
        axes[0].plot(distance * 1e9, values[:, k], styles[name], label=name)
    axes[0].set(ylabel="polarization rho2 (dimensionless)", title=f"t = {times[k]} s")
    place_legend(axes[0])
    for name, dev in deviations.items():
        axes[1].plot(distance * 1e9, dev["percent"][:, k], styles[name], label=f"{name} - nonlinear")
    axes[1].set(xlabel="distance along x (nm)", ylabel="deviation (% of max |rho2|, dimensionless)")
    place_legend(axes[1])
    for ax in axes:
        ax.grid(True, alpha=0.3)
    return written + [save_figure(fig, out / "comparison.png")]


def render_resonant_slices(run_dir: Path, resonant_field: float, slice_half_width: float,
                           png: Path | None = None, count: int = 3, title: str = "") -> Path:
    """Snapshots of an MRFM film run side by side: the film clipped through its centre plane
    y = const (the tip axis for a centred tip), coloured by the polarization rho2 (diverging map, symmetric limits),
    with the iso-surfaces |B| = resonant_field +- slice_half_width (the edges of the resonant
    slice) drawn as translucent grey surfaces. Flat colours, lengths on the edges, the colour
    bar in a column of its own. Off-screen; raises RenderUnavailable where pyvista cannot
    render."""
    import numpy as np

    from fem_spin.viz import render
    from fem_spin.viz.scales import DIVERGING

    run_dir = Path(run_dir)
    pvd, reader = render._open_fields(run_dir)
    n = len(reader.time_values)
    picks = sorted({int(round(i)) for i in np.linspace(0, n - 1, min(count, n))})
    grids = []
    for i in picks:
        reader.set_active_time_point(i)
        grids.append((reader.active_time_value, *render._read_grid(reader, pvd, "polarization")))
    limit = max(float(np.max(np.abs(g.point_data["polarization"]))) for _, g, _ in grids) or 1.0
    clim = (-limit, limit)
    plotter = render._plotter(window_size=(520 * len(grids) + 150, 480), **render._bar_column(len(grids), 0.3))
    levels = [resonant_field - slice_half_width, resonant_field + slice_half_width]
    actor = None
    for k, (t, grid, unit) in enumerate(grids):
        plotter.subplot(0, k)
        shown = grid.clip(normal="y", origin=grid.center, invert=False)
        actor = render.add_scalar_mesh(plotter, shown, "polarization", DIVERGING, clim)
        surfaces = grid.contour(levels, scalars="field_magnitude")
        if surfaces.n_points:
            plotter.add_mesh(surfaces.clip(normal="y", origin=grid.center, invert=False),
                             color="white", opacity=0.25)
        # the slice edges on the cut face, where the colours are seen
        lines = grid.slice(normal="y", origin=grid.center).contour(levels, scalars="field_magnitude")
        if lines.n_points:
            plotter.add_mesh(lines, color="black", line_width=2.5)
        plotter.add_mesh(grid.outline(), color="black", line_width=1.5)
        plotter.add_text(f"{title}\nt = {t:.3g} s".strip(), font_size=10)
        plotter.camera_position = "xz"
        plotter.camera.elevation = 25
        plotter.camera.azimuth = 10
        plotter.camera.zoom(1.2)
        render.add_length_axes(plotter, grid.bounds, unit, font_factor=1.2)
    plotter.subplot(0, len(grids))
    render.add_colour_bar(plotter, actor, "polarization", clim, position_x=0.1, width=0.75)
    png = Path(png) if png else run_dir / "resonant_slices.png"
    plotter.screenshot(str(png))
    plotter.close()
    return png


def plot_conserved_totals(run_dir: Path, png: Path) -> Path | None:
    """(Q_k(t) - Q_k(0)) / scale_k of every conserved total against time: how well the run
    kept them (None without the scales in summary.json)."""
    import json

    from fem_spin.io.timeseries import read_timeseries
    from fem_spin.viz.plots import _pyplot, place_legend, save_figure

    summary = Path(run_dir) / "summary.json"
    scales = json.loads(summary.read_text()).get("total_scales") if summary.exists() else None
    if not scales:
        return None
    series = read_timeseries(Path(run_dir) / "timeseries.csv")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    t = series["t"]
    for name, scale in scales.items():
        ax.plot(t[1:], (series[name][1:] - series[name][0]) / scale, marker=".", ms=3, lw=1.2, label=name)
    ax.set_xscale("log")
    ax.set(xlabel="time t (s)", ylabel="(Q(t) - Q(0)) / scale of Q (dimensionless)",
           title="drift of the conserved totals (scale: fully polarized)")
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    ax.grid(True, which="both", alpha=0.3)
    place_legend(ax)
    return save_figure(fig, png)


def plot_density_profiles(run_dir: Path, png: Path) -> Path | None:
    """One panel per density (profiles.csv: species a's polarization, profiles_<name>.csv:
    the others) along the probe line at the snapshot times, and the equilibrium of the
    conserved totals (equilibrium_profiles.csv, dashed) where it was computed."""
    from fem_spin.viz.plots import _pyplot, _time_label, place_legend, save_figure
    from fem_spin.viz.scales import length_unit

    run_dir = Path(run_dir)
    files = {name: run_dir / ("profiles.csv" if name == "polarization" else f"profiles_{name}.csv")
             for name in DENSITIES}
    files = {name: f for name, f in files.items() if f.exists()}
    if not files:
        return None
    equilibrium = run_dir / "equilibrium_profiles.csv"
    eq = None
    if equilibrium.exists():
        with open(equilibrium) as fh:
            eq_names = fh.readline().strip().split(",")[1:]
        eq = dict(zip(eq_names, np.loadtxt(equilibrium, delimiter=",", skiprows=1, ndmin=2)[:, 1:].T))
        eq_distance = np.loadtxt(equilibrium, delimiter=",", skiprows=1, ndmin=2)[:, 0]
    plt = _pyplot()
    fig, axes = plt.subplots(len(files), 1, figsize=(6.4, 2.6 * len(files) + 0.6), sharex=True,
                             constrained_layout=True, squeeze=False)
    for ax, (name, f) in zip(axes[:, 0], files.items()):
        distance, times, values = read_profiles(f)
        scale, unit = length_unit(float(distance.max()) or 1.0)
        for k, t in enumerate(times):
            ax.plot(distance * scale, values[:, k], lw=1.3, label=_time_label(t))
        if eq is not None and name in eq:
            ax.plot(eq_distance * scale, eq[name], "k--", lw=1.3, label="equilibrium of the totals")
        ax.set_ylabel(DENSITIES[name])
        ax.grid(True, alpha=0.3)
    place_legend(axes[0, 0], fontsize=7)
    axes[-1, 0].set_xlabel(f"distance along the probe line ({unit})")
    return save_figure(fig, png)


def plot_onsager_run(dirs: dict[str, Path], out: Path, sweep=None) -> list[Path]:
    """conserved_totals.png and density_profiles.png in each run directory of ``dirs``."""
    written = []
    for d in dirs.values():
        for draw, name in ((plot_conserved_totals, "conserved_totals.png"),
                           (plot_density_profiles, "density_profiles.png")):
            png = draw(Path(d), Path(d) / name)
            if png is not None:
                written.append(png)
    return written


def render_species(run_dir: Path, title: str = "") -> list[Path]:
    """The standard pictures of a transient run (species a's polarization: the middle
    snapshot, the series) and, with a second species, both polarizations at the last
    snapshot side by side on one colour scale (species_polarizations_3d.png)."""
    from fem_spin.viz import render

    run_dir = Path(run_dir)
    pngs = [render.render_result(run_dir, title=title), render.render_series(run_dir, title=title)]
    try:
        pngs.append(render.render_side_by_side(run_dir, ("polarization", "second_polarization"),
                                               png=run_dir / "species_polarizations_3d.png", title=title,
                                               bar_title="polarization p"))
    except KeyError:       # one species: no second_polarization field
        pass
    return pngs
