"""The cost of a fit's Jacobian by forward sensitivities, and of a global fit (issue 21).

    python3 benchmarks/bench_fit.py [--quick] [--out DIR] [--sections global4_fit]   # measure (one core)
    python3 benchmarks/bench_fit.py --report [--out DIR]      # markdown from the JSON

1. Jacobian cost. The radial DNP cell of examples/fit_dnp_radial (40 mM, global speed-up,
   time tolerance 1e-6) with n = 4 parameters (D0, k_x, R1, P_e): the wall time of one plain
   forward run T_f and of one run carrying the sensitivities of all four T_s (mesh cached,
   forms compiled; the best of ``repeats``). Reported: the extra cost per parameter relative to
   one forward run, (T_s - T_f)/(n T_f) (the issue's target: at most 1.5), the whole
   sensitivity Jacobian in forward runs per parameter, T_s/(n T_f), and the speed-up over
   one-sided finite differences, which need the base run and n more: (n + 1) T_f / T_s.
   Also the agreement with central differences of frozen-step replays (relative, max over
   the curve).
2. Global fit. examples/fit_dnp_global/fit.toml (three concentrations, shared D0 and k_x,
   one scale per dataset solved in closed form) by sensitivities and by finite differences,
   wall time on one core from the first call (mesh building and form compilation included),
   with the estimates and standard errors; and each dataset fitted alone, for the precision
   comparison.
3. 4-parameter global fit (the issue's target: "a 4-parameter global fit of three radial-cell
   buildup curves finishes in under 60 s on one core"). examples/fit_dnp_global4/fit.toml:
   D0, k_x, R1 and P_e shared by three concentrations with relaxation, one closed-form scale
   each; by sensitivities (and, without --quick, by finite differences), from a cold mesh
   cache, with the load average of the machine before and after and each estimate's distance
   from the truth of its make_data.py in standard errors.

Numbers are measurements of this machine, never asserted by tests.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RADIAL = ROOT / "examples" / "fit_dnp_radial" / "run.toml"
GLOBAL = ROOT / "examples" / "fit_dnp_global" / "fit.toml"
GLOBAL4 = ROOT / "examples" / "fit_dnp_global4" / "fit.toml"
KEYS = ("model.D0", "model.exchange_rate", "model.R1", "model.source_polarization")
BASE = {"model.D0": 5e-16, "model.exchange_rate": 5e3, "model.R1": 20.0,
        "model.source_polarization": 0.9, "time.tolerance": 1e-6}


def jacobian_cost(repeats: int) -> dict:
    from fem_spin.api import simulate

    simulate(RADIAL, BASE, sensitivities=KEYS)     # mesh and forms
    t_f, t_s = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        plain = simulate(RADIAL, BASE)
        t_f.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        sens = simulate(RADIAL, BASE, sensitivities=KEYS)
        t_s.append(time.perf_counter() - t0)
    T_f, T_s, n = min(t_f), min(t_s), len(KEYS)
    agreement = {}
    for key in KEYS:
        p = BASE[key]
        h = 1e-4 * p
        up = simulate(RADIAL, {**BASE, key: p + h}, frozen_steps=sens.steps)
        down = simulate(RADIAL, {**BASE, key: p - h}, frozen_steps=sens.steps)
        fd = (up.series["P_mean"] - down.series["P_mean"]) / (2 * h)
        s = sens.sensitivities[key]["P_mean"]
        agreement[key] = float(np.max(np.abs(s - fd)) / np.max(np.abs(s)))
    row = {"steps": len(plain.steps), "dofs": plain.summary["dofs"], "parameters": n,
           "forward_s": T_f, "with_sensitivities_s": T_s,
           "tangent_s": sens.summary["sensitivities"]["seconds"],
           "extra_per_parameter": (T_s - T_f) / (n * T_f), "jacobian_per_parameter": T_s / (n * T_f),
           "speedup_over_fd": (n + 1) * T_f / T_s, "frozen_fd_relative_error": agreement}
    print(json.dumps(row, indent=1), flush=True)
    return row


def _fit_row(result, seconds: float) -> dict:
    return {"wall_s": seconds, "forward_runs": result.forward_runs, "nfev": result.optimiser.get("nfev"),
            "njev": result.optimiser.get("njev"), "chi2": result.statistics.chi2,
            "reduced_chi2": result.statistics.reduced_chi2,
            "parameters": {k: {"value": e.value, "standard_error": e.standard_error}
                           for k, e in result.parameters.items()},
            "correlation_D0_kx": float(result.statistics.correlation[0, 1])}


def global_fit(quick: bool) -> dict:
    from fem_spin.api import clear_mesh_cache
    from fem_spin.fitting import load_fit_config
    from fem_spin.fitting.driver import fit

    config = load_fit_config(GLOBAL)
    out = {}
    for method in ("sensitivities",) if quick else ("sensitivities", "finite_differences"):
        clear_mesh_cache()
        c = dataclasses.replace(config, fit=dataclasses.replace(config.fit, jacobian=method))
        t0 = time.perf_counter()
        result = fit(c)
        out[method] = _fit_row(result, time.perf_counter() - t0)
        print(method, json.dumps(out[method]), flush=True)
    if not quick:
        out["single"] = {}
        for ds in config.datasets:
            c = dataclasses.replace(config, datasets=(dataclasses.replace(ds, index=0),))
            t0 = time.perf_counter()
            result = fit(c)
            out["single"][ds.name] = _fit_row(result, time.perf_counter() - t0)
            print(ds.name, json.dumps(out["single"][ds.name]), flush=True)
    return out


def global4_fit(quick: bool) -> dict:
    """Section 3: the 4-parameter global fit, timed from a cold mesh cache."""
    import importlib.util
    import os

    from fem_spin.api import clear_mesh_cache
    from fem_spin.fitting import load_fit_config
    from fem_spin.fitting.driver import fit

    spec = importlib.util.spec_from_file_location("make_data4", GLOBAL4.parent / "make_data.py")
    make_data = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_data)
    truth = make_data.TRUE
    config = load_fit_config(GLOBAL4)
    out = {}
    for method in ("sensitivities",) if quick else ("sensitivities", "finite_differences"):
        clear_mesh_cache()
        c = dataclasses.replace(config, fit=dataclasses.replace(config.fit, jacobian=method))
        load_before = os.getloadavg()[0]
        t0 = time.perf_counter()
        result = fit(c)
        row = _fit_row(result, time.perf_counter() - t0)
        row["load_before_after"] = [load_before, os.getloadavg()[0]]
        row["deviation_in_se"] = {k: (e.value - truth[k]) / e.standard_error for k, e in result.parameters.items()}
        row["truth"] = truth
        row["max_abs_correlation"] = float(np.max(np.abs(result.statistics.correlation[:4, :4]
                                                         - np.eye(4))))
        row["columns"] = result.jacobian["columns"]
        out[method] = row
        print("global4", method, json.dumps(row), flush=True)
    return out


def report(data: dict) -> str:
    j, g = data.get("jacobian"), data.get("global_fit")
    if j is None or g is None:   # only section 3 measured
        return _report4(data, ["# 4-parameter global fit (benchmarks/bench_fit.py)", "",
                               f"Machine: {data['machine']}."])
    lines = ["# Fit Jacobian and global fit (benchmarks/bench_fit.py)", "",
             f"Machine: {data['machine']}. Radial DNP cell, 40 mM, {j['dofs']} DOFs, {j['steps']} steps, "
             f"time tolerance 1e-6; parameters {', '.join(KEYS)}.", "",
             "| forward run (s) | with 4 sensitivities (s) | tangent solves (s) | extra per parameter / forward run "
             "| Jacobian per parameter / forward run | speed-up over one-sided FD |",
             "|---|---|---|---|---|---|",
             f"| {j['forward_s']:.3f} | {j['with_sensitivities_s']:.3f} | {j['tangent_s']:.3f} | "
             f"{j['extra_per_parameter']:.3f} | {j['jacobian_per_parameter']:.3f} | {j['speedup_over_fd']:.2f} |",
             "", "Sensitivities against central differences of frozen-step replays (max relative error over "
             "the curve): " + ", ".join(f"{k} {v:.1e}" for k, v in j["frozen_fd_relative_error"].items()), "",
             "Global fit of examples/fit_dnp_global (5, 20, 80 mM; shared D0 and k_x, one scale per dataset "
             "in closed form), one core, from a cold mesh cache:", "",
             "| fit | wall (s) | forward runs | evaluations | Jacobians | D0 (m^2/s) | SE | k_x (1/s) | SE | corr |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    rows = [(f"global, {m}", g[m]) for m in ("sensitivities", "finite_differences") if m in g]
    rows += [(f"{name} alone, sensitivities", r) for name, r in g.get("single", {}).items()]
    for label, r in rows:
        d0, kx = r["parameters"]["model.D0"], r["parameters"]["model.exchange_rate"]
        lines.append(f"| {label} | {r['wall_s']:.1f} | {r['forward_runs']} | {r['nfev']} | {r['njev']} | "
                     f"{d0['value']:.4g} | {d0['standard_error']:.2g} | {kx['value']:.5g} | "
                     f"{kx['standard_error']:.3g} | {r['correlation_D0_kx']:.4f} |")
    return _report4(data, lines)


def _report4(data: dict, lines: list[str]) -> str:
    g4 = data.get("global4_fit")
    if g4:
        keys = list(next(iter(g4.values()))["parameters"])
        lines += ["", "4-parameter global fit of examples/fit_dnp_global4 (5, 20, 80 mM with relaxation; shared "
                  "D0, k_x, R1, P_e, one scale per dataset in closed form), one core, from a cold mesh cache; "
                  "each estimate as value +- SE (deviation from the truth in SE):", "",
                  "| Jacobian | wall (s) | load before/after | forward runs | evaluations | Jacobians | "
                  + " | ".join(keys) + " | largest \\|corr\\| | reduced chi^2 |",
                  "|---|---|---|---|---|---|" + "---|" * len(keys) + "---|---|"]
        for method, r in g4.items():
            cells = [f"{r['parameters'][k]['value']:.4g} +- {r['parameters'][k]['standard_error']:.2g} "
                     f"({r['deviation_in_se'][k]:+.2f})" for k in keys]
            lines.append(f"| {method} | {r['wall_s']:.1f} | {r['load_before_after'][0]:.1f}/"
                         f"{r['load_before_after'][1]:.1f} | {r['forward_runs']} | {r['nfev']} | {r['njev']} | "
                         + " | ".join(cells) + f" | {r['max_abs_correlation']:.3f} | {r['reduced_chi2']:.3f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--out", default="results/bench")
    parser.add_argument("--sections", default="jacobian,global_fit,global4_fit",
                        help="comma-separated: jacobian, global_fit, global4_fit (the others are kept "
                             "from an earlier bench_fit.json in --out)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "bench_fit.json"
    if not args.report:
        sections = {"jacobian": lambda: jacobian_cost(2 if args.quick else 5),
                    "global_fit": lambda: global_fit(args.quick), "global4_fit": lambda: global4_fit(args.quick)}
        chosen = args.sections.split(",")
        unknown = [c for c in chosen if c not in sections]
        if unknown:
            parser.error(f"unknown section(s) {', '.join(unknown)} (known: {', '.join(sections)})")
        data = json.loads(path.read_text()) if path.exists() and len(chosen) < len(sections) else {}
        data["machine"] = f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}"
        for name in chosen:
            data[name] = sections[name]()
        path.write_text(json.dumps(data, indent=1))
    text = report(json.loads(path.read_text()))
    (out / "bench_fit.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
