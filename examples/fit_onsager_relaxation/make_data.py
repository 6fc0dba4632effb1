"""Synthetic MRFM data for examples/fit_onsager_relaxation/fit.toml (run from the repository
root: ``./fem-env python3 examples/fit_onsager_relaxation/make_data.py``; it rewrites
slice_signal.csv).

The "measurement" is made by the package itself, but not with the fit's forward model: the
mesh is 4x finer (480 cells, h = 0.21 nm, not 120) and the time tolerance ten times tighter
(so the fit's own discretisation error is part of what it meets); the signal is
SCALE * P_slice(t), the mean polarization of the resonant slice, plus Gaussian noise of SIGMA
(seeded). The truth is below; the fit should recover Gamma and B_d within about two
standard errors.
"""

from pathlib import Path

import numpy as np

import fem_spin

HERE = Path(__file__).resolve().parent
TRUE = {"model.transport_coefficient": 2.2e-15, "model.dipolar_field": 1.6e-4}
FINE = {"geometry.cells": 480, "time.tolerance": 1e-7}
SCALE = 100.0            # signal units per unit polarization
SIGMA = 0.4              # signal units (0.5 % of the initial signal)
SEED = 20240611
TIMES_MS = np.round(np.geomspace(0.2, 35.0, 30), 4)


def slice_signal(times_s: np.ndarray, truth: dict = TRUE, overrides: dict = FINE) -> np.ndarray:
    """P_slice of run.toml at ``times_s`` (s) for the parameters ``truth``."""
    from fem_spin.analysis import interpolate_cubic

    result = fem_spin.simulate(HERE / "run.toml", overrides={**truth, **overrides})
    return interpolate_cubic(result.series["t"], result.series["P_slice"], times_s)


def main() -> None:
    signal = SCALE * slice_signal(TIMES_MS * 1e-3)
    noisy = signal + np.random.default_rng(SEED).normal(0.0, SIGMA, len(signal))
    lines = ["# synthetic MRFM slice signal, inverted step in 4.4e4 T/m, 1H in polystyrene: made by "
             f"make_data.py (seed {SEED}; truth Gamma = {TRUE['model.transport_coefficient']:g} m^2/s, "
             f"B_d = {TRUE['model.dipolar_field']:g} T, scale = {SCALE:g}; 480 cells)", "t_ms,signal,sigma"]
    lines += [f"{t:g},{y:.4f},{SIGMA:g}" for t, y in zip(TIMES_MS, noisy)]
    (HERE / "slice_signal.csv").write_text("\n".join(lines) + "\n")
    print(f"wrote {HERE / 'slice_signal.csv'} ({len(TIMES_MS)} points)")


if __name__ == "__main__":
    main()
