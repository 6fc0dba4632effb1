"""Pictures in Jupyter notebooks (and on the documentation's demo pages), never in the way of
a script or a headless run.

The demos save every figure as a PNG (matplotlib with Agg, pyvista off-screen). In a script
:func:`show` does nothing; in a Jupyter kernel (a notebook, or myst-nb executing a demo page
of the documentation) it displays the PNG files inline, so the static off-screen picture is
what a notebook shows by default.

For an interactive 3-D view, :func:`pyvista_backend` chooses pyvista's Jupyter backend:
``"trame"`` where trame and its VTK widgets are installed (then ``plotter.show()`` in a
notebook is interactive), ``"static"`` (an off-screen PNG) everywhere else, and off-screen
rendering without a display. Nothing here imports pyvista or IPython unless it is used.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

__all__ = ["in_notebook", "show", "pyvista_backend"]


def in_notebook() -> bool:
    """True inside a Jupyter (IPython) kernel, False in a script or a plain IPython shell."""
    if "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def show(*pngs: str | Path) -> None:
    """Display PNG files inline in a notebook; a no-op in a script. A missing file (a picture
    that could not be rendered) is skipped with a line saying so, or, with
    ``FEM_SPIN_SHOW_STRICT=1`` (the documentation build sets it), raises FileNotFoundError, so
    that a demo page without its figure fails the build."""
    if not in_notebook():
        return
    from IPython.display import Image, display

    for png in pngs:
        path = Path(png)
        if path.is_file():
            display(Image(filename=str(path)))
        elif os.environ.get("FEM_SPIN_SHOW_STRICT") == "1":
            raise FileNotFoundError(f"figure {path} was not written")
        else:
            print(f"(no picture: {path.name} was not written)")


def _trame_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("trame", "trame_vtk", "trame_vuetify"))


def pyvista_backend(interactive: bool = True) -> str:
    """Set and return pyvista's Jupyter backend: ``"trame"`` (interactive) when ``interactive``
    and trame is installed and a kernel is running, else ``"static"`` (off-screen PNG). Without
    a display (no ``DISPLAY``, not macOS/Windows) pyvista renders off-screen either way."""
    import pyvista as pv

    backend = "trame" if interactive and in_notebook() and _trame_available() else "static"
    if not os.environ.get("DISPLAY") and sys.platform.startswith("linux"):
        pv.OFF_SCREEN = True
    pv.set_jupyter_backend(backend)
    return backend
