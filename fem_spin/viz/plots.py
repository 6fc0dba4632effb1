"""Time-series and profile plots of finished runs (rank 0, matplotlib Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fem_spin.io.timeseries import read_timeseries

__all__ = ["plot_run", "plot_timeseries", "plot_profiles"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_timeseries(dirs: dict[str, Path], column: str, ylabel: str, png: Path) -> Path | None:
    """One curve per run directory of ``column`` against time (log time axis); None if absent."""
    series = {label: read_timeseries(d / "timeseries.csv") for label, d in dirs.items()}
    if not any(column in data for data in series.values()):
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    for label, data in series.items():
        if column not in data:
            continue
        t, y = data["t"], data[column]
        keep = t > 0
        ax.plot(t[keep], y[keep], label=label, lw=1.6)
    ax.set_xscale("log")
    ax.set_xlabel("time t (s)")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    if len(dirs) > 1:
        ax.legend(frameon=False)
    fig.savefig(png, dpi=130)
    plt.close(fig)
    return png


def plot_profiles(dirs: dict[str, Path], png: Path, times_to_show: int = 4) -> Path | None:
    """P along the sample's x axis at several snapshot times, one line style per run."""
    plt = _pyplot()
    files = {label: d / "profiles.csv" for label, d in dirs.items() if (d / "profiles.csv").exists()}
    if not files:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    longest = max(float(np.loadtxt(f, delimiter=",", skiprows=1, ndmin=2)[:, 0].max()) for f in files.values())
    scale, unit = next((s, u) for s, u in ((1e3, "mm"), (1e6, "um"), (1e9, "nm"))
                       if longest * s >= 1.0 or u == "nm")
    styles = ["-", "--", ":", "-."]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (label, f) in enumerate(files.items()):
        with open(f) as fh:
            header = fh.readline().strip().split(",")
        data = np.loadtxt(f, delimiter=",", skiprows=1, ndmin=2)
        cols = list(range(1, len(header)))
        pick = sorted({cols[int(round(i))] for i in np.linspace(0, len(cols) - 1, min(times_to_show, len(cols)))})
        for j, c in enumerate(pick):
            ax.plot(data[:, 0] * scale, data[:, c], styles[k % 4], color=colours[j % len(colours)],
                    label=f"{label}, {header[c]} s" if len(files) > 1 else f"{header[c]} s", lw=1.4)
    ax.set_xlabel(f"distance along the probe line ({unit})")
    ax.set_ylabel("polarization P")
    ax.grid(True, alpha=0.3)
    ax.legend(frameon=False, fontsize=7, ncol=1 if len(files) == 1 else 2)
    fig.savefig(png, dpi=130)
    plt.close(fig)
    return png


def plot_run(dirs: dict[str, Path], out: Path, problem_class) -> list[Path]:
    """All standard plots of a run (or sweep) into ``out``."""
    pngs = []
    for column, ylabel in getattr(problem_class, "plot_columns", ()):
        png = plot_timeseries(dirs, column, ylabel, out / f"{column}.png")
        if png is not None:
            pngs.append(png)
    profile = plot_profiles(dirs, out / "profiles.png")
    if profile is not None:
        pngs.append(profile)
    return pngs
