"""Data safety of run directories and checkpoints (issue 18): --overwrite replaces only fem_spin
run directories and only after the new run's setup succeeded, locks stop concurrent writers,
checkpoints are verified before resume, an edited config.toml is refused, a full disk leaves
whole CSV rows. Each test checks the files byte for byte, so it fails on the old behaviour."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, _cli_env, make_raw, run_cli, serial_only
from fem_spin.cli import main
from fem_spin.config import dump_toml
from fem_spin.io import read_timeseries
from fem_spin.io.rundir import LOCK, MARKER, RunDirectoryExists, RunDirectoryLocked, RunLock
from fem_spin.io.timeseries import TimeSeriesWriter

pytestmark = serial_only()


def snapshot_tree(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` (relative path -> content)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def write_config(path: Path, **sections) -> Path:
    path.write_text(dump_toml(make_raw(**sections)))
    return path


def cli(capsys, *args) -> tuple[int, str]:
    """``fem-spin ARGS`` in this process: (exit code, stderr)."""
    code = main(list(args))
    return code, capsys.readouterr().err


def assert_one_line(err: str, *words: str) -> None:
    assert err.strip().count("\n") == 0, err
    assert "Traceback" not in err
    for w in words:
        assert w in err, (w, err)


# --------------------------------------------------------------------------- overwrite
def test_overwrite_never_replaces_a_directory_fem_spin_did_not_make(tmp_path, capsys):
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "chapter1.tex").write_text("\\chapter{Spin diffusion}\n")
    cfg = write_config(tmp_path / "run.toml")
    before = snapshot_tree(tmp_path)
    code, err = cli(capsys, "run", str(cfg), "--output-dir", str(tmp_path), "--name", "thesis",
                    "--overwrite", "-q")
    assert code == 2
    assert_one_line(err, "not a fem_spin run directory", str(thesis))
    assert snapshot_tree(tmp_path) == before


def test_a_file_in_the_way_is_never_replaced(tmp_path, capsys):
    (tmp_path / "results.txt").write_text("measured data\n")
    cfg = write_config(tmp_path / "run.toml")
    code, err = cli(capsys, "run", str(cfg), "--output-dir", str(tmp_path), "--name",
                    "results.txt", "--overwrite", "-q")
    assert code == 2 and (tmp_path / "results.txt").read_text() == "measured data\n"
    assert_one_line(err, "not a directory")


@pytest.mark.parametrize("name", ["..", "x/../../escaped", ".hidden", "a/b", ""])
def test_command_line_names_follow_the_toml_rule(tmp_path, capsys, name):
    sibling = tmp_path / "sibling.txt"
    sibling.write_text("keep\n")
    out = tmp_path / "out"
    out.mkdir()
    cfg = write_config(out / "run.toml")
    before = snapshot_tree(tmp_path)
    code, err = cli(capsys, "run", str(cfg), "--output-dir", str(out), "--name", name,
                    "--overwrite", "-q")
    assert code == 2
    assert_one_line(err, "--name")
    assert snapshot_tree(tmp_path) == before


def test_overwrite_keeps_the_old_results_when_the_new_setup_fails(tmp_path, capsys):
    cfg = write_config(tmp_path / "run.toml", name="r")
    code, err = cli(capsys, "run", str(cfg), "--output-dir", str(tmp_path / "out"), "-q")
    assert code == 0, err
    before = snapshot_tree(tmp_path / "out")
    # a corrupt mesh file: found at setup, after validation, before anything is replaced
    bad_mesh = tmp_path / "broken.msh"
    bad_mesh.write_text("$MeshFormat\n4.1 0 8\n$EndMeshFormat\n$Nodes\nnot numbers\n")
    bad = write_config(tmp_path / "bad.toml", name="r",
                       geometry={"type": "file", "path": str(bad_mesh)})
    raw = make_raw(name="r", geometry={"type": "file", "path": str(bad_mesh)})
    raw["geometry"] = {"type": "file", "path": str(bad_mesh)}
    bad.write_text(dump_toml(raw))
    code, err = cli(capsys, "run", str(bad), "--output-dir", str(tmp_path / "out"), "--overwrite", "-q")
    assert code == 2
    assert_one_line(err, "geometry.path", "broken.msh", "bad.toml")
    assert snapshot_tree(tmp_path / "out") == before
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["r"]   # no staging left
    # a solver option PETSc rejects: also refused at setup
    raw = make_raw(name="r", solver={"petsc_options": {"pc_type": "no_such_preconditioner"}})
    bad.write_text(dump_toml(raw))
    code, err = cli(capsys, "run", str(bad), "--output-dir", str(tmp_path / "out"), "--overwrite", "-q")
    assert code == 2
    assert_one_line(err, "solver.petsc_options", "no_such_preconditioner")
    assert snapshot_tree(tmp_path / "out") == before


def test_overwrite_replaces_a_finished_run(tmp_path, capsys):
    cfg = write_config(tmp_path / "run.toml", name="r")
    assert cli(capsys, "run", str(cfg), "--output-dir", str(tmp_path), "-q")[0] == 0
    # a field file of a resumed segment written after the run recorded its inventory (killed)
    (tmp_path / "r" / "fields_r9.pvd").write_text("<VTKFile/>\n")
    assert cli(capsys, "run", str(cfg), "--output-dir", str(tmp_path), "--overwrite", "-q")[0] == 0
    assert not (tmp_path / "r" / "fields_r9.pvd").exists()
    assert (tmp_path / "r" / MARKER).is_file() and not (tmp_path / "r" / LOCK).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r", "run.toml"]


def test_failed_setup_leaves_nothing_behind(tmp_path, capsys):
    raw = make_raw(name="r", solver={"petsc_options": {"pc_type": "no_such_preconditioner"}})
    (tmp_path / "run.toml").write_text(dump_toml(raw))
    code, err = cli(capsys, "run", str(tmp_path / "run.toml"), "--output-dir",
                    str(tmp_path / "new" / "deeper"), "-q")
    assert code == 2, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.toml"]   # not even the parents
    # so the corrected rerun needs no --overwrite
    (tmp_path / "run.toml").write_text(dump_toml(make_raw(name="r")))
    code, err = cli(capsys, "run", str(tmp_path / "run.toml"), "--output-dir",
                    str(tmp_path / "new" / "deeper"), "-q")
    assert code == 0, err


def test_unwritable_output_directory_is_one_line(tmp_path, capsys):
    cfg = write_config(tmp_path / "run.toml")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, err = cli(capsys, "run", str(cfg), "--output-dir", str(blocker / "sub"), "-q")
    assert code == 2
    assert_one_line(err, "not a directory")


# --------------------------------------------------------------------------- locks
def test_a_live_lock_is_respected_and_a_stale_one_taken_over(tmp_path):
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    holder = RunLock(run_dir)
    holder.acquire()
    with pytest.raises(RunDirectoryLocked, match=f"pid {os.getpid()}"):
        RunLock(run_dir).acquire()
    assert RunLock(run_dir).holder()["pid"] == os.getpid()
    holder.release()
    assert not (run_dir / LOCK).exists() and RunLock(run_dir).holder() is None
    # left by a killed run (text, no flock), empty (killed while writing it), or garbage:
    # free, and taken over
    for text in (json.dumps({"host": socket.gethostname(), "pid": 1}), "", "{garbage"):
        (run_dir / LOCK).write_text(text)
        assert RunLock(run_dir).holder() is None
        lock = RunLock(run_dir)
        lock.acquire()
        assert json.loads((run_dir / LOCK).read_text())["pid"] == os.getpid()
        lock.release()


def test_only_one_of_many_concurrent_lockers_wins(tmp_path):
    """Six processes lock the same directory at once, 6 times over: exactly one holds it
    each time (a pid-file lock let several win when one read another's empty file; 6 trials
    of 6 processes caught it, at 2 s a trial)."""
    code = ("import sys, time\nfrom fem_spin.io.rundir import RunLock, RunDirectoryLocked\n"
            "t0 = float(sys.argv[2])\nwhile time.time() < t0: pass\n"
            "try:\n    RunLock(sys.argv[1]).acquire(); print('won'); time.sleep(0.5)\n"
            "except RunDirectoryLocked:\n    print('refused')\n")
    for trial in range(6):
        d = tmp_path / f"t{trial}"
        d.mkdir()
        start = time.time() + 0.6
        procs = [subprocess.Popen([sys.executable, "-c", code, str(d), str(start)], env=_cli_env(),
                                  stdout=subprocess.PIPE, text=True) for _ in range(6)]
        outcomes = [p.communicate(timeout=60)[0].strip() for p in procs]
        assert outcomes.count("won") == 1, (trial, outcomes)


def test_a_second_run_is_refused_while_the_first_runs(tmp_path, capsys):
    cfg = write_config(tmp_path / "run.toml", name="busy", geometry={"cells": [40, 4, 4]},
                       time={"t_end": 40.0, "dt_initial": 0.01, "adaptive": False})
    out = tmp_path / "out"
    first = subprocess.Popen([sys.executable, "-m", "fem_spin", "run", str(cfg), "--output-dir",
                              str(out), "-q"], env=_cli_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not (out / "busy" / "timeseries.csv").exists() and time.time() < deadline:
            time.sleep(0.1)
        assert first.poll() is None, first.communicate()
        for extra in ((), ("--overwrite",)):
            code, err = cli(capsys, "run", str(cfg), "--output-dir", str(out), "-q", *extra)
            assert code == 2
            assert_one_line(err, "in use by another fem-spin process", f"pid {first.pid}")
        code, err = cli(capsys, "resume", str(out / "busy"), "-q")
        assert code == 2 and "in use" in err
    finally:
        stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    summary = json.loads((out / "busy" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["t_final"] == pytest.approx(40.0)
    assert not (out / "busy" / LOCK).exists()


# --------------------------------------------------------------------------- checkpoints
@pytest.fixture(scope="module")
def paused_run(tmp_path_factory) -> Path:
    """A run paused after 60 of its 100 steps (time.max_steps) with its checkpoint."""
    root = tmp_path_factory.mktemp("paused")
    cfg = write_config(root / "run.toml", name="p", time={"max_steps": 60})
    res = run_cli("run", str(cfg), "--output-dir", str(root), "-q")
    assert res.returncode == 4, res.stderr
    return root / "p"


def damaged_copy(paused_run: Path, tmp_path: Path, damage) -> Path:
    copy = tmp_path / "p"
    shutil.copytree(paused_run, copy)
    damage(copy / "checkpoint")
    return copy


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0x10
    path.write_bytes(bytes(data))


DAMAGES = {
    "truncated data": (lambda c: os.truncate(c / "state.bp" / "data.0",
                                             (c / "state.bp" / "data.0").stat().st_size // 2),
                       "data.0"),
    "bit flip in the data": (lambda c: flip_byte(c / "state.bp" / "data.0", 4096 + 17), "data.0"),
    "bit flip in the metadata": (lambda c: flip_byte(c / "state.bp" / "md.0", 200), "md.0"),
    "bit flip in state.json": (lambda c: flip_byte(c / "state.json", 40), "state.json"),
    "garbage state.json": (lambda c: (c / "state.json").write_text("{not json"), "state.json"),
    "deleted index": (lambda c: (c / "state.bp" / "md.idx").unlink(), "md.idx"),
    "deleted manifest": (lambda c: (c / "manifest.json").unlink(), "manifest.json"),
    "deleted checkpoint": (lambda c: shutil.rmtree(c), "checkpoint"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_checkpoint_is_refused_naming_the_file(paused_run, tmp_path, capsys, damage):
    action, culprit = DAMAGES[damage]
    run_dir = damaged_copy(paused_run, tmp_path, action)
    before = snapshot_tree(run_dir)
    code, err = cli(capsys, "resume", str(run_dir), "-q")
    assert code == 2
    assert_one_line(err, culprit)
    assert snapshot_tree(run_dir) == before


@pytest.mark.serial  # spawns mpirun: run alone (Makefile test-serial)
def test_a_truncated_checkpoint_is_refused_in_bounded_time_under_mpi(paused_run, tmp_path):
    run_dir = damaged_copy(paused_run, tmp_path, DAMAGES["truncated data"][0])
    t0 = time.perf_counter()
    res = run_cli("resume", str(run_dir), "-q", mpi=2, timeout=120)
    assert res.returncode == 2, res.stderr
    assert "data.0" in res.stderr and "Traceback" not in res.stderr
    assert res.stderr.count("fem-spin: error") == 1   # rank 0 only
    assert time.perf_counter() - t0 < 120


def test_an_intact_checkpoint_resumes_and_a_completed_run_extends(paused_run, tmp_path, capsys):
    run_dir = damaged_copy(paused_run, tmp_path, lambda c: None)
    code, err = cli(capsys, "resume", str(run_dir), "-q")
    assert code == 0, err
    assert json.loads((run_dir / "summary.json").read_text())["t_final"] == pytest.approx(5.0)
    code, err = cli(capsys, "resume", str(run_dir), "-q", "--t-end", "7.5")
    assert code == 0, err
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["t_final"] == pytest.approx(7.5)
    assert summary["config_changes"] == [{"keys": ["time.t_end"], "from": 5.0, "to": 7.5,
                                          "how": "--t-end"}]
    series = read_timeseries(run_dir / "timeseries.csv")
    assert np.all(np.diff(series["t"]) > 0) and series["t"][-1] == pytest.approx(7.5)
    # the extended run equals one run straight to 7.5 s (fixed steps of 0.05 s)
    cfg = write_config(tmp_path / "direct.toml", name="d", time={"t_end": 7.5})
    assert cli(capsys, "run", str(cfg), "--output-dir", str(tmp_path), "-q")[0] == 0
    direct = read_timeseries(tmp_path / "d" / "timeseries.csv")
    np.testing.assert_allclose(series["P_mean"][-1], direct["P_mean"][-1], rtol=1e-9)
    # a shorter or equal --t-end is refused
    code, err = cli(capsys, "resume", str(run_dir), "-q", "--t-end", "7.5")
    assert code == 2
    assert_one_line(err, "--t-end", "must exceed")


def test_an_edited_config_is_refused_unless_allowed(paused_run, tmp_path, capsys):
    run_dir = damaged_copy(paused_run, tmp_path, lambda c: None)
    config = run_dir / "config.toml"
    config.write_text(config.read_text().replace("D0 = 1e-16", "D0 = 1e-15"))
    before = snapshot_tree(run_dir)
    code, err = cli(capsys, "resume", str(run_dir), "-q")
    assert code == 2
    assert_one_line(err, "config.toml", "model.D0", "--allow-config-change")
    assert snapshot_tree(run_dir) == before
    # formatting and comments are no change
    config.write_text("# a comment\n" + config.read_text().replace("D0 = 1e-15", "D0 = 1e-16"))
    code, err = cli(capsys, "resume", str(run_dir), "-q", "--t-end", "5.5")
    assert code == 0, err
    # an allowed edit is recorded
    config.write_text(config.read_text().replace("D0 = 1e-16", "D0 = 2e-16"))
    code, err = cli(capsys, "resume", str(run_dir), "-q", "--t-end", "6", "--allow-config-change")
    assert code == 0, err
    summary = json.loads((run_dir / "summary.json").read_text())
    assert {"keys": ["model.D0"], "how": "--allow-config-change"} in summary["config_changes"]
    marker = json.loads((run_dir / MARKER).read_text())
    assert [c["how"] for c in marker["changes"]] == ["--t-end", "--allow-config-change", "--t-end"]


# --------------------------------------------------------------------------- full disk
def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.mount(b"tmpfs", str(path).encode(), b"tmpfs", 0, f"size={size}".encode()) == 0
    except (OSError, AttributeError):
        return False


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of 6 MiB (skipped where it cannot be mounted: not root, no mount namespace)."""
    mount = tmp_path / "disk"
    if not _mount_tmpfs(mount, "6m"):
        pytest.skip("cannot mount a tmpfs here")
    yield mount
    ctypes.CDLL(None, use_errno=True).umount(str(mount).encode())


