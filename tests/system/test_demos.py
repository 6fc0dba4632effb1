"""Every demo is also a test: it runs to the end and its own assertions hold, and it writes
only below the directory it is given ($FEM_SPIN_DEMO_DIR), never into the repository (whose
root they used to litter with results_demo/, mrfm_tip/, PNGs) or the working directory.

The test runs them short, as the dolfinx demos run on CI: it sets FEM_SPIN_DEMO_SHORT=1,
which each demo reads in one line at its top (``SHORT = ...``) to cut what dominates its
run; every physics assertion stays as it is (none needed a looser tolerance). A person
running a demo without the variable gets the full run. Wall time of ``time ./fem-env
python3 demos/X.py``, one demo at a time on this 2-core machine while others worked on it
(2-3 runs each; the spread is the load, worst for the 2-rank runs, whose mpirun start alone
takes ~5 s):

    demo                      full (s)     SHORT=1 (s)  what SHORT cuts
    dnp_buildup                4.0-4.2      3.1-3.4     P_e 0.1, 0.5, 0.99 (not 5 values): 9 runs, not 15
    dnp_cube_3d                4.4-4.9      4.3-4.5     nothing: stepping ~0.5 s, the rest imports/picture
    dnp_relaxation             3.3-4.2      2.8-3.0     P_e 0.5, 0.99 (not 3 values): 6 runs, not 9
    fit_dnp_buildup            4.1-4.3      4.3-4.4     data on a 2x (not 4x) finer bulk mesh, 20 points (not 40)
    fit_onsager_relaxation    14.1          9.2-9.5     data on a 2x (not 4x) finer mesh, 20 points (not 30) (load ~7)
    fit_hanle                 25.4         21.2        9 fields (not 25), data on a 35/250 nm (not 25/150) mesh
                                                       (measured at load average 7-10, user CPU 12.5 / 6.1 s)
    hanle                      4.4-4.6      4.0-4.3     13 fields, not 25 (time: imports, mesh, fit)
    mrfm_tip                  27.3-28.3     5.6-6.0     mesh 16-50 nm (not 8-30), t_end 0.1 s (not 0.5)
    nonlocal_spin_valve        4.6-4.9      4.0-4.1     4 electrode distances, not 7
    onsager_fig8               5.4-6.2      4.1-4.3     p0 0.3, 0.9, 0.99 (not 5 values): 9 runs, not 15
    rank_agreement            28.4-56       11.7-21.7   2 two-rank runs (not 3), no plots/pictures/fields
    speedup_in_a_box           2.5-2.7      2.5-2.6     nothing: stepping ~0.3 s, the rest imports/figure
    spin_absorption           34.2          7.9-9.0     one electrode distance (0.6 um), not five (cold mesh cache)
    spin_hall_nonlocal        18.8          8.2-8.6     boundary layers from 1 nm by 1.5 (not 0.5 nm by 1.4),
                                                       3 angles (not 6), each with m reversed (cold mesh cache)
    triplet_dnp_naphthalene    8.7-10.3     6.6-7.1     32 configurations (not 100) in the D0 estimate
    two_species_separation     8.2          5.5-11.5    3 FEM runs (not 7); the steady-state sweeps stay
    two_species_mrfm_tip      ~480 (niced) 14.8        mesh 30-100 nm (not 12-40), 2 3-D FEM runs (not 5)
                                                       to 30 s at tolerance 1e-2 (load average 6.5;
                                                       user CPU 6.3 s)
    sum                        ~113 (typ.)  ~60 (typ.)

About 2 s of each demo is importing dolfinx, fem_spin and matplotlib, so ~20 s of the sum is
the floor. The whole file (``xvfb-run -a python3 -m pytest tests/system/test_demos.py``, 12 tests):
50 s with the cuts before fit_dnp_buildup came (the per-test times match the table), so ~54 s
now, ~60 s with two_species_separation; before the cuts, about the full sum (not measured as a file).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, serial_only

pytestmark = serial_only()

DEMOS = sorted((REPO / "demos").glob("*.py"))

#: written by any Python or pytest run, not by a demo
_CACHES = {"__pycache__", ".pytest_cache", ".hypothesis", ".git"}
#: sources, which a demo never writes but colleagues editing the same checkout do
_SOURCES = (".py", ".md")


def repository_files() -> set[str]:
    """Every file of the checkout, ignored ones included (what ``git status --porcelain
    --untracked-files=all --ignored`` lists, without needing git, which the environment
    lacks), bytecode, tool caches and source files aside."""
    found = set()
    for root, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in _CACHES]
        found.update(os.path.relpath(os.path.join(root, f), REPO) for f in files
                     if not f.endswith(_SOURCES))
    return found


#: demos that start their own mpirun (run alone: Makefile test-serial)
_SPAWN_MPI = {"rank_agreement"}


@pytest.mark.parametrize("demo", [pytest.param(d, marks=pytest.mark.serial) if d.stem in _SPAWN_MPI else d
                                  for d in DEMOS], ids=[d.stem for d in DEMOS])
def test_demo_runs(demo: Path, tmp_path):
    out, cwd = tmp_path / "out", tmp_path / "cwd"
    cwd.mkdir()
    env = dict(os.environ, PYTHONPATH=str(REPO), FEM_SPIN_DEMO_DIR=str(out), FEM_SPIN_DEMO_SHORT="1")
    before = repository_files()
    res = subprocess.run([sys.executable, str(demo)], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert list(out.glob("*.png")), "a demo draws its result in $FEM_SPIN_DEMO_DIR"
    assert not any(cwd.iterdir()), f"wrote into its working directory: {sorted(os.listdir(cwd))}"
    new = sorted(repository_files() - before)
    assert not new, f"wrote into the repository (or someone else did meanwhile): {new[:20]}"


def test_every_demo_reads_the_short_switch():
    """The one line by which tests/system/test_demos.py shortens a demo is in every demo (a new demo
    without it would run at full length here)."""
    line = 'SHORT = os.environ.get("FEM_SPIN_DEMO_SHORT") == "1"'
    assert [d.name for d in DEMOS if line not in d.read_text()] == []
