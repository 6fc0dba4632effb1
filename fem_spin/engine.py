"""The run engine: one loop for transient and stationary models, emitting events to outputs.

A run is a problem (a model's :class:`~fem_spin.models.base.TransientProblem`,
:class:`~fem_spin.models.base.SteadyProblem` or
:class:`~fem_spin.models.base.SampledProblem`, set up) and a list of output objects
(:mod:`fem_spin.outputs`). The engine owns the loop and the decisions every rank must
take together; outputs own the files (or the memory) and nothing else::

    started        Output.start(run)              files opened, t = 0 written
    step accepted  Output.step(run, info)         a row of the time series, progress
    output time    Output.output_time(run, t)     field snapshots, probe profiles
    case solved    Output.case(run, i, row, f)    a row of results.csv, a field snapshot
    finished       Output.finish(run)             summary, analysis, final checkpoint
                   Output.close(run)              always, also after a failure

A sampled problem (``run_sampled``) is evaluated, not stepped: each evaluation at one of
its sample times is a step of the time series (no iterations, no rejections), with the
same events, stop decisions, checkpoints and summary as a transient run.

Once per accepted step all ranks agree (one Allreduce) whether to stop (a signal, the
``time.max_steps`` pause, an output that could not write) and whether a checkpoint is due.
Failures and stops are exceptions (:class:`Interrupted`, :class:`Paused`,
:class:`OutputFailed`, :class:`~fem_spin.solvers.SimulationFailed`) raised after every
output has seen ``finish`` with ``run.failure`` set and ``close``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import sys
import time
from typing import Any, Callable

import numpy as np
from mpi4py import MPI

from fem_spin.solvers import SimulationFailed, StepInfo, TimeStepper

__all__ = ["Run", "Output", "Engine", "Interrupted", "SetupInterrupted", "Paused", "OutputFailed",
           "SampleClock", "stop_on_signals", "stop_requested", "armed", "output_times",
           "snapshot_times", "sample_schedule"]


class Interrupted(RuntimeError):
    """The run received SIGINT/SIGTERM; outputs written so far are closed and valid."""


class SetupInterrupted(Interrupted):
    """SIGINT/SIGTERM arrived before the run directory was created: nothing was written."""


class Paused(RuntimeError):
    """time.max_steps was reached: the run stopped with a checkpoint (fem-spin resume)."""


class OutputFailed(RuntimeError):
    """A result file could not be written (disk full, I/O error); what was written before is
    closed and consistent."""


# --------------------------------------------------------------------------- output times
def snapshot_times(t_end: float, dt_initial: float, count: int) -> list[float]:
    """``count`` log-spaced times between ~dt_initial and t_end (t_end included)."""
    if count <= 0:
        return [t_end]
    start = min(max(dt_initial * 10, t_end * 1e-4), t_end)
    times = np.geomspace(start, t_end, count) if count > 1 else np.array([t_end])
    return sorted({float(f"{t:.6g}") for t in times[:-1]} | {t_end})


def output_times(config) -> list[float]:
    """The field snapshot times of a run: ``output.snapshot_times`` if given, else
    ``field_snapshots`` log-spaced ones; t_end always."""
    out, t_end = config.output, config.time.t_end
    if out.snapshot_times:
        return sorted({float(t) for t in out.snapshot_times if t < t_end} | {t_end})
    return snapshot_times(t_end, config.time.dt_initial, out.field_snapshots)


def _same_time(a: float, b: float) -> bool:
    """The time stepper's test for landing on an output time."""
    return abs(a - b) <= 1e-12 * max(1.0, b)


def sample_schedule(samples, outputs, t_end: float) -> list[float]:
    """The times a sampled run evaluates at: its sample times and the output times in
    (0, t_end], sorted; an output time within 1e-12 (relative) of a sample time is that
    sample time (as the time stepper lands on it)."""
    merged: list[float] = []
    for t in sorted({float(t) for t in samples} | {float(t) for t in outputs}):
        if 0 < t <= t_end * (1 + 1e-14) and not (merged and _same_time(t, merged[-1])):
            merged.append(t)
    return merged