def test_csv_rows_stay_whole_when_the_disk_fills(small_disk):
    ballast = small_disk / "ballast"
    with open(ballast, "wb") as f:   # leave less than a page for the table
        try:
            while True:
                f.write(b"\0" * 4096)
                f.flush()
        except OSError:
            pass
    os.truncate(ballast, ballast.stat().st_size - 3 * 4096)
    writer = TimeSeriesWriter(small_disk / "t.csv", ["step", "t", "value"])
    rows, error = 0, None
    try:
        for rows in range(100000):
            writer.write({"step": rows, "t": rows * 0.1, "value": np.pi * rows})
    except OSError as exc:
        error = exc
    writer.close()
    assert error is not None and rows > 10
    series = read_timeseries(small_disk / "t.csv")   # parses: no half row at the end
    assert len(series["step"]) == rows and series["step"][-1] == rows - 1


def test_a_full_disk_stops_the_run_with_one_line_and_readable_outputs(small_disk, tmp_path):
    cfg = write_config(tmp_path / "run.toml", name="full", geometry={"cells": [40, 4, 4]},
                       output={"snapshot_times": [0.05 * k for k in range(1, 100)]})
    res = run_cli("run", str(cfg), "--output-dir", str(small_disk), "-q", timeout=300)
    assert res.returncode == 3, res.stderr
    assert_one_line(res.stderr, "disk space", "fem-spin: error")
    run_dir = small_disk / "full"
    series = read_timeseries(run_dir / "timeseries.csv")
    assert len(series["t"]) >= 2 and np.all(np.diff(series["t"]) > 0)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"].startswith("stopped") and "disk space" in summary["status"]
    assert (run_dir / "fields.pvd").read_text().strip().endswith("</VTKFile>")


