# Two commands for a new user: `make demo` (install + scan the bundled agent change) and `make test`.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
AIRLOCK := $(VENV)/bin/airlock

.PHONY: install demo test lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# The sample agent change fails the gate on purpose (exit 1); the demo succeeds when the gate says so.
# `airlock doctor` first: a missing strace or a host that cannot build the sandbox stops here, with the fix.
demo: install
	@$(AIRLOCK) doctor
	@$(AIRLOCK) scan fixtures/demo/project --patch fixtures/demo/agent-change.patch \
		--json-output out/demo-report.json --sarif-output out/demo-report.sarif \
		--html-output out/demo-report.html --markdown-output out/demo-summary.md; \
	rc=$$?; echo "airlock exit code: $$rc (1 = the gate failed, as expected for this sample; reports in out/)"; \
	test $$rc -eq 1

# pre-commit gets a venv of its own: checkov's packaging pin clashes with current pre-commit's.
PRE_COMMIT_VENV ?= .venv-pre-commit

$(PRE_COMMIT_VENV)/.installed:
	$(PYTHON) -m venv $(PRE_COMMIT_VENV)
	$(PRE_COMMIT_VENV)/bin/python -m pip install -q pre-commit
	touch $@

test: install $(PRE_COMMIT_VENV)/.installed
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check airlock pipeline scanners reports tests benchmarks
	$(VENV)/bin/mypy

bench: install
	$(PY) benchmarks/bench_scan.py
	$(PY) benchmarks/bench_stages.py
	$(PY) benchmarks/bench_runtime.py
	$(PY) benchmarks/score_corpus.py
	$(PY) benchmarks/bench_proxy.py
	$(PY) benchmarks/bench_agent.py
	$(PY) benchmarks/bench_cache.py
	$(PY) benchmarks/bench_nightly.py

clean:
	rm -rf $(VENV) $(PRE_COMMIT_VENV) out .pytest_cache .mypy_cache .ruff_cache
