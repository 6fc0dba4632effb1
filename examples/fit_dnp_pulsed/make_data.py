"""Synthetic pulsed-DNP buildup data for examples/fit_dnp_pulsed/fit.toml (run from the
repository root: ``./fem-env python3 examples/fit_dnp_pulsed/make_data.py``; it rewrites
buildup_pulsed.csv).

As examples/fit_dnp_radial/make_data.py, the "measurement" is made by the package with a
finer radial mesh (2.5x finer in the source, 4x finer in the bulk) and a ten times tighter
time tolerance than the fit's forward model; the polarization Pbar(t) (what a signal
calibrated against the thermal equilibrium signal gives) is sampled twice per pulse period, a
quarter and three quarters of the way from one pulse to the next (Pbar jumps at every pulse
and relaxes between them), and gets Gaussian noise of 0.6 % of its last value (seeded).
"""

from pathlib import Path

import numpy as np

import fem_spin

HERE = Path(__file__).resolve().parent
TRUE = {"model.D0": 1e-16, "model.exchange_probability": 0.8}
SEED = 20261206
F_REP = 500.0            # Hz, as run.toml
T_END = 0.04             # s, as run.toml


def main() -> None:
    from fem_spin.fitting.observations import _interpolate_between_pulses

    result = fem_spin.simulate(HERE / "run.toml", overrides={
        **TRUE, "geometry.mesh_size_source": 0.6e-9 / 25, "geometry.mesh_size_bulk": 3.41e-9 / 400,
        "time.tolerance": 1e-6})
    periods = np.arange(round(T_END * F_REP))
    times = np.sort(np.r_[periods + 0.25, periods + 0.75]) / F_REP          # s
    pbar = _interpolate_between_pulses(result.series, result.series["P_mean"], times)
    sigma = float(f"{0.006 * float(pbar[-1]):.2g}")                          # 0.6 % of the last point
    rng = np.random.default_rng(SEED)
    noisy = pbar + rng.normal(0.0, sigma, len(pbar))
    lines = [f"# synthetic pulsed DNP buildup, radial cell, 20 mM, {F_REP:g} Hz: made by make_data.py "
             f"(seed {SEED}; truth D0 = {TRUE['model.D0']:g} m^2/s, p_x = "
             f"{TRUE['model.exchange_probability']:g})", "t_ms,P,sigma"]
    lines += [f"{t * 1e3:g},{y:.6f},{sigma:g}" for t, y in zip(times, noisy)]
    (HERE / "buildup_pulsed.csv").write_text("\n".join(lines) + "\n")
    print(f"wrote {HERE / 'buildup_pulsed.csv'} ({len(times)} points, sigma {sigma:g}; "
          f"{result.summary['final']['pulses']} pulses, {len(result.series['t']) - 1} steps)")


if __name__ == "__main__":
    main()
