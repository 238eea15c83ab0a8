# Two entry points: `make demo` (the embedded demo campaign to its figures) and `make test`.
# Both create .venv and install what they need on a fresh machine.
VENV ?= .venv
PYTHON ?= python3
# torch first: 2.13.0 is a local CPU wheel here and a CUDA build from PyPI on a cluster.
TORCH ?= torch==2.13.0
CORES ?= all
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed

.PHONY: install run demo test test-fast test-slurm lint lint-fix dryrun report clean-results dftbplus demo-dftb

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

install: $(STAMP)

# `make run ARGS="--configfile config/x.yaml"` runs any campaign locally. A run killed
# hard (SIGKILL, power loss) leaves Snakemake's directory lock behind: the same
# command clears it and finishes the work (rerun-incomplete is in profiles/default),
# but only when no Snakemake runs in that directory (mftl.locks): a second run beside
# a running one keeps its lock and stops with LockException; mftl jobs left running by a
# killed Snakemake make it refuse, naming their pids.
# Snakemake reads --configfile before the workflow and says only "Config file is not valid JSON or
# YAML": `mftl check-yaml` reads each config file of ARGS first and names a syntax error's line.
# After the run, results/report.html: the campaign's summary first (results/report.rst), then every
# figure and table. `make report ARGS="--configfile config/x.yaml"` writes it again for that campaign.
run: install
	$(BIN)/python -m mftl check-yaml -- $(ARGS)
	PATH="$(BIN):$$PATH" $(BIN)/python -m mftl.locks $(ARGS)
	PATH="$(BIN):$$PATH" $(BIN)/snakemake --cores $(CORES) $(ARGS)
	PATH="$(BIN):$$PATH" $(BIN)/snakemake $(ARGS) --report results/report.html

demo: run

report: install
	$(BIN)/python -m mftl check-yaml -- $(ARGS)
	PATH="$(BIN):$$PATH" $(BIN)/snakemake $(ARGS) --report results/report.html

dryrun: install
	$(BIN)/python -m mftl check-yaml -- $(ARGS)
	PATH="$(BIN):$$PATH" $(BIN)/snakemake -n $(ARGS)

# `make dftbplus` builds a serial (OpenMP) DFTB+ into $(VENV)/bin/dftb+ (tools/build_dftbplus.sh):
# nothing when a dftb+ is already on PATH (e.g. conda-forge `dftbplus=*=nompi_*`), else from
# DFTBPLUS_SRC, a local archive or a URL, built once per archive sha256 in
# ${XDG_CACHE_HOME:-~/.cache}/mftl/. The default URL is the official 25.1 release archive; it
# could not be fetched from where this was written (no network), so neither it nor its sha256 is
# verified: a download without DFTBPLUS_SHA256 prints the archive's sha256 to pin. Offline:
# make dftbplus DFTBPLUS_SRC=../shared/vendor/dftbplus-25.1-src.tar.gz
DFTBPLUS_SRC ?= https://github.com/dftbplus/dftbplus/releases/download/25.1/dftbplus-25.1.tar.xz
DFTBPLUS_SHA256 ?=
dftbplus: install
	tools/build_dftbplus.sh "$(DFTBPLUS_SRC)" "$(DFTBPLUS_SHA256)" "$(VENV)"

# `make demo-dftb`: the demo with DFTB3/3ob (DFTB+) as a second low fidelity beside GFN1-xTB
# (config/demo_dftb.yaml); builds DFTB+ first when needed (offline: add DFTBPLUS_SRC=...).
DEMO_DFTB := --configfile config/config.yaml config/demo_dftb.yaml
demo-dftb: dftbplus
	$(MAKE) run ARGS="$(DEMO_DFTB)"

test: install
	PATH="$(BIN):$$PATH" $(BIN)/pytest -q -ra

# The tests that train no MACE model and run no workflow (pytest -m "not slow"): a quick check while editing.
test-fast: install
	PATH="$(BIN):$$PATH" $(BIN)/pytest -q -ra -m "not slow"

# Formatting and linting, configured in pyproject.toml (ruff: lint and format; snakefmt: the rules).
# `make lint` changes nothing and fails on a finding; `make lint-fix` applies ruff's safe fixes and both
# formatters, then lists what is left to fix by hand.
SNAKE_FILES := Snakefile workflow/rules
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check $(SNAKE_FILES)

lint-fix: install
	$(BIN)/ruff check --fix --exit-zero --quiet .
	$(BIN)/ruff format .
	$(BIN)/snakefmt $(SNAKE_FILES)
	$(BIN)/ruff check --output-format concise .

# The real-SLURM tests (tests/test_slurm.py), which `make test` skips: as root they apt-get install
# slurm-wlm, munge, slurmdbd and mariadb-server and start their daemons while they run. .ci/run
# switches them on in `make test` (MFTL_TEST_SLURM=1).
test-slurm: install
	MFTL_TEST_SLURM=1 PATH="$(BIN):$$PATH" $(BIN)/pytest -q -ra -m slurm tests/test_slurm.py

clean-results:
	rm -rf results .snakemake
