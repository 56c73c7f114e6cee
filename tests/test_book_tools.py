"""The scripts behind `make book`, `make bench` and the back-matter pages (no network, no build)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import bench_page  # noqa: E402
import offline_assets  # noqa: E402
from book_config import book_config  # noqa: E402

from lecturelib.benchmarks import names, recorded  # noqa: E402

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())


def tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def test_offline_assets_are_checked_and_only_the_needed_files_shipped(tmp_path, monkeypatch):
    data = tarball({"package/es5/tex-mml-chtml.js": b"mathjax", "package/es5/other.js": b"no",
                    "package/es5/output/chtml/fonts/woff-v2/a.woff": b"font",
                    "package/es5/output/chtml/fonts/woff-v2/unused.woff": b"left out"})
    package = offline_assets.Package("fake@1", "https://example.invalid/fake.tgz", integrity(data),
                                     {"package/es5/tex-mml-chtml.js": "mathjax/tex-mml-chtml.js",
                                      "package/es5/output/chtml/fonts/woff-v2/": "mathjax/fonts/",
                                      "package/es5/output/chtml/fonts/woff-v2/unused.woff": ""})
    monkeypatch.setattr(offline_assets, "download", lambda p: data)
    dest = offline_assets.fetch(tmp_path / "assets", (package,))
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()) == \
        ["mathjax/fonts/a.woff", "mathjax/tex-mml-chtml.js"]
    monkeypatch.setattr(offline_assets, "download", lambda p: pytest.fail("fetched again despite same pins"))
    offline_assets.fetch(tmp_path / "assets", (package,))


def test_offline_assets_reject_a_tampered_tarball(tmp_path, monkeypatch):
    good, bad = tarball({"package/a.js": b"good"}), tarball({"package/a.js": b"evil"})
    package = offline_assets.Package("fake@1", "u", integrity(good), {"package/a.js": "a.js"})
    monkeypatch.setattr(offline_assets, "download", lambda p: bad)
    with pytest.raises(ValueError, match="checksum mismatch"):
        offline_assets.fetch(tmp_path / "assets", (package,))


def test_offline_assets_report_a_missing_file():
    with pytest.raises(ValueError, match="lacks"):
        offline_assets.extract(tarball({"package/a.js": b""}), {"package/b.js": "b.js"}, Path("/nonexistent"))


def test_pinned_packages_name_the_files_the_config_points_at():
    targets = {t for p in offline_assets.PACKAGES for t in p.files.values()}
    for path in (offline_assets.MATHJAX_PATH, offline_assets.REQUIRE_PATH, offline_assets.WIDGETS_PATH):
        assert path in targets
    for package in offline_assets.PACKAGES:
        assert package.integrity.startswith("sha512-") and "@" in package.spec[1:]


def test_book_config_switches():
    plain = book_config(CONFIG)
    assert plain["execute"]["execute_notebooks"] == CONFIG["execute"]["execute_notebooks"]
    assert "mathjax_path" not in plain["sphinx"]["config"]
    checked = book_config(CONFIG, execute=False, scale="tiny")
    assert checked["execute"]["execute_notebooks"] == "off"
    assert checked["parse"]["myst_substitutions"]["scale"] == "tiny"
    offline = book_config(CONFIG, offline="_build/offline_assets")["sphinx"]["config"]
    assert offline["html_static_path"][-1] == "_build/offline_assets"
    assert offline["mathjax_path"] == "mathjax/tex-mml-chtml.js"
    assert not any(k.startswith("http") for k in offline["nb_ipywidgets_js"])
    assert CONFIG == yaml.safe_load((ROOT / "_config.yml").read_text()), "the input was modified"


def test_pdf_uses_pdflatex_and_drops_widget_views():
    assert CONFIG["latex"]["latex_engine"] == "pdflatex"
    assert ["latex", "application/vnd.jupyter.widget-view+json", 0] in \
        CONFIG["sphinx"]["config"]["nb_mime_priority_overrides"]


def test_back_matter_pages_are_in_the_toc():
    toc = (ROOT / "_toc.yml").read_text()
    assert "book/execution_statistics" in toc and "book/performance" in toc
    stats = (ROOT / "book" / "execution_statistics.md").read_text()
    assert "{nb-exec-table}" in stats and "{{ scale }}" in stats


def test_performance_page_lists_every_recorded_table(tmp_path):
    assert "No benchmark has been recorded yet" in bench_page.page([])
    tables = [tmp_path / "b_sparse.txt", tmp_path / "a_vae.txt"]
    text = bench_page.page(tables)
    assert text.index("benchmarks/a_vae.txt") < text.index("benchmarks/b_sparse.txt")
    assert text.count("{literalinclude}") == 2


def test_performance_page_is_up_to_date():
    assert bench_page.main(["check"]) == 0, "run: python scripts/bench_page.py page"


def test_benchmark_record_has_command_date_and_hardware():
    import datetime as dt

    text = bench_page.record(Path("benchmarks/x.py"), "method  time\nours  1.0\n\n",
                             when=dt.datetime(2026, 1, 2, 3, 4), machine="CPU, 2 cores, no GPU")
    assert text == ("# python benchmarks/x.py\n# date: 2026-01-02 03:04 UTC\n# hardware: CPU, 2 cores, no GPU\n"
                    "method  time\nours  1.0\n")


def test_record_command_stores_a_named_table_and_its_values(tmp_path, monkeypatch):
    monkeypatch.setattr(bench_page, "TABLES", tmp_path / "tables")
    monkeypatch.setattr(bench_page, "VALUES", tmp_path / "values")
    monkeypatch.setattr(bench_page, "PAGE", tmp_path / "performance.md")
    script = ("from lecturelib.benchmarks import save_values; print('method  time'); print('ours  1.0'); "
              "save_values({'ours_s': 1.0})")
    code = bench_page.main(["record", "demo-gpu", "--", sys.executable, "-c", script])
    assert code == 0
    text = (tmp_path / "tables" / "demo-gpu.txt").read_text()
    assert text.startswith("# python -c") and "ours  1.0" in text and "# hardware:" in text
    assert "demo-gpu" in (tmp_path / "performance.md").read_text()
    stored = json.loads((tmp_path / "values" / "demo-gpu.json").read_text())
    assert stored["values"] == {"ours_s": 1.0} and stored["name"] == "demo-gpu"
    header = dict(line[2:].split(": ", 1) for line in text.splitlines()[1:3])  # date, hardware: one run
    assert stored["provenance"] == {"command": text.splitlines()[0][2:], **header,
                                    "table": "book/benchmarks/demo-gpu.txt"}


def test_a_benchmark_that_hands_over_no_values_records_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench_page, "TABLES", tmp_path / "tables")
    monkeypatch.setattr(bench_page, "VALUES", tmp_path / "values")
    monkeypatch.setattr(bench_page, "PAGE", tmp_path / "performance.md")
    assert bench_page.main(["record", "demo", "--", sys.executable, "-c", "print('ours  1.0')"]) != 0
    assert "saved no values" in capsys.readouterr().err
    assert not (tmp_path / "tables").exists() and not (tmp_path / "values").exists()


def test_every_recorded_table_has_its_values_from_the_same_run():
    """book/benchmarks/NAME.txt (printed) and lecturelib/results/benchmarks/NAME.json (values, shipped)."""
    tables = sorted(bench_page.TABLES.glob("*.txt"))
    assert sorted(t.stem for t in tables) == names()
    for table in tables:
        lines = table.read_text().splitlines()
        result = recorded(table.stem)
        assert result["provenance"] == {"command": lines[0][2:], "date": lines[1][len("# date: "):],
                                        "hardware": lines[2][len("# hardware: "):],
                                        "table": f"book/benchmarks/{table.name}"}, table.name
        assert result["values"], table.name


def test_every_benchmark_hands_its_values_over():
    for script in sorted(bench_page.BENCHMARKS.glob("[!_]*.py")):
        assert "save_values(" in script.read_text(), f"{script.name} does not call save_values"


def _site_fixes():
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    import site_fixes

    return site_fixes


@pytest.mark.parametrize("offline", [False, True])
def test_widgets_shim_is_loaded_between_require_and_the_widget_manager(offline):
    from types import SimpleNamespace

    from myst_nb.core.config import ipywidgets_js_factory

    site_fixes = _site_fixes()
    scripts = (book_config(CONFIG, offline="_build/offline_assets")["sphinx"]["config"]["nb_ipywidgets_js"]
               if offline else ipywidgets_js_factory())
    config = SimpleNamespace(nb_ipywidgets_js=scripts, html_static_path=["x"])
    site_fixes.add_widgets_shim(None, config)
    names = list(config.nb_ipywidgets_js)
    assert len(names) == 3 and "require" in names[0] and names[2].endswith("embed-amd.js")
    assert names[1] == site_fixes.SHIM and config.nb_ipywidgets_js[names[2]] == scripts[names[2]]
    fonts = config.nb_ipywidgets_js[site_fixes.SHIM]["data-assets-path"]
    assert fonts == ("widgets/" if offline else "https://cdn.jsdelivr.net/npm/@jupyter-widgets/html-manager@1.0.6/dist/")
    site_fixes.add_static(None, config)
    assert config.html_static_path == ["x", str(site_fixes.STATIC)]
    assert (site_fixes.STATIC / site_fixes.SHIM).is_file() and (site_fixes.STATIC / site_fixes.TOGGLE_CSS).is_file()
    site_fixes.add_widgets_shim(None, config)  # a second call changes nothing
    assert list(config.nb_ipywidgets_js) == names
    if offline:  # the fonts it points at are shipped beside embed-amd.js
        shipped = {t for p in offline_assets.PACKAGES for t in p.files.values()}
        assert {t for t in shipped if t.startswith("widgets/") and t.endswith(".woff2")}


def test_inline_scripts_are_kept_once_per_page():
    from sphinx.builders.html._assets import _JavaScript

    site_fixes = _site_fixes()
    thebe = {"body": "const THEBE_JS_URL = 1"}
    # Sphinx 7.4 holds a late inline script under None and again under '' (tests/browser sees it).
    scripts = [_JavaScript("a.js"), _JavaScript(None, **thebe), _JavaScript("b.js", defer="defer"),
               _JavaScript("", **thebe), _JavaScript("", body="let other = 2"), _JavaScript("a.js")]
    context = {"script_files": scripts}
    site_fixes.drop_duplicate_scripts(None, "page", "page.html", context, None)
    assert context["script_files"] is scripts
    assert [(s.filename, s.attributes.get("body")) for s in scripts] == [
        ("a.js", None), (None, thebe["body"]), ("b.js", None), ("", "let other = 2")]


def test_pdf_preamble_covers_every_unicode_symbol_the_sources_use():
    """pdflatex stops at a character its UTF-8 input does not know (e.g. the "β" of "β-VAE")."""
    import re

    preamble = CONFIG["sphinx"]["config"]["latex_elements"]["preamble"]
    declared = {chr(int(code, 16)) for code in re.findall(r"\\unicodemath\{([0-9A-F]{4})\}", preamble)}
    assert {"β", "λ", "−", "≈"} <= declared
    known = set("–—‘’“”…•€") | declared  # inputenc's utf8 knows Latin-1 and these
    sources = [*(ROOT / "book").glob("*.md"), *(ROOT / "notebooks").glob("*.ipynb"), ROOT / "_toc.yml"]
    unknown = {(path.name, ch) for path in sources for ch in path.read_text(encoding="utf-8")
               if ord(ch) >= 0x250 and ch not in known}
    assert not unknown, f"add these to latex_elements.preamble in _config.yml: {sorted(unknown)}"
