"""Every chapter notebook: stored without outputs, opens with the standard header, ends with the
standard closing sections, and is listed in _toc.yml (and every TOC entry exists).

The notebooks themselves are executed by `pytest --nbval-lax notebooks` (see the Makefile).
"""

import re
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TEMPLATE = ROOT / "book" / "templates" / "chapter_template.ipynb"
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO = CONFIG["repository"]["url"].removeprefix("https://github.com/")
BRANCH = CONFIG["repository"].get("branch", "main")


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part.get("chapters") or []]
    return files


def header_problems(path: Path, relative: str) -> list[str]:
    """What is missing from the standard header and closing of a chapter notebook."""
    nb = nbformat.read(path, as_version=4)
    problems = []
    cells = nb.cells
    if not cells or cells[0].cell_type != "markdown" or not cells[0].source.startswith("# "):
        return ["first cell must be markdown starting with the '# ' title"]
    head = cells[0].source
    badge = f"https://colab.research.google.com/github/{REPO}/blob/{BRANCH}/{relative}"
    if badge not in head:
        problems.append(f"Colab badge must link to {badge}")
    if "colab-badge.svg" not in head:
        problems.append("Colab badge image missing")
    if "**What you will learn**" not in head:
        problems.append("'**What you will learn**' list missing")
    if "**Lecture slides:**" not in head:
        problems.append("'**Lecture slides:**' line missing")
    code = [c for c in cells if c.cell_type == "code"]
    if len(code) < 2:
        return problems + ["needs the Colab install cell and the setup cell"]
    install = code[0].source
    if '"google.colab" in sys.modules' not in install or "pip install" not in install:
        problems.append("first code cell must install lecturelib only on Colab")
    if "lecturelib.setup_notebook(" not in code[1].source:
        problems.append("second code cell must call lecturelib.setup_notebook(...)")
    headings = [line for c in cells if c.cell_type == "markdown" for line in c.source.splitlines()
                if line.startswith("## ")]
    for section in ("## Summary", "## Exercises", "## References"):
        if section not in headings:
            problems.append(f"closing section '{section}' missing")
    return problems


def test_there_are_chapters():
    assert NOTEBOOKS, "notebooks/ holds no chapter"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"{path.name}: cells {dirty} have stored outputs; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_standard_header_and_closing(path):
    problems = header_problems(path, f"notebooks/{path.name}")
    assert not problems, f"{path.name}: " + "; ".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_name_has_numeric_prefix(path):
    assert re.fullmatch(r"\d{2}_[a-z0-9_]+\.ipynb", path.name), path.name


def test_notebooks_numbered_in_reading_order_and_listed_in_toc():
    listed = [f for f in toc_files() if f.startswith("notebooks/")]
    on_disk = [f"notebooks/{p.stem}" for p in NOTEBOOKS]
    assert [f.removesuffix(".ipynb") for f in listed] == on_disk, "_toc.yml must list every chapter, in order"
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert numbers == sorted(set(numbers)), "chapter numbers must be unique"


def test_every_toc_entry_exists():
    for entry in toc_files():
        candidates = [ROOT / f"{entry}{ext}" for ext in ("", ".md", ".ipynb")]
        assert any(c.is_file() for c in candidates), f"_toc.yml lists {entry}, which does not exist"


def test_template_passes_the_header_checks():
    assert header_problems(TEMPLATE, "notebooks/NN_chapter.ipynb") == []


# --- Figures: a caption on every figure, one plot style (issue 11) ---------------------------

import ast  # noqa: E402
import inspect  # noqa: E402

from IPython.core.inputtransformer2 import TransformerManager  # noqa: E402

import lecturelib.plotting  # noqa: E402

# The book's figure helpers (every public function of lecturelib.plotting that draws), found by
# inspection so that helpers added later are covered too.
PLOT_HELPERS = {name for name, obj in inspect.getmembers(lecturelib.plotting, inspect.isfunction)
                if obj.__module__ == "lecturelib.plotting" and not name.startswith("_")
                and name != "use_book_style"}
STYLE_CHANGES = re.compile(r"plt\.style\.use|mpl\.style\.use|matplotlib\.style\.use|rcParams\s*[\[.]"
                           r"|\bplt\.rc\(|\bmpl\.rc\(|matplotlib\.rc\(|plt\.xkcd")


def draws_figure(source: str) -> bool:
    """Whether a code cell draws a figure: calls ``plt.*`` or a book figure helper, outside a def.

    Calls inside a ``def``/``class`` body only define drawing code; the cell that calls the
    function draws. Widget cells (``interact``) are exempt: their static twin carries the caption.
    """
    tree = ast.parse(TransformerManager().transform_cell(source))
    if any(isinstance(n, ast.Name) and n.id in {"interact", "interactive", "interact_manual"}
           for n in ast.walk(tree)):
        return False

    def calls(node: ast.AST):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            return
        if isinstance(node, ast.Call):
            yield ast.unparse(node.func)
        for child in ast.iter_child_nodes(node):
            yield from calls(child)

    for name in calls(tree):
        if name.startswith(("plt.", "matplotlib.pyplot.")) or name.split(".")[-1] in PLOT_HELPERS:
            return True
    return False


def caption_problems(path: Path) -> list[str]:
    """Code cells that draw a figure without ``mystnb.figure.caption`` metadata (see CONTRIBUTING)."""
    nb = nbformat.read(path, as_version=4)
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not draws_figure(cell.source):
            continue
        figure = cell.metadata.get("mystnb", {}).get("figure", {})
        if not str(figure.get("caption", "")).strip():
            first = cell.source.strip().splitlines()[0][:60]
            problems.append(f"cell {index} ({first!r}) draws a figure without a caption: add cell metadata "
                            '"mystnb": {"figure": {"caption": "...", "name": "fig-<topic>-<what>"}}')
        elif figure.get("name") and not re.fullmatch(r"fig-[a-z0-9-]+", str(figure["name"])):
            problems.append(f"cell {index}: figure name {figure['name']!r} must look like fig-<topic>-<what>")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_figure_has_a_caption(path):
    problems = caption_problems(path)
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_one_plot_style_for_the_whole_book(path):
    """Chapters use the style set by setup_notebook (lecturelib.plotting.BOOK_STYLE), never their own."""
    nb = nbformat.read(path, as_version=4)
    changes = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and STYLE_CHANGES.search(c.source)]
    assert not changes, (f"{path.name}: cells {changes} change matplotlib's style; add to "
                         "lecturelib.plotting.BOOK_STYLE instead so every chapter looks the same")


def test_template_shows_the_figure_caption_convention():
    assert any(draws_figure(c.source) for c in nbformat.read(TEMPLATE, as_version=4).cells
               if c.cell_type == "code"), "the template should show one captioned figure cell"
    assert caption_problems(TEMPLATE) == []


def test_caption_check_catches_uncaptioned_figures():
    assert draws_figure("fig, ax = plt.subplots()\nax.plot([1, 2])")
    assert draws_figure("%matplotlib inline\nlecturelib.plotting.image_grid(x)")
    assert draws_figure("for k in range(2):\n    plot_history(h)")
    assert not draws_figure("def show(x):\n    plt.imshow(x)")
    assert not draws_figure("interact(show, k=(1, 5))")
    assert not draws_figure("x = np.linspace(0, 1)\nprint(x.mean())")
