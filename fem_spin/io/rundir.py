"""Run directories as owned objects: a marker says fem_spin made it, a lock says a run is
writing it, and a new run is built beside the old one and swapped in only once its setup
has succeeded.

Life of ``fem-spin run`` into ``<parent>/<name>``::

    stage()    checks (never replaces a file, a directory fem_spin did not make, or a run in
               progress), then creates the hidden sibling ``.<name>.fem_spin-new-<token>``
               holding the marker and the lock
    ...        the caller sets the run up (mesh, forms, solver) writing into nothing
    commit()   swaps the staged directory in; an old run directory (only with overwrite) is
               moved aside and deleted after the swap
    abort()    setup failed: the staged directory goes, the old results stay byte-identical
    release()  the run has finished or stopped: the lock goes

Everything is done by rank 0; errors are broadcast so that every rank raises the same
exception.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import socket
import time
from pathlib import Path

from mpi4py import MPI

__all__ = ["MARKER", "LOCK", "RunDirectory", "RunDirectoryExists", "RunDirectoryLocked", "RunLock",
           "is_run_directory", "locked", "write_marker", "read_marker", "update_marker",
           "config_digest", "changed_keys", "inventory", "foreign_files"]

#: present in every directory fem_spin made for a run; ``--overwrite`` replaces nothing else
MARKER = ".fem_spin_run.json"
#: present while a run (or a resume) writes into the directory: host, pid, start time
LOCK = ".fem_spin.lock"


class RunDirectoryExists(FileExistsError):
    """The run directory cannot be used as asked (results exist, not ours, not writable)."""


class RunDirectoryLocked(RunDirectoryExists):
    """Another fem_spin process is writing into the run directory."""


def is_run_directory(path: str | Path) -> bool:
    """Whether fem_spin made ``path``: its marker is there and is a marker (a JSON record
    with the fem_spin version and the run's name), not merely a file of that name."""
    return read_marker(Path(path)) is not None


def write_marker(directory: Path, **info) -> None:
    from fem_spin import __version__

    data = {"fem_spin": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **info}
    (directory / MARKER).write_text(json.dumps(data, indent=1) + "\n")


def read_marker(directory: Path) -> dict | None:
    """The marker's record, or None when there is none, or it is not one fem_spin wrote."""
    path = Path(directory) / MARKER
    try:
        if path.is_symlink() or not path.is_file():
            return None
        data = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("fem_spin"), str) \
            or not isinstance(data.get("name"), str):
        return None
    return data


def update_marker(directory: Path, **fields) -> None:
    """Add or replace fields of an existing marker (rank 0)."""
    data = read_marker(directory) or {}
    data.update(fields)
    tmp = Path(directory) / f"{MARKER}.tmp"
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(Path(directory) / MARKER)


#: what a run writes, for a run directory without an inventory (a run killed before it
#: could record one): anything else in it is the user's
_OUTPUT_SUFFIXES = (".csv", ".png", ".json", ".toml", ".pvd", ".pvtu", ".vtu")


def _ours_by_name(relative: str) -> bool:
    parts = Path(relative).parts
    if parts[0].startswith(("checkpoint", ".fem_spin")) or any(p.endswith(".bp") for p in parts[:-1]):
        return True
    return Path(relative).suffix in _OUTPUT_SUFFIXES or Path(relative).name.startswith(".")


def _written_by_any_run(relative: str) -> bool:
    """Files every run writes, by name: field files (VTK pieces, VTX directories), the CSV
    tables, summary and config, and fem_spin's hidden temporaries."""
    parts, name = Path(relative).parts, Path(relative).name
    field_file = name.startswith("fields") and Path(name).suffix in (".pvd", ".pvtu", ".vtu")
    in_vtx = any(p.startswith("fields") and p.endswith(".bp") for p in parts[:-1])
    return (field_file or in_vtx or name.startswith(".")
            or name in ("timeseries.csv", "results.csv", "profiles.csv", "summary.json",
                        "config.toml"))


def inventory(directory: Path) -> list[str]:
    """Every file below ``directory`` (relative paths), as recorded in the marker at the end
    of a run: what ``--overwrite`` may delete."""
    directory = Path(directory)
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*")
                  if p.is_file() or p.is_symlink())


def foreign_files(directory: Path) -> list[str]:
    """Files in a run directory that fem_spin did not write (a notebook, a figure added by
    hand): not in the marker's inventory, or, without one, not named like a run's output."""
    directory = Path(directory)
    marker = read_marker(directory) or {}
    recorded = marker.get("files")
    recorded = set(recorded) if isinstance(recorded, list) else None
    foreign = []
    for relative in inventory(directory):
        if Path(relative).parts[0].startswith(("checkpoint", ".fem_spin")):
            continue   # rewritten by every checkpoint, and the marker and lock themselves
        if recorded is not None and (relative in recorded or _written_by_any_run(relative)):
            continue   # (a run killed after its inventory still wrote these)
        if recorded is None and _ours_by_name(relative):
            continue
        foreign.append(relative)
    return foreign


