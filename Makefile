# One command each: `make run` for a demo, `make test` for the whole suite.
# Everything missing is installed on the way (uv with pip, Python packages from uv.lock,
# Debian packages with apt-get).

PYTHON ?= python3
UV := $(PYTHON) -m uv
MANAGE := $(UV) run --frozen python manage.py
export UV_PYTHON_DOWNLOADS := never

# Debian packages: gettext compiles the translations, Pango and a CJK font render PDFs and
# pages with Chinese text (WeasyPrint, Chromium),
# Chromium runs the browser tests and poppler-utils (pdffonts) checks the PDFs.
APT_RUNTIME := gettext libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk
APT_TEST := chromium poppler-utils

.PHONY: install uv python-packages system-packages test-system-packages messages \
	compilemessages run test worker beat lint checkmigrations format bench clean

uv:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv

define apt_install
	@missing=""; for pkg in $(1); do \
		dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q "ok installed" || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

system-packages:
	$(call apt_install,$(APT_RUNTIME))

test-system-packages: system-packages
	$(call apt_install,$(APT_TEST))

# The locked Python packages only: enough for lint and the migrations check.
python-packages: uv
	$(UV) sync --frozen
	@mkdir -p var/mail var/static

install: python-packages system-packages
	@$(MAKE) --no-print-directory compilemessages

compilemessages:
	@DEBUG=1 $(MANAGE) compilemessages --ignore=.venv -v0

# Refresh the .po files from the code and templates (then translate the new entries).
messages: install
	DEBUG=1 $(MANAGE) makemessages -l zh_Hans --no-obsolete --no-location \
		--ignore=.venv --ignore=var --ignore=tests

# Local settings for `make run` and for `uv run python manage.py …` by hand (portal/settings.py
# reads .env when it exists; real environment variables win). Written once, never overwritten.
.env:
	@printf '%s\n' \
		'# Local development settings, written by `make run` (git-ignored). Never use in production.' \
		'DEBUG=1' \
		"SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')" > $@
	@echo "Wrote $@ (DEBUG=1 and a generated SECRET_KEY)."

# The demo's seller (Example Hosting Ltd, Dallas) gets a DEMO tax identifier, a placeholder
# US EIN that is nobody's registration, so that the demo's e-invoices pass EN 16931 (BR-CO-26:
# an invoice names an identifier of its seller). Only when no seller tax data is configured
# (in the environment, on the command line or in $(ENV_FILE)): a real seller sets
# SELLER_COUNTRY and SELLER_VAT_ID itself. Never in production: `check --deploy` refuses an
# empty SELLER_VAT_ID (portal.E013) but cannot tell this placeholder from a real number.
ENV_FILE ?= .env
SELLER_TAX_DATA_SET := $(filter-out undefined,$(origin SELLER_COUNTRY) $(origin SELLER_VAT_ID) \
	$(origin SELLER_TAX_ID))$(shell grep -Eqs '^[[:space:]]*(export[[:space:]]+)?SELLER_(COUNTRY|VAT_ID|TAX_ID)=' '$(ENV_FILE)' && echo env-file)
DEMO_SELLER_VAT_ID := $(if $(strip $(SELLER_TAX_DATA_SET)),,12-3456789)

run: export DEBUG ?= 1
ifneq ($(DEMO_SELLER_VAT_ID),)
run: export SELLER_VAT_ID := $(DEMO_SELLER_VAT_ID)
endif
run: install .env
	$(MANAGE) migrate --no-input -v0
	$(MANAGE) seed_demo
	@echo "Serving http://127.0.0.1:8000 (Ctrl-C stops)"
	$(MANAGE) runserver 127.0.0.1:8000

# How many pytest-xdist workers share the suite: `auto` is one per CPU, 0 runs it in one
# process. Each worker has its own test database, Redis database (REDIS_URL's, then the next
# ones), ports and media directory (tests/parallel.py).
TEST_WORKERS ?= auto
test: export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/portal
test: export REDIS_URL ?= redis://127.0.0.1:6379/0
test: export SECRET_KEY ?= test-only-secret-key-not-for-production-0123456789abcdef
test: export SECURE_SSL_REDIRECT ?= 0
test: export SECURE_COOKIES ?= 0
test: install test-system-packages
	$(UV) run --frozen pytest --create-db -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# One worker for every queue (money, emails, pdfs, default): enough for a single machine.
# `make worker WORKER_QUEUES=money` runs one for the money work only (docker-compose.yml).
WORKER_QUEUES ?= money,emails,pdfs,default
worker: install
	$(UV) run --frozen celery -A portal worker --loglevel=INFO --queues=$(WORKER_QUEUES)

beat: install
	$(UV) run --frozen celery -A portal beat --loglevel=INFO --schedule=var/celerybeat-schedule

lint: python-packages
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	DEBUG=1 $(UV) run --frozen mypy .

# Fails when a model change has no migration.
checkmigrations: python-packages
	DEBUG=1 $(MANAGE) makemigrations --check --dry-run

format: python-packages
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

bench: export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/portal_bench
bench: install
	@set -e; for script in bench/bench_*.py; do \
		[ -e "$$script" ] || { echo "No benchmarks yet."; break; }; \
		name=$$(basename "$$script" .py); \
		echo "== $$script"; $(UV) run --frozen python -m "bench.$$name"; \
	done

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
