# dutywatch: `make run` starts the daemon on SQLite with a demo district; `make test` checks it all.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run demo test lint typecheck pytest bench clean migration-initial

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# A fresh SQLite database under var/ with a demo district whose history ends today, then the daemon.
run: install
	$(BIN)/dutywatch demo --reset
	$(BIN)/dutywatch run

lint: install
	$(BIN)/ruff check monitor notifiers tests bench
	$(BIN)/ruff format --check monitor notifiers tests bench

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest

test: lint typecheck pytest

# S and M on SQLite (minutes); LARGE=1 adds a province on PostgreSQL (generated and COPYed in:
# about half an hour, several GB of memory)
bench: install
	$(BIN)/python -m bench.run --size S --size M
	if [ -n "$(LARGE)" ]; then $(BIN)/python -m bench.large --size L; fi

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

# Until the first release the schema is one migration; regenerate it after changing models.
migration-initial: install
	rm -f monitor/migrations/versions/0001_initial_schema.py /tmp/dutywatch-gen.db
	$(BIN)/python -c "from alembic import command; from monitor.store.db import make_engine, alembic_config; command.revision(alembic_config(make_engine('sqlite:////tmp/dutywatch-gen.db')), message='initial schema', autogenerate=True, rev_id='0001')"
	$(BIN)/ruff format monitor/migrations/versions/0001_initial_schema.py >/dev/null
	$(BIN)/ruff check --fix monitor/migrations/versions/0001_initial_schema.py >/dev/null || true
