# Two entry points: `make demo` (the embedded demo campaign to its figures) and `make test`.
# Both create .venv and install what they need on a fresh machine.
VENV ?= .venv
PYTHON ?= python3
# torch first: 2.13.0 is a local CPU wheel here and a CUDA build from PyPI on a cluster.
TORCH ?= torch==2.13.0
CORES ?= all
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test dryrun figures report clean-results

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

install: $(STAMP)

demo: install
	PATH="$(BIN):$$PATH" $(BIN)/snakemake --cores $(CORES)
	PATH="$(BIN):$$PATH" $(BIN)/snakemake --report results/report.html

report: install
	PATH="$(BIN):$$PATH" $(BIN)/snakemake --report results/report.html

dryrun: install
	PATH="$(BIN):$$PATH" $(BIN)/snakemake -n

test: install
	PATH="$(BIN):$$PATH" $(BIN)/pytest -q -ra

clean-results:
	rm -rf results .snakemake
