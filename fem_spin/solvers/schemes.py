r"""Time discretisations of the shared stepper: variable-order BDF (the default), variable-step
BDF2 and backward Euler.

A transient model states its semi-discrete form once, as

.. math::  \frac{d q(u)}{dt} + G(u, t) = 0,

with q the conserved (capacity) density of its unknown u (the polarization P = tanh(w) of
nuclear diffusion, rho of the Onsager model) and writes the residual of one implicit step
in the backward-Euler shape

.. math::  \int \bigl(q(u) - q_\mathrm{old}\bigr) v\,\mathrm{d}x_\mathrm{lumped}
           + \Delta t_\mathrm{implicit}\, G(u, t^{n+1}; v) = 0 .

Every scheme here is of that shape; a scheme only says what ``q_old`` (a combination of
the accepted states) and ``dt_implicit`` are. :class:`VariableOrderBDF` (``time.scheme =
"bdf"``, orders 1 to 5 chosen per step) is the general case, its docstring derives it; for the
variable-step BDF2 of step
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
* the maximum principle is not inherited: BDF2 and the higher orders are not positivity
  preserving, so P may overshoot a source polarization by a discretisation error (measured
  in the tests).

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
import functools
import math
from abc import ABC, abstractmethod
from typing import Sequence

import numpy as np

__all__ = ["History", "StepCoefficients", "TimeScheme", "BackwardEuler", "BDF2", "VariableOrderBDF", "SCHEMES", "scheme"]

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
    def coefficients(self, dt: float, history: History, order: int | None = None) -> StepCoefficients:
        """q_old's weights and the implicit step of a step of length ``dt`` after ``history``
        (``order``: the order asked for, by a variable-order scheme; others ignore it)."""

    @abstractmethod
    def local_error(self, q_new: np.ndarray, dt: float, history: History,
                    order: int | None = None) -> tuple[np.ndarray, int] | None:
        """(estimated local error of the step to q_new, order of the estimate's step-size
        dependence minus one, i.e. the p in err ~ h^(p+1)); None without enough history."""

    def max_ratio(self, order: int) -> float:
        """Largest ratio of consecutive steps at ``order``."""
        return self.MAX_RATIO

    def select_order(self, q_new: np.ndarray, dt: float, history: History, order: int,
                     steps_at_order: int, norm) -> tuple[int, float | None]:
        """(order of the next step, its step-size factor or None to keep the stepper's own)
        after an accepted step of ``order`` to ``q_new``; fixed-order schemes keep theirs."""
        return order, None


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

    def coefficients(self, dt: float, history: History, order: int | None = None) -> StepCoefficients:
        return StepCoefficients((1.0,), dt, 1)

    def local_error(self, q_new, dt, history, order=None):
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

    def coefficients(self, dt: float, history: History, order: int | None = None) -> StepCoefficients:
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

    def local_error(self, q_new, dt, history, order=None):
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


def _node_times(dt: float, history: History, count: int) -> tuple[float, ...]:
    """Times of the new state (0) and of the newest ``count`` states of ``history``, relative
    to the new one: 0, -dt, -dt - h_n, ... (h_n the step that led to q^n)."""
    times = [0.0, -dt]
    for h, _ in reversed(history[len(history) - count + 1:]):
        times.append(times[-1] - h)
    return tuple(times[:count + 1])


# The helpers below work on a handful of floats per step: plain Python is several times
# faster than numpy at that size, and this runs on every step of every run.

def _product(values) -> float:
    out = 1.0
    for v in values:
        out *= v
    return out


@functools.lru_cache(maxsize=32)   # one step asks for the same nodes up to five times
def _lagrange_derivative_at_zero(nodes: tuple[float, ...]) -> tuple[float, ...]:
    """l_j'(0) of the Lagrange basis on ``nodes`` (nodes[0] = 0): the weights of the
    derivative of the interpolating polynomial at the newest node."""
    n = len(nodes)
    out = [sum(-1.0 / x for x in nodes[1:])]
    for j in range(1, n):
        # d/dt prod_{m != j} (t - x_m) at t = 0: only the term without the (t - 0) factor
        numerator = _product(-nodes[m] for m in range(1, n) if m != j)
        out.append(numerator / _product(nodes[j] - nodes[m] for m in range(n) if m != j))
    return tuple(out)


@functools.lru_cache(maxsize=32)
def _bdf_error_constant(nodes: tuple[float, ...]) -> float:
    """tau / alpha_0 of the BDF step on ``nodes`` (VariableOrderBDF's docstring; order k =
    len(nodes) - 1)."""
    k = len(nodes) - 1
    alpha = _lagrange_derivative_at_zero(nodes)
    tau = sum(a * x ** (k + 1) for a, x in zip(alpha[1:], nodes[1:])) / math.factorial(k + 1)
    return tau / alpha[0]


def _lagrange_at_zero(nodes: tuple[float, ...]) -> list[float]:
    """l_j(0) of the Lagrange basis on ``nodes`` (none of them 0): extrapolation weights."""
    n = len(nodes)
    return [_product(-nodes[m] / (nodes[j] - nodes[m]) for m in range(n) if m != j) for j in range(n)]


def _divided_difference_weights(nodes: tuple[float, ...]) -> list[float]:
    """Weights w_i of the divided difference f[x_0, ..., x_m] = sum_i w_i f(x_i)."""
    n = len(nodes)
    return [1.0 / _product(nodes[i] - nodes[m] for m in range(n) if m != i) for i in range(n)]


class VariableOrderBDF(TimeScheme):
    r"""Variable-order, variable-step BDF of orders 1 to ``max_order`` (at most 5), in the
    fully variable-coefficient form: the step of order k makes the derivative, at the new
    time, of the polynomial through the new state and the last k states equal to -G,

    .. math::  \sum_{j=0}^{k} \alpha_j q^{n+1-j} = -G^{n+1}, \qquad
               \alpha_j = \ell_j'(t_{n+1}),

    which is the backward-Euler shape with q_old = -sum_{j>=1} alpha_j q^{n+1-j} / alpha_0 and
    dt_implicit = 1/alpha_0 (Hairer, Nørsett & Wanner, *Solving ODEs I*, III.5; the k = 2
    case is :class:`BDF2`). The weights of q_old sum to one (the derivative of a constant is
    zero), so the totals are conserved exactly at every order.

    Error estimate of an order-k step (Milne's device, exact to leading order for any step
    pattern): the local error is :math:`\delta = (\tau/\alpha_0)\, y^{(k+1)}` with
    :math:`\tau = \sum_{j\ge1} \alpha_j (t_{n+1-j} - t_{n+1})^{k+1}/(k+1)!`, the predictor
    through the last k+1 states errs by :math:`E_p\, y^{(k+1)}`,
    :math:`E_p = \prod_{j=1}^{k+1}(t_{n+1} - t_{n+1-j})/(k+1)!`, so
    :math:`|\delta| = |\tau/\alpha_0| / |E_p - \tau/\alpha_0|\; |q^{n+1} - p_k|`. An order-k
    step is taken only with k+1 states in the history (so its estimate is always available):
    after a start or an event the order ramps up from backward Euler.

    Order selection (after an accepted step, as in DASSL/VODE): the local errors a step of the
    same length would have at orders k-1, k, k+1 are estimated from divided differences of
    the new state and the history (:math:`y^{(j+1)} \approx (j+1)!\, q[t_{n+1}, \ldots,
    t_{n-j}]`), and the order allowing the longest next step is taken; an order is kept for
    k+1 steps before it may change. Orders 3-5 are not A-stable (their stability regions
    leave out wedges around the imaginary axis of 4, 18 and 39 degrees); the transport models
    here are dissipative with real spectra, where they are stable. Consecutive step ratios
    are capped per order (:data:`RATIO_CAP`) for zero-stability of the variable-coefficient
    formulas.
    """

    name = "bdf"
    #: largest ratio of consecutive steps per order (variable-coefficient BDF is zero-stable
    #: for ratios below ~2.4, 1.5?, ... at orders 2, 3, ...: conservative caps)
    RATIO_CAP = {1: np.inf, 2: 2.0, 3: 1.6, 4: 1.4, 5: 1.2}

    def __init__(self, max_order: int = 5):
        if not 1 <= max_order <= 5:
            raise ValueError(f"max_order must be 1 to 5, got {max_order}")
        self.order = self.max_order = max_order
        self.history_length = max_order + 1
        self.MAX_RATIO = self.RATIO_CAP[max_order]

    def max_ratio(self, order: int) -> float:
        return self.RATIO_CAP[max(1, min(order, self.max_order))]

    def usable_order(self, order: int | None, history: History) -> int:
        """The order a step takes: the one asked for, at most len(history) - 1 (its error
        estimate needs k + 1 states) and at least 1."""
        order = self.max_order if order is None else order
        return max(1, min(order, self.max_order, len(history) - 1))

    def coefficients(self, dt: float, history: History, order: int | None = None) -> StepCoefficients:
        k = self.usable_order(order, history)
        alpha = _lagrange_derivative_at_zero(_node_times(dt, history, k))
        return StepCoefficients(tuple(-a / alpha[0] for a in alpha[1:]), 1.0 / alpha[0], k)

    @staticmethod
    def _error_constant(dt: float, history: History, k: int) -> float:
        """tau / alpha_0 of an order-k step (class docstring): local error per y^(k+1)."""
        return _bdf_error_constant(_node_times(dt, history, k))

    def local_error(self, q_new, dt, history, order=None):
        if len(history) < 2:
            return None
        k = self.usable_order(order, history)
        nodes = _node_times(dt, history, k + 1)
        delta = self._error_constant(dt, history, k)
        E_p = _product(-x for x in nodes[1:]) / math.factorial(k + 1)
        states = [q for _, q in reversed(history)][: k + 1]
        predictor = sum(_lagrange_weight * q for _lagrange_weight, q in
                        zip(_lagrange_at_zero(nodes[1:]), states))
        return abs(delta) / abs(E_p - delta) * (q_new - predictor), k

    def select_order(self, q_new, dt, history, order, steps_at_order, norm):
        k = self.usable_order(order, history)
        if steps_at_order < k + 1:
            return k, None
        factors = {}
        orders = [j for j in (k - 1, k, k + 1) if 1 <= j <= self.max_order and j + 1 <= len(history)]
        # the states as rows of one array: each divided difference is then one product
        states = np.array([q_new] + [q for _, q in reversed(history)][: max(orders) + 1])
        for j in orders:
            nodes = _node_times(dt, history, j + 1)
            weights = np.array(_divided_difference_weights(nodes))
            derivative = math.factorial(j + 1) * (weights @ states[: j + 2])
            E = norm(abs(self._error_constant(dt, history, j)) * derivative)
            factors[j] = E ** (-1.0 / (j + 1)) if E > 0 else np.inf
        best = max(factors, key=lambda j: (factors[j], -abs(j - k)))
        if best == k:
            return k, None
        return best, 0.9 * factors[best]


SCHEMES: dict[str, type[TimeScheme]] = {"backward_euler": BackwardEuler, "bdf2": BDF2,
                                        "bdf": VariableOrderBDF}


def scheme(name: str, max_order: int | None = None) -> TimeScheme:
    """The scheme called ``name`` (a [time] scheme value); ``max_order`` for ``bdf``."""
    try:
        cls = SCHEMES[name]
    except KeyError:
        raise ValueError(f"unknown time scheme {name!r} (expected one of {sorted(SCHEMES)})") from None
    return cls(max_order) if cls is VariableOrderBDF and max_order is not None else cls()

