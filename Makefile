# The two commands a new user needs:
#   make report   set up (first use only), write the demo company if missing, run the weekly pack
#   make test     set up (first use only), run the whole test suite
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.soe-installed
ARGS   ?=

.PHONY: report test setup demo clean-venv bench lab

report: setup demo
	$(BIN)/soe run $(ARGS)

test: setup
	$(BIN)/python -m pytest -n auto --dist worksteal $(ARGS)

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
	$(BIN)/soe kernel --name soe
	@touch $(STAMP)

lab: setup
	$(BIN)/jupyter lab --notebook-dir=notebooks

demo: setup
	$(BIN)/soe demo --if-missing

clean-venv:
	rm -rf $(VENV)
