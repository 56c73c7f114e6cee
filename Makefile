# The two commands a newcomer needs: `make book` and `make test`. Both create the virtual
# environment when it is missing (or when the pinned requirements change).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# CI has 2 cores: two test processes (pytest-xdist) of one thread each, so they never fight.
THREADS ?= 1
WORKERS ?= 2
# Tests train afresh in a cache of their own (never results left in ~/.cache by reading the book).
TEST_CACHE := $(CURDIR)/_build/test-cache
TEST_ENV := LECTURELIB_CACHE=$(TEST_CACHE) LECTURELIB_SCALE=tiny LECTURELIB_THREADS=$(THREADS) OMP_NUM_THREADS=$(THREADS) MKL_NUM_THREADS=$(THREADS) MPLBACKEND=Agg PYTHONHASHSEED=0

.PHONY: book book-nosolutions student-notebooks lab pdf test test-unit test-notebooks test-book test-browser offline-assets bench clean help

# The compute scale the book is executed at. Each scale other than `default` builds into its own
# folder, because the execution cache (jupyter-cache) keys on the code, not on the scale.
SCALE ?= $(or $(LECTURELIB_SCALE),default)
BOOK_OUT := $(if $(filter default,$(SCALE)),.,_build/scale-$(SCALE))
SITE := $(BOOK_OUT:./%=%)/_build/html
BOOK_CFG := _build/config/$(SCALE).yml
# OFFLINE=1: MathJax, require.js and the widget manager are served by the site (works without
# internet); OFFLINE=0: loaded from CDNs, as Jupyter Book does by default.
# BOOK_FLAGS=--all rewrites every page (Sphinx otherwise skips a build, static files included,
# when no source changed; executed notebooks still come from the cache).
OFFLINE ?= 1
OFFLINE_ASSETS := _build/offline_assets
# The headless browser of `make test-browser` (Debian: chromium; GitHub's Ubuntu: google-chrome).
CHROMIUM ?= $(or $(shell command -v chromium chromium-browser google-chrome 2>/dev/null | head -n1),chromium)
# PyPI's Linux torch wheel is the CUDA build (GBs of NVIDIA libraries). TORCH_INDEX=URL installs the
# pinned torch from that index first, and pip then finds torch==VERSION satisfied by VERSION+cpu:
#   make test TORCH_INDEX=https://download.pytorch.org/whl/cpu   (what the GitHub workflows do)
TORCH_INDEX ?=
TEX_PACKAGES := texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended latexmk tex-gyre

help:
	@echo "make book   - execute every chapter at the default scale and build the site into _build/html"
	@echo "              (SCALE=tiny|paper builds into _build/scale-NAME/_build/html; OFFLINE=0 uses CDNs;"
	@echo "              BOOK_JOBS=N chapters executed at a time, default 2; BOOK_RECORD_TIMES=1 records each"
	@echo "              chapter's time in scripts/chapter_times.yml, which sizes the per-cell limits)"
	@echo "make pdf    - the whole book as one PDF, _build/latex/book.pdf (needs pdflatex, see README)"
	@echo "make test   - unit tests, every notebook at the tiny scale (nbval), and a warning-free Sphinx build"
	@echo "make test-browser - build the site at the tiny scale and check every page in headless Chromium"
	@echo "make bench  - run every script in benchmarks/, record its table in book/benchmarks/ for the appendix"
	@echo "make book-nosolutions - the site without any solution, into _build/nosolutions (graded courses)"
	@echo "make student-notebooks - every chapter with solutions replaced by stubs, into student_notebooks/"
	@echo "make lab    - JupyterLab on notebooks/ in the book's environment (LECTURELIB_SCALE=tiny for quick runs)"
	@echo "make clean  - remove the built site and caches (keeps .venv)"

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(if $(TORCH_INDEX),$(BIN)/python -m pip install --quiet --index-url $(TORCH_INDEX) "$$(grep '^torch==' requirements.txt)")
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $(STAMP)

offline-assets: $(STAMP)
	$(BIN)/python scripts/offline_assets.py $(OFFLINE_ASSETS)

# The configuration of this build: _config.yml plus the scale, the offline switch and the
# execution cache that scripts/execute_book.py fills and myst-nb reads.
BOOK_CACHE := $(BOOK_OUT)/_build/.jupyter_cache
BOOK_CONFIG = $(BIN)/python scripts/book_config.py _config.yml $(BOOK_CFG) --scale $(SCALE) --cache $(BOOK_CACHE)
# The chapters are executed before Sphinx by scripts/execute_book.py, BOOK_JOBS at a time (each
# kernel gets cores/BOOK_JOBS threads): a line per chapter started and finished, a cell that runs
# past its chapter's budget (3 x the chapter's time in scripts/chapter_times.yml, at least 300 s;
# else execute.timeout; BOOK_CELL_TIMEOUT=S for one limit) or a kernel idle for BOOK_IDLE_TIMEOUT
# seconds while its cell waits for a reply (re-executed once) stops the build naming the chapter
# and the cell. BOOK_RECORD_TIMES=1 writes the time of each chapter executed into that table.
# Sphinx then finds every chapter in the cache and executes nothing.
BOOK_JOBS ?= 2
BOOK_IDLE_TIMEOUT ?= 180
BOOK_CELL_TIMEOUT ?=
BOOK_RECORD_TIMES ?=
EXECUTE_FLAGS = --scale $(SCALE) --jobs $(BOOK_JOBS) --idle-timeout $(BOOK_IDLE_TIMEOUT) \
  $(if $(BOOK_CELL_TIMEOUT),--cell-timeout $(BOOK_CELL_TIMEOUT)) $(if $(filter 1,$(BOOK_RECORD_TIMES)),--record-times)
