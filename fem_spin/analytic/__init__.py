"""Closed-form and exact one-dimensional reference solutions (no dolfinx).

:mod:`fem_spin.analytic.spintronics` -- Valet-Fert spin transport (physics.md 3.1):
spin resistance, the Takahashi-Maekawa nonlocal spin-valve signal and its fits, the
Hanle curve, and the exact 1-D multilayer (CPP-GMR) solution.

:mod:`fem_spin.analytic.onsager` -- two-quantity Onsager transport (physics.md 2):
entropy, potentials and covariance, equilibria from conserved totals, the Langevin and
Fenske profiles, and an independent 1-D finite-volume solver of the three formulations.

:mod:`fem_spin.analytic.tip_field` -- the field of a uniformly magnetized sphere tip and
the axial field of cylinder + cone tips (physics.md 4).
"""

from fem_spin.analytic import onsager, tip_field  # noqa: F401  (modules)
from fem_spin.analytic.spintronics import (
    BOHR_MAGNETON,
    HBAR,
    HanleFit,
    Layer,
    MultilayerSolution,
    SpinDiffusionFit,
    cpp_gmr,
    fit_hanle,
    fit_spin_diffusion_length,
    hanle_nonlocal_resistance,
    interface_resistances,
    larmor_frequency,
    reverse_interface,
    reverse_layer,
    solve_multilayer,
    spin_memory_loss_layer,
    spin_resistance,
    takahashi_maekawa,
    takahashi_maekawa_transparent_limit,
    takahashi_maekawa_tunnel_limit,
)

__all__ = [
    "BOHR_MAGNETON",
    "HBAR",
    "HanleFit",
    "Layer",
    "MultilayerSolution",
    "SpinDiffusionFit",
    "cpp_gmr",
    "fit_hanle",
    "fit_spin_diffusion_length",
    "hanle_nonlocal_resistance",
    "interface_resistances",
    "larmor_frequency",
    "reverse_interface",
    "reverse_layer",
    "solve_multilayer",
    "spin_memory_loss_layer",
    "spin_resistance",
    "takahashi_maekawa",
    "takahashi_maekawa_transparent_limit",
    "takahashi_maekawa_tunnel_limit",
]
