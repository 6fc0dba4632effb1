"""Implicit time stepping with error-controlled steps, shared by every transient model.

A model advances itself by backward Euler (``solve_step``); this module decides
the step size. The local error of a step is estimated from the difference between
the implicit solution and the explicit extrapolation of the two previous states
(Milne's device for BDF1):

    err = dt/(dt + dt_prev) * max|q^{n+1} - (q^n + dt (q^n - q^{n-1})/dt_prev)|

with q the model's controlled quantity (the polarization for spin diffusion). A
step with err > tolerance is repeated smaller; an accepted one proposes
dt * clip(0.9 sqrt(tol/err), 0.2, growth_max). A failed Newton solve halves the
step and retries, and so does a step whose solution holds NaN/Inf; below ``dt_min``
the run stops with :class:`SimulationFailed` carrying the solver's reason. A step whose
error estimate still exceeds the tolerance at ``dt_min`` is accepted and flagged
(``StepInfo.above_tolerance``), which the simulation reports. Output times and model events (e.g. DNP pulses) are
hit exactly; after an event the step restarts from ``dt_initial`` (without history
the first step has no error estimate, so it must be small).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Protocol

import numpy as np
from mpi4py import MPI

__all__ = ["SimulationFailed", "Steppable", "StepInfo", "TimeStepper"]


class SimulationFailed(RuntimeError):
    """The run cannot continue (step size below dt_min); the message says why."""


class Steppable(Protocol):
    comm: MPI.Comm

    def set_time_step(self, t_new: float, dt: float) -> None: ...
    def solve_step(self): ...  # -> NewtonResult
    def accept_step(self) -> None: ...
    def reject_step(self) -> None: ...
    def error_quantity(self) -> np.ndarray: ...


@dataclasses.dataclass
class StepInfo:
    step: int
    t: float
    dt: float
    newton_iterations: int
    linear_iterations: int
    rejected: int
    error_estimate: float
    #: accepted at dt_min with the error estimate above time.tolerance (the run goes on,
    #: less accurate than asked; the simulation warns and counts such steps)
    above_tolerance: bool = False


class TimeStepper:
    """Drive a :class:`Steppable` from t=0 to ``time.t_end`` (a [time] config)."""

    def __init__(self, problem: Steppable, time_cfg, output_times=(), on_step: Callable | None = None,
                 on_output: Callable | None = None):
        self.p, self.cfg = problem, time_cfg
        self.output_times = sorted(t for t in set(output_times) if 0 < t <= time_cfg.t_end)
        self.on_step, self.on_output = on_step, on_output
        self.t = 0.0
        self.step = 0
        self.dt = time_cfg.dt_initial
        self._history: list[tuple[float, np.ndarray]] = []  # (dt that led to it, q)
        self._restored = False

    def history_for_checkpoint(self) -> list[tuple[float, np.ndarray]]:
        """(dt, q) of the last accepted steps: what a checkpoint needs to continue identically."""
        return list(self._history)

    def restore(self, t: float, step: int, dt: float, history: list[tuple[float, np.ndarray]]) -> None:
        """Continue from a checkpoint (io/checkpoint.py) instead of from t = 0."""
        self.t, self.step, self.dt = t, step, dt
        self._history = list(history)
        self._restored = True

    def _max_abs(self, a: np.ndarray) -> float:
        local = float(np.max(np.abs(a))) if a.size else 0.0
        return self.p.comm.allreduce(local, op=MPI.MAX)

    def _all_finite(self, a: np.ndarray) -> bool:
        return bool(self.p.comm.allreduce(bool(np.all(np.isfinite(a))), op=MPI.LAND))

    def _next_stop(self) -> float:
        stops = [self.cfg.t_end]
        stops += [t for t in self.output_times if t > self.t * (1 + 1e-12)]
        event = getattr(self.p, "next_event_time", None)
        if event is not None:
            te = event(self.t)
            if te is not None and te > self.t:
                stops.append(te)
        return min(stops)

    def run(self) -> None:
        cfg = self.cfg
        at_event = getattr(self.p, "apply_events", None)
        if not self._restored:
            if at_event is not None:
                at_event(0.0)  # e.g. the first DNP pulse at t = 0
            self._history = [(0.0, self.p.error_quantity().copy())]
        while self.t < cfg.t_end * (1 - 1e-14):
            stop = self._next_stop()
            proposal = min(self.dt, cfg.dt_max)
            dt = min(proposal, stop - self.t)
            # Avoid a sliver of a step just before a stop.
            if stop - self.t - dt < 0.1 * dt:
                dt = stop - self.t
            clipped = dt < proposal
            rejected = 0
            while True:
                self.p.set_time_step(self.t + dt, dt)
                result = self.p.solve_step()
                q = self.p.error_quantity() if result.converged else None
                if q is not None and not self._all_finite(q):
                    # never accept a NaN/Inf state silently: retry smaller like a failed solve
                    result = dataclasses.replace(result, converged=False,
                                                 reason="non-finite values (NaN/Inf) in the solution")
                if not result.converged:
                    self.p.reject_step()
                    rejected += 1
                    if dt <= cfg.dt_min * (1 + 1e-12):
                        raise SimulationFailed(f"time step fell below dt_min = {cfg.dt_min:g} s at t = "
                                               f"{self.t:g} s: {result.reason}")
                    dt = max(0.5 * dt, cfg.dt_min)   # dt_min itself is tried before giving up
                    continue
                err, factor = 0.0, 1.0
                if cfg.adaptive and len(self._history) >= 2:
                    (dt_prev, q_n), (_, q_nm1) = self._history[-1], self._history[-2]
                    predictor = q_n + dt * (q_n - q_nm1) / dt_prev
                    err = dt / (dt + dt_prev) * self._max_abs(q - predictor)
                    factor = 0.9 * math.sqrt(cfg.tolerance / err) if err > 0 else cfg.growth_max
                    if err > cfg.tolerance and dt > cfg.dt_min * 1.0001:
                        self.p.reject_step()
                        rejected += 1
                        dt = max(dt * max(0.2, min(factor, 0.9)), cfg.dt_min)
                        continue
                elif cfg.adaptive:
                    factor = 1.5 if result.iterations <= 4 else 1.0
                break
            self.p.accept_step()
            self.t += dt
            if abs(self.t - stop) <= 1e-12 * max(1.0, abs(stop)):
                self.t = stop  # land exactly on output/event times
            self.step += 1
            self._history = (self._history + [(dt, q.copy())])[-2:]
            if not cfg.adaptive:
                self.dt = cfg.dt_initial
            elif clipped and rejected == 0:
                self.dt = proposal  # a step shortened to hit a stop says nothing about the next one
            else:
                self.dt = max(cfg.dt_min, dt * min(cfg.growth_max, max(0.2, factor)))
            if at_event is not None and at_event(self.t):
                # An instantaneous event breaks the smooth history the error estimate needs,
                # and the fast transient after it starts again from the first step size.
                self._history = [(0.0, self.p.error_quantity().copy())]
                self.dt = min(self.dt, cfg.dt_initial)
            info = StepInfo(self.step, self.t, dt, result.iterations, result.linear_iterations,
                            rejected, err, above_tolerance=err > cfg.tolerance)
            # Output first: on_step may stop the run (signal, pause) with a checkpoint at
            # this time, after which the snapshot due now would never be written.
            if self.on_output is not None and any(abs(self.t - to) <= 1e-12 * max(1.0, to)
                                                  for to in self.output_times):
                self.on_output(self.t)
            if self.on_step is not None:
                self.on_step(info)
