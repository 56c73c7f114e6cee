"""Chapter 8's table of every metric on every representation, computed once and then loaded.

Scoring chapter 8's representations with every metric of :func:`lecturelib.metrics.evaluate_all`,
in fast and in reference mode, is most of the chapter's time at the default scale (the reference
classifiers, and encoding the images the BetaVAE and FactorVAE metrics ask for).
:func:`score_representations` computes the table once and stores it with
:func:`lecturelib.artifacts.train_or_load`, keyed by everything the numbers depend on:

- the settings: the dSprites subset, the metrics, the mode, the sample sizes and the seed;
- the weights of the VAEs scored (:func:`weights_fingerprint`), whatever trained them;
- the code (:func:`code_fingerprint`): the syntax of this module, of the modules it scores with
  (:data:`SCORED_WITH`) and of every lecturelib module they import, the storage layer excepted
  (comments, docstrings and layout do not count).

A change to any of them gives another key, so the table is computed afresh, never loaded stale.
The default scale's tables ship with the package, written by one command::

    python -m lecturelib.artifacts publish notebooks/08_disentanglement_metrics.ipynb --scale default

and ``LECTURELIB_RECOMPUTE=1`` recomputes them while reading the chapter.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from lecturelib.artifacts import Provenance, train_or_load
from lecturelib.data.dsprites import DSprites
from lecturelib.metrics import evaluate_all
from lecturelib.representations import CONTROLLED, FactorObservations, VAEMeanEncoder, controlled_encoders
from lecturelib.validation import check_int

__all__ = ["SCORED_WITH", "STORAGE", "code_fingerprint", "code_modules", "score_representations",
           "weights_fingerprint"]

SCORED_WITH: tuple[str, ...] = ("lecturelib.metric_scores", "lecturelib.metrics", "lecturelib.representations",
                                "lecturelib.data.dsprites", "lecturelib.models", "lecturelib.vae")
"""The modules whose code (with what they import) computes the table of :func:`score_representations`."""

STORAGE: tuple[str, ...] = ("lecturelib.artifacts", "lecturelib.store")
"""Modules that store and load results and compute none: left out of :func:`code_fingerprint`."""

SIZES: tuple[str, ...] = ("num_train", "num_test", "batch_size", "num_variance_estimate")

_PACKAGE = Path(__file__).resolve().parent


def _source(module: str) -> Path | None:
    """The file of lecturelib module ``module`` (``lecturelib.a.b``), or ``None`` if there is none."""
    if not module.startswith("lecturelib."):
        return None
    base = _PACKAGE.joinpath(*module.split(".")[1:])
    return next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()), None)


def code_modules(modules: Sequence[str], exclude: Sequence[str] = ()) -> dict[str, Path]:
    """``modules`` and every lecturelib module they import, transitively: ``{name: source file}``.

    Imports are read from the source (:mod:`ast`), those inside functions included. A module in
    ``exclude`` is left out, and so is what only it imports; the package ``lecturelib`` itself
    (``from lecturelib import x`` names the module ``lecturelib.x``) is not followed.
    """
    unknown = [m for m in modules if _source(m) is None]
    if unknown:
        raise ValueError(f"modules must name lecturelib modules with a source file; got {unknown}")
    found: dict[str, Path] = {}
    todo = list(modules)
    while todo:
        name = todo.pop()
        path = _source(name)
        if name in found or name in exclude or path is None:  # None: a name imported from a module
            continue
        found[name] = path
        for node in ast.walk(ast.parse(path.read_bytes())):
            if isinstance(node, ast.Import):
                todo += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                todo += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return dict(sorted(found.items()))


def _code_of(path: Path) -> str:
    """The syntax tree of a module's source without its docstrings: what it computes, not how it reads."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


def code_fingerprint(modules: Sequence[str] = SCORED_WITH, exclude: Sequence[str] = STORAGE) -> str:
    """16 hex digits of SHA-256 over the code of :func:`code_modules` ``(modules, exclude)``.

    The code is each module's syntax tree without docstrings, so editing a comment, a docstring or
    the layout keeps the key, and any change to what the code does gives a new one.
    """
    digest = hashlib.sha256()
    for name, path in code_modules(modules, exclude).items():
        digest.update(name.encode() + b"\0" + _code_of(path).encode() + b"\0")
    return digest.hexdigest()[:16]


def weights_fingerprint(model: torch.nn.Module) -> str:
    """16 hex digits of SHA-256 over a model's class name and its ``state_dict`` (names, dtypes, shapes, values)."""
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    digest = hashlib.sha256(type(model).__name__.encode())
    for name, tensor in sorted(model.state_dict().items()):
        flat = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{name}:{flat.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def score_representations(vaes: Mapping[str, torch.nn.Module], *, subset: Mapping[str, Sequence[int]] | None,
                          fast: bool, metrics: Sequence[str], sizes: Mapping[str, int],
                          random_state: int = 0) -> tuple[dict[str, dict[str, float]], Provenance]:
    """Every metric of ``metrics`` on chapter 8's representations, fast or reference mode; computed once, then loaded.

    The representations, in table order: the controlled codes :data:`~lecturelib.representations.CONTROLLED`
    (``controlled_encoders(K, random_state)`` of :class:`~lecturelib.representations.FactorObservations`
    of 64x64 dSprites restricted to ``subset``; the noise drawn afresh for each table), then the
    posterior mean of each VAE of ``vaes`` on the dSprites images. Each is scored by
    ``evaluate_all(..., random_state=random_state, fast=fast, metrics=metrics, device="cpu", **sizes)``;
    ``sizes`` holds its ``num_train``, ``num_test``, ``batch_size`` and ``num_variance_estimate``.

    Returns ``{representation: {score: value}}`` (the keys of ``evaluate_all``) and the provenance
    of the stored table (when, on what and in how many seconds it was computed, by which command).
    """
    if not isinstance(fast, bool):
        raise ValueError(f"fast must be True or False, got {fast!r}")
    if set(sizes) - set(SIZES):
        raise ValueError(f"sizes must hold only {SIZES}; got {sorted(set(sizes) - set(SIZES))}")
    sizes = {key: check_int(value, f"sizes[{key!r}]", minimum=1) for key, value in sizes.items()}
    random_state = check_int(random_state, "random_state", minimum=0)
    overlap = set(vaes) & set(CONTROLLED)
    if overlap:
        raise ValueError(f"vaes must not use the names of the controlled representations; got {sorted(overlap)}")
    subset = None if subset is None else {str(k): [int(v) for v in values] for k, values in subset.items()}
    params = {"code": code_fingerprint(), "subset": subset, "fast": fast, "metrics": list(metrics),
              "sizes": sizes, "random_state": random_state,
              "vaes": {label: weights_fingerprint(model) for label, model in vaes.items()}}

    def compute() -> dict[str, dict[str, float]]:
        data = DSprites(64, subset=subset)
        observations = FactorObservations(data)
        controlled = controlled_encoders(len(data.factor_sizes), random_state=random_state)
        sources = {name: (observations, controlled[name]) for name in CONTROLLED}
        sources.update({label: (data, VAEMeanEncoder(model)) for label, model in vaes.items()})
        return {name: evaluate_all(source, encode, random_state=random_state, fast=fast, metrics=list(metrics),
                                   device="cpu", **sizes)
                for name, (source, encode) in sources.items()}

    return train_or_load("metric_scores", compute, params)
