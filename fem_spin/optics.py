r"""Laser optics of an illuminated crystal: the local triplet-excitation probability
(physics.md 1.3).

A pulsed laser beam excites the pentacene guests of the crystal to the triplet state; the
probability that a guest at x is excited by one pulse is the source efficiency e(x) of the
DNP unit cell at x (physics.md 1.2). All lengths in metres.

**Beam.** A cylinder of diameter d (radius R = d/2) whose axis passes through the point a
along the unit vector u, the direction in which the light travels *inside* the crystal
(refraction at the entrance face is not modelled: give the refracted direction). The
distance of x from the axis is

.. math::  r(x) = \lvert (x - a) - [(x - a)\cdot u]\,u \rvert .

**Depth.** The crystal is a convex polyhedron {x : n_i . x <= o_i} (outward unit normals
n_i, offsets o_i). The light reaching x entered where the backward ray x - t u leaves
the crystal; the path length inside it (the depth) is

.. math::  s(x) = \min_{i:\ n_i\cdot(-u) > 0} \frac{o_i - n_i\cdot x}{n_i\cdot(-u)} .

**Transverse profile** g(r), peak 1:

* ``"top_hat"``:  g = 1 for r <= d/2, else 0; effective area A = pi d^2/4;
* ``"gaussian"``: g = exp(-2 r^2/w^2) with w = d/2, i.e. d is the 1/e^2 *intensity*
  diameter (86.5 % of the power inside it); A = int g dA = pi w^2/2, so the peak fluence
  is 2E/(pi w^2).

**Beer--Lambert.** The fluence decays as exp(-s/l_abs) with the absorption length l_abs
(``inf``: no attenuation). This is linear absorption: ground-state bleaching (which would
let a saturating pulse penetrate deeper) is neglected.

**Excitation probability** e(x) in [0, 1]:

* ``"linear"``:      e = e_0 g(r) exp(-s/l_abs), e_0 = ``peak_excitation`` (on the axis at
  the entrance);
* ``"saturating"``:  local fluence F = E g(r) exp(-s/l_abs)/A (pulse energy E) and

  .. math::  e = \Phi_T\,[1 - \exp(-F/F_\text{sat})],

  with the triplet yield Phi_T and the saturation fluence F_sat; at low fluence
  e ~ Phi_T F/F_sat (linear), at high fluence e -> Phi_T.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Literal

import numpy as np

from fem_spin.config import ConfigError, in_range, non_negative, param, positive, run_checks

__all__ = ["Beam", "OpticsConfig", "radial_distance", "depth_along_beam", "beam_profile",
           "effective_area", "polyhedron_vertices", "axis_distance_to_crystal", "beam_covers_crystal",
           "check_beam_hits", "axis_segment", "local_fluence", "excitation_probability"]

PROFILES = ("top_hat", "gaussian")
EXCITATION_LAWS = ("linear", "saturating")

#: |n . u| below this counts as a face parallel to the beam (never crossed by it)
_PARALLEL = 1e-12


# --------------------------------------------------------------------------- the beam
@dataclasses.dataclass(frozen=True)
class Beam:
    """A laser beam: a cylinder of ``diameter`` (m) around the axis through ``point`` (m)
    along ``direction`` (normalised here; the direction the light travels in the crystal)."""

    point: tuple[float, float, float]
    direction: tuple[float, float, float]
    diameter: float

    def __post_init__(self):
        point = tuple(float(c) for c in self.point)
        direction = np.asarray(self.direction, dtype=float)
        if len(point) != 3 or direction.shape != (3,):
            raise ValueError(f"Beam: point and direction must be 3-vectors (got {self.point}, "
                             f"{self.direction})")
        norm = float(np.linalg.norm(direction))
        if not norm > 0 or not math.isfinite(norm):
            raise ValueError(f"Beam: the direction must be a non-zero vector (got {self.direction})")
        if not self.diameter > 0:
            raise ValueError(f"Beam: the diameter must be > 0 (got {self.diameter})")
        object.__setattr__(self, "point", point)
        object.__setattr__(self, "direction", tuple(float(c) for c in direction / norm))
        object.__setattr__(self, "diameter", float(self.diameter))

    @property
    def radius(self) -> float:
        return 0.5 * self.diameter

    @property
    def point_array(self) -> np.ndarray:
        return np.array(self.point)

    @property
    def direction_array(self) -> np.ndarray:
        return np.array(self.direction)


def _points(x) -> np.ndarray:
    """Points as an array of shape (3, n) (dolfinx's interpolation layout); a single point
    of shape (3,) becomes (3, 1)."""
    x = np.asarray(x, dtype=float)
    if x.shape[0] != 3:
        raise ValueError(f"points must have shape (3, n) (got {x.shape})")
    return x.reshape(3, -1)


def radial_distance(x: np.ndarray, beam: Beam) -> np.ndarray:
    """Distance r (m) of the points ``x`` (shape (3, n)) from the beam axis, shape (n,)."""
    v = _points(x) - beam.point_array[:, None]
    along = beam.direction_array @ v
    # |v|^2 - (v.u)^2 can round to a tiny negative number on the axis
    return np.sqrt(np.maximum(np.einsum("in,in->n", v, v) - along**2, 0.0))


def depth_along_beam(x: np.ndarray, beam: Beam, normals: np.ndarray,
                     offsets: np.ndarray) -> np.ndarray:
    """Path length s (m) of the light inside the crystal from where it entered to ``x``.

    ``x`` has shape (3, n); the crystal is {x : normals @ x <= offsets} (convex). Going back
    along -u from x, the ray leaves the crystal through a face with n . (-u) > 0 at
    t = (o - n . x)/(n . (-u)); the first such exit is the depth (module docstring). Points
    marginally outside the crystal (round-off at the boundary) get s = 0.
    """
    normals, offsets = np.asarray(normals, float), np.asarray(offsets, float)
    backward = normals @ -beam.direction_array                  # n_i . (-u)
    facing = backward > _PARALLEL
    if not facing.any():
        raise ValueError("depth_along_beam: no face of the crystal faces the beam (unbounded?)")
    gaps = offsets[facing, None] - normals[facing] @ _points(x)  # o_i - n_i . x
    return np.maximum((gaps / backward[facing, None]).min(axis=0), 0.0)


def beam_profile(r: np.ndarray, diameter: float, kind: str) -> np.ndarray:
    """Transverse profile g(r) with peak 1: ``"top_hat"`` (1 for r <= d/2) or ``"gaussian"``
    (exp(-2 r^2/w^2), w = d/2: d is the 1/e^2 intensity diameter)."""
    r = np.asarray(r, dtype=float)
    if kind == "top_hat":
        # relative slack: mesh nodes on the meshed cylinder have r = d/2 up to round-off
        return (r <= 0.5 * diameter * (1 + 1e-9)).astype(float)
    if kind == "gaussian":
        w = 0.5 * diameter
        return np.exp(-2.0 * (r / w) ** 2)
    raise ValueError(f"unknown beam profile {kind!r} (expected one of {', '.join(PROFILES)})")


def effective_area(diameter: float, kind: str) -> float:
    """Integral of the profile over the plane (m^2): pi d^2/4 (top hat), pi w^2/2 with
    w = d/2 (Gaussian). Pulse energy / this area is the peak fluence."""
    if kind == "top_hat":
        return math.pi * diameter**2 / 4.0
    if kind == "gaussian":
        return math.pi * (0.5 * diameter) ** 2 / 2.0
    raise ValueError(f"unknown beam profile {kind!r} (expected one of {', '.join(PROFILES)})")


# --------------------------------------------------------------------------- beam vs crystal
def polyhedron_vertices(normals: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Vertices (k, 3) of the bounded convex polyhedron {x : normals @ x <= offsets}.

    Every triple of planes meets in at most one point; the points that satisfy all the
    inequalities are the vertices (a handful of faces: the enumeration is cheap)."""
    normals, offsets = np.asarray(normals, float), np.asarray(offsets, float)
    scale = float(np.max(np.abs(offsets))) or 1.0
    found: list[np.ndarray] = []
    for triple in itertools.combinations(range(len(offsets)), 3):
        A = normals[list(triple)]
        if abs(np.linalg.det(A)) < 1e-12:
            continue
        v = np.linalg.solve(A, offsets[list(triple)])
        if np.all(normals @ v <= offsets + 1e-9 * scale) and \
                not any(np.linalg.norm(v - w) < 1e-9 * scale for w in found):
            found.append(v)
    if len(found) < 4:
        raise ValueError("polyhedron_vertices: the halfspaces do not bound a solid")
    return np.array(found)


def _projected(beam: Beam, vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices and the beam axis projected onto the plane normal to the beam, in 2-D
    coordinates of that plane: ((k, 2) vertices, (2,) axis point)."""
    u = beam.direction_array
    helper = np.eye(3)[int(np.argmin(np.abs(u)))]
    e1 = np.cross(u, helper)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(u, e1)
    basis = np.stack([e1, e2])
    return vertices @ basis.T, basis @ beam.point_array


def _distance_to_convex_polygon(q: np.ndarray, points: np.ndarray) -> float:
    """Distance from the 2-D point q to the convex hull of ``points`` (0 inside)."""
    from scipy.spatial import ConvexHull

    hull = ConvexHull(points)
    if np.all(hull.equations[:, :2] @ q + hull.equations[:, 2] <= 0.0):
        return 0.0
    ring = points[hull.vertices]
    best = math.inf
    for a, b in zip(ring, np.roll(ring, -1, axis=0)):
        ab = b - a
        t = np.clip((q - a) @ ab / (ab @ ab), 0.0, 1.0)
        best = min(best, float(np.linalg.norm(q - (a + t * ab))))
    return best


def axis_distance_to_crystal(beam: Beam, normals: np.ndarray, offsets: np.ndarray) -> float:
    """Shortest distance (m) between the beam axis (a full line) and the crystal: the
    distance, in the plane normal to the beam, from the axis to the crystal's shadow (the
    convex hull of the projected vertices). 0 when the axis passes through the crystal."""
    flat, q = _projected(beam, polyhedron_vertices(normals, offsets))
    return _distance_to_convex_polygon(q, flat)


def beam_covers_crystal(beam: Beam, normals: np.ndarray, offsets: np.ndarray) -> bool:
    """True when the whole crystal lies inside the beam cylinder (every vertex within d/2
    of the axis; the crystal is convex)."""
    flat, q = _projected(beam, polyhedron_vertices(normals, offsets))
    return bool(np.max(np.linalg.norm(flat - q, axis=1)) <= beam.radius)


def check_beam_hits(beam: Beam, normals: np.ndarray, offsets: np.ndarray,
                    key: str = "beam_point") -> None:
    """Raise ``ConfigError(key, ...)`` when the beam cylinder does not overlap the crystal:
    its axis passes at d/2 or more from it (touching counts as missing: no volume)."""
    distance = axis_distance_to_crystal(beam, normals, offsets)
    if distance >= beam.radius:
        raise ConfigError(key, f"the laser beam misses the crystal: its axis passes {distance:.3g} m "
                               f"from it, not less than the beam radius {beam.radius:.3g} m "
                               f"(check beam_point, beam_direction and beam_diameter)")


def _chord(point: np.ndarray, u: np.ndarray, normals: np.ndarray,
           offsets: np.ndarray) -> tuple[float, float]:
    """Parameter interval [t_in, t_out] of the line point + t u inside the polyhedron
    (t_in > t_out when the line misses it)."""
    along = normals @ u
    gap = offsets - normals @ point
    t_in, t_out = -math.inf, math.inf
    for a, g in zip(along, gap):
        if a > _PARALLEL:
            t_out = min(t_out, g / a)
        elif a < -_PARALLEL:
            t_in = max(t_in, g / a)
        elif g < 0:
            return math.inf, -math.inf           # parallel to a face and outside it
    return t_in, t_out


def axis_segment(beam: Beam, normals: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(entry point, exit point) (m) of the beam axis in the crystal, in the direction of
    the light. When the axis misses the crystal (a beam that only partly overlaps it), the
    chord of the parallel line through the centre of the crystal's vertices."""
    normals, offsets = np.asarray(normals, float), np.asarray(offsets, float)
    u = beam.direction_array
    point = beam.point_array
    t_in, t_out = _chord(point, u, normals, offsets)
    if not t_in < t_out:
        point = polyhedron_vertices(normals, offsets).mean(axis=0)
        t_in, t_out = _chord(point, u, normals, offsets)
    return point + t_in * u, point + t_out * u


# --------------------------------------------------------------------------- excitation
def _optional(check):
    def wrapped(value) -> str | None:
        return None if value is None else check(value)

    return wrapped


@dataclasses.dataclass
class OpticsConfig:
    """The laser optics of a crystal run (embedded in a model section, e.g. ``[model]
    optics = {beam_profile = "gaussian", absorption_length = 0.5e-3}``); the beam's
    geometry (point, direction, diameter) belongs to the crystal geometry."""

    beam_profile: Literal["top_hat", "gaussian"] = param(
        "top_hat", doc="transverse profile: 'top_hat' (uniform inside d) or 'gaussian' "
                       "(d = 1/e^2 intensity diameter)")
    absorption_length: float = param(math.inf, unit="m", doc="Beer-Lambert absorption length "
                                     "(fluence ~ exp(-depth/length); inf: no attenuation)",
                                     check=positive, allow_inf=True)
    excitation: Literal["linear", "saturating"] = param(
        "linear", doc="'linear': peak_excitation x profile x attenuation; 'saturating': "
                      "triplet_yield (1 - exp(-fluence/saturation_fluence))")
    peak_excitation: float = param(1.0, doc="linear law: excitation probability on the axis at "
                                   "the entrance, in [0, 1]", check=in_range(0.0, 1.0))
    pulse_energy: float | None = param(None, unit="J", doc="saturating law: energy per pulse "
                                       "entering the crystal", check=_optional(non_negative))
    saturation_fluence: float | None = param(None, unit="J/m^2", doc="saturating law: fluence "
                                             "at which 1 - 1/e of the guests are excited",
                                             check=_optional(positive))
    triplet_yield: float = param(1.0, doc="saturating law: triplet yield, the excitation "
                                 "probability at full saturation, in [0, 1]",
                                 check=in_range(0.0, 1.0))

    def __post_init__(self):
        run_checks(self)
        if self.beam_profile not in PROFILES:
            raise ConfigError("beam_profile", f"must be one of {', '.join(map(repr, PROFILES))} "
                                              f"(got {self.beam_profile!r})")
        if self.excitation not in EXCITATION_LAWS:
            raise ConfigError("excitation", f"must be one of {', '.join(map(repr, EXCITATION_LAWS))} "
                                            f"(got {self.excitation!r})")
        if self.excitation == "saturating":
            for key in ("pulse_energy", "saturation_fluence"):
                if getattr(self, key) is None:
                    raise ConfigError(key, "required with excitation = 'saturating'")


def local_fluence(x: np.ndarray, beam: Beam, normals: np.ndarray, offsets: np.ndarray,
                  optics: OpticsConfig) -> np.ndarray:
    """Fluence F (J/m^2) of one pulse at the points ``x`` (3, n):
    E g(r) exp(-s/l_abs) / A_eff (module docstring); needs ``optics.pulse_energy``."""
    if optics.pulse_energy is None:
        raise ValueError("local_fluence: optics.pulse_energy is not set")
    peak = optics.pulse_energy / effective_area(beam.diameter, optics.beam_profile)
    return peak * _relative_fluence(x, beam, normals, offsets, optics)


def _relative_fluence(x, beam, normals, offsets, optics: OpticsConfig) -> np.ndarray:
    """g(r) exp(-s/l_abs): the fluence relative to its value on the axis at the entrance."""
    g = beam_profile(radial_distance(x, beam), beam.diameter, optics.beam_profile)
    if math.isinf(optics.absorption_length):
        return g
    s = depth_along_beam(x, beam, normals, offsets)
    return g * np.exp(-s / optics.absorption_length)


def excitation_probability(x: np.ndarray, beam: Beam, normals: np.ndarray, offsets: np.ndarray,
                           optics: OpticsConfig) -> np.ndarray:
    """Local triplet-excitation probability per pulse e(x) in [0, 1] at the points ``x``
    (3, n), shape (n,): the linear or saturating law of the module docstring."""
    relative = _relative_fluence(x, beam, normals, offsets, optics)
    if optics.excitation == "linear":
        e = optics.peak_excitation * relative
    else:
        fluence = optics.pulse_energy / effective_area(beam.diameter, optics.beam_profile) * relative
        # -expm1(-a) = 1 - exp(-a), accurate in the linear (low-fluence) regime
        e = optics.triplet_yield * -np.expm1(-fluence / optics.saturation_fluence)
    return np.clip(e, 0.0, 1.0)
