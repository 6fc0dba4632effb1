#!/usr/bin/env bash
# `pip install .` into a fresh virtual environment on top of an environment that already
# has dolfinx (system site packages), without network or build isolation; then
# `fem-spin --version` and `import fem_spin` from outside the checkout, from the installed
# copy, with its package data. Run inside the environment: ./fem-env bash .ci/check_install.sh
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd -P)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# pip builds in the source tree (build/, *.egg-info): build a copy, not the checkout
mkdir "$work/src"
(cd "$repo" && tar --exclude=__pycache__ -cf - pyproject.toml README.md LICENSE fem_spin) | tar -xf - -C "$work/src"
python3 -m venv --system-site-packages "$work/venv"
cd "$work"
unset PYTHONPATH   # ./fem-env puts the checkout first; the installed copy must be the one found
"$work/venv/bin/python" -m pip install --quiet --no-deps --no-build-isolation --no-index "$work/src"
PATH="$work/venv/bin:$PATH" fem-spin --version | tee "$work/version.txt"
grep -q "^fem_spin $(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/pyproject.toml")$" "$work/version.txt"
grep -q "^commit unknown" "$work/version.txt"          # installed, not a checkout
"$work/venv/bin/python" - "$work" <<'PY'
import sys
from importlib import resources
from pathlib import Path

import fem_spin

where = Path(fem_spin.__file__).resolve()
assert str(where).startswith(str(Path(sys.argv[1]).resolve() / "venv")), f"imported from {where}"
files = resources.files("fem_spin")
for name in ("configs/default.toml", "presets/naphthalene_pentacene.toml", "data/naphthalene_model.cif"):
    assert (files / name).is_file(), f"package data missing from the install: {name}"
print(f"check_install: fem_spin {fem_spin.__version__} installed and importable from {where.parent}")
PY
