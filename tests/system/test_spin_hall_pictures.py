"""Pictures of vector-spin valet_fert runs (issue 23, Observables): the three components of the
spin accumulation side by side and the streamlines of a current, written by ``fem-spin run``
for the SMR example (coarse mesh) and redrawn by ``fem-spin render``; not blank, and the
streamlines exist."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

from fem_spin.config import parse_config

REPO = Path(__file__).resolve().parents[2]


def _pyvista():
    from fem_spin.viz.render import RenderUnavailable, _pyvista

    try:
        return _pyvista()
    except RenderUnavailable as exc:
        pytest.skip(str(exc))


def _coloured_fraction(png: Path) -> float:
    """Fraction of the picture's pixels in colour (not white background, grey or black lines
    and text): a blank or failed picture has none."""
    from PIL import Image

    rgb = np.asarray(Image.open(png).convert("RGB")).astype(int)
    return float(((rgb.max(axis=-1) - rgb.min(axis=-1)) > 40).mean())


@pytest.fixture(scope="module")
def smr_run(tmp_path_factory):
    """examples/smr_pt_yig.toml at a coarse mesh, two magnetization directions, pictures on."""
    _pyvista()
    from fem_spin.simulation import run

    raw = tomllib.loads((REPO / "examples" / "smr_pt_yig.toml").read_text())
    raw["geometry"].update(mesh_size=20e-9, thickness_grading=1.3)
    raw["model"]["mixing_interfaces"]["interface"]["angles"] = [0, 90]
    raw["output"].update(plot=False, render=True, error_estimate=False)
    out = tmp_path_factory.mktemp("smr_pictures")
    return run(parse_config(raw, source=str(REPO / "examples" / "smr_pt_yig.toml")), output_dir=out, quiet=True)


def test_smr_example_writes_component_and_streamline_pictures(smr_run):
    components = smr_run / "spin_accumulation_components_3d.png"
    streamlines = smr_run / "spin_current_y_streamlines_3d.png"   # the example names spin_y
    for png in (smr_run / "spin_accumulation_3d.png", components, streamlines):
        assert png.exists(), png
    # three panels of a diverging map and three colour bars; the S_y and S_z panels are
    # coloured (S_x is ~1e-4 of S_y with m along x)
    assert _coloured_fraction(components) > 0.04
    assert _coloured_fraction(streamlines) > 0.01


def test_streamlines_exist_and_the_dominant_component_is_found(smr_run):
    from fem_spin.viz.spintronics import _read_snapshot, current_streamlines, dominant_spin_component

    grid, unit = _read_snapshot(smr_run, 0)
    assert unit == "nm"
    # m = x: the y spins of the spin Hall current are absorbed at the YIG; the z spins (flowing
    # to the side faces across the 40 nm width) carry the most spin current
    assert dominant_spin_component(grid) == "z"
    lines = current_streamlines(grid, "spin_current_y")
    assert lines.n_lines > 20 and lines.n_points > 100, lines
    # they stay in the film (5 nm thick, lengths in nm) and cross it: the y spins flow along z
    assert lines.bounds[4] > -1e-6 and lines.bounds[5] < 5 + 1e-6
    assert lines.bounds[5] - lines.bounds[4] > 4.0


def test_render_redraws_them_into_new_files(smr_run, capsys):
    from fem_spin.cli import main

    before = set(smr_run.iterdir())
    assert main(["render", str(smr_run), "--field", "charge_current"]) == 0
    new = {p.name for p in set(smr_run.iterdir()) - before}
    assert {"spin_accumulation_t0.png", "spin_accumulation_components_t0.png",
            "charge_current_streamlines_t0.png"} <= new, new
    assert _coloured_fraction(smr_run / "charge_current_streamlines_t0.png") > 0.005
