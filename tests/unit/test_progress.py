"""Progress output (issue 24): a rich bar in a terminal, the plain lines in pipes and CI."""

from __future__ import annotations

import io
import types

from fem_spin.io import progress
from fem_spin.solvers import StepInfo


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_only_in_a_terminal_outside_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    assert progress.interactive(_Terminal())
    assert not progress.interactive(io.StringIO())                  # a pipe or a log file
    assert not progress.interactive(types.SimpleNamespace())        # no isatty at all
    for value, bar in (("true", False), ("1", False), ("0", True), ("", True)):
        monkeypatch.setenv("CI", value)
        assert progress.interactive(_Terminal()) is bar, value
    # under pytest stdout is captured: plain lines, whose format the suite greps
    monkeypatch.delenv("CI")
    assert isinstance(progress.make_progress(1.0), progress.Progress)


def test_the_bar_shows_time_step_newton_and_eta():
    from rich.console import Console

    screen = _Terminal()
    console = Console(file=screen, force_terminal=True, width=200, color_system=None)
    bar = progress.ProgressBar(2.0, label="kit", console=console)
    bar.update(StepInfo(7, 0.5, 0.125, 3, 6, 1, 0.1))
    bar.close()
    text = screen.getvalue()
    for part in ("kit", "25%", "t 5.000e-01 s", "dt 1.2e-01 s", "Newton 3", "ETA"):
        assert part in text, part


def test_only_rank_0_draws():
    comm = types.SimpleNamespace(rank=1)
    bar = progress.ProgressBar(1.0, comm=comm)
    assert bar.bar is None
    bar.update(StepInfo(1, 0.5, 0.5, 1, 1, 0, 0.0))
    bar.close()
    lines = io.StringIO()
    progress.Progress(1.0, interval=0.0, comm=comm, stream=lines).update(StepInfo(1, 0.5, 0.5, 1, 1, 0, 0.0))
    assert lines.getvalue() == ""


def test_the_plain_line_is_unchanged():
    lines = io.StringIO()
    comm = types.SimpleNamespace(rank=0)
    progress.Progress(2.0, interval=0.0, comm=comm, label="a", stream=lines).update(
        StepInfo(3, 0.5, 0.25, 2, 4, 1, 0.0))
    assert lines.getvalue().startswith("  [a] t = 5.0000e-01 s ( 25.0 %)  dt = 2.500e-01 s  step 3  "
                                       "Newton 2  rejected 1  wall ")
