"""Student notebooks and nbgrader sources from the chapters, without a server.

A chapter marks a code exercise's solution in a code cell tagged ``solution`` with nbgrader's
markers::

    # Hint: soft-threshold after a gradient step of size 1 / L.
    def ista_step(...):
        ### BEGIN SOLUTION
        ...
        ### END SOLUTION

and writes each written solution in a ``{solution}`` directive (sphinx-exercise), in a markdown
cell of its own that is tagged ``solution`` too (:func:`mark_written_solutions`, which
``scripts/mark_solutions.py`` applies to the chapters). The student version of a chapter replaces
every marked region by a stub that raises ``NotImplementedError`` naming the exercise, drops
every ``{solution}`` directive, clears all outputs and leaves everything else as it was::

    python -m lecturelib.exercises student --out student_notebooks            # every chapter
    python -m lecturelib.exercises nbgrader --out source/ps1                  # nbgrader's source/

The ``nbgrader`` copies carry nbgrader's cell metadata, so ``nbgrader generate_assignment`` works
on them directly and clears every solution: code solutions become nbgrader's code stub, written
ones manually graded answer cells ("YOUR ANSWER HERE"), and the cell that calls an exercise's
check becomes a locked autograder test cell.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

from lecturelib.validation import check_choice

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
SOLUTION_TAG = "solution"
SOLUTION_DIRECTIVE = re.compile(r"^(?P<fence>`{3,}|:{3,})\{solution\}[ \t]*(?P<label>\S*)[^\n]*\n.*?^(?P=fence)[ \t]*$\n?",
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
    return SOLUTION_DIRECTIVE.sub("", source).rstrip() + ("\n" if source.endswith("\n") else "")


def solution_cells(nb: nbformat.NotebookNode) -> list[tuple[int, str]]:
    """``(cell index, exercise label)`` of every solution code cell of a notebook, in order.

    Raises ``ValueError`` for a malformed solution cell (tag without markers, markers without tag,
    no labelled exercise before it).
    """
    found, label = [], None
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            labels = [m.group("label") for m in SOLUTION_DIRECTIVE.finditer(cell.source) if m.group("label")]
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


def unmarked_written_solutions(nb: nbformat.NotebookNode) -> list[int]:
    """Indices of the markdown cells with a ``{solution}`` directive that is not alone in a cell
    tagged ``solution`` (nbgrader could not clear it without clearing the rest of the cell)."""
    unmarked = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown" and SOLUTION_DIRECTIVE.search(cell.source):
            alone = len(SOLUTION_DIRECTIVE.findall(cell.source)) == 1 and not strip_markdown_solutions(cell.source).strip()
            if not (alone and SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])):
                unmarked.append(index)
    return unmarked


def mark_written_solutions(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` where every ``{solution}`` directive is alone in a markdown cell tagged ``solution``.

    A markdown cell that holds a directive and other text is split in order (the text before,
    the directive, the text after); the first piece keeps the cell's id and metadata, the others
    get ids derived from it. Marking a marked notebook changes nothing.
    """
    marked = copy.deepcopy(nb)
    cells = []
    for cell in marked.cells:
        if cell.cell_type != "markdown" or not SOLUTION_DIRECTIVE.search(cell.source):
            cells.append(cell)
            continue
        pieces, start = [], 0
        for match in SOLUTION_DIRECTIVE.finditer(cell.source):
            pieces += [(False, cell.source[start:match.start()]), (True, match.group(0))]
            start = match.end()
        pieces.append((False, cell.source[start:]))
        pieces = [(solution, text.strip("\n")) for solution, text in pieces if text.strip()]
        for number, (solution, text) in enumerate(pieces):
            piece = copy.deepcopy(cell) if number == 0 else nbformat.v4.new_markdown_cell()
            if number and "id" in cell:
                piece["id"] = f"{cell['id'][:60]}-{number}"
            piece.source = text
            tags = [t for t in piece.metadata.get("tags", []) if t != SOLUTION_TAG] + ([SOLUTION_TAG] if solution else [])
            if tags:
                piece.metadata["tags"] = tags
            else:
                piece.metadata.pop("tags", None)
            cells.append(piece)
    marked.cells = cells
    return marked


def _nbgrader_metadata(grade_id: str, *, solution: bool, grade: bool) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": not solution, "schema_version": 3,
            "solution": solution, "task": False}
    if grade:
        meta["points"] = 1
    return meta


def nbgrader_version(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` with nbgrader's cell metadata on every solution and every check.

    Code solution cells become solution cells (nbgrader replaces the marked region by its stub),
    the code cell after each that calls ``exercises.check_...`` an autograder test cell (locked,
    one point), and each written solution a manually graded answer cell (one point; nbgrader
    replaces it by "YOUR ANSWER HERE"). Raises ``ValueError`` when a written solution is not
    marked (:func:`unmarked_written_solutions`), since nbgrader would release it to students.
    """
    unmarked = unmarked_written_solutions(nb)
    if unmarked:
        raise ValueError(f"written solutions in cells {unmarked} are not alone in a markdown cell tagged "
                         f"'{SOLUTION_TAG}', so nbgrader would not clear them; run scripts/mark_solutions.py")
    source = copy.deepcopy(nb)
    for index, label in solution_cells(nb):
        source.cells[index].metadata["nbgrader"] = _nbgrader_metadata(f"{label}-{index}", solution=True, grade=False)
        after = next((i for i in range(index + 1, len(nb.cells)) if nb.cells[i].cell_type == "code"), None)
        if after is not None and re.search(r"\bexercises\.check_\w+\(", nb.cells[after].source):
            source.cells[after].metadata["nbgrader"] = _nbgrader_metadata(f"{label}-check-{after}",
                                                                          solution=False, grade=True)
    label = None
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            match = SOLUTION_DIRECTIVE.search(cell.source)
            label = (match and match.group("label")) or (_EXERCISE_LABEL.findall(cell.source) or [label])[-1]
            if match:
                source.cells[index].metadata["nbgrader"] = _nbgrader_metadata(
                    f"{label or 'solution'}-written-{index}", solution=True, grade=True)
    return source


def write_versions(notebooks: list[Path], out_dir: Path, kind: str = "student") -> list[Path]:
    """Write the ``student`` or ``nbgrader`` version of each notebook into ``out_dir``."""
    convert = {"student": student_version, "nbgrader": nbgrader_version}
    check_choice(kind, "kind", tuple(convert))
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        target = out_dir / Path(path).name
        nbformat.write(convert[kind](nb), target)
        written.append(target)
    return written
