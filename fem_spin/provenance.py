"""What made a result: fem_spin's version, the git commit of the checkout it runs from and
the versions of the stack. ``fem-spin --version`` prints it, every summary.json records it
(``provenance``), ``fem-spin info`` shows the stack.

The commit is read from the ``.git`` files themselves (HEAD, loose refs, packed-refs; a
``git worktree``'s ``gitdir:`` file and ``commondir``), because the environment's chroot has
no ``git`` executable. Uncommitted changes to tracked files (``dirty``) are found the way git
finds them: the index's size and modification time of each file, and for a file whose
stat differs, its blob hash (so a fresh clone costs stat calls only). An installed copy
(site-packages, no checkout above it) reports the commit as "unknown".

Versions come from the installed distributions' metadata, or from a module already
imported: nothing is imported here, so ``fem-spin --version`` neither starts MPI nor loads
PETSc. The PETSc and MPI libraries themselves are added when the run has loaded them.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import struct
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

__all__ = ["STACK", "find_git_dir", "git_commit", "git_dirty", "package_version", "stack_versions",
           "provenance", "version_text"]

#: (module, distribution) of the libraries a result depends on
STACK = (("dolfinx", "fenics-dolfinx"), ("ufl", "fenics-ufl"), ("basix", "fenics-basix"),
         ("ffcx", "fenics-ffcx"), ("petsc4py", "petsc4py"), ("mpi4py", "mpi4py"),
         ("numpy", "numpy"), ("scipy", "scipy"), ("gmsh", "gmsh"), ("pyvista", "pyvista"),
         ("dolfinx_mpc", "dolfinx_mpc"), ("scifem", "scifem"), ("adios2", "adios2"))

UNKNOWN = "unknown"


# --------------------------------------------------------------------------- git
def find_git_dir(start: str | Path) -> tuple[Path, Path, Path] | None:
    """(work tree, git dir, common dir) of the checkout holding ``start``, or None. A
    worktree's ``.git`` is a file ``gitdir: PATH``; its refs live in the common dir."""
    here = Path(start).resolve()
    for top in (here, *here.parents):
        dot = top / ".git"
        if dot.is_dir():
            return top, dot, dot
        if dot.is_file():
            try:
                text = dot.read_text().strip()
            except OSError:
                return None
            if not text.startswith("gitdir:"):
                return None
            git_dir = (top / text.split(":", 1)[1].strip()).resolve()
            common = git_dir
            if (git_dir / "commondir").is_file():
                common = (git_dir / (git_dir / "commondir").read_text().strip()).resolve()
            return top, git_dir, common
    return None


def _resolve_ref(git_dir: Path, common: Path, ref: str, depth: int = 0) -> str | None:
    if depth > 5:
        return None
    for base in (git_dir, common):
        path = base / ref
        if path.is_file():
            text = path.read_text().strip()
            if text.startswith("ref:"):
                return _resolve_ref(git_dir, common, text[4:].strip(), depth + 1)
            return text or None
    packed = common / "packed-refs"
    if packed.is_file():
        for line in packed.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1] == ref and not line.startswith(("#", "^")):
                return parts[0]
    return None


def git_commit(start: str | Path | None = None) -> str:
    """The commit checked out where ``start`` (default: this package) lies, or "unknown"."""
    found = find_git_dir(start or Path(__file__).parent)
    if found is None:
        return UNKNOWN
    _, git_dir, common = found
    try:
        head = (git_dir / "HEAD").read_text().strip()
        commit = _resolve_ref(git_dir, common, head[4:].strip()) if head.startswith("ref:") else head
    except (OSError, UnicodeDecodeError):
        return UNKNOWN
    if commit and len(commit) == 40 and all(c in "0123456789abcdef" for c in commit):
        return commit
    return UNKNOWN


