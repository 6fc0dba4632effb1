r"""Triplet DNP in a laser-illuminated crystal: the multiscale model (physics.md 1.3).

A pulsed laser (diameter d, top-hat or Gaussian, Beer--Lambert attenuation) excites
pentacene triplets; where a guest is excited, the integrated solid effect moves its
electron polarization P_e into the surrounding nuclei, which then spread it by spin
diffusion.  At the scale of the crystal (mm) nuclear spin diffusion is negligible
(:math:`\sqrt{D_0 t}\sim 0.1\,\mu m` in an hour), so every macroscopic point x behaves
as one DNP unit cell (physics.md 1.2) whose source efficiency is its local
excitation probability :math:`e(x)\in[0,1]` (:mod:`fem_spin.optics`): the cell's
exchange probability per pulse (pulsed and cycle-averaged sources) or its exchange
rate (continuous source) is multiplied by e(x); cells with e = 0 have no source.

``coupling = "tabulated"`` (default).  The unit cell (any dnp_* geometry with the
``nuclear_diffusion`` model) is solved for a set of efficiencies :math:`e_k`, giving
the cell averages :math:`\bar P(e_k, t)`; in between, a cubic interpolating spline in
e (linear in the data) gives

.. math::

    P(x, t) = \sum_k L_k(e(x))\, \bar P(e_k, t),

with :math:`L_k` the cardinal splines of the nodes.  The problem is evaluated, not stepped
(:class:`~fem_spin.models.base.SampledProblem`): the engine sets it to each time at which
the unit-cell curves were sampled (``Engine.run_sampled``), and each unit cell is one
:func:`fem_spin.simulate` run whose output times are those times.  The nodes are refined by
bisection until the spline predicts every new midpoint run to ``table_tolerance``
(absolute polarization, max over time; the midpoints then join the table, so the
final table is more accurate than the reported estimate).  The NMR signal is the
crystal average

.. math::

    \langle P\rangle(t) = \frac1V\int_\text{crystal} P\,dV = \sum_k c_k\,\bar P(e_k,t),
    \qquad c_k = \frac1V\int_\text{crystal} L_k(e(x))\,dV ,

a weighted average of unit-cell curves whose weights are integrated with a
high-degree quadrature of the exact e(x) on the mesh.  A top-hat edge inside a cell is
integrated to O(h/d) only: the mesh is refined across the nominal beam edge (there the
error is the polygon deficit, ~(h_edge/d)^2), and ``band_refinement`` of the crystal
geometry refines the whole annulus of the band.  Because e(x) and not the mesh carries
the beam, the same table gives the average for any beam diameter: ``band_diameters`` yields the
band of :math:`\langle P\rangle(t)` over the uncertain diameter, the paper's error
band (Fig. 2).  With ``compare_uncorrected`` the table is also built with the
uncorrected D0 (speedup = "none"), for the corrected-vs-uncorrected comparison.

``coupling = "coupled"`` (small samples: micro-crystals, thin films, nano-particles).
Macroscopic spin diffusion of the cell-averaged polarization on the crystal mesh,

.. math::

    \partial_t P = \nabla\cdot(D_0 f\nabla P) + k_\text{eff}(e(x))\,(P_e - P)
        - \langle R_1\rangle (P - P_{eq}),

solved by :class:`~fem_spin.models.nuclear_diffusion.NuclearDiffusionProblem`.  The unit
cell is homogenised to one exchange rate per efficiency, measured on the cell without
relaxation (:math:`k_\text{eff} = 1/t_{63}`, or :math:`-\ln(1-f)/t_f` at the largest
level f it reaches) at efficiencies uniform in sqrt(e) and interpolated; the cell is
diffusion-limited, so k_eff(e) is far from proportional to e.  :math:`\langle R_1\rangle`
is the cell average of R1 (bulk plus the PRE C/r^6), and f is the local speed-up
1/sqrt(1 - P^2) when the cell uses a speed-up, because the macroscopic P is the cell
average.  The homogenised source reproduces the cell's buildup time at every e but not
the shape of its (non-exponential) curve: use it where transport between regions
matters, the tabulated mode where it does not.

Dark cells (e = 0) keep their initial polarization and relax towards P_eq with the
cell's R1 (measured under laser light in the naphthalene example).  With the linear
excitation law, the excitation at a point does not depend on the beam diameter (a
saturated transition); at fixed pulse energy a wider beam means less fluence: use the
saturating law for error bands at fixed pulse energy.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from pathlib import Path
from typing import Literal

import numpy as np
from mpi4py import MPI

from fem_spin.config import (ConfigError, RunConfig, derived, in_range, param, parse_config, positive,
                             register_model, warn)
from fem_spin.contracts import ModelConfig, ResolveContext
from fem_spin.errors import ModelError
from fem_spin.models.base import SampledProblem
from fem_spin.optics import OpticsConfig

__all__ = ["TripletDNPConfig", "TripletDNPProblem", "CoupledTripletDNPProblem", "UnitCellTable",
           "crystal_quadrature"]

_CELL_GEOMETRIES = ("dnp_cube", "dnp_sphere", "dnp_radial")


def _diameters_check(value) -> str | None:
    if not value:
        return None
    if len(value) != 2 or not all(v > 0 for v in value) or not value[0] < value[1]:
        return f"must be [d_min, d_max] with 0 < d_min < d_max in metres (got {value})"
    return None


# =========================================================================== quadrature
def crystal_quadrature(mesh, degree: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(points (n, 3), weights (n,), owned cell of each point) of a degree-``degree`` rule on
    the owned tetrahedra of ``mesh`` (affine cells): integrals as sums, without forms."""
    import basix

    ref_points, ref_weights = basix.make_quadrature(basix.CellType.tetrahedron, degree)
    num_cells = mesh.topology.index_map(mesh.topology.dim).size_local
    nodes = mesh.geometry.dofmap[:num_cells, :4]
    X = mesh.geometry.x[nodes]                        # (cells, 4, 3)
    J = X[:, 1:, :] - X[:, :1, :]                     # rows: edge vectors
    det = np.abs(np.linalg.det(J))
    points = X[:, :1, :] + np.einsum("qk,ckd->cqd", ref_points, J)
    weights = det[:, None] * ref_weights[None, :]
    cells = np.repeat(np.arange(num_cells, dtype=np.int32), len(ref_weights))
    return points.reshape(-1, 3), weights.ravel(), cells


