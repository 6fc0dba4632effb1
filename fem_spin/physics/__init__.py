"""Composable physics shared by the transient models (issue 19, item 3).

* :mod:`~fem_spin.physics.terms`: weak-form term builders (lumped capacity, diffusion with a
  scalar/tensor/speed-up coefficient, relaxation towards an equilibrium, sources on regions
  and cell groups, the coordinate weight of the radial cell) and the measures they use;
* :mod:`~fem_spin.physics.observables`: volume mean/min/max/total over the sample or a
  region, flux through a facet group, value at a point, probe lines: declared once;
* :mod:`~fem_spin.physics.regions`: initial-state regions (ball, box, slab, step, field
  slice) with one tolerance.

The modules import dolfinx/ufl lazily inside functions, so importing the package is cheap.
"""

from fem_spin.physics import observables, regions, terms

__all__ = ["observables", "regions", "terms"]
