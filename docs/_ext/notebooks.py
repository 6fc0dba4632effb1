"""Every demo as a Jupyter notebook: ``make notebooks`` (``python3 docs/_ext/notebooks.py OUTDIR``).

The demos are jupytext light-format scripts (``demos/*.py``); each becomes ``OUTDIR/<name>.ipynb``
with the python3 kernel, validated against the notebook schema (nbformat). With ``--execute``
each notebook is also run with nbclient on the demo's CI-short setting
(``FEM_SPIN_DEMO_SHORT=1``, outputs to ``OUTDIR/<name>_outputs/``) and saved with its outputs.

Only files this script writes (``OUTDIR/<demo>.ipynb`` and the ``*_outputs`` directories of
``--execute``) are replaced; nothing else in OUTDIR is touched.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def demo_notebook(demo: Path):
    """The notebook of one demo (nbformat v4), validated."""
    import jupytext
    import nbformat

    notebook = jupytext.read(demo, fmt="py:light")
    notebook.metadata["kernelspec"] = dict(KERNELSPEC)
    notebook.metadata.setdefault("jupytext", {})["source"] = f"demos/{demo.name}"
    nbformat.validate(notebook)
    return notebook


def execute(notebook, outputs: Path, timeout: int) -> None:
    """Run ``notebook`` in place with nbclient, the demo on its CI-short setting."""
    from nbclient import NotebookClient

    outputs.mkdir(parents=True, exist_ok=True)
    saved = {k: os.environ.get(k) for k in ("FEM_SPIN_DEMO_SHORT", "FEM_SPIN_DEMO_DIR")}
    os.environ.update(FEM_SPIN_DEMO_SHORT="1", FEM_SPIN_DEMO_DIR=str(outputs))
    try:
        NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(outputs)}}).execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--execute", action="store_true", help="run each notebook (CI-short setting)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell (with --execute)")
    parser.add_argument("demos", nargs="*", help="demo names (default: all)")
    args = parser.parse_args(argv)
    import nbformat

    demos = sorted((REPO / "demos").glob("*.py"))
    if args.demos:
        demos = [d for d in demos if d.stem in args.demos]
    args.outdir.mkdir(parents=True, exist_ok=True)
    for demo in demos:
        start = time.perf_counter()
        notebook = demo_notebook(demo)
        if args.execute:
            execute(notebook, args.outdir / f"{demo.stem}_outputs", args.timeout)
        target = args.outdir / f"{demo.stem}.ipynb"
        nbformat.write(notebook, target)
        print(f"{target}" + (f"  (executed in {time.perf_counter() - start:.1f} s)" if args.execute else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
