# One entry point for set-up on a fresh Debian/Ubuntu machine: every target installs what it needs.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
DEB_PACKAGES := libsmali-java aapt zipalign apksigner android-framework-res dexdump adb tshark \
                default-jdk-headless chromium
# node and npm (the TrackHAR cross-check) are installed from Debian only when no `npm` command exists: a Node.js
# from another source (NodeSource bundles npm) conflicts with Debian's npm package.
NODE_PACKAGES := nodejs npm
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
STAMP := $(VENV)/.installed

.PHONY: setup deb demo test bench fuzz clean

setup: deb $(STAMP)

deb:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	command -v npm >/dev/null 2>&1 || missing="$$missing $(NODE_PACKAGES)"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

demo: setup
	$(PY) examples/make_reports.py --live-capture

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/run.py
	$(PY) bench/capabilities.py
	$(PY) bench/traffic.py
	$(PY) bench/recipients.py
	$(PY) bench/corpus.py --jobs 1 2 --dask
	$(PY) bench/actors.py
	$(PY) bench/runtime.py
	$(PY) bench/sdk_accuracy.py
	@if [ -f bench/hostile.py ]; then $(PY) bench/hostile.py; fi

fuzz: setup
	APPAUDIT_FUZZ_EXAMPLES=1000 $(PY) -m pytest -q tests/fuzz

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
