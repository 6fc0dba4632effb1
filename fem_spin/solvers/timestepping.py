"""Implicit time stepping with error-controlled steps, shared by every transient model.

The stepper owns the time discretisation (:mod:`fem_spin.solvers.schemes`): a model
states its residual once in the backward-Euler shape, with the capacity history
``q_old`` and the implicit step ``dt_implicit`` that the scheme sets before every solve
(``TransientProblem.set_scheme_terms``). ``time.scheme`` chooses the variable-order BDF
(orders 1 to ``time.max_order``, chosen after every step from the scheme's estimates of the
error at the neighbouring orders; the default), variable-step BDF2 or backward Euler.

Error control. The scheme's local error estimate e of a step of length h is measured in
the weighted max-norm

    |e| = max_i |e_i| / (tolerance s_i + relative_tolerance |q_i|)

(q: the model's capacity quantity, e.g. P, or rho for the Onsager model; s its scale,
``error_scale()``, 1 for dimensionless quantities) and controlled *per unit change* of the
state:

    E = |e| / max(|q^{n+1} - q^n|_s, h / t_end) <= 1,

|.|_s the max-norm of the change in units of s. A step's local error is then at most
tolerance times the step's change of q, so the errors of all steps add up to at most
tolerance times the total variation of q over the run (at most ~1 for a monotone buildup
of a polarization): ``time.tolerance`` is the target accuracy of the result's time
discretisation, not a per-step number. Diffusive problems damp early errors, so the
measured global error lies below it (tests/unit/test_schemes.py: 0.2-0.36 of the tolerance
over three decades; tests/system/test_time_accuracy.py for the models). Unlike control
per unit *time* (h / t_end alone), a fast initial transient (a DNP source's microseconds
in a run of seconds) is resolved on its own scale, not on that of the whole run, and the
h / t_end floor keeps rounding noise in a steady state from shrinking the steps.
A step with E > 1 is repeated smaller; an accepted one proposes
h * clip(0.9 E^(-1/p), 0.2, growth_max) with p the order of the estimate (the step's order;
the BDF schemes also cap the ratio of consecutive steps per order, where they stay
zero-stable), or the factor of the order the variable-order scheme switches to. The error
target never falls below :attr:`TimeStepper.SOLVER_NOISE` (the Newton solve's own accuracy). A failed Newton solve halves the step and retries, and so does a step whose
solution holds NaN/Inf; below ``dt_min`` the run stops with :class:`SimulationFailed`
carrying the solver's reason. A step whose error still exceeds the target at ``dt_min`` is
accepted and flagged (``StepInfo.above_tolerance``), which the simulation reports.

Output times and model events (e.g. DNP pulses) are hit exactly: the remaining interval to
a stop is split into equal steps (no sliver before the stop, and the step after it may grow
from there). Output times keep the history; an event (a jump of the state) restarts the
scheme from one backward-Euler step of ``dt_initial``; BDF2 follows at once, the variable-order
BDF raises its order as its history fills and its estimates allow.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Protocol

import numpy as np
from mpi4py import MPI

from fem_spin.solvers.schemes import TimeScheme, scheme as make_scheme

__all__ = ["SimulationFailed", "Steppable", "StepInfo", "TimeStepper", "split_interval"]


class SimulationFailed(RuntimeError):
    """The run cannot continue (step size below dt_min); the message says why."""


class Steppable(Protocol):
    comm: MPI.Comm

    def set_time_step(self, t_new: float, dt: float) -> None: ...
    def set_scheme_terms(self, dt_implicit: float, capacity_old: np.ndarray) -> None: ...
    def solve_step(self): ...  # -> NewtonResult
    def accept_step(self) -> None: ...
    def reject_step(self) -> None: ...
    def capacity_values(self) -> np.ndarray: ...
    def error_scale(self) -> float | np.ndarray: ...
    def next_event_time(self, t: float) -> float | None: ...
    def apply_events(self, t: float) -> bool: ...


@dataclasses.dataclass
class StepInfo:
    step: int
    t: float
    dt: float
    newton_iterations: int
    linear_iterations: int
    rejected: int
    #: the step's weighted local error estimate per unit step, E (module docstring; <= 1:
    #: within time.tolerance), 0 where the scheme had no history to estimate it
    error_estimate: float
    #: accepted at dt_min with the error estimate above time.tolerance (the run goes on,
    #: less accurate than asked; the simulation warns and counts such steps)
    above_tolerance: bool = False
    #: order of the step actually taken (1: backward Euler, also BDF2's start-up step)
    order: int = 1


def split_interval(remaining: float, proposal: float) -> float:
    """The step towards a stop ``remaining`` away: the proposal if it leaves at least a
    proposal's length, else the rest in one step (stretched by up to 10 %, which also absorbs
    the rounding of accumulated times) or two equal ones (no sliver of a step before the
    stop, and no step ratio the scheme would suffer from after it)."""
    if remaining <= proposal * 1.1:
        return remaining
    if remaining >= 2.0 * proposal:
        return proposal
    return 0.5 * remaining


class TimeStepper:
    """Drive a :class:`Steppable` from t=0 to ``time.t_end`` (a [time] config)."""

    #: local error (in units of the error scale) below which an estimate is the Newton solve's
    #: own error (rtol 1e-10 on the residual, atol 1e-12), amplified by the predictor of an
    #: order-5 estimate (sum of its weights up to 63): asking for less shrinks the steps
    #: without limit at tight tolerances (measured: the Onsager step at tolerance 1e-8 ran into
    #: dt_min with error estimates of pure noise)
    SOLVER_NOISE = 1e-10

    def __init__(self, problem: Steppable, time_cfg, output_times=(), on_step: Callable | None = None,
                 on_output: Callable | None = None, tangent=None,
                 frozen_steps: "list[tuple[float, int, float]] | None" = None, record_steps: bool = False):
        self.p, self.cfg = problem, time_cfg
        #: forward sensitivities carried along the accepted steps (solvers/sensitivity.py):
        #: ``start()`` at a (re)start of the history, ``accepted(coefficients)`` after each
        #: accepted step (the Newton solution of the step still in place)
        self.tangent = tangent
        #: (dt, order, t after it) of every accepted step, in order: what a frozen replay needs;
        #: None unless ``record_steps`` (a long run streams its series to disk and must not
        #: grow a list per step in memory)
        self.accepted_steps: list[tuple[float, int, float]] | None = [] if record_steps else None
        #: replay exactly these accepted steps (dt, order, t) instead of choosing them: no error
        #: control, no rejection (a failed Newton solve stops the run). The derivative of the
        #: discrete map with the step sequence frozen (solvers/sensitivity.py) is checked
        #: against central differences of replays of the same steps.
        self.frozen_steps = list(frozen_steps) if frozen_steps is not None else None
        self.scheme: TimeScheme = make_scheme(time_cfg.scheme, time_cfg.max_order)
        self.output_times = sorted(t for t in set(output_times) if 0 < t <= time_cfg.t_end)
        self.on_step, self.on_output = on_step, on_output
        self.t = 0.0
        self.step = 0
        self.dt = time_cfg.dt_initial
        self._history: list[tuple[float, np.ndarray]] = []  # (dt that led to it, q), oldest first
        #: order of the next step (variable-order schemes) and steps taken at it since it was chosen
        self.order, self.steps_at_order = 1, 0
        self._restored = False
        self._scale = None

    def history_for_checkpoint(self) -> list[tuple[float, np.ndarray]]:
        """(dt, q) of the last accepted steps: what a checkpoint needs to continue identically."""
        return list(self._history)

    def scheme_state(self) -> dict:
        """What a checkpoint needs besides the history to continue identically."""
        return {"order": self.order, "steps_at_order": self.steps_at_order}

    def restore(self, t: float, step: int, dt: float, history: list[tuple[float, np.ndarray]],
                scheme_state: dict | None = None) -> None:
        """Continue from a checkpoint (io/checkpoint.py) instead of from t = 0."""
        self.t, self.step, self.dt = t, step, dt
        self._history = list(history)
        if scheme_state:
            self.order, self.steps_at_order = int(scheme_state["order"]), int(scheme_state["steps_at_order"])
        self._restored = True

    # ------------------------------------------------------------------ norms
    def _max(self, value: float) -> float:
        comm = self.p.comm
        return value if comm.size == 1 else comm.allreduce(value, op=MPI.MAX)

    def _all_finite(self, a: np.ndarray) -> bool:
        finite = bool(np.isfinite(a).all())
        comm = self.p.comm
        return finite if comm.size == 1 else bool(comm.allreduce(finite, op=MPI.LAND))

    def weighted_norm(self, error: np.ndarray, q: np.ndarray) -> float:
        """max_i |e_i| / (tolerance s_i + relative_tolerance |q_i|) over every rank, with s the
        model's ``error_scale()`` (1 for dimensionless quantities)."""
        cfg = self.cfg
        if error.size == 0:
            return self._max(0.0)
        if self._scale is None:
            self._scale = self.p.error_scale()
        target = cfg.tolerance * self._scale
        if cfg.relative_tolerance:
            target = target + cfg.relative_tolerance * np.abs(q)
        return self._max(float(np.max(np.abs(error) / target)))

    def scaled_change(self, q: np.ndarray) -> float:
        """max_i |q_i - q^n_i| / s_i over every rank: the step's change of the state."""
        if self._scale is None:
            self._scale = self.p.error_scale()
        change = np.abs(q - self._history[-1][1]) / self._scale if q.size else np.zeros(1)
        return self._max(float(np.max(change)))

    def _unit_change(self, q: np.ndarray, dt: float) -> float:
        """The change the step's error is measured against (module docstring): the state's
        change, at least dt / t_end, and at least SOLVER_NOISE / tolerance, so that no step is
        asked for a local error below what the Newton solve itself resolves."""
        return max(self.scaled_change(q), dt / self.cfg.t_end, self.SOLVER_NOISE / self.cfg.tolerance)

    # ------------------------------------------------------------------ the loop
    def _next_stop(self) -> float:
        stops = [self.cfg.t_end]
        stops += [t for t in self.output_times if t > self.t * (1 + 1e-12)]
        te = self.p.next_event_time(self.t)
        if te is not None and te > self.t:
            stops.append(te)
        return min(stops)

    def _restart_history(self) -> None:
        self._history = [(0.0, self.p.capacity_values().copy())]
        self.order, self.steps_at_order = 1, 0
        if self.tangent is not None:
            self.tangent.start()

    def run(self) -> None:
        cfg = self.cfg
        scheme = self.scheme
        if not self._restored:
            self.p.apply_events(0.0)  # e.g. the first DNP pulse at t = 0
            self._restart_history()
        if self.frozen_steps is not None:
            self._replay()
            return
        while self.t < cfg.t_end * (1 - 1e-14):
            stop = self._next_stop()
            proposal = min(self.dt, cfg.dt_max)
            dt = split_interval(stop - self.t, proposal)
            clipped = dt < proposal * (1 - 1e-12)   # shortened to hit the stop
            rejected = 0
            while True:
                coefficients = scheme.coefficients(dt, self._history, self.order)
                self.p.set_time_step(self.t + dt, dt)
                self.p.set_scheme_terms(coefficients.dt_implicit, coefficients.q_old(self._history))
                result = self.p.solve_step()
                q = self.p.capacity_values() if result.converged else None
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
                E, factor = 0.0, 1.0
                estimate = scheme.local_error(q, dt, self._history, self.order) if cfg.adaptive else None
                if estimate is not None:
                    error, p = estimate
                    # per unit change: E <= 1 keeps the accumulated error below the tolerance
                    # times the total variation of q (module docstring)
                    E = self.weighted_norm(error, q) / self._unit_change(q, dt)
                    factor = 0.9 * E ** (-1.0 / p) if E > 0 else cfg.growth_max
                    if E > 1.0 and dt > cfg.dt_min * 1.0001:
                        self.p.reject_step()
                        rejected += 1
                        dt = max(dt * max(0.2, min(factor, 0.9)), cfg.dt_min)
                        continue
                elif cfg.adaptive:
                    factor = 1.5 if result.iterations <= 4 else 1.0
                break
            self.p.accept_step()
            if self.tangent is not None:
                self.tangent.accepted(coefficients)
            max_ratio = scheme.max_ratio(coefficients.order)
            if cfg.adaptive and estimate is not None:
                change = self._unit_change(q, dt)
                order, order_factor = scheme.select_order(
                    q, dt, self._history, coefficients.order, self.steps_at_order,
                    lambda e: self.weighted_norm(e, q) / change)
                if order != coefficients.order:
                    factor, max_ratio = order_factor, scheme.max_ratio(order)
                    self.order, self.steps_at_order = order, 0
                else:
                    self.order, self.steps_at_order = coefficients.order, self.steps_at_order + 1
            elif not cfg.adaptive:
                # fixed steps: the scheme's full order, reached as the history fills
                self.order = scheme.order
            self.t += dt
            if abs(self.t - stop) <= 1e-12 * max(1.0, abs(stop)):
                self.t = stop  # land exactly on output/event times
            self.step += 1
            if self.accepted_steps is not None:
                self.accepted_steps.append((dt, coefficients.order, self.t))
            self._history = (self._history + [(dt, q.copy())])[-scheme.history_length:]
            if not cfg.adaptive:
                self.dt = cfg.dt_initial
            elif clipped and rejected == 0:
                # a step shortened to hit a stop says nothing about the next one, but the
                # scheme's stability bounds the ratio to it
                self.dt = min(proposal, max_ratio * dt)
            else:
                self.dt = max(cfg.dt_min, dt * min(cfg.growth_max, max_ratio, max(0.2, factor)))
            if self.p.apply_events(self.t):
                # An instantaneous event breaks the smooth history the scheme and the error
                # estimate need, and the fast transient after it starts again from the first
                # step size.
                self._restart_history()
                self.dt = min(self.dt, cfg.dt_initial)
            info = StepInfo(self.step, self.t, dt, result.iterations, result.linear_iterations,
                            rejected, E, above_tolerance=E > 1.0, order=coefficients.order)
            # Output first: on_step may stop the run (signal, pause) with a checkpoint at
            # this time, after which the snapshot due now would never be written.
            if self.on_output is not None and any(abs(self.t - to) <= 1e-12 * max(1.0, to)
                                                  for to in self.output_times):
                self.on_output(self.t)
            if self.on_step is not None:
                self.on_step(info)

    def _replay(self) -> None:
        """Take exactly the steps of ``frozen_steps`` (their dt, order and end time), no error
        control; output times and events as in :meth:`run` (the recorded steps land on them)."""
        scheme = self.scheme
        for dt, order, t_after in self.frozen_steps[self.step:]:
            coefficients = scheme.coefficients(dt, self._history, order)
            self.p.set_time_step(self.t + dt, dt)
            self.p.set_scheme_terms(coefficients.dt_implicit, coefficients.q_old(self._history))
            result = self.p.solve_step()
            if not result.converged:
                self.p.reject_step()
                raise SimulationFailed(f"replayed step {self.step + 1} (dt = {dt:g} s) at t = "
                                       f"{self.t:g} s: {result.reason}")
            q = self.p.capacity_values()
            self.p.accept_step()
            if self.tangent is not None:
                self.tangent.accepted(coefficients)
            self.t = t_after
            self.step += 1
            if self.accepted_steps is not None:
                self.accepted_steps.append((dt, coefficients.order, self.t))
            self._history = (self._history + [(dt, q.copy())])[-scheme.history_length:]
            if self.p.apply_events(self.t):
                self._restart_history()
            info = StepInfo(self.step, self.t, dt, result.iterations, result.linear_iterations,
                            0, 0.0, order=coefficients.order)
            if self.on_output is not None and any(abs(self.t - to) <= 1e-12 * max(1.0, to)
                                                  for to in self.output_times):
                self.on_output(self.t)
            if self.on_step is not None:
                self.on_step(info)
