.PHONY: setup up down demo test test-fast lint bench image

TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test

setup:
	bash scripts/setup.sh

image:
	images/python-node/build.sh

up: setup
	bash scripts/up.sh

down:
	bash scripts/down.sh

demo: up
	.venv/bin/python scripts/demo.py

# The suite uses its own Redis (a redis-server on port 6390 that the tests start and restart),
# Celery queue and media folder, so a stack started with `make up` never mixes with it. Two
# suites at once on one machine (two checkouts) each set DATABASE_URL, TEST_REDIS_URL and
# CROWNEST_TEST_INSTANCE (the label of their sandboxes and warm pool) to their own.
TEST_ENV = DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} \
	REDIS_URL=$${TEST_REDIS_URL:-redis://127.0.0.1:6390/0} \
	CROWNEST_QUEUE=crownest-test CROWNEST_CHANNEL_PREFIX=crownest-test \
	CROWNEST_INSTANCE=$${CROWNEST_TEST_INSTANCE:-test} \
	CROWNEST_MEDIA_ROOT=$(CURDIR)/var/test-media

test: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	$(TEST_ENV) .venv/bin/python manage.py makemigrations --check --dry-run >/dev/null
	$(TEST_ENV) .venv/bin/python -m pytest $(PYTEST_ARGS)

# The fast core: `test` without the tests that need Docker, a browser, S3, node/npm, faults or a
# second host (markers in pyproject.toml): PostgreSQL and Redis only.
FAST = not docker and not browser and not s3 and not node and not faults and not multihost
test-fast: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	$(TEST_ENV) .venv/bin/python manage.py makemigrations --check --dry-run >/dev/null
	$(TEST_ENV) .venv/bin/python -m pytest -m "$(FAST)" $(PYTEST_ARGS)

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

bench: up
	.venv/bin/python bench/run_overhead.py
