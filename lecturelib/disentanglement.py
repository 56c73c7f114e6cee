"""Disentanglement: ICA on the cocktail party, the β-VAE on dSprites, and what its latents carry.

Used by chapter 7 ("Disentanglement and the β-VAE"). Three groups of functions:

- **prior disentangling (ICA)**: :func:`cocktail_party_sources`, :func:`mixing_matrix` and
  :func:`match_sources` build the slide's model ``x = A z`` with independent non-Gaussian
  sources and score how well an unmixing recovers them (up to order, sign and scale);
- **the β-VAE**: :func:`train_beta_vae` trains a dSprites VAE (fully connected or convolutional)
  with the β-VAE or β-TCVAE loss (:func:`beta_vae_loss`, the study's) on streamed batches, checking
  on held-out images as it learns, and is an :func:`~lecturelib.artifacts.artifact` (trained once,
  loaded afterwards with its provenance); :func:`beta_sweep` is chapter 7's recipe and sweep (chosen
  by :mod:`lecturelib.recipe_search`); :func:`load_beta_vae` rebuilds the model;
- **what the latents carry**: :func:`encode`, :func:`kl_per_latent` (and where it goes,
  :func:`kl_decomposition`), :func:`latent_traversal`,
  :func:`dominant_latents` (on a latent x factor mutual-information matrix, which
  :func:`lecturelib.metrics.mutual_info_matrix` computes; active latents only in :func:`latent_report`,
  whose :func:`separates` tells whether chosen factors have latents of their own) and :func:`aggregate_posterior_samples`
  (draws from the aggregate posterior, whose total correlation
  :func:`lecturelib.metrics.gaussian_total_correlation` estimates).

Conventions: codes ``(n_samples, n_latents)``, factors ``(n_samples, n_factors)``, images
``(n_samples, C, 64, 64)`` (scikit-learn layout, see the notation page).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from scipy import signal
from scipy.optimize import linear_sum_assignment

from lecturelib.artifacts import artifact, checkpoint_path
from lecturelib.config import resolve_device, scaled
from lecturelib.data.dsprites import DSprites
from lecturelib.metrics import gaussian_total_correlation, mig, mutual_info_matrix
from lecturelib.training import train
from lecturelib.validation import check_array, check_choice, check_int, check_number, check_rng, check_tensor
from lecturelib.vae import VAE, log_likelihood, make_fast_loss
from lecturelib.vae import kl_per_latent as vae_kl_per_latent

__all__ = [
    "cocktail_party_sources", "mixing_matrix", "match_sources",
    "OBJECTIVES", "ACTIVE_KL", "beta_vae_loss", "make_dsprites", "held_out_sample", "check_steps",
    "train_beta_vae", "load_beta_vae", "latent_report", "separates", "reconstruction_nll",
    "encode", "kl_per_latent", "kl_decomposition", "latent_traversal", "decode_codes",
    "aggregate_posterior_samples", "dominant_latents", "evaluate_beta_vae",
]


# --------------------------------------------------------------------------------------------
# Prior disentangling: the cocktail-party problem
# --------------------------------------------------------------------------------------------

def cocktail_party_sources(n_samples: int = 2000, *, duration: float = 8.0, noise: float = 0.05,
                           random_state: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three independent "speakers": a sine, a square wave and a sawtooth, plus a little noise.

    Returns the times ``t`` ``(n_samples,)`` and the sources ``Z`` ``(n_samples, 3)``, each
    column standardised (zero mean, unit variance). The waves are non-Gaussian, which is what
    ICA needs (scikit-learn's FastICA example uses the same three).
    """
    n_samples = check_int(n_samples, "n_samples", minimum=10)
    duration = check_number(duration, "duration", minimum=0, strict=True)
    noise = check_number(noise, "noise", minimum=0)
    rng = check_rng(random_state)
    t = np.linspace(0.0, duration, int(n_samples))
    Z = np.stack([np.sin(2.0 * t), np.sign(np.sin(3.0 * t)), signal.sawtooth(2.0 * np.pi * t)], axis=1)
    Z = Z + noise * rng.standard_normal(Z.shape)
    Z = (Z - Z.mean(0)) / Z.std(0)
    return t, Z


