# strikeout: the two commands a user needs are `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export STRIKEOUT_HOME ?= $(CURDIR)/.strikeout
export MLFLOW_DISABLE_TELEMETRY := true
export BENTOML_DO_NOT_TRACK := True
export DO_NOT_TRACK := 1

.PHONY: setup test test-fast demo bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

test: setup
	$(BIN)/python -m pytest -n 2 --dist loadgroup

test-fast: setup
	$(BIN)/python -m pytest -n 2 -m "not slow and not browser and not spark and not service"

demo: setup
	$(BIN)/python -m strikeout.demo

bench: setup
	$(BIN)/python -m bench

lint: setup
	$(BIN)/ruff check features training serving strikeout tests bench
	$(BIN)/mypy features training serving strikeout

clean:
	rm -rf $(VENV) .strikeout
