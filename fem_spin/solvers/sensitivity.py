r"""Forward sensitivities of the discrete solution of a transient model (issue 21, phase 2).

What is differentiated. One accepted step of the time scheme (solvers/schemes.py) solves

.. math::  F(q^{n+1}; p, q_\mathrm{old}) = 0, \qquad
           q_\mathrm{old} = \sum_{j\ge0} w_j\, q^{n-j},

the model's residual in the backward-Euler shape with the scheme's weights w_j and implicit
step (``StepCoefficients``). Differentiating with respect to a parameter p, with the step
sequence (every dt, every order, hence every w_j) held fixed, gives the tangent linear system

.. math::  \frac{\partial F}{\partial q}\, s^{n+1} = -\frac{\partial F}{\partial p}
           - \frac{\partial F}{\partial q_\mathrm{old}} \sum_j w_j\, s^{n-j},
           \qquad s^k = \frac{dq^k}{dp},

solved once per parameter per accepted step with the step's own Jacobian at the converged
state (one extra linear solve per parameter per step, no Newton iteration), the sensitivity
history carried with the same weights as the states. An event (a restart of the scheme's
history) restarts the sensitivity history too; an event that maps the state, q+ = G(q; p)
(a DNP pulse: P <- P + p_x theta (P_e - P)), maps the sensitivities by its derivative,
s+ = dG/dq s + dG/dp (:meth:`TangentLinear.jump`). The observable's sensitivity (d Pbar/dp) is a
linear functional of s at every step.

Why frozen steps. The adaptive stepper chooses its steps from error estimates of the solution,
so the step sequence is itself a (piecewise constant, discontinuous) function of the
parameters: the computed curve jumps by amounts of the order of the time tolerance where the
step pattern changes. The derivative of that map does not exist in the classical sense, and a
finite difference of it measures those jumps as much as the physics (fitting/jacobian.py).
What a least-squares Jacobian needs is the derivative of the smooth part: the discrete map
with the steps frozen, which differs from the derivative of the exact (time-continuous)
solution by the time-discretisation error of the derivative itself, i.e. to the same
relative accuracy as the forward run. It is exactly what this module computes, and what
``TimeStepper(frozen_steps=...)`` lets a test check with central differences of replays of
the same steps (tests/system/test_sensitivities.py: 1e-5 relative, the finite differences'
own truncation error).

A model supports sensitivities by a ``tangent_linear(keys)`` method returning a
:class:`TangentLinear` (or raising :class:`NotDifferentiable` with the reason) and, on its
config class, ``tangent_support(key, run_config)`` saying before any run whether a key can be
differentiated (None) or why not (a geometry key changes the mesh; the repetition rate of a
pulsed source, which moves the pulses; the quadrature flux...). :func:`sensitivity_support` asks it.

Stationary models. A steady problem F(u; p) = 0 (linear: A(p) u = b(p)) has no history: after
each solved case the sensitivity solves J s = -dF/dp with the case's own Jacobian (its
assembled operator and solver, homogeneous Dirichlet conditions where u is prescribed), and the
case's observables are differentiated along s. Such a model's ``tangent_linear(keys)`` returns
a :class:`SteadyTangent` (valet_fert: fem_spin/models/valet_fert_tangent.py).
"""

from __future__ import annotations

import abc

import numpy as np

__all__ = ["NotDifferentiable", "TangentLinear", "SteadyTangent", "sensitivity_support"]


class NotDifferentiable(ValueError):
    """The model cannot differentiate its discrete solution with respect to this key."""


def sensitivity_support(run_config, key: str) -> str | None:
    """None when the model of ``run_config`` can give forward sensitivities with respect to
    the run key ``key`` (dotted, e.g. ``model.D0``), else the reason why not (transient and
    stationary models alike: the model's config says)."""
    return run_config.model.tangent_support(key, run_config)


