"""Synthetic Hanle data for examples/fit_hanle/fit.toml (run from the repository root:
``./fem-env python3 examples/fit_hanle/make_data.py``; it rewrites hanle.csv).

The "measurement" is the package's nonlocal resistance R_NL(B) of the parallel state of the 3-D
Co/AlOx/Al lateral spin valve (run.toml, L = 650 nm, B perpendicular to the substrate), one
run per field as measured, but on a finer mesh than the fit's (25 nm at the junctions and
150 nm elsewhere, not 50 and 400 nm), plus a spin-independent baseline OFFSET and Gaussian
noise of SIGMA (seeded). The truth is below; the fit should recover tau_sf and P_J within about
two standard errors.
"""

from pathlib import Path

import numpy as np

import fem_spin

HERE = Path(__file__).resolve().parent
TRUE = {"model.regions.N.spin_lifetime": 120e-12,           # s, tau_sf of the Al channel
        "model.regions.barrier1.polarization": 0.28,        # P_J, both barriers alike
        "model.regions.barrier2.polarization": 0.28}
OFFSET = 0.5e-3          # Ohm, the baseline of the nonlocal voltage (not spin)
SIGMA = 0.5e-3           # Ohm (0.5 mOhm)
SEED = 20261221
FIELDS_MT = np.linspace(-300.0, 300.0, 13)
FINE = {"geometry.mesh_size_junction": 25e-9, "geometry.mesh_size": 150e-9}


def r_nl(fields_mT, truth=TRUE, overrides=FINE) -> np.ndarray:
    """R_NL (Ohm) of the parallel state at each field (mT), one run each."""
    return np.array([fem_spin.simulate(HERE / "run.toml", overrides={
        **truth, **overrides, "model.hanle_fields": [float(b) * 1e-3]}).summary["R_parallel_ohm"]
        for b in fields_mT])


def main() -> None:
    clean = r_nl(FIELDS_MT) + OFFSET
    noisy = clean + np.random.default_rng(SEED).normal(0.0, SIGMA, len(clean))
    lines = [f"# synthetic Hanle curve R_NL(B), parallel state, Co/AlOx/Al at 4.2 K, L = 650 nm: made "
             f"by make_data.py (seed {SEED}; truth tau_sf = {TRUE['model.regions.N.spin_lifetime']:g} s, "
             f"P_J = {TRUE['model.regions.barrier1.polarization']:g}, baseline {OFFSET:g} Ohm; fine "
             f"mesh 25/150 nm)", "B_mT,R_NL_ohm,sigma_ohm"]
    lines += [f"{b:g},{y:.6e},{SIGMA:g}" for b, y in zip(FIELDS_MT, noisy)]
    (HERE / "hanle.csv").write_text("\n".join(lines) + "\n")
    print(f"wrote {HERE / 'hanle.csv'} ({len(FIELDS_MT)} points)")


if __name__ == "__main__":
    main()
