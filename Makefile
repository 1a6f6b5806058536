.PHONY: setup up down demo test lint bench image

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

test: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} .venv/bin/python manage.py makemigrations --check --dry-run >/dev/null
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} .venv/bin/python -m pytest $(PYTEST_ARGS)

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

bench: up
	.venv/bin/python bench/run_overhead.py