def _cardinal_basis(nodes: np.ndarray):
    """Callable e -> (len(e), K) values of the cardinal interpolating splines of ``nodes``
    (cubic not-a-knot for K >= 4, else the polynomial of degree K - 1) in the variable
    sqrt(e): the cell average rises steeply at small e (like e/(e + e_c)), and is smooth in
    sqrt(e), so the table needs fewer efficiencies."""
    from scipy.interpolate import make_interp_spline

    K = len(nodes)
    if K == 1:
        return lambda e: np.ones((len(np.atleast_1d(e)), 1))
    roots = np.sqrt(nodes)
    spline = make_interp_spline(roots, np.eye(K), k=min(3, K - 1), axis=0)

    def basis(e: np.ndarray) -> np.ndarray:
        return spline(np.sqrt(np.clip(np.asarray(e, float), nodes[0], nodes[-1])))

    return basis


# =========================================================================== the table
class UnitCellTable:
    """Unit-cell buildup curves Pbar(e_k, t) on a time grid, refined in e until a cubic
    spline predicts midpoints to ``tolerance`` (see the module docstring).

    ``variants`` maps a name ("corrected", "uncorrected") to the speed-up mode of the cell.
    Runs are shared out over the ranks of ``comm`` (each one serial on COMM_SELF), so the
    table does not depend on the number of ranks."""

    def __init__(self, params: TripletDNPConfig, time, times: np.ndarray, e_max: float,
                 variants: dict[str, str | None], comm: MPI.Comm = MPI.COMM_WORLD,
                 report=None, occupied: np.ndarray | None = None, relaxation: bool = True):
        self.params, self.time_cfg, self.times = params, time, np.asarray(times, float)
        self.variants, self.comm = variants, comm
        self.report = report or (lambda msg: None)
        self.e_max = max(float(e_max), 1e-12)
        # the efficiencies that occur in the crystal (this rank's share): an interval of the
        # table that holds none of them is never evaluated, so it needs no refinement
        self.occupied = np.sort(np.asarray(occupied, float)) if occupied is not None else None
        self.relaxation = relaxation
        self.curves: dict[float, dict[str, np.ndarray]] = {}
        self.error_estimate = 0.0      # exact where every efficiency is a node
        self.converged = False

    def _run(self, efficiency: float) -> dict[str, np.ndarray]:
        """Pbar(t) of the unit cell at ``efficiency`` at :attr:`times`, per variant: one
        serial run each through the engine (:func:`fem_spin.simulation.sample`), whose output
        times are the table times, so that its steps land on them (values there are the
        run's, not interpolated). ``sample`` records Pbar alone: :func:`fem_spin.simulate`
        would also evaluate the probe profile at each of the ~160 table times, 1.6x the cost
        of a cell (measured)."""
        from fem_spin.simulation import sample

        out = {}
        for name, speedup in self.variants.items():
            raw = self.params.cell_raw(self.time_cfg, efficiency, speedup, self.relaxation)
            out[name] = sample(raw, self.times[1:], lambda p: p.mean_polarization(), comm=MPI.COMM_SELF)
            out[name] = np.concatenate([[self._initial(raw)], out[name]])
        return out

    @staticmethod
    def _initial(raw: dict) -> float:
        return float(raw["model"].get("initial_polarization", 0.0))

    def _is_occupied(self, a: float, b: float) -> bool:
        """Whether any point of the crystal (on any rank) has an efficiency strictly inside (a, b)."""
        if self.occupied is None:
            return True
        i = np.searchsorted(self.occupied, a, side="right")
        local = bool(i < len(self.occupied) and self.occupied[i] < b)
        return self.comm.allreduce(local, op=MPI.LOR)

    def compute(self, efficiencies) -> None:
        """Run the unit cell at the new ``efficiencies`` (shared out over the ranks)."""
        from fem_spin.solvers import SimulationFailed

        todo = [e for e in efficiencies if e not in self.curves]
        mine, failed = {}, []
        for e in todo[self.comm.rank::self.comm.size]:
            try:
                mine[e] = self._run(e)
            except Exception as exc:  # every rank must reach the allgather, then all raise
                failed.append(f"efficiency {e:.4g}: {exc}")
        for part, errors in self.comm.allgather((mine, failed)):
            self.curves.update(part)
            if errors:
                raise SimulationFailed(f"unit-cell run failed at {errors[0]}")

    @property
    def nodes(self) -> np.ndarray:
        return np.array(sorted(self.curves))

    def values(self, variant: str) -> np.ndarray:
        """(K, n_times) curves of ``variant`` at :attr:`nodes`."""
        return np.array([self.curves[e][variant] for e in self.nodes])

    def build(self) -> "UnitCellTable":
        """Efficiencies uniform in sqrt(e), then bisection (in sqrt(e)) of every interval
        that holds crystal points and whose midpoint the spline missed by more than the
        tolerance; within ``table_max_points`` the worst intervals go first."""
        p = self.params
        self.compute(list((np.linspace(0.0, 1.0, p.table_initial_points) ** 2) * self.e_max))
        # (a, b, error of the parent interval's midpoint): worst first when the budget is short
        open_intervals = [(a, b, math.inf) for a, b in zip(self.nodes[:-1], self.nodes[1:])
                          if self._is_occupied(a, b)]
        while open_intervals:
            room = p.table_max_points - len(self.curves)
            if room < len(open_intervals):
                open_intervals = sorted(open_intervals, key=lambda iv: -iv[2])[:max(room, 0)]
                if not open_intervals:
                    self.report(f"  table: stopped at {len(self.curves)} efficiencies "
                                f"(table_max_points); interpolation error estimate "
                                f"{self.error_estimate:.2e}")
                    return self
            mids = [(0.5 * (math.sqrt(a) + math.sqrt(b))) ** 2 for a, b, _ in open_intervals]
            before = {name: (self.nodes, self.values(name)) for name in self.variants}
            self.compute(mids)
            errors = []
            for mid in mids:
                err = 0.0
                for name, (nodes, values) in before.items():
                    predicted = _cardinal_basis(nodes)(np.array([mid]))[0] @ values
                    err = max(err, float(np.max(np.abs(predicted - self.curves[mid][name]))))
                errors.append(err)
            self.error_estimate = max(errors)
            self.report(f"  table: {len(self.curves)} efficiencies, midpoint error "
                        f"{self.error_estimate:.2e} (tolerance {p.table_tolerance:g})")
            open_intervals = [(lo, hi, err) for (a, b, _), mid, err in zip(open_intervals, mids, errors)
                              if err > p.table_tolerance for lo, hi in ((a, mid), (mid, b))
                              if self._is_occupied(lo, hi)]
            if len(self.curves) >= p.table_max_points and open_intervals:
                self.report(f"  table: stopped at {len(self.curves)} efficiencies (table_max_points); "
                            f"interpolation error estimate {self.error_estimate:.2e}")
                return self
        self.converged = True
        return self

    def at_time(self, variant: str, t: float) -> np.ndarray:
        """(K,) cell averages at time t (monotone cubic interpolation between sample times)."""
        from scipy.interpolate import PchipInterpolator

        values = self.values(variant)
        k = int(np.searchsorted(self.times, t))
        if k < len(self.times) and abs(self.times[k] - t) <= 1e-12 * max(1.0, t):
            return values[:, k]
        return PchipInterpolator(self.times, values, axis=1)(t)


