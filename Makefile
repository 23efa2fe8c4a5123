# Two commands do everything on a fresh machine with Python 3.11:
#   make demo   build the release, grade sample submissions offline, print the score table
#   make test   the whole test suite (ruff + pytest)
# Both create .venv on first use and reuse it afterwards.

PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# nbgrader's gradebook runs the `alembic` executable from PATH, so the venv's bin goes first.
export PATH := $(BIN):$(PATH)
export MPLBACKEND := Agg
# Tests and the demo must not wait on a network this machine may not have.
export DLCOURSE_OFFLINE ?= 1

.PHONY: demo test lint setup lab clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	bash .ci/system-packages
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m ipykernel install --prefix $(CURDIR)/$(VENV) --name python3 --display-name "Python 3 (dlcourse)" >/dev/null
	touch $@

demo: setup
	$(BIN)/dlcourse demo

# JupyterLab with nbgrader's menus and Validate button; Validate reads nbgrader_config.py from here
lab: setup
	$(BIN)/jupyter lab

lint: setup
	$(BIN)/ruff check dlcourse tests benchmarks source

test: lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) autograded/*/ submitted feedback gradebook.db
