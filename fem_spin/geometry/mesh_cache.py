"""On-disk cache of gmsh meshes: a second run of the same geometry skips gmsh.

What is stored is what ``dolfinx.io.gmshio.model_to_mesh`` takes from gmsh on rank 0 --
node coordinates, cells and the marked facets (already in dolfinx's node order), their
physical tags and the group names -- as plain NumPy arrays, plus the coarse meshes of the
geometric multigrid hierarchy (solvers/multigrid.py). A cached run hands exactly the same
arrays to ``dolfinx.mesh.create_mesh`` as an uncached one (geometry/base.py
``_mesh_from_arrays``), so the mesh, its partition, the DOF numbering and every result are
the same bit for bit, on any number of ranks (the entry does not depend on the rank count:
rank 0 reads it where it would have run gmsh).

Besides meshes the cache holds what a run derives from a mesh and would otherwise compute
again: the cell partition of a mesh on more than one rank (geometry/base.py), the periodic
constraint's arrays (solvers/periodic.py) and the multigrid transfer operators
(solvers/multigrid.py). Their keys (:func:`content_key`) are SHA-256 digests of every input
they were computed from -- the mesh key and rank count for a partition; every rank's
coordinates, cell maps and dof layout for a constraint; coarse meshes, fine points and rows
for the transfers -- so a stale entry is never found, and a cached run computes the same
numbers as an uncached one.

Location: ``$FEM_SPIN_MESH_CACHE`` if set, else ``$XDG_CACHE_HOME/fem_spin/meshes`` (default
``~/.cache/fem_spin/meshes``). ``FEM_SPIN_MESH_CACHE=off`` (or ``fem-spin --no-mesh-cache``)
disables it: every run meshes with gmsh and nothing is read or written.

Key: SHA-256 of the geometry's type, all its resolved parameters (the dataclass's fields
and the attributes derived from them, e.g. ``electron_density``), its length unit, the
builder function, the kind of mesh (``mesh`` or a multigrid ``coarse`` level with its size
factor), :data:`CACHE_VERSION`, the gmsh, dolfinx and NumPy versions and the source text of
the builder's module, ``geometry/base.py`` and this module: editing a builder invalidates
its entries without anyone remembering to bump a number.

An entry is a directory ``<key>/`` with ``arrays.npz``, ``meta.json`` and ``manifest.json``
(size and SHA-256 of the other two, written last). It is written by rank 0 into a
temporary directory beside it and renamed into place, so a reader never sees half an
entry and two runs writing the same entry at once both finish (the second rename fails
and that run removes its own temporary directory). Reading verifies the manifest first; a
damaged entry is never trusted: it is renamed aside (``<key>.damaged-<pid>``, not deleted:
fem_spin deletes nothing it cannot prove it made) and the mesh is rebuilt and stored again.
Writing needs the entry's size plus a reserve of free space; a cache that cannot be
written (read-only, full) only costs the next run its gmsh time: a one-line warning, the
run goes on.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import sys
import uuid
from pathlib import Path

import numpy as np

from fem_spin.io.checkpoint import file_sha256

__all__ = ["CACHE_VERSION", "ENV", "cache_root", "enabled", "disable", "entry_key", "content_key",
           "array_digest", "load", "store", "MANIFEST"]

#: bump when the stored form or what it means changes
CACHE_VERSION = 1
ENV = "FEM_SPIN_MESH_CACHE"
MANIFEST = "manifest.json"
_OFF = {"off", "0", "false", "no", "none", "disabled"}
#: free bytes a cache write leaves on the file system besides the entry itself
RESERVE_BYTES = 64 << 20


def cache_root() -> Path | None:
    """The cache directory, or None when the cache is disabled."""
    value = os.environ.get(ENV)
    if value is not None:
        if value.strip().lower() in _OFF or not value.strip():
            return None
        return Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fem_spin" / "meshes"


def enabled() -> bool:
    return cache_root() is not None


def disable() -> None:
    """Disable the cache for this process and the processes it starts (``--no-mesh-cache``)."""
    os.environ[ENV] = "off"


def _warn(message: str) -> None:
    print(f"fem-spin: warning: mesh cache: {message}", file=sys.stderr, flush=True)


_SOURCE_DIGESTS: dict[str, str] = {}


def _source_digest(module_name: str) -> str:
    if module_name not in _SOURCE_DIGESTS:
        module = sys.modules.get(module_name)
        try:
            text = inspect.getsource(module) if module is not None else module_name
        except (OSError, TypeError):
            text = module_name
        _SOURCE_DIGESTS[module_name] = hashlib.sha256(text.encode()).hexdigest()
    return _SOURCE_DIGESTS[module_name]


_GMSH_VERSION: list[str] = []


def gmsh_version() -> str:
    """gmsh's version, read from its Python module's source (``GMSH_API_VERSION = "x.y.z"``)
    without importing it: loading libgmsh costs a cached run 0.2-0.3 s. Falls back to
    ``gmsh.__version__`` where the source does not say it plainly."""
    if not _GMSH_VERSION:
        import importlib.util
        import re

        version = None
        try:
            spec = importlib.util.find_spec("gmsh")
            if spec is not None and spec.origin and spec.origin.endswith(".py"):
                text = Path(spec.origin).read_text(errors="replace")
                found = re.findall(r"^GMSH_API_VERSION\s*=\s*\"([^\"]+)\"\s*$", text, re.M)
                if len(found) == 1 and re.search(r"^__version__\s*=\s*GMSH_API_VERSION\s*$", text, re.M):
                    version = found[0]
        except (OSError, ImportError, ValueError):
            version = None
        if version is None:
            import gmsh

            version = gmsh.__version__
        _GMSH_VERSION.append(version)
    return _GMSH_VERSION[0]


def _describe(value):
    """A JSON-able, exact description of a parameter value (floats by repr: all digits)."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (tuple, list)):
        return [_describe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _describe(v) for k, v in sorted(value.items())}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return repr(value)


