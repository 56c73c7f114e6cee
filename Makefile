# The two commands a newcomer needs: `make book` and `make test`. Both create the virtual
# environment when it is missing (or when the pinned requirements change).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# CI has 2 cores: two test processes (pytest-xdist) of one thread each, so they never fight.
THREADS ?= 1
WORKERS ?= 2
TEST_ENV := LECTURELIB_SCALE=tiny LECTURELIB_THREADS=$(THREADS) OMP_NUM_THREADS=$(THREADS) MKL_NUM_THREADS=$(THREADS) MPLBACKEND=Agg PYTHONHASHSEED=0

.PHONY: book book-nosolutions student-notebooks test test-unit test-notebooks test-book bench clean help

help:
	@echo "make book   - execute every chapter at the default scale and build the site into _build/html"
	@echo "make test   - unit tests, every notebook at the tiny scale (nbval), and a warning-free Sphinx build"
	@echo "make bench  - run every script in benchmarks/ and print its table"
	@echo "make book-nosolutions - the site without any solution, into _build/nosolutions (graded courses)"
	@echo "make student-notebooks - every chapter with solutions replaced by stubs, into student_notebooks/"
	@echo "make clean  - remove the built site and caches (keeps .venv)"

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $(STAMP)

book: $(STAMP)
	LECTURELIB_SCALE=$${LECTURELIB_SCALE:-default} $(BIN)/jupyter-book build . -W --keep-going
	@echo "The book is at file://$(CURDIR)/_build/html/index.html"

# The same site without any exercise solution (sphinx-exercise's hide_solutions + solution cells).
book-nosolutions: $(STAMP)
	$(BIN)/python scripts/check_config.py _config.yml _build/nosolutions/_config.yml --execute cache --hide-solutions
	LECTURELIB_SCALE=$${LECTURELIB_SCALE:-default} $(BIN)/jupyter-book build . -W --keep-going --config _build/nosolutions/_config.yml --path-output _build/nosolutions
	@echo "The site without solutions is at file://$(CURDIR)/_build/nosolutions/_build/html/index.html"

student-notebooks: $(STAMP)
	$(BIN)/python -m lecturelib.exercises student --out student_notebooks

test: test-unit test-notebooks test-book

test-unit: $(STAMP)
	$(TEST_ENV) $(BIN)/python -m pytest tests -q -n $(WORKERS) --dist loadfile

# Every chapter executed top to bottom at the tiny scale; any exception in any cell fails.
# --dist loadfile keeps each notebook's cells, in order, on one worker (one kernel).
test-notebooks: $(STAMP)
	$(TEST_ENV) $(BIN)/python -m pytest --nbval-lax notebooks -q -n $(WORKERS) --dist loadfile

# The site built without executing notebooks: broken cross-references, TOC entries and
# citations are errors (-W).
test-book: $(STAMP)
	$(BIN)/python scripts/check_config.py _config.yml _build/check/_config.yml
	$(BIN)/jupyter-book build . -W --keep-going -n --config _build/check/_config.yml --path-output _build/check -q

bench: $(STAMP)
	for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf _build .pytest_cache