def mixing_matrix(n_sources: int = 3, *, random_state: int = 0, min_singular_value: float = 0.3) -> np.ndarray:
    """A random, well-conditioned square mixing matrix ``A`` ``(n_sources, n_sources)`` for ``x = A z``.

    Entries are drawn from U(0.5, 1.5) with random signs until the smallest singular value exceeds
    ``min_singular_value`` (every "microphone" hears every speaker).
    """
    n_sources = check_int(n_sources, "n_sources", minimum=1)
    min_singular_value = check_number(min_singular_value, "min_singular_value", minimum=0)
    rng = check_rng(random_state)
    for _ in range(1000):
        A = rng.uniform(0.5, 1.5, (n_sources, n_sources)) * rng.choice([-1.0, 1.0], (n_sources, n_sources))
        if np.linalg.svd(A, compute_uv=False).min() > min_singular_value:
            return A
    raise ValueError(f"no {n_sources}x{n_sources} matrix with singular values > {min_singular_value} found")


def match_sources(Z: np.ndarray, Z_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Match estimated components to true sources up to order and sign; return how well each matches.

    Parameters
    ----------
    Z : array (n_samples, n_sources), the true sources
    Z_hat : array (n_samples, n_components), the estimate (``n_components >= n_sources``)

    Returns
    -------
    order : int array (n_sources,), the component matched to each source (Hungarian matching on
        the absolute correlation)
    correlation : array (n_sources,), the absolute correlation of each source with its component
        (1 = recovered up to sign and scale, the indeterminacy of ICA)
    """
    Z, Z_hat = np.asarray(Z, dtype=float), np.asarray(Z_hat, dtype=float)
    if Z.ndim != 2 or Z_hat.ndim != 2 or Z.shape[0] != Z_hat.shape[0]:
        raise ValueError(f"Z and Z_hat must be (n_samples, n_sources) and (n_samples, n_components) with the "
                         f"same n_samples, got {Z.shape} and {Z_hat.shape}")
    if Z_hat.shape[1] < Z.shape[1]:
        raise ValueError(f"Z_hat needs at least {Z.shape[1]} components, got {Z_hat.shape[1]}")
    k = Z.shape[1]
    corr = np.abs(np.corrcoef(Z.T, Z_hat.T)[:k, k:])  # (n_sources, n_components)
    rows, cols = linear_sum_assignment(-corr)
    order = np.empty(k, dtype=np.int64)
    order[rows] = cols
    return order, corr[np.arange(k), order]


# --------------------------------------------------------------------------------------------
# The β-VAE on dSprites
# --------------------------------------------------------------------------------------------

OBJECTIVES: tuple[str, ...] = ("beta_vae", "beta_tcvae")
"""Objectives :func:`train_beta_vae` accepts: the β-VAE's ``reconstruction + β KL`` and β-TCVAE's
``reconstruction + KL + (β - 1) TC`` (Chen et al. 2018), the study's own losses
(:func:`lecturelib.study.jobs.vae_loss`), so chapter 7 and chapter 9 train with one code path."""

ACTIVE_KL = 0.05
"""Nats: a latent whose mean KL to the prior is below this carries (almost) nothing; it is inactive."""

HELD_OUT_SEED = 7_654_321
"""Seed of the held-out images on which training is checked (training batches use the model's seed)."""


def beta_vae_loss(beta: float, objective: str = "beta_vae", warmup_steps: int = 0):
    """The training loss of :func:`train_beta_vae`: ``loss_fn(model, (x, eps))`` for :func:`lecturelib.training.train`.

    ``objective="beta_vae"``: ``reconstruction + beta * KL``, the negative β-weighted ELBO of Higgins
    et al. (``beta = 1`` is the VAE); ``"beta_tcvae"``: ``reconstruction + KL + (beta - 1) * TC``.
    Batch means, in nats per image, with ``z = mu + sigma * eps``; the terms are logged too
    (``reconstruction`` is -log p(x|z), positive). It is the study's loss
    (:func:`lecturelib.study.jobs.vae_loss`), so chapters 7 and 9 train through one code path.
    ``warmup_steps > 0`` weighs the regulariser by ``min(1, step / warmup_steps)`` (a linear KL
    warm-up, Bowman et al. 2016), so the decoder learns to use the latents before the full
    pressure of the regulariser can switch them off.
    """
    from lecturelib.study.batched import single_loss
    from lecturelib.study.jobs import vae_loss

    beta = check_number(beta, "beta", minimum=0)
    check_choice(objective, "objective", OBJECTIVES)
    warmup_steps = check_int(warmup_steps, "warmup_steps", minimum=0)
    return single_loss(vae_loss(objective, warmup_steps=warmup_steps), {"beta": float(beta)})


def make_dsprites(variant: str = "binary", subset: Mapping[str, Sequence[int]] | None = None) -> DSprites:
    """The 64x64 dSprites (full grid, or the ``subset`` of :class:`~lecturelib.data.dsprites.DSprites`)."""
    return DSprites(64, variant=variant, subset=subset)


TINY_SUBSET: dict[str, list[int]] = {"shape": [2], "orientation": [0], "scale": [0, 2, 5],
                                     "posX": list(range(0, 32, 4)), "posY": list(range(0, 32, 4))}
"""The reduced dSprites of the tiny scale: hearts only, one orientation, 3 scales, 8 x 8 positions."""


SHORT_CONV_TRAINING: dict[str, Any] = {"seed": 0, "num_steps": 6_000, "batch_size": 256, "lr": 5e-4, "n_latents": 10,
                                       "variant": "binary", "subset": None}
"""The convolutional β-VAEs this chapter shipped before its recipe search (β = 1 and 16; 6,000 steps of 256
images, about two passes over dSprites, on a GPU): :func:`train_beta_vae` parameters, less ``beta``.
Chapter 8 scores them as briefly trained models."""


def beta_sweep(scale: str | None = None) -> tuple[list[float], dict[str, Any]]:
    """The β values and training settings of chapter 07's sweep at ``scale`` (default: the current one).

    The recipe is the one the recipe search chose (:mod:`lecturelib.recipe_search`): the fully
    connected VAE trained with the β-TCVAE objective on batches of 1,024 at a learning rate of 1e-3,
    the regulariser warmed up over the first 3,000 steps; 10,000 steps (10.2 million images) at
    the default scale, 36,000 (the 50 passes over dSprites of Chen et al.'s code) at the paper scale.
    One definition serves the chapter and the command that trains the shipped results, so their
    stored results match: ``python -m lecturelib.disentanglement --scale default --publish``.
    """
    betas = scaled(tiny=[1.0, 6.0, 16.0], default=[1.0, 3.0, 6.0, 16.0], paper=[1.0, 2.0, 4.0, 6.0, 8.0, 10.0],
                   scale=scale)
    params = dict(seed=0, num_steps=scaled(tiny=60, default=10_000, paper=36_000, scale=scale),
                  batch_size=scaled(tiny=32, default=1024, scale=scale), lr=1e-3, n_latents=10, variant="binary",
                  subset=scaled(tiny=TINY_SUBSET, default=None, scale=scale), num_logs=50, architecture="mlp",
                  objective="beta_tcvae", warmup_steps=scaled(tiny=20, default=3_000, paper=10_000, scale=scale),
                  num_checks=16, check_size=scaled(tiny=500, default=10_000, scale=scale))
    return betas, params


LONGER_BETA = 6.0
"""The β of chapter 07's longest run (:func:`longer_training`): the sweep's value chosen by the recipe search."""


def longer_training(scale: str | None = None) -> dict[str, Any]:
    """Training settings of chapter 07's longest run: the sweep's β = ``LONGER_BETA`` model trained as long again.

    The run starts from that model's stored weights (``start_from``, see :func:`train_beta_vae`) and
    trains the sweep's number of steps more (20,000 steps, 20.5 million images in all, at the default
    scale), on new batches (the next seed) and without a second warm-up. It shows whether a model
    that has split the factors keeps improving. ``train_beta_vae(beta=LONGER_BETA, **longer_training())``.
    """
    _, params = beta_sweep(scale)
    return {**params, "seed": params["seed"] + 1, "warmup_steps": 0,
            "start_from": {**params, "beta": LONGER_BETA}}


def held_out_sample(data: DSprites, n: int = 10_000) -> tuple[torch.Tensor, np.ndarray]:
    """``n`` fresh images ``(n, C, 64, 64)`` and their factor classes ``(n, K)``, drawn with :data:`HELD_OUT_SEED`."""
    images, factors = data.sample(check_int(n, "n", minimum=2), HELD_OUT_SEED)
    return images, factors.numpy()


def check_steps(num_steps: int, num_checks: int) -> list[int]:
    """``num_checks`` steps spread evenly in log scale from ``num_steps / 100`` to ``num_steps`` (included)."""
    num_steps = check_int(num_steps, "num_steps", minimum=1)
    if check_int(num_checks, "num_checks", minimum=0) == 0:
        return []
    first = max(1, num_steps // 100)
    return sorted({int(round(s)) for s in np.geomspace(first, num_steps, num_checks)})


@artifact("beta_vae_dsprites")
def train_beta_vae(*, beta: float, seed: int = 0, num_steps: int = 10_000, batch_size: int = 256,
                   lr: float = 5e-4, n_latents: int = 10, variant: str = "binary",
                   subset: dict[str, list[int]] | None = None, num_logs: int = 50, architecture: str = "conv",
                   objective: str = "beta_vae", warmup_steps: int = 0, num_checks: int = 0,
                   check_size: int = 10_000, start_from: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Train a dSprites VAE with the β-VAE (or β-TCVAE) objective; trained once, then loaded.

    The model is :func:`lecturelib.models.dsprites_vae` ``(architecture)``. The loss
    (:func:`beta_vae_loss`, with its optional warm-up) and the batch stream are the study's
    (:func:`lecturelib.study.jobs.vae_loss`, :func:`~lecturelib.study.jobs.make_stream`: uniform
    draws over the grid, rendered on the training device, seeded by ``seed``). The device
    is ``LECTURELIB_DEVICE`` or ``"auto"``. With ``num_checks > 0`` the model is checked at that
    many steps (:func:`check_steps`) on ``check_size`` held-out images (:func:`held_out_sample`):
    :func:`latent_report` plus the reconstruction, which shows disentanglement emerging with training.
    The parameters are keywords so that they key the stored result (see :mod:`lecturelib.artifacts`).

    ``start_from`` trains longer: the parameters of a stored :func:`train_beta_vae` result of the
    same architecture, whose weights this run starts from and continues for ``num_steps`` more
    steps (Adam's moments start afresh; ``seed`` then only draws the batch stream, so pick another
    than the first run's to see new batches, and ``warmup_steps=0`` as the warm-up is over). Its
    checks follow the first run's, with steps, images and seconds counted from the first run's start.

    Returns
    -------
    dict with ``state_dict`` (CPU tensors), ``n_latents``, ``n_channels``, ``architecture``,
    ``objective``, ``beta``, ``history`` (``steps``, ``train`` = per-term means between log points,
    ``seconds`` of training), ``images_per_second``, ``threads`` and ``checks`` (lists per check:
    ``steps``, ``images``, ``seconds`` of training so far, ``mig``, ``top`` and ``ratio`` per factor,
    ``n_active``, ``reconstruction`` and ``kl`` in nats per image).
    """
    from lecturelib.models import dsprites_vae
    from lecturelib.study.jobs import make_stream, memory_format

    loss = beta_vae_loss(beta, objective, warmup_steps)  # checks beta, objective and warmup_steps
    for name, value in (("num_steps", num_steps), ("batch_size", batch_size), ("n_latents", n_latents),
                        ("check_size", check_size)):
        check_int(value, name, minimum=1)
    check_int(num_checks, "num_checks", minimum=0)
    device = resolve_device(None)
    data = make_dsprites(variant, subset)
    model = dsprites_vae(architecture, n_latents, data.channels, seed=seed)
    before = _stored_run(start_from, architecture, n_latents) if start_from is not None else None
    if before is not None:
        model.load_state_dict(before["state_dict"])
    model = model.to(device, memory_format=memory_format(device))
    # a continued run counts its steps and training time from the first run's start
    step_offset = int(before["history"]["steps"][-1]) if before is not None else 0
    seconds_offset = float(before["checks"]["seconds"][-1]) if before is not None and before["checks"]["seconds"] else 0.0
    loss_fn = make_fast_loss(model, loss, device=device)
    checks: dict[str, list] = {k: [] for k in ("steps", "images", "seconds", "mig", "top", "ratio", "n_active",
                                               "reconstruction", "kl")}
    steps = check_steps(num_steps, num_checks)
    if steps:
        images, factors = held_out_sample(data, check_size)

        def check(step: int, trained: torch.nn.Module, seconds: float) -> None:
            mu, log_var = encode(trained, images)
            report = latent_report(mu, log_var, factors)
            for key, value in (("steps", step_offset + step), ("images", (step_offset + step) * batch_size),
                               ("seconds", seconds_offset + seconds), ("mig", report["mig"]),
                               ("top", report["top"].tolist()), ("ratio", report["ratio"].tolist()),
                               ("n_active", int(report["active"].sum())),
                               ("reconstruction", reconstruction_nll(trained, images, mu)),
                               ("kl", float(report["kl_per_latent"].sum()))):
                checks[key].append(value)

    # an interrupted run resumes from its checkpoint (next to where its result will be stored)
    history = train(model, loss_fn, make_stream(data, n_latents, device), num_steps=num_steps,
                    batch_size=batch_size, lr=lr, seed=seed, device=device, num_logs=num_logs,
                    callback=check if steps else None, callback_steps=steps,
                    checkpoint=checkpoint_path(), checkpoint_every=500,
                    extra_state={"checks": checks, "loss": loss.state})
    state = {name: tensor.detach().to("cpu", memory_format=torch.contiguous_format).clone()
             for name, tensor in model.state_dict().items()}
    if before is not None:
        checks = {key: [*before["checks"][key], *values] for key, values in checks.items()}
    return {"state_dict": state, "n_latents": n_latents, "n_channels": data.channels, "beta": float(beta),
            "architecture": architecture, "objective": objective,
            "history": {"steps": history.steps, "train": history.train, "seconds": history.seconds},
            "images_per_second": num_steps * batch_size / max(history.seconds, 1e-9),
            "threads": torch.get_num_threads(), "checks": checks}


def _stored_run(params: Mapping[str, Any], architecture: str, n_latents: int) -> dict[str, Any]:
    """The stored :func:`train_beta_vae` result of ``params``, checked to fit a continued run."""
    from lecturelib import artifacts

    if not isinstance(params, Mapping):
        raise ValueError(f"start_from must be the parameters of a stored train_beta_vae run, got {type(params).__name__}")
    path = artifacts.find("beta_vae_dsprites", dict(params))
    if path is None:
        raise ValueError(f"start_from: no stored train_beta_vae result has these parameters ({dict(params)}); "
                         f"train it first")
    before, _ = artifacts.load(path)
    if (before.get("architecture", "conv"), int(before["n_latents"])) != (architecture, n_latents):
        raise ValueError(f"start_from is a {before.get('architecture', 'conv')} model with {before['n_latents']} "
                         f"latents; this run trains a {architecture} model with {n_latents}")
    return before


def load_beta_vae(result: Mapping[str, Any]) -> VAE:
    """The VAE of a :func:`train_beta_vae` result, on the CPU, in eval mode."""
    from lecturelib.models import dsprites_vae

    missing = {"state_dict", "n_latents", "n_channels"} - set(result)
    if missing:
        raise ValueError(f"result must be a train_beta_vae result; it lacks {sorted(missing)}")
    model = dsprites_vae(result.get("architecture", "conv"), int(result["n_latents"]), int(result["n_channels"]))
    model.load_state_dict(result["state_dict"])
    return model.eval()


# --------------------------------------------------------------------------------------------
# What the latents carry
# --------------------------------------------------------------------------------------------

def _check_images(model: VAE, images: torch.Tensor | np.ndarray) -> torch.Tensor:
    images = torch.as_tensor(images)
    if images.ndim != 4 or not images.is_floating_point():
        raise ValueError(f"images must be a float tensor (n_samples, C, H, W), got {tuple(images.shape)} "
                         f"{images.dtype}")
    return images


@torch.no_grad()
def encode(model: VAE, images: torch.Tensor | np.ndarray, *, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Encoder outputs ``(mu, log_var)``, each a float64 array ``(n_samples, n_latents)``.

    ``images`` ``(n_samples, C, 64, 64)`` are encoded ``batch_size`` at a time on the model's device.
    """
    images = _check_images(model, images)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    parts = [model.encode(images[s:s + batch_size].to(device)) for s in range(0, len(images), batch_size)]
    model.train(was_training)
    mu = torch.cat([p[0] for p in parts]).double().cpu().numpy()
    log_var = torch.cat([p[1] for p in parts]).double().cpu().numpy()
    return mu, log_var


def kl_per_latent(mu: np.ndarray, log_var: np.ndarray) -> np.ndarray:
    """Mean over samples of KL(q(z_j|x) || N(0, 1)) for each latent ``j``: array ``(n_latents,)``, nats.

    The β-VAE's KL term is the sum of these; a latent with KL near 0 is unused (its posterior is
    the prior whatever the image). The numpy face of :func:`lecturelib.vae.kl_per_latent`.
    """
    mu = check_array(mu, "mu", ndim=2, layout="(n_samples, n_latents)")
    log_var = check_array(log_var, "log_var", ndim=2, layout="(n_samples, n_latents)")
    return vae_kl_per_latent(torch.from_numpy(mu), torch.from_numpy(log_var)).numpy()


def kl_decomposition(mu: np.ndarray, log_var: np.ndarray) -> dict[str, np.ndarray]:
    r"""Split :func:`kl_per_latent` into three parts, ``(n_latents,)`` nats each, that add up to it.

    With :math:`\bar\mu_j` and :math:`\mathrm{Var}(\mu_j)` the mean and variance of latent ``j``'s
    posterior mean over the samples:

    - ``spread`` :math:`= \tfrac12\mathrm{Var}(\mu_j)`: posterior means that move with the image;
    - ``offset`` :math:`= \tfrac12\bar\mu_j^2`: a shift shared by all posterior means;
    - ``width`` :math:`= \tfrac12\,\mathrm{mean}(\sigma_j^2 - 1 - \log\sigma_j^2)`: posteriors
      narrower (or wider) than the prior.

    Only ``spread`` needs a code that depends on the image: a KL spent on ``offset`` and ``width``
    can put every image's posterior in the same place.
    """
    total = kl_per_latent(mu, log_var)
    mu, log_var = np.asarray(mu, dtype=float), np.asarray(log_var, dtype=float)
    spread = 0.5 * mu.var(axis=0)
    offset = 0.5 * mu.mean(axis=0) ** 2
    return {"spread": spread, "offset": offset, "width": total - spread - offset}


@torch.no_grad()
def decode_codes(model: VAE, codes: torch.Tensor | np.ndarray) -> np.ndarray:
    """Decoder means E[x|z] ``(n, C, 64, 64)`` in [0, 1] for codes ``(n, n_latents)``."""
    codes = torch.as_tensor(np.asarray(codes), dtype=torch.float32)
    if codes.ndim != 2 or codes.shape[1] != model.n_latents:
        raise ValueError(f"codes must have shape (n, {model.n_latents}), got {tuple(codes.shape)}")
    device = next(model.parameters()).device
    return model.mean(model.decode(codes.to(device))).cpu().numpy()


def latent_traversal(model: VAE, image: torch.Tensor | np.ndarray, values: Sequence[float] | np.ndarray,
                     latents: Sequence[int] | None = None) -> np.ndarray:
    """Decode ``mu(x) + t e_j`` for each latent ``j`` and each offset ``t``: one row per latent.

    Parameters
    ----------
    image : array (C, 64, 64) or (1, C, 64, 64), the image whose code ``mu(x)`` is the centre
    values : offsets ``t`` (n_values,), in prior standard deviations
    latents : which latents to move (default: all, in order)

    Returns
    -------
    array (n_rows, n_values, C, 64, 64) of decoder means.
    """
    image = torch.as_tensor(np.asarray(image), dtype=torch.float32)
    if image.ndim == 3:
        image = image[None]
    image = _check_images(model, image)
    if image.shape[0] != 1:
        raise ValueError(f"image must be one image (C, H, W), got {tuple(image.shape)}")
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    latents = list(range(model.n_latents)) if latents is None else [int(j) for j in latents]
    if values.size == 0 or any(not 0 <= j < model.n_latents for j in latents):
        raise ValueError(f"values must be non-empty and latents in [0, {model.n_latents}), got {values} and {latents}")
    mu, _ = encode(model, image)
    codes = np.repeat(mu, len(latents) * values.size, axis=0).reshape(len(latents), values.size, -1)
    codes[np.arange(len(latents))[:, None], np.arange(values.size)[None, :], np.asarray(latents)[:, None]] += values
    decoded = decode_codes(model, codes.reshape(-1, model.n_latents))
    return decoded.reshape(len(latents), values.size, *decoded.shape[1:])


def aggregate_posterior_samples(mu: np.ndarray, log_var: np.ndarray, *, random_state: int = 0) -> np.ndarray:
    """One draw ``z ~ q(z|x)`` per sample: a sample of the aggregate posterior ``q(z) = E_x q(z|x)``.

    ``mu``, ``log_var`` ``(n_samples, n_latents)`` -> ``z`` ``(n_samples, n_latents)``.
    """
    mu = check_array(mu, "mu", ndim=2, layout="(n_samples, n_latents)")
    log_var = check_array(log_var, "log_var", ndim=2, layout="(n_samples, n_latents)")
    if mu.shape != log_var.shape:
        raise ValueError(f"mu and log_var must both be (n_samples, n_latents), got {mu.shape} and {log_var.shape}")
    rng = check_rng(random_state)
    return mu + np.exp(0.5 * log_var) * rng.standard_normal(mu.shape)


def dominant_latents(mi: np.ndarray, active: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For each factor, the latent with the most information about it and its margin over the runner-up.

    Parameters
    ----------
    mi : array (n_latents, n_factors), e.g. :func:`lecturelib.metrics.mutual_info_matrix`
    active : bool array (n_latents,), optional. Only these latents compete (see :data:`ACTIVE_KL`):
        an unused latent's binned "information" is estimation noise, not something it carries.

    Returns
    -------
    top : int array (n_factors,), the (active) latent with the largest ``mi[:, k]``
    ratio : array (n_factors,), largest / second-largest ``mi[:, k]`` among the competing latents
        (``inf`` if the second is 0 or only one latent competes; a factor "carried mainly by one
        latent" has a large ratio)
    """
    mi = np.asarray(mi, dtype=float)
    if mi.ndim != 2 or mi.shape[0] < 2 or np.any(mi < 0) or not np.all(np.isfinite(mi)):
        raise ValueError(f"mi must be a finite non-negative array (n_latents >= 2, n_factors), got shape {mi.shape}")
    rows = np.arange(mi.shape[0])
    if active is not None:
        active = np.asarray(active)
        if active.shape != (mi.shape[0],) or active.dtype != bool or not active.any():
            raise ValueError(f"active must be a bool array ({mi.shape[0]},) with at least one True, got "
                             f"{active.shape} {active.dtype}")
        rows = rows[active]
    ordered = np.sort(mi[rows], axis=0)[::-1]
    second = ordered[1] if len(rows) > 1 else np.zeros(mi.shape[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(second > 0, ordered[0] / np.where(second > 0, second, 1.0), np.inf)
    return rows[mi[rows].argmax(axis=0)], ratio


def latent_report(mu: np.ndarray, log_var: np.ndarray, factors: np.ndarray, *, num_bins: int = 20,
                  active_kl: float = ACTIVE_KL) -> dict[str, Any]:
    """What each latent carries, on encoder outputs ``mu``, ``log_var`` ``(n, n_latents)`` and ``factors`` ``(n, K)``.

    Returns a dict with ``kl_per_latent`` (nats), ``active`` (KL above ``active_kl``), ``mi``
    ``(n_latents, K)`` and ``mig`` (both as disentanglement_lib computes them, over every latent), and
    ``top``/``ratio`` from :func:`dominant_latents` among the active latents only (all latents if
    none is active, then ``n_active`` is 0 and the ratios mean nothing).
    """
    active_kl = check_number(active_kl, "active_kl", minimum=0)
    kl = kl_per_latent(mu, log_var)
    factors = np.asarray(factors)
    if factors.ndim != 2 or len(factors) != len(np.asarray(mu)):
        raise ValueError(f"factors must be (n_samples={len(mu)}, n_factors), got {factors.shape}")
    active = kl > active_kl
    mi = mutual_info_matrix(mu, factors, num_bins)
    top, ratio = dominant_latents(mi, active if active.any() else None)
    return {"kl_per_latent": kl, "active": active, "n_active": int(active.sum()), "mi": mi,
            "mig": mig(mu, factors, num_bins), "top": top, "ratio": ratio}


def separates(report: Mapping[str, Any], factors: Sequence[int], *, min_ratio: float = 2.0) -> bool:
    """Whether each factor in ``factors`` (column indices) has its own active latent with ``ratio >= min_ratio``.

    ``report`` is a :func:`latent_report` (or any mapping with its ``top``, ``ratio`` and ``n_active``,
    such as one check of :func:`train_beta_vae`). Its top latents are chosen among the active ones,
    so they must all differ, and some latent must be active (else the ratios mean nothing).
    """
    min_ratio = check_number(min_ratio, "min_ratio", minimum=0, finite=False)
    missing = {"top", "ratio", "n_active"} - set(report)
    if missing:
        raise ValueError(f"report must be a latent_report, with 'top', 'ratio' and 'n_active'; it lacks {sorted(missing)}")
    top = np.asarray(report["top"])[list(factors)]
    ratio = np.asarray(report["ratio"])[list(factors)]
    return bool(report["n_active"] > 0 and len(set(top.tolist())) == len(top) and np.all(ratio >= min_ratio))


@torch.no_grad()
def reconstruction_nll(model: VAE, images: torch.Tensor, mu: np.ndarray, *, batch_size: int = 1024) -> float:
    """Mean of -log p(x | z = mu(x)) over ``images`` ``(n, C, 64, 64)``, nats per image."""
    check_tensor(images, "images", ndim=4, layout="(n, C, 64, 64)")
    mu = check_array(mu, "mu", ndim=2, layout="(n_samples, n_latents)")
    if len(mu) != len(images):
        raise ValueError(f"mu must have one row per image ({len(images)}), got {len(mu)}")
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    device = next(model.parameters()).device
    nll = []
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size].to(device)
        logits = model.decode(torch.as_tensor(mu[start:start + batch_size], dtype=torch.float32, device=device))
        nll.append(-log_likelihood(x, logits, model.likelihood).double().cpu())
    return float(torch.cat(nll).mean())


@torch.no_grad()
def evaluate_beta_vae(model: VAE, images: torch.Tensor, factors: np.ndarray | torch.Tensor, *,
                      batch_size: int = 1024, num_bins: int = 20, random_state: int = 0) -> dict[str, Any]:
    """Everything chapter 7 reads off a trained model, on held-out ``images`` with their ``factors``.

    Parameters
    ----------
    images : tensor (n_samples, C, 64, 64)
    factors : int array (n_samples, n_factors), the images' ground-truth class indices

    Returns
    -------
    dict with ``mu``, ``log_var`` (n_samples, n_latents); ``kl_per_latent`` (n_latents,) and
    ``kl`` (their sum), nats; ``reconstruction``: mean of -log p(x | z = mu(x)), nats per image;
    ``mi``, ``mig``, ``active``, ``n_active``, ``top``, ``ratio``: :func:`latent_report` of the means;
    ``tc_sampled`` / ``tc_means``: Gaussian total correlation of a sample of the aggregate
    posterior (one ``z ~ q(z|x)`` per image) and of the means.
    """
    images = _check_images(model, images)
    factors = np.asarray(factors.cpu() if isinstance(factors, torch.Tensor) else factors)
    if factors.ndim != 2 or len(factors) != len(images):
        raise ValueError(f"factors must be (n_samples={len(images)}, n_factors), got {factors.shape}")
    mu, log_var = encode(model, images, batch_size=batch_size)
    report = latent_report(mu, log_var, factors, num_bins=num_bins)
    return {"mu": mu, "log_var": log_var, **report, "kl": float(report["kl_per_latent"].sum()),
            "reconstruction": reconstruction_nll(model, images, mu, batch_size=batch_size),
            "tc_sampled": gaussian_total_correlation(aggregate_posterior_samples(mu, log_var,
                                                                                 random_state=random_state)),
            "tc_means": gaussian_total_correlation(mu)}


def main(argv: list[str] | None = None) -> None:
    """Train chapter 07's β sweep at a scale: ``python -m lecturelib.disentanglement --scale default --publish --longer``.

    With ``--publish`` the results are written to the results shipped with the package
    (``lecturelib/results/``), with their provenance, instead of the user cache.
    """
    import argparse
    import os

    from lecturelib import artifacts
    from lecturelib.config import SCALES

    parser = argparse.ArgumentParser(prog="python -m lecturelib.disentanglement", description=main.__doc__.split("\n")[0])
    parser.add_argument("--scale", default="default", choices=SCALES)
    parser.add_argument("--publish", action="store_true", help="write into lecturelib/results (shipped)")
    parser.add_argument("--betas", type=float, nargs="+", default=None,
                        help="only these values of the scale's sweep, in this order (default: all)")
    parser.add_argument("--longer", action="store_true",
                        help=f"also train the longest run (the beta={LONGER_BETA:g} model trained as long again) last")
    args = parser.parse_args(argv)
    os.environ["LECTURELIB_SCALE"] = args.scale
    os.environ.setdefault(artifacts.COMMAND_ENV, f"python -m lecturelib.disentanglement --scale {args.scale}"
                          + (" --publish" if args.publish else ""))
    if args.publish:
        os.environ[artifacts.WRITE_ENV] = str(artifacts.SHIPPED_DIR)
    betas, params = beta_sweep(args.scale)
    if args.betas is not None:
        unknown = [b for b in args.betas if b not in betas]
        if unknown:
            parser.error(f"--betas {unknown} not in the {args.scale} sweep {betas}")
        betas = args.betas
    # Each model is stored as soon as it is trained and loaded afterwards, so an interrupted run
    # resumes with the first model not yet stored.
    runs = [(beta, params) for beta in betas] + ([(LONGER_BETA, longer_training(args.scale))] if args.longer else [])
    for beta, settings in runs:
        result = train_beta_vae(beta=beta, **settings)
        print(f"beta={beta:g}, {settings['num_steps']:,} steps: {result['images_per_second']:,.0f} images/s, "
              f"final loss {result['history']['train']['loss'][-1]:.1f}", flush=True)


if __name__ == "__main__":
    main()
