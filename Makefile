# Thesis-VFI: `make run` (notebooks, smoke mode) and `make test` (whole suite) on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
# CPU machines pin the local CPU wheel so pip never pulls a multi-GB CUDA build of torch.
TORCH_CPU := torch==2.13.0
HAS_CUDA := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo 1)
PYTEST_ARGS ?=

.PHONY: venv run test lab bench clean-venv help
help:
	@echo "make run    - create .venv, install, execute all notebooks (smoke) into papermill_runs/"
	@echo "make test   - create/use .venv and run the test suite"
	@echo "make lab    - start JupyterLab with the vfi-lib kernel"
	@echo "make bench  - whole-stack speed benchmark (python -m vfi_lib.speed) -> outputs/benchmarks/"

venv: $(STAMP)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# Re-installs only when pyproject.toml changes; a second `make` skips straight through.
$(STAMP): pyproject.toml | $(VENV)/bin/python
ifeq ($(HAS_CUDA),)
	$(PIP) install -q $(TORCH_CPU)
endif
	$(PIP) install -q -e ".[notebooks,dev]"
	$(PY) -m ipykernel install --sys-prefix --name vfi-lib --display-name "Python (vfi-lib)" >/dev/null
	$(MAKE) --no-print-directory nbdime-git
	touch $(STAMP)

# nbdime's git drivers, with absolute venv paths so `git diff` works outside the venv too.
.PHONY: nbdime-git
nbdime-git:
	-@git rev-parse --git-dir >/dev/null 2>&1 && $(VENV)/bin/nbdime config-git --enable >/dev/null 2>&1 && \
	  for k in diff.jupyternotebook.command merge.jupyternotebook.driver difftool.nbdime.cmd mergetool.nbdime.cmd; do \
	    v=$$(git config --local --get $$k) && git config --local $$k "$(CURDIR)/$(VENV)/bin/$$v"; done; true

run: $(STAMP)
	$(PY) -m vfi_lib.notebooks run --smoke

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks

bench: $(STAMP)
	$(PY) -m vfi_lib.speed

clean-venv:
	rm -rf $(VENV)
