r"""Field of a magnetized MRFM tip by FEM magnetostatics (physics.md section 4).

Reduced scalar potential formulation: with :math:`\mathbf H = -\nabla\varphi` and
:math:`\mathbf B = \mu_0(\mathbf H + \mathbf M)`, :math:`\nabla\cdot\mathbf B = 0` reads, weakly,

.. math:: \int_\Omega \nabla\varphi\cdot\nabla v\,dx = \int_{tip} \mathbf M\cdot\nabla v\,dx
          \qquad \forall v \in H^1_0(\Omega),

(the magnetic surface charge :math:`\mathbf M\cdot\mathbf n` on the tip surface is contained
in the right-hand side), and :math:`\mathbf B_{tip} = \mu_0(\mathbf M\chi_{tip} - \nabla\varphi)`.
:math:`\Omega` is the air box of :func:`fem_spin.geometry.mrfm.build_tip_air_domain` (tip,
film region and air; the film is non-magnetic here). On its outer boundary :math:`\varphi`
is the potential of the point dipole :math:`\mathbf m = \mathbf M V_{tip}` placed at the tip's
centre of volume (:math:`V_{tip}` and the centre are those of the tip cells of the mesh):
the far field up to corrections from the second and higher moments of the tip's shape
(relative size ~ (tip size / distance)^2; zero for a sphere), which removes most of the
truncation error of a finite box. The potential is Lagrange of degree 2 by default;
:math:`\mathbf B_{tip}` is interpolated into the discontinuous vector space of one degree
lower (exact on affine cells).

The film mesh of the transport model is a different mesh:
:func:`interpolate_total_field_magnitude` carries :math:`|B_0\hat{\mathbf z} + \mathbf B_{tip}|`
to it with dolfinx's non-matching interpolation (works in parallel), and
:func:`analytic_total_field_magnitude` gives the same quantity for the analytic sphere
(:mod:`fem_spin.analytic.tip_field`), the reference the FEM must reproduce.
SI units: m, A/m, A m^2, T, A (potential).
"""

from __future__ import annotations

import dataclasses
from typing import Literal, Sequence

import numpy as np
from mpi4py import MPI
from petsc4py import PETSc

from fem_spin.analytic.tip_field import (MU0, dipole_potential, sphere_tip_field,
                                         total_field_magnitude)
from fem_spin.geometry.base import MeshData, bounding_box, mesh_from_builder, unit_scaled_coordinates
from fem_spin.geometry.mrfm import MRFMFilmGeometry

__all__ = ["DEFAULT_PETSC_OPTIONS", "TipFieldSolution", "solve_tip_field",
           "interpolate_total_field_magnitude", "analytic_total_field_magnitude"]

#: Conjugate gradients with BoomerAMG (the operator is the SPD Laplacian). A direct solve:
#: ``{"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"}``.
DEFAULT_PETSC_OPTIONS: dict[str, object] = {
    "ksp_type": "cg",
    "pc_type": "hypre",
    "pc_hypre_type": "boomeramg",
    "ksp_rtol": 1e-10,
    "ksp_atol": 0.0,
    "ksp_max_it": 2000,
}

_KSP_REASONS = {v: k for k, v in vars(PETSc.KSP.ConvergedReason).items() if isinstance(v, int)}


