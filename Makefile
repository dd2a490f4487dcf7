# mTLS Lab: `make lab` to learn, `make test` to check everything.
# Every target that needs Python depends on `venv`, which (re)installs when
# requirements.txt or pyproject.toml change.

PYTHON    ?= python3
VENV      := .venv
BIN       := $(VENV)/bin
STAMP     := $(VENV)/.installed
# Tools only the tests use (ruff, ...): installed by `make test`, never by `make lab`.
TEST_STAMP := $(VENV)/.installed-test
# sslyze needs cryptography<47 and the lab pins 50.0.2: it gets a venv of its own.
AUDIT_VENV  := $(VENV)/audit
AUDIT_STAMP := $(AUDIT_VENV)/.installed
# JupyterLab reads default settings from overrides.json in its application folder, which
# for the .venv's JupyterLab is .venv/share/jupyter/lab (`jupyter lab path` prints it).
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json
# The course's Jupyter server settings (jupyter/jupyter_server_config.json), in the .venv's
# own config folder, which jupyter_server reads (`jupyter --paths` lists it under config).
SERVER_CONFIG := $(VENV)/etc/jupyter/jupyter_server_config.json
NOTEBOOKS ?= $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
FIRST     := notebooks/00_welcome.ipynb
# Extra arguments for JupyterLab (the launch test passes --no-browser and a port).
LAB_ARGS  ?=

.PHONY: venv test-tools audit-tools lab test unit lint format nbval notebooks reset html wheelhouse help \
	hub test-hub

help:
	@echo "make lab     - set up .venv and open JupyterLab at $(FIRST)"
	@echo "make test    - set up .venv (+ test tools, sslyze in .venv/audit) and run every test, strict nbval included"
	@echo "make lint    - ruff check and ruff format --check (lab, tests, notebooks)"
	@echo "make format  - let ruff fix and format what it can"
	@echo "make nbval   - strict nbval on NOTEBOOKS (all by default)"
	@echo "make notebooks - re-execute NOTEBOOKS in place and save their outputs"
	@echo "make reset   - stop lab servers and nginx, remove the generated PKI and caches"
	@echo "make html    - render every notebook with its outputs into site/"
	@echo "make wheelhouse - download every pinned wheel for an offline room"
	@echo "make hub     - install the one-host JupyterHub for a room into hub/.prefix (hub/README.md)"
	@echo "make test-hub - run a three-learner room on that hub (root; hub/test_room.py)"

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "mTLS Lab needs Python 3.10 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

# Test-only tools (ruff, playwright, ...): `make test` installs them, `make lab` does not,
# so a learner's install stays light.
$(TEST_STAMP): requirements-test.txt $(STAMP)
	$(BIN)/python -m pip install --quiet -r requirements-test.txt
	touch $@

# The course's JupyterLab defaults (jupyter/overrides.json: no "Would you like to get
# notified about official Jupyter news?" prompt, no update check).
$(LAB_OVERRIDES): jupyter/overrides.json $(STAMP)
	mkdir -p $(dir $@)
	cp jupyter/overrides.json $@

# Jupyter refuses to run as root without --allow-root (containers, CI); add it only then.
ROOT_ARGS := $(if $(filter 0,$(shell id -u)),--allow-root)

# The kernel websocket's legacy message protocol (jupyter/jupyter_server_config.json).
# With the newer binary one, jupyter_server 2.21 sometimes mixes the two up when JupyterLab
# reconnects after "Restart Kernel and Run All" ("Replacing stale connection", then "unpack
# requires a buffer of ... bytes"), and the kernel sits in "starting" with every cell
# queued. The legacy protocol has no such mix. Binder's postBuild installs the same file.
$(SERVER_CONFIG): jupyter/jupyter_server_config.json $(STAMP)
	mkdir -p $(dir $@)
	cp jupyter/jupyter_server_config.json $@

lab: venv $(LAB_OVERRIDES) $(SERVER_CONFIG)
	$(BIN)/python -m lab pki init --dir certs --if-missing
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.root_dir=$(CURDIR) $(ROOT_ARGS) $(LAB_ARGS) $(FIRST)

test-tools: $(TEST_STAMP)

audit-tools: $(AUDIT_STAMP)

