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

from lecturelib.config import get_scale
from lecturelib.models.regularizers import METHODS
from lecturelib.study.settings import scale_settings
from lecturelib.validation import check_int

_SAFE = re.compile(r"[^A-Za-z0-9_.,=+-]")


def format_hparams(hparams: Mapping[str, Any], keys: Sequence[str] | None = None) -> str:
    """``"key=value,..."`` for ``keys`` (default: every key, sorted), floats in ``%g``: ``"beta=4,gamma=0.5"``.

    The one spelling of hyperparameters in job ids, report rows and chapter 9's tables.
    """
    if not isinstance(hparams, Mapping):
        raise ValueError(f"hparams must be a mapping of names to values, got {type(hparams).__name__}")
    keys = sorted(hparams) if keys is None else keys
    missing = [k for k in keys if k not in hparams]
    if missing:
        raise ValueError(f"keys {missing} are not in hparams {sorted(hparams)}")
    return ",".join(f"{k}={hparams[k]:g}" if isinstance(hparams[k], float) else f"{k}={hparams[k]}" for k in keys)


@dataclass(frozen=True)
class Job:
    """One cell of the grid.

    Attributes
    ----------
    dataset : name of the dataset variant (one of :data:`~lecturelib.study.settings.DATASETS`, or any name
        a job function knows)
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
        hp = format_hparams(self.hparams, keys) or "default"
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
        missing = [key for key in ("dataset", "model", "hparams", "seed")
                   if not isinstance(config, Mapping) or key not in config]
        if missing:
            raise ValueError(f"config must be a job's config (Job.to_dict), a mapping with the keys dataset, model, "
                             f"hparams and seed; it lacks {missing}")
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

    Methods' hyperparameters, data sets, seeds and training settings come from the scale's
    :data:`~lecturelib.study.settings.STUDY_SCALES` entry (override with the keyword arguments).
    AnnealedVAE's capacity reaches ``c_max`` after a third of training, as in the paper (100k of 300k),
    or after ``annealed_threshold`` steps (e.g. the paper's 100,000: its ramp per step).
    """
    scale = scale or get_scale()
    setting = scale_settings(scale)
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"methods {sorted(unknown)} are not known; expected names from {METHODS}")
    if annealed_threshold is not None:
        annealed_threshold = check_int(annealed_threshold, "annealed_threshold", minimum=1)  # steps
    train = {**setting.train, **train_overrides, "scale": scale}
    grids = {}
    for method in methods:
        grid = setting.grids()[method]
        if method == "annealed_vae" and (scale != "paper" or annealed_threshold is not None):
            for hp in grid:
                hp["iteration_threshold"] = annealed_threshold or max(1, train["num_steps"] // 3)
        grids[method] = grid
    return make_grid(datasets or setting.datasets, grids, seeds if seeds is not None else setting.seeds, train)