@dataclasses.dataclass
class TipFieldSolution:
    """The FEM tip field: mesh, potential, flux density and the tip's integral data.

    Attributes:
        mesh_data: the distributed magnetostatics mesh (groups "tip", "air", "sample",
            "outer"), coordinates in m.
        phi: reduced scalar potential (A), Lagrange of the requested degree.
        B: tip flux density (T), discontinuous Lagrange vector field of degree - 1.
        magnetization: M (A/m) of the tip.
        tip_volume: volume of the tip cells (m^3).
        tip_center: their centre of volume (m).
        moment: total moment M * tip_volume (A m^2) -- that of the boundary condition.
        iterations, reason: linear-solver iteration count and PETSc converged reason.
    """

    mesh_data: MeshData
    phi: object
    B: object
    magnetization: np.ndarray
    tip_volume: float
    tip_center: np.ndarray
    moment: np.ndarray
    iterations: int
    reason: str
    _B_continuous: object = dataclasses.field(default=None, repr=False)

    @property
    def mesh(self):
        return self.mesh_data.mesh

    def num_dofs(self) -> int:
        """Global number of degrees of freedom of phi."""
        imap = self.phi.function_space.dofmap.index_map
        return imap.size_global * self.phi.function_space.dofmap.index_map_bs

    def B_continuous(self):
        r"""B_tip (T) projected onto continuous vector Lagrange of the degree of phi (cached).

        The weighted L2 projection :math:`\int_{out} \mathbf B_c\cdot\mathbf v + \epsilon
        \int_{tip} \mathbf B_c\cdot\mathbf v = \int_{out} \mathbf B\cdot\mathbf v + \epsilon
        \int_{tip} \mathbf B\cdot\mathbf v` (:math:`\epsilon = 10^{-3}`, "out" = air and
        sample) makes the field continuous without averaging the jump of B across the tip
        surface into the air side: outside the tip it is as accurate as :attr:`B` (more, at
        mesh vertices), inside the tip it is only approximate within an element of its
        surface. Being continuous, its point values do not depend on which cell a point is
        located in, so transfers to other meshes are independent of the partition.
        Collective on the first call.
        """
        if self._B_continuous is None:
            self._B_continuous = _continuous_projection(self)
        return self._B_continuous

    def evaluate(self, points: Sequence | np.ndarray) -> np.ndarray:
        """B_tip (T) at ``points`` (m, shape (3, n), the same on every rank); collective.

        Each point is evaluated by the lowest rank owning a cell that contains it (in the
        discontinuous :attr:`B`: at a point on a face between cells, the value of one of
        them). Points outside the domain give NaN. Returns shape (3, n).
        """
        from dolfinx import geometry

        pts = np.ascontiguousarray(np.asarray(points, dtype=float).reshape(3, -1).T)
        mesh = self.mesh
        n = len(pts)
        num_owned = mesh.topology.index_map(3).size_local
        scale = _domain_size(mesh)
        found, cells = [], []
        with unit_scaled_coordinates([mesh], scale):
            scaled = pts / scale
            tree = geometry.bb_tree(mesh, 3, np.arange(num_owned, dtype=np.int32))
            candidates = geometry.compute_collisions_points(tree, scaled)
            colliding = geometry.compute_colliding_cells(mesh, candidates, scaled)
            for i in range(n):
                links = colliding.links(i)
                if len(links):
                    found.append(i)
                    cells.append(links[0])
            found_mask = np.zeros(n, dtype=np.int32)
            found_mask[found] = 1
            owner = np.where(found_mask, mesh.comm.rank, mesh.comm.size).astype(np.int32)
            owner = mesh.comm.allreduce(owner, op=MPI.MIN)
            values = np.zeros((n, 3))
            if found:
                idx = np.asarray(found)
                vals = self.B.eval(scaled[idx], np.asarray(cells, dtype=np.int32))
                mine = owner[idx] == mesh.comm.rank
                values[idx[mine]] = vals[mine]
        values = mesh.comm.allreduce(values, op=MPI.SUM)  # exactly one rank adds each point
        values[owner == mesh.comm.size] = np.nan
        return values.T


def _domain_size(mesh) -> float:
    """Largest extent (m) of the bounding box of a distributed mesh."""
    lo, hi = bounding_box(mesh)
    return float(np.max(hi - lo))


#: weight of the tip cells in the projection of :meth:`TipFieldSolution.B_continuous`
_TIP_WEIGHT = 1e-3


