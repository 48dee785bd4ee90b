# Callbox: `make demo` runs the appliance on simulated hardware, `make test` runs the tests.
# Both install what they need first (Debian packages as root, a virtualenv in .venv).

VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SYSDEPS_STAMP := .sysdeps-installed

.PHONY: demo test bench setup sysdeps clean

setup: $(STAMP)

sysdeps: $(SYSDEPS_STAMP)

$(SYSDEPS_STAMP): scripts/install-system-packages
	scripts/install-system-packages
	touch $@

$(STAMP): pyproject.toml $(SYSDEPS_STAMP)
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

demo: setup
	$(VENV)/bin/callbox demo --data demo-data

test: setup
	$(VENV)/bin/pytest -q

bench: setup
	$(PY) benchmarks/lines.py --json
	$(PY) benchmarks/engine.py --json

clean:
	rm -rf $(VENV) $(SYSDEPS_STAMP) demo-data
