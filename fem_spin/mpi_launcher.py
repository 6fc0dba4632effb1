"""``fem-spin-mpirun``: run ``mpirun ...`` so that a batch scheduler's SIGTERM stops the run
cleanly, with exit code 130 and fem-spin's stop message.

Why a launcher: Open MPI 5's ``mpirun`` (PRRTE 3) handles SIGTERM/SIGINT itself, in a way no
option changes: it sends the ranks SIGTERM, SIGKILLs them 250 ms later, drops their output
and exits 1 -- too soon for a run to close its files and write summary.json, and the stop
message is lost. SIGUSR1/SIGUSR2, however, it forwards to every rank. So this launcher starts
``mpirun`` with SIGTERM and SIGINT blocked (the mask survives exec, so PRRTE's handlers never
fire; it unblocks all signals in the ranks) and passes each SIGTERM, SIGINT or SIGHUP it
receives to ``mpirun`` as SIGUSR2, which fem-spin treats as a stop request
(engine._StopRequest; SIGINT goes as SIGUSR1, so the ranks can tell which). The third signal is passed as SIGHUP: mpirun's own abort, for a
user who really wants the job gone now. The exit code is mpirun's.

Without a display, ``--xvfb`` starts an X server for off-screen pictures (as ``xvfb-run``
would, but without putting a shell script that dies of SIGTERM between the scheduler and
mpirun). ``./fem-env mpirun ...`` goes through this launcher; elsewhere call
``fem-spin-mpirun -n 4 fem-spin run X.toml`` (or ``python3 -m fem_spin.mpi_launcher mpirun ...``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading

__all__ = ["main", "RELAYED_STOP_SIGNAL"]

#: what a stop request reaches the ranks as (PRRTE forwards SIGUSR1/SIGUSR2 by default)
RELAYED_STOP_SIGNAL = signal.SIGUSR2
_STOPS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}


def _start_xvfb() -> subprocess.Popen | None:
    """An Xvfb server on a free display (it reports the number itself: -displayfd); sets
    DISPLAY. None where Xvfb is not installed (pictures are then skipped by pyvista's check)."""
    if shutil.which("Xvfb") is None:
        return None
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1600x1200x24",
                               "-nolisten", "tcp"], pass_fds=(write_fd,), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        number = f.readline().strip()
    if not number:
        server.kill()
        return None
    os.environ["DISPLAY"] = f":{number}"
    return server


#: exit codes with which fem-spin has already said, in one line, why it stopped
_FEM_SPIN_CODES = {2, 3, 4, 130}


def _relay_stderr(stream, sink) -> None:
    """Copy mpirun's stderr line by line, dropping PRRTE's boxed "exited with non-zero status"
    report when the code is one of fem-spin's own (its one-line message says it all)."""
    block: list[str] = []
    for line in iter(stream.readline, ""):
        if block or (line.startswith("-----") and not block):
            block.append(line)
            if len(block) > 1 and line.startswith("-----"):
                text = "".join(block)
                codes = [int(w) for w in text.split("Exit code:")[-1].split()[:1] if w.isdigit()]
                if not ("exited with non-zero status" in text and codes
                        and codes[0] in _FEM_SPIN_CODES):
                    sink.write(text)
                    sink.flush()
                block = []
            continue
        sink.write(line)
        sink.flush()
    if block:
        sink.write("".join(block))
        sink.flush()


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    xvfb = bool(args) and args[0] == "--xvfb"
    if xvfb:
        args = args[1:]
    if not args:
        print("usage: fem-spin-mpirun [--xvfb] [mpirun] [MPIRUN OPTIONS] COMMAND ...", file=sys.stderr)
        return 2
    if args[0] not in ("mpirun", "mpiexec", "prterun") and not os.path.basename(args[0]).startswith(
            ("mpirun", "mpiexec", "prterun")):
        args = ["mpirun", *args]
    # Blocked until the handlers are installed and the child has inherited the mask.
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)
    child: subprocess.Popen | None = None
    received = 0

    def relay(signum, frame):
        nonlocal received
        received += 1
        if child is None:
            return
        relayed = signal.SIGUSR1 if signum == signal.SIGINT else RELAYED_STOP_SIGNAL
        try:
            child.send_signal(signal.SIGHUP if received >= 3 else relayed)
        except ProcessLookupError:
            pass

    for sig in _STOPS:
        signal.signal(sig, relay)
    server = _start_xvfb() if xvfb and not os.environ.get("DISPLAY") else None
    try:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})  # mpirun keeps its SIGHUP abort
        try:
            child = subprocess.Popen(args, stderr=subprocess.PIPE, text=True, errors="replace")
        except OSError as exc:
            print(f"fem-spin-mpirun: cannot start {args[0]}: {exc.strerror}", file=sys.stderr)
            return 127
        relay_thread = threading.Thread(target=_relay_stderr, args=(child.stderr, sys.stderr),
                                        daemon=True)
        relay_thread.start()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPS)   # deliver what arrived meanwhile
        code = child.wait()
        relay_thread.join(timeout=10)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.kill()
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
