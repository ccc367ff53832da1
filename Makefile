# Two commands do everything on a fresh machine:
#   make demo   # venv + install + the whole pipeline on offline data (CPU, minutes)
#   make test   # venv + install + the test suite
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-fast lint photos clean browser fonts js-client eval-assess

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned, so nothing else resolves another torch build
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e ".[train,runtime,serve,assess,diffusers,dev]"
	# its declared deps are torch and opencv-python: never let them resolve (torch is pinned above)
	$(BIN)/pip install -q --no-deps invisible-watermark==0.2.0
	# OCR of visible AI labels (PP-OCRv4 models in the wheel): its declared opencv-python would clash with
	# opencv-python-headless; what it imports is in the assess extra
	$(BIN)/pip install -q --no-deps rapidocr-onnxruntime==1.4.4
	touch $(STAMP)

setup: $(STAMP)

# Optional extra offline photos (Debian packages); skipped quietly without root/apt.
photos:
	@bash scripts/install_offline_photos.sh || true

demo: setup photos
	$(BIN)/fakedamage demo

# Debian Chromium for the review-page browser test (Playwright drives /usr/bin/chromium).
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else echo "warning: no chromium and no root/apt: the review-page browser test will be skipped" >&2; fi

# A CJK font (Debian fonts-noto-cjk) to render Chinese AI labels in the explicit-label tests.
CJK_FONTS := /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc
fonts:
	@if ls $(CJK_FONTS) 2>/dev/null | grep -q .; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk; \
	else echo "warning: no CJK font and no root/apt: the Chinese explicit-label tests will be skipped" >&2; fi

# The reference Node client (clients/js): npm packages from the registry only; ONNXRUNTIME_NODE_INSTALL=skip stops
# onnxruntime-node's install script from fetching CUDA binaries from outside it (CPU is bundled);
# (an environment variable: npm 11 warns about the equivalent --onnxruntime-node-install=skip).
js-client:
	@if command -v npm >/dev/null 2>&1; then \
	  cd clients/js && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund; \
	else echo "warning: no npm: the Node client's conformance test will be skipped" >&2; fi

test: setup browser fonts js-client
	$(BIN)/python -m pytest -q

test-fast: setup browser fonts js-client
	$(BIN)/python -m pytest -q -m "not slow"

# ruff (dev extra; settings in pyproject.toml); CI runs it after the tests
lint: setup
	$(BIN)/ruff check src tests scripts

# Claim-assessment evaluation with the model and generators you name, e.g.
#   make eval-assess MODEL=runs/demo/model.onnx
#   make eval-assess MODEL=runs/demo/model.onnx GENERATORS=classical,ae AE_WEIGHTS=runs/demo/data/generators
# MODEL=none evaluates provenance and references only; EVAL_OUT is the output folder. Then the
# held-out validation (scripts/eval_assess_heldout.py; EVAL_OUT/heldout; HELDOUT_N=30 claims per AI kind,
# HELDOUT_GENUINE=75 per genuine kind).
ifneq ($(filter eval-assess,$(MAKECMDGOALS)),)
ifeq ($(strip $(MODEL)),)
$(error make eval-assess needs MODEL=path/to/model.onnx, e.g. make eval-assess MODEL=runs/demo/model.onnx (MODEL=none: no detector))
endif
endif
eval-assess: GENERATORS ?= classical
eval-assess: EVAL_OUT ?= runs/assess_eval
eval-assess: setup fonts
	$(BIN)/python scripts/eval_assess.py --model "$(MODEL)" --generators "$(GENERATORS)" \
	  $(if $(strip $(AE_WEIGHTS)),--ae-weights $(AE_WEIGHTS)) --out "$(EVAL_OUT)"
	# held-out validation of the thresholds: photos, generators and damage they were not tuned on
	$(BIN)/python scripts/eval_assess_heldout.py --model "$(MODEL)" --out "$(EVAL_OUT)/heldout" \
	  $(if $(strip $(HELDOUT_N)),--n-per-kind $(HELDOUT_N)) $(if $(strip $(HELDOUT_GENUINE)),--n-genuine $(HELDOUT_GENUINE))

clean:
	rm -rf $(VENV) runs .pytest_cache