EXECUTE = $(BUILD_ENV) $(BIN)/python scripts/execute_book.py $(BOOK_CFG) --cache $(BOOK_CACHE) $(EXECUTE_FLAGS)
# Every build executes the chapters with matplotlib's inline backend, whatever MPLBACKEND the
# caller has (`make test-browser` passes the tests' Agg, under which plt.show() draws no figure).
BUILD_ENV = LECTURELIB_SCALE=$(SCALE) MPLBACKEND=module://matplotlib_inline.backend_inline

book: $(STAMP) $(if $(filter 1,$(OFFLINE)),offline-assets)
	$(BOOK_CONFIG) $(if $(filter 1,$(OFFLINE)),--offline $(OFFLINE_ASSETS))
	$(EXECUTE)
	$(BUILD_ENV) $(BIN)/jupyter-book build . -W --keep-going $(BOOK_FLAGS) --config $(BOOK_CFG) --path-output $(BOOK_OUT)
	@echo "The book is at file://$(abspath $(SITE))/index.html"

# pdflatex and a few TeX Live packages (about 355 MB), not installed by make: see README.md.
pdf: $(STAMP)
	@command -v pdflatex > /dev/null || { echo "make pdf needs pdflatex and latexmk; on Debian/Ubuntu:"; \
	  echo "  sudo apt-get install -y $(TEX_PACKAGES)"; exit 1; }
	$(BOOK_CONFIG)
	$(EXECUTE)
	$(BUILD_ENV) $(BIN)/jupyter-book build . --builder pdflatex --keep-going --config $(BOOK_CFG) --path-output $(BOOK_OUT)
	@echo "The PDF is $(abspath $(BOOK_OUT)/_build/latex/book.pdf)"

# The same site without any exercise solution (sphinx-exercise's hide_solutions + solution cells).
book-nosolutions: $(STAMP) $(if $(filter 1,$(OFFLINE)),offline-assets)
	$(BIN)/python scripts/book_config.py _config.yml _build/config/nosolutions.yml --scale $(SCALE) --hide-solutions \
	  --cache $(BOOK_CACHE) $(if $(filter 1,$(OFFLINE)),--offline $(OFFLINE_ASSETS))
	$(BUILD_ENV) $(BIN)/python scripts/execute_book.py _build/config/nosolutions.yml --cache $(BOOK_CACHE) $(EXECUTE_FLAGS)
	$(BUILD_ENV) $(BIN)/jupyter-book build . -W --keep-going --config _build/config/nosolutions.yml --path-output _build/nosolutions
	@# Every file of the site (pages, _sources, downloads, search index) against every solution line.
	$(BIN)/python -m lecturelib.exercises scan _build/nosolutions/_build/html
	@echo "The site without solutions is at file://$(CURDIR)/_build/nosolutions/_build/html/index.html"

student-notebooks: $(STAMP)
	$(BIN)/python -m lecturelib.exercises student --out student_notebooks

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

test: test-unit test-notebooks test-book

test-unit: $(STAMP)
	$(TEST_ENV) $(BIN)/python -m pytest tests -q -n $(WORKERS) --dist loadfile --ignore=tests/browser

# Every chapter executed top to bottom at the tiny scale; any exception in any cell fails.
# --dist loadfile keeps each notebook's cells, in order, on one worker (one kernel); a cell that
# hangs fails after 15 minutes instead of holding CI until its limit.
test-notebooks: $(STAMP)
	rm -rf $(TEST_CACHE)
	$(TEST_ENV) $(BIN)/python -m pytest --nbval-lax notebooks -q -n $(WORKERS) --dist loadfile --nbval-cell-timeout=900

# The site built without executing notebooks: broken cross-references, TOC entries and
# citations are errors (-W).
test-book: $(STAMP)
	$(BIN)/python scripts/book_config.py _config.yml _build/check/_config.yml --no-execute --scale tiny
	$(BIN)/jupyter-book build . -W --keep-going -n --config _build/check/_config.yml --path-output _build/check -q

# Every chapter page of the site built at the tiny scale (offline assets), served on 127.0.0.1 and
# opened in headless Chromium: no console errors, maths typeset, images loaded, widgets rendered,
# solutions toggle. Screenshots go to _build/screenshots/. About as long as test-notebooks plus a
# minute; not part of `make test` (see README.md).
test-browser: $(STAMP)
	$(BIN)/python -m pip install --quiet -r requirements-browser.txt
	@test -x "$$(command -v $(CHROMIUM))" || { echo "installing Debian's chromium"; \
	  $$(test "$$(id -u)" = 0 || echo sudo) apt-get install -y chromium; }
	$(TEST_ENV) $(MAKE) book SCALE=tiny OFFLINE=1 BOOK_FLAGS=--all
	BOOK_SITE=_build/scale-tiny/_build/html CHROMIUM=$$(command -v $(CHROMIUM) || echo /usr/bin/chromium) \
	  SCREENSHOTS=_build/screenshots $(BIN)/python -m pytest tests/browser -q -p no:cacheprovider

# Each benchmark's table is written to book/benchmarks/NAME.txt (with date and hardware), its measured
# values to lecturelib/results/benchmarks/NAME.json (what chapters read), and the performance
# appendix (book/performance.md) is regenerated from the tables present.
bench: $(STAMP)
	$(BIN)/python scripts/bench_page.py run

clean:
	rm -rf _build .pytest_cache
