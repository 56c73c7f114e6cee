"""Exercise tooling: student notebooks, nbgrader sources, the check framework, the no-solutions build."""

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from lecturelib.exercises import notebooks as exnb
from lecturelib.exercises.leaks import distinctive_fragments, normalise, page_text, scan
from lecturelib.exercises.checks import CheckFailed, ExerciseCheck, expect_close, expect_shape

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("*.ipynb"))

SOLUTION_MD = """```{exercise} Double it
:label: ex-demo-double

Write `double(x)`.
```"""
SOLUTION_DIRECTIVE = """````{solution} ex-demo-double
:class: dropdown

Multiply by two: the secret answer text.
````"""
SOLUTION_CODE = """# Hint: one multiplication.
def double(x):
    ### BEGIN SOLUTION
    return 2 * x  # secret solution code
    ### END SOLUTION

print(double(21))"""


def demo_notebook():
    code = new_code_cell(SOLUTION_CODE, metadata={"tags": ["solution", "hide-input"]})
    code.outputs = [nbformat.v4.new_output("stream", text="42\n")]
    code.execution_count = 3
    return new_notebook(cells=[new_markdown_cell("# Demo"), new_code_cell("x = 1"),
                               new_markdown_cell(SOLUTION_MD),
                               new_markdown_cell(SOLUTION_DIRECTIVE, metadata={"tags": ["solution"]}), code])


def test_student_version_replaces_solutions_and_clears_outputs():
    student = exnb.student_version(demo_notebook())
    text = "\n".join(c.source for c in student.cells)
    assert "secret" not in text
    assert 'raise NotImplementedError("Exercise ex-demo-double' in text
    assert "# Hint: one multiplication." in text and "def double(x):" in text
    assert student.cells[3].source.strip() == ""  # the solution directive is gone
    assert "{exercise} Double it" in student.cells[2].source  # the exercise stays
    assert all(c.outputs == [] and c.execution_count is None for c in student.cells if c.cell_type == "code")
    nbformat.validate(student)


def test_stub_raises_not_implemented_when_run():
    source = exnb.student_version(demo_notebook()).cells[4].source
    namespace = {}
    with pytest.raises(NotImplementedError, match="ex-demo-double"):
        exec(compile(source, "<student>", "exec"), namespace)


def test_nbgrader_version_marks_solution_cells():
    source = exnb.nbgrader_version(demo_notebook())
    meta = source.cells[4].metadata["nbgrader"]
    assert meta["solution"] is True and meta["grade_id"].startswith("ex-demo-double")
    assert "nbgrader" not in source.cells[1].metadata


def test_nbgrader_version_makes_written_solutions_graded_answers_and_checks_tests():
    nb = demo_notebook()
    nb.cells.append(new_code_cell("exercises.check_double(double)"))
    source = exnb.nbgrader_version(nb)
    written = source.cells[3].metadata["nbgrader"]
    assert written["solution"] and written["grade"] and written["points"] == 1  # nbgrader: markdown answers are graded
    check = source.cells[5].metadata["nbgrader"]
    assert check["grade"] and check["locked"] and not check["solution"] and check["points"] == 1
    assert len({c.metadata["nbgrader"]["grade_id"] for c in source.cells if "nbgrader" in c.metadata}) == 3


@pytest.mark.parametrize("code, message", [
    ("### BEGIN SOLUTION\nx = 1", "never closed"),
    ("x = 1\n### END SOLUTION", "without"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "nested"),
])
def test_malformed_markers_are_errors(code, message):
    with pytest.raises(ValueError, match=message):
        exnb.strip_code_solution(code, "ex-x")


def test_solution_cell_needs_tag_marker_and_label():
    nb = demo_notebook()
    nb.cells[4].metadata["tags"] = []
    with pytest.raises(ValueError, match="lacks the 'solution' tag"):
        exnb.student_version(nb)
    nb = new_notebook(cells=[new_code_cell("### BEGIN SOLUTION\n### END SOLUTION", metadata={"tags": ["solution"]})])
    with pytest.raises(ValueError, match="follows no labelled exercise"):
        exnb.student_version(nb)


