"""Remove every solution from the site when sphinx-exercise's ``hide_solutions`` is on.

sphinx-exercise drops the ``{solution}`` directives themselves; the code cells that implement a
code exercise's solution carry the cell tag ``solution`` (myst-nb turns it into the class
``tag_solution``), and this extension drops those too. The pages' sources, which Sphinx copies to
``_sources/`` and the download button serves (``.ipynb``, ``.md``), are replaced by their student
versions (:func:`lecturelib.exercises.notebooks.student_version`: solution regions replaced by
stubs, written solutions removed, outputs cleared). So a course can publish the book without any
solution; ``python -m lecturelib.exercises scan SITE`` checks every file of the built site.
"""

from pathlib import Path

import nbformat
from docutils import nodes
from sphinx.application import Sphinx


def remove_solution_cells(app: Sphinx, doctree: nodes.document) -> None:
    if not app.config.hide_solutions:
        return
    for node in list(doctree.findall(nodes.container)):
        if "tag_solution" in node.get("classes", []):
            node.parent.remove(node)


def student_sources(app: Sphinx, exception: Exception | None) -> None:
    """Replace the copied page sources under ``_sources/`` by their student versions."""
    if exception is not None or not app.config.hide_solutions or app.builder.format != "html":
        return
    from lecturelib.exercises.notebooks import (BEGIN, SOLUTION_DIRECTIVE, strip_markdown_solutions,
                                                student_version)

    for path in sorted((Path(app.outdir) / "_sources").rglob("*")):
        if path.suffix == ".ipynb":
            nb = nbformat.read(path, as_version=4)
            if any(BEGIN in cell.source or SOLUTION_DIRECTIVE.search(cell.source) for cell in nb.cells):
                nbformat.write(student_version(nb), path)  # not yet a student version (incremental builds)
        elif path.suffix in (".md", ".txt") and path.is_file():
            path.write_text(strip_markdown_solutions(path.read_text(encoding="utf-8")), encoding="utf-8")


def setup(app: Sphinx) -> dict:
    app.connect("doctree-read", remove_solution_cells)
    app.connect("build-finished", student_sources)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
