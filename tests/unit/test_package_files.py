"""What a scientific package carries (issue 24): LICENSE, CITATION.cff and CHANGELOG.md agree
with pyproject.toml; the package data is declared. (`pip install .` itself is checked in CI by
.ci/check_install.sh, in a fresh virtual environment.)"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

import fem_spin

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def test_license_is_the_declared_mit():
    text = (REPO / "LICENSE").read_text()
    assert text.startswith("MIT License") and "the fem_spin developers" in text
    assert PYPROJECT["project"]["license"]["text"] == "MIT"


def test_citation_file_is_cff_1_2_and_matches_the_version():
    yaml = pytest.importorskip("yaml")
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0"
    for key in ("message", "title", "authors", "version", "license", "type"):   # CFF 1.2.0
        assert cff.get(key), key
    assert str(cff["version"]) == PYPROJECT["project"]["version"] == fem_spin.__version__
    assert cff["authors"] == [{"name": "the fem_spin developers"}] and cff["license"] == "MIT"
    preferred = cff["preferred-citation"]
    assert preferred["type"] == "software" and str(preferred["version"]) == fem_spin.__version__
    assert "repository-code" not in cff           # not known: left out rather than guessed


def test_changelog_keeps_a_changelog():
    text = (REPO / "CHANGELOG.md").read_text()
    sections = re.findall(r"^## \[([^\]]+)\]", text, flags=re.M)
    assert sections[0] == "Unreleased" and fem_spin.__version__ in sections
    assert re.search(r"^### (Added|Changed|Fixed|Removed)", text, flags=re.M)


def test_package_data_is_declared():
    data = PYPROJECT["tool"]["setuptools"]["package-data"]["fem_spin"]
    package = REPO / "fem_spin"
    shipped = {p.relative_to(package).as_posix() for p in package.rglob("*")
               if p.is_file() and p.suffix not in (".py", ".pyc")}
    for path in shipped:
        assert any(Path(path).match(pattern) for pattern in data), f"{path} is not package data"