def _continuous_projection(solution: TipFieldSolution):
    import dolfinx.fem as fem
    import dolfinx.fem.petsc as fem_petsc
    import ufl

    data, mesh = solution.mesh_data, solution.mesh
    dx = ufl.Measure("dx", domain=mesh, subdomain_data=data.cell_tags)
    tip = data.cell_group("tip")
    outside = tuple(tag for name, tag in data.cell_groups.items() if name != "tip")
    degree = solution.phi.function_space.element.basix_element.degree
    V = fem.functionspace(mesh, ("Lagrange", degree, (mesh.geometry.dim,)))
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    w = fem.Constant(mesh, PETSc.ScalarType(_TIP_WEIGHT))
    # divided by (domain size)^3: matrix entries of order (h/size)^3, not h^3 ~ 1e-24 m^3
    scale = fem.Constant(mesh, PETSc.ScalarType(1.0 / _domain_size(mesh) ** 3))
    a = scale * (ufl.inner(u, v) * dx(outside) + w * ufl.inner(u, v) * dx(tip))
    L = scale * (ufl.inner(solution.B, v) * dx(outside) + w * ufl.inner(solution.B, v) * dx(tip))
    options = {"ksp_type": "cg", "pc_type": "jacobi", "ksp_rtol": 1e-12, "ksp_atol": 0.0,
               "ksp_max_it": 1000}
    problem = fem_petsc.LinearProblem(a, L, petsc_options=options)
    B = problem.solve()
    B.name = "B_tip"
    _check_converged(problem.solver, "the projection of B onto a continuous space", options)
    return B


def _check_converged(ksp, what: str, options: dict) -> tuple[int, str]:
    """(iterations, reason name) of a finished KSP solve; RuntimeError if it diverged."""
    code = ksp.getConvergedReason()
    reason = _KSP_REASONS.get(code, str(code))
    iterations = ksp.getIterationNumber()
    if code <= 0:
        raise RuntimeError(f"magnetostatics: {what}: the linear solver did not converge: {reason} "
                           f"after {iterations} iterations (options {options})")
    return iterations, reason


def _assemble(form_expr, comm) -> float:
    import dolfinx.fem as fem

    return comm.allreduce(fem.assemble_scalar(fem.form(form_expr)), op=MPI.SUM)