def test_a_read_only_output_directory_is_refused_before_anything_runs(tmp_path, capsys):
    mount = tmp_path / "ro"
    mount.mkdir()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(b"tmpfs", str(mount).encode(), b"tmpfs", 1, b"size=1m") != 0:   # MS_RDONLY
        pytest.skip("cannot mount a read-only tmpfs here")
    try:
        cfg = write_config(tmp_path / "run.toml")
        code, err = cli(capsys, "run", str(cfg), "--output-dir", str(mount / "runs"), "-q")
        assert code == 2
        assert_one_line(err, "not writable", str(mount))
    finally:
        libc.umount(str(mount).encode())


def test_a_reader_stuck_past_its_deadline_ends_with_one_line():
    """read_deadline: a checkpoint read that hangs in C code (a truncated ADIOS2 file made
    the old resume hang forever) ends the process with one line and exit 3."""
    code = ("import time\nfrom fem_spin.io.checkpoint import read_deadline\n"
            "with read_deadline(0.5, 'RUN/checkpoint/state.bp'):\n    time.sleep(30)\n")
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", code], env=_cli_env(), capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 3 and time.perf_counter() - t0 < 20
    assert_one_line(res.stderr, "RUN/checkpoint/state.bp", "not read within")


def test_overwrite_keeps_a_run_directory_with_files_the_user_added(tmp_path, capsys):
    cfg = write_config(tmp_path / "run.toml", name="r")
    assert cli(capsys, "run", str(cfg), "--output-dir", str(tmp_path), "-q")[0] == 0
    (tmp_path / "r" / "analysis.ipynb").write_text("{}")
    (tmp_path / "r" / "fields_notes.txt").write_text("named like a field file, but mine\n")
    (tmp_path / "r" / "figures").mkdir()
    (tmp_path / "r" / "figures" / "fig1.png").write_bytes(b"png")
    before = snapshot_tree(tmp_path / "r")
    code, err = cli(capsys, "run", str(cfg), "--output-dir", str(tmp_path), "--overwrite", "-q")
    assert code == 2
    assert_one_line(err, "analysis.ipynb", "fields_notes.txt", "did not write")
    assert snapshot_tree(tmp_path / "r") == before


