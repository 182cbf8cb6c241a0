# basiss: two commands are the contract -- `make demo` and `make test`.
# Every install step lives here; a fresh machine needs nothing done by hand.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.basiss-installed
DEMO_OUT ?= demo_out

.PHONY: setup demo test lint format bench clean

# torch first, pinned to the CPU build on this machine's disk; then the project
# with its dev extras (its torch range is satisfied, so nothing more downloads).
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -e ".[dev]"
	@touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/basiss demo --out $(DEMO_OUT)

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/ruff check src tests benchmarks

format: $(STAMP)
	$(VENV)/bin/ruff format src tests benchmarks
	$(VENV)/bin/ruff check --fix src tests benchmarks

BENCHMARKS := masks train_throughput predict_throughput predict_engines predict_dask predict_memory predict_resume evaluate_memory graph apls view_tiles seams train_cil sources
BENCH_OUT  ?= /tmp/basiss_bench
SEAMS_ON   := $(DEMO_OUT)/sample/broad_area/RGB-PanSharpen_AOI_9_Sample_broad.tif

# Every benchmark at its full settings, cheapest first, stopping at the first failure (hours of CPU; seams scores the demo's model on its broad scene, running the demo if needed).
bench: $(STAMP)
	$(PY) benchmarks/masks.py
	$(PY) benchmarks/train_throughput.py
	$(PY) benchmarks/predict_throughput.py
	$(PY) benchmarks/predict_engines.py
	$(PY) benchmarks/predict_dask.py
	$(PY) benchmarks/predict_memory.py
	$(PY) benchmarks/predict_resume.py
	$(PY) benchmarks/evaluate_memory.py
	$(PY) benchmarks/graph.py
	$(PY) benchmarks/apls.py
	$(PY) benchmarks/view_tiles.py
	@test -f $(DEMO_OUT)/run/best.pt || $(MAKE) demo
	$(PY) benchmarks/seams.py --weights $(DEMO_OUT)/run/best.pt --image $(SEAMS_ON) \
	  --truth $(DEMO_OUT)/truth/$(notdir $(SEAMS_ON:.tif=_mask.tif))
	$(PY) benchmarks/gsd.py --demo $(DEMO_OUT)
	$(PY) benchmarks/train_cil.py
	$(PY) benchmarks/sources.py --mode cross --out $(BENCH_OUT)/cross
	$(PY) benchmarks/sources.py --mode multi --out $(BENCH_OUT)/multi
	$(PY) benchmarks/sources.py --mode finetune --minutes 10 --out $(BENCH_OUT)/finetune \
	  --init-from $(BENCH_OUT)/cross/cross/best.pt

.PHONY: bench-quick
# Every benchmark with --quick (small sizes, short budgets: seconds to ~3 minutes each), stopping at the first failure.
bench-quick: $(STAMP)
	@set -e; for b in $(BENCHMARKS); do echo "== $$b --quick"; $(PY) benchmarks/$$b.py --quick; done

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .ruff_cache
