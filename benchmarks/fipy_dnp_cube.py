"""The periodic-cube CW DNP buildup of physics.md 1.2 written in FiPy, for the side-by-side
benchmark (benchmarks/bench_fipy_comparison.py). Not part of the package.

    dP/dt = div(D grad P) + k_x theta (P_e - P),   D = D0 / sqrt(1 - Pbar^2)   ("global")

on a uniform ``PeriodicGrid3D`` of N^3 cells (cell-centred finite volumes). theta is the
fraction of each cell inside the source sphere, from an s^3 sub-sample, so the source volume
converges smoothly instead of by voxel staircase (what a careful FiPy user would do; a
cell-centre test converges erratically). Pbar^{n+1} enters D, so each backward-Euler step
sweeps (Picard) until Pbar changes by less than ``sweep_tol``. Lengths in nm, times in s.
"""

from __future__ import annotations

import os
import time

import numpy as np

os.environ.setdefault("FIPY_SOLVERS", "petsc")


def source_fraction(n_cells: int, side: float, radius: float, subsamples: int = 6) -> np.ndarray:
    """Fraction of each cell of an n^3 grid on [0, side]^3 inside the sphere of ``radius`` at
    the centre, ordered like FiPy's cell ids (x fastest)."""
    h = side / n_cells
    sub = (np.arange(subsamples) + 0.5) / subsamples * h
    centre = side / 2
    axis = np.arange(n_cells) * h
    # Squared distance along one axis for each (cell, subpoint): separable, so the 3-D test
    # is a broadcast sum and the memory stays at n^3 * s^3 booleans per chunk of z-planes.
    d2 = ((axis[:, None] + sub[None, :]) - centre) ** 2          # (n, s)
    frac = np.empty((n_cells, n_cells, n_cells))
    r2 = radius ** 2
    for k in range(n_cells):
        inside = (d2[:, :, None, None, None, None] + d2[None, None, :, :, None, None]
                  + d2[k][None, None, None, None, None, :]) <= r2   # (x, sx, y, sy, 1, sz)
        frac[k] = inside.mean(axis=(1, 3, 4, 5)).T                  # [y, x]
    return frac.reshape(-1)                                           # z slowest, x fastest


def solve(n_cells: int, side_nm: float, radius_nm: float, D0_nm2_s: float, exchange_rate: float,
          source_polarization: float, step_times: np.ndarray, sample_times: np.ndarray,
          sweep_tol: float = 1e-10, precon: str = "hypre") -> dict:
    """Backward Euler over ``step_times`` (which must contain ``sample_times``); returns Pbar at
    the sample times, wall times and counts."""
    from fipy import CellVariable, DiffusionTerm, ImplicitSourceTerm, PeriodicGrid3D, TransientTerm, Variable
    from fipy.solvers import LinearPCGSolver

    t0 = time.perf_counter()
    h = side_nm / n_cells
    mesh = PeriodicGrid3D(nx=n_cells, ny=n_cells, nz=n_cells, dx=h, dy=h, dz=h)
    P = CellVariable(mesh=mesh, value=0.0, hasOld=True)
    theta = CellVariable(mesh=mesh, value=source_fraction(n_cells, side_nm, radius_nm))
    D = Variable(value=D0_nm2_s)
    rate = exchange_rate * theta
    eq = (TransientTerm() == DiffusionTerm(coeff=D) + rate * source_polarization
          - ImplicitSourceTerm(coeff=rate))
    solver = LinearPCGSolver(tolerance=1e-10, iterations=1000, precon=precon)
    setup = time.perf_counter() - t0

    t1 = time.perf_counter()
    samples, sweeps = {}, 0
    wanted = {float(t) for t in sample_times}
    t_prev = 0.0
    for t in step_times:
        dt = float(t) - t_prev
        P.updateOld()
        pbar_old = np.nan
        for _ in range(50):
            pbar = float(P.cellVolumeAverage)
            D.value = D0_nm2_s / np.sqrt(1.0 - pbar ** 2)
            eq.sweep(var=P, dt=dt, solver=solver)
            sweeps += 1
            if abs(pbar - pbar_old) < sweep_tol:
                break
            pbar_old = pbar
        t_prev = float(t)
        if float(t) in wanted:
            samples[float(t)] = float(P.cellVolumeAverage)
    solve_s = time.perf_counter() - t1
    return {"cells": n_cells ** 3, "steps": len(step_times), "sweeps": sweeps, "setup_s": setup,
            "solve_s": solve_s, "P_mean": [samples[float(t)] for t in sample_times]}
