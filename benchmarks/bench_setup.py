"""Setup against stepping, first run against a run from the mesh cache (issue 20 item 5).

The periodic DNP cube (fem_spin/configs/default.toml, model.speedup = "global") at two
sizes: ``mesh_size_source`` = 0.6e-10 m (``small``, 16k DOFs, ILU) and 0.3e-10 m (``large``, 119k DOFs,
geometric multigrid chosen automatically), a short run (t_end = 0.03 s), and ``full``: the
large cube's whole 3 s buildup. For each size three
``fem-spin run`` processes, one after the other, with a fresh mesh cache
(``FEM_SPIN_MESH_CACHE``, a directory of this benchmark):

* ``uncached`` -- ``--no-mesh-cache``: what every run cost before the cache;
* ``first``    -- the cache is empty: gmsh runs and its meshes are stored;
* ``cached``   -- the same configuration again: mesh, coarse levels, cell partition (2+
  ranks), periodic constraint and multigrid transfers from the cache.

Each records summary.json's ``setup_s``, ``stepping_s``, ``wall_time_s``, ``mesh_cache`` and
the per-step set-up profile; the report is a Markdown table (results/bench/bench_setup.md).
``--quick``: a coarse cube only (the test suite runs it). Numbers are measured, never asserted.

    ./fem-env python3 benchmarks/bench_setup.py --out results/bench
    ./fem-env python3 benchmarks/bench_setup.py --report --out results/bench
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SIZES = {"quick": 1.5e-10, "small": 0.6e-10, "large": 0.3e-10, "full": 0.3e-10}
#: t_end of a size when not the --t-end of the short runs: ``full`` is the large cube's
#: whole buildup (the default run's t_end = 3 s), the benchmark run item 5 is about
T_END = {"full": 3.0}
MODES = ("uncached", "first", "cached")


def _config(size: float, t_end: float) -> str:
    return f"""name = "setup"
preset = "glassy_1H_nitroxide"

[geometry]
type = "dnp_cube"
mesh_size_source = {size!r}

[model]
source_polarization = 0.9
speedup = "global"

[time]
t_end = {t_end!r}
dt_initial = 1e-5
tolerance = 2e-3

[output]
plot = false
render = false
field_snapshots = 1
checkpoint_interval = 0
error_estimate = false
"""


def _run(config: Path, work: Path, cache: Path, mode: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               FEM_SPIN_MESH_CACHE=str(cache))
    cmd = [sys.executable, "-m", "fem_spin", "run", str(config), "--output-dir", str(work),
           "--overwrite", "-q"]
    if mode == "uncached":
        cmd.append("--no-mesh-cache")
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stderr[-3000:]}")
    s = json.loads((work / "setup" / "summary.json").read_text())
    return {k: s.get(k) for k in ("dofs", "steps", "setup_s", "stepping_s", "wall_time_s",
                                   "mesh_cache", "setup_profile_s", "final")}


def measure(labels, t_end: float, out: Path, modes=MODES) -> list[dict]:
    rows = []
    for label in labels:
        size_t_end = T_END.get(label, t_end)
        with tempfile.TemporaryDirectory(prefix="fem_spin_bench_setup_") as tmp:
            tmp = Path(tmp)
            config = tmp / "setup.toml"
            config.write_text(_config(SIZES[label], size_t_end))
            cache = tmp / "mesh_cache"
            for mode in modes:
                r = _run(config, tmp / "runs", cache, mode)
                r.update(size=label, mesh_size_source=SIZES[label], mode=mode, t_end=size_t_end)
                rows.append(r)
                print(f"{label:>5} {mode:>8}: {r['dofs']} dofs, setup {r['setup_s']:.2f} s "
                      f"(mesh {r['setup_profile_s'].get('define_mesh', 0):.2f} s, solver "
                      f"{r['setup_profile_s'].get('create_solver', 0):.2f} s), stepping "
                      f"{r['stepping_s']:.2f} s, {r['steps']} steps, cache {r['mesh_cache']}",
                      flush=True)
            shutil.rmtree(cache, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_setup.json").write_text(json.dumps(rows, indent=1) + "\n")
    return rows


def report(out: Path) -> str:
    rows = json.loads((out / "bench_setup.json").read_text())
    lines = ["| size | t_end (s) | DOFs | run | mesh cache | setup (s) | of which mesh (s) "
             "| solver set-up (s) | stepping (s) | setup share | steps |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        p = r["setup_profile_s"] or {}
        share = r["setup_s"] / r["wall_time_s"] if r["wall_time_s"] else float("nan")
        lines.append(f"| {r['size']} | {r.get('t_end', '')} | {r['dofs']} | {r['mode']} | {r['mesh_cache']} | "
                     f"{r['setup_s']:.2f} | {p.get('define_mesh', 0):.2f} | "
                     f"{p.get('create_solver', 0):.2f} | {r['stepping_s']:.2f} | {share:.0%} | "
                     f"{r['steps']} |")
    same = {}
    for r in rows:
        same.setdefault(r["size"], set()).add(json.dumps(r["final"], sort_keys=True))
    lines.append("")
    lines.append("Final observables identical across the runs of each size: " +
                 ", ".join(f"{k}: {'yes' if len(v) == 1 else 'NO'}" for k, v in same.items()))
    text = "\n".join(lines) + "\n"
    (out / "bench_setup.md").write_text(text)
    print(text)
    return text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="results/bench")
    ap.add_argument("--quick", action="store_true", help="one coarse cube only")
    ap.add_argument("--report", action="store_true", help="only write the report from the JSON")
    ap.add_argument("--sizes", nargs="*", choices=sorted(SIZES), help="sizes to run")
    ap.add_argument("--t-end", type=float, default=0.03, help="t_end of the short runs")
    ap.add_argument("--modes", nargs="*", choices=MODES, help="runs per size (default: all three)")
    args = ap.parse_args()
    out = Path(args.out)
    if args.report:
        report(out)
        return 0
    labels = ["quick"] if args.quick else (args.sizes or ["small", "large"])
    measure(labels, 0.003 if args.quick else args.t_end, out, tuple(args.modes or MODES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
