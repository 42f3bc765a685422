# The course's commands. After `git clone`, a student needs only two of them:
#   make lab    set up (once) and open JupyterLab on your own copy of the lecture notebooks
#   make test   set up the instructor's tools too (once) and run the whole test suite
# Instructors also use:
#   make notebooks   regenerate notebooks/ (student versions) and the README tables from solutions/
#   make solutions   execute every solution notebook in full mode (on a GPU if there is one)
#   make grade DIR=submissions/   grade a folder of submitted notebooks
#   make site        build the course website into build/site/ (offline)
# Options:
#   TORCH=cpu        install PyTorch without its CUDA libraries (a laptop with no NVIDIA GPU)
#   LAB_ARGS=...     extra arguments for JupyterLab, e.g. LAB_ARGS="--no-browser --port 8888"

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
TORCH  ?= default
# Jupyter refuses to run as root unless told; containers often run as root.
ROOT_ARGS := $(if $(filter 0,$(shell id -u)),--allow-root)
LAB_ARGS ?=
# Your working copies of the notebooks: git-ignored, so `git pull` never touches your answers.
WORK ?= work

.PHONY: setup lab test notebooks solutions grade site format

$(VENV)/.created:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
ifeq ($(TORCH),cpu)
	$(PY) -m pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu
endif
	touch $@

# the student's environment: the library and JupyterLab, no instructor tools
$(VENV)/.lab: pyproject.toml $(VENV)/.created
	$(PY) -m pip install -e ".[lab]"
	touch $@

# everything: tests, nbval, nbgrader, jupytext, ruff
$(VENV)/.test: pyproject.toml $(VENV)/.created
	$(PY) -m pip install -e ".[test]"
	touch $@

setup: $(VENV)/.test

lab: $(VENV)/.lab
	@mkdir -p $(WORK)
	@for nb in notebooks/*.ipynb; do \
	  if [ ! -e "$(WORK)/$$(basename $$nb)" ]; then cp "$$nb" $(WORK)/ && echo "new lecture: $(WORK)/$$(basename $$nb)"; fi; \
	done
	$(VENV)/bin/jupyter lab $(ROOT_ARGS) $(LAB_ARGS) $(WORK)/

test: $(VENV)/.test
	$(PY) -m pytest

notebooks: $(VENV)/.test
	$(PY) -m dgm.course notebooks

solutions: $(VENV)/.test
	$(PY) -m dgm.course execute solutions/*.ipynb
	$(PY) -m dgm.course execute --fast --time-only solutions/*.ipynb

grade: $(VENV)/.test
	$(PY) -m dgm.grade $(DIR)

site: $(VENV)/.test
	$(PY) -m dgm.course site

format: $(VENV)/.test
	$(VENV)/bin/ruff format lib tests benchmarks
	$(VENV)/bin/ruff check --fix lib tests benchmarks
