"""The autograded checks of the code exercises (``lecturelib.exercises.check_*``).

For every solution code cell of every chapter: a check is registered under its exercise's label and
called in the cell right after it; the chapter's own solution (the function defined in that cell)
passes it; the student version of the cell (``notebooks.student_version``: the solution replaced by a
stub raising ``NotImplementedError``) fails with "not implemented yet". Every registered check has
such a cell. Typical wrong answers, which fail with a message that says what is wrong, are tested in
``tests/test_exercise_checks_<topic>.py`` for the checks of ``lecturelib/exercises/<topic>.py``.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
import torch

from lecturelib import exercises
from lecturelib.exercises import CheckFailed, all_checks
from lecturelib.exercises import notebooks as exnb

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CHECK_CALL = re.compile(r"\bexercises\.(check_\w+)\(\s*(\w+)\s*\)")


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@dataclass
class SolutionCell:
    chapter: str
    label: str
    prelude: str        # the import statements of the chapter's code cells before the solution
    source: str         # the solution cell
    student: str        # the same cell in the student notebook
    following: str      # the code cell after it

    def function_names(self) -> list[str]:
        return [n.name for n in ast.parse(self.source).body if isinstance(n, ast.FunctionDef)]

    def define(self, student: bool = False):
        """Execute the chapter's imports and the (student or solution) cell; return the function it defines."""
        namespace: dict = {}
        exec(compile(self.prelude, f"<{self.chapter} imports>", "exec"), namespace)
        exec(compile(self.student if student else self.source, f"<{self.chapter} {self.label}>", "exec"), namespace)
        (name,) = self.function_names()
        return namespace[name]


def imports_of(source: str) -> str:
    """The top-level import statements of a code cell (none for a cell with IPython magics)."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return ""
    return "\n".join(ast.unparse(node) for node in body if isinstance(node, (ast.Import, ast.ImportFrom)))


def solution_cells() -> list[SolutionCell]:
    cells = []
    for path in CHAPTERS:
        nb = nbformat.read(path, as_version=4)
        student = exnb.student_version(nb)
        for index, label in exnb.solution_cells(nb):
            prelude = "\n".join(imports_of(c.source) for c in nb.cells[:index] if c.cell_type == "code")
            following = next((c.source for c in nb.cells[index + 1:index + 2] if c.cell_type == "code"), "")
            cells.append(SolutionCell(path.name, label, prelude, nb.cells[index].source, student.cells[index].source,
                                      following))
    return cells


SOLUTIONS = solution_cells()
IDS = [f"{cell.chapter[:2]}:{cell.label}" for cell in SOLUTIONS]


def test_chapters_have_code_exercises():
    assert SOLUTIONS, "no solution code cell found in the chapters"


@pytest.mark.parametrize("cell", SOLUTIONS, ids=IDS)
def test_solution_cell_defines_one_function_and_the_next_cell_checks_it(cell):
    assert cell.label in all_checks(), (f"{cell.chapter}: exercise {cell.label} has a solution code cell but no "
                                        "registered check (lecturelib/exercises/<topic>.py, exercise_check)")
    names = cell.function_names()
    assert len(names) == 1, f"{cell.chapter} {cell.label}: the solution cell must define exactly one function, got {names}"
    calls = CHECK_CALL.findall(cell.following)
    assert calls, f"{cell.chapter} {cell.label}: the cell after the solution must call exercises.check_...({names[0]})"
    check_name, argument = calls[0]
    assert getattr(exercises, check_name, None) is all_checks()[cell.label], \
        f"{cell.chapter}: exercises.{check_name} is not the check registered for {cell.label}"
    assert argument == names[0]


@pytest.mark.parametrize("cell", SOLUTIONS, ids=IDS)
def test_chapter_solution_passes_its_check(cell, capsys):
    message = all_checks()[cell.label](cell.define())
    assert message.startswith(f"{cell.label}: passed.")
    assert message in capsys.readouterr().out


@pytest.mark.parametrize("cell", SOLUTIONS, ids=IDS)
def test_student_stub_fails_with_not_implemented(cell):
    stub = cell.define(student=True)
    with pytest.raises(CheckFailed, match=rf"^{cell.label}: not implemented yet .*Exercise {cell.label}"):
        all_checks()[cell.label](stub)


def test_every_check_has_a_chapter_solution_and_is_exported():
    assert set(all_checks()) == {cell.label for cell in SOLUTIONS}, "a registered check has no solution cell"
    exported = {getattr(exercises, name) for name in exercises.__all__ if name.startswith("check_")}
    assert set(all_checks().values()) == exported, "export every check from lecturelib.exercises as check_<name>"
    for label, check in all_checks().items():
        assert re.fullmatch(r"ex-[a-z0-9]+-[a-z0-9-]+", label) and check.description


# --- typical wrong answers: tests/test_exercise_checks_<topic>.py, one file per lecturelib/exercises/<topic>.py ---

def wrong_answer_files() -> dict[str, list]:
    """``WRONG_ANSWERS`` of each ``tests/test_exercise_checks_<topic>.py``, by topic."""
    found = {}
    for path in sorted(Path(__file__).parent.glob("test_exercise_checks_*.py")):
        spec = importlib.util.spec_from_file_location(f"_wrong_answers_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        found[path.stem.removeprefix("test_exercise_checks_")] = module.WRONG_ANSWERS
    return found


def test_every_check_is_tested_with_wrong_answers():
    """Each check has typical wrong answers in the test file of its topic module, and nowhere else."""
    for topic, wrong_answers in wrong_answer_files().items():
        for label, _, _ in wrong_answers:
            assert all_checks()[label].run.__module__ == f"lecturelib.exercises.{topic}", \
                f"the wrong answers to {label} belong in the test file of {all_checks()[label].run.__module__}"
    tested = {label for wrong_answers in wrong_answer_files().values() for label, _, _ in wrong_answers}
    assert tested == set(all_checks()), f"no typical wrong answer for {sorted(set(all_checks()) - tested)}"


ALL_WRONG_ANSWERS = [(topic, *answer) for topic, answers in wrong_answer_files().items() for answer in answers]


@pytest.mark.parametrize("topic, label, wrong, message", ALL_WRONG_ANSWERS,
                         ids=[f"{label}-{i}" for i, (_, label, _, _) in enumerate(ALL_WRONG_ANSWERS)])
def test_wrong_answer_fails_with_a_helpful_message(topic, label, wrong, message):
    """Every typical wrong answer listed in tests/test_exercise_checks_<topic>.py fails with its message."""
    with pytest.raises(CheckFailed, match=message) as error:
        all_checks()[label](wrong)
    assert str(error.value).startswith(f"{label}: ")


def test_expect_number_names_what_is_wrong():
    from lecturelib.exercises.checks import CheckFailed, expect_number

    assert expect_number(torch.tensor(0.25), "x") == 0.25
    with pytest.raises(CheckFailed, match=r"x should be one number \(a mean\), got an array of shape \(2,\)"):
        expect_number([1.0, 2.0], "x", meaning=" (a mean)")
    with pytest.raises(CheckFailed, match="x should be finite, got nan"):
        expect_number(float("nan"), "x")
    with pytest.raises(CheckFailed, match="should be an array"):
        expect_number("one", "x")
