# minnp: `make lab` opens the course, `make test` proves it. Both set everything up first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is installed first, on its own: a bare `torch` requirement with nothing installed
# pulls the newest CUDA build (several GB). Override with `make TORCH=torch test`.
TORCH ?= torch==2.13.0
EXTRAS ?= course,test
JOBS ?= 2
# nbval's per-cell timeout only catches a genuine hang: a busy or slow machine is not a failure
# (notebooks/conftest.py reports each notebook's time against its idle time instead).
CELL_TIMEOUT_S ?= 1800
NBVAL := --nbval-lax --nbval-current-env --nbval-cell-timeout=$(CELL_TIMEOUT_S) \
         --nbval-sanitize-with notebooks/sanitize.cfg
JUPYTER ?= $(BIN)/jupyter

# While testing: progress bars off, a non-interactive plotting backend, peers required, and every
# process on one thread. `make test` runs JOBS processes (pytest-xdist workers, each with one
# notebook kernel); a thread pool per process on top of that oversubscribes the cores, and on a
# busy machine OpenMP/BLAS threads then wait on each other. `make lab` gets none of this: its
# kernels draw figures inline and use the machine's threads.
TEST_TARGETS := unit notebooks notebook bench stress-test
$(TEST_TARGETS): export TQDM_DISABLE := 1
$(TEST_TARGETS): export MPLBACKEND := Agg
$(TEST_TARGETS): export MINNP_REQUIRE_PEERS := 1
$(TEST_TARGETS): export OMP_NUM_THREADS := 1
$(TEST_TARGETS): export MKL_NUM_THREADS := 1
$(TEST_TARGETS): export OPENBLAS_NUM_THREADS := 1

.PHONY: install lab test unit notebooks notebook bench student stress-test clean help

help:
	@echo "make lab        install (if needed) and open the course in JupyterLab"
	@echo "make test       install (if needed), run the unit tests, execute every notebook"
	@echo "make unit       unit tests only;  make notebook NB=notebooks/00_welcome.ipynb  one notebook"
	@echo "make bench      benchmarks against peer codes, as ratios measured in one run"
	@echo "make student    student and instructor notebooks into _student/ and _instructor/"
	@echo "make stress-test  make test from a fresh clone, idle and under two CPU burners; reports the slowdown"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

install: $(VENV)/.installed

# Jupyter refuses to run as root unless told; containers often are root. LAB_ARGS=--no-browser etc.
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root,)
lab: install
	$(JUPYTER) lab notebooks $(LAB_ARGS)

unit: install
	$(BIN)/python -m pytest tests -n $(JOBS) -q

# Each notebook runs once as CI sees it: its student version's exercises are rehearsed in the
# same kernel before the solutions (python -m tools.course ci), so one run proves both versions.
notebooks: install
	rm -rf _build/notebooks
	$(BIN)/python -m tools.course ci _build/notebooks >/dev/null
	cd _build/notebooks && ../../$(BIN)/python -m pytest . $(subst notebooks/,,$(NBVAL)) -n $(JOBS) \
	    --dist loadscope -q

notebook: install
	$(BIN)/python -m pytest $(NB) $(NBVAL) -q

test: unit notebooks

bench: install
	$(BIN)/python -c 'import torch; print("torch==" + torch.__version__.split("+")[0])' > $(VENV)/torch-constraint.txt
	$(BIN)/python -m pip install --quiet -e ".[bench]" --constraint $(VENV)/torch-constraint.txt
	$(BIN)/python -m benchmarks

student: install
	$(BIN)/python -m tools.course student _student --instructor _instructor

# A test of the test (slow: two full runs): tools/stress_test.py writes its numbers to the README's table.
stress-test: install
	$(BIN)/python tools/stress_test.py

clean:
	rm -rf $(VENV) _student _instructor _build .pytest_cache
