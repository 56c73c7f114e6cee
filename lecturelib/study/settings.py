"""The study's compute scales: one table saying what each scale sweeps, trains and evaluates.

Used by chapter 9 (the Locatello et al. study): :func:`~lecturelib.study.grid.study_grid` makes the
grid of a scale from it, and :mod:`~lecturelib.study.jobs` trains and scores each job with the
settings of the scale its config names. A job without a scale is an error, never the paper's
(most expensive) settings by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping

from lecturelib.models.regularizers import METHODS, PAPER_GRIDS, PAPER_TRAINING

DATASETS: tuple[str, ...] = ("dsprites", "noisy_dsprites", "color_dsprites")
"""Dataset variants the study knows (procedural dSprites and Locatello et al.'s noisy and colour versions)."""


@dataclass(frozen=True)
class ScaleSettings:
    """What the study does at one compute scale.

    Attributes
    ----------
    datasets : the dataset variants swept
    seeds : the seeds swept
    values : which of each method's paper values (indices into :data:`~lecturelib.models.regularizers.PAPER_GRIDS`)
    train : training length and learning rate: ``num_steps``, ``batch_size``, ``lr``, ``n_latents``
    evaluate : keyword arguments of :func:`lecturelib.metrics.evaluate_all`
    """

    datasets: tuple[str, ...]
    seeds: tuple[int, ...]
    values: tuple[int, ...]
    train: Mapping[str, Any]
    evaluate: Mapping[str, Any]

    def grids(self) -> dict[str, list[dict[str, float]]]:
        """``{method: [hyperparameters, ...]}``: the paper's values at :attr:`values` of each method."""
        return {m: [dict(PAPER_GRIDS[m][i]) for i in self.values] for m in METHODS}


STUDY_SCALES: Mapping[str, ScaleSettings] = MappingProxyType({
    # Tiny is for CI: a handful of models must train and be scored in about a minute on one core,
    # so each sees 640 images at the paper's learning rate: barely trained (a larger rate collapses
    # every posterior within 20 steps, leaving no active latent to score); they test the plumbing.
    # Its metrics use small samples, 10 boosting rounds instead of 100 and no explicitness, so that
    # one model is scored in a few seconds; barely-trained encoders' means vary by only ~0.001-0.05,
    # below FactorVAE's absolute prune threshold of 0.05, so tiny prunes only constant latents.
    "tiny": ScaleSettings(
        datasets=("dsprites",), seeds=(0,), values=(0, 5),
        train={"num_steps": 20, "batch_size": 32, "lr": 1e-4, "n_latents": 10},
        evaluate={"fast": True, "batch_size": 4, "num_train": 100, "num_test": 50, "num_variance_estimate": 200,
                  "downstream_sizes": (10, 100), "boosting_rounds": 10, "prune_threshold": 0.0,
                  "metrics": ("beta_vae", "factor_vae", "mig", "modularity", "sap", "dci", "downstream_lr",
                              "downstream_gbt")}),
    # Default: the two ends and the middle of each paper grid, so the contrast between weak and
    # strong regularisation survives; shorter runs than the paper's use a larger learning rate so
    # that something is learnt.
    "default": ScaleSettings(
        datasets=("dsprites",), seeds=(0, 1, 2), values=(0, 2, 5),
        train={"num_steps": 5_000, "batch_size": 64, "lr": 5e-4, "n_latents": 10},
        evaluate={"fast": True, "num_train": 5_000, "num_test": 2_500, "num_variance_estimate": 5_000,
                  "downstream_sizes": (10, 100, 1_000, 10_000)}),
    # Paper: 300k steps of Adam at 1e-4, batch 64, every value, 50 seeds, three data sets, and
    # disentanglement_lib's sample sizes (evaluate_all's defaults).
    "paper": ScaleSettings(
        datasets=DATASETS, seeds=tuple(range(PAPER_TRAINING["num_seeds"])), values=tuple(range(6)),
        train={k: PAPER_TRAINING[k] for k in ("num_steps", "batch_size", "lr", "n_latents")},
        evaluate={"fast": False}),
})
"""The study's settings per compute scale (``tiny``, ``default``, ``paper``)."""

EVAL_SETTINGS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {scale: settings.evaluate for scale, settings in STUDY_SCALES.items()})
"""``STUDY_SCALES[scale].evaluate`` by scale (chapter 9 prints the default scale's sample sizes)."""

def scale_settings(scale: str) -> ScaleSettings:
    """The settings of ``scale``; ``ValueError`` naming the known scales otherwise."""
    if scale not in STUDY_SCALES:
        raise ValueError(f"scale={scale!r} is not a known scale; expected one of: {', '.join(STUDY_SCALES)}")
    return STUDY_SCALES[scale]


def job_scale(settings: Mapping[str, Any], job_id: str = "the job") -> ScaleSettings:
    """The scale settings named by a job's ``settings["scale"]``; ``ValueError`` if it names none."""
    if "scale" not in settings:
        raise ValueError(f"{job_id} has no 'scale' in its settings; expected one of: {', '.join(STUDY_SCALES)} "
                         "(study_grid sets it)")
    return scale_settings(settings["scale"])