$(AUDIT_STAMP): requirements-audit.txt
	test -x $(AUDIT_VENV)/bin/python || $(PYTHON) -m venv $(AUDIT_VENV)
	$(AUDIT_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(AUDIT_VENV)/bin/python -m pip install --quiet -r requirements-audit.txt
	touch $@

# The test files run in parallel, one file per worker at a time (pytest-xdist, loadgroup), on
# TEST_JOBS workers (auto: one per core). The course PKI is made first, so that no two
# workers race to create certs/; the agenda runs use a PKI of their own.
TEST_JOBS ?= auto
PYTEST_PARALLEL = -n $(TEST_JOBS) --dist loadgroup
# The tests and nbval run with their own temp folder, outside /tmp (as macOS's TMPDIR is), so
# that a notebook printing a temp path fails strict nbval here as it would on a Mac, and so
# that tests/conftest.py can tell what a run left behind. Outside the checkout, as a real temp
# folder is (paths inside it are shown relative to the project), and one per checkout.
CHECKOUT_ID := $(shell printf '%s' "$(CURDIR)" | cksum | cut -d' ' -f1)
TEST_TMP = $(HOME)/.cache/mtls-lab-tests/$(CHECKOUT_ID)
TEST_ENV = mkdir -p $(TEST_TMP) && TMPDIR=$(TEST_TMP)
# Strict nbval: every saved output must come out again (volatile values through the
# sanitize file).
NBVAL_ARGS = --nbval --nbval-current-env --nbval-cell-timeout=180 \
	--nbval-sanitize-with tests/nbval-sanitize.cfg

# The tests and strict nbval in one parallel run; tests/conftest.py puts the notebooks and
# the browser test (which also runs them in certs/) on one worker, one after the other.
test: test-tools audit-tools
	$(MAKE) --no-print-directory lint
	$(BIN)/python -m lab pki init --dir certs --if-missing
	$(TEST_ENV) $(BIN)/python -m pytest $(PYTEST_PARALLEL) $(NBVAL_ARGS) tests $(NOTEBOOKS)

unit: test-tools audit-tools
	$(BIN)/python -m lab pki init --dir certs --if-missing
	$(TEST_ENV) $(BIN)/python -m pytest $(PYTEST_PARALLEL) tests

# Style: ruff at 100 columns (pyproject.toml), on the library, the tests and the notebooks.
lint: test-tools
	$(BIN)/ruff check lab tests notebooks
	$(BIN)/ruff format --check lab tests notebooks

format: test-tools
	$(BIN)/ruff check --fix lab tests notebooks
	$(BIN)/ruff format lab tests notebooks

# The only place the nbval command line is spelled out. Strict (--nbval), with the
# sanitize file for volatile values and the .venv kernel.
nbval: venv audit-tools
	$(TEST_ENV) $(BIN)/python -m pytest $(NBVAL_ARGS) --rootdir=$(CURDIR) -o testpaths= $(NOTEBOOKS)

# Re-run notebooks and save their outputs (after editing one).
notebooks: venv audit-tools
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace --NotebookClient.record_timing=False \
	    --ExecutePreprocessor.timeout=180 $(NOTEBOOKS)

# `lab reset` removes only what the lab made, in $LAB_CERTS_DIR or certs/. Without the venv,
# only the guide's file names in certs/ and the checkout's scratch folders go.
reset:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m lab reset --yes; \
	 else cd certs 2>/dev/null && rm -f rootCA.pem rootCA.key server.crt server.key server.pfx \
	   client.crt client.key client.pfx pfx-password.txt crl.pem crl.crlnumber; \
	   cd $(CURDIR) && rm -rf .lab-state/scratch; fi
	rm -rf .pytest_cache notebooks/.ipynb_checkpoints $(TEST_TMP)
	find . -name __pycache__ -not -path './$(VENV)/*' -exec rm -rf {} +

# A static site of every notebook with its saved outputs (nothing is executed). Links between
# notebooks are turned into links between pages; notebook 00, the course map, is the index.
html: venv
	$(BIN)/jupyter nbconvert --log-level WARN --to html --output-dir site notebooks/[0-9][0-9]_*.ipynb
	sed -i.bak -E 's/href="([0-9][0-9]_[A-Za-z0-9_-]+)[.]ipynb/href="\1.html/g' site/*.html && rm site/*.bak
	cp site/00_welcome.html site/index.html
	@echo "wrote $$(ls site/*.html | wc -l) pages to site/ (open site/index.html)"

# Wheels for an offline room (docs/facilitator-guide.md). Not `pip download -r
# requirements.txt`: its `-e .` line would zip the whole repository, certs/ keys included.
WHEELHOUSE ?= ../mtls-lab-wheelhouse
wheelhouse: venv
	grep -v '^-e ' requirements.txt > $(VENV)/pins.txt
	$(BIN)/python -m pip download --quiet -r $(VENV)/pins.txt "setuptools>=77" -d $(WHEELHOUSE)
	@echo "wheels for this platform and Python in $(WHEELHOUSE)"

# A workshop room on one host (hub/README.md): JupyterHub, the idle culler and
# configurable-http-proxy in a prefix of their own (hub/.prefix), never in the course's .venv.
# Learners run its Python: HUB_PREFIX must be a folder every account can reach.
HUB_PREFIX ?= $(CURDIR)/hub/.prefix
hub:
	HUB_PREFIX=$(HUB_PREFIX) hub/install.sh

# Three learners on that hub at once (root: it creates their system accounts). Not part of
# `make test` (it takes minutes); .ci/run runs it after `make test`.
test-hub: hub
	$(TEST_ENV) HUB_PREFIX=$(HUB_PREFIX) $(HUB_PREFIX)/venv/bin/python -m pytest -p no:cacheprovider \
	    -s -v --rootdir=$(CURDIR) -o testpaths= hub/test_room.py
