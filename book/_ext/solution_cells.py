"""Remove solution code cells from the site when sphinx-exercise's ``hide_solutions`` is on.

sphinx-exercise drops the ``{solution}`` directives themselves; the code cells that implement a
code exercise's solution carry the cell tag ``solution`` (myst-nb turns it into the class
``tag_solution``), and this extension drops those too, so a course can publish the book without
any solution.
"""

from docutils import nodes
from sphinx.application import Sphinx


def remove_solution_cells(app: Sphinx, doctree: nodes.document) -> None:
    if not app.config.hide_solutions:
        return
    for node in list(doctree.findall(nodes.container)):
        if "tag_solution" in node.get("classes", []):
            node.parent.remove(node)


def setup(app: Sphinx) -> dict:
    app.connect("doctree-read", remove_solution_cells)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
