# figbot developer tasks. Quick start: `make demo`, `make test` (see README).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.figbot-installed

.PHONY: install demo test test-fast lint lock clean

install: $(STAMP)

# One virtualenv from the lock file, figbot itself installed editable on top.
$(STAMP): requirements-dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	./scripts/ensure-cjk-font
	touch $(STAMP)

demo: install
	$(BIN)/figbot demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy bot handlers services domain models scheduler reports

test: install lint
	$(BIN)/pytest

# The tests that start no figbot process, on two cores (under a minute); CI runs everything.
# On PostgreSQL they run one at a time: every test there shares the one test database.
test-fast: install
	$(BIN)/pytest -m "not slow" $(if $(FIGBOT_TEST_DATABASE_URL),,-n 2)

# Regenerate the lock files after changing dependencies in pyproject.toml.
lock: install
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements-dev.lock

clean:
	rm -rf $(VENV) figbot-demo
