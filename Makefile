# Allies: `make run` serves the app with its scheduler; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
NODE_STAMP := node_modules/.installed
HOST ?= 127.0.0.1
PORT ?= 5000
# The instance folder the app uses (ALLIES_INSTANCE_PATH, else ./instance).
INSTANCE_DIR := $(or $(ALLIES_INSTANCE_PATH),instance)

.PHONY: install install-test run record-base-url test lint format bench clean \
	translations-extract translations-compile

install: $(STAMP)

# The test tools (pytest, playwright, ruff…) and axe-core (accessibility checks in the browser
# tests, from npm) come only with `make test`.
install-test: install $(TEST_STAMP) $(NODE_STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

# The app runs from this folder (wsgi.py), so only its pinned dependencies are installed, read
# from pyproject.toml; the project itself is not installed into the environment.
DEPENDENCIES = $(BIN)/python -c 'import sys, tomllib; project = tomllib.load(open("pyproject.toml", "rb"))["project"]; print("\n".join(project["optional-dependencies"][sys.argv[1]] if sys.argv[1:] else project["dependencies"]))'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(DEPENDENCIES) > $(VENV)/requirements.txt
	$(BIN)/pip install --quiet -r $(VENV)/requirements.txt
	touch $(STAMP)

$(TEST_STAMP): $(STAMP) pyproject.toml
	$(DEPENDENCIES) test > $(VENV)/requirements-test.txt
	$(BIN)/pip install --quiet -r $(VENV)/requirements-test.txt
	touch $(TEST_STAMP)

# Migrate, create the first admin (password printed once) and demo data, then serve the web app
# and the reminder scheduler side by side; Ctrl-C stops both. The address it serves at is
# recorded in the instance folder, so email queued by any other process links to it.
run: export ALLIES_PUBLIC_BASE_URL ?= http://$(HOST):$(PORT)
run: install translations-compile record-base-url
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

lint: install-test
	$(BIN)/ruff check allies jobs tests bench wsgi.py
	$(BIN)/ruff format --check allies jobs tests bench wsgi.py

format: install-test
	$(BIN)/ruff format allies jobs tests bench wsgi.py
	$(BIN)/ruff check --fix allies jobs tests bench wsgi.py

test: install-test lint translations-compile
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/reminders.py
	$(BIN)/python bench/allies_page.py

# Catalogues (allies/translations/<lang>/LC_MESSAGES/messages.po): extract every marked string
# from the code and templates (babel.cfg) into messages.pot and merge it into each language's
# .po, then translate the new entries; compile makes the .mo files the app reads (not committed).
translations-extract: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output \
		--project=allies -o allies/translations/messages.pot .
	$(BIN)/pybabel update -i allies/translations/messages.pot -d allies/translations \
		--no-fuzzy-matching --ignore-obsolete

translations-compile: install
	$(BIN)/pybabel compile --statistics -d allies/translations

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache test-output
