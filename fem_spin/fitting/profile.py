"""Profile-likelihood confidence intervals (issue 21, phase 2).

For a profiled parameter p_j the others (and the closed-form nuisances) are re-optimised on a
grid of fixed values of p_j, giving chi^2_prof(p_j); the 68 % interval is where
``chi^2_prof - chi^2_min <= 1`` (times the reduced chi^2 when the covariance is scaled, i.e.
the data carry no sigma). Unlike the Gaussian interval from the Jacobian it follows the real
shape of chi^2: it is asymmetric where the model is nonlinear in the parameter, and *open*
(unbounded within the parameter's bounds) where the data cannot bound it, as for one of a
nearly degenerate pair. For a model linear in its parameters it equals the Gaussian interval.

The grid is walked outwards from the optimum on each side in the optimiser's coordinates
(ln p or p/typical), starting with half a Gaussian standard error and doubling the step while
Delta chi^2 stays below a quarter of the threshold, until Delta chi^2 exceeds 4 thresholds
(two sigma), the bound is reached (the interval is then open on that side if still below the
threshold) or ``max_points`` points were taken (open "beyond the explored range"). Each point
starts its re-optimisation from the previous one. The crossing is interpolated linearly in
sqrt(Delta chi^2), which is linear in the parameter for a quadratic chi^2 (exact for the
linear model).

Which parameters (``fit.profile``): ``"auto"`` (default) - the parameters of a nearly
degenerate pair, all of them when the correlation matrix is ill-conditioned, and any whose
relative standard error exceeds 0.5 or that sits at a bound; ``"all"``; ``"none"`` or ``[]``;
or a list of free-parameter names (``"model.D0"``, ``"model.exchange_rate[c40]"``).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

__all__ = ["Profile", "ProfileSide", "profile_side", "assemble_profile", "profile_parameter",
           "profile_parameters", "select_profiled"]


@dataclasses.dataclass
class Profile:
    name: str
    #: the profiled values (physical units) and Delta chi^2 at each, sorted by value
    values: np.ndarray
    delta_chi2: np.ndarray
    threshold: float
    #: the 68 % interval (physical units); a side that is open holds the largest (smallest)
    #: value explored
    lower: float
    upper: float
    open_lower: str | None      # None: closed; else why ("at the bound 1e-18", "beyond the explored range")
    open_upper: str | None
    gaussian: tuple[float, float]
    best: float
    forward_runs: int
    note: str = ""

    @property
    def is_open(self) -> bool:
        return bool(self.open_lower or self.open_upper)

    def as_dict(self) -> dict:
        return {"interval_68": [self.lower, self.upper], "open_lower": self.open_lower,
                "open_upper": self.open_upper, "gaussian_interval_1sigma": list(self.gaussian),
                "best": self.best, "threshold_delta_chi2": self.threshold,
                "values": self.values.tolist(), "delta_chi2": self.delta_chi2.tolist(),
                "forward_runs": self.forward_runs, "note": self.note}

    def describe(self) -> str:
        lo = f"open below (explored down to {self.lower:.4g}: {self.open_lower})" if self.open_lower \
            else f"{self.lower:.4g}"
        hi = f"open above (explored up to {self.upper:.4g}: {self.open_upper})" if self.open_upper \
            else f"{self.upper:.4g}"
        return f"[{lo}, {hi}]"


def select_profiled(setting, free, statistics, estimates) -> list[int]:
    """Indices (into ``free``) of the parameters ``fit.profile`` asks for."""
    names = [p.name for p in free]
    if setting in ("none", None) or (isinstance(setting, (list, tuple)) and not setting):
        return []
    if setting == "all":
        return list(range(len(free)))
    if isinstance(setting, (list, tuple)):
        return [names.index(n) for n in setting]
    chosen = set()
    for a, b, _ in statistics.degenerate:
        chosen.update(n for n in (a, b) if n in names)
    if statistics.ill_conditioned:
        chosen.update(names)
    for n in names:
        e = estimates[n]
        if e.relative_error > 0.5 or e.at_bound:
            chosen.add(n)
    return [i for i, n in enumerate(names) if n in chosen]


def _reoptimise(objective, method, z_fixed: np.ndarray, j: int, max_evaluations: int):
    """The other coordinates re-optimised with z_j fixed: (z, evaluation)."""
    from scipy.optimize import least_squares

    others = [i for i in range(len(z_fixed)) if i != j]
    if not others:
        return z_fixed, objective.evaluate(z_fixed)
    lower, upper = objective.bounds()

    def full(zo):
        z = np.array(z_fixed, float)
        z[others] = zo
        return z

    x0 = np.clip(z_fixed[others], lower[others] + 1e-12, upper[others] - 1e-12)
    sol = least_squares(lambda zo: objective.evaluate(full(zo)).residuals, x0,
                        jac=lambda zo: method(objective, full(zo))[:, others],
                        bounds=(lower[others], upper[others]), method="trf", x_scale=np.ones(len(others)),
                        ftol=1e-10, xtol=1e-10, gtol=1e-10, max_nfev=max_evaluations)
    z = full(sol.x)
    return z, objective.evaluate(z)


def _crossing(z_a, d_a, z_b, d_b, threshold):
    """Where Delta chi^2 reaches ``threshold`` between a (below) and b (above), linear in
    sqrt(Delta chi^2)."""
    sa, sb, st = math.sqrt(max(d_a, 0.0)), math.sqrt(max(d_b, 0.0)), math.sqrt(threshold)
    if sb <= sa:
        return z_b
    return z_a + (st - sa) / (sb - sa) * (z_b - z_a)


@dataclasses.dataclass(frozen=True)
class ProfileSide:
    """One side of a profile, walked outwards from the optimum (a task of its own for the
    rank groups: the two sides of every profiled parameter are independent)."""

    #: (z_j, Delta chi^2) of every point taken, outwards
    points: tuple[tuple[float, float], ...]
    #: None: the threshold was crossed at ``end``; else why the side is open (``end``: the
    #: last z_j explored)
    open_reason: str | None
    end: float
    note: str
    forward_runs: int
    forward_seconds: float


def _threshold(statistics) -> float:
    return statistics.reduced_chi2 if statistics.scaled else 1.0


def profile_side(objective, method, at, statistics, j: int, direction: float, *, max_points: int = 10,
                 max_evaluations: int = 30) -> ProfileSide:
    """The side ``direction`` (-1: below, +1: above the optimum ``at``) of the profile of free
    parameter ``j`` (module docstring)."""
    p = objective.free[j]
    runs_before, seconds_before = objective.forward_runs, objective.forward_seconds
    chi0 = at.chi2
    threshold = _threshold(statistics)
    lower, upper = objective.bounds()
    se = float(statistics.standard_errors[j])
    step = 0.5 * se if math.isfinite(se) and se > 0 else 0.1
    step = min(max(step, 1e-4), 1.0)
    note = ""
    bound = lower[j] if direction < 0 else upper[j]
    z_prev = np.array(at.z, float)
    side = []
    reason = "beyond the explored range"
    for _ in range(max_points):
        target = z_prev[j] + direction * step
        hit_bound = math.isfinite(bound) and (target - bound) * direction >= 0
        if hit_bound:
            target = bound
        if abs(target - z_prev[j]) < 1e-12:
            break
        z = np.array(z_prev, float)
        z[j] = target
        z, ev = _reoptimise(objective, method, z, j, max_evaluations)
        delta = ev.chi2 - chi0
        if delta < -1e-3 * threshold:
            note = (f"the profile found a lower chi^2 (by {-delta:.3g}) than the fit's optimum: the "
                    f"optimiser had not converged fully")
        side.append((float(target), float(delta)))
        z_prev = z
        if delta > 4.0 * threshold:
            reason = None
            break
        if hit_bound:
            reason = f"at the bound {p.to_physical(float(bound)):.4g}"
            break
        if delta < 0.25 * threshold:
            step *= 2.0
    # the first crossing outward from the optimum
    prev = (float(at.z[j]), 0.0)
    crossing = None
    for zz, dd in side:
        if dd >= threshold:
            crossing = _crossing(prev[0], prev[1], zz, dd, threshold)
            break
        prev = (zz, dd)
    runs = objective.forward_runs - runs_before
    seconds = objective.forward_seconds - seconds_before
    if crossing is None:
        return ProfileSide(tuple(side), reason or "beyond the explored range",
                           side[-1][0] if side else float(at.z[j]), note, runs, seconds)
    return ProfileSide(tuple(side), None, crossing, note, runs, seconds)


def assemble_profile(objective, at, statistics, j: int, estimate, below: ProfileSide,
                     above: ProfileSide) -> Profile:
    """The :class:`Profile` of free parameter ``j`` from its two sides."""
    p = objective.free[j]
    points = sorted([(float(at.z[j]), 0.0), *below.points, *above.points])
    return Profile(name=p.name, values=np.array([p.to_physical(z) for z, _ in points]),
                   delta_chi2=np.array([d for _, d in points]), threshold=_threshold(statistics),
                   lower=p.to_physical(below.end), upper=p.to_physical(above.end),
                   open_lower=below.open_reason, open_upper=above.open_reason,
                   gaussian=estimate.interval, best=estimate.value,
                   forward_runs=below.forward_runs + above.forward_runs,
                   note=above.note or below.note)


def profile_parameter(objective, method, at, statistics, j: int, estimate, *, max_points: int = 10,
                      max_evaluations: int = 30) -> Profile:
    """The profile of free parameter ``j`` around the optimum ``at`` (module docstring), both
    sides on this rank's group."""
    below, above = (profile_side(objective, method, at, statistics, j, direction, max_points=max_points,
                                 max_evaluations=max_evaluations) for direction in (-1.0, 1.0))
    return assemble_profile(objective, at, statistics, j, estimate, below, above)


