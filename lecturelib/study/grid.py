"""The study's grid: one :class:`Job` per (dataset variant, method, hyperparameters, seed).

Used by chapter 9 (the Locatello et al. study) and ``python -m lecturelib.study``. A job's id is
stable and human-readable, e.g. ``dsprites-beta_vae-beta=4-seed0``: it names only the
hyperparameters that vary within the method's grid, so ids survive adding seeds or methods and
can be used as file names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from lecturelib.config import SCALES, get_scale
from lecturelib.models.regularizers import METHODS, PAPER_TRAINING, SCALE_GRIDS
from lecturelib.validation import check_int

DATASETS: tuple[str, ...] = ("dsprites", "noisy_dsprites", "color_dsprites")
"""Dataset variants the study knows (procedural dSprites and Locatello et al.'s noisy and colour versions)."""

SCALE_SETTINGS: dict[str, dict[str, Any]] = {
    # Training length and learning rate per scale. Paper: 300k steps of Adam at 1e-4, batch 64
    # (PAPER_TRAINING). Shorter runs use a larger learning rate so that something is learnt.
    # Tiny is for CI: a handful of models must train and be scored in about a minute on one core,
    # so each sees 640 images at the paper's learning rate: barely trained (a larger rate collapses
    # every posterior within 20 steps, leaving no active latent to score); they test the plumbing.
    "tiny": {"datasets": ("dsprites",), "seeds": (0,),
             "train": {"num_steps": 20, "batch_size": 32, "lr": 1e-4, "n_latents": 10}},
    "default": {"datasets": ("dsprites",), "seeds": (0, 1, 2),
                "train": {"num_steps": 5_000, "batch_size": 64, "lr": 5e-4, "n_latents": 10}},
    "paper": {"datasets": DATASETS, "seeds": tuple(range(PAPER_TRAINING["num_seeds"])),
              "train": {"num_steps": PAPER_TRAINING["num_steps"], "batch_size": PAPER_TRAINING["batch_size"],
                        "lr": PAPER_TRAINING["lr"], "n_latents": PAPER_TRAINING["n_latents"]}},
}
"""What :func:`study_grid` sweeps at each compute scale, besides the methods' grids."""

_SAFE = re.compile(r"[^A-Za-z0-9_.,=+-]")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@dataclass(frozen=True)
class Job:
    """One cell of the grid.

    Attributes
    ----------
    dataset : name of the dataset variant (one of :data:`DATASETS`, or any name a job function knows)
    model : method name (one of :data:`lecturelib.models.regularizers.METHODS`, or any name)
    hparams : the method's hyperparameters
    seed : seed of the model's initialisation and its data stream
    settings : everything else the job function needs (training length, learning rate, scale, ...)
    id_keys : the hyperparameters named in :attr:`job_id` (those that vary in the method's grid)
    """

    dataset: str
    model: str
    hparams: Mapping[str, Any]
    seed: int
    settings: Mapping[str, Any] = field(default_factory=dict)
    id_keys: tuple[str, ...] = ()

    @property
    def job_id(self) -> str:
        """``<dataset>-<model>-<key>=<value>[,...]-seed<seed>``, safe as a file name."""
        keys = self.id_keys or tuple(sorted(self.hparams))
        hp = ",".join(f"{k}={_fmt(self.hparams[k])}" for k in keys) or "default"
        return _SAFE.sub("_", f"{self.dataset}-{self.model}-{hp}-seed{self.seed}")

    @property
    def row_key(self) -> tuple[str, str]:
        """Jobs with the same key share data set and architecture: one grid row, trainable together."""
        return (self.dataset, self.model)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable config (what a record stores); :meth:`from_dict` gives the same job back."""
        return {"job_id": self.job_id, "dataset": self.dataset, "model": self.model, "hparams": dict(self.hparams),
                "seed": int(self.seed), "settings": dict(self.settings), "id_keys": list(self.id_keys)}

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> "Job":
        """The job of a config written by :meth:`to_dict`, with the same :attr:`job_id`."""
        return cls(config["dataset"], config["model"], dict(config["hparams"]), int(config["seed"]),
                   dict(config.get("settings", {})), tuple(config.get("id_keys", ())))


def _varying_keys(grid: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    keys = sorted({k for hp in grid for k in hp})
    varying = tuple(k for k in keys if len({repr(hp.get(k)) for hp in grid}) > 1)
    return varying or tuple(keys)


def make_grid(datasets: Iterable[str], grids: Mapping[str, Sequence[Mapping[str, Any]]], seeds: Iterable[int],
              settings: Mapping[str, Any] | None = None) -> list[Job]:
    """The product datasets x (method, hyperparameters) x seeds, in that order (seeds fastest).

    ``grids[method]`` is the list of hyperparameter dicts of that method. Raises ``ValueError`` on
    duplicate job ids or negative seeds.
    """
    datasets, seeds = list(datasets), [check_int(s, "seeds", minimum=0) for s in seeds]
    if not datasets or not grids or not seeds:
        raise ValueError("datasets, grids and seeds must all be non-empty")
    jobs = []
    for dataset in datasets:
        for model, grid in grids.items():
            if not grid:
                raise ValueError(f"grids[{model!r}] is empty")
            keys = _varying_keys(grid)
            for hp in grid:
                for seed in seeds:
                    jobs.append(Job(dataset, model, dict(hp), seed, dict(settings or {}), keys))
    ids = [j.job_id for j in jobs]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"the grid has duplicate job ids: {dup[:5]}")
    return jobs


def study_grid(scale: str | None = None, *, methods: Sequence[str] = METHODS,
               datasets: Sequence[str] | None = None, seeds: Sequence[int] | None = None,
               annealed_threshold: int | None = None, **train_overrides: Any) -> list[Job]:
    """The study's grid at a compute scale (``LECTURELIB_SCALE`` by default).

    Methods' hyperparameters come from :data:`~lecturelib.models.regularizers.SCALE_GRIDS`; data sets,
    seeds and training settings from :data:`SCALE_SETTINGS` (override with the keyword arguments).
    AnnealedVAE's capacity reaches ``c_max`` after a third of training, as in the paper (100k of 300k),
    or after ``annealed_threshold`` steps (e.g. the paper's 100,000: its ramp per step).
    """
    scale = scale or get_scale()
    if scale not in SCALES:
        raise ValueError(f"scale={scale!r} is not a known scale; expected one of: {', '.join(SCALES)}")
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"methods {sorted(unknown)} are not known; expected names from {METHODS}")
    if annealed_threshold is not None:
        annealed_threshold = check_int(annealed_threshold, "annealed_threshold", minimum=1)  # steps
    setting = SCALE_SETTINGS[scale]
    train = {**setting["train"], **train_overrides, "scale": scale}
    grids = {}
    for method in methods:
        grid = [dict(hp) for hp in SCALE_GRIDS[scale][method]]
        if method == "annealed_vae" and (scale != "paper" or annealed_threshold is not None):
            for hp in grid:
                hp["iteration_threshold"] = annealed_threshold or max(1, train["num_steps"] // 3)
        grids[method] = grid
    return make_grid(datasets or setting["datasets"], grids, seeds if seeds is not None else setting["seeds"], train)