def test_command_line_writes_student_notebooks(tmp_path):
    path = tmp_path / "demo.ipynb"
    nbformat.write(demo_notebook(), path)
    out = tmp_path / "students"
    subprocess.run([sys.executable, "-m", "lecturelib.exercises", "student", str(path), "--out", str(out)],
                   check=True, capture_output=True)
    assert "secret" not in (out / "demo.ipynb").read_text()


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_student_notebook(path):
    """No solution code survives; cells before the first exercise are the chapter's own cells, which
    nbval executes in the same test run, so the student notebook runs up to its first exercise."""
    nb = nbformat.read(path, as_version=4)
    student = exnb.student_version(nb)
    nbformat.validate(student)
    solution_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "solution" in c.metadata.get("tags", [])]
    for index in solution_cells:
        body = nb.cells[index].source.split(exnb.BEGIN, 1)[1].split(exnb.END, 1)[0].strip()
        assert body and body not in student.cells[index].source
        assert "raise NotImplementedError" in student.cells[index].source
    assert "{solution}" not in "\n".join(c.source for c in student.cells if c.cell_type == "markdown")
    first = min(solution_cells, default=len(nb.cells))
    assert [c.source for c in student.cells[:first] if c.cell_type == "code"] == \
        [c.source for c in nb.cells[:first] if c.cell_type == "code"]


def test_check_framework_messages():
    check = ExerciseCheck("ex-demo-double", "double", lambda f: (expect_close(f(np.arange(3.0)), [0, 2, 4],
                                                                            "double(arange(3))"), "3 values")[1])
    assert "passed" in check(lambda x: 2 * x)
    with pytest.raises(CheckFailed, match=r"index \(2,\): expected 4, got 2"):
        check(lambda x: x)
    with pytest.raises(CheckFailed, match=r"shape \(3,\), got \(2,\)"):
        check(lambda x: x[:2])
    with pytest.raises(CheckFailed, match="not implemented yet"):
        check(lambda x: exec('raise NotImplementedError("Exercise ex-demo-double")'))
    with pytest.raises(CheckFailed, match="raised ZeroDivisionError"):
        check(lambda x: 1 / 0)
    with pytest.raises(CheckFailed, match="expected a function"):
        check(3)
    with pytest.raises(CheckFailed, match="should be an array"):
        expect_shape({"a": 1}, (1,), "output")


def build_site(out, hide_solutions):
    """Build the site at the tiny scale without executing notebooks (scripts/book_config.py writes
    the config). Execution adds outputs, but the solution cells' outputs go with their cells, and
    the tiny-scale execution that nbval does already takes test-notebooks' time."""
    config = out / "_config.yml"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "book_config.py"), str(ROOT / "_config.yml"), str(config),
                    "--no-execute", "--scale", "tiny"] + (["--hide-solutions"] if hide_solutions else []),
                   check=True, capture_output=True)
    subprocess.run([str(Path(sys.executable).parent / "jupyter-book"), "build", str(ROOT), "--config", str(config),
                    "--path-output", str(out), "-W", "-q"], check=True, capture_output=True)
    return out / "_build" / "html"


@pytest.fixture(scope="module")
def shown_site(tmp_path_factory):
    return build_site(tmp_path_factory.mktemp("shown"), hide_solutions=False)


@pytest.fixture(scope="module")
def hidden_site(tmp_path_factory):
    return build_site(tmp_path_factory.mktemp("hidden"), hide_solutions=True)


def solution_snippets(path):
    """One distinctive line of every solution code region of a chapter: a line found nowhere else in it."""
    snippets = []
    cells = nbformat.read(path, as_version=4).cells
    for index, cell in enumerate(cells):
        if cell.cell_type == "code" and exnb.BEGIN in cell.source:
            body = cell.source.split(exnb.BEGIN, 1)[1].split(exnb.END, 1)[0]
            elsewhere = "\n".join(c.source for i, c in enumerate(cells) if i != index)
            unique = [line.strip() for line in body.splitlines()
                      if len(line.strip()) > 25 and line.strip() not in elsewhere]
            snippets += unique[:1]
    return snippets


