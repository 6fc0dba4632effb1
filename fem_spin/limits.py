"""Resource estimates from the configuration alone, and the limits a run must respect.

Before anything is meshed, :func:`estimate` predicts from a :class:`~fem_spin.config.RunConfig`

* the number of cells: exact for structured meshes (``cells = [...]``), else the integral
  of the gmsh size field, ``K_TET * int dV / h(x)^3`` with the local refinement of each
  geometry (source sphere, beam edge, tip apex, junction boxes) integrated in shells around
  it (each geometry's ``estimate_mesh()``); a mesh file is counted from its header;
* the degrees of freedom: mesh vertices times the model's unknowns per node (P1);
* the memory of the whole job (bytes): a base per MPI rank plus the larger of the two
  phases of a run, meshing (gmsh's mesh on rank 0: bytes per cell) and solving (the dolfinx
  mesh kept, bytes per cell, plus bytes per DOF: functions, PETSc matrix and
  preconditioner, Krylov vectors), constants measured by ``benchmarks/bench_memory.py``;
* the number of time steps (fixed step: t_end/dt_initial; adaptive: at least t_end/dt_max,
  and one step per source pulse) and field snapshots.

:func:`check_resources` compares them with the [limits] section
(:class:`~fem_spin.config.LimitsConfig`) and command-line overrides and raises a
:class:`~fem_spin.config.ConfigError` naming the configuration key that drives the excess,
e.g. ``geometry.mesh_size: the mesh would have about 4.2e+12 cells ...``.

The estimates err on the large side for big meshes (within a factor of about 2 of the real
mesh: ``tests/unit/test_limits.py`` meshes several geometries and compares) and may be small
for tiny ones, whose memory is the base cost anyway.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from fem_spin.config import ConfigError, RunConfig, parse_bytes

__all__ = ["MeshEstimate", "Estimate", "estimate", "estimate_mesh", "check_resources",
           "physical_memory", "default_max_memory", "tet_count", "tet_vertices", "point_graded_count",
           "axis_graded_count", "mesh_file_counts", "K_TET", "TETS_PER_VERTEX", "BASE_BYTES",
           "BYTES_PER_CELL", "BYTES_PER_CELL_KEPT", "BYTES_PER_DOF", "DEFAULT_MEMORY_FRACTION"]

# --------------------------------------------------------------------------- constants
#: gmsh tetrahedra per unit volume at element size h: K_TET / h^3 (measured: a 1 um box at
#: h = 0.1, 0.05, 0.025 um gives 4.59, 4.56, 4.51; a regular tetrahedron of edge h would
#: give 8.5). tests/unit/test_limits.py compares the estimates with real meshes.
K_TET = 4.6
#: tetrahedra per mesh vertex (about 5.6 in large gmsh meshes, 4 in small ones whose
#: vertices are mostly on the boundary: the smaller ratio errs on the side of more DOFs)
TETS_PER_VERTEX = 4.5
# Memory constants, bytes, measured by benchmarks/bench_memory.py (peak RSS of fresh
# processes; 1 um box of 19k-211k tetrahedra, nuclear_diffusion and onsager_transport, 3
# fixed steps; this machine, x86_64, dolfinx 0.9, PETSc 3.22) and rounded up. With them the
# estimate of those runs is 1.1-1.7x their measured peak (the cell estimate itself is 1.1x).
#: one MPI rank before any mesh: Python, dolfinx, PETSc, gmsh loaded (measured 137 MB) plus
#: the compiled forms and solver set-up of a run (run intercepts 154-250 MB)
BASE_BYTES = 250e6
#: per cell while meshing: gmsh's mesh on rank 0 while it hands it to dolfinx (slope of the
#: meshing peaks: 637 bytes per tetrahedron); freed before the solve
BYTES_PER_CELL = 700.0
#: per cell kept during the solve: the dolfinx mesh, tags, connectivity (slope of the RSS after
#: meshing: 140 bytes per tetrahedron)
BYTES_PER_CELL_KEPT = 150.0
#: per degree of freedom during the solve: functions, the PETSc Jacobian (~15 nonzeros per row
#: and unknown per node) and its ILU factor, Krylov vectors, assembly (slope of the memory the
#: solve adds: nuclear_diffusion 3356, onsager_transport 1583 per DOF, i.e. 3166 per node)
BYTES_PER_DOF = 3400.0
#: per quadrature point of the triplet model's crystal averages, plus 3 x 8 per diameter of the
#: error band: coordinates, weights, efficiencies, the sorted set of them (bench_models.py:
#: 29 kB per node with 5 diameters at quadrature degree 6, 132 points per node)
TRIPLET_BYTES_PER_POINT = 96.0
#: default [limits] max_memory: this fraction of the machine's physical memory
DEFAULT_MEMORY_FRACTION = 0.5


# --------------------------------------------------------------------------- results
@dataclasses.dataclass(frozen=True)
class MeshEstimate:
    """What a geometry's ``estimate_mesh()`` predicts: cells, vertices, the configuration key
    that sets the element count (e.g. ``"geometry.mesh_size"``) and whether the count is
    exact (a structured mesh) rather than estimated."""

    cells: float
    vertices: float
    key: str
    exact: bool = False


@dataclasses.dataclass(frozen=True)
class Estimate:
    """The resources a run (one variant of a sweep) needs, from its configuration alone.

    ``cells``/``vertices``/``dofs`` are for the main mesh (``mesh_known`` False: a mesh file
    whose header could not be read, then they are 0); ``memory`` is the whole job's in bytes
    (all ranks, auxiliary meshes and unit cells included); ``steps`` the fewest time steps
    the run plans (0 for stationary models), ``snapshots`` the field snapshots it writes;
    ``cells_key``/``steps_key``/``snapshots_key`` name the configuration keys that drive
    them; ``label`` is the sweep variant."""

    cells: float
    vertices: float
    dofs: float
    components: int
    memory: float
    steps: float
    snapshots: int
    ranks: int
    cells_key: str
    steps_key: str
    snapshots_key: str
    exact_cells: bool = False
    mesh_known: bool = True
    label: str = ""

    def summary(self) -> str:
        """One line: 'about 1.2e+05 cells, 2.6e+04 DOFs, 1.1 GB, 100 steps, 10 snapshots'."""
        about = "" if self.exact_cells else "about "
        return (f"{about}{self.cells:.3g} cells, {self.dofs:.3g} DOFs, {_human(self.memory)} of "
                f"memory on {self.ranks} rank(s), {self.steps:.3g} time steps, "
                f"{self.snapshots} field snapshots")


# --------------------------------------------------------------------------- machine
def physical_memory() -> int | None:
    """Physical memory of this machine in bytes (os.sysconf), or None where unknown."""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return pages * size if pages > 0 and size > 0 else None


def default_max_memory() -> float:
    """:data:`DEFAULT_MEMORY_FRACTION` of the physical memory (inf where it is unknown)."""
    total = physical_memory()
    return DEFAULT_MEMORY_FRACTION * total if total else math.inf


def _human(nbytes: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if nbytes >= scale:
            return f"{nbytes / scale:.3g} {unit}"
    return f"{nbytes / 1e3:.3g} kB"


# --------------------------------------------------------------------------- mesh helpers
def tet_count(volume: float, h: float, extents) -> float:
    """Tetrahedra of a gmsh mesh of element size ``h`` in a body of ``volume`` whose extents
    (three lengths) are ``extents``: K_TET V/h^3, each extent counted as l + h (a layer
    thinner than h still gets one element across; a box of sides l_i gives
    K_TET prod(l_i/h + 1))."""
    factor = 1.0
    for length in extents:
        factor *= 1.0 + h / length
    return K_TET * volume / h**3 * factor


def _thin_factor(h: np.ndarray, extents) -> np.ndarray:
    factor = np.ones_like(h)
    for length in extents:
        factor = factor * (1.0 + h / length)
    return factor


def _fibonacci_directions(n: int = 1000) -> np.ndarray:
    """``n`` nearly uniform unit vectors (n, 3), deterministic."""
    i = np.arange(n) + 0.5
    z = 1.0 - 2.0 * i / n
    phi = i * math.pi * (3.0 - math.sqrt(5.0))
    s = np.sqrt(1.0 - z * z)
    return np.column_stack([s * np.cos(phi), s * np.sin(phi), z])


def _radii(r_max: float, knots=(), n: int = 600) -> np.ndarray:
    """Radii 0..r_max for a trapezoid rule: uniform, log-spaced towards 0 and dense around
    each knot (where the size field has a kink)."""
    parts = [np.linspace(0.0, r_max, n), np.geomspace(r_max * 1e-9, r_max, n)]
    for k in knots:
        if 0 < k < r_max:
            parts.append(np.linspace(max(0.0, 0.9 * k), min(r_max, 1.1 * k), 100))
    return np.unique(np.concatenate(parts))


def point_graded_count(size: Callable[[np.ndarray], np.ndarray], center, inside, r_max: float,
                       extents, r_inside: float = 0.0, knots=()) -> tuple[float, float]:
    """K_TET * int dV (1 + h/l_i products) / h^3 over a body, for a size field ``size(r)``
    of the distance r from ``center`` (m): integrated over spherical shells, the shell area
    inside the body sampled with fixed directions (``inside(points (n, 3)) -> bool``; shells
    of radius <= ``r_inside`` lie entirely inside). Returns (count, count within the first
    knot radius) so that a caller can tell which region dominates."""
    r = _radii(r_max, knots)
    fraction = np.ones_like(r)
    outer = r > r_inside
    if np.any(outer):
        dirs = _fibonacci_directions()
        c = np.asarray(center, float)
        rows = np.flatnonzero(outer)
        for start in range(0, len(rows), 200):
            block = rows[start:start + 200]
            pts = c + r[block, None, None] * dirs[None, :, :]
            fraction[block] = inside(pts.reshape(-1, 3)).reshape(len(block), -1).mean(axis=1)
    h = np.asarray(size(r), float)
    density = K_TET * 4.0 * math.pi * r**2 * fraction / h**3 * _thin_factor(h, extents)
    total = float(np.trapezoid(density, r))
    first = knots[0] if knots else 0.0
    near = float(np.trapezoid(np.where(r <= first, density, 0.0), r)) if first > 0 else 0.0
    return total, near


def axis_graded_count(size: Callable[[np.ndarray], np.ndarray], point, direction, normals,
                      offsets, rho_max: float, extents, knots=()) -> float:
    """K_TET * int dV (...)/h^3 over the convex polyhedron {x : normals @ x <= offsets} for
    a size field ``size(rho)`` of the distance rho from the axis through ``point`` along
    ``direction``: integrated over coaxial cylinders, the length of each cylinder's lines
    inside the polyhedron computed exactly (chords) at fixed angles."""
    u = np.asarray(direction, float)
    u = u / np.linalg.norm(u)
    e1 = np.cross(u, [1.0, 0.0, 0.0] if abs(u[0]) < 0.9 else [0.0, 1.0, 0.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(u, e1)
    a = np.asarray(point, float)
    N, o = np.asarray(normals, float), np.asarray(offsets, float)
    rho = _radii(rho_max, knots)
    phi = np.linspace(0.0, 2.0 * math.pi, 128, endpoint=False)
    offs = (np.cos(phi)[:, None] * e1 + np.sin(phi)[:, None] * e2)            # (m, 3)
    along = N @ u                                                             # (faces,)
    # line x = a + rho*off + t u: constraints along_i t <= o_i - n_i.(a + rho off)
    base = o - N @ a                                                          # (faces,)
    reach = offs @ N.T                                                        # (m, faces)
    rhs = base[None, None, :] - rho[:, None, None] * reach[None, :, :]        # (r, m, faces)
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = rhs / along
    upper = np.where(along > 1e-12, bound, np.inf).min(axis=2)
    lower = np.where(along < -1e-12, bound, -np.inf).max(axis=2)
    parallel_ok = np.where(np.abs(along) <= 1e-12, rhs >= 0, True).all(axis=2)
    chord = np.where(parallel_ok, np.clip(upper - lower, 0.0, None), 0.0)
    chord = np.where(np.isfinite(chord), chord, 0.0)
    area = rho * chord.mean(axis=1) * 2.0 * math.pi
    h = np.asarray(size(rho), float)
    density = K_TET * area / h**3 * _thin_factor(h, extents)
    return float(np.trapezoid(density, rho))


def mesh_file_counts(path: str | Path) -> tuple[float, float] | None:
    """(cells, vertices) of a mesh file from its header, reading at most a few MB: an XDMF
    file's Topology/Geometry dimensions, or a gmsh .msh file's node count (cells estimated
    as TETS_PER_VERTEX + 1 per node, the tetrahedra of a large mesh); None if unreadable."""
    path = Path(path)
    try:
        if path.suffix == ".xdmf":
            text = path.read_bytes()[:4_000_000].decode("utf-8", "replace")
            cells = re.search(r"<Topology[^>]*NumberOfElements=\"(\d+)\"", text)
            nodes = re.search(r"<Geometry[^>]*>\s*<DataItem[^>]*Dimensions=\"(\d+)", text)
            if cells and nodes:
                return float(cells.group(1)), float(nodes.group(1))
            return None
        return _msh_counts(path)
    except (OSError, ValueError):
        return None


def _msh_counts(path: Path) -> tuple[float, float] | None:
    binary, version, size_t = False, 4.1, 8
    with open(path, "rb") as f:
        read = 0
        while read < 8_000_000:
            line = f.readline()
            if not line:
                return None
            read += len(line)
            tag = line.strip()
            if tag == b"$MeshFormat":
                fields = f.readline().split()
                version, binary, size_t = float(fields[0]), fields[1] == b"1", int(fields[2])
            elif tag == b"$Nodes":
                if binary and version >= 4:
                    header = f.read(4 * size_t)
                    nodes = int.from_bytes(header[size_t:2 * size_t], sys.byteorder)
                else:
                    fields = f.readline().split()
                    nodes = int(fields[1] if version >= 4 else fields[0])
                return (TETS_PER_VERTEX + 1.0) * nodes, float(nodes)
    return None


def estimate_mesh(geometry) -> MeshEstimate | None:
    """The geometry's own estimate (``Geometry.estimate_mesh()``: a mesh file's from its
    header); None if unknown."""
    return geometry.estimate_mesh()


def tet_vertices(cells: float) -> float:
    return cells / TETS_PER_VERTEX


# --------------------------------------------------------------------------- the run
def _model_type(model) -> str:
    from fem_spin.config import _MODELS

    for name, cls in _MODELS.items():
        if cls is type(model):
            return name
    return type(model).__name__


def _phases(cells: float, dofs: float) -> tuple[float, float]:
    """(meshing, solving) memory beyond the base of a mesh of ``cells`` and ``dofs``."""
    return BYTES_PER_CELL * cells, BYTES_PER_CELL_KEPT * cells + BYTES_PER_DOF * dofs


def _steps(config: RunConfig) -> tuple[float, str]:
    """(fewest time steps the run plans, the key that sets them)."""
    t = config.time
    if t is None:
        return 0.0, "time"
    model = config.model
    candidates = []
    if not t.adaptive:
        candidates.append((t.t_end / t.dt_initial, "time.dt_initial"))
    else:
        if math.isfinite(t.dt_max):
            candidates.append((t.t_end / t.dt_max, "time.dt_max"))
        # the step grows by at most growth_max per step from dt_initial (not at all for 1)
        ratio = max(t.t_end / t.dt_initial, 1.0)
        growth = math.log(ratio) / math.log(t.growth_max) if t.growth_max > 1.0 else ratio
        candidates.append((growth, "time.dt_initial"))
    forced = model.forced_steps(t)
    if forced > 0:
        candidates.append((forced, "time.t_end"))
    steps, key = max(candidates)
    return (float(math.ceil(steps * (1.0 - 1e-12))) if math.isfinite(steps) else math.inf), key


def _snapshots(config: RunConfig) -> tuple[int, str]:
    """(field snapshots the run writes, the key that sets them): t = 0, the times before t_end
    and t_end (simulation.output_times)."""
    out = config.output
    if config.time is None:
        return 0, "output.field_snapshots"
    if out.snapshot_times:
        return len({t for t in out.snapshot_times if t < config.time.t_end}) + 2, "output.snapshot_times"
    return max(out.field_snapshots, 1) + 1, "output.field_snapshots"


def _triplet_solve(config: RunConfig, mesh: MeshEstimate, ranks: int, cell: Estimate | None) -> float:
    """The solve phase of the triplet model beyond the base: the tabulated mode solves nothing
    on the crystal (the crystal quadrature, the nodal basis of the table and the unit-cell runs,
    ``cell``, one at a time per rank), the coupled mode nuclear diffusion on it plus the unit
    cells."""
    model = config.model
    cells_run = ranks * (cell.memory - BASE_BYTES) if cell is not None else 0.0
    if model.coupling == "coupled":
        return _phases(mesh.cells, mesh.vertices)[1] + cells_run
    import basix

    points = len(basix.make_quadrature(basix.CellType.tetrahedron, model.quadrature_degree)[1])
    diameters = model.band_points if model.band_diameters else 0
    quadrature = mesh.cells * points * (TRIPLET_BYTES_PER_POINT + 24.0 * diameters)
    nodal = mesh.vertices * 8.0 * (model.table_max_points + 8)
    return BYTES_PER_CELL_KEPT * mesh.cells + quadrature + nodal + cells_run


def _air_domain(config: RunConfig) -> tuple[float, float]:
    """(meshing, solving) memory of the FEM tip field of onsager_transport: the air-domain
    mesh and its potential of degree tip_field_degree (solved before the transport)."""
    model, geometry = config.model, config.geometry
    if model.field != "fem_tip" or not geometry.has_tip:
        return 0.0, 0.0
    air = geometry.estimate_air_domain()
    edges = 1.2 * air.cells      # tetrahedral meshes: about 1.2 edges per cell
    dofs = {1: air.vertices, 2: air.vertices + edges,
            3: air.vertices + 2 * edges + 2 * air.cells}[model.tip_field_degree]
    return _phases(air.cells, dofs)


def estimate(config: RunConfig, ranks: int = 1, label: str = "") -> Estimate:
    """The resources of one run (not its sweep: see :func:`check_resources`) on ``ranks``
    MPI ranks, from the configuration alone."""
    mesh = estimate_mesh(config.geometry)
    known = mesh is not None
    if mesh is None:
        mesh = MeshEstimate(0.0, 0.0, "geometry.path")
    components = config.model.unknowns_per_node()
    dofs = mesh.vertices * components
    meshing, solving = _phases(mesh.cells, dofs)
    kind = _model_type(config.model)
    steps, steps_key = _steps(config)
    if kind == "triplet_dnp":
        unit_cell = config.model.cell_config
        cell = estimate(unit_cell, ranks=1) if unit_cell is not None else None
        solving = _triplet_solve(config, mesh, ranks, cell)
        if cell is not None and cell.steps > steps:      # every unit-cell run steps to t_end
            steps, steps_key = cell.steps, cell.steps_key
    elif kind == "onsager_transport":
        air_meshing, air_solving = _air_domain(config)
        meshing = max(meshing, air_meshing)
        solving += air_solving
    # the phases follow each other: gmsh's memory is freed before the solve (measured)
    memory = ranks * BASE_BYTES + max(meshing, solving)
    snapshots, snapshots_key = _snapshots(config)
    return Estimate(cells=mesh.cells, vertices=mesh.vertices, dofs=dofs, components=components,
                    memory=memory, steps=steps, snapshots=snapshots, ranks=ranks,
                    cells_key=mesh.key, steps_key=steps_key, snapshots_key=snapshots_key,
                    exact_cells=mesh.exact, mesh_known=known, label=label)


def _default_ranks() -> int:
    mpi = sys.modules.get("mpi4py.MPI")
    return mpi.COMM_WORLD.size if mpi is not None else 1


def check_resources(config: RunConfig, *, max_dofs: int | None = None,
                    max_memory: float | str | None = None, force: bool = False,
                    ranks: int | None = None) -> Estimate:
    """Estimate the resources of every variant of ``config`` and refuse (ConfigError naming
    the configuration key, the estimate, the limit and how to override it) a run beyond its
    limits: ``max_dofs`` and ``max_memory`` (bytes, or a string such as "8 GB") from the
    command line, else [limits] max_dofs / max_memory (default: half the machine's physical
    memory); [limits] max_steps and max_snapshots. ``force`` refuses nothing. ``ranks``:
    the MPI ranks of the run (default: the size of MPI.COMM_WORLD once mpi4py is loaded,
    else 1). Returns the estimate of the variant needing the most memory."""
    limits = config.limits
    if max_dofs is not None and not (isinstance(max_dofs, (int, float)) and max_dofs > 0):
        raise ConfigError("--max-dofs", f"must be a number > 0 (got {max_dofs!r})", file="command line")
    if max_dofs is not None:
        dof_limit, dof_source = max_dofs, "--max-dofs"
    else:
        dof_limit, dof_source = limits.max_dofs, "[limits] max_dofs"
    try:
        if max_memory is not None:
            memory_limit, memory_source = parse_bytes(max_memory), "--max-memory"
        elif limits.max_memory is not None:
            memory_limit, memory_source = limits.max_memory, "[limits] max_memory"
        else:
            memory_limit = default_max_memory()
            memory_source = f"{DEFAULT_MEMORY_FRACTION:.0%} of the machine's memory"
    except ValueError as exc:
        raise ConfigError("--max-memory", str(exc), file="command line") from None
    ranks = ranks or _default_ranks()
    worst = None
    for label, variant in config.variants():
        est = estimate(variant, ranks=ranks, label=label)
        if not force:
            try:
                _refuse(est, dof_limit, dof_source, memory_limit, memory_source, limits)
            except ConfigError as exc:
                exc.file = config.source
                raise
        if worst is None or est.memory > worst.memory:
            worst = est
    return worst


def _refuse(est: Estimate, dof_limit, dof_source: str, memory_limit: float, memory_source: str,
            limits) -> None:
    where = f"(sweep variant {est.label}) " if est.label else ""
    about = "" if est.exact_cells else "about "
    mesh = (f"the mesh would have {about}{est.cells:.2g} cells and {est.dofs:.2g} degrees of "
            f"freedom ({est.components} unknown(s) per node)")
    if dof_limit is not None and est.dofs > dof_limit:
        raise ConfigError(est.cells_key, f"{where}{mesh}; limit {dof_limit:.2g} DOFs "
                                         f"({dof_source}); raise [limits] max_dofs or pass "
                                         f"--max-dofs or --force")
    if est.memory > memory_limit:
        raise ConfigError(est.cells_key, f"{where}{mesh} (about {est.memory:.2g} bytes = "
                                         f"{_human(est.memory)} of memory on {est.ranks} rank(s); "
                                         f"limit {memory_limit:.2g} bytes = {memory_source}); "
                                         f"raise [limits] max_memory or pass --max-memory or --force")
    if est.steps > limits.max_steps:
        raise ConfigError(est.steps_key, f"{where}the run would take at least {est.steps:.3g} time "
                                         f"steps (limit {limits.max_steps:.3g}, [limits] max_steps); "
                                         f"{_steps_advice(est.steps_key)}, raise [limits] max_steps "
                                         f"or pass --force")
    if est.snapshots > limits.max_snapshots:
        raise ConfigError(est.snapshots_key, f"{where}{est.snapshots} field snapshots (limit "
                                             f"{limits.max_snapshots}, [limits] max_snapshots); "
                                             f"write fewer, raise [limits] max_snapshots or pass "
                                             f"--force")


def _steps_advice(key: str) -> str:
    return {"time.dt_initial": "use adaptive steps or a larger time.dt_initial",
            "time.dt_max": "raise time.dt_max",
            "time.t_end": "shorten time.t_end or use source = 'cycle_averaged'"}.get(key, "shorten the run")
