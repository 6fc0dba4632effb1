"""fem_spin.physics: regions with one tolerance, and the observables on a unit square."""

import numpy as np
import pytest
from mpi4py import MPI

from fem_spin.physics import observables, regions, terms


def test_regions_share_one_tolerance():
    x = np.array([[1.0 + 1e-13, 1.0 + 1e-9], [0.0, 0.0], [0.0, 0.0]])
    assert regions.ball((0, 0, 0), 1.0)(x).tolist() == [True, False]
    assert regions.box((0, -1, -1), (1, 1, 1))(x).tolist() == [True, False]
    assert regions.slab(0, 0.0, 1.0)(x).tolist() == [True, False]
    assert regions.region("none")(x).tolist() == [False, False]
    assert regions.step_weight(np.array([[-1.0, 0.0, 1.0]]), 0, 0.0).tolist() == [0.0, 0.5, 1.0]


@pytest.mark.parallel
def test_observables_on_the_unit_square():
    import dolfinx.fem as fem
    import dolfinx.mesh
    import ufl

    mesh = dolfinx.mesh.create_unit_square(MPI.COMM_WORLD, 8, 8)
    V = fem.functionspace(mesh, ("Lagrange", 1))
    u = fem.Function(V)
    u.interpolate(lambda x: 1.0 + x[0])
    dx_l = terms.lumped_measure(mesh)
    stats = observables.LumpedStatistics(mesh.comm, terms.lumped_masses(V, 1.0, dx_l))
    owned = u.x.array[:V.dofmap.index_map.size_local]
    assert stats.volume == pytest.approx(1.0)
    assert stats.statistics(owned, "u") == pytest.approx({"u_mean": 1.5, "u_min": 1.0, "u_max": 2.0})
    left = fem.Function(V)
    left.interpolate(lambda x: (x[0] <= 0.5 + 1e-12).astype(float))
    assert observables.RegionMean(u, ufl.dx, indicator=left)() == pytest.approx(1.25, rel=0.05)
    # the lumped region mean is the vertex-rule form as a dot product (weights too), also for a
    # nonlinear nodal integrand such as the DNP model's tanh(w)
    weight = fem.Function(V)
    weight.interpolate(lambda x: 1.0 + x[1] ** 2)
    lumped = observables.LumpedStatistics(mesh.comm, terms.lumped_masses(V, weight, dx_l))
    n = V.dofmap.index_map.size_local
    for chi in (left, u):
        fast = observables.LumpedRegionMean(lumped, chi, n)
        form = observables.RegionMean(ufl.tanh(u), dx_l, weight, indicator=chi)
        assert fast.volume == pytest.approx(form.volume, rel=1e-13)
        assert fast(np.tanh(owned)) == pytest.approx(form(), rel=1e-13)
    # flux of grad u = (1, 0) out of the square: +1 through x = 1, -1 through x = 0
    assert observables.FacetFlux(ufl.grad(u), ufl.ds)() == pytest.approx(0.0, abs=1e-12)
    assert observables.integrate(fem.form(u * ufl.dx)) == pytest.approx(1.5)
    assert observables.PointValue(mesh, (0.25, 0.5, 0.0))(u) == pytest.approx(1.25)
