# Two commands matter: `make demo` and `make test`. Both create .venv and install on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

VENV2 := .venv-airflow2
PY2 := $(VENV2)/bin/python
STAMP2 := $(VENV2)/.installed

.PHONY: install install-airflow2 demo test test-airflow2 bench lint format clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --constraint constraints.txt --editable '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The Airflow 2.11 leg: the same package and tests in a venv of its own.
$(STAMP2): pyproject.toml constraints-airflow2.txt
	$(PYTHON) -m venv $(VENV2)
	$(PY2) -m pip install --quiet --upgrade pip
	$(PY2) -m pip install --quiet --constraint constraints-airflow2.txt --editable '.[dev]' 'apache-airflow==2.11.*'
	touch $(STAMP2)

install-airflow2: $(STAMP2)

demo: install
	$(PY) scripts/demo.py

test: install
	$(PY) -m pytest

test-airflow2: install-airflow2
	$(PY2) -m pytest

bench: install
	$(PY) benchmarks/run.py

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) $(VENV2) .airflow-demo .pytest_cache .ruff_cache

# The package as PyPI would receive it. pyroma skips the two checks that need a contact email and
# a public home page, which the project does not have yet (plain `pyroma .` rates it 8/10).
.PHONY: package-check
package-check: install
	rm -rf dist
	$(VENV)/bin/pyroma --min 10 --skip-tests AuthorEmail,Url .
	$(PY) -m build --no-isolation --outdir dist .
	$(VENV)/bin/twine check --strict dist/*
	$(VENV)/bin/check-wheel-contents dist/*.whl
	$(PY) scripts/check_sdist.py dist/*.tar.gz
