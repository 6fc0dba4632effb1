"""Sphinx configuration of the fem_spin documentation (``make docs``).

Sources are MyST Markdown (.md), MyST text notebooks (validation pages) and the demos, which
are jupytext light-format scripts read by myst-nb (``nb_custom_formats``) and executed at
build time on their CI-short setting. ``FEM_SPIN_DOCS_EXECUTE`` chooses the execution:
``force`` (every build, the default of ``make docs`` and CI), ``cache`` (jupyter-cache in
``_build/.jupyter_cache``: unchanged pages are not run again) or ``off`` (no demo runs:
for editing the prose).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(REPO))

import fem_spin  # noqa: E402

project = "fem_spin"
author = "the fem_spin authors"
copyright = "fem_spin authors, MIT licence"
release = version = fem_spin.__version__

extensions = [
    "myst_nb",                 # MyST Markdown + notebooks (brings myst_parser)
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "fem_spin_docs",           # docs/_ext: configuration reference, demo pages
]

root_doc = "index"
exclude_patterns = ["_build", "_ext", "conf.py", "**/.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]
# .md through MyST (myst-nb recognises text notebooks by their top matter), .py demos through
# the custom format below
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}

# ---------------------------------------------------------------- MyST
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist", "attrs_inline"]
myst_heading_anchors = 4
myst_dmath_double_inline = True

# ---------------------------------------------------------------- notebooks and demos
nb_custom_formats = {".py": ["fem_spin_docs.read_demo", {}, False]}
nb_execution_mode = os.environ.get("FEM_SPIN_DOCS_EXECUTE", "force")
nb_execution_cache_path = str(DOCS / "_build" / ".jupyter_cache")
nb_execution_timeout = int(os.environ.get("FEM_SPIN_DOCS_CELL_TIMEOUT", "900"))   # s per cell
nb_execution_raise_on_error = True        # a failing demo fails the build
nb_execution_show_tb = True
# FEM_SPIN_DOCS_EXCLUDE="demos/mrfm_tip.py,..." leaves pages unexecuted (for editing one page)
nb_execution_excludepatterns = [p for p in os.environ.get("FEM_SPIN_DOCS_EXCLUDE", "").split(",") if p]
nb_merge_streams = True
# demos run on their CI-short setting (tests/system/test_demos.py uses the same switch); the
# kernels inherit this environment
os.environ["FEM_SPIN_DEMO_SHORT"] = "1"
os.environ.setdefault("FEM_SPIN_ERROR_ESTIMATE", "off")
os.environ["FEM_SPIN_SHOW_STRICT"] = "1"        # a figure a demo shows but did not write is an error
os.environ.setdefault("PYVISTA_OFF_SCREEN", "true")
os.environ.setdefault("MPLBACKEND", "Agg")

# ---------------------------------------------------------------- autodoc
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_mock_imports: list[str] = []
suppress_warnings: list[str] = []

# ---------------------------------------------------------------- HTML
html_theme = "furo"
html_title = f"fem_spin {release}"
html_static_path: list[str] = []
html_show_sourcelink = True
