# The course's commands. After `git clone`, a student needs only two of them:
#   make lab    set up (once) and open JupyterLab on the lecture notebooks
#   make test   set up (once) and run the whole test suite (fast mode, CPU is enough)
# Instructors also use:
#   make notebooks   regenerate notebooks/ (student versions) and the README table from solutions/
#   make solutions   execute every solution notebook in full mode (on a GPU if there is one)
#   make grade DIR=submissions/   grade a folder of submitted notebooks

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# Jupyter refuses to run as root unless told; containers often run as root.
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: setup lab test notebooks solutions grade format

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[test]"
	touch $@

lab: setup
	$(VENV)/bin/jupyter lab $(LAB_ARGS) notebooks/

test: setup
	$(PY) -m pytest

notebooks: setup
	$(PY) -m dgm.build notebooks

solutions: setup
	$(PY) -m dgm.build execute solutions/*.ipynb
	$(PY) -m dgm.build execute --fast --time-only solutions/*.ipynb

grade: setup
	$(PY) -m dgm.grade $(DIR)

format: setup
	$(VENV)/bin/ruff format lib tests benchmarks
	$(VENV)/bin/ruff check --fix lib tests benchmarks
