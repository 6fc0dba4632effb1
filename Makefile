# fem_spin: every target runs inside the environment ./fem-env provisions on first use.
ENV    := ./fem-env
PYTEST := python3 -m pytest
PYDEPS := .cache/pydeps
FIPY_VERSION := 4.0.3

.PHONY: run test test-fast test-serial test-mpi bench info check-install clean docs notebooks

## make run   - the main job: the default simulation, results under results/
run:
	$(ENV) fem-spin run --overwrite

## make test  - the whole suite (on every core with pytest-xdist, the MPI-spawning tests alone),
##              then the parallel-marked tests under mpirun -n 2
test: test-serial test-mpi

## make test-fast - the unit tier alone (tests/unit: configuration, contracts, limits, physics
##              terms, pictures, the hostile-input suite), serially
test-fast:
	$(ENV) $(PYTEST) -q --color=no tests/unit

# The tests not marked serial run on every core (pytest-xdist, Debian's python3-pytest-xdist in
# the environment); those marked serial start their own mpirun jobs and run after them, one at a
# time, so that no MPI rank shares a core with a test worker (busy-polling ranks slow down 10-50x).
# An environment without xdist (e.g. a conda one made before it was listed) runs them all serially.
test-serial:
	@if $(ENV) python3 -c "import xdist" 2>/dev/null; then \
	  $(ENV) $(PYTEST) -q --color=no -n auto --dist loadfile -m "not serial" tests && \
	  $(ENV) $(PYTEST) -q --color=no -m serial tests; \
	else \
	  $(ENV) $(PYTEST) -q --color=no tests; \
	fi

test-mpi:
	$(ENV) mpirun -n 2 python3 tests/run_mpi_pytest.py -q --color=no tests