def profile_parameters(objective, method, at, statistics, indices, estimates, *, max_points: int = 10,
                       max_evaluations: int = 30) -> dict:
    """The profiles of the free parameters ``indices``: name -> :class:`Profile`, or the
    ForwardFailed that stopped one of its sides. The sides are tasks spread over the
    objective's rank groups; each is walked by one group alone (its re-optimisations call
    the objective many times: their runs are not spread further) and gathered on every
    rank."""
    from fem_spin.fitting.objective import ForwardFailed

    def walk(task):
        j, direction = task
        with objective.on_own_group():
            try:
                return profile_side(objective, method, at, statistics, j, direction,
                                    max_points=max_points, max_evaluations=max_evaluations)
            except ForwardFailed as exc:   # stops this parameter's profile, not the others'
                return exc

    tasks = [(j, direction) for j in indices for direction in (-1.0, 1.0)]
    sides = dict(zip(tasks, objective.groups.run(walk, tasks)))
    out = {}
    for j in indices:
        name = objective.free[j].name
        below, above = sides[(j, -1.0)], sides[(j, 1.0)]
        for side in (below, above):
            if isinstance(side, ProfileSide):
                objective.forward_runs += side.forward_runs
                objective.forward_seconds += side.forward_seconds
        failed = next((side for side in (below, above) if isinstance(side, ForwardFailed)), None)
        out[name] = failed if failed is not None else \
            assemble_profile(objective, at, statistics, j, estimates[name], below, above)
    return out
