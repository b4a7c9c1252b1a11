SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROTO_SRC := $(shell find proto -name '*.proto' 2>/dev/null)
PROTO_STAMP := darkroom/_proto/.built
# The web pages' third-party scripts: npm ci at the lockfile's pins, then copied into static/vendor/
PAGES := darkroom/web/pages
VENDOR_STAMP := $(PAGES)/static/vendor/.installed

.PHONY: setup system-deps test test-fast demo doc-screenshots lint proto bench-queue bench-runtime bench-media bench-social bench-web bench-observability bench-analytics bench-schemathesis clean

setup: system-deps $(STAMP) $(PROTO_STAMP) $(VENDOR_STAMP)

system-deps:
	@bash scripts/system-deps.sh

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

# Generated code is built from proto/, never edited or committed.
$(PROTO_STAMP): $(PROTO_SRC) $(STAMP) scripts/gen_proto.py
	$(PY) scripts/gen_proto.py
	@touch $(PROTO_STAMP)

proto: $(PROTO_STAMP)

# --ignore-scripts: no package runs code at install; nothing is fetched at run time (docs/web.md)
$(VENDOR_STAMP): $(PAGES)/package.json $(PAGES)/package-lock.json scripts/vendor_assets.py
	cd $(PAGES) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	$(PYTHON) scripts/vendor_assets.py $(PAGES)
	@touch $(VENDOR_STAMP)

# The suite runs in TEST_WORKERS processes (pytest-xdist), each with its own private redis-server,
# PostgreSQL database and temporary directory; TEST_WORKERS=0 runs it in this process.
TEST_WORKERS ?= 2
test: setup
	$(PY) -m pytest -q -n $(TEST_WORKERS)

test-fast: setup
	$(PY) -m pytest -q -n $(TEST_WORKERS) -m "not slow"

demo: setup
	$(VENV)/bin/darkroom demo

doc-screenshots: setup
	$(PY) scripts/doc_screenshots.py

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench-queue: setup
	$(PY) -m bench.queue.run

bench-runtime: setup
	$(PY) -m bench.runtime.run

# Darkroom's media layer vs plain ffmpeg, platform overhead, per-title vs fixed ladder.
# Options: make bench-media ARGS="--quick" (or --only encode vmaf, --no-write; see --help).
bench-media: setup
	$(PY) -m bench.media.run $(ARGS)

# The social product under load (docs/benchmarks.md, "Social"): a 100,000-account data set in the local
# PostgreSQL (loaded once, cached), GET /v1/feed per feed design, GET /v1/posts/{id}, upload to visible,
# feed memory, fan-out. Options: ARGS="--quick" (a toy scale), "--only feed posts", "--no-write"; see --help.
bench-social: setup
	$(PY) -m bench.social.run $(ARGS)

# What the Redis health collector costs the Redis it watches.
bench-observability: setup
	$(PY) -m bench.observability.run $(ARGS)

# The web app's home page speed on bench-social's data set (built there if missing).
bench-web: setup
	$(PY) -m bench.web.run $(ARGS)

# Analytics ingest (docs/benchmarks.md, "Analytics"): events/s from a Redis stream of 1,000,000 generated
# events into darkroom.events. Options: ARGS="--events 200000 --batch 50000 --read-count 10000 --no-write".
# Then the incremental jobs: full recompute against incremental after a 1 % delta on 5,000,000 events
# (docs/benchmarks.md, "Analytics: incremental jobs"). Options: JOBS_ARGS="--events 500000 --late 0 --no-write".
bench-analytics: setup
	$(PY) -m bench.analytics.ingest --batch 200000 --read-count 20000 $(ARGS)
	$(PY) -m bench.analytics.jobs $(JOBS_ARGS)

# schemathesis against /openapi.json (tests/web/test_schemathesis.py) with many more examples per
# operation than the suite's 6; the tally of answers goes to bench/results/schemathesis.json.
# Options: make bench-schemathesis EXAMPLES=500 (docs/benchmarks.md, "HTTP API fuzzing").
EXAMPLES ?= 200
bench-schemathesis: setup
	@mkdir -p bench/results
	DARKROOM_SCHEMATHESIS_EXAMPLES=$(EXAMPLES) DARKROOM_SCHEMATHESIS_REPORT=bench/results/schemathesis.json \
		$(PY) -m pytest -q tests/web/test_schemathesis.py
	@$(PY) -c "import json; r = json.load(open('bench/results/schemathesis.json')); print({k: v for k, v in r.items() if k != 'operations'})"

clean:
	rm -rf $(VENV) darkroom/_proto .darkroom .pytest_cache .mypy_cache $(PAGES)/node_modules $(PAGES)/static/vendor
