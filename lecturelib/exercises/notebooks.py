"""Student notebooks and nbgrader sources from the chapters, without a server.

A chapter marks a code exercise's solution in a code cell tagged ``solution`` with nbgrader's
markers::

    # Hint: soft-threshold after a gradient step of size 1 / L.
    def ista_step(...):
        ### BEGIN SOLUTION
        ...
        ### END SOLUTION

and writes each written solution in a ``{solution}`` directive (sphinx-exercise). The student
version of a chapter replaces every marked region by a stub that raises ``NotImplementedError``
naming the exercise, drops every ``{solution}`` directive, clears all outputs and leaves
everything else as it was::

    python -m lecturelib.exercises student --out student_notebooks            # every chapter
    python -m lecturelib.exercises nbgrader --out source                      # nbgrader's source/

The ``nbgrader`` copies carry nbgrader's cell metadata, so ``nbgrader generate_assignment`` works
on them directly.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
SOLUTION_TAG = "solution"
_DIRECTIVE = re.compile(r"^(?P<fence>`{3,}|:{3,})\{solution\}[ \t]*(?P<label>\S*)[^\n]*\n.*?^(?P=fence)[ \t]*$\n?",
                        re.MULTILINE | re.DOTALL)
_EXERCISE_LABEL = re.compile(r"^:label:\s*(\S+)", re.MULTILINE)


def stub(label: str, indent: str = "") -> str:
    """The line that replaces a solution: raises ``NotImplementedError`` naming the exercise."""
    return (f'{indent}raise NotImplementedError("Exercise {label}: replace this line with your solution '
            f'(the comments above give a hint).")')


def strip_code_solution(source: str, label: str) -> str:
    """Replace each ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region by :func:`stub`."""
    lines, out, inside = source.splitlines(), [], False
    for number, line in enumerate(lines, 1):
        marker = line.strip()
        if marker == BEGIN:
            if inside:
                raise ValueError(f"exercise {label}: nested '{BEGIN}' at line {number}")
            inside = True
            out.append(stub(label, line[: len(line) - len(line.lstrip())]))
        elif marker == END:
            if not inside:
                raise ValueError(f"exercise {label}: '{END}' without '{BEGIN}' at line {number}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"exercise {label}: '{BEGIN}' is never closed by '{END}'")
    return "\n".join(out)


def strip_markdown_solutions(source: str) -> str:
    """Drop every ``{solution}`` directive block (backtick or colon fences) from markdown."""
    return _DIRECTIVE.sub("", source).rstrip() + ("\n" if source.endswith("\n") else "")


def solution_cells(nb: nbformat.NotebookNode) -> list[tuple[int, str]]:
    """``(cell index, exercise label)`` of every solution code cell of a notebook, in order.

    Raises ``ValueError`` for a malformed solution cell (tag without markers, markers without tag,
    no labelled exercise before it).
    """
    found, label = [], None
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            labels = [m.group("label") for m in _DIRECTIVE.finditer(cell.source) if m.group("label")]
            labels = labels or _EXERCISE_LABEL.findall(cell.source)
            if labels:
                label = labels[-1]
        elif SOLUTION_TAG in cell.get("metadata", {}).get("tags", []) or BEGIN in cell.source:
            if BEGIN not in cell.source:
                raise ValueError(f"cell {index} is tagged '{SOLUTION_TAG}' but has no '{BEGIN}' marker")
            if SOLUTION_TAG not in cell.get("metadata", {}).get("tags", []):
                raise ValueError(f"cell {index} has solution markers but lacks the '{SOLUTION_TAG}' tag")
            if label is None:
                raise ValueError(f"solution cell {index} follows no labelled exercise or solution directive")
            found.append((index, label))
    return found


def student_version(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` without solutions and outputs; every other cell is kept as it is."""
    student = copy.deepcopy(nb)
    for index, label in solution_cells(nb):
        student.cells[index].source = strip_code_solution(nb.cells[index].source, label)
    for cell in student.cells:
        if cell.cell_type == "markdown":
            cell.source = strip_markdown_solutions(cell.source)
        elif cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("execution", None)
    return student


def nbgrader_version(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` whose solution cells carry nbgrader's metadata (``solution: true``)."""
    source = copy.deepcopy(nb)
    for index, label in solution_cells(nb):
        source.cells[index].metadata["nbgrader"] = {
            "grade": False, "grade_id": f"{label}-{index}", "locked": False, "schema_version": 3,
            "solution": True, "task": False,
        }
    return source


def write_versions(notebooks: list[Path], out_dir: Path, kind: str = "student") -> list[Path]:
    """Write the ``student`` or ``nbgrader`` version of each notebook into ``out_dir``."""
    convert = {"student": student_version, "nbgrader": nbgrader_version}
    if kind not in convert:
        raise ValueError(f"kind={kind!r} is not known; expected 'student' or 'nbgrader'")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        target = out_dir / Path(path).name
        nbformat.write(convert[kind](nb), target)
        written.append(target)
    return written
