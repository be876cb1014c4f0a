VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test install compile bench clean

$(PY):
	python3 -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The workflow sandbox re-imports workflow modules for every run it replays; their bytecode halves that cost
# (PYTHONDONTWRITEBYTECODE environments never write it; the production image gets it from pip install).
compile: $(STAMP)
	$(PY) -m compileall -q domain workflows activities workers > /dev/null

run: $(STAMP) compile
	$(VENV)/bin/parcours dev

test: $(STAMP)
	$(PY) -m pytest -q

# Benchmarks (scripts, not tests): default sizes take about 10 minutes; `make bench BENCH_ARGS=--large` for bigger.
bench: $(STAMP) compile
	$(PY) -m bench.run_all $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .parcours
