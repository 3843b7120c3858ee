# Two commands matter: `make run` and `make test`. Everything else is a helper.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench setup migrate demo clean messages screenshots

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $(STAMP)

setup: $(STAMP)

migrate: setup
	@mkdir -p var
	$(BIN)/tidings migrate

run: migrate
	$(BIN)/tidings serve

demo: migrate
	$(BIN)/tidings demo

test: setup
	$(BIN)/pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy src
	$(BIN)/lint-imports --no-logo

WEB := src/tidings/web
# The pages' message catalogues: extract every marked string, update both languages, compile.
messages: setup
	$(BIN)/pybabel extract --no-location --omit-header --sort-output -F $(WEB)/babel.cfg \
		-k gettext_noop -o $(WEB)/translations/messages.pot $(WEB)
	$(BIN)/pybabel update --no-fuzzy-matching --ignore-obsolete -i $(WEB)/translations/messages.pot \
		-d $(WEB)/translations
	$(BIN)/pybabel compile --statistics -d $(WEB)/translations

# Every page over the demo data at 360 px and 1280 px, into docs/screenshots/ (Debian's chromium).
screenshots: setup
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium)
	$(BIN)/python -m tests.e2e_web.screenshots

bench: setup
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/tidings bench ledger --db both
	$(BIN)/tidings bench notify --db both
	$(BIN)/tidings bench bus --db both
	$(BIN)/tidings bench risk
	$(BIN)/tidings bench credit
	$(BIN)/tidings bench insights --db both

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
