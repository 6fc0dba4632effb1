r"""Time discretisations of the shared stepper: backward Euler and variable-step BDF2.

A transient model states its semi-discrete form once, as

.. math::  \frac{d q(u)}{dt} + G(u, t) = 0,

with q the conserved (capacity) density of its unknown u (the polarization P = tanh(w) of
nuclear diffusion, rho of the Onsager model) and writes the residual of one implicit step
in the backward-Euler shape

.. math::  \int \bigl(q(u) - q_\mathrm{old}\bigr) v\,\mathrm{d}x_\mathrm{lumped}
           + \Delta t_\mathrm{implicit}\, G(u, t^{n+1}; v) = 0 .

Both schemes here are of that shape; a scheme only says what ``q_old`` (a combination of
the accepted states) and ``dt_implicit`` are. For the variable-step BDF2 of step
:math:`h` after a step :math:`h_1`, with :math:`\omega = h/h_1`,

.. math::  \frac{1 + 2\omega}{1 + \omega} q^{n+1} - (1 + \omega) q^n
           + \frac{\omega^2}{1 + \omega} q^{n-1} = h\, \bigl(-G^{n+1}\bigr)

(Hairer, Nørsett & Wanner, *Solving ODEs I*, section III.5, eq. 5.11), which is the shape
above with

.. math::  q_\mathrm{old} = q^n + \frac{\omega^2}{1 + 2\omega}\,(q^n - q^{n-1}), \qquad
           \Delta t_\mathrm{implicit} = h\,\frac{1 + \omega}{1 + 2\omega}.

Consequences that hold for every model, whatever its unknown:

* the totals are conserved exactly: the weights of q^n and q^{n-1} sum to one, so without
  sources :math:`\sum_i m_i q_i^{n+1} = \sum_i m_i q_i^n` (lumped masses m_i);
* bounds by construction stay (|P| < 1 through P = tanh(w), |rho| < 1 through the entropy
  variables): q_old is data, the unknown is still the bounded variable;
* the maximum principle is not inherited: BDF2 is not positivity preserving, so P may
  overshoot a source polarization by a discretisation error (measured in the tests).

BDF2 is zero-stable for step ratios :math:`\omega < 1 + \sqrt 2`; the stepper caps the growth
at :data:`BDF2.MAX_RATIO`.

Local error estimates (Milne's device; the scheme's error constant against the error of
an explicit predictor through the last states):

* backward Euler: :math:`e = \frac{h}{h + h_1}\,|q^{n+1} - p_1|`, p_1 the linear extrapolation
  of q^n, q^{n-1};
* BDF2: :math:`e = \frac{|E_c|}{E_p + |E_c|}\,|q^{n+1} - p_2|`, p_2 the quadratic extrapolation
  of q^n, q^{n-1}, q^{n-2}, with :math:`E_c = (1+\omega)^2 h^3 / (6\omega(1 + 2\omega))` (the
  local error constant of the step: :math:`y(t_{n+1}) - q^{n+1} \approx -E_c\, y'''`) and
  :math:`E_p = h (h + h_1)(h + h_1 + h_2)/6` (that of the predictor); for constant steps
  e = (2/11)|q - p_2|. With only two states (the second step after a start) BDF2 uses the
  backward-Euler estimate, which over-estimates its error (a safe start-up).
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from typing import Sequence

import numpy as np

__all__ = ["History", "StepCoefficients", "TimeScheme", "BackwardEuler", "BDF2", "SCHEMES", "scheme"]

#: (dt that led to the state, the state's capacity values), oldest first; dt = 0 for a start
History = Sequence[tuple[float, np.ndarray]]


@dataclasses.dataclass(frozen=True)
class StepCoefficients:
    """q_old = sum_k weights[k] * q^{n-k} (k = 0: the newest state) and the implicit dt."""

    weights: tuple[float, ...]
    dt_implicit: float
    order: int

    def q_old(self, history: History) -> np.ndarray:
        states = [q for _, q in reversed(history)][: len(self.weights)]
        out = self.weights[0] * states[0]
        for w, q in zip(self.weights[1:], states[1:]):
            if w != 0.0:
                out = out + w * q
        return out


class TimeScheme(ABC):
    """A one-solve-per-step implicit scheme in the backward-Euler shape (module docstring)."""

    name: str = ""
    #: order of the scheme once it has its full history
    order: int = 1
    #: states the scheme and its error estimate use (the newest included)
    history_length: int = 2
    #: largest ratio of consecutive steps the scheme stays stable and accurate with
    MAX_RATIO: float = np.inf

    @abstractmethod
    def coefficients(self, dt: float, history: History) -> StepCoefficients:
        """q_old's weights and the implicit step of a step of length ``dt`` after ``history``."""

    @abstractmethod
    def local_error(self, q_new: np.ndarray, dt: float, history: History) -> tuple[np.ndarray, int] | None:
        """(estimated local error of the step to q_new, order of the estimate's step-size
        dependence minus one, i.e. the p in err ~ h^(p+1)); None without enough history."""