class TangentLinear(abc.ABC):
    """The sensitivity history of one run: ``start()`` when the stepper (re)starts its
    history, ``accepted(coefficients)`` after every accepted step (the step's converged state
    in place); records the observables' sensitivities per step (row 0: the initial state)."""

    #: observables whose sensitivities are recorded (time-series column names)
    observable_names: tuple[str, ...] = ()

    def __init__(self, keys, history_length: int = 6):
        self.keys = tuple(keys)
        self.history_length = history_length
        #: newest last: per entry, one sensitivity array per key
        self.history: list[list[np.ndarray]] = []
        #: per key: per observable: values per recorded step
        self.records: dict[str, dict[str, list[float]]] = {
            k: {name: [] for name in self.observable_names} for k in self.keys}
        self.times: list[float] = []
        self.linear_solves = 0
        self.seconds = 0.0

    @abc.abstractmethod
    def initial(self) -> list[np.ndarray]:
        """s^0 per key (zero unless the initial state depends on the parameter)."""

    @abc.abstractmethod
    def solve(self, coefficients, combined: list[np.ndarray]) -> list[np.ndarray]:
        """s^{n+1} per key at the step's converged state, ``combined`` = sum_j w_j s^{n-j}."""

    @abc.abstractmethod
    def observe(self, s: np.ndarray) -> dict[str, float]:
        """The observables' sensitivities for one sensitivity array."""

    def _record(self, t: float) -> None:
        self.times.append(t)
        for key, s in zip(self.keys, self.history[-1]):
            for name, value in self.observe(s).items():
                self.records[key][name].append(value)

    def jump(self, entry: list[np.ndarray]) -> list[np.ndarray] | None:
        """The sensitivities after the event that restarted the scheme (a DNP pulse maps the
        state, so its derivative maps the sensitivities: s+ = dG/dq s + dG/dp), or None when
        no event changed the state since the last start."""
        return None

    def start(self) -> None:
        if not self.history:
            self.history = [self.initial()]
            # row 0 of the series is the state before an event at t = 0 (the stepper
            # applies it when it starts), the history the state after it
            self._record(0.0)
            jumped = self.jump(self.history[-1])
            if jumped is not None:
                self.history[-1] = jumped
            return
        # an event restarted the scheme: the history starts again from here
        self.history = self.history[-1:]
        jumped = self.jump(self.history[-1])
        if jumped is not None:
            # the series' row of this step holds the state after the event: so does ours
            self.history[-1] = jumped
            for key, s in zip(self.keys, jumped):
                for name, value in self.observe(s).items():
                    self.records[key][name][-1] = value

    def accepted(self, coefficients) -> None:
        import time

        started = time.perf_counter()
        newest_first = self.history[::-1]
        combined = []
        for k in range(len(self.keys)):
            acc = coefficients.weights[0] * newest_first[0][k]
            for w, entry in zip(coefficients.weights[1:], newest_first[1:]):
                if w != 0.0:
                    acc = acc + w * entry[k]
            combined.append(acc)
        self.history = (self.history + [self.solve(coefficients, combined)])[-self.history_length:]
        self.seconds += time.perf_counter() - started
        self._record(float("nan"))

    def series(self) -> dict[str, dict[str, np.ndarray]]:
        """key -> observable -> sensitivity per recorded step (row 0: t = 0)."""
        return {k: {n: np.array(v) for n, v in obs.items()} for k, obs in self.records.items()}

    def destroy(self) -> None:
        """Free PETSc objects (none by default)."""


class SteadyTangent(abc.ABC):
    """The sensitivities of a stationary run: ``case()`` after every solved case (the case's
    solution and operator in place) records d(observable)/d(key) of that case's row;
    ``finish(summary)`` adds the derivatives of the run's summary numbers once every case is
    solved. :meth:`series` has the same shape as :meth:`TangentLinear.series` (key ->
    observable -> one value per row of the results table), plus the summary's
    differentiated numbers as 0-d arrays under their summary names."""

    #: results-table columns whose sensitivities are recorded per case
    observable_names: tuple[str, ...] = ()

    def __init__(self, keys):
        self.keys = tuple(keys)
        self.records: dict[str, dict[str, list[float]]] = {
            k: {name: [] for name in self.observable_names} for k in self.keys}
        self.summary_records: dict[str, dict[str, float]] = {k: {} for k in self.keys}
        self.linear_solves = 0
        self.seconds = 0.0

    @abc.abstractmethod
    def differentiate(self) -> dict[str, dict[str, float]]:
        """key -> observable -> its derivative, at the case just solved."""

    def summary_derivatives(self, summary: dict) -> dict[str, dict[str, float]]:
        """key -> summary number -> its derivative, from the recorded cases (none by default)."""
        return {}

    def case(self) -> None:
        import time

        started = time.perf_counter()
        for key, values in self.differentiate().items():
            for name, value in values.items():
                self.records[key][name].append(value)
        self.seconds += time.perf_counter() - started

    def finish(self, summary: dict) -> None:
        for key, values in self.summary_derivatives(summary).items():
            self.summary_records[key].update(values)

    def series(self) -> dict[str, dict[str, np.ndarray]]:
        return {k: {**{n: np.array(v) for n, v in self.records[k].items()},
                    **{n: np.array(v) for n, v in self.summary_records[k].items()}} for k in self.keys}

    def destroy(self) -> None:
        """Free PETSc objects (none by default)."""
