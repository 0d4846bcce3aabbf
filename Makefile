# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench clean

# the twin's own modules compiled to bytecode, as pip does for what it installs (an editable
# install compiles nothing, and where PYTHONDONTWRITEBYTECODE is set every process would
# compile them again: 1.3 s of twin run's first step); only what changed is compiled again
BYTECODE = $(BIN)/python -m compileall -q twin adapters hil > /dev/null

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BYTECODE)
	touch $(STAMP)

run: $(STAMP)
	$(BYTECODE)
	$(BIN)/twin run scenarios/park.yaml

CHROMIUM := /usr/bin/chromium

CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc

$(CHROMIUM):  # the browser of the report and page tests (Debian's package; Playwright drives it)
	apt-get update -q && apt-get install -y -q chromium

$(CJK_FONT):  # Chinese glyphs for the pages (indicator names, 绿电直连)
	apt-get update -q && apt-get install -y -q fonts-wqy-zenhei

SOCAT := /usr/bin/socat

$(SOCAT):  # pseudo-terminal pairs: the serial line of the Modbus RTU tests (tests/test_hil_devices.py)
	apt-get update -q && apt-get install -y -q socat

MOSQUITTO := /usr/sbin/mosquitto

$(MOSQUITTO):  # the MQTT broker of the live twin's tests (tests/test_live_mqtt.py)
	apt-get update -q && apt-get install -y -q mosquitto

test: $(STAMP) $(CHROMIUM) $(CJK_FONT) $(SOCAT) $(MOSQUITTO)
	$(BIN)/python -m pytest -q

lint: $(STAMP)  # style (ruff) and the layers (import-linter's contracts in setup.cfg)
	$(BIN)/ruff check twin adapters hil tests benchmarks examples
	$(BIN)/lint-imports --no-cache

bench: $(STAMP)  # the year runs: in blocks where they can, beside the step-by-step and naive couplings
	$(BYTECODE)
	$(BIN)/python benchmarks/bench_year.py
	$(BIN)/python benchmarks/bench_grid.py
	$(BIN)/python benchmarks/bench_chain.py
	$(BIN)/python benchmarks/bench_year.py --controller ems --no-baseline
	$(BIN)/python benchmarks/bench_year.py --step 60 --baseline-days 0.5
	$(BIN)/python benchmarks/bench_lp.py
	$(BIN)/python benchmarks/bench_check.py

clean:
	rm -rf $(VENV) results *.egg-info
