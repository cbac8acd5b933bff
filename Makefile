# The two commands of the README: `make run` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run serve test test-slow install bench clean

$(BIN)/rollout: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,infra]'
	@touch $@

install: $(BIN)/rollout

# Reconcile the committed state into the embedded SQLite store and show the status.
run: install
	$(BIN)/rollout validate
	$(BIN)/rollout reconcile || [ $$? -eq 1 ]
	$(BIN)/rollout status

# The same, then `rollout serve` on it: the status page at http://127.0.0.1:8080/ (Ctrl-C).
serve: run
	$(BIN)/rollout serve

test: install
	$(BIN)/python -m pytest

# The long loops too (fault injection, HA kill loops): minutes, not for every push.
test-slow: install
	$(BIN)/python -m pytest -m ''

bench: install
	$(BIN)/python bench/cli_startup.py
	$(BIN)/python bench/reconcile_many.py
	$(BIN)/python bench/gate_eval.py
	$(BIN)/python bench/pulumi_build.py
	$(BIN)/python bench/drill_latency.py
	$(BIN)/python bench/loadtest_capacity.py
	$(BIN)/python bench/hook_latency.py
	$(BIN)/python bench/status_page.py

clean:
	rm -rf $(VENV) .rollout *.egg-info
