"""Every demo is a valid Jupyter notebook (make notebooks; docs/_ext/notebooks.py) that can run
as one. Executing them is the demo tests' job (tests/system/test_demos.py) and make docs's
(myst-nb runs each demo page through nbclient): running them a third time here would double
the suite's ~60 s of demos for no new failure mode, so this test only converts."""

import ast
import sys
from pathlib import Path

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "docs" / "_ext"))
import notebooks  # noqa: E402

DEMOS = sorted((REPO / "demos").glob("*.py"))
# jupytext imports jupyter_client, which announces its move to platformdirs
pytestmark = pytest.mark.filterwarnings("ignore:Jupyter is migrating its paths:DeprecationWarning")


@pytest.mark.parametrize("demo", DEMOS, ids=[d.stem for d in DEMOS])
def test_demo_converts_to_a_valid_notebook(demo: Path):
    nb = notebooks.demo_notebook(demo)          # validated against the nbformat schema
    assert nb.metadata["kernelspec"]["name"] == "python3"
    kinds = [c.cell_type for c in nb.cells]
    assert "code" in kinds and "markdown" in kinds
    first_md = next(c for c in nb.cells if c.cell_type == "markdown")
    assert first_md.source.startswith("# "), "a demo opens with its title (the page title)"
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    names = {n.id for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Name)}
    assert "__file__" not in names, "a notebook has no __file__: find the repository from fem_spin"


def test_physics_spec_in_the_docs_is_the_projects():
    """docs/theory/physics.md is the project's physics.md (../shared/physics.md beside the
    repository, which the docs build must not read): copy it again when it changes."""
    shared = REPO.parent / "shared" / "physics.md"
    if not shared.is_file():
        pytest.skip("no ../shared/physics.md beside the repository")
    assert (REPO / "docs" / "theory" / "physics.md").read_text() == shared.read_text()
