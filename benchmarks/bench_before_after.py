"""Whole-run time of this tree against another checkout of fem_spin (e.g. before a refactor).

    python3 benchmarks/bench_before_after.py --other /path/to/old/checkout [--pairs 4] [--out DIR]

Runs ``fem-spin run`` of one 3-D case (nuclear_diffusion, a 60 x 20 x 20 hexahedral box,
26k DOFs, global speed-up, adaptive steps to 20 s, 4 field snapshots, no pictures) from
each tree in turn (A B A B ...), each in a fresh process and a fresh output directory, and
reports the wall time of each run and the median of the ratios pair by pair (the machine's
speed drifts; the pairs keep the comparison fair). The numbers are measurements of this
machine, never asserted by tests.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

CASE = """name = "ab"
[geometry]
type = "box"
size = [1e-7, 4e-8, 4e-8]
cells = [60, 20, 20]
[model]
type = "nuclear_diffusion"
D0 = 1e-16
speedup = "global"
region_shape = "ball"
region_radius = 3e-8
region_center = [5e-8, 2e-8, 2e-8]
region_polarization = 0.95
[time]
t_end = 20.0
dt_initial = 0.01
tolerance = 1e-4
[output]
plot = false
render = false
field_snapshots = 4
progress_interval = 1e9
"""


def one_run(tree: Path, config: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_COMM_WORLD", "PMIX_"))}
    env["PYTHONPATH"] = str(tree)
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "fem_spin", "run", str(config), "--output-dir",
                               out, "-q"], env=env, capture_output=True, text=True, cwd=out)
        wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{tree}: fem-spin run failed: {proc.stderr[-500:]}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--other", required=True, help="another fem_spin checkout (the 'before')")
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "ab.toml"
        config.write_text(CASE)
        one_run(REPO, config)                      # warm-up: FFCx compiles the forms once
        one_run(Path(args.other), config)
        rows = []
        for k in range(args.pairs):
            this, other = one_run(REPO, config), one_run(Path(args.other), config)
            rows.append({"pair": k + 1, "this_s": this, "other_s": other, "ratio": this / other})
            print(f"pair {k + 1}: this tree {this:.2f} s, other {other:.2f} s, ratio {this / other:.3f}",
                  flush=True)
    ratio = statistics.median(r["ratio"] for r in rows)
    report = (f"# Whole-run time, this tree against {args.other}\n\n"
              f"| pair | this tree (s) | other (s) | ratio |\n|---:|---:|---:|---:|\n"
              + "".join(f"| {r['pair']} | {r['this_s']:.2f} | {r['other_s']:.2f} | {r['ratio']:.3f} |\n"
                        for r in rows)
              + f"\nMedian ratio {ratio:.3f} (range {min(r['ratio'] for r in rows):.3f}-"
                f"{max(r['ratio'] for r in rows):.3f}).\n")
    (out / "bench_before_after.json").write_text(json.dumps(rows, indent=1) + "\n")
    (out / "bench_before_after.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