def entry_key(params, build, unit: float, kind: str) -> str:
    """The cache key of the mesh ``build(model, params, unit)`` makes (``kind``: "mesh", or
    e.g. "coarse:4" for a multigrid level meshed at 4x the element size)."""
    import dolfinx

    described = {
        "version": CACHE_VERSION,
        "kind": kind,
        "type": f"{type(params).__module__}.{type(params).__qualname__}",
        # the fields and what __post_init__ derived from them (object.__setattr__)
        "params": {k: _describe(v) for k, v in sorted(vars(params).items())},
        "unit": repr(float(unit)),
        "builder": f"{build.__module__}.{build.__qualname__}",
        "gmsh": gmsh_version(),
        "dolfinx": dolfinx.__version__,
        "numpy": np.__version__,
        "source": [_source_digest(m) for m in sorted({build.__module__, type(params).__module__,
                                                      "fem_spin.geometry.base", __name__})],
    }
    text = json.dumps(described, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def array_digest(*arrays) -> str:
    """SHA-256 of arrays' dtypes, shapes and bytes (C order): what a derived entry was
    computed from (:func:`content_key`)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.view(np.uint8).reshape(-1) if a.size else b"")
    return h.hexdigest()


def content_key(kind: str, description: dict, digests, modules=()) -> str:
    """The key of an entry derived from a mesh (multigrid transfers, periodic constraints):
    ``kind``, a JSON-able ``description`` of its parameters, the :func:`array_digest`\\ s of
    every input it was computed from (``digests``: e.g. one per rank, so the rank count and
    the partition are part of it), the source of ``modules`` and of this module, and the
    library versions. A stale entry cannot be found: any change of an input is a new key."""
    import dolfinx

    described = {
        "version": CACHE_VERSION,
        "kind": kind,
        "description": _describe(description),
        "inputs": list(digests),
        "dolfinx": dolfinx.__version__,
        "numpy": np.__version__,
        "source": [_source_digest(m) for m in sorted({*modules, __name__})],
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


def _verify(entry: Path) -> str | None:
    """None if every file of ``entry`` matches its manifest, else what is wrong."""
    try:
        manifest = json.loads((entry / MANIFEST).read_text())
        files = manifest["files"]
        if set(files) != {"arrays.npz", "meta.json"}:
            return "manifest lists other files"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"manifest unreadable ({type(exc).__name__})"
    for name, want in files.items():
        path = entry / name
        try:
            if path.stat().st_size != want["size"]:
                return f"{name}: wrong size"
            if file_sha256(path) != want["sha256"]:
                return f"{name}: checksum differs"
        except (OSError, KeyError, TypeError):
            return f"{name}: missing"
    return None


def load(key: str) -> tuple[dict[str, np.ndarray], dict] | None:
    """(arrays, meta) of a verified entry, or None (disabled, absent, or damaged: a damaged
    entry is moved aside with a warning). Call on one rank."""
    root = cache_root()
    if root is None:
        return None
    entry = root / key
    if not entry.is_dir():
        return None
    problem = _verify(entry)
    if problem is None:
        try:
            meta = json.loads((entry / "meta.json").read_text())
            with np.load(entry / "arrays.npz", allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
            if meta.get("key") == key:
                return arrays, meta
            problem = "meta.json is for another key"
        except (OSError, ValueError, KeyError) as exc:
            problem = f"unreadable ({type(exc).__name__})"
    aside = root / f"{key}.damaged-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        entry.rename(aside)
        _warn(f"{entry}: {problem}; ignored and moved to {aside.name}, meshing again")
    except OSError:
        _warn(f"{entry}: {problem}; ignored, meshing again")
    return None


def store(key: str, arrays: dict[str, np.ndarray], meta: dict) -> Path | None:
    """Write an entry atomically (call on one rank); returns its path, or None when the
    cache is disabled or cannot be written (a warning says why; the run goes on)."""
    from fem_spin.io.outputs import _free_bytes

    root = cache_root()
    if root is None:
        return None
    entry = root / key
    if entry.is_dir():
        return entry
    tmp = root / f".tmp-{key[:16]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    created = False
    try:
        root.mkdir(parents=True, exist_ok=True)
        needed = sum(a.nbytes for a in arrays.values()) + (1 << 20)
        if _free_bytes(root) < needed + RESERVE_BYTES:
            _warn(f"not enough free space in {root} for a {needed / 1e6:.3g} MB entry; not stored")
            return None
        tmp.mkdir()
        created = True
        np.savez(tmp / "arrays.npz", **arrays)
        (tmp / "meta.json").write_text(json.dumps({**meta, "key": key}, indent=1) + "\n")
        files = {name: {"size": (tmp / name).stat().st_size, "sha256": file_sha256(tmp / name)}
                 for name in ("arrays.npz", "meta.json")}
        with open(tmp / MANIFEST, "w") as f:
            f.write(json.dumps({"files": files}, indent=1) + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            tmp.rename(entry)
        except OSError:
            if entry.is_dir():        # another run stored the same entry first: keep theirs
                shutil.rmtree(tmp, ignore_errors=True)
                return entry
            raise
        return entry
    except OSError as exc:
        _warn(f"cannot write to {root} ({exc.strerror or exc}); not stored")
        if created:
            shutil.rmtree(tmp, ignore_errors=True)    # our own temporary directory only
        return None
