"""The study's job: train one model of the grid on a dSprites variant, then score it with every metric.

Used by chapter 9 (the Locatello et al. study) through ``python -m lecturelib.study run``. One job
trains the dSprites VAE its settings name (``architecture``: ``"conv"``, the standard conv VAE of
:func:`lecturelib.models.dsprites_conv_vae`, or ``"mlp"``, chapter 7's fully connected recipe;
10 Gaussian latents, Bernoulli decoder) with one of the six regularisers
(:mod:`lecturelib.models.regularizers`) using the shared loop (:func:`lecturelib.training.train`),
then evaluates the mean of :math:`q(\\mathbf{z}\\mid\\mathbf{x})` as the representation with
:func:`lecturelib.metrics.evaluate_all` (every disentanglement metric, the unsupervised scores
and the downstream tasks), as the study does. ``train_and_evaluate.run_group`` trains several
jobs of one grid row together in one training step (:func:`lecturelib.study.batched.train_stacked`:
vmapped on a GPU, which is what it needs at batch 64; a loop over the models on a CPU).
"""

from __future__ import annotations

import functools
import os
import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from lecturelib.config import resolve_device
from lecturelib.data.dsprites import DSprites
from lecturelib.models import regularizers as R
from lecturelib.models import dsprites_vae
from lecturelib.study.batched import single_loss, train_stacked
from lecturelib.study.grid import Job
from lecturelib.study.settings import EVAL_SETTINGS, job_scale  # noqa: F401 (chapter 9 imports EVAL_SETTINGS from here)
from lecturelib.training import History, train
from lecturelib.validation import check_int

NUM_LOGS = 20
"""Points of the training curves kept in a record."""

ENCODER_SEEDS: tuple[int, ...] = (0,)
"""Seeds whose encoder weights are kept beside the record (artifact ``"encoder"``, ~1.5 MB each at
float32), so that the models can be scored again without retraining: chapter 8 measures the fast
metrics' agreement with reference mode on them (:mod:`lecturelib.study.agreement`)."""


@functools.lru_cache(maxsize=8)
def make_dataset(name: str) -> DSprites:
    """The dSprites variant ``name``: ``dsprites``, ``noisy_dsprites`` or ``color_dsprites`` (64x64)."""
    variants = {"dsprites": "binary", "noisy_dsprites": "noisy", "color_dsprites": "color"}
    if name not in variants:
        raise ValueError(f"dataset={name!r} is not known; expected one of: {', '.join(variants)}")
    return DSprites(variant=variants[name])


def memory_format(device: torch.device) -> torch.memory_format:
    """The layout of the study's images and conv weights on ``device``: channels-last on a CPU.

    oneDNN's CPU convolutions run faster on channels-last tensors (``benchmarks/study.py`` times
    both layouts); on CUDA the models are vmapped, which keeps the standard layout.
    """
    return torch.channels_last if device.type == "cpu" else torch.contiguous_format


def make_stream(data: DSprites, n_latents: int, device: torch.device):
    """``stream(batch_size, generator) -> (images (B, C, 64, 64), eps (B, n_latents))`` on ``device``.

    Grid positions and the reparametrisation noise are drawn from the (CPU) ``generator``, so a
    model's batches depend only on its seed, whether it is trained alone or stacked. On a GPU the
    sprites come from a table built once (:meth:`DSprites.cache_images`, the same images), so
    rendering keeps up with small-batch training. Images are in :func:`memory_format`.
    """
    if device.type == "cuda":
        data.cache_images(device)
    layout = memory_format(device)

    def stream(batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.randint(0, len(data), (batch_size,), generator=generator)
        eps = torch.randn(batch_size, n_latents, generator=generator)
        factors = data.index_to_factors(index).to(device, non_blocking=True)
        images = data.render(factors, validate=False).contiguous(memory_format=layout)
        return images, eps.to(device, non_blocking=True)

    return stream


def vae_loss(method: str, discriminator: nn.Module | None = None, dataset_size: int | None = None,
             warmup_steps: int = 0):
    """The stacked loss ``loss(model, (x, eps), hparams, step)`` of ``method``: reconstruction + regulariser.

    Reconstruction is the Bernoulli negative log-likelihood summed over pixels, averaged over the
    batch; ``z = mu + sigma * eps``. FactorVAE needs its ``discriminator`` (see :func:`factor_vae_loss`).
    ``warmup_steps > 0`` weighs the regulariser by ``min(1, step / warmup_steps)`` (a linear warm-up,
    Bowman et al. 2016: the decoder learns to use the latents before the full pressure of the
    regulariser can switch them off; logged as ``warmup``). AnnealedVAE ignores it: its capacity ramp
    is its warm-up, and a grid of all six methods shares one ``warmup_steps``.
    """
    if method not in R.METHODS:
        raise ValueError(f"method={method!r} is not known; expected one of: {', '.join(R.METHODS)}")
    warmup_steps = 0 if method == "annealed_vae" else check_int(warmup_steps, "warmup_steps", minimum=0)

    def loss(model: nn.Module, batch, hparams: Mapping[str, torch.Tensor], step: torch.Tensor):
        x, eps = batch[0], batch[-1]
        mu, log_var = model.encode(x)
        z = mu + (0.5 * log_var).exp() * eps
        logits = model.decode(z)
        rec = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1).mean()
        kl = R.kl_loss(mu, log_var)
        hp = {k: v for k, v in hparams.items() if k in _HPARAMS[method]}
        reg = R.regularizer(method, mu, log_var, z, step=step, discriminator=discriminator,
                            dataset_size=dataset_size, **hp)
        if not warmup_steps:
            return {"loss": rec + reg, "reconstruction": rec, "kl": kl, "regularizer": reg}
        weight = torch.clamp(step / warmup_steps, max=1.0)
        return {"loss": rec + weight * reg, "reconstruction": rec, "kl": kl, "regularizer": reg, "warmup": weight}

    return loss


