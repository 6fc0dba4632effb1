"""pytest under mpirun: every rank runs the tests marked ``parallel``; rank 0 reports.

Usage: mpirun -n 2 python3 tests/run_mpi_pytest.py [pytest args]
The exit code is the worst over the ranks, so a failure on any rank fails the run.
"""

import os
import sys

import pytest
from mpi4py import MPI

comm = MPI.COMM_WORLD
if comm.rank != 0:
    sys.stdout = open(os.devnull, "w")
code = pytest.main(["-p", "no:cacheprovider", "-m", "parallel", *sys.argv[1:]])
code = comm.allreduce(int(code), op=MPI.MAX)
sys.stdout.flush()
sys.exit(code)
