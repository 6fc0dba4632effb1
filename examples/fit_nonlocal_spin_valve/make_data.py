"""Synthetic nonlocal spin-valve data for examples/fit_nonlocal_spin_valve/fit.toml (run from
the repository root: ``./fem-env python3 examples/fit_nonlocal_spin_valve/make_data.py``; it
rewrites delta_R.csv).

One device per injector-detector distance L, as measured: the "measurement" is the package's
Delta R = R_P - R_AP of the 3-D Cu/AlOx/Py lateral spin valve (run.toml), but on a finer mesh
than the fit's (20 nm at the junctions and 150 nm elsewhere, not 50 and 400 nm), plus Gaussian
noise of SIGMA (seeded). The truth is below; the fit should recover lambda_N and P_J within
about two standard errors.
"""

from pathlib import Path

import numpy as np

import fem_spin

HERE = Path(__file__).resolve().parent
TRUE = {"model.regions.N.spin_diffusion_length": 0.8e-6,     # m, lambda_N of the Cu channel
        "model.regions.barrier1.polarization": 0.35,         # P_J, both barriers alike
        "model.regions.barrier2.polarization": 0.35}
SIGMA = 1e-3             # Ohm (1 mOhm)
SEED = 20261205
DISTANCES_UM = np.array([0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0])
FINE = {"geometry.mesh_size_junction": 20e-9, "geometry.mesh_size": 150e-9}


def delta_r(distances_um, truth=TRUE, overrides=FINE) -> np.ndarray:
    """Delta R (Ohm) of the device at each distance (um), one run each."""
    return np.array([fem_spin.simulate(HERE / "run.toml", overrides={
        **truth, **overrides, "geometry.separation": float(L) * 1e-6}).summary["delta_R_ohm"]
        for L in distances_um])


def main() -> None:
    clean = delta_r(DISTANCES_UM)
    noisy = clean + np.random.default_rng(SEED).normal(0.0, SIGMA, len(clean))
    lines = [f"# synthetic nonlocal spin-valve signal, Cu/AlOx/Py at 4.2 K: made by make_data.py (seed "
             f"{SEED}; truth lambda_N = {TRUE['model.regions.N.spin_diffusion_length']:g} m, P_J = "
             f"{TRUE['model.regions.barrier1.polarization']:g}; fine mesh 20/150 nm)", "L_um,delta_R_ohm,sigma_ohm"]
    lines += [f"{L:g},{y:.6e},{SIGMA:g}" for L, y in zip(DISTANCES_UM, noisy)]
    (HERE / "delta_R.csv").write_text("\n".join(lines) + "\n")
    print(f"wrote {HERE / 'delta_R.csv'} ({len(DISTANCES_UM)} points)")


if __name__ == "__main__":
    main()