def _values_at(series: dict[str, np.ndarray], column: str, times) -> np.ndarray:
    """``series[column]`` at the rows whose t is one of ``times`` (hit exactly by the run)."""
    t = series["t"]
    rows = []
    for tk in times:
        k = int(np.argmin(np.abs(t - tk)))
        if abs(t[k] - tk) > 1e-12 * max(1.0, tk):
            raise RuntimeError(f"the unit-cell run has no step at t = {tk:g} s")
        rows.append(k)
    return np.asarray(series[column])[rows]


# =========================================================================== tabulated problem
class TripletDNPProblem(SampledProblem):
    """The tabulated multiscale model (``coupling = "tabulated"``, module docstring).

    Constructing it with ``coupling = "coupled"`` returns a :class:`CoupledTripletDNPProblem`.
    Evaluated, not stepped (``Engine.run_sampled``): every value is a lookup in the table
    at the times its curves were sampled, so there is no time discretisation error beyond
    that of the unit-cell runs."""

    #: the nodal weights of the crystal averages ("crystal", "illuminated", "dark": None when
    #: the beam covers the whole crystal), once prepared (None before)
    weights: dict | None = None

    def __new__(cls, config, comm=None, mesh_data=None):
        if cls is TripletDNPProblem and config.model.coupling == "coupled":
            return CoupledTripletDNPProblem(config, comm, mesh_data)
        return super().__new__(cls)

    def __init__(self, config, comm=None, mesh_data=None):
        super().__init__(_resolved(config), comm or MPI.COMM_WORLD, mesh_data)
        self.beam = config.geometry.beam()
        self.halfspaces = config.geometry.halfspaces()

    @property
    def observable_names(self) -> tuple[str, ...]:
        names = ["P_crystal", "P_illuminated"]
        weights = self.weights
        if weights is None or weights["dark"] is not None:   # no P_dark when the beam covers all
            names.append("P_dark")
        names.append("P_max")
        if "uncorrected" in self.variants:
            names += ["P_crystal_uncorrected"]
        if self.params.band_diameters:
            names += ["P_band_min", "P_band_max"]
            if "uncorrected" in self.variants:
                names += ["P_band_min_uncorrected", "P_band_max_uncorrected"]
        return tuple(names)

    @property
    def variants(self) -> dict[str, str | None]:
        variants = {"corrected": None}
        if self.params.compare_uncorrected and self.params.cell_config.model.speedup != "none":
            variants["uncorrected"] = "none"
        return variants

    # ------------------------------------------------------------------ pipeline steps
    def define_function_spaces(self) -> None:
        import dolfinx.fem as fem

        self.V = fem.functionspace(self.mesh, ("Lagrange", 1))
        self.u = fem.Function(self.V, name="polarization")
        self.P_uncorrected = fem.Function(self.V, name="polarization_uncorrected")
        self.excitation = fem.Function(self.V, name="excitation_probability")

    def define_measures(self) -> None:
        super().define_measures()
        points, weights, cells = crystal_quadrature(self.mesh, self.params.quadrature_degree)
        self.q_points, self.q_weights = points, weights
        self.volume = self.global_sum(float(weights.sum()))
        groups = self.mesh_data.cell_groups
        illuminated = np.zeros(len(weights), dtype=bool)
        if "illuminated" in groups:
            num_cells = self.mesh.topology.index_map(self.mesh.topology.dim).size_local
            tagged = self.mesh_data.cell_tags.find(groups["illuminated"])
            mask = np.zeros(num_cells, dtype=bool)
            mask[tagged[tagged < num_cells]] = True
            illuminated = mask[cells]
        self.q_illuminated = illuminated

    def excitation_at(self, points: np.ndarray, diameter: float | None = None) -> np.ndarray:
        """Local excitation probability e at ``points`` (n, 3) for the beam (of ``diameter``)."""
        from fem_spin.optics import excitation_probability

        beam = self.beam if diameter is None else self.config.geometry.beam(diameter=diameter)
        return excitation_probability(points.T, beam, *self.halfspaces, self.params.optics_config)

    def band_diameters(self) -> np.ndarray:
        d = self.params.band_diameters
        return np.linspace(d[0], d[1], self.params.band_points) if d else np.zeros(0)

    def table_times(self) -> np.ndarray:
        """0, log-spaced times to t_end, and the snapshot times (all hit exactly)."""
        from fem_spin.simulation import output_times

        tc = self.config.time
        start = min(max(tc.dt_initial, tc.t_end * 1e-5), tc.t_end)
        grid = np.geomspace(start, tc.t_end, self.params.table_times)
        snaps = output_times(self.config)
        return np.unique(np.concatenate([[0.0], grid, snaps, [tc.t_end]]))

    def prepare(self) -> None:
        """The excitation, the unit-cell table and the crystal weights (initialise then
        evaluates at t = 0)."""
        from fem_spin.io import rank0_print

        self.excitation.interpolate(lambda x: self.excitation_at(x.T))
        self.excitation.x.scatter_forward()
        e_quad = self.excitation_at(self.q_points)
        e_max = self.global_max(np.concatenate([e_quad, self.owned(self.excitation.x.array)]))
        band_excitations = [self.excitation_at(self.q_points, d) for d in self.band_diameters()]
        for e in band_excitations:
            e_max = max(e_max, self.global_max(e))
        self.times = self.table_times()
        occupied = np.unique(np.concatenate([e_quad, self.owned(self.excitation.x.array),
                                             *band_excitations]))
        self.table = UnitCellTable(self.params, self.config.time, self.times, e_max, self.variants,
                                   self.comm, report=lambda m: rank0_print(m, comm=self.comm),
                                   occupied=occupied).build()
        self.basis = basis = _cardinal_basis(self.table.nodes)
        self.nodal_basis = basis(self.excitation.x.array)
        # Crystal averages are weighted sums of the cell curves: c_k = (1/V) int L_k(e) dV.
        self.weights = {"crystal": self._weights(e_quad, self.q_weights)}
        ill = self.q_illuminated
        self.illuminated_volume = self.global_sum(float(self.q_weights[ill].sum()))
        self.weights["illuminated"] = self._weights(e_quad[ill], self.q_weights[ill])
        self.weights["dark"] = self._weights(e_quad[~ill], self.q_weights[~ill])
        self.band_weights = [self._weights(e, self.q_weights) for e in band_excitations]

    def _weights(self, efficiencies: np.ndarray, weights: np.ndarray) -> np.ndarray | None:
        """(1/V) int L_k(e) dV for every table node k, summed over quadrature points in chunks
        (the full points x nodes matrix would not fit in memory on large meshes)."""
        local = np.zeros(len(self.table.nodes))
        chunk = 100_000
        for i in range(0, len(weights), chunk):
            local += weights[i:i + chunk] @ self.basis(efficiencies[i:i + chunk])
        total = np.zeros_like(local)
        self.comm.Allreduce(np.ascontiguousarray(local), total, op=MPI.SUM)
        volume = self.global_sum(float(weights.sum()))
        return total / volume if volume > 0 else None

    # ------------------------------------------------------------------ evaluation
    def sample_times(self) -> np.ndarray:
        """The table times (0, log-spaced ones, the snapshot times, t_end)."""
        return self.times

    def evaluate(self, t: float) -> None:
        """The fields and cell values at time t: a lookup in the table (monotone cubic
        interpolation in t between its times, as at_time)."""
        self.t_now = t
        self.cell_values = {name: self.table.at_time(name, t) for name in self.variants}
        self.u.x.array[:] = self.nodal_basis @ self.cell_values["corrected"]
        if "uncorrected" in self.cell_values:
            self.P_uncorrected.x.array[:] = self.nodal_basis @ self.cell_values["uncorrected"]

    # ------------------------------------------------------------------ observables
    def crystal_average(self, variant: str = "corrected", region: str = "crystal") -> float:
        """Volume average of P over the crystal (the NMR signal), or over the illuminated or
        dark part; NaN for an empty region."""
        w = self.weights[region]
        return float(w @ self.cell_values[variant]) if w is not None else math.nan

    def band(self, variant: str = "corrected") -> np.ndarray:
        """Crystal average for each diameter of the error band."""
        return np.array([w @ self.cell_values[variant] for w in self.band_weights])

    def observables(self) -> dict[str, float]:
        values = {"P_crystal": self.crystal_average(),
                  "P_illuminated": self.crystal_average(region="illuminated"),
                  "P_dark": self.crystal_average(region="dark"),
                  "P_max": self.global_max(self.owned(self.u.x.array))}
        if "uncorrected" in self.variants:
            values["P_crystal_uncorrected"] = self.crystal_average("uncorrected")
        if self.params.band_diameters:
            for name, suffix in (("corrected", ""), ("uncorrected", "_uncorrected")):
                if name in self.variants:
                    band = self.band(name)
                    values[f"P_band_min{suffix}"] = float(band.min())
                    values[f"P_band_max{suffix}"] = float(band.max())
        return {k: values[k] for k in self.observable_names}

    def output_functions(self) -> list:
        out = [self.u, self.excitation]
        if "uncorrected" in self.variants:
            out.insert(1, self.P_uncorrected)
        return out

    def profile_probe(self):
        """P along the beam axis inside the crystal (depth profile, profiles.csv)."""
        from fem_spin.io import LineProbe
        from fem_spin.optics import axis_segment

        entry, exit_ = axis_segment(self.beam, *self.halfspaces)
        return LineProbe(self.mesh, entry, exit_, 101), self.u

    def analyse(self, series: dict[str, np.ndarray]) -> dict:
        from fem_spin.analysis import buildup_summary

        # The crystal average saturates far below P_e (dark volume, relaxation): buildup
        # times are quoted, as in NMR, relative to the value reached at t_end.
        out = {"table": {"efficiencies": [float(e) for e in self.table.nodes],
                         "interpolation_error_estimate": self.table.error_estimate,
                         "converged": self.table.converged,
                         "tolerance": self.params.table_tolerance},
               "crystal_volume_m3": self.volume, "illuminated_volume_m3": self.illuminated_volume,
               "buildup": buildup_summary(series["t"], series["P_crystal"], series["P_crystal"][-1])}
        if "P_crystal_uncorrected" in series:
            from fem_spin.analysis import time_to_fraction

            curve = series["P_crystal_uncorrected"]
            out["buildup_uncorrected"] = buildup_summary(series["t"], curve, curve[-1])
            # the speed-up at one absolute level: 63 % of the uncorrected final average
            level = float(curve[-1])
            out["time_to_63pct_of_uncorrected_final_s"] = {
                "corrected": time_to_fraction(series["t"], series["P_crystal"], level),
                "uncorrected": time_to_fraction(series["t"], curve, level)}
        return out

    def write_extra_outputs(self, directory, times) -> None:
        """unit_cell_table.csv (the curves behind every value) and, with a band, band.csv
        and buildup_band.png (rank 0)."""
        if self.comm.rank != 0:
            return
        from pathlib import Path

        directory = Path(directory)
        header = ["t"] + [f"{name}_e={e:.6g}" for name in self.variants for e in self.table.nodes]
        columns = [self.times] + [self.table.values(name)[k] for name in self.variants
                                  for k in range(len(self.table.nodes))]
        np.savetxt(directory / "unit_cell_table.csv", np.column_stack(columns), delimiter=",",
                   header=",".join(header), comments="", fmt="%.10g")
        if self.params.band_diameters:
            rows, head = [self.times], ["t"]
            for name in self.variants:
                values = self.table.values(name)
                for d, w in zip(self.band_diameters(), self.band_weights):
                    rows.append(w @ values)
                    head.append(f"{name}_d={d:.6g}")
            np.savetxt(directory / "band.csv", np.column_stack(rows), delimiter=",", header=",".join(head),
                       comments="", fmt="%.10g")
            from fem_spin.viz.crystal import plot_buildup_band

            plot_buildup_band(directory / "band.csv", directory / "buildup_band.png",
                              title=self.config.name)

    #: (column, axis label) pairs plotted against time


