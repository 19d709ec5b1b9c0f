# Allies: `make run` serves the app with its scheduler; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
HOST ?= 127.0.0.1
PORT ?= 5000
# The instance folder the app uses (ALLIES_INSTANCE_PATH, else ./instance).
INSTANCE_DIR := $(or $(ALLIES_INSTANCE_PATH),instance)

.PHONY: install install-test run record-base-url test lint format bench clean

install: $(STAMP)

# axe-core (accessibility checks in the browser tests) comes from npm.
install-test: install $(NODE_STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# Migrate, create the first admin (password printed once) and demo data, then serve the web app
# and the reminder scheduler side by side; Ctrl-C stops both. The address it serves at is
# recorded in the instance folder, so email queued by any other process links to it.
run: export ALLIES_PUBLIC_BASE_URL ?= http://$(HOST):$(PORT)
run: install record-base-url
	$(BIN)/flask --app wsgi db upgrade
	$(BIN)/flask --app wsgi bootstrap
	@echo "Allies is at http://$(HOST):$(PORT)/  (staff: http://$(HOST):$(PORT)/staff/sign-in)"
	@trap 'kill $$scheduler 2>/dev/null' EXIT INT TERM; \
	$(BIN)/flask --app wsgi scheduler & scheduler=$$!; \
	$(BIN)/gunicorn --workers 2 --bind $(HOST):$(PORT) --access-logfile - wsgi:app

# instance/public_base_url: read by allies/config.py when neither the environment nor
# instance/config.py sets PUBLIC_BASE_URL (a `flask --app wsgi reminders run` in another shell).
record-base-url:
	@mkdir -p "$(INSTANCE_DIR)"
	@printf '%s\n' "$(or $(ALLIES_PUBLIC_BASE_URL),http://$(HOST):$(PORT))" > "$(INSTANCE_DIR)/public_base_url"

lint: install
	$(BIN)/ruff check allies jobs tests bench wsgi.py
	$(BIN)/ruff format --check allies jobs tests bench wsgi.py

format: install
	$(BIN)/ruff format allies jobs tests bench wsgi.py
	$(BIN)/ruff check --fix allies jobs tests bench wsgi.py

test: install-test lint
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/reminders.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache test-output
