"""Fetch the JavaScript the site needs (MathJax, require.js, the widget manager) so it works offline.

Usage: .venv/bin/python scripts/offline_assets.py _build/offline_assets

By default every page loads MathJax, require.js and the ipywidgets manager from CDNs: in a
classroom without internet the maths shows raw and the widgets vanish. `make book` runs this
script and builds the site with these files served from the site itself (see
`scripts/book_config.py --offline`; `make book OFFLINE=0` turns it off).

The packages are pinned and their npm tarballs checked against the registry's sha512 integrity
recorded below, so a build is reproducible and a tampered download fails. Only the files a page
loads are copied (about 7 MB): MathJax's `tex-mml-chtml.js`, its woff-v2 fonts and the TeX
extensions it loads on demand, the widget manager's self-contained `embed-amd.js` and its icon fonts, and `require.js`. The tarballs
come from `npm pack` when npm is installed, otherwise straight from the registry over HTTPS (same
bytes, same check).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Package:
    """One pinned npm package and the files of its tarball that the site ships."""

    spec: str  # name@version, as npm understands it
    tarball: str  # the registry's dist.tarball
    integrity: str  # the registry's dist.integrity (sha512, base64)
    files: dict[str, str]  # member prefix in the tarball -> destination relative to the asset folder


PACKAGES: tuple[Package, ...] = (
    Package(
        spec="mathjax@3.2.2",
        tarball="https://registry.npmjs.org/mathjax/-/mathjax-3.2.2.tgz",
        integrity="sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
        files={
            "package/es5/tex-mml-chtml.js": "mathjax/tex-mml-chtml.js",
            "package/es5/output/chtml/fonts/woff-v2/": "mathjax/output/chtml/fonts/woff-v2/",
            # TeX extensions that tex-mml-chtml.js loads on first use of their macros (\boldsymbol,
            # \cancel, ...): without them such an equation fails offline.
            "package/es5/input/tex/extensions/": "mathjax/input/tex/extensions/",
            "package/es5/input/tex/extensions/all-packages.js": "",  # never loaded on demand
        },
    ),
    Package(
        # 1.0.x is the manager of ipywidgets 8 (myst-nb's default, from a CDN).
        spec="@jupyter-widgets/html-manager@1.0.6",
        tarball="https://registry.npmjs.org/@jupyter-widgets/html-manager/-/html-manager-1.0.6.tgz",
        integrity="sha512-+Mn+Ra8wyIHrYaUpfmf9A3dsLkt/NuwzPQN8sthdxBD35VV5cOJbpmgMhNR27n/rmP3mKyEe0PWCJrtZrXTXDQ==",
        files={
            "package/dist/embed-amd.js": "widgets/embed-amd.js",
            # Its icon fonts (Font Awesome 4 and 5 solid/regular), which it looks for beside
            # embed-amd.js (book/_ext/static/widgets_shim.js): woff2, which every current browser
            # takes first, and woff for older ones (the eot/svg/ttf variants are left out).
            **{f"package/dist/{font}": f"widgets/{font}" for font in (
                "1551f4f60c37af51121f.woff2", "7a3337626410ca2f4071.woff2", "d878b0a6a1144760244f.woff2",
                "2285773e6b4b172f07d9.woff", "bb58e57c48a3e911f15f.woff", "eeccf4f66002c6f2ba24.woff")},
        },
    ),
    Package(
        spec="requirejs@2.3.8",
        tarball="https://registry.npmjs.org/requirejs/-/requirejs-2.3.8.tgz",
        integrity="sha512-7/cTSLOdYkNBNJcDMWf+luFvMriVm7eYxp4BcFCsAX0wF421Vyce5SXP17c+Jd5otXKGNehIonFlyQXSowL6Mw==",
        files={"package/require.js": "require.js"},
    ),
)

MATHJAX_PATH = "mathjax/tex-mml-chtml.js"
"""Where MathJax lies, relative to the site's ``_static`` folder."""

REQUIRE_PATH = "require.js"
WIDGETS_PATH = "widgets/embed-amd.js"
STAMP = ".pins.json"  # beside the folder, so it is not shipped with the site


def check_integrity(data: bytes, integrity: str) -> None:
    """Raise ``ValueError`` unless ``data`` has the npm ``integrity`` (``sha512-<base64>``)."""
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512":
        raise ValueError(f"integrity must be sha512-<base64>, got {integrity!r}")
    actual = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if actual != expected:
        raise ValueError(f"checksum mismatch: expected {integrity}, got sha512-{actual}")


def download(package: Package) -> bytes:
    """The package's tarball, by ``npm pack`` when npm is installed, else from the registry URL."""
    npm = shutil.which("npm")
    if npm:
        with tempfile.TemporaryDirectory() as tmp:
            result = subprocess.run([npm, "pack", "--silent", "--pack-destination", tmp, package.spec],
                                    capture_output=True, text=True, check=False)
            if result.returncode == 0:
                (tarball,) = Path(tmp).glob("*.tgz")
                return tarball.read_bytes()
            print(f"npm pack {package.spec} failed ({result.stderr.strip()[:200]}); trying the URL",
                  file=sys.stderr)
    with urllib.request.urlopen(package.tarball, timeout=120) as response:  # noqa: S310 (pinned https URL)
        return response.read()


def extract(data: bytes, files: dict[str, str], dest: Path) -> list[Path]:
    """Copy the tarball members named by ``files`` (exact names or folder prefixes) into ``dest``.

    A member named exactly, with ``""`` as its destination, is left out of a folder it lies in.
    """
    written, matched = [], set()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member in archive.getmembers():
            if not member.isfile():
                continue
            if files.get(member.name) == "":
                matched.add(member.name)
                continue
            for source, target in files.items():
                if source.endswith("/") and member.name.startswith(source):
                    path = dest / (target + member.name[len(source):])
                elif member.name == source:
                    path = dest / target
                else:
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(archive.extractfile(member).read())
                written.append(path)
                matched.add(source)
    missing = sorted(set(files) - matched)
    if missing:
        raise ValueError(f"the tarball lacks {missing}")
    return written


def pins(packages: tuple[Package, ...] = PACKAGES) -> dict[str, dict]:
    """Package spec -> integrity and files shipped, stored beside the assets to skip fetching when
    unchanged (a change of either, e.g. a file added to the list, fetches again)."""
    return {p.spec: {"integrity": p.integrity, "files": p.files} for p in packages}


def fetch(dest: Path, packages: tuple[Package, ...] = PACKAGES) -> Path:
    """Fill ``dest`` with the site's offline assets; a no-op when they are present with these pins."""
    stamp = dest.with_name(dest.name + STAMP)
    if stamp.is_file() and json.loads(stamp.read_text()) == pins(packages):
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for package in packages:
        data = download(package)
        check_integrity(data, package.integrity)
        extract(data, package.files, dest)
        print(f"offline assets: {package.spec} ({len(data) / 1e6:.1f} MB tarball) checked and unpacked")
    stamp.write_text(json.dumps(pins(packages), indent=1))
    return dest


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise SystemExit("usage: offline_assets.py DEST_FOLDER")
    dest = fetch(Path(argv[0]))
    size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    print(f"offline assets in {dest} ({size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main(sys.argv[1:])
