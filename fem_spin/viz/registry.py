"""What is drawn after a run, registered per model type (not methods of the physics classes).

:func:`register_pictures` states, for a model type, the time-series columns worth a plot, a
replacement of the standard plots (stationary models: their own result plots), a comparison
of a sweep's variants, and the 3-D pictures of one run directory. A model that registers
nothing gets the standard pictures of a transient run (profiles, the field at the end and
its series) and nothing for a stationary one; it never fails a finished run.
:func:`post_process` draws them (rank 0) after ``fem-spin run`` / ``resume``.
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Callable

__all__ = ["ModelPictures", "register_pictures", "pictures_for", "post_process", "plot_steps"]


@dataclasses.dataclass(frozen=True)
class ModelPictures:
    #: (column of the time series, axis label): one plot each, all variants together
    plot_columns: tuple[tuple[str, str], ...] = ()
    #: (dirs, out, sweep) -> PNGs: the model's own plots (a stationary model's result plots,
    #: or a transient model's besides the standard ones)
    plots: Callable | None = None
    #: (dirs, out) -> files: a comparison of a sweep's variants
    compare: Callable | None = None
    #: (run_dir, title) -> PNGs: 3-D pictures of one run; None: the standard transient ones
    render: Callable | None = None


_REGISTRY: dict[str, ModelPictures] = {}


def register_pictures(model_type: str, **pictures) -> None:
    """Register (or replace) what is drawn for ``model_type``; keys of :class:`ModelPictures`."""
    _REGISTRY[model_type] = ModelPictures(**pictures)


def _lazy(module: str, name: str, wrap_list: bool = False) -> Callable:
    """A function imported when first called (pyvista and friends load only when drawing)."""
    def call(*args, **kwargs):
        result = getattr(importlib.import_module(module), name)(*args, **kwargs)
        return [result] if wrap_list else result

    call.__name__ = f"{module}.{name}"
    return call


def pictures_for(model_type: str) -> ModelPictures:
    return _REGISTRY.get(model_type, ModelPictures())


# ------------------------------------------------------------------------- built-in models
register_pictures("nuclear_diffusion",
                  plot_columns=(("P_mean", "mean polarization Pbar (dimensionless)"),
                                ("P_outside", "mean P outside the initial region (dimensionless)"),
                                ("P_source", "mean P in the source region (dimensionless)"),
                                ("P_max", "max P (dimensionless)")))
register_pictures("onsager_transport",
                  plot_columns=(("P_mean", "mean polarization rho2 (dimensionless)"),
                                ("rho_max", "max |rho| (dimensionless)"),
                                ("entropy", "entropy S (J/K)"),
                                ("dipolar_mean", "mean dipolar order rho1 (dimensionless)")),
                  plots=_lazy("fem_spin.viz.onsager", "plot_onsager_run"),
                  compare=_lazy("fem_spin.viz.onsager", "compare_formulations"))
register_pictures("onsager_framework",
                  plot_columns=(("P_mean", "mean polarization rho2 (dimensionless)"),
                                ("rho_max", "max |rho| (dimensionless)"),
                                ("entropy", "entropy S (J/K)"),
                                ("dipolar_mean", "mean dipolar order rho1 (dimensionless)")),
                  plots=_lazy("fem_spin.viz.onsager", "plot_onsager_run"),
                  render=_lazy("fem_spin.viz.onsager", "render_species"))
register_pictures("triplet_dnp",
                  plot_columns=(("P_crystal", "crystal-average polarization, NMR (dimensionless)"),
                                ("P_illuminated", "mean P in the illuminated region (dimensionless)")),
                  render=_lazy("fem_spin.viz.crystal", "render_crystal", wrap_list=True))
register_pictures("valet_fert",
                  plots=_lazy("fem_spin.viz.spintronics", "plot_spin_valve_results"),
                  # the spin accumulation; a vector one also by component, and current streamlines
                  render=_lazy("fem_spin.viz.spintronics", "render_valet_fert"))


# ------------------------------------------------------------------------- drawing
def post_process(config, path: Path, dirs: dict[str, Path], comm, quiet: bool) -> None:
    """Plots and 3-D pictures of a finished run (or sweep) into ``path``: ``dirs`` maps each
    variant's label (the run's name without a sweep) to its directory. Rank 0 draws; a
    picture that cannot be drawn (no display, no pyvista) is skipped with a note."""
    from fem_spin.engine import Interrupted, stop_requested
    from fem_spin.viz import plots, render

    def check_stop():
        # the results are complete: a signal now only skips the remaining pictures
        name = stop_requested()
        if name is not None:
            raise Interrupted(f"stopped by {name} while drawing the pictures (the results are "
                              f"complete)")

    pictures = pictures_for(config.model.model_type)
    steady = config.model.is_steady()
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    stopped = None
    if comm.rank == 0:
        try:
            _draw(config, path, dirs, pictures, steady, say, check_stop, plots, render)
        except Interrupted as exc:
            stopped = str(exc)
    stopped = comm.bcast(stopped, root=0)   # every rank leaves the same way
    if stopped:
        raise Interrupted(stopped)


def plot_steps(config, path: Path, dirs: dict[str, Path], always: bool = False) -> list:
    """The matplotlib plots of a finished run (or sweep) as (kind, draw) pairs in drawing
    order; ``draw()`` returns the files written. ``always``: also when ``[output] plot`` is
    off (``Result.plot()`` asks explicitly)."""
    from fem_spin.viz import plots

    pictures = pictures_for(config.model.model_type)
    steady = config.model.is_steady()
    wanted = always or config.output.plot
    steps = []
    if wanted and not steady:
        steps.append(("plot", lambda: plots.plot_run(dirs, path, pictures.plot_columns)))
    if wanted and pictures.plots is not None:
        steps.append(("plot", lambda: pictures.plots(dirs, path, config.sweep)))
    if pictures.compare is not None and len(dirs) > 1:
        steps.append(("comparison", lambda: pictures.compare(dirs, path)))
    return steps


def _draw(config, path, dirs, pictures, steady, say, check_stop, plots, render) -> None:
    for kind, draw in plot_steps(config, path, dirs):
        check_stop()
        for written in draw():
            say(f"  {kind}: {written}")
    if config.output.render and (pictures.render is not None or not steady):
        for title, d in dirs.items():
            check_stop()
            try:
                pngs = (pictures.render(d, title=title) if pictures.render is not None else
                        [render.render_result(d, title=title), render.render_series(d, title=title)])
                for png in pngs:
                    say(f"  picture: {png}")
            except render.RenderUnavailable as exc:
                say(f"  picture skipped: {exc}")
