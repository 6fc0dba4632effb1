r"""The Onsager transport framework for N conserved quantities (docs/theory/onsager_framework.md).

A model states an :class:`OnsagerSystem`: the names of the N components of its state rho
(entropy basis) and of its N conserved quantities, the Legendre dual of its entropy per unit
weight, :math:`\psi(\Omega) = \max_\rho [s(\rho) - \Omega\cdot\rho]` (a UFL expression of the
entropy variables Omega, possibly with coefficients that vary in space), the map
:math:`q = \Delta A(x)\rho` to the conserved densities, and the transport coefficients
(channel rates sigma_k^2 and a spatial tensor f Gamma). :class:`OnsagerForms` derives the
rest with ``ufl.diff`` (theory note section 1):

.. math::

    \rho = -\partial\psi/\partial\Omega,\quad C = \partial\rho/\partial\Omega,\quad
    s = \psi + \Omega\cdot\rho,\quad N_\beta = A^{-1}\partial_\beta A,\quad
    D_\beta v = \partial_\beta v - N_\beta^T v,

    G = D\Omega,\qquad j^\beta = -\Gamma^{\beta\gamma}\,\Sigma C \Sigma\, G^\gamma,\qquad
    F = \int \Delta(\rho - \rho_\mathrm{old})\cdot v\,dx_\mathrm{lumped}
        - \Delta t \int \Delta\, j\cdot Dv\, dx .

With the entries of A P1 functions or constants, v = A^T c are test functions with Dv = 0:
the totals :math:`Q_h = \sum_i w_i A(x_i)\rho_i` are conserved exactly (section 1.4); with
the entropy variables as unknowns and backward Euler, :math:`S_h = \sum_i w_i s(\rho_i)`
never decreases (section 1.5). :func:`check_entropy_concave` and :func:`check_conserved_map`
reject an entropy that is not strictly concave and a singular A with a ModelError naming the
key before anything is solved.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import numpy as np

from fem_spin.errors import ModelError

__all__ = ["OnsagerSystem", "OnsagerForms", "check_entropy_concave", "check_conserved_map",
           "default_sample_states", "NodalEvaluator", "conserved_map_nodal"]

#: relative size below which an eigenvalue of the Hessian of psi at Omega = 0, or |det A|,
#: counts as zero
SINGULAR_RELATIVE = 1e-12
#: relative size beyond which a negative eigenvalue of the Hessian of psi is not round-off
NEGATIVE_RELATIVE = 1e-10
#: cells per rank at which the concavity of the entropy is checked
CHECK_CELLS = 256


@dataclasses.dataclass(frozen=True)
class OnsagerSystem:
    """What a model states about itself (theory note section 1); everything else is derived.

    * ``components``: names of the N components of rho (entropy basis, dimensionless);
    * ``quantities``: names of the N conserved totals (rows of A);
    * ``massieu(omega)``: psi(Omega), a UFL scalar of the UFL N-vector omega (convex);
    * ``conserved_map``: A(x), N rows of N entries, each a number or a UFL expression of P1
      Functions and constants (affine in P1 coefficients for exact conservation);
    * ``quantity_scales``: the unit of each total: Q_k = scale_k * sum_i w_i (A rho_i)_k
      (A may then be written dimensionless: the connection A^-1 dA does not see row scales);
    * ``channel_rates``: sigma_k^2, the rate of channel k relative to Gamma;
    * ``transport``: f Gamma as a UFL d x d tensor (may depend on the state);
    * ``keys``: the configuration keys a rejection names: "entropy" and "conserved_map".
    """

    components: tuple[str, ...]
    quantities: tuple[str, ...]
    massieu: Callable[[Any], Any]
    conserved_map: Sequence[Sequence[Any]]
    quantity_scales: tuple[float, ...]
    channel_rates: tuple[float, ...]
    transport: Any
    keys: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        n = len(self.components)
        if len(self.quantities) != n:
            raise ModelError(f"{n} components of rho but {len(self.quantities)} conserved "
                             f"quantities: the map A must be square", key=self.keys.get("conserved_map"))
        if len(self.conserved_map) != n or any(len(row) != n for row in self.conserved_map):
            raise ModelError(f"the conserved map A must be {n} x {n}", key=self.keys.get("conserved_map"))
        if len(self.quantity_scales) != n or len(self.channel_rates) != n:
            raise ModelError(f"quantity_scales and channel_rates need {n} entries each")
        if not all(r > 0 for r in self.channel_rates):
            raise ModelError(f"channel rates must be > 0 (got {self.channel_rates})",
                             key=self.keys.get("channel_rates"))

    @property
    def size(self) -> int:
        return len(self.components)


def default_sample_states(n: int, count: int = 24, seed: int = 22) -> np.ndarray:
    """Sample entropy variables for the concavity check: 0, the axes at +-1 and +-8, and
    random points of norm up to 12 (deterministic)."""
    rng = np.random.default_rng(seed)
    states = [np.zeros(n)]
    for k in range(n):
        for a in (1.0, -1.0, 8.0, -8.0):
            e = np.zeros(n)
            e[k] = a
            states.append(e)
    random = rng.normal(size=(count, n))
    random *= (rng.uniform(0.05, 12.0, size=count) / np.linalg.norm(random, axis=1))[:, None]
    return np.vstack([np.array(states), random])


# ------------------------------------------------------------------ checks (numpy)
def check_entropy_concave(hessians: np.ndarray, states: np.ndarray, key: str | None = None) -> None:
    """Reject unless the Hessians of psi (shape (K, N, N), at the sample ``states``) are
    symmetric with no negative eigenvalue beyond round-off, and positive definite at
    Omega = 0: s is concave, strictly where its curvature is largest (theory note 1.7)."""
    hessians = np.asarray(hessians, dtype=float)
    if not np.all(np.isfinite(hessians)):
        bad = int(np.argmax(~np.all(np.isfinite(hessians.reshape(len(hessians), -1)), axis=1)))
        raise ModelError(f"the entropy's Hessian is not finite at Omega = {states[bad].tolist()}",
                         key=key)
    asym = np.abs(hessians - np.swapaxes(hessians, 1, 2)).max(axis=(1, 2))
    size = np.abs(hessians).max(axis=(1, 2))
    if np.any(asym > 1e-8 * np.maximum(size, 1e-300)):
        raise ModelError("the Hessian of psi is not symmetric (is psi a scalar of Omega?)", key=key)
    eig = np.linalg.eigvalsh(0.5 * (hessians + np.swapaxes(hessians, 1, 2)))
    scale = np.maximum(np.abs(eig[:, -1]), 1e-300)
    # negative curvature beyond round-off anywhere; a flat direction where the curvature is
    # largest (Omega = 0, infinite spin temperature). At large |Omega| the curvature of a
    # bounded state space decays exponentially (sech^2 w): small there is not a defect.
    origin = np.all(np.asarray(states) == 0, axis=1)
    bad = (eig[:, 0] < -NEGATIVE_RELATIVE * scale) | (origin & (eig[:, 0] <= SINGULAR_RELATIVE * scale))
    if np.any(bad):
        k = int(np.argmax(bad))
        raise ModelError(
            f"the entropy is not strictly concave: the Hessian of its Legendre dual psi has "
            f"eigenvalues {np.array2string(eig[k], precision=3)} at Omega = "
            f"{np.array2string(np.asarray(states[k]), precision=3)} (must be > 0; the covariance "
            f"C = -Hess psi must be negative definite)", key=key)


def check_conserved_map(A_nodal: np.ndarray, key: str | None = None, where: np.ndarray | None = None
                        ) -> None:
    """Reject a conserved map A that is singular at a node: ``A_nodal`` (n, N, N);
    |det A| against Hadamard's bound (the product of the row norms) (theory note 1.7)."""
    A_nodal = np.asarray(A_nodal, dtype=float)
    if A_nodal.size == 0:
        return
    if not np.all(np.isfinite(A_nodal)):
        raise ModelError("the conserved map A is not finite at some node", key=key)
    det = np.abs(np.linalg.det(A_nodal))
    bound = np.prod(np.linalg.norm(A_nodal, axis=2), axis=1)
    ratio = det / np.maximum(bound, 1e-300)
    i = int(np.argmin(ratio))
    if ratio[i] <= SINGULAR_RELATIVE:
        at = "" if where is None else f" at x = {np.array2string(where[i], precision=4)}"
        raise ModelError(f"the conserved map A is singular{at}: |det A| = {det[i]:.3g} against "
                         f"the product of its row norms {bound[i]:.3g}; the conserved densities "
                         f"must determine the state (rows of A independent)", key=key)


