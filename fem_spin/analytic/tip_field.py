r"""Closed-form field of an MRFM tip: the uniformly magnetized sphere (physics.md section 4).

Pure numpy, SI units throughout: lengths in m, magnetization in A/m, magnetic moments in
A m^2, flux densities in T, scalar potentials in A. Arrays of points have shape ``(3, n)``
(the layout of ``dolfinx.fem.Function.interpolate`` callables); a single point may be
given as a 3-vector.

Equations (physics.md section 4)
--------------------------------
* A sphere of radius :math:`R` and uniform magnetization :math:`\mathbf M` is, outside
  itself, exactly the point dipole :math:`\mathbf m = \tfrac{4\pi}{3} R^3 \mathbf M` at its
  centre:

  .. math:: \mathbf B(\mathbf r) = \frac{\mu_0}{4\pi}\,
            \frac{3(\mathbf m\cdot\hat{\mathbf r})\hat{\mathbf r} - \mathbf m}{|\mathbf r|^3},
            \qquad \mathbf r = \mathbf x - \mathbf c;

  inside it the field is uniform, :math:`\mathbf B = \tfrac23 \mu_0 \mathbf M`
  (:math:`\mathbf H = -\mathbf M/3`, the demagnetizing factor 1/3).
* On the axis of :math:`\mathbf M` the field magnitude falls off as
  :math:`B = \tfrac23\mu_0 M (R/|z|)^3`, so its gradient at the surface is
  :math:`|\partial B_z/\partial z| = 2\mu_0 M/R` (the MRFM gradient, 1e6-1e7 T/m for
  :math:`\mu_0 M \sim 1` T and :math:`R \sim 0.1`-1 um).
* The reduced scalar potential of a point dipole is
  :math:`\varphi = \mathbf m\cdot\mathbf r/(4\pi|\mathbf r|^3)` (A), with
  :math:`\mathbf H = -\nabla\varphi` and :math:`\mathbf B = \mu_0\mathbf H` outside the
  magnet; it is the far-field boundary condition of the FEM magnetostatics
  (:mod:`fem_spin.solvers.magnetostatics`).
* On the axis of a body of revolution magnetized uniformly along that axis (the
  cylinder + cone tip), the field is that of its equivalent surface current: a slice
  [z, z + dz] of radius r(z) is a current loop carrying M dz, so
  :math:`B_z(z_0) = \tfrac{\mu_0 M}{2}\int r(z)^2 / (r(z)^2 + (z - z_0)^2)^{3/2}\,dz`
  (everywhere on the axis, inside or outside). For a sphere this reproduces the dipole.
* The Zeeman field entering the transport model (physics.md section 2) is the magnitude
  :math:`|B_0\hat{\mathbf z} + \mathbf B_{tip}(\mathbf x)|` of the total field.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "MU0",
    "sphere_moment",
    "dipole_field",
    "dipole_potential",
    "sphere_tip_field",
    "total_field_magnitude",
    "sphere_surface_gradient",
    "revolution_axis_field",
    "cone_cylinder_axis_field",
]

#: vacuum permeability mu0 = 4 pi 1e-7 T m/A (the classical value; the 2019 SI value
#: differs by 1e-10 relative, far below any accuracy discussed here)
MU0: float = 4e-7 * math.pi


def _points(points: ArrayLike) -> tuple[np.ndarray, bool]:
    """``points`` as a float (3, n) array, and whether a single 3-vector was given."""
    x = np.asarray(points, dtype=float)
    single = x.ndim == 1
    if single:
        x = x.reshape(3, 1)
    if x.ndim != 2 or x.shape[0] != 3:
        raise ValueError(f"points must have shape (3, n) or (3,) (got {x.shape})")
    return x, single


def _vector(v: ArrayLike, name: str) -> np.ndarray:
    out = np.asarray(v, dtype=float).reshape(-1)
    if out.shape != (3,):
        raise ValueError(f"{name} must be a 3-vector (got shape {np.shape(v)})")
    return out


def sphere_moment(radius: float, magnetization: ArrayLike) -> np.ndarray:
    """Magnetic moment m = (4 pi / 3) R^3 M (A m^2) of a uniformly magnetized sphere."""
    return 4.0 * math.pi / 3.0 * radius**3 * _vector(magnetization, "magnetization")


def dipole_field(points: ArrayLike, moment: ArrayLike, center: ArrayLike) -> np.ndarray:
    r"""Flux density B (T) of a point dipole ``moment`` (A m^2) at ``center`` (m).

    :math:`\mathbf B = \frac{\mu_0}{4\pi}\frac{3(\mathbf m\cdot\hat{\mathbf r})\hat{\mathbf r}
    - \mathbf m}{|\mathbf r|^3}` with :math:`\mathbf r = \mathbf x - \mathbf c`
    (physics.md section 4). Singular at the centre. Returns shape (3, n) (or (3,) for a
    single point).
    """
    x, single = _points(points)
    m = _vector(moment, "moment")
    r = x - _vector(center, "center")[:, None]
    dist = np.linalg.norm(r, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rhat = r / dist
        mr = m @ rhat
        B = MU0 / (4.0 * math.pi) * (3.0 * mr * rhat - m[:, None]) / dist**3
    return B[:, 0] if single else B


def dipole_potential(points: ArrayLike, moment: ArrayLike, center: ArrayLike) -> np.ndarray:
    r"""Reduced magnetic scalar potential (A) of a point dipole ``moment`` (A m^2) at ``center``.

    :math:`\varphi = \mathbf m\cdot\mathbf r/(4\pi|\mathbf r|^3)`, :math:`\mathbf r = \mathbf x
    - \mathbf c`, so that :math:`\mathbf H = -\nabla\varphi` and, outside the magnet,
    :math:`\mathbf B = -\mu_0\nabla\varphi` equals :func:`dipole_field` (physics.md section 4).
    Returns shape (n,) (or a float for a single point).
    """
    x, single = _points(points)
    m = _vector(moment, "moment")
    r = x - _vector(center, "center")[:, None]
    dist = np.linalg.norm(r, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = (m @ r) / (4.0 * math.pi * dist**3)
    return float(phi[0]) if single else phi


def sphere_tip_field(points: ArrayLike, center: ArrayLike, radius: float,
                     magnetization: ArrayLike) -> np.ndarray:
    r"""Flux density B (T) of a uniformly magnetized sphere (physics.md section 4).

    Args:
        points: evaluation points (m), shape (3, n) or a single 3-vector.
        center: centre of the sphere (m).
        radius: its radius R (m).
        magnetization: its magnetization M (A/m), a 3-vector.

    Outside (:math:`|\mathbf x - \mathbf c| \ge R`): the point dipole
    :math:`\mathbf m = \tfrac{4\pi}{3}R^3\mathbf M` (:func:`dipole_field`); inside: the
    uniform :math:`\mathbf B = \tfrac23\mu_0\mathbf M`. Returns shape (3, n) (or (3,)).
    """
    x, single = _points(points)
    M = _vector(magnetization, "magnetization")
    if not radius > 0:
        raise ValueError(f"radius must be > 0 (got {radius})")
    c = _vector(center, "center")
    inside = np.linalg.norm(x - c[:, None], axis=0) < radius
    B = np.empty_like(x)
    B[:, inside] = (2.0 / 3.0) * MU0 * M[:, None]
    if np.any(~inside):
        B[:, ~inside] = dipole_field(x[:, ~inside], sphere_moment(radius, M), c)
    return B[:, 0] if single else B


def total_field_magnitude(points: ArrayLike, B0: float,
                          tip_field: ArrayLike | Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    r"""Magnitude :math:`|B_0\hat{\mathbf z} + \mathbf B_{tip}(\mathbf x)|` (T) of the total field.

    Args:
        points: evaluation points (m), shape (3, n) or a single 3-vector.
        B0: the uniform polarizing field (T), along +z.
        tip_field: either the tip field already evaluated at ``points`` (T, shape (3, n)),
            or a callable ``points -> B_tip`` (e.g. a ``functools.partial`` of
            :func:`sphere_tip_field`).

    This is the Zeeman field magnitude entering the transport model (physics.md sections 2
    and 4). Returns shape (n,) (or a float for a single point).
    """
    x, single = _points(points)
    B = np.asarray(tip_field(x) if callable(tip_field) else tip_field, dtype=float)
    B = B.reshape(3, -1)
    if B.shape[1] != x.shape[1]:
        raise ValueError(f"tip_field has {B.shape[1]} points, points has {x.shape[1]}")
    total = B.copy()
    total[2] += B0
    out = np.linalg.norm(total, axis=0)
    return float(out[0]) if single else out


def sphere_surface_gradient(radius: float, magnetization_T: float) -> float:
    r"""On-axis field gradient (T/m) at the surface of a uniformly magnetized sphere.

    Args:
        radius: the sphere radius R (m).
        magnetization_T: the magnetization expressed as a flux density, :math:`\mu_0 M` (T)
            -- e.g. 1.8 for cobalt or 2.2 for iron -- *not* M in A/m.

    Returns :math:`2\mu_0 M/R`, the magnitude of :math:`\partial B_z/\partial z` on the axis of
    :math:`\mathbf M` at the surface (physics.md section 4), from
    :math:`B_z = \tfrac23\mu_0 M (R/|z|)^3` on the axis. It is positive below the sphere
    (:math:`z < 0` relative to its centre, for M along +z -- the MRFM sample side, where
    the field grows towards the tip) and the derivative is negative above it.
    """
    if not radius > 0:
        raise ValueError(f"radius must be > 0 (got {radius})")
    return 2.0 * abs(magnetization_T) / radius


def revolution_axis_field(z: ArrayLike, radius: Callable[[float], float], z_min: float,
                          z_max: float, magnetization_z: float) -> np.ndarray:
    r"""B_z (T) on the axis of a body of revolution uniformly magnetized along its axis.

    Args:
        z: positions on the axis (m), scalar or array.
        radius: the body's radius r(z) (m) as a function of the axial coordinate, for
            z_min <= z <= z_max.
        z_min, z_max: the axial extent of the body (m).
        magnetization_z: M (A/m) along +z.

    :math:`B_z(z_0) = \frac{\mu_0 M}{2}\int_{z_{min}}^{z_{max}}
    \frac{r(z)^2}{(r(z)^2 + (z - z_0)^2)^{3/2}}\,dz` -- the sum of the current loops
    :math:`M\,dz` of the equivalent surface current (physics.md section 4); valid on the
    whole axis. Numerical quadrature (scipy).
    """
    from scipy.integrate import quad

    z_arr = np.atleast_1d(np.asarray(z, dtype=float))
    out = np.empty_like(z_arr)
    for i, z0 in enumerate(z_arr):
        def integrand(zz, z0=z0):
            r2 = radius(zz) ** 2
            return r2 / (r2 + (zz - z0) ** 2) ** 1.5 if r2 > 0 else 0.0

        inner = [z0] if z_min < z0 < z_max else None
        value, _ = quad(integrand, z_min, z_max, points=inner, limit=200, epsabs=0.0,
                        epsrel=1e-10)
        out[i] = 0.5 * MU0 * magnetization_z * value
    return out if np.ndim(z) else float(out[0])


def cone_cylinder_axis_field(z: ArrayLike, apex_z: float, cone_length: float,
                             cone_half_angle: float, cylinder_length: float,
                             magnetization_z: float) -> np.ndarray:
    r"""B_z (T) on the axis of the cylinder + cone tip, magnetized along its axis (+z).

    The cone (half-angle ``cone_half_angle`` in degrees) has its apex at ``apex_z`` (m) and
    its top, of radius :math:`a = L_{cone}\tan\alpha`, at ``apex_z + cone_length``; the
    cylinder of radius a and length ``cylinder_length`` sits on top (the ``cylinder_cone``
    tip of :class:`fem_spin.geometry.mrfm.MRFMFilmGeometry`). The cone is integrated
    numerically (:func:`revolution_axis_field`); the cylinder in closed form,
    :math:`\frac{\mu_0 M}{2}\left[\frac{z_2 - z_0}{\sqrt{a^2 + (z_2 - z_0)^2}}
    - \frac{z_1 - z_0}{\sqrt{a^2 + (z_1 - z_0)^2}}
ight]`.
    """
    if not 0.0 < cone_half_angle < 90.0:
        raise ValueError(f"cone_half_angle must lie in (0, 90) degrees (got {cone_half_angle})")
    tan = math.tan(math.radians(cone_half_angle))
    a = cone_length * tan
    z_top = apex_z + cone_length
    cone = revolution_axis_field(z, lambda zz: max(zz - apex_z, 0.0) * tan, apex_z, z_top,
                                 magnetization_z)
    z0 = np.asarray(z, dtype=float)
    s1, s2 = z_top - z0, z_top + cylinder_length - z0
    cylinder = 0.5 * MU0 * magnetization_z * (s2 / np.sqrt(a**2 + s2**2)
                                              - s1 / np.sqrt(a**2 + s1**2))
    return cone + cylinder
