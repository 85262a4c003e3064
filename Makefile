# Two commands matter: `make demo` and `make test`. Both create .venv and install on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Every other supported Airflow is a leg of its own: .venv-<leg>, pinned by constraints-<leg>.txt
# (2.11, 3.0.6, 3.1.8, 3.2.2): `make test-airflow30`, or all: `make test-all`. What each runs (tiers in tests/conftest.py):
# 2.11 everything but the distributed tier (CeleryExecutor, 3.3 only); 3.0, 3.1 and 3.2 the unit and dag_run tiers,
# where versions differ, and the few end-to-end tests marked every_leg, leaving the rest of the end-to-end tiers to
# 3.3 and 2.11, so CI stays within its hour.
LEGS := airflow2 airflow30 airflow31 airflow32
LEG_TIERS_airflow2 := not distributed
LEG_TIERS_airflow30 := (not scheduler or every_leg) and not browser and not distributed
LEG_TIERS_airflow31 := $(LEG_TIERS_airflow30)
LEG_TIERS_airflow32 := $(LEG_TIERS_airflow30)
INSTALL_LEGS := $(addprefix install-,$(LEGS))
TEST_LEGS := $(addprefix test-,$(LEGS))
# Python compiles what it imports; compiling all of Airflow at install time only costs CI minutes.
PIP_INSTALL := -m pip install --quiet --no-compile --disable-pip-version-check

.PHONY: install demo airflow test test-fast test-all legs bench lint docs format clean $(INSTALL_LEGS) $(TEST_LEGS)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) $(PIP_INSTALL) --upgrade pip
	$(PY) $(PIP_INSTALL) --constraint constraints.txt --editable '.[dev,celery-e2e,docs]'  # Celery: 3.3 only; docs: make docs
	touch $(STAMP)

install: $(STAMP)

.venv-%/.installed: pyproject.toml constraints-%.txt
	$(PYTHON) -m venv .venv-$*
	.venv-$*/bin/python $(PIP_INSTALL) --upgrade pip
	.venv-$*/bin/python $(PIP_INSTALL) --constraint constraints-$*.txt --editable '.[dev]'
	touch $@

$(INSTALL_LEGS): install-%: .venv-%/.installed

$(TEST_LEGS): test-%: install-%
	.venv-$*/bin/python -m pytest -m "$(LEG_TIERS_$*)"

demo: install
	$(PY) scripts/demo.py

# Airflow 3 on 127.0.0.1 (api-server, dag-processor, scheduler, triggerer) with the emulator and example_dags/, in
# .airflow-local/; prints the UI's address; Ctrl-C stops it all. Options: make airflow ARGS="--port 8090 --fresh".
airflow: install
	$(PY) scripts/local_airflow.py $(ARGS)

# Every tier on Airflow 3.3, in two runs: all but the distributed tier, then the distributed tier (CeleryExecutor
# with two workers), each run's wall time printed so the Celery tests' cost stays visible; both run, either fails it.
# `make test TIERS="<marker expression>"` runs those tiers alone, in one run (CI: the distributed tier by itself).
TIERS ?=
test: install
	@status=0; \
	for tiers in $(if $(TIERS),"$(TIERS)","not distributed" "distributed"); do \
		t=$$(date +%s); $(PY) -m pytest -m "$$tiers" || status=1; \
		echo "ci: make test: $$tiers in $$(($$(date +%s) - t)) s" >&2; \
	done; \
	exit $$status

# The inner loop: the unit tier only (no DAG run, no scheduler, no browser); tiers are in tests/conftest.py.
test-fast: install
	$(PY) -m pytest -m unit -q

test-all: test $(TEST_LEGS)

# The legs beside `make test`, for CI to time one by one.
legs:
	@echo $(LEGS)

bench: install
	$(PY) benchmarks/run.py

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The site in docs/ (mkdocs.yml), into site/; --strict: a warning (a broken link, a docstring griffe cannot read) fails it.
docs: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) $(addprefix .venv-,$(LEGS)) .airflow-demo .airflow-local .pytest_cache .ruff_cache site

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
