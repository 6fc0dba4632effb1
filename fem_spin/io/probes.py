"""Point and line probes of distributed fields: every rank evaluates the points in its
cells, a reduction assembles the values (no mesh is gathered)."""

from __future__ import annotations

import numpy as np
from mpi4py import MPI

__all__ = ["LineProbe"]


class LineProbe:
    """``n`` equidistant points from ``start`` to ``end`` (metres)."""

    def __init__(self, mesh, start, end, n: int = 101):
        from dolfinx import geometry

        self.mesh = mesh
        self.start, self.end = np.asarray(start, float), np.asarray(end, float)
        s = np.linspace(0.0, 1.0, n)
        self.points = self.start[None, :] + s[:, None] * (self.end - self.start)[None, :]
        self.distance = s * np.linalg.norm(self.end - self.start)
        # dolfinx locates points with absolute tolerances (1e-6): on a sub-micron mesh in
        # metres that accepts cells several elements away, so locate in unit coordinates.
        from fem_spin.geometry.base import bounding_box, unit_scaled_coordinates

        lo, hi = bounding_box(mesh)
        scale = float(np.max(hi - lo)) or 1.0
        with unit_scaled_coordinates([mesh], scale):
            scaled = self.points / scale
            tree = geometry.bb_tree(mesh, mesh.topology.dim)
            candidates = geometry.compute_collisions_points(tree, scaled)
            colliding = geometry.compute_colliding_cells(mesh, candidates, scaled)
        self.local_index, self.cells = [], []
        for i in range(n):
            links = colliding.links(i)
            if len(links):
                self.local_index.append(i)
                self.cells.append(links[0])
        # A point on a partition boundary is found by several ranks: count each once.
        found = np.zeros(n, dtype=np.int32)
        found[self.local_index] = 1
        owner_rank = np.where(found, mesh.comm.rank, mesh.comm.size).astype(np.int32)
        self.owner = np.empty_like(owner_rank)
        mesh.comm.Allreduce(owner_rank, self.owner, op=MPI.MIN)

    def evaluate(self, function) -> np.ndarray:
        """Values at the probe points (NaN outside the mesh), the same on every rank."""
        n = len(self.points)
        values = np.zeros(n)
        if self.local_index:
            idx = np.asarray(self.local_index)
            vals = function.eval(self.points[idx], np.asarray(self.cells, dtype=np.int32))
            # one point comes back as a flat array of its components
            vals = np.asarray(vals).reshape(len(idx), -1)
            mine = self.owner[idx] == self.mesh.comm.rank
            values[idx[mine]] = vals[mine, 0]
        values = self.mesh.comm.allreduce(values, op=MPI.SUM)  # exactly one rank adds each
        values[self.owner == self.mesh.comm.size] = np.nan
        return values
