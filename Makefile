# Two entry points: `make demo` (the embedded demo campaign to its figures) and `make test`.
# Both create .venv and install what they need on a fresh machine.
VENV ?= .venv
PYTHON ?= python3
# torch first: 2.13.0 is a local CPU wheel here and a CUDA build from PyPI on a cluster.
TORCH ?= torch==2.13.0
CORES ?= all
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed

.PHONY: install run demo test dryrun report clean-results

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

install: $(STAMP)

# `make run ARGS="--configfile config/x.yaml"` runs any campaign locally. A run killed
# hard (SIGKILL, power loss) leaves Snakemake's directory lock behind: the same
# command clears it and finishes the work (rerun-incomplete is in profiles/default).
# Do not start two runs in one directory at once.
run: install
	PATH="$(BIN):$$PATH" $(BIN)/snakemake --unlock $(ARGS) > /dev/null
	PATH="$(BIN):$$PATH" $(BIN)/snakemake --cores $(CORES) $(ARGS)

demo: run
	PATH="$(BIN):$$PATH" $(BIN)/snakemake --report results/report.html

report: install
	PATH="$(BIN):$$PATH" $(BIN)/snakemake --report results/report.html

dryrun: install
	PATH="$(BIN):$$PATH" $(BIN)/snakemake -n

test: install
	PATH="$(BIN):$$PATH" $(BIN)/pytest -q -ra

clean-results:
	rm -rf results .snakemake