def solve_tip_field(geometry: MRFMFilmGeometry, magnetization: Sequence[float],
                    comm: MPI.Comm = MPI.COMM_WORLD, degree: int = 2, air_margin: float = 3.0,
                    petsc_options: dict | None = None, mesh_data: MeshData | None = None,
                    msh_path: str | None = None) -> TipFieldSolution:
    """Solve the reduced-scalar-potential magnetostatics of the tip (physics.md section 4).

    Args:
        geometry: the MRFM geometry; its tip shape, apex position and mesh sizes
            (``tip_mesh_size``, ``mesh_size_min``, ``mesh_size_max``) define the domain.
        magnetization: uniform tip magnetization M (A/m), a 3-vector (mu0 M ~ 1-2 T, i.e.
            M ~ 0.8e6-1.6e6 A/m).
        comm: communicator the mesh is distributed over (gmsh runs on its rank 0).
        degree: Lagrange degree of the potential (B is of degree - 1, discontinuous).
        air_margin: the air box extends this many tip sizes beyond tip and film.
        petsc_options: linear-solver options (default :data:`DEFAULT_PETSC_OPTIONS`).
        mesh_data: reuse a mesh from :func:`~fem_spin.geometry.mrfm.build_tip_air_domain`
            instead of meshing (``air_margin`` and ``msh_path`` are then ignored).
        msh_path: also write the gmsh mesh there (.msh, metres).

    Raises:
        RuntimeError: the linear solver did not converge (names the KSP reason).
    """
    import dolfinx.fem as fem
    import dolfinx.fem.petsc as fem_petsc
    import ufl

    M = np.asarray(magnetization, dtype=float).reshape(-1)
    if M.shape != (3,):
        raise ValueError(f"magnetization must be a 3-vector in A/m (got {magnetization!r})")
    if degree < 1:
        raise ValueError(f"degree must be >= 1 (got {degree})")
    data = mesh_data
    if data is None:
        data = mesh_from_builder(geometry.air_domain_builder(air_margin), geometry, comm,
                                 msh_path=msh_path)
    mesh = data.mesh
    comm = mesh.comm
    tdim = mesh.topology.dim
    mesh.topology.create_connectivity(tdim - 1, tdim)
    tip_tag = data.cell_group("tip")
    dx = ufl.Measure("dx", domain=mesh, subdomain_data=data.cell_tags)

    # tip volume, centre of volume and total moment, from the mesh
    x = ufl.SpatialCoordinate(mesh)
    volume = _assemble(fem.Constant(mesh, 1.0) * dx(tip_tag), comm)
    if not volume > 0:
        raise RuntimeError("magnetostatics: the mesh has no tip cells")
    center = np.array([_assemble(x[i] * dx(tip_tag), comm) / volume for i in range(3)])
    moment = M * volume

    V = fem.functionspace(mesh, ("Lagrange", degree))
    phi_far = fem.Function(V)
    phi_far.interpolate(lambda X: dipole_potential(X, moment, center))
    outer = data.facet_tags.find(data.facet_group("outer"))
    bc = fem.dirichletbc(phi_far, fem.locate_dofs_topological(V, tdim - 1, outer))

    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    M_c = fem.Constant(mesh, np.asarray(M, dtype=PETSc.ScalarType))
    # Both sides divided by a length (the tip size): the stiffness entries are then of order
    # h/length ~ 0.1-1 like the unit diagonal of the Dirichlet rows, and the interior rows
    # (~ M h^2/length) of the order of the boundary values (~ M length (length/distance)^2),
    # so that the relative residual of the Krylov solver measures the interior equations.
    length = fem.Constant(mesh, PETSc.ScalarType(1.0 / geometry.tip_size()))
    a = length * ufl.inner(ufl.grad(u), ufl.grad(v)) * dx
    L = length * ufl.inner(M_c, ufl.grad(v)) * dx(tip_tag)
    options = dict(DEFAULT_PETSC_OPTIONS if petsc_options is None else petsc_options)
    problem = fem_petsc.LinearProblem(a, L, bcs=[bc], petsc_options=options)
    phi = problem.solve()
    phi.name = "phi"
    iterations, reason = _check_converged(problem.solver, "the potential", options)

    # B_tip = mu0 (M chi_tip - grad phi), interpolated into DG(degree - 1)^3
    chi = fem.Function(fem.functionspace(mesh, ("DG", 0)))
    tip_cells = data.cell_tags.find(tip_tag)
    chi.x.array[tip_cells[tip_cells < mesh.topology.index_map(tdim).size_local]] = 1.0
    chi.x.scatter_forward()
    W = fem.functionspace(mesh, ("DG", degree - 1, (mesh.geometry.dim,)))
    B = fem.Function(W, name="B_tip")
    B.interpolate(fem.Expression(MU0 * (M_c * chi - ufl.grad(phi)),
                                 W.element.interpolation_points()))
    B.x.scatter_forward()
    return TipFieldSolution(mesh_data=data, phi=phi, B=B, magnetization=M, tip_volume=volume,
                            tip_center=center, moment=moment, iterations=iterations, reason=reason)


def _scalar_lagrange_degree(target_space) -> int:
    if len(target_space.value_shape) != 0:
        raise ValueError("target_space must be a scalar (Lagrange) function space")
    return target_space.element.basix_element.degree


