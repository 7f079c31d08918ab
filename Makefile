# What a person runs: make demo, make test, make unit, make lint, make bench.
# The first interpreter that runs and is >= 3.11 (a pyenv shim may exist but fail to run).
PYTHON ?= $(shell for p in python3 python3.13 python3.12 python3.11; do \
	  $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; \
	done)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   := demo

.PHONY: demo test unit lint bench bench-quick clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python >= 3.11 is needed (python3 on PATH)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# The engine's own modules, compiled ahead. pip compiles a wheel's modules when it installs
# them, not an editable install's; where PYTHONDONTWRITEBYTECODE is set (many container images,
# this CI) Python would then compile them again at every start of every command: measured on
# the CI machine, `journey timeline C-1` cold 535/543 -> 440/343 ms, a 20,000-line ingest
# 4.8 -> 4.2 s (the mean of three).
# A file edited since is compiled again here (a stale .pyc is never used, only slower).
PACKAGES := journey domain projections consumers schemas infra
COMPILED := $(VENV)/.compiled
$(COMPILED): $(STAMP) $(shell find $(PACKAGES) -name '*.py' 2>/dev/null)
	@$(BIN)/python -m compileall -q -j 0 $(PACKAGES)
	@touch $(COMPILED)

J := $(BIN)/journey --db sqlite:///$(DEMO)/journey.db

# The demo store gets an audit secret of its own: random, made afresh with the store, readable
# by you alone (0600), read by every journey command of the demo through this variable.
demo: export JOURNEY_AUDIT_SECRET_FILE := $(abspath $(DEMO))/audit-secret
demo: $(COMPILED)
	@rm -rf $(DEMO) && mkdir -p $(DEMO)
	@(umask 077 && $(BIN)/python -c 'import secrets; print(secrets.token_hex(32))' > $(DEMO)/audit-secret)
	$(BIN)/journey generate --customers 2000 --seed 7 -o $(DEMO)/touchpoints.jsonl
	$(J) ingest $(DEMO)/touchpoints.jsonl
	@echo "--- the same file again: accepted lines are duplicates now, nothing doubles; rejected lines are decided afresh (a few pass now: stock has arrived since)"
	$(J) --json ingest $(DEMO)/touchpoints.jsonl
	@echo "--- the first open rejects (journey rejects lists those not accepted since, with the raw line; --all: every decision)"
	@$(J) rejects | head -n 16
	@echo "--- the customer who met the most service errors, and their journey"
	@$(J) customers --top 3
	@$(J) timeline "$$($(J) --json customers --top 1 | $(BIN)/python -c 'import json,sys; print(json.load(sys.stdin)["customers"][0]["customer_id"])')"
	@echo "--- error rates per kind and month, errors by code, failure demand and what it cost at 12.50 per contact"
	@$(J) errors --contact-cost 12.50
	@echo "--- service KPIs per month: time to resolve cases, first-time fixes, parts filled from stock; satisfaction after a service error and without one"
	@$(J) kpis
	@echo "--- overdue invoices (reference day: the latest day in the log), the first 10"
	@$(J) invoices --status overdue --limit 10
	@echo "--- parts that need reordering (lead time 7 days, service level 95 %)"
	@$(J) stock --needs-reorder
	@echo "--- the log checked against its hash chain and HMAC seals (keyed by $(DEMO)/audit-secret)"
	$(J) audit verify
	@echo "--- every event relayed to its Avro topic on the bundled broker, then read back by a subscriber"
	@$(J) publish --read-back
	@echo "--- the dashboard's overview as one file that opens offline"
	$(J) report -o $(DEMO)/report.html --contact-cost 12.50
	@echo "--- the dashboard, the API and the intake: $(J) serve   (then open http://127.0.0.1:8000/)"

test: $(COMPILED)
	$(BIN)/python -m pytest -q -n auto --dist worksteal

unit: $(COMPILED)
	$(BIN)/python -m pytest -q -n auto tests/unit

# mypy cannot follow the editable install's import hook (journey.<folder> -> <folder>/), so it
# reads a tree of links that spells the mapping out; links to folders, so new files show.
TYPECHECK := build/typecheck/journey
lint: $(STAMP)
	$(BIN)/ruff check .
	@rm -rf $(TYPECHECK) && mkdir -p $(TYPECHECK)
	@for f in __init__.py py.typed; do ln -s ../../../journey/$$f $(TYPECHECK)/$$f; done
	@for d in domain projections consumers schemas infra; do ln -s ../../../$$d $(TYPECHECK)/$$d; done
	$(BIN)/mypy

# Ingest first: each row against its floor, measured in the same run (issue 15); PostgreSQL rows
# with JOURNEY_BENCH_POSTGRES=postgresql://...
bench: $(COMPILED)
	$(BIN)/python -m benchmarks.ingest --million
	$(BIN)/python -m benchmarks.views
	$(BIN)/python -m benchmarks.service
	$(BIN)/python -m benchmarks.audit
	$(BIN)/python -m benchmarks.kafka
	$(BIN)/python -m benchmarks.serve
	$(BIN)/python -m benchmarks.startup

# The regression guard (a benchmark, not a test): ingest against its floor on ~20k lines per
# workload, in about 20 s; a later change sees the ratio fall.
bench-quick: $(COMPILED)
	$(BIN)/python -m benchmarks.ingest --quick

clean:
	rm -rf $(VENV) $(DEMO) build .pytest_cache .mypy_cache .ruff_cache