_HPARAMS = {"beta_vae": {"beta"}, "beta_tcvae": {"beta"}, "factor_vae": {"gamma"},
            "annealed_vae": {"gamma", "c_max", "iteration_threshold"},
            "dip_vae_i": {"lambda_od", "lambda_d"}, "dip_vae_ii": {"lambda_od", "lambda_d"}}


def factor_vae_loss(hparams: Mapping[str, float], n_latents: int, device: torch.device, seed: int,
                    warmup_steps: int = 0, discriminator_batch: int | None = None):
    """FactorVAE's ``loss_fn(model, batch)`` for :func:`~lecturelib.training.train`, with its discriminator.

    In training mode each call first takes one Adam step of the discriminator (its own optimiser,
    :func:`~lecturelib.models.regularizers.make_discriminator_optimizer`) on this batch's latents
    against their permutation, then returns the VAE's loss with the updated discriminator's TC
    estimate. (``disentanglement_lib`` applies both updates from the same forward pass; here the VAE
    sees the discriminator one step later, which avoids a second copy of it.) ``warmup_steps``: as in
    :func:`vae_loss`. ``discriminator_batch``: the discriminator trains on the first that many latents of
    each batch (the batch is drawn uniformly at random, so they are a random sample of it); the VAE's
    TC estimate still uses the whole batch. ``None`` (default): the whole batch, as in the paper, whose
    batch is 64. At the recipe's batch of 1,024 the discriminator (six layers of 1,000 units) would
    cost several times the VAE itself (``benchmarks/study_methods.py``).
    """
    if discriminator_batch is not None:
        discriminator_batch = check_int(discriminator_batch, "discriminator_batch", minimum=2)
    torch.manual_seed(seed + 1_000_003)
    discriminator = R.Discriminator(n_latents, R.PAPER_TRAINING["discriminator_hidden"],
                                    R.PAPER_TRAINING["discriminator_layers"]).to(device)
    optimizer = R.make_discriminator_optimizer(discriminator)
    generator = torch.Generator(device=device).manual_seed(seed)
    inner = single_loss(vae_loss("factor_vae", discriminator, warmup_steps=warmup_steps), hparams)

    def loss(model: nn.Module, batch):
        if model.training:
            with torch.no_grad():
                mu, log_var = model.encode(batch[0][:discriminator_batch])
                z = mu + (0.5 * log_var).exp() * batch[-1][:discriminator_batch]
            d_loss = R.discriminator_loss(discriminator, z, generator)
            optimizer.zero_grad(set_to_none=True)
            d_loss.backward()
            optimizer.step()
        out = inner(model, batch)
        if model.training:
            out["discriminator"] = d_loss.detach()
        return out

    return loss


def _curves(history: History) -> dict[str, list[float]]:
    return {"steps": list(history.steps), **{k: [float(v) for v in vals] for k, vals in history.train.items()}}


