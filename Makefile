# The README's two commands: `make demo` (set up, then run the quick study) and `make test` (set up, then the tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
GAN := $(VENV)/bin/gan

.PHONY: setup data demo test test-fast bench

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,mnist5k]"
	touch $@

# Fashion-MNIST offline: Debian's package puts the IDX files in /usr/share/datasets/fashion-mnist.
data:
	@if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq dataset-fashion-mnist; \
	fi

demo: setup data
	$(GAN) study configs/study/quick.yaml

test: setup
	OMP_NUM_THREADS=1 $(PY) -m pytest -q --durations=20

test-fast: setup
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -m "not slow" --durations=20

bench: setup
	$(PY) benchmarks/run_all.py