# --------------------------------------------------------------------------- signals
class _StopRequest:
    """SIGTERM/SIGINT handling: the first signal asks the run to stop at the end of the
    current step (all ranks agree on the step, so nothing deadlocks, and the state is an
    accepted one that a checkpoint can hold). A second one stops at once, but only while a
    step is being computed (``armed``): while files are closed and summary.json written,
    further signals are only counted, so a scheduler's repeated SIGTERM never cuts them.

    SIGUSR1/SIGUSR2 are SIGINT/SIGTERM relayed by ``fem-spin-mpirun`` (mpi_launcher.py: mpirun's own
    SIGTERM handling kills the ranks after 250 ms); it never escalates, and neither does a
    signal within :attr:`GRACE_S` of the first (a scheduler that signals mpirun and every rank
    delivers the same request twice)."""

    GRACE_S = 1.0

    def __init__(self):
        self.signal_name: str | None = None
        self.first_at = 0.0
        self.armed = False
        #: during setup (nothing written yet) the first signal stops at once
        self.immediate = False
        self.on_setup_stop: Callable[[], None] | None = None

    def handler(self, signum, frame):
        name = signal.Signals(signum).name
        relayed = signum in RELAYED
        if relayed:
            name = f"{RELAYED[signum]} (relayed by fem-spin-mpirun)"
        if self.immediate:
            self.immediate = False
            message = f"stopped by {name} while setting the run up; nothing was written"
            if MPI.COMM_WORLD.size > 1:
                # Each rank gets the signal at its own moment, maybe inside a collective of the
                # setup (mesh distribution): an exception would leave the others waiting there.
                # Nothing but the staged directory exists yet, so remove it and leave at once.
                if self.on_setup_stop is not None:
                    self.on_setup_stop()
                # (from the rank the signal reached: it may be the only one)
                print(f"fem-spin: error: {message}", file=sys.stderr, flush=True)
                os._exit(130)
            raise SetupInterrupted(message)
        if self.signal_name is None:
            self.signal_name, self.first_at = name, time.monotonic()
            return
        if self.armed and not relayed and time.monotonic() - self.first_at > self.GRACE_S:
            self.armed = False
            raise Interrupted(f"stopped by a second {name}")


_ACTIVE_REQUEST: list[_StopRequest] = []
#: the signals fem-spin-mpirun relays a stop as (mpi_launcher.py): what each stands for
RELAYED = {signal.SIGUSR1: "SIGINT", signal.SIGUSR2: "SIGTERM"}


@contextlib.contextmanager
def stop_on_signals():
    """The stop request of the whole command: nested uses share the outermost one, whose
    handlers stay installed until the command has written its last file."""
    if _ACTIVE_REQUEST:
        yield _ACTIVE_REQUEST[-1]
        return
    request = _StopRequest()
    previous = {}
    for sig in (signal.SIGTERM, signal.SIGINT, *RELAYED):
        try:
            previous[sig] = signal.signal(sig, request.handler)
        except ValueError:  # not the main thread
            pass
    _ACTIVE_REQUEST.append(request)
    try:
        yield request
    finally:
        _ACTIVE_REQUEST.pop()
        for sig, h in previous.items():
            if sig in RELAYED and h in (signal.SIG_DFL, None):
                # a relayed stop can arrive late (fem-spin-mpirun relays every signal it
                # gets): its default action would kill a process that is exiting cleanly
                h = signal.SIG_IGN
            signal.signal(sig, h)


def stop_requested() -> str | None:
    """The signal that asked this command to stop, if any (for work between steps, such as
    drawing the pictures, that checks it itself)."""
    return _ACTIVE_REQUEST[-1].signal_name if _ACTIVE_REQUEST else None


@contextlib.contextmanager
def armed(request: _StopRequest):
    request.armed = True
    try:
        yield
    finally:
        request.armed = False