@pytest.mark.parametrize("marker", ["", "{}", "not json", '{"fem_spin": 1, "name": "x"}'])
def test_a_marker_file_that_is_not_a_marker_owns_nothing(tmp_path, capsys, marker):
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / MARKER).write_text(marker)
    (thesis / "config.toml").write_text(dump_toml(make_raw()))
    (thesis / "chapter1.tex").write_text("text\n")
    before = snapshot_tree(tmp_path)
    cfg = write_config(tmp_path / "run.toml")
    before = snapshot_tree(tmp_path)
    code, err = cli(capsys, "run", str(cfg), "--output-dir", str(tmp_path), "--name", "thesis",
                    "--overwrite", "-q")
    assert code == 2 and "not a fem_spin run directory" in err
    code, err = cli(capsys, "resume", str(thesis), "-q")     # nor is it resumed
    assert code == 2
    assert_one_line(err, "not a fem_spin run directory")
    assert snapshot_tree(tmp_path) == before


def test_resume_keeps_the_mesh_and_the_limits(paused_run, tmp_path, capsys):
    run_dir = damaged_copy(paused_run, tmp_path, lambda c: None)
    config = run_dir / "config.toml"
    original = config.read_text()
    config.write_text(original.replace("cells = [16, 1, 1]", "cells = [32, 1, 1]"))
    code, err = cli(capsys, "resume", str(run_dir), "-q", "--allow-config-change")
    assert code == 2
    assert_one_line(err, "geometry.cells", "cannot change")
    config.write_text(original)
    before = snapshot_tree(run_dir)
    code, err = cli(capsys, "resume", str(run_dir), "-q", "--t-end", "1e9")   # 2e10 fixed steps
    assert code == 2
    assert_one_line(err, "time steps", "--force")
    assert snapshot_tree(run_dir) == before


