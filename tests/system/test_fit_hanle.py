"""The Hanle fit (observation ``hanle``, one forward run per field, Jacobian by the valet_fert
forward sensitivities): recovery of the Al channel's spin lifetime tau_sf and the barriers'
polarization P_J (one parameter for both, ``also``) from the example's synthetic R_NL(B)
(examples/fit_hanle: 13 fields from -300 to 300 mT, fine 25/150 nm mesh, a 0.5 mOhm baseline,
seeded noise of 0.5 mOhm) within two standard errors, the baseline as the closed-form offset,
and ``fem-spin fit`` writing its files. 78 stationary runs of the coarse (50/400 nm) device
(6 evaluations x 13 fields; no finite-difference runs), ~9 s."""

from __future__ import annotations

import json
import math
from pathlib import Path

import fem_spin

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fit_hanle"
TRUTH = {"model.regions.N.spin_lifetime": 120e-12, "model.regions.barrier1.polarization": 0.28}
OFFSET = 0.5e-3


def test_recovers_tau_sf_and_P_J_from_a_hanle_curve(tmp_path):
    result = fem_spin.fit(EXAMPLE / "fit.toml", directory=tmp_path)
    assert result.converged
    assert result.jacobian["columns"] == {k: "sensitivities" for k in TRUTH}
    for key, true in TRUTH.items():
        e = result[key]
        deviation = math.log(e.value / true) / e.relative_error if e.scale == "log" \
            else (e.value - true) / e.standard_error
        print(f"{key}: {e.value:.5g} +- {e.standard_error:.2g} (truth {true:g}; {deviation:+.2f} SE)")
        assert abs(deviation) < 2, (key, e)
        assert e.relative_error < 0.02, (key, e)   # a non-empty test: both to better than 2 %
    d = result.datasets["hanle"]
    offset = d.nuisance["offset"]
    print(f"offset {offset.value * 1e3:.3f} +- {offset.standard_error * 1e3:.3f} mOhm (truth {OFFSET * 1e3} mOhm)")
    # the nuisance carries the coarse mesh's error in the tails (~0.1-0.2 mOhm, about one SE): 3 SE
    assert abs(offset.value - OFFSET) < 3 * offset.standard_error
    assert 0.2 < result.statistics.reduced_chi2 < 3
    assert d.forward_steps == 13 and d.x_name == "field"
    out = tmp_path / "hanle_fit"
    assert (out / "hanle_fit.png").exists()
    assert (out / "hanle_fit.csv").read_text().startswith("field_si,value,sigma,model")
    saved = json.loads((out / "fit.json").read_text())
    assert saved["converged"] and min(saved["datasets"]["hanle"]["field_si"]) == -0.3
