"""Shared solvers: Newton on PETSc and adaptive implicit time stepping."""

from fem_spin.solvers.newton import (LINEAR_SOLVER_DEFAULTS, NEWTON_DEFAULTS, NewtonResult,
                                     NewtonSolver)
from fem_spin.solvers.timestepping import SimulationFailed, StepInfo, TimeStepper

__all__ = ["LINEAR_SOLVER_DEFAULTS", "NEWTON_DEFAULTS", "NewtonResult", "NewtonSolver",
           "SimulationFailed", "StepInfo", "TimeStepper"]