def make_encode(encoder: Callable[[torch.Tensor], tuple[torch.Tensor, ...]], device: torch.device,
                layout: torch.memory_format | None = None) -> Callable[[Any], torch.Tensor]:
    """``encode(images) -> posterior means (n, n_latents)`` on ``device``; images in ``layout``
    (default :func:`memory_format`, the study's)."""
    layout = memory_format(device) if layout is None else layout

    @torch.no_grad()
    def encode(images):
        return encoder(torch.as_tensor(images, device=device).contiguous(memory_format=layout))[0]

    return encode


def evaluate_job(job: Job, encode: Callable[[Any], torch.Tensor], data: DSprites, device: torch.device,
                 metrics: Sequence[str] | None = None) -> tuple[dict[str, float], dict[str, float]]:
    """Score ``encode`` as the study scores ``job`` (its scale's ``evaluate`` settings, seeded by the job's seed).

    ``metrics``: a subset of the scale's metrics (re-scoring); each metric's samples do not depend on
    which others run. Returns ``(scores, timings)`` with timings named ``eval.<metric>_s``.
    """
    from lecturelib.metrics import evaluate_all

    start = time.perf_counter()
    settings = dict(job_scale(job.settings, job.job_id).evaluate)
    if metrics is not None:
        settings["metrics"] = list(metrics)
    timings: dict[str, float] = {}
    scores = evaluate_all(data, encode, random_state=job.seed, device=device, timings=timings, **settings)
    timings = {f"eval.{k}_s": round(v, 3) for k, v in timings.items()}
    timings["eval_s"] = round(time.perf_counter() - start, 3)
    return {k: float(v) for k, v in scores.items()}, timings


def _artifacts(job: Job, model: nn.Module) -> dict[str, Any]:
    if job.seed not in ENCODER_SEEDS:
        return {}
    return {"encoder": {k: v.detach().to("cpu", copy=True) for k, v in model.encoder.state_dict().items()}}


def _evaluate(job: Job, model: nn.Module, data: DSprites, device: torch.device) -> tuple[dict[str, float], dict]:
    model.eval()
    return evaluate_job(job, make_encode(model.encode, device), data, device)


def kept_encode(study_folder: str | os.PathLike, record: Mapping[str, Any], device: str | torch.device = "cpu",
                layout: torch.memory_format | None = None) -> Callable[[Any], torch.Tensor]:
    """The ``encode`` function of a record's kept encoder (see :func:`make_encode`).

    The default ``layout`` is the one the study scored the model in. Other layouts give codes that
    differ in the last bits: enough to move a boosted tree's split when a collapsed model's codes
    barely vary.
    """
    device = resolve_device(device)
    layout = memory_format(device) if layout is None else layout
    encoder = load_encoder(study_folder, record).to(device, memory_format=layout)
    return make_encode(encoder, device, layout)


