"""The fit-file reference (docs/fitting.md) names every key the fit-file parser accepts, so the
hand-written tables cannot drift from fem_spin/fitting/config.py (the run-file keys are
generated from their schema instead: tests/unit/test_config_reference.py)."""

from __future__ import annotations

import dataclasses
import re

from conftest import REPO
from fem_spin.fitting import config as fit_config


def _documented_keys() -> set[str]:
    text = (REPO / "docs" / "fitting.md").read_text()
    # the first cell of every table row: `key` or `key`, `key2`
    keys = set()
    for line in text.splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            keys.update(re.findall(r"`([A-Za-z_]+)`", first_cell))
    return keys


def test_every_fit_settings_key_is_in_the_reference():
    documented = _documented_keys()
    missing = {f.name for f in dataclasses.fields(fit_config.FitSettings)} - documented
    assert not missing, f"[fit] keys missing from docs/fitting.md: {sorted(missing)}"


def test_every_dataset_and_parameter_key_is_in_the_reference():
    documented = _documented_keys()
    missing = (set(fit_config._DATASET_KEYS) | set(fit_config._PARAMETER_KEYS)) - documented
    assert not missing, f"[[dataset]]/[[parameter]] keys missing from docs/fitting.md: {sorted(missing)}"