# --------------------------------------------------------------------------- the run
@dataclasses.dataclass
class Run:
    """What the outputs see of a run in progress."""

    config: Any
    problem: Any
    comm: MPI.Comm
    label: str = ""
    #: the checkpoint state a resumed run continues from (None: from t = 0)
    resume_state: dict | None = None
    #: output times of a transient run
    times: list[float] = dataclasses.field(default_factory=list)
    #: the time stepper of a transient run, the clock of a sampled one
    stepper: TimeStepper | SampleClock | None = None
    #: the summary being built; outputs add their parts
    summary: dict = dataclasses.field(default_factory=dict)
    #: counters over the whole run (a resumed run continues them)
    totals: dict = dataclasses.field(default_factory=dict)
    #: stepping seconds of the earlier segments of a resumed run
    wall_before: float = 0.0
    wall_start: float = dataclasses.field(default_factory=time.perf_counter)
    #: set-up seconds of the earlier segments of a resumed run
    setup_before: float = 0.0
    #: the observables of the last accepted step (see :attr:`observed`)
    _observed: dict | None = None
    #: times of the field snapshots written so far, over every segment of a resumed run
    snapshot_times: list[float] = dataclasses.field(default_factory=list)
    #: probe-line profiles so far: time -> values (checkpointed with the state)
    profiles: dict = dataclasses.field(default_factory=dict)
    #: the model's further probe lines (``extra_profile_probes``): name -> {time -> values}
    extra_profiles: dict = dataclasses.field(default_factory=dict)
    #: the exception that stops the run, once there is one
    failure: BaseException | None = None
    #: forward sensitivities (solvers/sensitivity.py) with respect to these run keys
    tangent_keys: tuple[str, ...] = ()
    #: their TangentLinear once the run has started
    tangent: Any = None
    #: replay these accepted steps (dt, order, t) instead of choosing them (TimeStepper)
    frozen_steps: list | None = None
    #: keep the accepted steps in memory (TimeStepper.accepted_steps: in-memory runs only)
    record_steps: bool = False

    @property
    def observed(self) -> dict:
        """The problem's observables at the current step: computed once per step (global
        reductions) for all outputs, and only if an output asks (a cheap unit-cell run
        recording one number would pay for them at every step otherwise). Collective on its
        first use in a step: an output reads it on every rank, never on rank 0 alone."""
        if self._observed is None:
            self._observed = self.problem.observables()
        return self._observed

    @property
    def resumed(self) -> bool:
        return self.resume_state is not None

    @property
    def wall_time(self) -> float:
        """Seconds in the engine (stepping and output), over every segment of the run."""
        return self.wall_before + time.perf_counter() - self.wall_start

    @property
    def setup_time(self) -> float:
        """Seconds setting the problem up (mesh, spaces, forms, solver; a resumed segment's
        checkpoint reading), over every segment of the run."""
        return self.setup_before + float(getattr(self.problem, "setup_s", 0.0) or 0.0)

    def timings(self) -> dict:
        """summary.json's times: ``setup_s`` + ``stepping_s`` = ``wall_time_s``."""
        setup, stepping = self.setup_time, self.wall_time
        times = {"setup_s": setup, "stepping_s": stepping, "wall_time_s": setup + stepping}
        profile = getattr(self.problem, "setup_profile", None)
        if profile:
            times["setup_profile_s"] = {k: round(v, 6) for k, v in profile.items()}
        cache = getattr(getattr(self.problem, "mesh_data", None), "cache", "")
        if cache:
            times["mesh_cache"] = cache
        return times


@dataclasses.dataclass
class SampleClock:
    """Where a sampled run is: what a checkpoint records of a time stepper
    (io/checkpoint.py reads t, step, dt and a history, which a sampled run does not have)."""

    t: float = 0.0
    step: int = 0
    dt: float = 0.0

    def history_for_checkpoint(self) -> list:
        return []

    def scheme_state(self) -> None:
        return None


class Output:
    """An output object: receives the engine's events, does one job. Every hook is
    optional. ``step`` may raise OSError (a rank-0 writer): the engine makes that a decision
    of all ranks. ``due()`` says whether this output wants the engine to call its ``save``
    at the end of this step on every rank (checkpoints)."""

    def start(self, run: Run) -> None: ...

    def step(self, run: Run, info) -> None: ...

    def output_time(self, run: Run, t: float) -> None: ...

    def case(self, run: Run, index: int, row: dict, write_fields: bool) -> None: ...

    def skip_case(self, run: Run, index: int, row: dict, write_fields: bool) -> None:
        """A case a resumed stationary run had finished before its stop (not solved again)."""

    def due(self, run: Run) -> bool:
        return False

    def save(self, run: Run) -> None: ...

    def finish(self, run: Run) -> None: ...

    def close(self, run: Run) -> None: ...


def _write_failure(exc: OSError) -> str:
    return f"cannot write {exc.filename or 'a result file'}: {exc.strerror or exc}"


