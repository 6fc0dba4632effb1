"""The global fit of examples/fit_dnp_global (three radical concentrations, shared D0 and k_x,
one closed-form scale per dataset) against the three single-curve fits of the same data
(issue 21: "the global fit of three concentrations with shared D0 beats three separate fits'
precision"). About 35 s on one core (four fits, forward sensitivities)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from fem_spin.fitting import load_fit_config
from fem_spin.fitting.driver import fit

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fit_dnp_global" / "fit.toml"
TRUTH = {"model.D0": 5e-16, "model.exchange_rate": 5e3}
PAIR = {"model.D0", "model.exchange_rate"}


def _rho(result) -> float:
    return abs(float(result.statistics.correlation[0, 1]))


def test_global_fit_beats_single_curve_precision_and_reduces_the_degeneracy():
    config = load_fit_config(EXAMPLE)
    both = fit(config)
    assert both.converged and both.jacobian["columns"] == {k: "sensitivities" for k in TRUTH}
    singles = {ds.name: fit(dataclasses.replace(config, datasets=(dataclasses.replace(ds, index=0),)))
               for ds in config.datasets}
    for key, truth in TRUTH.items():
        estimate = both[key]
        assert abs(estimate.value - truth) < 2 * estimate.standard_error, (key, estimate)
        # smaller standard error than every curve alone
        for name, single in singles.items():
            assert estimate.standard_error < single[key].standard_error, (key, name)
        best_single = min(s[key].relative_error for s in singles.values())
        assert estimate.relative_error < 0.75 * best_single, (key, estimate.relative_error, best_single)
    # the low-concentration curves alone cannot separate D0 from k_x (flagged); together the
    # correlation is smaller than every flagged single curve's and no longer flagged
    flagged = [s for s in singles.values() if any({a, b} == PAIR for a, b, _ in s.statistics.degenerate)]
    assert len(flagged) >= 2
    assert all(_rho(both) < _rho(s) - 0.03 for s in flagged), [_rho(s) for s in singles.values()]
    assert not any({a, b} == PAIR for a, b, _ in both.statistics.degenerate)