def config_digest(raw: dict) -> str:
    """SHA-256 of a configuration's content (key order, comments and formatting do not
    count): what ``fem-spin resume`` compares to detect an edited config.toml."""
    import hashlib

    text = json.dumps(raw, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def changed_keys(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two configurations (added and removed too)."""
    keys = []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key, "<absent>"), new.get(key, "<absent>")
        name = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            keys += changed_keys(a, b, f"{name}.")
        elif a != b:
            keys.append(name)
    return keys



class RunLock:
    """``<directory>/.fem_spin.lock``: an exclusive ``flock`` held for the whole run, with the
    holder's host, pid and start time written in it for the message. The kernel drops the
    lock when its process ends, however it ends, so a lock left by a killed run is free
    (its stale text is overwritten); no pid guessing, and no window in which a half-written
    lock file looks stale. After locking, the file is checked to still be the one at the
    path (another process may have released and removed it meanwhile)."""

    def __init__(self, directory: str | Path):
        self.path = Path(directory) / LOCK
        self.fd: int | None = None

    @property
    def held(self) -> bool:
        return self.fd is not None

    @staticmethod
    def _record(fd: int) -> dict:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            info = json.loads(os.read(fd, 4096).decode() or "{}")
            return info if isinstance(info, dict) else {}
        except (OSError, ValueError, UnicodeDecodeError):
            return {}

    def _open(self, create: bool) -> int | None:
        flags = os.O_RDWR | os.O_NOFOLLOW | (os.O_CREAT if create else 0)
        try:
            return os.open(self.path, flags, 0o644)
        except FileNotFoundError:
            return None
        except OSError as exc:   # a directory or a symbolic link in its place, no permission
            raise RunDirectoryLocked(f"{self.path}: cannot be used as the run's lock "
                                     f"({exc.strerror}); remove it") from None

    def holder(self) -> dict | None:
        """The record of a live holder, or None when nobody holds the lock."""
        fd = self._open(create=False)
        if fd is None:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return self._record(fd) or {"pid": "?", "host": "?"}
        except OSError:
            return None   # no flock on this file system: nothing to go by
        finally:
            os.close(fd)   # closing also drops a lock taken just to test
        return None

    def describe(self, info: dict) -> str:
        return (f"is in use by another fem-spin process (pid {info.get('pid')} on "
                f"{info.get('host')}, since {info.get('started', '?')}); wait for it to end")

    def acquire(self) -> None:
        for _ in range(20):
            fd = self._open(create=True)
            if fd is None:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                info = self._record(fd) or {"pid": "?", "host": "?"}
                os.close(fd)
                raise RunDirectoryLocked(f"{self.path.parent} {self.describe(info)}") from None
            except OSError:
                pass   # no flock on this file system: the record alone
            try:
                same = os.stat(self.path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:   # released and removed by its holder meanwhile: take the new one
                os.close(fd)
                continue
            record = json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                                 "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}) + "\n"
            os.ftruncate(fd, 0)
            os.pwrite(fd, record.encode(), 0)
            self.fd = fd
            return
        raise RunDirectoryLocked(f"{self.path.parent}: could not take the lock {self.path}")

    def moved_to(self, directory: Path) -> None:
        self.path = Path(directory) / LOCK

    def release(self) -> None:
        if self.fd is None:
            return
        try:   # remove the file only if it is still ours
            if os.stat(self.path, follow_symlinks=False).st_ino == os.fstat(self.fd).st_ino:
                self.path.unlink()
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None


def _writable_parent(parent: Path) -> str | None:
    """Why runs cannot be created below ``parent`` (which may not exist yet), or None."""
    probe = parent
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is not a directory"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{probe} is not writable"
    return None


class RunDirectory:
    """``<parent>/<name>/`` for one run; see the module docstring for its life."""

    def __init__(self, parent: str | Path, name: str, comm: MPI.Comm = MPI.COMM_WORLD,
                 overwrite: bool = False):
        self.parent, self.name = Path(parent), name
        self.path = self.parent / name
        self.comm, self.overwrite = comm, overwrite
        self.token = comm.bcast(secrets.token_hex(4) if comm.rank == 0 else None, root=0)
        self.staging = self.parent / f".{name}.fem_spin-new-{self.token}"
        self.lock = RunLock(self.staging)
        self._created_parents: list[Path] = []
        self.committed = False

    # -- checks -------------------------------------------------------------------------
    def _refusal(self) -> str | None:
        """Why the run may not go to ``self.path`` (rank 0), or None."""
        problem = _writable_parent(self.parent)
        if problem:
            return f"cannot create the run directory {self.path}: {problem}"
        target = self.path
        if target.is_symlink():
            return f"{target} is a symbolic link; fem-spin never replaces it"
        if target.exists() and not target.is_dir():
            return f"{target} exists and is not a directory; fem-spin never replaces it"
        if not target.exists() or not any(target.iterdir()):
            return None
        if not is_run_directory(target):
            return (f"{target} is not empty and is not a fem_spin run directory (no {MARKER}); "
                    f"fem-spin never replaces it, even with --overwrite: choose another name "
                    f"or output directory (runs of earlier fem_spin versions carry no marker "
                    f"either: delete such a directory yourself)")
        holder = RunLock(target).holder()
        if holder is not None:
            return f"{target} {RunLock(target).describe(holder)}"
        if not self.overwrite:
            return (f"{target} already holds results; choose another name or output directory, "
                    f"or pass --overwrite")
        foreign = foreign_files(target)
        if foreign:
            shown = ", ".join(foreign[:4]) + (f" and {len(foreign) - 4} more" if len(foreign) > 4
                                              else "")
            return (f"{target} holds files fem_spin did not write ({shown}); --overwrite never "
                    f"deletes them: move them out, or choose another name")
        if not os.access(target, os.W_OK | os.X_OK):
            return f"{target} is not writable"
        return None

    def _collective(self, action) -> None:
        """Run ``action`` on rank 0; its exception is raised on every rank."""
        error = None
        if self.comm.rank == 0:
            try:
                action()
            except (OSError, RunDirectoryExists) as exc:
                error = exc if isinstance(exc, RunDirectoryExists) else RunDirectoryExists(
                    f"{getattr(exc, 'filename', None) or self.path}: {exc.strerror or exc}")
        error = self.comm.bcast(error, root=0)
        if error is not None:
            raise error

    def check(self) -> None:
        """Refuse now (every rank) what ``stage`` would refuse; touches nothing."""
        def action():
            problem = self._refusal()
            if problem:
                raise RunDirectoryExists(problem)
        self._collective(action)

    # -- life ----------------------------------------------------------------------------
    def stage(self, files: dict[str, str], **marker_info) -> Path:
        """Create the staged directory with ``files`` (name -> text), the marker and the
        lock; returns its path. The final directory is not touched."""
        def action():
            problem = self._refusal()
            if problem:
                raise RunDirectoryExists(problem)
            missing = []
            p = self.parent
            while not p.exists():
                missing.append(p)
                p = p.parent
            self.parent.mkdir(parents=True, exist_ok=True)
            self._created_parents = missing
            self.staging.mkdir()
            self.lock.acquire()
            write_marker(self.staging, name=self.name, **marker_info)
            for name, text in files.items():
                (self.staging / name).write_text(text)
        try:
            self._collective(action)
        except RunDirectoryExists:
            self.abort()
            raise
        self._created_parents = self.comm.bcast(self._created_parents, root=0)
        return self.staging

    @property
    def working(self) -> Path:
        """Where the run writes now: the staged directory until commit, then the final one."""
        return self.path if self.committed else self.staging

    def commit(self) -> Path:
        """Swap the staged directory in (an old run directory is replaced); returns the path."""
        def action():
            old = None
            problem = self._refusal()  # again: another run may have taken the name meanwhile
            if problem:
                raise RunDirectoryExists(problem)
            if self.path.exists() and any(self.path.iterdir()):
                old = self.parent / f".{self.name}.fem_spin-old-{self.token}"
                self.path.rename(old)
            try:
                os.rename(self.staging, self.path)   # replaces an empty directory atomically
            except OSError:
                if old is not None:
                    old.rename(self.path)
                raise
            self.lock.moved_to(self.path)
            if old is not None and is_run_directory(old):
                shutil.rmtree(old, ignore_errors=True)
        try:
            self._collective(action)
        except RunDirectoryExists:
            self.abort()
            raise
        self.committed = True
        return self.path

    def abort(self, any_rank: bool = False) -> None:
        """Setup failed: remove what this run created (the staged directory and any parent
        directories it had to create), nothing else. Not collective (rank 0 acts alone, or
        the calling rank with ``any_rank``: a signal that reached one rank only): the failure
        may have hit one rank only, and a barrier would then never be passed."""
        if (self.comm.rank == 0 or any_rank) and not self.committed:
            self.lock.release()
            if self.staging.is_dir() and is_run_directory(self.staging):
                shutil.rmtree(self.staging, ignore_errors=True)
            for p in self._created_parents:
                with contextlib.suppress(OSError):
                    p.rmdir()   # only if still empty

    def release(self) -> None:
        if self.comm.rank == 0:
            self.lock.release()

    # -- writing -------------------------------------------------------------------------
    def file(self, name: str) -> Path:
        return self.working / name

    def write_text(self, name: str, text: str) -> None:
        if self.comm.rank == 0:
            (self.working / name).write_text(text)

    def write_json(self, name: str, data) -> None:
        self.write_text(name, json.dumps(data, indent=2, default=float) + "\n")


@contextlib.contextmanager
def locked(directory: Path, comm: MPI.Comm = MPI.COMM_WORLD):
    """Hold the lock of an existing run directory (``fem-spin resume``), on rank 0."""
    lock = RunLock(directory)
    error = None
    if comm.rank == 0:
        try:
            lock.acquire()
        except RunDirectoryExists as exc:
            error = exc
        except OSError as exc:
            error = RunDirectoryExists(f"{directory}: cannot take the lock ({exc.strerror})")
    error = comm.bcast(error, root=0)
    if error is not None:
        raise error
    try:
        yield lock
    finally:
        if comm.rank == 0:
            lock.release()