@pytest.mark.skipif(not CHAPTERS, reason="no chapters yet")
def test_no_solutions_build_contains_no_solution(shown_site, hidden_site):
    shown, hidden = shown_site, hidden_site
    pages = sorted(p.relative_to(shown) for p in (shown / "notebooks").glob("*.html"))
    assert len(pages) == len(CHAPTERS)
    solution_class = re.compile(r'class="[^"]*\bsolution\b')
    for page in pages:
        assert not solution_class.search((hidden / page).read_text()), f"{page}: a solution is left"
    assert solution_class.search(" ".join((shown / p).read_text() for p in pages)), "control: solutions shown"
    for path in CHAPTERS:
        page = Path("notebooks") / f"{path.stem}.html"
        shown_text = normalise(page_text((shown / page).read_text()))
        hidden_text = normalise(page_text((hidden / page).read_text()))
        for snippet in solution_snippets(path):
            snippet = " ".join(snippet.split())
            assert snippet in shown_text, f"control: {snippet!r} should be on the normal page {page}"
            assert snippet not in hidden_text, f"solution code leaked into the no-solutions page {page}: {snippet!r}"


@pytest.mark.skipif(not CHAPTERS, reason="no chapters yet")
def test_no_solutions_site_has_no_solution_line_in_any_file(hidden_site):
    """Pages, _sources (the download button's notebooks), search index, static files: no line of
    any solution, code or written, anywhere under the no-solutions site."""
    leaks = scan(hidden_site, CHAPTERS)
    assert not leaks, "solutions in the no-solutions site:\n" + "\n".join(map(str, leaks[:20]))


@pytest.mark.skipif(not CHAPTERS, reason="no chapters yet")
def test_leak_scan_finds_every_solution_line_on_the_normal_site(shown_site):
    """Control: each fragment the scan looks for is on the normal site (page and _sources), so its
    absence from the no-solutions site means something."""
    wanted = distinctive_fragments(CHAPTERS)
    assert all(wanted.values()), [s.label for s, found in wanted.items() if not found]
    leaks = scan(shown_site, CHAPTERS)
    found = {(leak.solution, leak.fragment) for leak in leaks}
    missing = [(s.chapter, s.label, f) for s, fragments in wanted.items() for f in fragments if (s, f) not in found]
    assert not missing, missing
    pages = {(leak.solution, leak.path) for leak in leaks}
    for solution in wanted:  # every solution is on its chapter's page, not only in _sources
        assert (solution, f"notebooks/{Path(solution.chapter).stem}.html") in pages, solution


@pytest.mark.skipif(not CHAPTERS, reason="no chapters yet")
def test_no_solutions_site_serves_student_notebooks(hidden_site):
    """The download button's .ipynb is the chapter's student version."""
    for path in CHAPTERS:
        served = nbformat.read(hidden_site / "_sources" / "notebooks" / path.name, as_version=4)
        student = exnb.student_version(nbformat.read(path, as_version=4))
        assert [c.source for c in served.cells] == [c.source for c in student.cells], path.name
        assert f"_sources/notebooks/{path.name}" in (hidden_site / "notebooks" / f"{path.stem}.html").read_text()


def test_scan_reports_a_written_and_a_code_solution(tmp_path):
    nb_path = tmp_path / "demo.ipynb"
    nbformat.write(demo_notebook(), nb_path)
    site = tmp_path / "site"
    (site / "a").mkdir(parents=True)
    (site / "a" / "page.html").write_text("<p>Multiply by <em>two</em>: the secret answer text.</p>")
    (site / "b.ipynb").write_text(nbformat.writes(demo_notebook()))
    (site / "clean.html").write_text("<p>Write <code>double(x)</code>.</p>")
    (site / "image.png").write_bytes(bytes(range(256)))
    leaks = scan(site, [nb_path])
    assert {(leak.path, leak.solution.kind) for leak in leaks} == \
        {("a/page.html", "written"), ("b.ipynb", "written"), ("b.ipynb", "code")}
    done = subprocess.run([sys.executable, "-m", "lecturelib.exercises", "scan", str(site), str(nb_path)],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "secret answer text" in done.stdout