## make bench - every model at three sizes on 1 and 2 ranks with a solver comparison and a
##              weak-scaling projection, the periodic-cube DNP benchmark, ILU vs geometric
##              multigrid on the DNP cube up to 400k DOFs, the peak memory behind the
##              resource guards (fem_spin/limits.py), the cost of repeated fem_spin.simulate
##              calls, setup vs stepping with the mesh cache (bench_setup.py), the Onsager
##              framework's three quantities vs two on one 3-D mesh (bench_onsager_framework.py), the
##              fit Jacobian, rank groups and optimiser (bench_fit*.py), the spin Hall /
##              SMR / spin-absorption linear solvers at 1e5-1e6 DOFs (bench_spin_hall_solver.py), and the
##              side-by-side FiPy comparison at matched spatial accuracy on a common time grid
##              and at matched total (space + time) accuracy (--total; results/bench/)
bench: $(PYDEPS)/fipy
	$(ENV) python3 benchmarks/bench_models.py --out results/bench
	$(ENV) mpirun -n 2 python3 benchmarks/bench_models.py --out results/bench
	$(ENV) python3 benchmarks/bench_models.py --report --out results/bench
	$(ENV) python3 benchmarks/bench_dnp_cube.py --out results/bench
	$(ENV) mpirun -n 2 python3 benchmarks/bench_dnp_cube.py --out results/bench
	$(ENV) python3 benchmarks/bench_dnp_cube.py --report --out results/bench
	$(ENV) python3 benchmarks/bench_preconditioners.py --out results/bench
	$(ENV) mpirun -n 2 python3 benchmarks/bench_preconditioners.py --out results/bench
	$(ENV) python3 benchmarks/bench_preconditioners.py --report --out results/bench
	$(ENV) python3 benchmarks/bench_memory.py --out results/bench
	$(ENV) python3 benchmarks/bench_memory.py --report --out results/bench
	$(ENV) python3 benchmarks/bench_api.py --out results/bench
	$(ENV) python3 benchmarks/bench_api.py --report --out results/bench
	$(ENV) python3 benchmarks/bench_setup.py --out results/bench
	$(ENV) python3 benchmarks/bench_setup.py --report --out results/bench
	$(ENV) python3 benchmarks/bench_time_integration.py --out results/bench
	$(ENV) python3 benchmarks/bench_onsager_time.py --out results/bench
	$(ENV) python3 benchmarks/bench_onsager_framework.py --out results/bench
	$(ENV) mpirun -n 2 python3 benchmarks/bench_onsager_framework.py --out results/bench
	$(ENV) python3 benchmarks/bench_onsager_framework.py --report --out results/bench
	$(ENV) python3 benchmarks/bench_fit.py --out results/bench
	$(ENV) mpirun -n 2 python3 benchmarks/bench_fit_parallel.py --out results/bench
	$(ENV) python3 benchmarks/bench_fit_optimizer.py
	$(ENV) python3 benchmarks/bench_spin_hall_solver.py --device smr --sizes 6e-9,3.5e-9,1.9e-9 --solvers "gmres+amg,gmres+fieldsplit agg" --cases 1 --out results/bench
	$(ENV) mpirun -n 2 python3 benchmarks/bench_spin_hall_solver.py --device smr --sizes 6e-9,3.5e-9,1.9e-9 --solvers "gmres+amg,gmres+fieldsplit agg" --cases 1 --out results/bench
	$(ENV) python3 benchmarks/bench_spin_hall_solver.py --device absorption --sizes 9e-9,6e-9,2.6e-9 --solvers "gmres+amg,gmres+fieldsplit agg" --cases 1 --out results/bench
	$(ENV) mpirun -n 2 python3 benchmarks/bench_spin_hall_solver.py --device absorption --sizes 9e-9,6e-9,2.6e-9 --solvers "gmres+amg,gmres+fieldsplit agg" --cases 1 --out results/bench
	$(ENV) python3 benchmarks/bench_spin_hall_solver.py --report --out results/bench
	PYTHONPATH=$(PYDEPS) $(ENV) python3 benchmarks/bench_fipy_comparison.py --case slow --out results/bench
	PYTHONPATH=$(PYDEPS) $(ENV) python3 benchmarks/bench_fipy_comparison.py --case fast --out results/bench
	PYTHONPATH=$(PYDEPS) $(ENV) python3 benchmarks/bench_fipy_comparison.py --total --case slow --out results/bench
	PYTHONPATH=$(PYDEPS) $(ENV) python3 benchmarks/bench_fipy_comparison.py --total --case fast --out results/bench

# FiPy (pure Python) for the benchmark comparison only, from PyPI with the host's pip and its
# certificate/index configuration; the environment's numpy/scipy/petsc4py run it.
$(PYDEPS)/fipy:
	python3 -m pip install --quiet --no-deps --target $(PYDEPS) fipy==$(FIPY_VERSION)

info:
	$(ENV) fem-spin info

## make check-install - `pip install .` into a fresh venv on top of the environment's dolfinx
##              (system site packages, no network), then fem-spin --version and import
##              fem_spin from outside the checkout (also run by CI)
check-install:
	$(ENV) bash .ci/check_install.sh

## make docs  - the documentation site into docs/_build/html (Sphinx + MyST + myst-nb), warnings
##              as errors; every demo executed on its CI-short setting (FEM_SPIN_DEMO_SHORT=1).
##              FEM_SPIN_DOCS_EXECUTE=off skips the demos (prose only), =cache reuses
##              unchanged pages' runs (docs/_build/.jupyter_cache)
docs:
	$(ENV) python3 -m sphinx -b html -W --keep-going -j 1 -q docs docs/_build/html
	@echo "docs: open docs/_build/html/index.html"

## make notebooks - every demo as a Jupyter notebook (jupytext) in build/notebooks/ (not committed)
notebooks:
	$(ENV) python3 docs/_ext/notebooks.py build/notebooks

clean:
	rm -rf results .pytest_cache docs/_build build/notebooks
