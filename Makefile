# The platform's chores. `make run` and `make test` are all a new user needs.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PYTHON ?= python3
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/groups
# Both cores: the suite is mostly waiting on real processes and sockets. Whole modules go
# to a worker (loadfile), in the order tests/conftest.py sorts them: the modules that start
# real processes (marker browser, then e2e) first, so each module's platform starts once,
# on one worker, and the many quick modules fill both workers to the end. (xdist's own
# reorder, by number of tests, would put a three-test browser module last.)
PYTEST_ARGS ?= -n 2 --dist loadfile --no-loadscope-reorder
# What runs again on PostgreSQL: what behaves differently there. The pipeline, search,
# end to end, tests/postgres (the tests marked postgres), PostgreSQL going away for a
# minute under a stream of posts, and the website's tests whose pages run queries of
# their own (lists, filters, counts, paging, search, posting through messageserver,
# transactions). A website test module is in it unless it is listed in PG_SKIP_WEB: the
# modules about rendering, headers, forms' validation, signed links, languages and
# logging in, whose queries are plain ORM reads and writes that SQLite already ran.
PG_SKIP_WEB ?= $(addprefix tests/groups/web/,test_account_pages.py test_account_security.py \
	test_accounts.py test_feed_admin.py test_group_settings.py test_hosts_and_headers.py \
	test_languages.py test_links_and_powers.py test_login_and_refusals.py \
	test_notices_editor.py test_oidc.py test_remote_images.py test_signed_links.py \
	test_signup_and_login_links.py test_site_dns.py test_threads.py)
PG_TESTS ?= $(filter-out $(PG_SKIP_WEB),$(wildcard tests/messageserver/test_*.py \
	tests/groups/web/test_*.py tests/postgres tests/search tests/e2e \
	tests/reliability/test_database_down.py))

.PHONY: install run test test-sqlite test-postgres lint bench loadtest clean messages

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

run: install
	$(PY) manage.py runplatform

# ruff, then the import contracts in pyproject.toml ([tool.importlinter]): an import
# against the package layering fails here, and so in CI.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

# The whole suite on the embedded defaults (SQLite), then the database-heavy
# parts again on the local PostgreSQL (required in CI, skipped with a note elsewhere).
test: install lint test-sqlite test-postgres

test-sqlite: install
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test-postgres: install
	@if $(PY) -c "import psycopg,sys; psycopg.connect('$(PG_TEST_URL)'.rsplit('/',1)[0]+'/postgres', connect_timeout=3).close()" 2>/dev/null; then \
		DATABASE_URL=$(PG_TEST_URL) $(VENV)/bin/pytest $(PYTEST_ARGS) -m "postgres or not (browser or slow)" $(PG_TESTS); \
	elif [ "$$CI" = "true" ]; then \
		echo "PostgreSQL at $(PG_TEST_URL) is unreachable: CI requires it"; exit 1; \
	else \
		echo "PostgreSQL at $(PG_TEST_URL) is unreachable: skipping the PostgreSQL pass"; \
	fi

# The archive benchmark at 100,000 messages; BENCH_ARGS=--full for 1,000,000.
bench: install
	$(PY) bench/run.py $(BENCH_ARGS)

# 50 senders, 20 groups x 1,000 members, 60 s, then the drain (at most 300 s); options
# go in LOADTEST_ARGS, e.g. LOADTEST_ARGS="--unpaced" or "--rate 0.5" (see --help).
loadtest: install
	$(PY) bench/loadtest.py $(LOADTEST_ARGS)

# The German and French translations (docs/design.md "Languages"): collect every
# translatable string into locale/<lang>/LC_MESSAGES/django.po, then compile the .mo
# files the site reads. Translate the new entries in the .po files and run it again;
# tests/groups/test_translations.py fails while any entry is untranslated or fuzzy.
# Needs GNU gettext (apt-get install gettext).
LOCALES ?= de fr
messages: install
	$(PY) manage.py makemessages $(foreach l,$(LOCALES),-l $(l)) --no-obsolete \
		--ignore=.venv --ignore=var --ignore=tests --ignore=test-artifacts --ignore=bench
	$(PY) manage.py compilemessages $(foreach l,$(LOCALES),-l $(l)) --ignore=.venv

clean:
	rm -rf var .pytest_cache test-artifacts