def _index_entries(index: Path):
    """(path, size, mtime_s, mtime_ns, sha1 hex) of the entries of a git index (versions 2
    and 3; version 4 compresses paths and is not read: None)."""
    data = index.read_bytes()
    if data[:4] != b"DIRC":
        return None
    ver, count = struct.unpack(">II", data[4:12])
    if ver not in (2, 3):
        return None
    entries, pos = [], 12
    for _ in range(count):
        (_, _, mtime_s, mtime_ns, _, _, mode, _, _, size) = struct.unpack(">10I", data[pos:pos + 40])
        sha = data[pos + 40:pos + 60].hex()
        flags = struct.unpack(">H", data[pos + 60:pos + 62])[0]
        head = 62
        if ver == 3 and flags & 0x4000:
            head += 2   # extended flags
        end = data.index(b"\0", pos + head)
        name = data[pos + head:end].decode("utf-8", "surrogateescape")
        length = head + len(name.encode("utf-8", "surrogateescape"))
        pos += (length + 8) // 8 * 8    # 1-8 NULs pad each entry to a multiple of 8
        if mode >> 12 == 0b1110:       # a submodule (gitlink): not a file here
            continue
        entries.append((name, size, mtime_s, mtime_ns, sha, mode))
    return entries


def _blob_sha(path: Path, mode: int) -> str:
    if mode >> 12 == 0b1010:   # symbolic link: git hashes the target path
        content = os.readlink(path).encode()
    else:
        content = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def git_dirty(start: str | Path | None = None) -> bool | None:
    """Whether tracked files differ from the index (uncommitted changes; untracked files do
    not count, as for ``git describe --dirty``); None when unknown (no checkout, an index
    this reader does not know). Changes staged but not committed are not seen."""
    found = find_git_dir(start or Path(__file__).parent)
    if found is None:
        return None
    top, git_dir, _ = found
    try:
        entries = _index_entries(git_dir / "index")
    except (OSError, struct.error, ValueError):
        return None
    if entries is None:
        return None
    for name, size, mtime_s, mtime_ns, sha, mode in entries:
        path = top / name
        try:
            st = path.lstat()
        except FileNotFoundError:
            return True
        except OSError:
            return None
        if st.st_size == size and divmod(st.st_mtime_ns, 10**9) == (mtime_s, mtime_ns):
            continue
        try:
            if _blob_sha(path, mode) != sha:
                return True
        except OSError:
            return None
    return False


# --------------------------------------------------------------------------- versions
def package_version(module: str, dist: str | None = None) -> str:
    """The version of ``module`` as loaded (if imported) or as installed (metadata), without
    importing it: "not installed" when there is neither."""
    loaded = sys.modules.get(module)
    if loaded is not None and isinstance(getattr(loaded, "__version__", None), str):
        return loaded.__version__
    try:
        return version(dist or module)
    except PackageNotFoundError:
        pass
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    return UNKNOWN if found else "not installed"


def stack_versions() -> dict[str, str]:
    """The versions of the libraries in :data:`STACK`, Python's, and (when the process has
    loaded them) the PETSc and MPI libraries'."""
    out = {module: package_version(module, dist) for module, dist in STACK}
    out["python"] = sys.version.split()[0]
    petsc = sys.modules.get("petsc4py.PETSc")
    if petsc is not None:
        out["PETSc"] = ".".join(map(str, petsc.Sys.getVersion()))
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is not None:
        try:
            out["MPI library"] = mpi.Get_library_version().splitlines()[0].replace("\x00", "").strip()
        except Exception:   # noqa: BLE001 - an MPI that cannot say is recorded as such
            out["MPI library"] = UNKNOWN
    return out


@functools.lru_cache(maxsize=1)
def _checkout() -> tuple[str, bool | None]:
    # once per process: a run's files are what this process's checkout made
    return git_commit(), git_dirty()


def provenance() -> dict:
    """What summary.json records: ``{"fem_spin": version, "commit": sha or "unknown",
    "dirty": bool or None, "stack": {library: version}}``."""
    from fem_spin import __version__

    commit, dirty = _checkout()
    return {"fem_spin": __version__, "commit": commit, "dirty": dirty, "stack": stack_versions()}


def version_text() -> str:
    """``fem-spin --version``: the version, the commit (with "+ uncommitted changes" when
    dirty) and the stack, one per line."""
    info = provenance()
    commit = info["commit"] + (" (with uncommitted changes)" if info["dirty"] else "")
    lines = [f"fem_spin {info['fem_spin']}", f"commit {commit}"]
    stack = info["stack"]
    width = max(map(len, stack))
    lines += [f"  {name:<{width}}  {value}" for name, value in stack.items()]
    return "\n".join(lines)
