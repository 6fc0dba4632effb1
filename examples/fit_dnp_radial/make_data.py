"""Synthetic buildup data for examples/fit_dnp_radial/fit.toml (run from the repository root:
``./fem-env python3 examples/fit_dnp_radial/make_data.py``; it rewrites buildup_40mM.csv).

The "measurement" is made by the package itself, but not with the fit's forward model: the
radial mesh is 2.5x finer inside the source and 4x finer in the bulk and the time tolerance is
ten times tighter (so the fit's own discretisation error is part of what it meets), then the
NMR signal is SCALE * Pbar(t) plus Gaussian noise of SIGMA (seeded). The truth is below; the
fit should recover D0 and k_x within about two standard errors.
"""

from pathlib import Path

import numpy as np

import fem_spin

HERE = Path(__file__).resolve().parent
TRUE = {"model.D0": 5e-16, "model.exchange_rate": 5e3}
SCALE = 1000.0           # signal units per unit polarization
SIGMA = 5.0              # signal units (0.6 % of the final signal)
SEED = 20240521
TIMES_MS = np.round(np.geomspace(0.2, 40.0, 30), 4)


def main() -> None:
    result = fem_spin.simulate(HERE / "run.toml", overrides={
        **TRUE, "geometry.mesh_size_source": 0.6e-9 / 25, "geometry.mesh_size_bulk": 2.15e-9 / 400,
        "time.tolerance": 1e-7})
    t, pbar = result.series["t"], result.series["P_mean"]
    from fem_spin.fitting.series import interpolate_cubic

    signal = SCALE * interpolate_cubic(t, pbar, TIMES_MS * 1e-3)
    noisy = signal + np.random.default_rng(SEED).normal(0.0, SIGMA, len(signal))
    lines = ["# synthetic DNP buildup, radial cell, 40 mM: made by make_data.py (seed "
             f"{SEED}; truth D0 = {TRUE['model.D0']:g} m^2/s, k_x = {TRUE['model.exchange_rate']:g} 1/s, "
             f"scale = {SCALE:g})", "t_ms,signal,sigma"]
    lines += [f"{t:g},{y:.3f},{SIGMA:g}" for t, y in zip(TIMES_MS, noisy)]
    (HERE / "buildup_40mM.csv").write_text("\n".join(lines) + "\n")
    print(f"wrote {HERE / 'buildup_40mM.csv'} ({len(TIMES_MS)} points)")


if __name__ == "__main__":
    main()