def interpolate_total_field_magnitude(solution: TipFieldSolution, target_space, B0: float,
                                      field: Literal["continuous", "dg"] = "continuous",
                                      padding: float | None = None):
    """|B0 z_hat + B_tip| (T) as a Function of ``target_space`` on another mesh (the film).

    B_tip is interpolated into the vector Lagrange space of the target's degree on the target
    mesh with dolfinx's non-matching interpolation (``fem.create_interpolation_data`` +
    ``Function.interpolate_nonmatching``; collective, works with differently distributed
    meshes), then the magnitude of the total field is interpolated into ``target_space``
    (for P1: exact at its nodes).

    Args:
        solution: from :func:`solve_tip_field`.
        target_space: scalar Lagrange space on a mesh lying inside the magnetostatics
            domain (e.g. the film mesh of :func:`~fem_spin.geometry.mrfm.build_mrfm_film`).
        B0: uniform polarizing field along +z (T).
        field: ``"continuous"`` (default): transfer :meth:`TipFieldSolution.B_continuous`,
            whose point values do not depend on the partition (1 and N ranks agree to the
            solver tolerance) and are more accurate at the vertices of the magnetostatics
            mesh; ``"dg"``: transfer the discontinuous :attr:`TipFieldSolution.B` itself (at a
            point on a face between cells, the value of whichever cell the search finds).
        padding: bounding-box padding (m) of the point search (default 1e-9 times the
            size of the magnetostatics domain); target nodes outside the domain but within
            the padding of a cell take the value of the closest cell.

    Raises:
        ValueError: some target nodes lie outside the magnetostatics domain.
    """
    import dolfinx.fem as fem
    import ufl

    if field not in ("continuous", "dg"):
        raise ValueError(f"field must be 'continuous' or 'dg' (got {field!r})")
    source = solution.B_continuous() if field == "continuous" else solution.B
    degree = _scalar_lagrange_degree(target_space)
    mesh_to = target_space.mesh
    scale = _domain_size(solution.mesh)
    padding = 1e-9 if padding is None else padding / scale
    V_vec = fem.functionspace(mesh_to, ("Lagrange", degree, (mesh_to.geometry.dim,)))
    imap = mesh_to.topology.index_map(mesh_to.topology.dim)
    cells = np.arange(imap.size_local + imap.num_ghosts, dtype=np.int32)
    B_to = fem.Function(V_vec, name="B_tip")
    meshes = [solution.mesh] if mesh_to is solution.mesh else [solution.mesh, mesh_to]
    with unit_scaled_coordinates(meshes, scale):
        data = fem.create_interpolation_data(V_vec, source.function_space, cells, padding=padding)
        missing = mesh_to.comm.allreduce(int(np.count_nonzero(np.asarray(data.src_owner()) < 0)),
                                         op=MPI.SUM)
        if missing:
            raise ValueError(f"{missing} nodes of the target mesh lie outside the magnetostatics "
                             f"domain (is the target the film of the same geometry?)")
        B_to.interpolate_nonmatching(source, cells, data)
    B_to.x.scatter_forward()
    B_total = B_to + fem.Constant(mesh_to, np.array([0.0, 0.0, B0], dtype=PETSc.ScalarType))
    out = fem.Function(target_space, name="B_total")
    out.interpolate(fem.Expression(ufl.sqrt(ufl.dot(B_total, B_total)),
                                   target_space.element.interpolation_points()))
    out.x.scatter_forward()
    return out


def analytic_total_field_magnitude(target_space, B0: float, center: Sequence[float], radius: float,
                                   magnetization: Sequence[float]):
    """|B0 z_hat + B_sphere| (T) of the analytic sphere tip, interpolated into ``target_space``.

    ``center`` (m), ``radius`` (m) and ``magnetization`` (A/m) as in
    :func:`fem_spin.analytic.tip_field.sphere_tip_field`; for an ``MRFMFilmGeometry`` with
    ``tip_shape = "sphere"`` use ``geometry.tip_center()`` and ``geometry.tip_radius``.
    """
    import dolfinx.fem as fem

    _scalar_lagrange_degree(target_space)
    out = fem.Function(target_space, name="B_total")
    out.interpolate(lambda x: total_field_magnitude(
        x, B0, sphere_tip_field(x, center, radius, magnetization)))
    return out