# ------------------------------------------------------------------ nodal evaluation
def conserved_map_nodal(system: OnsagerSystem, V0) -> np.ndarray:
    """A at every local node of the scalar P1 space V0: (n_local, N, N)."""
    import numbers

    import dolfinx.fem as fem

    n = system.size
    f = fem.Function(V0)
    nodal = np.empty((len(f.x.array), n, n))
    for r, row in enumerate(system.conserved_map):
        for c, a in enumerate(row):
            if isinstance(a, numbers.Real):
                nodal[:, r, c] = float(a)
            else:
                f.interpolate(fem.Expression(a, V0.element.interpolation_points()))
                nodal[:, r, c] = f.x.array
    return nodal


class NodalEvaluator:
    """Values of UFL expressions of a P1 Function at its nodes (exact: P1 nodal values),
    by interpolation of a dolfinx Expression into a P1 space."""

    def __init__(self, source, expression, space):
        import dolfinx.fem as fem

        self.source = source
        self.out = fem.Function(space)
        self.expression = fem.Expression(expression, space.element.interpolation_points())

    def __call__(self, values: np.ndarray | None = None) -> np.ndarray:
        """The expression at every local node (owned and ghost) for ``values`` of the source
        (its whole local array, or the owned part; None: the source as it is)."""
        if values is not None:
            saved = self.source.x.array.copy()
            n = len(values)
            self.source.x.array[:n] = values
            if n < len(saved):
                self.source.x.scatter_forward()
        self.out.interpolate(self.expression)
        result = self.out.x.array.copy()
        if values is not None:
            self.source.x.array[:] = saved
        return result


