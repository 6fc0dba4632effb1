"""Synthetic buildup data at three radical concentrations for examples/fit_dnp_global/fit.toml
(run from the repository root: ``./fem-env python3 examples/fit_dnp_global/make_data.py``; it
rewrites buildup_5mM.csv, buildup_20mM.csv and buildup_80mM.csv).

As examples/fit_dnp_radial/make_data.py, the "measurement" is made by the package with a
finer mesh (2.5x finer in the source, 4x finer in the bulk) and a ten times tighter time
tolerance than the fit's forward model, then the NMR signal SCALE[c] * Pbar(t) gets Gaussian
noise of 0.6 % of its final value (seeded). One D0 and one k_x for all three; the scale differs
per sample (a different filling factor), which the fit solves for per dataset.
"""

from pathlib import Path

import numpy as np

import fem_spin
from fem_spin.analysis import interpolate_cubic

HERE = Path(__file__).resolve().parent
TRUE = {"model.D0": 5e-16, "model.exchange_rate": 5e3}
#: concentration: (file, t_end in s, signal scale)
SAMPLES = {"5 mM": ("buildup_5mM.csv", 0.4, 800.0),
           "20 mM": ("buildup_20mM.csv", 0.1, 1000.0),
           "80 mM": ("buildup_80mM.csv", 0.02, 1200.0)}
SEED = 20261205
POINTS = 30


def main() -> None:
    rng = np.random.default_rng(SEED)
    for conc, (name, t_end, scale) in SAMPLES.items():
        from fem_spin.api import _parse

        radius = _parse(HERE / "run.toml", {"geometry.electron_concentration": conc}).geometry.outer_radius()
        result = fem_spin.simulate(HERE / "run.toml", overrides={
            **TRUE, "geometry.electron_concentration": conc, "time.t_end": t_end,
            "geometry.mesh_size_source": 0.6e-9 / 25, "geometry.mesh_size_bulk": radius / 400,
            "time.tolerance": 1e-7})
        times = np.round(np.geomspace(t_end / 200, t_end, POINTS) * 1e3, 4)   # ms
        signal = scale * interpolate_cubic(result.series["t"], result.series["P_mean"], times * 1e-3)
        sigma = round(0.006 * scale * float(result.series["P_mean"][-1]), 2)
        noisy = signal + rng.normal(0.0, sigma, len(signal))
        lines = [f"# synthetic DNP buildup, radial cell, {conc}: made by make_data.py (seed {SEED}; truth "
                 f"D0 = {TRUE['model.D0']:g} m^2/s, k_x = {TRUE['model.exchange_rate']:g} 1/s, "
                 f"scale = {scale:g})", "t_ms,signal,sigma"]
        lines += [f"{t:g},{y:.3f},{sigma:g}" for t, y in zip(times, noisy)]
        (HERE / name).write_text("\n".join(lines) + "\n")
        print(f"wrote {HERE / name} ({POINTS} points, sigma {sigma:g})")


if __name__ == "__main__":
    main()
