"""What a model and a geometry promise, and the registries that find them by name.

This module is the bottom of the package: it imports nothing of fem_spin, so the
configuration layer (config.py), the geometries and the models can all depend on it
without a cycle.

* A **geometry** is a frozen dataclass (the ``[geometry]`` section) deriving from
  :class:`Geometry` and registered with ``@register_geometry("name")``. It declares its
  capabilities as class attributes (``radial``, ``gmsh_built``, ``multigrid_auto``,
  ``has_tip``, ``has_beam``) and answers the hooks the base gives defaults for
  (``periodic_box()``, ``sample_bounds()``, ``exact_shells()``,
  ``electron_exclusion_radius()``, ``electron_images()``, ``layer_thickness(name)``,
  ``junction_area()``, ``estimate_mesh()``, ``resolve(base_dir)``); ``create_mesh`` is the
  one method it must provide (gmsh geometries inherit it from
  :class:`fem_spin.geometry.base.GmshGeometry`). Code calls the hooks unconditionally: no
  probing for attributes.
* A **model** is a frozen dataclass (the ``[model]`` section) deriving from
  :class:`ModelConfig`, registered together with the problem class that solves it by
  ``@register_model("name", problem=TheProblem)``. It declares ``supports_multigrid``; its
  problem class declares ``steady``. ``resolve(context)`` returns the section with every
  derived value filled in (before any problem is built, by config.parse_config),
  ``length_scales()`` tells the geometry the lengths its mesh must resolve per cell group
  (``Geometry.with_length_scales``, run right after: the one hand-over of physical lengths
  from the model to the mesh, e.g. the spin-flip lengths of a spin valve's materials, the
  boundary layer sqrt(D0/k) of a DNP source) and ``check_against(geometry, time)``
  checks it against the other sections; ``unknowns_per_node()`` and ``forced_steps(time)``
  feed the resource estimate (fem_spin/limits.py).

The registries are filled when the modules that define the classes are imported. The
package declares where its built-in ones live (``fem_spin/__init__.py`` calls
:func:`declare_plugins`); the first question to a registry imports those modules, so
``fem_spin.config.parse_config`` works without importing (or knowing) any model.
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

__all__ = ["Geometry", "ModelConfig", "Model", "ResolveContext", "register_model", "register_geometry",
           "model_types", "geometry_types", "model_class", "geometry_class", "MODELS", "GEOMETRIES",
           "declare_plugins", "load_plugins", "RegistryError"]

T = TypeVar("T")

#: [model] type -> its section class (which carries ``problem_class``)
MODELS: dict[str, type["ModelConfig"]] = {}
#: [geometry] type -> its section class
GEOMETRIES: dict[str, type["Geometry"]] = {}
#: modules whose import registers the package's own models and geometries (declare_plugins)
_PLUGINS: list[str] = []
_loaded: set[str] = set()


class RegistryError(TypeError):
    """A class registered wrongly (a programming error, not a configuration error)."""


# --------------------------------------------------------------------------- geometry
class Geometry:
    """Base of every [geometry] section: capability flags and hooks with their defaults.

    Subclasses are (frozen) dataclasses; the attributes below are class attributes, not
    fields, so they never appear as configuration keys."""

    #: the [geometry] type it is registered under (set by :func:`register_geometry`)
    geometry_type: ClassVar[str] = ""
    #: a 1-D mesh of the radial coordinate r whose integrals carry 4 pi r^2
    radial: ClassVar[bool] = False
    #: meshed by a gmsh builder (``builder()``), so it can be meshed again at other
    #: resolutions: the command ``fem-spin mesh`` and geometric multigrid need that
    gmsh_built: ClassVar[bool] = False
    #: [solver] preconditioner = "auto" may take geometric multigrid here (measured to gain)
    multigrid_auto: ClassVar[bool] = False
    #: carries a magnetic tip (the MRFM film): tip fields need it
    has_tip: ClassVar[bool] = False
    #: carries a laser beam and the crystal's half-spaces (``beam()``, ``halfspaces()``)
    has_beam: ClassVar[bool] = False
    #: extent (m) of a sample outside which validation warns that lengths look mistyped
    PLAUSIBLE_EXTENT: ClassVar[tuple[float, float]] = (1e-10, 0.1)
    #: the key that sets the extent when no length does (e.g. electron_concentration)
    EXTENT_KEY: ClassVar[str | None] = None
    #: topological dimension of the mesh (element sizes from DOF counts, error_estimate.py)
    mesh_dimension: ClassVar[int] = 3

    def coarsened(self, factor: float) -> dict | None:
        """[geometry] keys that mesh the same sample with elements ``factor`` times larger
        (the space part of fem_spin.error_estimate), or None when the geometry cannot say."""
        return None

    def create_mesh(self, comm, msh_path=None):
        """The distributed mesh (:class:`fem_spin.geometry.base.MeshData`)."""
        raise NotImplementedError(f"{type(self).__name__} does not say how to build its mesh")

    def periodic_box(self):
        """(lower corner, upper corner, periodic axes) or None when nothing is periodic."""
        return None

    @property
    def is_periodic(self) -> bool:
        return self.periodic_box() is not None

    def sample_bounds(self) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
        """(lower, upper) corners of the sample's bounding box (m), or None when unknown
        before meshing (a mesh file)."""
        return None

    def exact_shells(self) -> dict[str, tuple[float, float]]:
        """Cell groups the mesh only approximates, as exact spherical shells (see MeshData)."""
        return {}

    def electron_exclusion_radius(self) -> float | None:
        """Radius (m) of the sphere around the cell's electron inside which no nucleus is
        modelled (the barrier, else the source sphere), or None without one."""
        return None

    def electron_images(self):
        """Offsets (m) of the electron and of its periodic images from the electron, shape
        (n, 3): the electron alone, ``[[0, 0, 0]]``, unless the cell is periodic."""
        import numpy as np

        return np.zeros((1, 3))

    def layer_thickness(self, name: str) -> float | None:
        """Thickness (m) of the cell group ``name`` when the geometry makes it a layer of
        uniform thickness (a stack's layer, a tunnel barrier), else None."""
        return None

    def junction_area(self) -> float | None:
        """Contact area (m^2) of the ferromagnet/normal-metal junctions of a lateral spin
        valve, else None (the thin-wire formula then does not apply)."""
        return None

    def estimate_mesh(self):
        """Cells and vertices of the mesh before it is built
        (:class:`fem_spin.limits.MeshEstimate`), or None when they are unknown."""
        return None

    def resolve(self: T, base_dir: Path) -> T:
        """This section with relative paths resolved from ``base_dir`` (a new object)."""
        return self

    def with_length_scales(self: T, lengths: dict[str, float]) -> T:
        """This section with the mesh sizes it derives from the model's physical lengths
        filled in (a new object when any is): ``lengths`` is the resolved model's
        ``ModelConfig.length_scales()`` ({cell group: m}). Run once by config.parse_config
        after the model is resolved, before anything is meshed; sizes the user gave stay
        as given. Default: unchanged."""
        return self


# --------------------------------------------------------------------------- model
@dataclasses.dataclass(frozen=True)
class ResolveContext:
    """What a [model] section may derive its values from: the other sections (already
    built), the raw [solver] table and the directory of the run file."""

    geometry: Geometry
    time: Any                    # TimeConfig, or None for a stationary model
    solver: Any                  # SolverConfig
    solver_table: dict = dataclasses.field(default_factory=dict)
    base_dir: Path | None = None


class ModelConfig:
    """Base of every [model] section: capability flags and hooks with their defaults."""

    #: the [model] type it is registered under (set by :func:`register_model`)
    model_type: ClassVar[str] = ""
    #: the problem class that solves it (set by :func:`register_model`)
    problem_class: ClassVar[type]
    #: [solver] preconditioner = "multigrid" is allowed
    supports_multigrid: ClassVar[bool] = False

    @classmethod
    def is_steady(cls) -> bool:
        """True for a stationary model (no [time] section, no time stepping)."""
        return bool(cls.problem_class.steady)

    def resolve(self: T, context: ResolveContext) -> T:
        """This section with every derived value filled in (a new object when any is): run
        once by config.parse_config before any problem is built. Errors are ConfigErrors
        naming the key."""
        return self

    def length_scales(self) -> dict[str, float]:
        """The shortest length (m) on which the solution varies in each cell group, by cell
        group name (e.g. a material's spin-flip length; the boundary layer sqrt(D_min/k) of a
        DNP source in ``"source"``), for geometries that size their default meshes by it
        (``Geometry.with_length_scales``, which takes the groups it knows); {} when the model
        knows none."""
        return {}

    def tangent_support(self, key: str, run_config) -> str | None:
        """None if forward sensitivities (solvers/sensitivity.py) of a run of this model with
        respect to the run key ``key`` are available, else why not (finite differences are
        used then); models that differentiate their residual override it."""
        return f"the model {type(self).__name__} has no forward sensitivities"

    def tangent_observables(self) -> tuple[str, ...]:
        """The quantities (time-series columns; a stationary run's results columns and
        summary numbers) whose sensitivities the model's runs report."""
        return ()

    def check_against(self, geometry: Geometry, time) -> None:
        """Check the (resolved) section against the other sections; may call config.warn."""

    def unknowns_per_node(self) -> int:
        """Unknowns the model solves for at each mesh node (every model is continuous P1)."""
        return 1

    def forced_steps(self, time) -> float:
        """Time steps the model itself forces up to ``time.t_end`` (one per DNP pulse), 0
        when it forces none; the resource estimate takes the larger of these and the steps
        the time settings plan."""
        return 0.0


@runtime_checkable
class Model(Protocol):
    """What the run driver asks of a problem class (models/base.py implements it)."""

    steady: bool

    def __init__(self, config, comm=..., mesh_data=...) -> None: ...

    def initialise(self) -> "Model": ...

    def destroy(self) -> None: ...


# --------------------------------------------------------------------------- registries
def _register(registry: dict, name: str, cls: type, base: type, what: str) -> None:
    if not isinstance(cls, type) or not issubclass(cls, base):
        raise RegistryError(f"{what} {name!r}: {cls!r} must derive from contracts.{base.__name__}")
    old = registry.get(name)
    if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
        raise RegistryError(f"{what} {name!r} is already registered by {old.__module__}.{old.__qualname__}")
    registry[name] = cls


def register_model(name: str, *, problem: type):
    """Class decorator of a [model] section: registers it under ``name`` together with the
    problem class that solves it (``cls.problem_class``)."""
    if not isinstance(problem, type):
        raise RegistryError(f"model {name!r}: problem must be a class (got {problem!r})")

    def deco(cls):
        _register(MODELS, name, cls, ModelConfig, "model")
        cls.model_type = name
        cls.problem_class = problem
        return cls

    return deco


def register_geometry(name: str):
    """Class decorator of a [geometry] section: registers it under ``name``."""

    def deco(cls):
        _register(GEOMETRIES, name, cls, Geometry, "geometry")
        cls.geometry_type = name
        return cls

    return deco


def declare_plugins(*modules: str) -> None:
    """Modules whose import registers models or geometries; imported (once) the first time
    a registry is asked (:func:`load_plugins`)."""
    for module in modules:
        if module not in _PLUGINS:
            _PLUGINS.append(module)


def load_plugins() -> None:
    """Import every declared plugin module not imported yet."""
    for module in list(_PLUGINS):
        if module not in _loaded:
            _loaded.add(module)
            try:
                importlib.import_module(module)
            except BaseException:
                _loaded.discard(module)
                raise


def model_types() -> list[str]:
    load_plugins()
    return sorted(MODELS)


def geometry_types() -> list[str]:
    load_plugins()
    return sorted(GEOMETRIES)


def model_class(name: str) -> type[ModelConfig] | None:
    load_plugins()
    return MODELS.get(name)


def geometry_class(name: str) -> type[Geometry] | None:
    load_plugins()
    return GEOMETRIES.get(name)