def _linear_extrapolation_error(q_new, dt, history) -> np.ndarray:
    (dt_prev, q_n), (_, q_nm1) = history[-1], history[-2]
    predictor = q_n + dt * (q_n - q_nm1) / dt_prev
    return dt / (dt + dt_prev) * (q_new - predictor)


class BackwardEuler(TimeScheme):
    """First order, L-stable, positivity and maximum-principle preserving (with the lumped
    capacity and an M-matrix stiffness): q_old = q^n, dt_implicit = h."""

    name = "backward_euler"
    order = 1
    history_length = 2

    def coefficients(self, dt: float, history: History) -> StepCoefficients:
        return StepCoefficients((1.0,), dt, 1)

    def local_error(self, q_new, dt, history):
        if len(history) < 2 or history[-1][0] <= 0:
            return None
        return _linear_extrapolation_error(q_new, dt, history), 1


class BDF2(TimeScheme):
    """Variable-step BDF2 (module docstring): second order, L-stable (A-stable for constant
    steps, stable for step ratios below 1 + sqrt 2). The first step after a start or an event
    is backward Euler (no history)."""

    name = "bdf2"
    order = 2
    history_length = 3
    MAX_RATIO = 2.0

    def coefficients(self, dt: float, history: History) -> StepCoefficients:
        if len(history) < 2 or history[-1][0] <= 0:
            return StepCoefficients((1.0,), dt, 1)
        omega = dt / history[-1][0]
        c = omega * omega / (1.0 + 2.0 * omega)
        return StepCoefficients((1.0 + c, -c), dt * (1.0 + omega) / (1.0 + 2.0 * omega), 2)

    @staticmethod
    def error_weight(dt: float, dt1: float, dt2: float) -> float:
        """|E_c| / (E_p + |E_c|) of the module docstring."""
        omega = dt / dt1
        E_c = (1.0 + omega) ** 2 * dt ** 3 / (6.0 * omega * (1.0 + 2.0 * omega))
        E_p = dt * (dt + dt1) * (dt + dt1 + dt2) / 6.0
        return E_c / (E_p + E_c)

    def local_error(self, q_new, dt, history):
        if len(history) < 2 or history[-1][0] <= 0:
            return None
        if len(history) < 3 or history[-2][0] <= 0:
            return _linear_extrapolation_error(q_new, dt, history), 1
        (h1, q_n), (h2, q_nm1), (_, q_nm2) = history[-1], history[-2], history[-3]
        # quadratic through (t_n - h1 - h2, q_nm2), (t_n - h1, q_nm1), (t_n, q_n) at t_n + dt
        t = np.array([-(h1 + h2), -h1, 0.0])
        x = dt
        l0 = (x - t[1]) * (x - t[2]) / ((t[0] - t[1]) * (t[0] - t[2]))
        l1 = (x - t[0]) * (x - t[2]) / ((t[1] - t[0]) * (t[1] - t[2]))
        l2 = (x - t[0]) * (x - t[1]) / ((t[2] - t[0]) * (t[2] - t[1]))
        predictor = l0 * q_nm2 + l1 * q_nm1 + l2 * q_n
        return self.error_weight(dt, h1, h2) * (q_new - predictor), 2


SCHEMES: dict[str, type[TimeScheme]] = {"backward_euler": BackwardEuler, "bdf2": BDF2}


def scheme(name: str) -> TimeScheme:
    """The scheme called ``name`` (a [time] scheme value)."""
    try:
        return SCHEMES[name]()
    except KeyError:
        raise ValueError(f"unknown time scheme {name!r} (expected one of {sorted(SCHEMES)})") from None
