"""Synthetic buildup data with relaxation at three radical concentrations for
examples/fit_dnp_global4/fit.toml (run from the repository root:
``./fem-env python3 examples/fit_dnp_global4/make_data.py``; it rewrites buildup_5mM.csv,
buildup_20mM.csv and buildup_80mM.csv).

As examples/fit_dnp_global/make_data.py, the "measurement" is made by the package with a
finer mesh (twice as fine in the source, 0.012 nm against run.toml's 0.024 nm, and so
everywhere, the mesh being graded from the source) and a ten times tighter time tolerance
than the fit's forward model, then the NMR signal SCALE[c] * Pbar(t) gets Gaussian
noise of 0.2 % of its final value (seeded; a strong 1H signal: a third of
examples/fit_dnp_global's noise, which left P_e undetermined, at its bound). One D0, k_x, R1 and P_e for all three; the scale
differs per sample, which the fit solves for per dataset.
"""

from pathlib import Path

import numpy as np

import fem_spin
from fem_spin.analysis import interpolate_cubic

HERE = Path(__file__).resolve().parent
TRUE = {"model.D0": 5e-16, "model.exchange_rate": 5e3, "model.R1": 5.0,
        "model.source_polarization": 0.9}
#: concentration: (file, t_end in s, signal scale)
SAMPLES = {"5 mM": ("buildup_5mM.csv", 0.4, 800.0),
           "20 mM": ("buildup_20mM.csv", 0.2, 1000.0),
           "80 mM": ("buildup_80mM.csv", 0.1, 1200.0)}
SEED = 20261207
POINTS = 30


def main() -> None:
    rng = np.random.default_rng(SEED)
    for conc, (name, t_end, scale) in SAMPLES.items():
        result = fem_spin.simulate(HERE / "run.toml", overrides={
            **TRUE, "geometry.electron_concentration": conc, "time.t_end": t_end,
            "geometry.mesh_size_source": 0.012e-9,
            "time.tolerance": 1e-7})
        times = np.round(np.geomspace(t_end / 200, t_end, POINTS) * 1e3, 4)   # ms
        signal = scale * interpolate_cubic(result.series["t"], result.series["P_mean"], times * 1e-3)
        sigma = round(0.002 * scale * float(result.series["P_mean"][-1]), 2)
        noisy = signal + rng.normal(0.0, sigma, len(signal))
        truth = ", ".join(f"{k.split('.')[1]} = {v:g}" for k, v in TRUE.items())
        lines = [f"# synthetic DNP buildup with relaxation, radial cell, {conc}: made by make_data.py "
                 f"(seed {SEED}; truth {truth} (SI), scale = {scale:g})", "t_ms,signal,sigma"]
        lines += [f"{t:g},{y:.3f},{sigma:g}" for t, y in zip(times, noisy)]
        (HERE / name).write_text("\n".join(lines) + "\n")
        print(f"wrote {HERE / name} ({POINTS} points, sigma {sigma:g})")


if __name__ == "__main__":
    main()
