"""Time-series and profile plots of finished runs (rank 0, matplotlib Agg backend).

Every plot of a run ends in :func:`save_figure`: it writes the PNG, or, inside
:func:`capture_figures`, keeps the figure instead (``Result.plot()`` returns the figures the
run draws, from the same code, without writing into the run directory). Every axis label
carries its SI unit in parentheses, "(dimensionless)" for pure numbers.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import numpy as np

from fem_spin.io.timeseries import read_timeseries
from fem_spin.viz.scales import legend_columns, length_unit

__all__ = ["plot_run", "plot_timeseries", "plot_profiles", "place_legend", "save_figure",
           "capture_figures", "capturing"]

#: the figures kept by :func:`capture_figures` (innermost last): PNG path -> figure
_CAPTURED: list[dict] = []


def _pyplot():
    import matplotlib

    # Agg keeps a headless run (or one under Xvfb) from opening windows; a notebook's own
    # backend (inline, widget) is left alone so that the figures show there. The backend is
    # looked at only in a kernel: outside one, asking for it would pick a GUI toolkit.
    if "ipykernel" not in sys.modules or not any(
            name in matplotlib.get_backend().lower() for name in ("inline", "widget", "ipympl", "nbagg")):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, png: str | Path, dpi: int = 130) -> Path:
    """Write ``fig`` to ``png`` and close it; inside :func:`capture_figures` keep it open
    instead, under ``png``, and write nothing."""
    png = Path(png)
    if _CAPTURED:
        _CAPTURED[-1][png] = fig
        return png
    fig.savefig(png, dpi=dpi)
    _pyplot().close(fig)
    return png


def capturing() -> bool:
    """Whether plots are being captured (files besides the figures are then not written)."""
    return bool(_CAPTURED)


@contextlib.contextmanager
def capture_figures():
    """Keep the figures the plot functions would save: yields {PNG path: figure}."""
    _CAPTURED.append({})
    try:
        yield _CAPTURED[-1]
    finally:
        _CAPTURED.pop()


def place_legend(ax, handles=None, labels=None, inside: int = 4, fontsize: float = 8, **kwargs):
    """A legend that never covers the data: up to ``inside`` entries in the axes (where
    matplotlib finds the emptiest place), more to the right of the axes (the figure is
    widened by the legend's width, so the axes keep their size; use constrained layout)."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    outside, ncol = legend_columns(len(handles), inside)
    if not outside:
        return ax.legend(handles, labels, frameon=False, fontsize=fontsize, **kwargs)
    legend = ax.legend(handles, labels, frameon=False, fontsize=fontsize, ncol=ncol, loc="upper left",
                       bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **kwargs)
    fig = ax.figure
    fig.canvas.draw()   # measure the legend, then make room for it
    width = legend.get_window_extent().width / fig.dpi
    w, h = fig.get_size_inches()
    fig.set_size_inches(w + width + 0.2, h)
    return legend


def _time_label(header: str) -> str:
    """'t=0.00416849' (a profiles.csv column) -> 't = 0.00417 s'."""
    try:
        return f"t = {float(header.removeprefix('t=')):.3g} s"
    except ValueError:
        return f"{header} s"


def plot_timeseries(dirs: dict[str, Path], column: str, ylabel: str, png: Path) -> Path | None:
    """One curve per run directory of ``column`` against time (log time axis); None if absent."""
    series = {label: read_timeseries(d / "timeseries.csv") for label, d in dirs.items()}
    if not any(column in data for data in series.values()):
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    for k, (label, data) in enumerate(series.items()):
        if column not in data:
            continue
        t, y = data["t"], data[column]
        keep = t > 0
        # past the 10 colours of the cycle the line style tells runs apart
        ax.plot(t[keep], y[keep], ["-", "--", ":", "-."][k // 10 % 4], label=label, lw=1.6)
    ax.set_xscale("log")
    ax.set_xlabel("time t (s)")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    if len(dirs) > 1:
        place_legend(ax)
    return save_figure(fig, png)


def plot_profiles(dirs: dict[str, Path], png: Path, times_to_show: int = 4) -> Path | None:
    """P along the sample's x axis at several snapshot times, one line style per run."""
    plt = _pyplot()
    files = {label: d / "profiles.csv" for label, d in dirs.items() if (d / "profiles.csv").exists()}
    if not files:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    longest = max(float(np.loadtxt(f, delimiter=",", skiprows=1, ndmin=2)[:, 0].max()) for f in files.values())
    scale, unit = length_unit(longest)
    styles = ["-", "--", ":", "-."]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    picked = {}
    for k, (label, f) in enumerate(files.items()):
        with open(f) as fh:
            header = fh.readline().strip().split(",")
        data = np.loadtxt(f, delimiter=",", skiprows=1, ndmin=2)
        cols = list(range(1, len(header)))
        pick = sorted({cols[int(round(i))] for i in np.linspace(0, len(cols) - 1, min(times_to_show, len(cols)))})
        picked[label] = [header[c] for c in pick]
        for j, c in enumerate(pick):
            ax.plot(data[:, 0] * scale, data[:, c], styles[k % 4], color=colours[j % len(colours)],
                    label=f"{label}, {_time_label(header[c])}" if len(files) > 1 else _time_label(header[c]),
                    lw=1.4)
    ax.set_xlabel(f"distance along the probe line ({unit})")
    ax.set_ylabel("polarization P (dimensionless)")
    ax.grid(True, alpha=0.3)
    times = list(picked.values())
    if len(files) > 1 and all(t == times[0] for t in times):
        # one entry per time (colour) and one per run (line style), not one per pair
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], color=colours[j % len(colours)], lw=1.4) for j in range(len(times[0]))]
        labels = [_time_label(t) for t in times[0]]
        handles += [Line2D([], [], color="0.2", ls=styles[k % 4], lw=1.4) for k in range(len(files))]
        labels += list(files)
        place_legend(ax, handles, labels, fontsize=7)
    else:
        place_legend(ax, fontsize=7)
    return save_figure(fig, png)


def plot_run(dirs: dict[str, Path], out: Path, columns=()) -> list[Path]:
    """All standard plots of a run (or sweep) into ``out``: one per (column, axis label) of
    ``columns`` (viz/registry.py), and the probe profiles."""
    pngs = []
    for column, ylabel in columns:
        png = plot_timeseries(dirs, column, ylabel, out / f"{column}.png")
        if png is not None:
            pngs.append(png)
    profile = plot_profiles(dirs, out / "profiles.png")
    if profile is not None:
        pngs.append(profile)
    return pngs
