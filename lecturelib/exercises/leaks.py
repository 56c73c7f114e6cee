"""Find solution text in a built site: every file of the output tree, every line of every solution.

A *solution* is a code region between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` or the body of
a ``{solution}`` directive (see :mod:`lecturelib.exercises.notebooks`). Each of its lines becomes
one or more *fragments*: a code line whole; a prose line split at its inline markup (maths,
roles), with emphasis and code marks dropped, so that a fragment reads the same in the markdown,
in a notebook and in the text of the rendered HTML page. A fragment that the student version of
any chapter also contains (a line the solution shares with the exercise) is not a leak and is left
out. Short fragments (under :data:`MIN_CHARS` characters) are left out too.

Every file under the site is read as text: HTML as its visible text (tags dropped, entities
decoded), notebooks as the text of their cells and outputs, any other file as it is, each also with
markdown's code and emphasis marks dropped; binaries are skipped. Sphinx's typography (curly quotes, dashes) is undone on both sides::

    python -m lecturelib.exercises scan _build/nosolutions/_build/html   # exit status 1 on a leak

``make book-nosolutions`` runs it on the site it builds; tests/test_exercises.py runs it on a
no-solutions build and, as a control, on the normal build, where every solution must be found.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from lecturelib.exercises.notebooks import BEGIN, END, SOLUTION_DIRECTIVE, student_version

MIN_CHARS = 20
_TYPOGRAPHY = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "--",
                             "\u2014": "---", "\u2026": "...", "\u00a0": " "})
# Inline markup where a prose line is cut: maths ($...$, \(...\), or a $ that closes on another
# line), roles ({cite}`...`), directive options and fences.
_CUT = re.compile(r"\$\$?[^$]*\$\$?|\\\(.*?\\\)|\{[\w:-]+\}`[^`]*`|^:\w+:.*$|^[`:]{3,}.*$|\$")
_CODE_SPAN = re.compile(r"`([^`]*)`")
_MARKS = re.compile(r"\*\*|__|(?<!\w)[*_](?=\w)|(?<=\w)[*_](?!\w)")
_LATEX = re.compile(r"\\[A-Za-z]+|[_^]\{")  # a piece of a maths span that was cut in two
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


@dataclass(frozen=True)
class Solution:
    """One solution of a chapter: the exercise's label, its kind (``code`` or ``written``), its text."""

    chapter: str
    label: str
    kind: str
    text: str


@dataclass(frozen=True)
class Leak:
    """A fragment of a solution found in a file of the site."""

    path: str
    solution: Solution
    fragment: str

    def __str__(self) -> str:
        return f"{self.path}: {self.solution.chapter} {self.solution.label} ({self.solution.kind}): {self.fragment!r}"


def normalise(text: str) -> str:
    """Whitespace collapsed, Sphinx's curly quotes and dashes turned back into ASCII."""
    return " ".join(text.translate(_TYPOGRAPHY).split())


def solutions(path: Path) -> list[Solution]:
    """Every solution of a chapter notebook, in order."""
    chapter, found, label = Path(path).name, [], None
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown":
            for match in SOLUTION_DIRECTIVE.finditer(cell.source):
                body = match.group(0).split("\n", 1)[1].rsplit(match.group("fence"), 1)[0]
                found.append(Solution(chapter, match.group("label"), "written", body))
                label = match.group("label") or label
            label = (re.findall(r"^:label:\s*(\S+)", cell.source, re.MULTILINE) or [label])[-1]
        elif BEGIN in cell.source:
            for region in cell.source.split(BEGIN)[1:]:
                found.append(Solution(chapter, label or "?", "code", region.split(END, 1)[0]))
    return found


def _unmark(text: str) -> str:
    """Emphasis marks dropped outside code spans; code spans kept verbatim, without backticks."""
    parts = _CODE_SPAN.split(text)  # odd indices: the contents of code spans
    return "".join(part if i % 2 else _MARKS.sub("", part) for i, part in enumerate(parts))


def fragments(solution: Solution) -> list[str]:
    """The fragments of a solution's lines (see the module doc), normalised, at least MIN_CHARS long."""
    out = []
    for line in solution.text.splitlines():
        if solution.kind == "code":
            pieces = [line]
        else:
            pieces = [_unmark(piece) for piece in _CUT.split(_LINK.sub(r"\1", line.strip()))]
            pieces = [piece.strip(" -:;,.()") for piece in pieces if not _LATEX.search(piece)]
        out += [piece for piece in map(normalise, pieces) if len(piece) >= MIN_CHARS]
    return out


def notebook_text(nb: nbformat.NotebookNode) -> str:
    """The sources and text outputs of a notebook's cells, one after the other."""
    parts = []
    for cell in nb.cells:
        parts.append(cell.source)
        for output in cell.get("outputs", []):
            parts.append(str(output.get("text", "")))
            parts += [str(value) for key, value in output.get("data", {}).items() if key.startswith("text/")]
    return "\n".join(parts)


def page_text(html_text: str) -> str:
    """Visible text of an HTML page. Tags are dropped without a space: the highlighter wraps each
    code token in a span, and ``np.exp(-a)`` must stay one string."""
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", html_text, flags=re.DOTALL | re.IGNORECASE)
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def file_text(path: Path) -> str | None:
    """The text of a file of the site as the scan reads it; None for a binary file."""
    try:
        raw = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None
    if path.suffix in (".html", ".htm"):
        return raw + "\n" + page_text(raw)
    if path.suffix == ".ipynb":
        try:
            return raw + "\n" + notebook_text(nbformat.reads(raw, as_version=4))
        except (json.JSONDecodeError, nbformat.reader.NotJSONError):
            return raw
    return raw


def distinctive_fragments(notebooks: list[Path]) -> dict[Solution, list[str]]:
    """Each solution's fragments that no chapter's student version contains."""
    student = normalise("\n".join(notebook_text(student_version(nbformat.read(p, as_version=4)))
                                  for p in notebooks))
    return {solution: [f for f in fragments(solution) if f not in student]
            for path in notebooks for solution in solutions(path)}


def scan(site: Path, notebooks: list[Path]) -> list[Leak]:
    """Every fragment of every solution of ``notebooks`` found in any file under ``site``."""
    wanted = distinctive_fragments(notebooks)
    leaks = []
    for path in sorted(p for p in Path(site).rglob("*") if p.is_file()):
        text = file_text(path)
        if text is None:
            continue
        text = normalise(text) + "\n" + normalise(_unmark(text))  # markdown's `code` and **bold** as rendered
        leaks += [Leak(str(path.relative_to(site)), solution, fragment)
                  for solution, found in wanted.items() for fragment in found if fragment in text]
    return leaks
