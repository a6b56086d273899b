# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test setup lint format bench proof clean

$(STAMP): requirements.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed ($(PYTHON) not found)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $(STAMP)

setup: $(STAMP)

# One line per step (`-v 2` on a command shows its detail), the demo logins last.
run: $(STAMP)
	@$(PY) manage.py migrate --noinput -v 0 && echo "migrate: the database is up to date"
	@$(PY) manage.py load_nagano
	@$(PY) manage.py generate_slots
	@DEBUG=1 $(PY) manage.py demo_staff
	@DEBUG=1 $(PY) manage.py runserver 127.0.0.1:8000

test: $(STAMP)
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -n 2 --dist loadgroup

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

bench: $(STAMP)
	$(PY) bench/availability.py

# The slow proofs. Schemathesis against the live app under gunicorn, every check
# (bench/schemathesis_run.py; SQLite in a temporary folder, or the PostgreSQL database of
# DATABASE_URL, dropped and recreated); with DATABASE_URL on PostgreSQL, also the fault drills and
# the two-node test on throwaway servers of their own (tests/test_drills.py, marker `drill`).
proof: $(STAMP)
	$(PY) bench/schemathesis_run.py
	case "$${DATABASE_URL:-}" in postgres*) $(PY) -m pytest -m drill tests/test_drills.py -v -s ;; esac

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-wal db.sqlite3-shm staticfiles
