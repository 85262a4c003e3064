# Two commands matter: `make demo` and `make test`. Both create .venv and install on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

VENV2 := .venv-airflow2
PY2 := $(VENV2)/bin/python
STAMP2 := $(VENV2)/.installed

.PHONY: install install-airflow2 install-airflow30 install-airflow31 install-airflow32 demo test test-airflow2 \
	test-airflow30 test-airflow31 test-airflow32 bench lint format clean

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

# The Airflow 3.0.6 leg (pins in constraints-airflow30.txt, resolved with the pins the README names).
$(VENV)-airflow30/.installed: pyproject.toml constraints-airflow30.txt
	$(PYTHON) -m venv $(VENV)-airflow30
	$(VENV)-airflow30/bin/python -m pip install --quiet --upgrade pip
	$(VENV)-airflow30/bin/python -m pip install --quiet --constraint constraints-airflow30.txt --editable '.[test]' 'apache-airflow==3.0.6'
	touch $@

install-airflow30: $(VENV)-airflow30/.installed

test-airflow30: install-airflow30
	$(VENV)-airflow30/bin/python -m pytest

# The Airflow 3.1.8 leg (pins in constraints-airflow31.txt, resolved with the pins the README names).
$(VENV)-airflow31/.installed: pyproject.toml constraints-airflow31.txt
	$(PYTHON) -m venv $(VENV)-airflow31
	$(VENV)-airflow31/bin/python -m pip install --quiet --upgrade pip
	$(VENV)-airflow31/bin/python -m pip install --quiet --constraint constraints-airflow31.txt --editable '.[test]' 'apache-airflow==3.1.8'
	touch $@

install-airflow31: $(VENV)-airflow31/.installed

test-airflow31: install-airflow31
	$(VENV)-airflow31/bin/python -m pytest

# The Airflow 3.2.2 leg (pins in constraints-airflow32.txt, resolved with the pins the README names).
$(VENV)-airflow32/.installed: pyproject.toml constraints-airflow32.txt
	$(PYTHON) -m venv $(VENV)-airflow32
	$(VENV)-airflow32/bin/python -m pip install --quiet --upgrade pip
	$(VENV)-airflow32/bin/python -m pip install --quiet --constraint constraints-airflow32.txt --editable '.[test]' 'apache-airflow==3.2.2'
	touch $@

install-airflow32: $(VENV)-airflow32/.installed

test-airflow32: install-airflow32
	$(VENV)-airflow32/bin/python -m pytest

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
	rm -rf $(VENV) $(VENV2) $(VENV)-airflow30 $(VENV)-airflow31 $(VENV)-airflow32 .airflow-demo .pytest_cache .ruff_cache