def test_a_run_on_a_relative_mesh_path_resumes(tmp_path, capsys):
    from fem_spin.cli import main as fem_spin_main

    (tmp_path / "cfg" / "meshes").mkdir(parents=True)
    assert fem_spin_main(["mesh", "box", "-p", "size=[1e-7,2e-8,2e-8]", "-p", "mesh_size=1e-8",
                          "-o", str(tmp_path / "cfg" / "meshes" / "b.msh")]) == 0
    raw = make_raw(name="m", time={"max_steps": 60})
    raw["geometry"] = {"type": "file", "path": "meshes/b.msh"}
    (tmp_path / "cfg" / "run.toml").write_text(dump_toml(raw))
    capsys.readouterr()
    code, err = cli(capsys, "run", str(tmp_path / "cfg" / "run.toml"), "--output-dir",
                    str(tmp_path / "out"), "-q")
    assert code == 4, err
    code, err = cli(capsys, "resume", str(tmp_path / "out" / "m"), "-q")
    assert code == 0, err


def test_a_malformed_manifest_entry_is_refused_naming_it(paused_run, tmp_path, capsys):
    def damage(c):
        (c / "manifest.json").write_text(json.dumps({"files": {"state.json": 5}}))

    run_dir = damaged_copy(paused_run, tmp_path, damage)
    code, err = cli(capsys, "resume", str(run_dir), "-q")
    assert code == 2
    assert_one_line(err, "manifest.json", "malformed")


