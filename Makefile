# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit integration e2e install clean streams asyncapi bench-deadlines \
	bench-e2e chaos

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python requirements.lock pyproject.toml
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# The console's browser tests drive Debian's chromium (a browser download does not work here).
CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	apt-get install -y chromium chromium-driver || \
		(apt-get update && apt-get install -y chromium chromium-driver)

install: $(STAMP) $(CHROMIUM)

# WeasyPrint (casework's printed forms) needs pango and harfbuzz's subsetter from Debian, and a
# font with every Kazakh letter (ә ғ қ ң ө ұ ү һ і): DejaVu. apt-get runs only when one is missing.
PDF_DEBS := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fontconfig fonts-dejavu-core
PDF_STAMP := $(VENV)/.pdf-debs

$(STAMP): $(PDF_STAMP)

$(PDF_STAMP): | $(BIN)/python
	@if command -v dpkg-query >/dev/null; then \
	  missing=$$(for p in $(PDF_DEBS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' \
	      || echo $$p; done); \
	  if [ -n "$$missing" ]; then \
	    echo "Installing for WeasyPrint:" $$missing; \
	    if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
	    $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install \
	      -y -qq --no-install-recommends $$missing; \
	  fi; \
	else echo "Not Debian: install pango, harfbuzz and DejaVu fonts for WeasyPrint yourself"; fi
	touch $@

run: $(STAMP)
	$(BIN)/qorgau up

lint: $(STAMP)
	$(BIN)/ruff check qorgau shared services tests
	$(BIN)/ruff format --check qorgau shared services tests

typecheck: $(STAMP)
	$(BIN)/mypy qorgau shared services

test: lint typecheck $(CHROMIUM)
	$(BIN)/python -m pytest -q -rs

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest -q -rs tests/integration

e2e: $(STAMP) $(CHROMIUM)
	$(BIN)/python -m pytest -q -rs tests/e2e

streams: $(STAMP)
	$(BIN)/qorgau streams

asyncapi: $(STAMP)
	$(BIN)/qorgau asyncapi --write docs/asyncapi.json

# Not part of `make test`: loads 1,000,000 obligations on SQLite and PostgreSQL (tens of minutes
# on a small machine). Smaller: make bench-deadlines BENCH_ARGS="--size 100000".
bench-deadlines: $(STAMP)
	$(BIN)/python -m bench.deadlines $(BENCH_ARGS)

# Not part of `make test` (which runs a 5-second version): `qorgau up` afresh for each rate,
# reports sent open loop, each timed from POST /v1/reports until deadlines has scheduled its
# three R1 obligations; then the per-hop comparison with a bare nats-py consumer-publisher.
# Shorter: make bench-e2e BENCH_ARGS="--rates 2,5 --seconds 20 --services path".
# Figures and method: docs/benchmarks.md.
bench-e2e: $(STAMP)
	$(BIN)/python -m bench.e2e --hop 2000 $(BENCH_ARGS)

# Not part of `make test` (which runs a 100-report version): the production shape (3 NATS nodes,
# streams at 3 replicas, PostgreSQL, two instances of each service) takes 1,000 reports at 20/s
# while instances, the stream leader's node and PostgreSQL are killed; then nothing may be lost
# or doubled and every consumer must catch up within 30 s. Figures: docs/reliability.md.
chaos: $(STAMP)
	$(BIN)/python -m bench.chaos --reports 1000 --rate 20 $(CHAOS_ARGS)
	# An agency's leaf node cut off from the hub for a minute while deliveries flow
	# (docs/production.md): every one arrives once when the link is back.
	QORGAU_LEAF_CUT_SECONDS=60 $(BIN)/python -m pytest -q tests/integration/test_leafnode.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
