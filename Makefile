# Two commands for a newcomer: `make run` and `make test`. Everything they need is installed from here.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8501
FASHION_DIR := /usr/share/datasets/fashion-mnist

# numba's JIT cache inside the project: UMAP's cold compile (tens of seconds) is paid once, not every run.
export NUMBA_CACHE_DIR := $(CURDIR)/.cache/numba
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint screenshots setup setup-dev data browser node assets modules bench default-model clean help

help:
	@echo "make run   - set up everything and open the app on http://127.0.0.1:$(PORT)"
	@echo "make test  - set up everything and run the whole test suite (unit, AppTest, browser)"
	@echo "make bench - print the benchmarks (slow: minutes)"
	@echo "make screenshots - refresh docs/screenshots/*.png from the browser tests"

run: setup data assets
	$(BIN)/python -m streamlit run app.py --server.address=127.0.0.1 --server.port=$(PORT)

test: setup-dev data browser assets lint
	$(BIN)/python -m pytest

lint: setup-dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# README's pictures come from the browser tests, but only here: `make test` must leave the work tree clean.
screenshots: setup-dev data browser assets
	VAE_SCREENSHOTS=1 $(BIN)/python -m pytest tests/e2e -q

setup: $(VENV)/.installed
setup-dev: $(VENV)/.installed-dev

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install -q -r requirements-dev.txt
	@touch $@

# Fashion-MNIST, the default dataset: Debian ships it. Without apt/root we say how to get it and go on
# (the app then falls back to scikit-learn's bundled digits).
data:
	@if [ -f $(FASHION_DIR)/t10k-images-idx3-ubyte.gz ] || [ -n "$$VAE_DATA_DIR" ] || [ -f data/fashion-mnist/t10k-images-idx3-ubyte.gz ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  echo "Installing Fashion-MNIST (Debian package dataset-fashion-mnist)…"; \
	  (apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || \
	   (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist)) \
	  || echo "Could not install dataset-fashion-mnist; the app will use the digits fallback."; \
	else \
	  echo "Fashion-MNIST not found. Get it with 'sudo apt-get install dataset-fashion-mnist', or put its four"; \
	  echo "IDX .gz files in data/fashion-mnist/, or run 'python -m vae_core datasets'. Using digits meanwhile."; \
	fi

# Debian's Chromium for the browser tests (Playwright drives the system binary; it never downloads a browser).
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  echo "Installing Chromium for the browser tests…"; \
	  (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null 2>&1 || \
	   (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji)); \
	else \
	  echo "Chromium is missing: install Debian's 'chromium' package for the browser tests."; \
	fi

# Browser assets: onnxruntime-web and Plotly.js from the committed package-lock.json (Node and npm from apt when
# missing), and the components' modules.
# static/vendor/ is served by Streamlit at /app/static/vendor/ (enableStaticServing); nothing is fetched at run time.
VENDOR := static/vendor
ORT_DIST := node_modules/onnxruntime-web/dist
VENDOR_FILES := $(ORT_DIST)/ort.wasm.min.mjs $(ORT_DIST)/ort-wasm-simd-threaded.mjs \
	$(ORT_DIST)/ort-wasm-simd-threaded.wasm node_modules/plotly.js-dist-min/plotly.min.js

node:
	@if command -v npm >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  echo "Installing Node.js and npm…"; \
	  (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null 2>&1 || \
	   (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm)); \
	else \
	  echo "npm is missing: install Debian's 'nodejs' and 'npm' packages (the browser decoder needs them)."; exit 1; \
	fi

assets: $(VENDOR)/.installed modules

node_modules/.package-lock.json: package-lock.json | node
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error

$(VENDOR)/.installed: node_modules/.package-lock.json
	@mkdir -p $(VENDOR)
	cp $(VENDOR_FILES) $(VENDOR)/
	@touch $@

# The components' own JS: the ES modules ui/components/**/*.mjs, copied as they are (no bundler) to
# static/components/<hash of them all>/, which the components import by URL (ui/components/modules.py says why).
# The standard library only, so no virtual environment is needed; idempotent and fast, so it runs every time.
modules:
	@$(PYTHON) ui/components/modules.py

bench: setup-dev data browser assets
	$(BIN)/python bench/train_vs_reference.py
	$(BIN)/python bench/latency.py
	$(BIN)/python bench/live.py
	$(BIN)/python bench/encode.py
	$(BIN)/python bench/onnx_encode.py
	$(BIN)/python bench/bring.py
	$(BIN)/python bench/lab.py
	$(BIN)/python -m bench.map
	$(BIN)/python -m bench.first_map
	$(BIN)/python -m bench.first_load
	$(BIN)/python bench/compare.py
	$(BIN)/python -m bench.compare_page
	$(BIN)/python -m bench.movie_page
	$(BIN)/python bench/first_training.py

# Rebuild the shipped default model with the project's own CLI (the command README quotes), with its training
# movie's snapshots (8 x 956 kB), then the caches it ships so the first Map and movie need no fit.
default-model: setup data
	$(BIN)/python -m vae_core train --dataset fashion-mnist --latent-dim 16 --epochs 8 --seed 0 \
	  --warmup-epochs 1 --channels 32 64 --hidden 128 --lr 1e-3 --batch-size 128 --snapshots 1 \
	  --out pretrained/fashion-mnist-z16
	$(BIN)/python pretrained/ship_caches.py pretrained/fashion-mnist-z16
	$(BIN)/python -m vae_core train --dataset digits --latent-dim 8 --epochs 30 --seed 0 --warmup-epochs 2 \
	  --channels 32 64 --hidden 128 --lr 1e-3 --batch-size 128 --snapshots 0 --out pretrained/digits-z8

clean:
	rm -rf $(VENV) .cache .pytest_cache node_modules $(VENDOR) static/components