# =========================================================================== coupled problem
def _nuclear_diffusion_problem():
    from fem_spin.models.nuclear_diffusion import NuclearDiffusionProblem

    return NuclearDiffusionProblem


class CoupledTripletDNPProblem(_nuclear_diffusion_problem()):
    """Macroscopic spin diffusion in the crystal with the homogenised source
    k_eff(e(x)) (P_e - P) (``coupling = "coupled"``, module docstring)."""


    def __init__(self, config, comm=None, mesh_data=None):
        comm = comm or MPI.COMM_WORLD
        config = _resolved(config)
        triplet = config.model
        cell = triplet.cell_config.model
        self.triplet = triplet
        self.rate_table = self._cell_rates(config, triplet, comm)
        self.effective_exchange_rate = float(self.rate_table[1][-1])      # k_eff(e = 1)
        R1 = self._cell_average_relaxation(triplet.cell_config)
        macro = dataclasses.replace(
            cell, source="continuous", exchange_rate=self.effective_exchange_rate,
            exchange_probability=1.0, source_regions=["illuminated", "dark"], R1=R1,
            speedup="local" if cell.speedup != "none" else "none", pre_coefficient=0.0,
            region_shape="none", barrier_diffusion_factor=0.0)
        super().__init__(dataclasses.replace(config, model=macro), comm, mesh_data)
        self.beam = config.geometry.beam()
        self.halfspaces = config.geometry.halfspaces()

    #: efficiencies at which k_eff(e) is measured on the unit cell (uniform in sqrt(e))
    RATE_NODES = np.linspace(0.0, 1.0, 9)[1:] ** 2

    @classmethod
    def _cell_rates(cls, config, triplet, comm) -> tuple[np.ndarray, np.ndarray]:
        """(e_k, k_eff(e_k)): the exchange rate of the homogenised source, from the unit cell
        without relaxation, k_eff = -ln(1 - f)/t_f at the largest level f <= 63 % of P_e it
        reaches (1/t63 for a cell that gets there). The cell is diffusion-limited, so k_eff
        is far from proportional to e; with ``effective_exchange_rate`` given, k = that * e."""
        from fem_spin.analysis import time_to_fraction

        if triplet.effective_exchange_rate is not None:
            return np.array([0.0, 1.0]), np.array([0.0, triplet.effective_exchange_rate])
        tc = config.time
        times = np.concatenate([[0.0], np.geomspace(min(tc.dt_initial, tc.t_end * 1e-5), tc.t_end, 200)])
        table = UnitCellTable(triplet, tc, times, 1.0, {"corrected": None}, comm, relaxation=False)
        table.compute(list(cls.RATE_NODES))
        P_e = triplet.cell_config.model.source_polarization
        rates = []
        for e in cls.RATE_NODES:
            curve = table.curves[e]["corrected"]
            level = min(1.0 - math.exp(-1.0), 0.9 * float(curve[-1]) / P_e)
            t_level = time_to_fraction(times, curve, P_e, level) if level > 0 else math.nan
            if not (math.isfinite(t_level) and t_level > 0):
                raise ModelError(f"the unit cell at efficiency {e:.3g} builds up no polarization by "
                                 f"t_end: k_eff cannot be derived; give model.effective_exchange_rate "
                                 f"or a longer t_end", key="time.t_end")
            rates.append(-math.log(1.0 - level) / t_level)
        return np.concatenate([[0.0], cls.RATE_NODES]), np.concatenate([[0.0], rates])

    @staticmethod
    def _cell_average_relaxation(cell_config) -> float:
        """The unit cell's volume-averaged R1 (bulk plus its PRE C/r^6): the macroscopic rate."""
        from fem_spin.models.nuclear_diffusion import NuclearDiffusionProblem

        p = cell_config.model
        if p.pre_coefficient == 0:
            return p.R1
        cell = NuclearDiffusionProblem(cell_config, MPI.COMM_SELF).initialise()
        rate = cell.relaxation_rate.x.array[:len(cell.nodal_mass)]
        average = cell.statistics.mean(rate)
        cell.destroy()
        return average

    def rate_at(self, e: np.ndarray) -> np.ndarray:
        """k_eff(e), monotone interpolation in sqrt(e) of the measured rates."""
        from scipy.interpolate import PchipInterpolator

        nodes, rates = self.rate_table
        if len(nodes) == 2:
            return np.asarray(e) * rates[-1]
        return PchipInterpolator(np.sqrt(nodes), rates)(np.sqrt(np.clip(e, 0.0, 1.0)))

    def define_mesh(self) -> None:
        super().define_mesh()
        present = [g for g in ("illuminated", "dark") if g in self.mesh_data.cell_groups]
        self.params = dataclasses.replace(self.params, source_regions=present)

    def define_initial_condition(self) -> None:
        super().define_initial_condition()
        from fem_spin.optics import excitation_probability

        excitation = excitation_probability(self.V.tabulate_dof_coordinates().T, self.beam,
                                            *self.halfspaces, self.triplet.optics_config)
        # theta = 1 in the crystal before: the local rate is k_eff(e(x)) = theta k_eff(1)
        self.source.theta.x.array[:] *= self.rate_at(excitation) / self.effective_exchange_rate

    @property
    def observable_names(self) -> tuple[str, ...]:
        return ("P_crystal", "P_min", "P_max", "effective_exchange_rate")

    def observables(self) -> dict[str, float]:
        stats = self.statistics.statistics(np.tanh(self.owned(self.u.x.array)), "P")
        return {"P_crystal": stats["P_mean"], "P_min": stats["P_min"], "P_max": stats["P_max"],
                "effective_exchange_rate": self.effective_exchange_rate}

    def analyse(self, series):
        from fem_spin.analysis import buildup_summary

        return {"effective_exchange_rate": self.effective_exchange_rate,
                "buildup": buildup_summary(series["t"], series["P_crystal"], series["P_crystal"][-1])}

    def profile_probe(self):
        from fem_spin.io import LineProbe
        from fem_spin.optics import axis_segment

        entry, exit_ = axis_segment(self.beam, *self.halfspaces)
        return LineProbe(self.mesh, entry, exit_, 101), self.polarization()


