# Two commands from a fresh checkout: `make demo` and `make test`. Both build .venv from the lock file first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_DATA ?= data/gaussian
DEMO_RUN ?= runs/demo
DEMO_BATCHES ?= 2000

.PHONY: install demo test test-fast fuzz test-deps clean-demo

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	touch $@

# The report tests open pages in headless Chromium: Debian's chromium package, installed here when it is missing
# (as root or with sudo); without either it stops at once, saying what to install.
test-deps:
	@./scripts/install-test-deps.sh

# Two workers, one thread each: the suite's tests are small, so both cores are used best by two tests at a time
# (pytest-xdist), not by two threads inside one.
test: install test-deps
	OMP_NUM_THREADS=1 $(PY) -m pytest -n 2

# The edit loop: every test but the slow end-to-end ones (marked in tests/conftest.py), no Chromium or espeak-ng needed.
test-fast: install
	OMP_NUM_THREADS=1 $(PY) -m pytest -n 2 -m "not slow"

# Property-based fuzzing of every reader (tests/test_fuzz.py) with twenty times the examples `make test` tries.
fuzz: install
	HYPOTHESIS_PROFILE=deep $(PY) -m pytest tests/test_fuzz.py

# The post preset on the post's data, past the transition; figures, wavs and summary land in runs/demo.
# Run twice, it resumes the existing run instead of overwriting it.
demo: install
	@test -f $(DEMO_DATA)/wavegen_data.json || $(PY) -m wavegen data gaussian $(DEMO_DATA) --n 10000 --length 100
	@if [ -f $(DEMO_RUN)/config.json ]; then \
		$(PY) -m wavegen train --resume $(DEMO_RUN) --batches $(DEMO_BATCHES); \
	else \
		$(PY) -m wavegen train $(DEMO_DATA) --preset post --out $(DEMO_RUN) --batches $(DEMO_BATCHES) --eval-every 100; \
	fi
	$(PY) -m wavegen plot $(DEMO_RUN)
	@test -d $(DEMO_RUN)/samples || $(PY) -m wavegen generate $(DEMO_RUN) --n 16 --out $(DEMO_RUN)/samples
	$(PY) -m wavegen eval $(DEMO_RUN)
	$(PY) -m wavegen summary $(DEMO_RUN)
	$(PY) -m wavegen report $(DEMO_RUN)

clean-demo:
	rm -rf $(DEMO_RUN) $(DEMO_DATA)