class Engine:
    """Drive a set-up problem to its end, emitting events to ``outputs``."""

    def __init__(self, outputs: list[Output], quiet: bool = True):
        self.outputs = list(outputs)
        self.quiet = quiet

    def _each(self, hook: str, *args) -> None:
        for output in self.outputs:
            getattr(output, hook)(*args)

    def _finish(self, run: Run) -> None:
        """finish then close every output, even when one of them fails: the first error is
        raised after all have closed (unless the run already fails for another reason)."""
        first = None
        for hook in ("finish", "close"):
            for output in self.outputs:
                try:
                    getattr(output, hook)(run)
                except Exception as exc:  # noqa: BLE001 - re-raised below
                    first = first or exc
        if first is not None and run.failure is None:
            if isinstance(first, OSError):
                raise OutputFailed(_write_failure(first)) from first
            raise first

    # ------------------------------------------------------------------ time-dependent
    def _begin(self, run: Run) -> None:
        """Output times, and the counters a resumed run continues."""
        state = run.resume_state
        run.times = output_times(run.config)
        run.totals = dict(state["totals"]) if state else {"newton": 0, "linear": 0, "rejected": 0}
        run.totals.setdefault("above_tolerance", 0)
        run.wall_before = state["wall_time_s"] if state else 0.0
        run.setup_before = float(state.get("setup_s", 0.0)) if state else 0.0
        run.snapshot_times = list(state.get("snapshot_times", [])) if state else []
        run.summary.update(status="running")

    def _end(self, run: Run) -> None:
        """The summary's counters, then finish and close every output."""
        clock = run.stepper
        run.summary.update(steps=clock.step, t_final=clock.t, newton_iterations=run.totals["newton"],
                           linear_iterations=run.totals["linear"],
                           rejected_steps=run.totals["rejected"],
                           steps_above_tolerance=run.totals["above_tolerance"],
                           **run.timings(), final=run.problem.observables(),
                           snapshot_times=run.snapshot_times or [0.0, *run.times])
        self._finish(run)

    def run_transient(self, run: Run) -> dict:
        config, problem, comm = run.config, run.problem, run.comm
        state = run.resume_state
        self._begin(run)
        if run.tangent_keys:
            if state:
                raise ValueError("forward sensitivities are not carried across a resumed run")
            run.tangent = problem.tangent_linear(run.tangent_keys)
        stepper = run.stepper = TimeStepper(problem, config.time, output_times=run.times,
                                            tangent=run.tangent, frozen_steps=run.frozen_steps,
                                            record_steps=run.record_steps)
        if state:
            stepper.restore(state["t"], state["step"], state["dt"], state["history"],
                            state.get("scheme_state"))
        step0 = stepper.step

        def on_step(info, request):
            totals = run.totals
            totals["newton"] += info.newton_iterations
            totals["linear"] += info.linear_iterations
            totals["rejected"] += info.rejected
            if info.above_tolerance:
                if totals["above_tolerance"] == 0 and comm.rank == 0:
                    print(f"  warning: at t = {info.t:.6g} s the time error estimate "
                          f"{info.error_estimate:.3g} exceeds time.tolerance = "
                          f"{config.time.tolerance:g} at time.dt_min = {config.time.dt_min:g} s; "
                          f"such steps are counted in summary.json (steps_above_tolerance)",
                          flush=True)
                totals["above_tolerance"] += 1
            self._after_step(run, info, request, step0)

        stepper.on_output = lambda t: self._each("output_time", run, t)
        try:
            with stop_on_signals() as request, armed(request):
                stepper.on_step = lambda info: on_step(info, request)
                run._observed = None
                self._each("start", run)
                stepper.run()
            run.summary["status"] = "completed"
        except (SimulationFailed, Interrupted, Paused, OutputFailed) as exc:
            # The stepper stops at an accepted state (a failed step was rolled back), so a
            # checkpoint written now holds the last good state; a second signal may hit
            # mid-step, and then the previous checkpoint stays.
            run.failure = exc
            run.summary["status"] = f"stopped: {exc}"
            if isinstance(exc, SimulationFailed):
                problem.reject_step()
            raise
        finally:
            self._end(run)
        return run.summary

    # ------------------------------------------------------------------ stationary
    def run_steady(self, run: Run, finished_rows: list[dict] | None = None) -> dict:
        """Solve every case of a stationary problem; ``finished_rows`` (a resumed run) are
        the cases solved before a stop: the problem yields them again without solving."""
        problem, comm = run.problem, run.comm
        done = len(finished_rows or [])
        problem.completed_cases = tuple(finished_rows or ())
        run.summary.update(status="running")
        if run.tangent_keys:   # stationary sensitivities: solvers/sensitivity.SteadyTangent
            if done:
                raise ValueError("forward sensitivities are not carried across a resumed run")
            run.tangent = problem.tangent_linear(run.tangent_keys)
        count = 0
        try:
            with stop_on_signals() as request, armed(request):
                self._each("start", run)
                for row, write_fields in problem.solve_cases():
                    if count >= done:
                        if run.tangent is not None:
                            run.tangent.case()
                        write_error = ""
                        for output in self.outputs:
                            try:
                                output.case(run, count, row, write_fields)
                            except OSError as exc:
                                write_error = write_error or _write_failure(exc)
                        if comm.allreduce(bool(write_error), op=MPI.LOR):
                            raise OutputFailed(comm.bcast(write_error, root=0))
                    else:
                        self._each("skip_case", run, count, row, write_fields)
                    count += 1
                    if count > done and comm.allreduce(request.signal_name is not None, op=MPI.LOR):
                        raise Interrupted(f"stopped by {request.signal_name or 'a signal on another rank'}")
            run.summary["status"] = "completed"
            run.summary.update(problem.summary())
            if run.tangent is not None:
                run.tangent.finish(run.summary)
        except (Interrupted, OutputFailed) as exc:
            run.failure = exc
            run.summary["status"] = f"stopped: {exc}"
            raise
        finally:
            run.summary.update(cases=count, **run.timings())
            self._finish(run)
        return run.summary

    # ------------------------------------------------------------------ sampled
    def _after_step(self, run: Run, info, request: _StopRequest, step0: int) -> None:
        """After an accepted step (or an evaluation): the step event, then the decisions every
        rank takes together (a write error, a signal, the time.max_steps pause, a checkpoint
        due)."""
        config, comm = run.config, run.comm
        run._observed = None   # a new step: computed again when an output asks
        write_error = ""
        for output in self.outputs:
            try:
                output.step(run, info)
            except OSError as exc:   # a rank-0 file: all ranks decide below
                write_error = write_error or _write_failure(exc)
        due = any(output.due(run) for output in self.outputs)
        paused = config.time.max_steps > 0 and info.step - step0 >= config.time.max_steps \
            and info.t < config.time.t_end
        flags = np.array([request.signal_name is not None, due, paused, bool(write_error)],
                         dtype=np.int32)
        comm.Allreduce(MPI.IN_PLACE, flags, op=MPI.MAX)
        if flags[3]:
            raise OutputFailed(comm.bcast(write_error, root=0))
        if flags[0]:
            raise Interrupted(f"stopped by {request.signal_name or 'a signal on another rank'}")
        if flags[2]:
            raise Paused(f"paused after {config.time.max_steps} steps (time.max_steps)")
        if flags[1]:
            self._each("save", run)

    def run_sampled(self, run: Run) -> dict:
        """Evaluate a sampled problem (``problem.sampled``) at each of its sample times and
        the output times (``sample_schedule``): one step of the time series per evaluation,
        with newton/linear iterations and rejections 0. A resumed run continues after the
        checkpoint's time (evaluated again: the state of a sampled problem is its time)."""
        config, problem = run.config, run.problem
        state = run.resume_state
        self._begin(run)
        clock = run.stepper = SampleClock()
        if state:
            clock.t, clock.step, clock.dt = float(state["t"]), int(state["step"]), float(state["dt"])
            problem.evaluate(clock.t)
        step0 = clock.step
        schedule = [t for t in sample_schedule(problem.sample_times(), run.times, config.time.t_end)
                    if t > clock.t and not _same_time(t, clock.t)]
        run.summary.update(status="running")
        try:
            with stop_on_signals() as request, armed(request):
                run._observed = None
                self._each("start", run)
                for t in schedule:
                    problem.evaluate(t)
                    info = StepInfo(clock.step + 1, t, t - clock.t, 0, 0, 0, 0.0)
                    clock.t, clock.step, clock.dt = t, info.step, info.dt
                    # output first, as in run_transient: the step may stop the run
                    if any(_same_time(t, to) for to in run.times):
                        self._each("output_time", run, t)
                    self._after_step(run, info, request, step0)
            run.summary["status"] = "completed"
        except (Interrupted, Paused, OutputFailed) as exc:
            run.failure = exc
            run.summary["status"] = f"stopped: {exc}"
            raise
        finally:
            self._end(run)
        return run.summary
