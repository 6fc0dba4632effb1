"""Spin absorption ratio eta of the system test's device (tests/system/test_spin_absorption.py)
against the 1-D network, on the default graded mesh and refined meshes, and for absorber widths
5, 10, 20 nm: what the test's tolerance rests on (issue 23).

    python3 benchmarks/bench_spin_absorption_mesh.py [--quick]

Device: Cu@300K strip 50 x 20 nm (lambda_N = 350 nm), Py@300K pillar electrodes 50 x 50 x 20 nm,
L = 600 nm, an absorber M (rho 100 nOhm m, lambda 20 nm, t 10 nm) of width w_M exactly under the
strip; eta = Delta R_NL(M) / Delta R_NL(M without spin flip) on the same mesh. Rows: the mesh
("default": graded from the spin-flip lengths; "h = X nm": uniform junction mesh), w_M, the DOFs,
eta 3-D, eta of the network and their relative difference. --quick: the default mesh only.
"""

from __future__ import annotations

import argparse
import math
import time

from fem_spin.analytic import spin_resistance
from fem_spin.analytic.spin_absorption import LateralSpinValveNetwork, absorber_spin_resistance
from fem_spin.config import parse_config
from fem_spin.materials import get_material
from fem_spin.models.valet_fert import ValetFertProblem

W_N, T_N, L, T_M = 50e-9, 20e-9, 600e-9, 10e-9
ABSORBER = {"resistivity": 1e-7, "spin_diffusion_length": 20e-9}


def delta_r(w_m: float, absorber: dict, h: float | None) -> tuple[float, int]:
    cu = get_material("Cu@300K")
    geometry = {"type": "spin_absorption_valve", "separation": L, "n_width": W_N, "n_thickness": T_N,
                "n_extension": 3 * cu.spin_diffusion_length, "f_width": W_N, "f_thickness": 20e-9,
                "f_arm": 0.0, "m_width": w_m, "m_thickness": T_M, "m_length": W_N}
    if h is not None:
        geometry["mesh_size_junction"] = h
    electrode = {"material": "Py@300K", "magnetization": [0, 1, 0]}
    raw = {"name": "bench", "geometry": geometry, "output": {"plot": False, "render": False},
           "model": {"type": "valet_fert", "current": 1e-4, "current_contact": "F1_top",
                     "ground": "N_left_end", "voltage_probes": ["F2_top", "N_right_end"],
                     "regions": {"N": {"material": "Cu@300K"}, "F1": electrode, "F2": dict(electrode),
                                 "M": absorber}}}
    problem = ValetFertProblem(parse_config(raw)).initialise()
    for _ in problem.solve_cases():
        pass
    dofs = problem.V.dofmap.index_map.size_global * problem.V.dofmap.index_map_bs
    out = problem.summary()["delta_R_ohm"]
    problem.destroy()
    return out, dofs


def network_eta(w_m: float) -> float:
    cu, py = get_material("Cu@300K"), get_material("Py@300K")
    return LateralSpinValveNetwork(
        L, cu.spin_diffusion_length, spin_resistance(cu.resistivity, cu.spin_diffusion_length, W_N * T_N),
        spin_resistance(py.resistivity, py.spin_diffusion_length, W_N * W_N), py.bulk_polarization,
        R_M=absorber_spin_resistance(ABSORBER["resistivity"], ABSORBER["spin_diffusion_length"], W_N * w_m, T_M),
    ).absorption_ratio()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    cases = [(None, 10e-9)] if args.quick else [(None, 5e-9), (None, 10e-9), (None, 20e-9), (5e-9, 10e-9),
                                                (2.5e-9, 10e-9)]
    print(f"{'mesh':>10} {'w_M (nm)':>8} {'DOFs':>7} {'eta 3-D':>8} {'eta net':>8} {'diff':>8} {'s':>5}")
    for h, w_m in cases:
        start = time.perf_counter()
        with_m, dofs = delta_r(w_m, ABSORBER, h)
        without, _ = delta_r(w_m, dict(ABSORBER, spin_diffusion_length=math.inf), h)
        eta, net = with_m / without, network_eta(w_m)
        mesh = "default" if h is None else f"h = {h * 1e9:g} nm"
        print(f"{mesh:>10} {w_m * 1e9:8.0f} {dofs:7d} {eta:8.4f} {net:8.4f} {(eta / net - 1) * 100:+7.2f}% "
              f"{time.perf_counter() - start:5.1f}")


if __name__ == "__main__":
    main()