def _resolved(config: RunConfig) -> RunConfig:
    """``config`` with its unit cell resolved: parse_config does it; a [model] section made in
    Python (dataclasses.replace) may not have been."""
    if config.model.cell_config is not None:
        return config
    context = ResolveContext(config.geometry, config.time, config.solver,
                             copy.deepcopy(config.raw.get("solver", {})), config.base_dir)
    model = config.model.resolve(context)
    model.check_against(config.geometry, config.time)
    return dataclasses.replace(config, model=model)


# =========================================================================== the [model] section
@register_model("triplet_dnp", problem=TripletDNPProblem)
@dataclasses.dataclass(frozen=True)
class TripletDNPConfig(ModelConfig):
    """[model] type = "triplet_dnp" (physics.md 1.3); needs [geometry] type = "crystal"."""

    supports_multigrid = True     # for its unit cells

    cell_preset: str = param("", doc="preset whose [geometry] and [model] give the unit cell "
                             "(e.g. 'naphthalene_pentacene'); cell_geometry/cell_model override it")
    cell_geometry: dict = param(default_factory=dict, doc="[geometry] table of the unit cell "
                                "(dnp_radial, dnp_sphere or dnp_cube)")
    cell_model: dict = param(default_factory=dict, doc="nuclear_diffusion keys of the unit cell "
                             "(D0, speedup, source, source_polarization, exchange_probability, ...)")
    optics: OpticsConfig = param(default_factory=OpticsConfig, doc="laser optics: beam_profile, "
                                 "absorption_length, excitation, peak_excitation, pulse_energy, "
                                 "saturation_fluence, triplet_yield")
    coupling: Literal["tabulated", "coupled"] = param(
        "tabulated", doc="tabulated (unit-cell curves per point, no transport between points) or "
        "coupled (macroscopic diffusion with a homogenised source)")
    compare_uncorrected: bool = param(True, doc="also tabulate the uncorrected model (speedup = none)")
    band_diameters: list[float] = param(default_factory=list, unit="m",
                                        doc="[d_min, d_max]: beam diameters of the error band",
                                        check=_diameters_check)
    band_points: int = param(5, doc="diameters sampled across the band", check=in_range(2, 101))
    table_tolerance: float = param(2e-3, doc="max interpolation error of the unit-cell table "
                                   "(absolute polarization)", check=positive)
    table_initial_points: int = param(5, doc="efficiencies of the first table", check=in_range(2, 65))
    table_max_points: int = param(65, doc="largest table (then the estimate is reported)",
                                  check=in_range(3, 1025))
    table_times: int = param(160, doc="log-spaced times at which the unit-cell curves are sampled "
                             "(plus the snapshot times)", check=in_range(10, 10000))
    quadrature_degree: int = param(6, doc="quadrature degree of the crystal averages",
                                   check=in_range(1, 12))
    effective_exchange_rate: float | None = param(None, unit="1/s", doc="coupled mode: k_eff of the "
                                                  "homogenised source (default 1/t63 of the unit cell)")
    #: resolved by resolve(): the run file's directory (the unit cell's files, a CIF for D0,
    #: are relative to it), the run's [solver] table (it also drives the unit cells) and the
    #: parsed, resolved unit cell
    base_dir: Path | None = derived(doc="directory of the run file")
    solver_table: dict = derived(default=None, doc="the run's [solver] table")
    cell_config: RunConfig | None = derived(doc="the unit cell's resolved configuration")

    def __post_init__(self):
        if self.table_max_points < self.table_initial_points:
            raise ConfigError("table_max_points", "must be >= table_initial_points")
        if self.coupling == "coupled" and self.band_diameters:
            raise ConfigError("band_diameters", "the error band needs coupling = 'tabulated' (the "
                                                "coupled mode solves one beam diameter)")
        if self.effective_exchange_rate is not None and not self.effective_exchange_rate > 0:
            raise ConfigError("effective_exchange_rate", f"must be > 0 (got {self.effective_exchange_rate})")

    @property
    def optics_config(self) -> OpticsConfig:
        return self.optics

    # ------------------------------------------------------------------ the unit cell
    def cell_raw(self, time, efficiency: float = 1.0, speedup: str | None = None,
                 relaxation: bool = True) -> dict:
        """The run dictionary of the unit cell with source efficiency ``efficiency``."""
        raw = {"name": "unit_cell",
               "geometry": copy.deepcopy(self.cell_geometry),
               "model": {"type": "nuclear_diffusion", **copy.deepcopy(self.cell_model)},
               "time": {"t_end": time.t_end, "dt_initial": time.dt_initial, "dt_min": time.dt_min,
                        "dt_max": time.dt_max, "tolerance": time.tolerance,
                        "growth_max": time.growth_max, "adaptive": time.adaptive},
               "output": {"plot": False, "render": False},
               # the run's [solver] table also drives the unit cells
               "solver": copy.deepcopy(self.solver_table or {})}
        if self.cell_preset:
            raw["preset"] = self.cell_preset
        from fem_spin.config import apply_preset

        raw = apply_preset(raw)
        model = raw["model"]
        model["type"] = "nuclear_diffusion"
        if speedup is not None:
            model["speedup"] = speedup
        if not relaxation:
            model["R1"] = 0.0
            model["pre_coefficient"] = 0.0
        if efficiency == 0.0:
            model["source"] = "none"      # a dark cell: also no pulses to step through
        elif efficiency != 1.0:
            source = model.get("source", "none")
            if source == "continuous":
                model["exchange_rate"] = efficiency * float(model.get("exchange_rate", 0.0))
            elif source in ("pulsed", "cycle_averaged"):
                model["exchange_probability"] = efficiency * float(model.get("exchange_probability", 1.0))
        return raw

    def resolve(self, context: ResolveContext) -> "TripletDNPConfig":
        """The unit cell parsed and resolved (with the run's [solver] table), once: a valid
        cell with a DNP source on the crystal geometry (errors name the key). A D0 computed
        from the structure is kept as a number in ``cell_model`` for the table runs."""
        if not context.geometry.has_beam:
            raise ConfigError("geometry.type", "model 'triplet_dnp' needs geometry type = 'crystal'")
        model = dataclasses.replace(self, base_dir=context.base_dir,
                                    solver_table=copy.deepcopy(context.solver_table))
        cell = model._parse_cell(context.time)
        cell_model = self.cell_model
        if isinstance(cell_model.get("D0"), dict):
            # evaluated once here (from the structure); the table runs reuse the number
            cell_model = {**cell_model, "D0": cell.model.D0}
        return dataclasses.replace(model, cell_model=cell_model, cell_config=cell)

    def _parse_cell(self, time) -> RunConfig:
        try:
            raw = self.cell_raw(time)
        except ConfigError as exc:
            raise ConfigError("model.cell_preset", exc.message) from None
        kind = raw["geometry"].get("type")
        if kind not in _CELL_GEOMETRIES:
            raise ConfigError("model.cell_geometry.type", f"the unit cell must be one of "
                                                         f"{', '.join(_CELL_GEOMETRIES)} (got {kind!r})")

        def cell_key(key: str) -> str:
            for section, prefix in (("geometry", "model.cell_geometry"), ("model", "model.cell_model")):
                if key == section or key.startswith(section + "."):
                    return prefix + key[len(section):]
            return key

        try:
            cell = parse_config(raw, base_dir=self.base_dir)
        except ConfigError as exc:
            raise ConfigError(cell_key(exc.key), exc.message) from None
        for w in cell.warnings:   # e.g. a unit cell implausibly large: the run's warnings
            warn(cell_key(w.key), f"unit cell: {w.message}")
        if cell.model.source == "none":
            raise ConfigError("model.cell_model.source", "the unit cell needs a DNP source "
                                                         "(pulsed, cycle_averaged or continuous)")
        return cell

    def check_against(self, geometry, time) -> None:
        """The beam diameters of the error band hit the crystal."""
        for d in self.band_diameters:
            beam = geometry.beam(diameter=d)
            from fem_spin.optics import check_beam_hits

            check_beam_hits(beam, *geometry.halfspaces(), key="model.band_diameters")
