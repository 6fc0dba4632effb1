"""Provenance (issue 24): the commit read from a checkout's .git files without git (a plain
clone, packed refs, a detached HEAD, a git worktree), uncommitted changes from the index,
versions without imports."""

from __future__ import annotations

import hashlib
import os
import struct

from fem_spin import provenance as prov

SHA_A, SHA_B = "a" * 40, "b" * 40


def _repo(root, head="ref: refs/heads/main\n"):
    git = root / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text(head)
    return git


def test_the_commit_of_a_checkout(tmp_path):
    git = _repo(tmp_path)
    (tmp_path / "pkg").mkdir()
    assert prov.git_commit(tmp_path / "pkg") == "unknown"          # a branch without commits
    (git / "packed-refs").write_text(f"# pack-refs with: peeled\n{SHA_A} refs/heads/main\n^{SHA_B}\n")
    assert prov.git_commit(tmp_path / "pkg") == SHA_A
    (git / "refs" / "heads" / "main").write_text(SHA_B + "\n")       # a loose ref wins
    assert prov.git_commit(tmp_path / "pkg") == SHA_B
    (git / "HEAD").write_text(SHA_A + "\n")                          # detached
    assert prov.git_commit(tmp_path) == SHA_A
    (git / "HEAD").write_text("garbage\n")
    assert prov.git_commit(tmp_path) == "unknown"


def test_the_commit_of_a_worktree_and_of_no_checkout(tmp_path):
    git = _repo(tmp_path / "main")
    (git / "refs" / "heads" / "topic").write_text(SHA_B + "\n")
    private = git / "worktrees" / "wt"
    private.mkdir(parents=True)
    (private / "HEAD").write_text("ref: refs/heads/topic\n")
    (private / "commondir").write_text("../..\n")
    (tmp_path / "wt").mkdir()
    (tmp_path / "wt" / ".git").write_text(f"gitdir: {private}\n")
    assert prov.git_commit(tmp_path / "wt") == SHA_B
    (tmp_path / "plain").mkdir()
    assert prov.git_commit(tmp_path / "plain") == "unknown"


def _index(root, files):
    """A version-2 git index of ``files`` (names relative to ``root``) as git writes it."""
    entries = b""
    for name in sorted(files):
        st = (root / name).stat()
        data = (root / name).read_bytes()
        sha = hashlib.sha1(b"blob %d\0" % len(data) + data).digest()
        sec, nsec = divmod(st.st_mtime_ns, 10**9)
        head = struct.pack(">10I", sec, nsec, sec, nsec, 0, 0, 0o100644, 0, 0, st.st_size)
        entry = head + sha + struct.pack(">H", len(name)) + name.encode()
        entries += entry + b"\0" * (8 - len(entry) % 8)
    return b"DIRC" + struct.pack(">II", 2, len(files)) + entries + b"\0" * 20


def test_uncommitted_changes_from_the_index(tmp_path):
    git = _repo(tmp_path)
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "longer_name.toml").write_text("k = 2\n")
    (git / "index").write_bytes(_index(tmp_path, ["a.py", "sub/longer_name.toml"]))
    assert prov.git_dirty(tmp_path) is False
    (tmp_path / "untracked.txt").write_text("not ours\n")           # untracked: still clean
    assert prov.git_dirty(tmp_path) is False
    os.utime(tmp_path / "a.py", ns=(1, 10**9))                      # touched, same content
    assert prov.git_dirty(tmp_path) is False
    (tmp_path / "a.py").write_text("x = 2\n")                       # same size, new content
    assert prov.git_dirty(tmp_path) is True
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "sub" / "longer_name.toml").unlink()
    assert prov.git_dirty(tmp_path) is True
    (git / "index").write_bytes(b"DIRC" + struct.pack(">II", 4, 0))   # an index it cannot read
    assert prov.git_dirty(tmp_path) is None


def test_versions_without_imports():
    import sys

    before = set(sys.modules)
    versions = prov.stack_versions()
    assert set(sys.modules) - before <= {"importlib.metadata"}      # nothing of the stack loaded
    assert versions["dolfinx"].startswith("0.9") and versions["python"] == sys.version.split()[0]
    assert prov.package_version("no_such_module_xyz") == "not installed"
    text = prov.version_text()
    assert text.splitlines()[0].startswith("fem_spin ") and "dolfinx" in text
