# mediastream: the two commands of the README, and what they need.
#
#   make demo   set up (if needed) and run the demo graph on its embedded default input
#   make test   set up (if needed) and run the whole test suite
#
# Set-up: system packages via apt-get when run as root (otherwise the exact command
# to run is printed), a virtual environment in .venv, torch from pip's configured
# wheel store, then the project with its dev extras.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# libportaudio2: PortAudio for sounddevice (live audio). FFmpeg comes inside PyAV's wheel.
# jackd2: the JACK server whose dummy driver the live-audio tests run against (no sound card).
SYSTEM_PACKAGES ?= libportaudio2 jackd2
TORCH_PINS ?= torch==2.14.1 "torchaudio==2.11.*" "torchcodec==0.17.*"
STAMP := $(VENV)/.mediastream-setup

.PHONY: demo test setup system-packages lint typecheck bench clean

demo: setup
	$(VENV)/bin/mediastream demo

test: setup
	$(PY) -m pytest -q

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@$(MAKE) --no-print-directory system-packages
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
	  echo "mediastream needs Python >= 3.11; $(PYTHON) is $$($(PYTHON) -V 2>&1)."; \
	  echo "run: make PYTHON=python3.11 (or newer) $(MAKECMDGOALS)"; exit 1; }
	@$(PY) -c 'import sys' 2>/dev/null || { rm -rf $(VENV); $(PYTHON) -m venv $(VENV) || { \
	  rm -rf $(VENV); \
	  echo "could not create a virtual environment with $(PYTHON)."; \
	  echo "on Debian/Ubuntu run: sudo apt-get install -y python3-venv   (then re-run make)"; \
	  exit 1; }; }
	$(PY) -m pip install --quiet $(TORCH_PINS)
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $@

system-packages:
	@missing=""; \
	for p in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "missing system packages:$$missing"; \
	    echo "run: sudo apt-get install -y$$missing   (then re-run make)"; \
	    exit 1; \
	  fi; \
	fi

lint: setup
	$(PY) -m ruff check .
	$(PY) -m mypy

# Benchmarks measure side by side against peers (pedalboard, dtaidistance, librosa):
# they come from the `bench` extra, installed here only.
bench: setup
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	$(PY) bench/run.py --all

clean:
	rm -rf $(VENV) mediastream-out .pytest_cache .mypy_cache .ruff_cache .hypothesis
