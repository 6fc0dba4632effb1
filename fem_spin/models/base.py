"""The problems every model derives from: transient and steady.

``initialise()`` reads as a pipeline; each step is a method a model overrides:

    transient:  mesh -> function spaces -> measures -> initial condition -> formulation -> solver
    steady:     mesh -> function spaces -> measures -> formulation -> solver
    sampled:    mesh -> function spaces -> measures -> prepare -> evaluate(0)

The time stepper (solvers.timestepping) drives a transient problem through
``set_time_step``, ``set_scheme_terms``, ``solve_step``, ``accept_step``, ``reject_step`` and
``capacity_values``; the run driver (simulation.py) asks it for ``observables()`` and
``output_functions()``. A steady problem (``steady = True``) instead yields its
solved cases from ``solve_cases()`` (e.g. parallel and antiparallel magnetizations,
or one case per magnetic field of a Hanle curve) and summarises them in ``summary()``.
A sampled problem (``sampled = True``, :class:`SampledProblem`) is evaluated, not stepped:
the engine (``Engine.run_sampled``) sets it to each of its ``sample_times()`` with
``evaluate(t)`` (e.g. a lookup in a table of precomputed curves).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod

import numpy as np
from mpi4py import MPI

from fem_spin.geometry import MeshData, create_mesh
from fem_spin.physics import observables
from fem_spin.solvers.newton import DolfinxAssembler, NewtonSolver

__all__ = ["Problem", "TransientProblem", "SteadyProblem", "SampledProblem"]


class Problem(ABC):
    """What every problem shares: configuration, mesh, measures and parallel reductions."""

    #: True for models without time stepping (the driver calls solve_cases())
    steady: bool = False
    #: True for models evaluated at known times, not stepped (:class:`SampledProblem`)
    sampled: bool = False
    #: dotted summary.json keys of the numbers a run is for, given with their discretisation
    #: error (fem_spin/error_estimate.py)
    headline_keys: tuple[str, ...] = ()

    def __init__(self, config, comm: MPI.Comm = MPI.COMM_WORLD, mesh_data: MeshData | None = None):
        self.config = config
        self.params = config.model
        self.comm = comm
        self.mesh_data = mesh_data
        self.bcs: list = []
        #: seconds from construction to the end of initialise() (the run's setup; a resumed
        #: run adds the reading of its checkpoint), and per pipeline step
        self._created = time.perf_counter()
        self.setup_s = 0.0
        self.setup_profile: dict[str, float] = {}

    def _pipeline(self, *steps) -> None:
        """Run the set-up steps in order, timing each (``setup_profile``) and the whole
        (``setup_s``, from construction)."""
        for step in steps:
            start = time.perf_counter()
            step()
            name = getattr(step, "__name__", "step")
            self.setup_profile[name] = self.setup_profile.get(name, 0.0) + time.perf_counter() - start
        self.setup_s = time.perf_counter() - self._created

    def define_mesh(self) -> None:
        if self.mesh_data is None:
            self.mesh_data = create_mesh(self.config.geometry, self.comm)
        self.mesh = self.mesh_data.mesh

    @abstractmethod
    def define_function_spaces(self) -> None:
        ...

    def define_measures(self) -> None:
        import ufl

        md = self.mesh_data
        self.dx = ufl.Measure("dx", domain=self.mesh, subdomain_data=md.cell_tags)
        self.ds = ufl.Measure("ds", domain=self.mesh, subdomain_data=md.facet_tags)

    @abstractmethod
    def output_functions(self) -> list:
        ...

    def update_output_functions(self) -> None:
        """Refresh derived output fields before they are written."""

    # ------------------------------------------------------------------ helpers
    @property
    def num_dofs(self) -> int:
        im = self.u.function_space.dofmap.index_map
        return im.size_global * self.u.function_space.dofmap.index_map_bs

    def owned(self, array: np.ndarray) -> np.ndarray:
        """The part of a dof array owned by this rank (no ghosts)."""
        im = self.u.function_space.dofmap.index_map
        return array[: im.size_local * self.u.function_space.dofmap.index_map_bs]

    # reductions and probes: fem_spin.physics.observables, bound to this problem's communicator
    def global_sum(self, value: float) -> float:
        return observables.global_sum(self.comm, value)

    def global_min(self, a: np.ndarray) -> float:
        return observables.global_min(self.comm, a)

    def global_max(self, a: np.ndarray) -> float:
        return observables.global_max(self.comm, a)

    def x_axis_probe(self, function, points: int = 201):
        """(LineProbe along x through the centre of the sample's bounding box, function): what
        ``profile_probe`` returns for profiles.csv."""
        return observables.axis_probe(self.mesh, function, 0, points)

    def integrate(self, compiled_form) -> float:
        """A scalar form summed over the ranks (scifem.assemble_scalar)."""
        return observables.integrate(compiled_form)

    def destroy(self) -> None:
        """Free PETSc objects the problem holds."""


class SteadyProblem(Problem):
    """Base class: a stationary (linear or nonlinear) problem solved for one or more cases."""

    steady = True
    #: columns of the per-case results table (results.csv), in order
    result_columns: tuple[str, ...] = ()
    #: a model whose solve_cases honours ``completed_cases`` resumes a stopped run after its
    #: last finished case (simulation.run_steady); others solve every case again
    resumable_cases = False
    #: rows of results.csv finished before a stop (set by run_steady before solve_cases):
    #: solve_cases yields them again, in order, without solving
    completed_cases: tuple[dict, ...] = ()

    @abstractmethod
    def create_formulation(self) -> None:
        ...

    def initialise(self) -> "SteadyProblem":
        self._pipeline(self.define_mesh, self.define_function_spaces, self.define_measures,
                       self.create_formulation, self.create_solver)
        return self

    @abstractmethod
    def create_solver(self) -> None:
        ...

    @abstractmethod
    def solve_cases(self):
        """Solve every case; yield (row of result_columns, write_fields: bool) per case."""

    @abstractmethod
    def summary(self) -> dict:
        """Scalar results of the whole run (after solve_cases)."""


class TransientProblem(Problem):
    """Base class: an implicitly stepped problem for one unknown Function ``self.u``; the
    time scheme (solvers/schemes.py) is the stepper's, the model states one step in the
    backward-Euler shape with ``capacity_old`` and ``dt``."""

    #: quantities the driver writes to the CSV, in order (a model sets its own)
    observable_names: tuple[str, ...] = ()

    # ------------------------------------------------------------------ optional hooks
    # (the run engine calls them on every model; these defaults do nothing)
    def profile_probe(self):
        """(LineProbe, Function) sampled at the output times into profiles.csv, or None."""
        return None

    def extra_profile_probes(self) -> dict:
        """{name: (LineProbe, Function)} sampled like ``profile_probe`` into
        profiles_<name>.csv (written only when ``profile_probe`` is not None)."""
        return {}

    def analyse(self, series: dict[str, np.ndarray]) -> dict:
        """Numbers derived from the time series for summary.json (e.g. buildup times)."""
        return {}

    def write_extra_outputs(self, directory, times) -> None:
        """Files beyond the standard outputs, written after a completed run (rank 0 decides)."""

    def next_event_time(self, t: float) -> float | None:
        """The next time after ``t`` at which the model changes discontinuously (a pulse)."""
        return None

    def apply_events(self, t: float) -> bool:
        """Apply the events due at ``t``; whether anything changed."""
        return False

    # ------------------------------------------------------------------ pipeline
    def initialise(self) -> "TransientProblem":
        self._pipeline(self.define_mesh, self.define_function_spaces, self.define_measures,
                       self.define_initial_condition, self.define_capacity_history,
                       self.create_formulation, self.create_solver)
        return self

    @abstractmethod
    def define_initial_condition(self) -> None:
        ...

    @abstractmethod
    def create_formulation(self) -> None:
        ...

    def create_assembler(self):
        """Plain assembly, or dolfinx_mpc constrained assembly for periodic geometries."""
        periodic = self.config.geometry.periodic_box()
        if periodic is None:
            return DolfinxAssembler(self.F, self.u, self.bcs)
        from fem_spin.solvers.periodic import MPCAssembler, periodic_constraint

        self.mpc = periodic_constraint(self.u.function_space, *periodic)
        return MPCAssembler(self.F, self.u, self.mpc, self.bcs)

    def create_solver(self) -> None:
        s = self.config.solver
        self.newton = NewtonSolver(
            self.create_assembler(), self.comm,
            settings={"rtol": s.rtol, "atol": s.atol, "max_iterations": s.max_iterations},
            petsc_options=s.petsc_options, prefix="fem_spin_")

    # ------------------------------------------------------------------ time scheme
    def capacity_nodal(self, u_values: np.ndarray) -> np.ndarray:
        """The capacity quantity q(u) (the density whose time derivative the model states:
        P = tanh(w), rho(Omega), ...) at the nodes, from nodal values of u in u's dof layout.
        The identity by default (u is itself the conserved density)."""
        return u_values

    def capacity_values(self) -> np.ndarray:
        """q(u) at the owned dofs of the current state, in u's dof layout: the quantity the
        time scheme combines (solvers/schemes.py), whose error it controls and whose history
        a checkpoint stores."""
        return self.capacity_nodal(self.owned(self.u.x.array)).copy()

    def error_scale(self) -> float | np.ndarray:
        """The scale of the capacity quantity the error target is measured in: time.tolerance
        is an error of q / error_scale() (a number, or one per owned dof for quantities of
        different sizes). 1 for dimensionless q (polarizations, rho)."""
        return 1.0

    def define_capacity_history(self) -> None:
        """``self.capacity_old``: the nodal q_old of the time scheme, a Function of u's space.
        A model writes its lumped capacity term as int (q(u) - capacity_old) v, and its other
        terms times ``self.dt`` (the scheme's implicit step, set by :meth:`set_scheme_terms`)."""
        import dolfinx.fem as fem

        self.capacity_old = fem.Function(self.u.function_space, name="capacity_history")
        self.capacity_old.x.array[:] = self.capacity_nodal(self.u_n.x.array)

    def set_scheme_terms(self, dt_implicit: float, capacity_old: np.ndarray) -> None:
        """The time scheme's part of the next step: the implicit step and q_old (owned dofs)."""
        self.dt.value = dt_implicit
        n = len(capacity_old)
        self.capacity_old.x.array[:n] = capacity_old
        self.capacity_old.x.scatter_forward()

    # ------------------------------------------------------------------ stepping
    #: start each Newton solve from the linear extrapolation of the last two accepted states
    #: instead of the last one (a model whose state is smooth in time opts in; it saves about
    #: one Newton iteration in four on the DNP cell). Not across a step more than
    #: EXTRAPOLATION_MAX_RATIO times longer than the last, where it would overshoot.
    extrapolate_initial_guess = False
    EXTRAPOLATION_MAX_RATIO = 2.0
    _previous_state = None   # (u at the step before the last accepted one, that step's dt)

    def set_time_step(self, t_new: float, dt: float) -> None:
        self.time.value = t_new
        self.dt.value = dt
        if self.extrapolate_initial_guess and self._previous_state is not None:
            u_before, dt_before = self._previous_state
            if dt <= self.EXTRAPOLATION_MAX_RATIO * dt_before:
                u, u_n = self.u.x.array, self.u_n.x.array
                u[:] = u_n + (dt / dt_before) * (u_n - u_before)
                self.initial_guess_changed()

    def initial_guess_changed(self) -> None:
        """Hook: refresh coefficients that depend on the state after u was extrapolated."""

    def forget_history(self) -> None:
        """No extrapolation from before now (after an event changed the state abruptly)."""
        self._previous_state = None

    def solve_step(self):
        return self.newton.solve()

    def accept_step(self) -> None:
        if self.extrapolate_initial_guess:
            self._previous_state = (self.u_n.x.array.copy(), float(self.dt.value))
        self.u_n.x.array[:] = self.u.x.array
        # q_old of a backward-Euler step from here: what a caller stepping by hand (without
        # the TimeStepper, which sets it before every solve) gets
        self.capacity_old.x.array[:] = self.capacity_nodal(self.u.x.array)

    def reject_step(self) -> None:
        self.u.x.array[:] = self.u_n.x.array

    @abstractmethod
    def observables(self) -> dict[str, float]:
        ...

    # ------------------------------------------------------------------ checkpoints
    def checkpoint_functions(self) -> dict:
        """The Functions that hold the state at an accepted step (io/checkpoint.py)."""
        return {"u": self.u, "u_n": self.u_n}

    def checkpoint_state(self) -> dict:
        """Scalars of the state beyond the functions (JSON); a model with any overrides it."""
        return {}

    def restore_checkpoint_state(self, state: dict) -> None:
        """Undo :meth:`checkpoint_state` after the functions have been read back."""

    def destroy(self) -> None:
        self.newton.destroy()
        self.newton.clear_options()
        self.newton.assembler.destroy()


class SampledProblem(Problem):
    """Base class: a problem evaluated, not stepped, at times it knows (``sample_times()``).

    The engine (``Engine.run_sampled``) calls ``evaluate(t)`` at each sample time after the
    current one (and at the output times, if one is not a sample time) and writes a row of
    the time series per evaluation; there is no formulation, solver or step-size control.
    The state at t is ``evaluate(t)``: a checkpoint holds t (the engine's clock) and a
    resumed run evaluates again at it."""

    sampled = True
    #: quantities the engine writes to the CSV, in order (a model sets its own)
    observable_names: tuple[str, ...] = ()

    def initialise(self) -> "SampledProblem":
        def evaluate_initial():
            self.evaluate(0.0)

        self._pipeline(self.define_mesh, self.define_function_spaces, self.define_measures,
                       self.prepare, evaluate_initial)
        return self

    @abstractmethod
    def prepare(self) -> None:
        """Everything ``evaluate`` needs (e.g. the table of precomputed curves)."""

    @abstractmethod
    def sample_times(self) -> np.ndarray:
        """The times (sorted, from 0) at which the problem has exact values."""

    @abstractmethod
    def evaluate(self, t: float) -> None:
        """Set the state (functions and observables) to time ``t``."""

    @abstractmethod
    def observables(self) -> dict[str, float]:
        ...

    # ------------------------------------------------------------------ optional hooks
    # (the engine and its outputs call them; the same defaults as TransientProblem's)
    def profile_probe(self):
        """(LineProbe, Function) sampled at the output times into profiles.csv, or None."""
        return None

    def extra_profile_probes(self) -> dict:
        """{name: (LineProbe, Function)} sampled like ``profile_probe`` into
        profiles_<name>.csv (written only when ``profile_probe`` is not None)."""
        return {}

    def analyse(self, series: dict[str, np.ndarray]) -> dict:
        """Numbers derived from the time series for summary.json."""
        return {}

    def write_extra_outputs(self, directory, times) -> None:
        """Files beyond the standard outputs, written after a completed run."""

    # ------------------------------------------------------------------ checkpoints
    def checkpoint_functions(self) -> dict:
        """No functions: the state at t is evaluate(t) (io/checkpoint.py writes the mesh)."""
        return {}

    def checkpoint_state(self) -> dict:
        return {}

    def restore_checkpoint_state(self, state: dict) -> None:
        """Nothing: the engine evaluates the problem again at the checkpoint's time."""
