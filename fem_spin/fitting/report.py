"""What a fit writes: fit.json, fit_report.md, per dataset ``<name>_fit.csv`` (data, model,
residuals), and with ``output.plot`` the pictures ``<name>_fit.png`` (data vs model, residuals
below) and ``correlation.png``. The directory is a fem_spin run directory (io/rundir.py): staged
beside its final place and swapped in whole, carrying the marker and the inventory that let a
later ``--overwrite`` replace it, and nothing else.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["fit_json", "fit_report", "dataset_csv", "plot_dataset", "plot_correlation",
           "write_fit_directory"]


def _noise_in_quantity(result, name: str) -> float | None:
    """The data's noise in the units of the observed run quantity (P for a buildup): the
    median sigma (or the rms residual without sigma) over |scale|."""
    d = result.datasets[name]
    obs = next(s.observation for s in result.config.datasets if s.name == name)
    scale = d.nuisance["scale"].value if "scale" in d.nuisance else getattr(obs, "scale", None)
    if not isinstance(scale, (int, float)) or scale == 0:
        return None
    noise = float(np.median(d.sigma)) if d.sigma is not None else float(np.sqrt(np.mean(d.residuals**2)))
    return noise / abs(scale)


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    if isinstance(value, np.generic):
        return _clean(value.item())
    return value


def fit_json(result, command: str = "") -> dict:
    from fem_spin import __version__

    s = result.statistics
    return _clean({
        "fem_spin": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": command, "fit_file": result.config.source, "status": result.status,
        "converged": result.converged,
        "parameters": {k: e.as_dict() for k, e in result.parameters.items()},
        "datasets": {name: {"file": d.file, "run": d.run, "observation": d.observation,
                            "points": len(d.x), "chi2": d.chi2, "forward_steps": d.forward_steps,
                            "nuisance": {k: e.as_dict() for k, e in d.nuisance.items()},
                            "noise_in_run_quantity": _noise_in_quantity(result, name),
                            ("time_s" if d.x_name == "time" else f"{d.x_name}_si"): d.x, "value": d.y, "sigma": d.sigma, "model": d.model,
                            "residual_weighted": d.residuals}
                     for name, d in result.datasets.items()},
        "statistics": s.as_dict(), "names": list(s.names),
        "covariance_optimiser_coordinates": s.covariance, "correlation": s.correlation,
        "optimiser": result.optimiser, "fit_config": result.config.raw,
        "jacobian": {**(result.jacobian or {"method": "finite_differences"}), "step": result.fd_step,
                     "coordinates": "ln p (log-scaled), p/typical (linear), nuisances as they are"},
        "profiles": {k: pr.as_dict() for k, pr in result.profiles.items()},
        "time_tolerance": result.time_tolerance, "forward_runs": result.forward_runs,
        "forward_seconds": result.forward_seconds, "wall_time_s": result.wall_time_s,
        "parallel": result.parallel,
        "confirmation": ({"datasets": {k: c.as_dict() for k, c in result.confirmation.items()},
                          "forward_runs": result.confirmation_runs[0],
                          "forward_seconds": result.confirmation_runs[1]}
                         if result.confirmation else None),
    })


def _fmt(x: float) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.4g}"


def fit_report(result) -> str:
    s, cfg = result.statistics, result.config
    lines = [f"# Fit `{cfg.name}`", "", f"Fit file: `{cfg.source}`. Status: **{result.status}** "
             f"({result.optimiser.get('message', '')}).", ""]
    lines += ["## Parameters", "", "| parameter | value | standard error | relative | 1-sigma interval | initial | note |",
              "|---|---|---|---|---|---|---|"]
    for name, e in result.parameters.items():
        lo, hi = e.interval
        note = "at a bound: its error is not meaningful" if e.at_bound else ""
        lines.append(f"| `{name}` ({e.scale}) | {_fmt(e.value)} | {_fmt(e.standard_error)} | "
                     f"{100 * e.relative_error:.2g} % | [{_fmt(lo)}, {_fmt(hi)}] | {_fmt(e.initial)} | {note} |")
    for name, d in result.datasets.items():
        for k, e in d.nuisance.items():
            lines.append(f"| `{k}[{name}]` (nuisance, closed form) | {_fmt(e.value)} | "
                         f"{_fmt(e.standard_error)} | {100 * e.relative_error:.2g} % | | | |")
    scaled = ("scaled by the reduced chi^2 (the data gave no sigma, or `fit.scale_covariance = true`)"
              if s.scaled else "not scaled by the reduced chi^2 (the data's sigma are taken as true)")
    lines += ["", f"Standard errors from the covariance (J^T W J)^-1 at the optimum, {scaled}; "
              f"J includes the nuisance parameters, so the errors of the physical parameters are "
              f"marginal over them. Log-scaled parameters were optimised in ln p: their error is "
              f"SE(ln p) times the value, and the interval is value * exp(-+SE(ln p)).", ""]
    lines += ["## Goodness of fit", "",
              f"- chi^2 = {_fmt(s.chi2)} for {s.n_points} points and {s.n_parameters} parameters "
              f"(dof {s.dof}), reduced chi^2 = {_fmt(s.reduced_chi2)}"
              + ("" if s.scaled else " (near 1 if the model and the sigma fit the data)"),
              f"- AIC = {_fmt(s.aic)}, BIC = {_fmt(s.bic)} (log-likelihood {_fmt(s.log_likelihood)}; "
              f"compare models fitted to the same data: lower is better)", ""]
    lines += ["## Correlations and identifiability", ""]
    if s.degenerate:
        for a, b, rho in s.degenerate:
            lines.append(f"- **`{a}` and `{b}` are nearly degenerate** (correlation {rho:+.3f}, "
                         f"|rho| > {cfg.fit.correlation_threshold}): the data constrain a combination "
                         f"of them much better than each one; their separate errors are large and "
                         f"their Gaussian approximation is doubtful.")
    else:
        lines.append(f"- no pair of parameters has |correlation| > {cfg.fit.correlation_threshold}.")
    cond = (f"- condition number of the correlation matrix {_fmt(s.condition_correlation)}"
            f" (of J^T W J in the optimiser's coordinates: {_fmt(s.condition_jtj)})")
    if s.singular:
        cond += ": **J^T W J is singular**: some parameter combination is not determined by the data."
    elif s.ill_conditioned:
        cond += (f": **above {cfg.fit.condition_threshold:g}**: the parameters are nearly degenerate "
                 f"as a group.")
    else:
        cond += "."
    lines += [cond, ""]
    names = list(s.names)
    lines += ["| | " + " | ".join(f"`{n}`" for n in names) + " |", "|---" * (len(names) + 1) + "|"]
    for i, n in enumerate(names):
        lines.append(f"| `{n}` | " + " | ".join(f"{s.correlation[i, j]:+.3f}" for j in range(len(names))) + " |")
    lines += ["", "## Profile likelihood", ""]
    setting = cfg.fit.profile
    if result.profiles:
        lines += [f"68 % intervals where chi^2, re-optimised over the other parameters, rises by at most "
                  f"{_fmt(next(iter(result.profiles.values())).threshold)} above its minimum "
                  f"(fem_spin/fitting/profile.py), against the Gaussian one-sigma interval from the Jacobian:", "",
                  "| parameter | best | profile 68 % interval | Gaussian interval | forward runs |",
                  "|---|---|---|---|---|"]
        for name, pr in result.profiles.items():
            lines.append(f"| `{name}` | {pr.best:.4g} | {pr.describe()} | [{pr.gaussian[0]:.4g}, "
                         f"{pr.gaussian[1]:.4g}] | {pr.forward_runs} |")
        lines.append("")
        for name, pr in result.profiles.items():
            if pr.is_open:
                lines.append(f"- **`{name}` is not bounded by the data** on the "
                             f"{' and '.join(s for s, o in (('lower', pr.open_lower), ('upper', pr.open_upper)) if o)} "
                             f"side within the explored range: its Gaussian standard error understates what is "
                             f"unknown.")
            if pr.note:
                lines.append(f"- `{name}`: {pr.note}.")
    else:
        lines.append("- none computed (" + ("`fit.profile = \"auto\"` and no parameter is flagged as nearly "
                                            "degenerate or poorly determined" if setting == "auto"
                                            else "the fit did not converge" if not result.converged
                                            else f"`fit.profile = {setting!r}`") + ").")
    lines += ["", "## Datasets", ""]
    for name, d in result.datasets.items():
        noise = _noise_in_quantity(result, name)
        lines += [f"### {name}", "", f"- data `{d.file}` ({len(d.x)} points), run `{d.run}`",
                  f"- observation: {d.observation}",
                  f"- chi^2 = {_fmt(d.chi2)}, rms weighted residual {_fmt(float(np.sqrt(np.mean(d.residuals**2))))}, " +
                  (f"forward run of {d.forward_steps} time steps" if d.x_name == "time" else
                   f"one forward run per distinct {d.x_name}: {d.forward_steps} runs per evaluation")]
        if noise is not None and result.time_tolerance is not None:
            ratio = result.time_tolerance / noise if noise > 0 else math.inf
            verdict = "well below the noise" if ratio < 0.1 else "**not well below the noise: tighten fit.time_tolerance**"
            lines.append(f"- data noise in units of the run's quantity: {_fmt(noise)}; the forward runs' "
                         f"time tolerance {result.time_tolerance:g} is {_fmt(ratio)} of it ({verdict})")
        lines.append("")
    if result.confirmation:
        lines += ["## Confirmation on the 3-D cell", "",
                  "Each dataset with a `confirm_run` simulated once more with that run file at the best-fit "
                  "parameters (fem_spin/fitting/confirm.py): chi^2 of the data against it with the fit's "
                  "nuisances held and re-solved, and its largest deviation from the fitted model at the data's "
                  "points.", "",
                  "| dataset | run | chi^2 (fit) | chi^2 (3-D) | chi^2 (3-D, nuisances re-solved) | "
                  "max deviation | in sigma |", "|---|---|---|---|---|---|---|"]
        for name, c in result.confirmation.items():
            lines.append(f"| {name} | `{c.run}` | {_fmt(c.chi2_fit)} | {_fmt(c.chi2)} | "
                         f"{_fmt(c.chi2_refit_nuisances)} | {_fmt(c.max_deviation)} | {_fmt(c.max_deviation_sigma)} |")
        lines.append("")
        lines += [f"- {name}: {c.verdict()}." for name, c in result.confirmation.items()]
        lines += [f"- {result.confirmation_runs[0]} confirmation run(s), {_fmt(result.confirmation_runs[1])} s "
                  f"(not counted among the fit's forward runs).", ""]
    lines += ["## Method", "",
              f"- scipy.optimize.least_squares, trust region reflective with bounds; optimiser "
              f"coordinates ln p (log-scaled) and p/typical (linear), x_scale 1; "
              f"{result.optimiser.get('nfev', '?')} evaluations, {result.optimiser.get('njev', '?')} Jacobians.",
              "- nuisance parameters (scale, offset) solved by weighted linear least squares at every "
              "evaluation (variable projection).",
              _jacobian_line(result),
              f"- forward runs: {result.forward_runs} ({_fmt(result.forward_seconds)} s{_spread(result)}), " +
              (f"time.tolerance = {result.time_tolerance:g} (absolute accuracy of the run's quantity)"
               if result.time_tolerance is not None else "stationary (no time tolerance)") +
              f"; wall time {_fmt(result.wall_time_s)} s.", ""]
    return "\n".join(lines)


def _spread(result) -> str:
    """How the forward runs were spread over MPI rank groups (nothing for one group)."""
    par = result.parallel or {}
    if par.get("groups", 1) <= 1:
        return ""
    return (f", summed over {par['groups']} MPI rank groups of {par['ranks_per_model']} rank(s) running "
            f"at once")


def _jacobian_line(result) -> str:
    info = result.jacobian or {}
    columns = info.get("columns", {})
    by_sens = [k for k, v in columns.items() if v == "sensitivities"]
    by_fd = [k for k, v in columns.items() if v != "sensitivities"]
    parts = []
    if by_sens:
        how = ("exact derivatives of the time-discrete map with its steps frozen: one extra linear solve "
               "per parameter per step" if result.time_tolerance is not None else
               "exact derivatives of the stationary discrete problem: one extra linear solve per "
               "parameter per run")
        parts.append(f"forward sensitivities of the discrete solution ({how}) for {', '.join(by_sens)}")
    if by_fd or not columns:
        why = info.get("not_by_sensitivities", {})
        reasons = "; ".join(f"{k}: {why[k]}" for k in by_fd if why.get(k))
        parts.append(f"one-sided finite differences, step {result.fd_step:g} in the optimiser's coordinates "
                     + ("(about 2 sqrt(time tolerance): the forward model is smooth in the parameters only to "
                        "the accuracy of its adaptive time stepping)" if result.time_tolerance is not None else
                        "(stationary runs: a linear solve on a fixed mesh)") + f" for {', '.join(by_fd) or 'every parameter'}"
                     + (f" ({reasons})" if reasons else ""))
    return "- Jacobian by " + "; ".join(parts) + " (fem_spin/fitting/jacobian.py)."


def dataset_csv(d) -> str:
    x_column = "time_s" if d.x_name == "time" else f"{d.x_name}_si"
    rows = [f"{x_column},value,sigma,model,residual_weighted"]
    sigma = d.sigma if d.sigma is not None else [math.nan] * len(d.x)
    for t, y, s, m, r in zip(d.x, d.y, sigma, d.model, d.residuals):
        rows.append(f"{t:.10g},{y:.10g},{s:.10g},{m:.10g},{r:.10g}")
    return "\n".join(rows) + "\n"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_dataset(d, png: Path, confirmation=None) -> Path:
    """Data (with error bars) and model on top, weighted residuals below; time in the
    dataset's own unit; with a ``confirmation`` (fitting/confirm.py) its 3-D model dashed."""
    from fem_spin.fitting.config import TIME_UNITS

    plt = _pyplot()
    factor = d.x_factor or TIME_UNITS[d.time_unit]
    t = d.x / factor
    fig, (ax, axr) = plt.subplots(2, 1, figsize=(6.4, 5.2), sharex=True, constrained_layout=True,
                                  gridspec_kw={"height_ratios": [3, 1]})
    if d.sigma is not None:
        ax.errorbar(t, d.y, yerr=d.sigma, fmt="o", ms=3, lw=0.8, color="0.3", label="data")
    else:
        ax.plot(t, d.y, "o", ms=3, color="0.3", label="data")
    order = np.argsort(t)
    ax.plot(t[order], d.model[order], "-", color="C0", lw=1.5, label="model (best fit)")
    if confirmation is not None:
        ax.plot(t[order], confirmation.model[order], "--", color="C1", lw=1.2,
                label=f"{Path(confirmation.run).name} at the best fit "
                      f"(max {confirmation.max_deviation_sigma:.2g} sigma off)")
    ax.set_ylabel(f"value ({d.value_unit})")
    ax.set_title(d.name)
    ax.legend(frameon=False, fontsize=8)
    axr.axhline(0.0, color="0.5", lw=0.8)
    axr.plot(t, d.residuals, "o", ms=3, color="C3")
    axr.set_ylabel("residual / sigma" if d.sigma is not None else f"residual ({d.value_unit})")
    axr.set_xlabel(f"{d.x_name} ({d.time_unit})")
    if len(t) > 1 and t.min() > 0 and t.max() / t.min() > 100:
        axr.set_xscale("log")
    fig.savefig(png, dpi=120)
    plt.close(fig)
    return png