# ------------------------------------------------------------------ the derived forms
class OnsagerForms:
    """The UFL of a system for the unknown Omega (P1, N components): density, covariance,
    entropy, generalised gradient, fluxes and the residual (theory note 1.1-1.3)."""

    def __init__(self, system: OnsagerSystem, mesh):
        import ufl

        self.system, self.mesh = system, mesh
        n = system.size
        self.A = ufl.as_matrix([[ufl.as_ufl(a) for a in row] for row in system.conserved_map])
        if n > 3:
            raise ModelError(f"the framework inverts A symbolically, which UFL does for N <= 3 "
                             f"(got N = {n})", key=system.keys.get("conserved_map"))
        self.A_inverse = ufl.inv(self.A)
        dA = ufl.grad(self.A)                                 # (N, N, d)
        i, k, l, b = ufl.indices(4)
        #: connection N_b = A^-1 d_b A, as a tensor (m, k, b)
        self.connection = ufl.as_tensor(self.A_inverse[i, l] * dA[l, k, b], (i, k, b))
        self.sigma = [float(np.sqrt(r)) for r in system.channel_rates]

    # ---- thermodynamics
    def massieu(self, omega):
        return self.system.massieu(omega)

    def density(self, omega):
        """rho = -d psi/d Omega."""
        import ufl

        w = ufl.variable(omega)
        return -ufl.diff(self.system.massieu(w), w)

    def covariance(self, omega):
        """C = d rho/d Omega = -Hess psi (negative definite)."""
        import ufl

        w = ufl.variable(omega)
        rho = -ufl.diff(self.system.massieu(w), w)
        return ufl.diff(rho, w)

    def entropy(self, omega):
        """s = psi + Omega . rho (per unit weight, k_B units)."""
        import ufl

        return self.system.massieu(omega) + ufl.dot(omega, self.density(omega))

    def hessian(self, omega):
        """Hess psi = -C."""
        return -self.covariance(omega)

    # ---- transport
    def covariant_gradient(self, v):
        """D v = grad v - N^T v: (N, d)."""
        import ufl

        m, k, b = ufl.indices(3)
        return ufl.grad(v) - ufl.as_tensor(self.connection[m, k, b] * v[m], (k, b))

    def fluxes(self, omega):
        """j (N, d): j_k = -f Gamma sum_l sigma_k sigma_l C_kl G_l."""
        import ufl

        n = self.system.size
        C = self.covariance(omega)
        G = self.covariant_gradient(omega)
        L = self.system.transport
        s = self.sigma
        K = [sum(s[k] * s[l] * C[k, l] * G[l, :] for l in range(n)) for k in range(n)]
        return ufl.as_tensor([-ufl.dot(L, K[k]) for k in range(n)])

    def residual(self, omega, capacity_old, v, weight, dt, dx_lumped, dx_flux):
        """One implicit step in the backward-Euler shape (schemes.py):
        int weight (rho - q_old).v (lumped) - dt int weight j : D v."""
        import ufl

        F = weight * ufl.inner(self.density(omega) - capacity_old, v) * dx_lumped
        F -= dt * weight * ufl.inner(self.fluxes(omega), self.covariant_gradient(v)) * dx_flux
        return F

    def entropy_production(self, omega, weight, dx_flux):
        """int weight j : D Omega (>= 0): dS/dt of the semi-discrete problem, k_B units."""
        import ufl

        return weight * ufl.inner(self.fluxes(omega), self.covariant_gradient(omega)) * dx_flux

    # ---- checks against a mesh
    def check(self, V0, sample_states: np.ndarray | None = None) -> None:
        """Reject a non-concave entropy (Hessian of psi at sample states, at every local cell:
        psi may depend on x; up to CHECK_CELLS cells per rank) and a singular A (at every
        local node)."""
        import dolfinx.fem as fem

        system, mesh = self.system, self.mesh
        n = system.size
        states = default_sample_states(n) if sample_states is None else np.asarray(sample_states)
        nodal = conserved_map_nodal(system, V0)
        owned = V0.dofmap.index_map.size_local
        error = None
        try:
            check_conserved_map(nodal[:owned], key=system.keys.get("conserved_map"),
                                where=V0.tabulate_dof_coordinates()[:owned])
        except ModelError as exc:
            error = exc
        # Hess psi at the samples, at the midpoint of every local cell
        if error is None:
            omega = fem.Constant(mesh, np.zeros(n))
            cell_mid = np.full((1, mesh.topology.dim), 1.0 / (mesh.topology.dim + 1))
            expr = fem.Expression(self.hessian(omega), cell_mid)
            local_cells = mesh.topology.index_map(mesh.topology.dim).size_local
            # psi may vary in space through its coefficients: up to CHECK_CELLS cells spread
            # over the local mesh (all of them on small meshes)
            cells = np.unique(np.linspace(0, local_cells - 1, min(local_cells, CHECK_CELLS))
                              .astype(np.int32)) if local_cells else np.zeros(0, np.int32)
            num_cells = len(cells)
            hess = []
            for state in states:
                omega.value[:] = state
                values = expr.eval(mesh, cells).reshape(num_cells, n, n)
                hess.append(values)
            hess = np.stack(hess, axis=1).reshape(-1, n, n)   # (cells * samples)
            try:
                check_entropy_concave(hess, np.tile(states, (num_cells, 1)),
                                      key=system.keys.get("entropy"))
            except ModelError as exc:
                error = exc
        # every rank raises the same error (collective decision)
        errors = mesh.comm.allgather(error)
        first = next((e for e in errors if e is not None), None)
        if first is not None:
            raise first
