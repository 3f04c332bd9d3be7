# make demo | make test | make check | make bench | make build | make mutants
# Everything runs from .venv, built from the pinned requirements on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum < requirements.txt | cut -d' ' -f1)
export MPLBACKEND := Agg
export PYTHONDONTWRITEBYTECODE := 1

# Debian packages the tests run for real: NUT's driver, server and clients; the MQTT broker.
NUT := /lib/nut/nutdrv_qx
MOSQUITTO := /usr/sbin/mosquitto
# make bench counts the instructions of a block with valgrind's callgrind.
VALGRIND := /usr/bin/valgrind

# The MicroPython stubs pyright checks the board drivers against, one folder per port
# (each has its own `machine`), kept out of .venv.
ESP32_STUBS := micropython-esp32-stubs==1.29.0.post1 micropython-stdlib-stubs==1.29.0.post2
RP2_STUBS := micropython-rp2-stubs==1.29.0.post1 micropython-stdlib-stubs==1.29.0.post2
STUBS := .stubs/.installed-1.29.0.post1

.PHONY: all demo test check bench build mutants clean

all: test

$(STAMP): requirements.txt
	rm -f $(VENV)/.installed-*
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

demo: $(STAMP)
	$(PY) tools/sim.py scenarios/demo-3h-outage.json --report out/demo/report.json --plot out/demo/timeline.png
	@echo "wrote out/demo/report.json and out/demo/timeline.png"

$(NUT):
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nut-server nut-client

$(MOSQUITTO):
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto

$(VALGRIND):
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind

$(STUBS): $(STAMP)
	rm -rf .stubs
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --target .stubs/esp32 $(ESP32_STUBS)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --target .stubs/rp2 $(RP2_STUBS)
	touch $@

# ruff: lint and format (ruff.toml), before any test
LINT := $(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

test: $(STAMP) $(NUT) $(MOSQUITTO) $(STUBS)
	$(LINT)
	$(VENV)/bin/pyright
	$(PY) -m pytest -n 2 --durations=15 host_tests

# The fast tier for the edit loop: lint, then the unit tier (host_tests/unit: the
# decision modules cycle by cycle and step by step, the board drivers, the files and
# formats, the build); no root, no Debian package. The scenario and system tiers are
# make test's.
check: $(STAMP)
	$(LINT)
	$(PY) -m pytest -n 2 -q -m unit host_tests

build: $(STAMP)
	$(PY) tools/build.py --out out/build

bench: $(STAMP) $(MOSQUITTO) $(VALGRIND)
	$(PY) tools/bench.py --out out/bench/results.json

# Mutation testing is a measurement like bench (tens of minutes): its tools are installed
# only here, on top of the test environment.
MUTANTS_STAMP := $(VENV)/.mutants-$(shell cksum < requirements-mutants.txt | cut -d' ' -f1)

$(MUTANTS_STAMP): $(STAMP) requirements-mutants.txt
	rm -f $(VENV)/.mutants-*
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-mutants.txt
	touch $@

mutants: $(MUTANTS_STAMP)
	$(PY) tools/mutants.py --out out/mutants/results.json

clean:
	rm -rf out .pytest_cache .stubs
