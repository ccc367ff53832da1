# Two commands do everything on a fresh machine:
#   make demo   # venv + install + the whole pipeline on offline data (CPU, minutes)
#   make test   # venv + install + the test suite
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-fast photos clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned, so nothing else resolves another torch build
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e ".[train,runtime,diffusers,dev]"
	touch $(STAMP)

setup: $(STAMP)

# Optional extra offline photos (Debian packages); skipped quietly without root/apt.
photos:
	@bash scripts/install_offline_photos.sh || true

demo: setup photos
	$(BIN)/fakedamage demo

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

clean:
	rm -rf $(VENV) runs .pytest_cache