def test_the_mesh_command_guards_memory_and_existing_files(tmp_path, capsys):
    code, err = cli(capsys, "mesh", "box", "-p", "size=[1,1,1]", "-p", "mesh_size=1e-9")
    assert code == 2
    assert_one_line(err, "geometry.mesh_size", "--force")
    (tmp_path / "b.msh").write_text("mine\n")
    code, err = cli(capsys, "mesh", "box", "-p", "size=[1e-7,1e-7,1e-7]", "-p", "mesh_size=5e-8",
                    "-o", str(tmp_path / "b.msh"))
    assert code == 2 and (tmp_path / "b.msh").read_text() == "mine\n"
    assert_one_line(err, "--output", "exists", "--overwrite")
    code, err = cli(capsys, "mesh", "box", "-p", "size=[1e-7,1e-7,1e-7]", "-p", "mesh_size=5e-8",
                    "-o", str(tmp_path / "b.txt"))
    assert code == 2
    assert_one_line(err, "--output", ".msh or .xdmf")


def test_a_signal_while_drawing_stops_the_pictures(tmp_path):
    from fem_spin import engine
    from fem_spin.viz.registry import post_process
    from conftest import make_config

    config = make_config(output={"plot": True, "render": True})
    request = engine._StopRequest()
    request.signal_name = "SIGINT"
    engine._ACTIVE_REQUEST.append(request)
    try:
        with pytest.raises(engine.Interrupted, match="while drawing the pictures"):
            post_process(config, tmp_path, {"run": tmp_path}, engine.MPI.COMM_SELF, quiet=True)
    finally:
        engine._ACTIVE_REQUEST.pop()
    assert list(tmp_path.iterdir()) == []