def plot_correlation(statistics, png: Path) -> Path:
    """The correlation matrix of every fitted quantity (parameters and nuisances), coloured
    from -1 to 1, with its values written in."""
    plt = _pyplot()
    names = list(statistics.names)
    corr = statistics.correlation
    n = len(names)
    size = 1.2 + 0.9 * max(n, 2)
    fig, ax = plt.subplots(figsize=(size + 1.0, size), constrained_layout=True)
    image = ax.imshow(corr, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(n), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), names, fontsize=8)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{corr[i, j]:+.2f}", ha="center", va="center", fontsize=8,
                    color="white" if abs(corr[i, j]) > 0.6 else "black")
    fig.colorbar(image, ax=ax, label="correlation")
    ax.set_title("parameter correlations at the optimum")
    fig.savefig(png, dpi=120)
    plt.close(fig)
    return png


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name.replace("model.", "").replace("geometry.", ""))


def plot_profile(pr, png: Path) -> Path:
    """Delta chi^2 of the profile against the parameter, the threshold and the interval."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 4.0), constrained_layout=True)
    ax.plot(pr.values, pr.delta_chi2, "o-", color="C0", ms=4, label="profile (others re-optimised)")
    ax.axhline(pr.threshold, color="C3", lw=0.8, ls="--", label="68 % threshold")
    ax.axvline(pr.best, color="0.5", lw=0.8)
    for side, value, opened in (("lower", pr.lower, pr.open_lower), ("upper", pr.upper, pr.open_upper)):
        if not opened:
            ax.axvline(value, color="C3", lw=0.8)
    ax.axvspan(*pr.gaussian, color="C2", alpha=0.15, label="Gaussian 1 sigma")
    if np.all(pr.values > 0) and pr.values.max() / pr.values.min() > 3:
        ax.set_xscale("log")
    ax.set_xlabel(pr.name)
    ax.set_ylabel("Delta chi^2")
    ax.set_title(f"profile likelihood of {pr.name}" + (" (open)" if pr.is_open else ""))
    ax.legend(frameon=False, fontsize=8)
    fig.savefig(png, dpi=120)
    plt.close(fig)
    return png


def write_fit_directory(result, rundir, command: str = "") -> Path:
    """Stage the fit's files in a new run directory, swap it in, record its inventory."""
    command = command or " ".join(sys.argv)
    files = {"fit.json": json.dumps(fit_json(result, command), indent=2) + "\n",
             "fit_report.md": fit_report(result) + "\n"}
    files.update({f"{name}_fit.csv": dataset_csv(d) for name, d in result.datasets.items()})
    source = Path(result.config.source)
    if source.is_file():   # the fit file as it ran (a record: its relative paths point from its own place)
        files["fit.toml"] = source.read_text()
    def plots(staging: Path) -> None:
        if result.config.plot and rundir.comm.rank == 0:
            for name, d in result.datasets.items():
                plot_dataset(d, staging / f"{name}_fit.png", result.confirmation.get(name))
            plot_correlation(result.statistics, staging / "correlation.png")
            for name, pr in result.profiles.items():
                plot_profile(pr, staging / f"profile_{_safe(name)}.png")

    return publish(rundir, files, plots, kind="fit", command=command)


def publish(rundir, files: dict[str, str], fill, **marker) -> Path:
    """Stage ``files`` (name -> text) in a new run directory, let ``fill(staging)`` add more
    (pictures, nested fit directories), swap it in and record its inventory; a failure
    removes the staged directory and nothing else."""
    from fem_spin.io.rundir import inventory, update_marker

    staging = rundir.stage(files, **marker)
    try:
        fill(staging)
    except BaseException:
        rundir.abort()
        raise
    path = rundir.commit()
    if rundir.comm.rank == 0:
        try:
            update_marker(path, files=inventory(path))
        finally:
            rundir.release()
    return path
