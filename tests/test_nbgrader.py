"""The nbgrader route, with nbgrader itself: a release without any solution, and autograding.

``python -m lecturelib.exercises nbgrader`` writes nbgrader's source notebooks; ``nbgrader
generate_assignment`` must then clear every solution of every chapter, code and written (the scan
of lecturelib.exercises.leaks finds none in the release, and every one in the source, as a
control). ``nbgrader autograde`` must give the autograder test cell (the exercise's check) its
point for a correct submission and none for a wrong one.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell
from nbgrader.api import Gradebook  # pinned in requirements.txt

from lecturelib.exercises import notebooks as exnb
from lecturelib.exercises.leaks import distinctive_fragments, scan

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("*.ipynb"))
BIN = Path(sys.executable).parent
# nbgrader runs the `alembic` executable of its environment; the kernel must import lecturelib.
ENV = {**os.environ, "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")]),
       "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}


def run_nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={course}",
                           f"--CourseDirectory.db_url=sqlite:///{course / 'gradebook.db'}"],
                          cwd=course, env=ENV, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_every_written_solution_is_marked_for_nbgrader(capsys):
    """scripts/mark_solutions.py --check: each {solution} is alone in a markdown cell tagged 'solution'."""
    spec = importlib.util.spec_from_file_location("mark_solutions", ROOT / "scripts" / "mark_solutions.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["--check"]) == 0, capsys.readouterr().out


def test_marking_splits_a_shared_cell_and_is_idempotent():
    source = "```{exercise} E\n:label: ex-e\n\nDo it.\n```\n\n```{solution} ex-e\n:class: dropdown\n\nSecret.\n```\n\nAfter."
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(source, id="abc")])
    assert exnb.unmarked_written_solutions(nb) == [0]
    marked = exnb.mark_written_solutions(nb)
    assert [c.source.splitlines()[0] for c in marked.cells] == ["```{exercise} E", "```{solution} ex-e", "After."]
    assert [c.metadata.get("tags") for c in marked.cells] == [None, ["solution"], None]
    assert [c.id for c in marked.cells] == ["abc", "abc-1", "abc-2"]
    assert exnb.unmarked_written_solutions(marked) == []
    assert exnb.mark_written_solutions(marked) == marked
    with pytest.raises(ValueError, match="mark_solutions"):
        exnb.nbgrader_version(nb)


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """Every chapter through `lecturelib.exercises nbgrader` and `nbgrader generate_assignment`."""
    course = tmp_path_factory.mktemp("course")
    exnb.write_versions(CHAPTERS, course / "source" / "book", "nbgrader")
    run_nbgrader(course, "generate_assignment", "book")
    return course


def test_nbgrader_release_has_no_solution(released):
    assert sorted(p.name for p in (released / "release" / "book").glob("*.ipynb")) == [p.name for p in CHAPTERS]
    leaks = scan(released / "release" / "book", CHAPTERS)
    assert not leaks, "solutions in nbgrader's release:\n" + "\n".join(map(str, leaks[:20]))


def test_nbgrader_source_has_every_solution(released):
    """Control: the scan finds every solution in the source notebooks nbgrader was given."""
    found = {leak.solution for leak in scan(released / "source" / "book", CHAPTERS)}
    assert found == set(distinctive_fragments(CHAPTERS))


def test_nbgrader_release_keeps_exercises_and_checks(released):
    for path in CHAPTERS:
        chapter = nbformat.read(path, as_version=4)
        release = nbformat.read(released / "release" / "book" / path.name, as_version=4)
        text = "\n".join(c.source for c in release.cells)
        for _, label in exnb.solution_cells(chapter):
            assert f":label: {label}" in text, f"{path.name}: exercise {label} is missing from the release"
        checks = [c for c in release.cells if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"]
        assert len(checks) == len(exnb.solution_cells(chapter)), f"{path.name}: one autograded check per code exercise"
        written = [c for c in release.cells if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("solution")]
        assert written and all(c.source.strip() == "YOUR ANSWER HERE" for c in written), path.name


def soft_threshold_assignment() -> nbformat.NotebookNode:
    """Chapter 1's soft-thresholding exercise alone: set-up, exercise, solution, check, written solution."""
    chapter = exnb.nbgrader_version(nbformat.read(ROOT / "notebooks" / "01_sparse_coding.ipynb", as_version=4))
    index = next(i for i, label in exnb.solution_cells(chapter) if label == "ex-sparse-soft-threshold")
    exercise = max(i for i in range(index) if ":label: ex-sparse-soft-threshold" in chapter.cells[i].source)
    check = next(i for i in range(index + 1, len(chapter.cells)) if chapter.cells[i].cell_type == "code")
    setup = new_code_cell("import numpy as np\n\nfrom lecturelib import exercises")
    cells = [setup, *chapter.cells[exercise:index + 1], chapter.cells[check]]
    return nbformat.v4.new_notebook(cells=cells, metadata=chapter.metadata)


def submit(course: Path, student: str, body: str) -> None:
    release = nbformat.read(course / "release" / "ps1" / "ps1.ipynb", as_version=4)
    for cell in release.cells:
        if cell.cell_type == "code" and "YOUR CODE HERE" in cell.source:
            lines = [body if "YOUR CODE HERE" in line else line for line in cell.source.splitlines()]
            cell.source = "\n".join(line for line in lines if "raise NotImplementedError()" not in line)
    folder = course / "submitted" / student / "ps1"
    folder.mkdir(parents=True)
    nbformat.write(release, folder / "ps1.ipynb")


def test_nbgrader_autograde_grades_a_correct_and_a_wrong_submission(tmp_path):
    course = tmp_path / "course"
    (course / "source" / "ps1").mkdir(parents=True)
    nbformat.write(soft_threshold_assignment(), course / "source" / "ps1" / "ps1.ipynb")
    run_nbgrader(course, "generate_assignment", "ps1")
    submit(course, "right", "    return np.sign(z) * np.clip(np.abs(z) - t, 0.0, None)")
    submit(course, "wrong", "    return np.maximum(z - t, 0.0)")  # forgets the negative side
    for student in ("right", "wrong"):
        run_nbgrader(course, "db", "student", "add", student)
    run_nbgrader(course, "autograde", "ps1")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        scores = {student: {grade.name: grade.score for grade in
                            gradebook.find_submission_notebook("ps1", "ps1", student).grades}
                  for student in ("right", "wrong")}
    checks = [name for name in scores["right"] if "-check-" in name]
    assert len(checks) == 1, scores
    assert scores["right"][checks[0]] == 1 and scores["wrong"][checks[0]] == 0, scores
