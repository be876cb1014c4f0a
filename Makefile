VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test install compile bench clean lock

$(PY):
	python3 -m venv $(VENV)

# requirements.lock pins every direct and transitive version the suite passed with: installs reproduce it.
$(STAMP): $(PY) pyproject.toml requirements.lock
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]'
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

# Benchmarks (scripts, not tests): default sizes take about 30 minutes idle; `make bench BENCH_ARGS=--large` for the
# full sizes (hours), BENCH_ARGS="--only daily storm" for a selection (see bench/run_all.py).
bench: $(STAMP) compile
	$(PY) -m bench.run_all $(BENCH_ARGS)

# Re-resolve the newest versions pyproject.toml allows in a scratch venv and write them to requirements.lock;
# then run `make test` before committing the new lock.
lock:
	rm -rf .lock-venv && python3 -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet -e '.[dev]'
	{ sed -n '1,3p' requirements.lock; .lock-venv/bin/python -m pip freeze --exclude-editable | grep -vi '^parcours'; } > requirements.lock.new
	mv requirements.lock.new requirements.lock && rm -rf .lock-venv

clean:
	rm -rf $(VENV) .parcours