@torch.no_grad()
def kept_posteriors(study_folder: str | os.PathLike, record: Mapping[str, Any], images: torch.Tensor,
                    batch_size: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and log-variances ``(n, n_latents)`` of a record's kept encoder on ``images``.

    ``images``: ``(n, C, 64, 64)`` in [0, 1], encoded on the CPU in the layout the study scored in.
    """
    images = torch.as_tensor(images)
    if images.ndim != 4 or tuple(images.shape[2:]) != (64, 64):
        raise ValueError(f"images must have shape (n, C, 64, 64), got {tuple(images.shape)}")
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    layout = memory_format(torch.device("cpu"))
    encoder = load_encoder(study_folder, record).to(memory_format=layout)
    parts = [encoder(images[s:s + batch_size].float().contiguous(memory_format=layout))[:2]
             for s in range(0, len(images), batch_size)]
    return (torch.cat([p[0] for p in parts]).double().numpy(), torch.cat([p[1] for p in parts]).double().numpy())


def load_encoder(study_folder: str | os.PathLike, record: Mapping[str, Any]) -> nn.Module:
    """The trained encoder of a finished study ``record`` whose seed is in :data:`ENCODER_SEEDS` (CPU, eval mode).

    Raises ``KeyError`` if the record kept no encoder.
    """
    from lecturelib.store import RecordStore

    state = RecordStore(study_folder).load_artifact(record, "encoder")
    s = _settings(Job.from_dict(record["config"]))
    encoder = dsprites_vae(s["architecture"], s["n_latents"], make_dataset(record["config"]["dataset"]).channels).encoder
    encoder.load_state_dict(state)
    return encoder.eval()


_UNNAMED = {"architecture": "conv", "warmup_steps": 0, "discriminator_batch": None}
"""What a job whose settings do not name them trains: the conv net, no warm-up, FactorVAE's discriminator
on the whole batch (the study's models before chapter 7's recipe, whose records name none of them)."""


def _settings(job: Job) -> dict[str, Any]:
    """The job's training settings: its scale's, overridden by :data:`_UNNAMED`, then by its own
    (``ValueError`` if it names no scale)."""
    return {**job_scale(job.settings, job.job_id).train, **_UNNAMED, **job.settings}


def _model(s: Mapping[str, Any], channels: int, seed: int, device: torch.device) -> nn.Module:
    return dsprites_vae(s["architecture"], s["n_latents"], channels, seed=seed).to(memory_format=memory_format(device))


def _loss(job: Job, s: Mapping[str, Any], device: torch.device):
    if job.model == "factor_vae":
        return factor_vae_loss(job.hparams, s["n_latents"], device, job.seed, s["warmup_steps"],
                               s["discriminator_batch"])
    return single_loss(vae_loss(job.model, warmup_steps=s["warmup_steps"]), job.hparams)


def training_setup(job: Job, device: str | torch.device = "auto") -> tuple[nn.Module, Callable, Callable, dict[str, Any]]:
    """``(model, loss_fn, stream, settings)``: what :func:`train_and_evaluate` trains for ``job``.

    The freshly initialised model (seeded by the job's seed) on ``device``, its loss for
    :func:`lecturelib.training.train`, the batch stream (:func:`make_stream`) and the job's training
    settings (``architecture``, ``num_steps``, ``batch_size``, ``lr``, ``n_latents``, ``warmup_steps``, ...).
    ``benchmarks/study.py`` times one training step of each method with it.
    """
    device = resolve_device(device)
    s = _settings(job)
    data = make_dataset(job.dataset)
    torch.manual_seed(job.seed)
    model = _model(s, data.channels, job.seed, device).to(device)
    return model, _loss(job, s, device), make_stream(data, s["n_latents"], device), s


def train_and_evaluate(job: Job, device: str | torch.device = "auto") -> dict[str, Any]:
    """Train the job's model alone, evaluate it; return ``{"scores", "curves", "timings"}``."""
    device = resolve_device(device)
    model, loss, stream, s = training_setup(job, device)
    data = make_dataset(job.dataset)
    history = train(model, loss, stream, num_steps=s["num_steps"], batch_size=s["batch_size"], lr=s["lr"],
                    seed=job.seed, device=device, num_logs=NUM_LOGS, progress=False)
    scores, eval_s = _evaluate(job, model, data, device)
    return {"scores": scores, "curves": _curves(history),
            "timings": {"train_s": round(history.seconds, 3), **eval_s,
                        "images_per_s": round(s["num_steps"] * s["batch_size"] / history.seconds, 1)},
            "device": str(device), "artifacts": _artifacts(job, model)}


def _run_group(jobs: Sequence[Job], device: str | torch.device = "auto") -> list[dict[str, Any] | Exception]:
    """Train the jobs of one grid row together (vmapped), then evaluate each; FactorVAE one by one."""
    device = resolve_device(device)
    jobs = list(jobs)
    if len({(j.dataset, j.model) for j in jobs}) != 1 or jobs[0].model == "factor_vae" or \
            len({tuple(sorted(_settings(j).items())) for j in jobs}) != 1:
        results: list[dict[str, Any] | Exception] = []
        for job in jobs:
            try:
                results.append(train_and_evaluate(job, device))
            except Exception as error:  # recorded per job by the runner
                results.append(error)
        return results
    s = _settings(jobs[0])
    data = make_dataset(jobs[0].dataset)
    models = [_model(s, data.channels, j.seed, device) for j in jobs]
    histories = train_stacked(models, vae_loss(jobs[0].model, warmup_steps=s["warmup_steps"]), make_stream(data, s["n_latents"], device),
                              hparams=[dict(j.hparams) for j in jobs], seeds=[j.seed for j in jobs],
                              num_steps=s["num_steps"], batch_size=s["batch_size"], lr=s["lr"],
                              num_logs=NUM_LOGS, device=device, progress=False)
    results = []
    for job, model, history in zip(jobs, models, histories):
        try:
            scores, eval_s = _evaluate(job, model, data, device)
            images = s["num_steps"] * s["batch_size"] * len(jobs)
            results.append({"scores": scores, "curves": _curves(history),
                            "timings": {"train_s": round(history.seconds / len(jobs), 3), **eval_s,
                                        "images_per_s": round(images / history.seconds, 1), "stacked": len(jobs)},
                            "device": str(device), "artifacts": _artifacts(job, model)})
        except Exception as error:
            results.append(error)
    return results


train_and_evaluate.run_group = _run_group  # type: ignore[attr-defined]
