"""The regularisers of the six unsupervised methods of Locatello et al.'s study, and their grids.

Chapter 9 (the Locatello et al. study) trains one VAE architecture with six objectives. Each is
the ELBO's reconstruction term plus a *regulariser* computed from a batch of encoder outputs:
the means ``mu`` and log-variances ``log_var`` of :math:`q(\\mathbf{z} \\mid \\mathbf{x})` and
one reparametrised sample ``z``, all of shape ``(batch_size, n_latents)``. Each regulariser is a
small function here, with the formula of ``disentanglement_lib`` (the study's code
{cite}`locatello2019challenging`), so that the loss is ``reconstruction + regulariser``:

==============  ==========================================================================
method          regulariser
==============  ==========================================================================
β-VAE           :math:`\\beta\\,\\mathrm{KL}` {cite}`higgins2017betavae`
AnnealedVAE     :math:`\\gamma\\,|\\mathrm{KL} - C(t)|`, :math:`C(t) = C_{max}\\min(1, t/T)` {cite}`burgess2018understanding`
FactorVAE       :math:`\\mathrm{KL} + \\gamma\\,\\widehat{TC}` from a discriminator {cite}`kim2018disentangling`
β-TCVAE         :math:`\\mathrm{KL} + (\\beta - 1)\\,\\widehat{TC}` by minibatch-weighted sampling {cite}`chen2018isolating`
DIP-VAE-I/II    :math:`\\mathrm{KL} + \\lambda_{od}\\sum_{i\\ne j} C_{ij}^2 + \\lambda_d \\sum_i (C_{ii} - 1)^2` {cite}`kumar2018variational`
==============  ==========================================================================

``KL`` is the batch mean of :math:`\\mathrm{KL}(q(\\mathbf{z}\\mid\\mathbf{x}) \\Vert \\mathcal{N}(0, I))`
summed over latents. Every regulariser accepts its hyperparameters as Python floats or as 0-d
tensors, so :func:`lecturelib.study.batched.train_stacked` can ``vmap`` one of them over a row
of the grid (one hyperparameter value per stacked model).

The hyperparameter grids of the paper are :data:`PAPER_GRIDS` (with :data:`PAPER_TRAINING`); the
study's smaller compute scales take some of their values (:data:`lecturelib.study.settings.STUDY_SCALES`).
"""

from __future__ import annotations

import math
from typing import Any, Union

import torch
from torch import nn

from lecturelib.training import adam
from lecturelib.validation import check_hyperparameter, check_int, check_tensor
from lecturelib.vae import gaussian_kl

Scalar = Union[float, torch.Tensor]

METHODS: tuple[str, ...] = ("beta_vae", "annealed_vae", "factor_vae", "beta_tcvae", "dip_vae_i", "dip_vae_ii")
"""The six methods of the study, by the names used in job ids and records."""

# ----------------------------------------------------------------------------- the paper's grids
# Locatello et al. 2019, "Challenging common assumptions in the unsupervised learning of
# disentangled representations" {cite}`locatello2019challenging`, Appendix (hyperparameter table),
# as released in disentanglement_lib/config/unsupervised_study_v1/sweep.py and model_configs/shared.gin
# (checked against that file): 6 methods x 6 values x 50 seeds per data set.
PAPER_GRIDS: dict[str, list[dict[str, float]]] = {
    "beta_vae": [{"beta": b} for b in (1.0, 2.0, 4.0, 6.0, 8.0, 16.0)],
    "annealed_vae": [{"c_max": c, "gamma": 1000.0, "iteration_threshold": 100_000}
                     for c in (5.0, 10.0, 25.0, 50.0, 75.0, 100.0)],
    "factor_vae": [{"gamma": g} for g in (10.0, 20.0, 30.0, 40.0, 50.0, 100.0)],
    "dip_vae_i": [{"lambda_od": lam, "lambda_d": 10.0 * lam} for lam in (1.0, 2.0, 5.0, 10.0, 20.0, 50.0)],
    "dip_vae_ii": [{"lambda_od": lam, "lambda_d": lam} for lam in (1.0, 2.0, 5.0, 10.0, 20.0, 50.0)],
    "beta_tcvae": [{"beta": b} for b in (1.0, 2.0, 4.0, 6.0, 8.0, 10.0)],
}
"""Hyperparameters of each method in Locatello et al.'s study, one dict per grid value."""

PAPER_TRAINING: dict[str, Any] = {
    "num_steps": 300_000, "batch_size": 64, "n_latents": 10, "num_seeds": 50,
    "lr": 1e-4, "betas": (0.9, 0.999), "eps": 1e-8,  # VAE's Adam
    # FactorVAE's discriminator (disentanglement_lib's fc_discriminator): 6 hidden layers of 1000
    # leaky-ReLU units, 2 logits, its own Adam.
    "discriminator_lr": 1e-4, "discriminator_betas": (0.5, 0.9),
    "discriminator_hidden": 1000, "discriminator_layers": 6,
}
"""Training settings shared by every model of the study (same source as :data:`PAPER_GRIDS`)."""


# ----------------------------------------------------------------------------- helpers
# The regularisers run at every training step, inside vmap for the study's stacked training:
# their checks read shapes, dtypes and Python numbers only, never tensor values (a host sync).
def _check_batch(mu: torch.Tensor, log_var: torch.Tensor, z: torch.Tensor | None = None) -> None:
    """``mu``, ``log_var`` and ``z`` (if given): floating tensors of one shape ``(batch_size, n_latents)``."""
    check_tensor(mu, "mu", ndim=2, layout="(batch_size, n_latents)")
    check_tensor(log_var, "log_var")
    if z is not None:
        check_tensor(z, "z")
    if log_var.shape != mu.shape:
        raise ValueError(f"log_var must have the shape of mu {tuple(mu.shape)}, got {tuple(log_var.shape)}")
    if z is not None and z.shape != mu.shape:
        raise ValueError(f"z must have the shape of mu {tuple(mu.shape)}, got {tuple(z.shape)}")


def kl_loss(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """Batch mean of the KL to the prior, summed over latents (:func:`lecturelib.vae.gaussian_kl`): a scalar."""
    _check_batch(mu, log_var)
    return gaussian_kl(mu, log_var).mean()


# ----------------------------------------------------------------------------- β-VAE, AnnealedVAE
def beta_vae(mu: torch.Tensor, log_var: torch.Tensor, z: torch.Tensor | None = None, *,
             beta: Scalar) -> torch.Tensor:
    """β-VAE regulariser :math:`\\beta\\,\\mathrm{KL}` (scalar); ``z`` is unused."""
    beta = check_hyperparameter(beta, "beta", minimum=0)
    return beta * kl_loss(mu, log_var)


def annealed_capacity(step: Scalar, c_max: Scalar, iteration_threshold: Scalar) -> Scalar:
    """Capacity :math:`C(t) = C_{max} \\min(1, t / T)`, linear from 0 at step 0 to ``c_max`` at ``T``."""
    step = check_hyperparameter(step, "step", minimum=0)
    c_max = check_hyperparameter(c_max, "c_max", minimum=0)
    iteration_threshold = check_hyperparameter(iteration_threshold, "iteration_threshold", minimum=0, strict=True)
    if isinstance(step, torch.Tensor) or isinstance(c_max, torch.Tensor):
        return c_max * torch.clamp(torch.as_tensor(step, dtype=torch.float32) / iteration_threshold, max=1.0)
    return c_max * min(1.0, float(step) / float(iteration_threshold))


def annealed_vae(mu: torch.Tensor, log_var: torch.Tensor, z: torch.Tensor | None = None, *, gamma: Scalar,
                 c_max: Scalar, iteration_threshold: Scalar, step: Scalar) -> torch.Tensor:
    """AnnealedVAE regulariser :math:`\\gamma\\,|\\mathrm{KL} - C(t)|` at training step ``step``."""
    gamma = check_hyperparameter(gamma, "gamma", minimum=0)
    return gamma * (kl_loss(mu, log_var) - annealed_capacity(step, c_max, iteration_threshold)).abs()


# ----------------------------------------------------------------------------- FactorVAE
def permute_dims(z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shuffle each latent (column) of ``z`` ``(B, D)`` across the batch, independently per column.

    Every column keeps its values (so each marginal :math:`q(z_j)` is unchanged) while the
    dependence between columns is destroyed: a sample of :math:`\\prod_j q(z_j)`.
    """
    check_tensor(z, "z", ndim=2, layout="(batch_size, n_latents)", floating=False)
    keys = torch.rand(z.shape, generator=generator, device="cpu" if generator is not None else z.device)
    order = keys.to(z.device).argsort(dim=0)
    return z.gather(0, order)


class Discriminator(nn.Module):
    """FactorVAE's discriminator: an MLP from latents ``(B, D)`` to two logits ``(B, 2)``.

    Logit 0 is "a sample of :math:`q(\\mathbf{z})`", logit 1 "a sample of the product of its
    marginals" (disentanglement_lib's ``fc_discriminator``: ``num_layers`` leaky-ReLU layers).
    """

    def __init__(self, n_latents: int = 10, hidden: int = 1000, num_layers: int = 6) -> None:
        super().__init__()
        n_latents = check_int(n_latents, "n_latents", minimum=1)
        hidden = check_int(hidden, "hidden", minimum=1)
        num_layers = check_int(num_layers, "num_layers", minimum=1)
        layers: list[nn.Module] = []
        width = n_latents
        for _ in range(num_layers):
            layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
            width = hidden
        layers.append(nn.Linear(width, 2))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def factor_vae_tc(discriminator: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """Density-ratio estimate of the total correlation: mean of ``logit_0 - logit_1`` over the batch."""
    _check_discriminator(discriminator)
    check_tensor(z, "z", ndim=2, layout="(batch_size, n_latents)")
    logits = discriminator(z)
    return (logits[:, 0] - logits[:, 1]).mean()


def factor_vae(mu: torch.Tensor, log_var: torch.Tensor, z: torch.Tensor, *, gamma: Scalar,
               discriminator: nn.Module) -> torch.Tensor:
    """FactorVAE regulariser :math:`\\mathrm{KL} + \\gamma\\,\\widehat{TC}(\\mathbf{z})` (the VAE's side)."""
    _check_batch(mu, log_var, z)
    gamma = check_hyperparameter(gamma, "gamma", minimum=0)
    return kl_loss(mu, log_var) + gamma * factor_vae_tc(discriminator, z)


def discriminator_loss(discriminator: nn.Module, z: torch.Tensor,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """Cross-entropy of the discriminator: ``z`` is class 0, ``permute_dims(z)`` class 1 (scalar).

    ``z`` is detached: this loss trains only the discriminator (with its own optimiser).
    """
    _check_discriminator(discriminator)
    check_tensor(z, "z", ndim=2, layout="(batch_size, n_latents)")
    z = z.detach()
    both = torch.cat([z, permute_dims(z, generator)])
    labels = torch.cat([torch.zeros(len(z), dtype=torch.long, device=z.device),
                        torch.ones(len(z), dtype=torch.long, device=z.device)])
    return nn.functional.cross_entropy(discriminator(both), labels)


def _check_discriminator(discriminator: object) -> None:
    if not isinstance(discriminator, nn.Module):
        raise ValueError(f"discriminator must be a torch.nn.Module (latents -> 2 logits), got {type(discriminator).__name__}")


def make_discriminator_optimizer(discriminator: nn.Module) -> torch.optim.Optimizer:
    """The discriminator's Adam with the study's settings (:data:`PAPER_TRAINING`)."""
    _check_discriminator(discriminator)
    return adam(discriminator.parameters(), lr=PAPER_TRAINING["discriminator_lr"],
                betas=PAPER_TRAINING["discriminator_betas"], eps=PAPER_TRAINING["eps"])


# ----------------------------------------------------------------------------- β-TCVAE
def gaussian_log_density(samples: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """Elementwise :math:`\\log \\mathcal{N}(s; \\mu, e^{\\log\\sigma^2})` (broadcasting)."""
    for name, value in (("samples", samples), ("mu", mu), ("log_var", log_var)):
        check_tensor(value, name)
    return -0.5 * ((samples - mu).square() * torch.exp(-log_var) + log_var + math.log(2.0 * math.pi))


def total_correlation(z: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor, *,
                      dataset_size: int | None = None) -> torch.Tensor:
    """Minibatch-weighted-sampling estimate of :math:`TC = \\mathrm{KL}(q(\\mathbf{z}) \\Vert \\prod_j q(z_j))`.

    Chen et al. (2018, eq. S3) {cite}`chen2018isolating` estimate
    :math:`\\log q(\\mathbf{z}_i) \\approx \\log \\sum_{k} q(\\mathbf{z}_i \\mid \\mathbf{x}_k) - \\log(NM)` from a
    batch of :math:`M` samples of a data set of size :math:`N`, and :math:`\\log q(z_{ij})` alike per
    latent; the TC estimate is the batch mean of the difference. The constant
    :math:`(D - 1)\\log(NM)` does not change gradients (``disentanglement_lib`` drops it); it is
    kept here so the value is an estimate of the TC itself. ``dataset_size=None`` takes the batch
    as the whole data set (:math:`N M \\to M`), which makes the estimate consistent as the batch
    grows: about 0 for independent latents, positive for dependent ones.

    Parameters
    ----------
    z, mu, log_var : ``(batch_size, n_latents)`` samples and the Gaussian parameters of their posteriors.

    Returns
    -------
    scalar tensor (nats).
    """
    _check_batch(mu, log_var, z)
    batch_size, n_latents = z.shape
    if dataset_size is not None:
        dataset_size = check_int(dataset_size, "dataset_size", minimum=1)
    log_q_joint, log_q_marginals, _, _ = _MinibatchLogDensities.apply(z, mu, log_var)
    log_norm = math.log(batch_size * (dataset_size or 1))
    return (log_q_joint - log_q_marginals.sum(dim=1)).mean() + (n_latents - 1) * log_norm


class _MinibatchLogDensities(torch.autograd.Function):
    """``log sum_k q(z_i | x_k)`` ``(B,)`` and ``log sum_k q(z_ij | x_k)`` ``(B, D)``, with a hand-written backward.

    Autograd through the elementwise ``(B, B, D)`` log-densities keeps about ten such tensors and
    made this term most of a β-TCVAE step at batch 1,024. Here the log-densities are built once, in
    place, laid out ``(D, B, B)``, and the forward keeps only the softmax weights of the two
    log-sum-exps. The backward weighs the derivatives of each Gaussian log-density by them, from the
    differences ``z - mu`` themselves: expanding ``(z - mu)^2 / sigma^2`` into ``z^2``, ``z mu`` and
    ``mu^2`` terms (matrix products) would cancel catastrophically in float32 for the sharp
    posteriors (``sigma^2`` down to 1e-6) of a trained model's active latents.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(z: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor):
        # (D, B), contiguous: the (D, B, B) tensor below takes their layout, and the reductions over
        # its last axis are several times faster when that axis is contiguous
        z_t, mu_t, log_var_t = z.T.contiguous(), mu.T.contiguous(), log_var.T.contiguous()
        precision = torch.exp(-log_var_t)
        # log q(z_i[d] | x_k) at [d, i, k]
        log_q = z_t[:, :, None] - mu_t[:, None, :]
        log_q.mul_(log_q).mul_(precision[:, None, :]).add_((log_var_t + math.log(2.0 * math.pi))[:, None, :])
        log_q.mul_(-0.5)
        pair = log_q.sum(dim=0)  # log q(z_i | x_k): (B, B)
        joint = torch.logsumexp(pair, dim=1)  # (B,)
        joint_weights = pair.sub_(joint[:, None]).exp_()  # softmax over k
        # log-sum-exp over k in place (torch.logsumexp allocates several (D, B, B) temporaries)
        peak = log_q.amax(dim=2, keepdim=True)
        weights = log_q.sub_(peak).exp_()
        total = weights.sum(dim=2, keepdim=True)
        weights.div_(total)  # softmax over k, per latent: (D, B, B)
        marginals = (total.log_() + peak).squeeze(2)  # (D, B)
        return joint, marginals.T, joint_weights, weights

    @staticmethod
    def setup_context(ctx, inputs, output):
        z, mu, log_var = inputs
        _, _, joint_weights, weights = output
        ctx.save_for_backward(z, mu, log_var, joint_weights, weights)
        ctx.mark_non_differentiable(joint_weights, weights)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_joint, grad_marginals, _, __):
        z, mu, log_var, joint_weights, marginal_weights = ctx.saved_tensors
        if grad_joint is None:
            grad_joint = torch.zeros_like(z[:, 0])
        if grad_marginals is None:
            grad_marginals = torch.zeros_like(z)
        z_t, mu_t, precision = z.T.contiguous(), mu.T.contiguous(), torch.exp(-log_var.T)  # (D, B)
        # a[d, i, k] = dL / dlog q(z_i[d] | x_k) = g_joint[i] W[i, k] + g_marginal[i, d] V[d, i, k]
        a = marginal_weights * grad_marginals.T[:, :, None]
        a.add_(joint_weights * grad_joint[:, None])
        # with u = (z_i[d] - mu_k[d]) / sigma_k[d]^2:  dlog q / dz = -u,  dlog q / dmu = u,
        # dlog q / dlog sigma^2 = (u (z - mu) - 1) / 2
        diff = z_t[:, :, None] - mu_t[:, None, :]
        a_u = diff.mul_(a).mul_(precision[:, None, :])  # a * (z - mu) / sigma^2, in place of diff
        grad_z = -a_u.sum(dim=2).T
        grad_mu = a_u.sum(dim=1).T
        a_u.mul_(z_t[:, :, None] - mu_t[:, None, :])  # a * (z - mu)^2 / sigma^2
        grad_log_var = 0.5 * (a_u.sum(dim=1) - a.sum(dim=1)).T
        return grad_z, grad_mu, grad_log_var


def beta_tcvae(mu: torch.Tensor, log_var: torch.Tensor, z: torch.Tensor, *, beta: Scalar,
               dataset_size: int | None = None) -> torch.Tensor:
    """β-TCVAE regulariser :math:`\\mathrm{KL} + (\\beta - 1)\\,\\widehat{TC}` (α = γ = 1 in Chen et al.)."""
    beta = check_hyperparameter(beta, "beta", minimum=0)
    return kl_loss(mu, log_var) + (beta - 1.0) * total_correlation(z, mu, log_var, dataset_size=dataset_size)


# ----------------------------------------------------------------------------- DIP-VAE
def covariance(mu: torch.Tensor) -> torch.Tensor:
    """Covariance over the batch of ``mu`` ``(B, D)``, divided by ``B`` (as in DIP-VAE): ``(D, D)``."""
    check_tensor(mu, "mu", ndim=2, layout="(batch_size, n_latents)")
    centred = mu - mu.mean(dim=0, keepdim=True)
    return centred.T @ centred / mu.shape[0]


def dip_penalty(cov: torch.Tensor, lambda_od: Scalar, lambda_d: Scalar) -> torch.Tensor:
    """:math:`\\lambda_{od}\\sum_{i\\ne j} C_{ij}^2 + \\lambda_d\\sum_i (C_{ii} - 1)^2`: zero iff ``cov`` is the identity."""
    check_tensor(cov, "cov")
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
        raise ValueError(f"cov must be a square matrix, got shape {tuple(cov.shape)}")
    lambda_od = check_hyperparameter(lambda_od, "lambda_od", minimum=0)
    lambda_d = check_hyperparameter(lambda_d, "lambda_d", minimum=0)
    diag = torch.diagonal(cov)
    off = cov - torch.diag_embed(diag)
    return lambda_od * off.square().sum() + lambda_d * (diag - 1.0).square().sum()


def dip_vae_i(mu: torch.Tensor, log_var: torch.Tensor, z: torch.Tensor | None = None, *,
              lambda_od: Scalar, lambda_d: Scalar) -> torch.Tensor:
    """DIP-VAE-I: :math:`\\mathrm{KL}` + DIP penalty on :math:`\\mathrm{Cov}_{p(\\mathbf{x})}[\\boldsymbol{\\mu}(\\mathbf{x})]`."""
    return kl_loss(mu, log_var) + dip_penalty(covariance(mu), lambda_od, lambda_d)


def dip_vae_ii(mu: torch.Tensor, log_var: torch.Tensor, z: torch.Tensor | None = None, *,
               lambda_od: Scalar, lambda_d: Scalar) -> torch.Tensor:
    """DIP-VAE-II: DIP penalty on :math:`\\mathrm{Cov}[\\boldsymbol{\\mu}] + \\mathbb{E}[\\operatorname{diag}\\boldsymbol{\\sigma}^2]`."""
    _check_batch(mu, log_var)
    cov = covariance(mu) + torch.diag_embed(log_var.exp().mean(dim=0))
    return kl_loss(mu, log_var) + dip_penalty(cov, lambda_od, lambda_d)


# ----------------------------------------------------------------------------- one entry point
def regularizer(method: str, mu: torch.Tensor, log_var: torch.Tensor, z: torch.Tensor, *,
                step: Scalar = 0, discriminator: nn.Module | None = None,
                dataset_size: int | None = None, **hparams: Scalar) -> torch.Tensor:
    """The regulariser of ``method`` (one of :data:`METHODS`) with its hyperparameters ``hparams``.

    ``step`` is used by AnnealedVAE, ``discriminator`` by FactorVAE, ``dataset_size`` by β-TCVAE.
    """
    needed = {"beta_vae": ("beta",), "annealed_vae": ("gamma", "c_max", "iteration_threshold"),
              "factor_vae": ("gamma",), "beta_tcvae": ("beta",), "dip_vae_i": ("lambda_od", "lambda_d"),
              "dip_vae_ii": ("lambda_od", "lambda_d")}.get(method, ())
    missing = [name for name in needed if name not in hparams]
    if missing:
        raise ValueError(f"method={method!r} needs the hyperparameters {missing}, got {sorted(hparams)}")
    if method == "beta_vae":
        return beta_vae(mu, log_var, z, beta=hparams["beta"])
    if method == "annealed_vae":
        return annealed_vae(mu, log_var, z, gamma=hparams["gamma"], c_max=hparams["c_max"],
                            iteration_threshold=hparams["iteration_threshold"], step=step)
    if method == "factor_vae":
        if discriminator is None:
            raise ValueError("method='factor_vae' needs its discriminator")
        return factor_vae(mu, log_var, z, gamma=hparams["gamma"], discriminator=discriminator)
    if method == "beta_tcvae":
        return beta_tcvae(mu, log_var, z, beta=hparams["beta"], dataset_size=dataset_size)
    if method == "dip_vae_i":
        return dip_vae_i(mu, log_var, z, lambda_od=hparams["lambda_od"], lambda_d=hparams["lambda_d"])
    if method == "dip_vae_ii":
        return dip_vae_ii(mu, log_var, z, lambda_od=hparams["lambda_od"], lambda_d=hparams["lambda_d"])
    raise ValueError(f"method={method!r} is not known; expected one of: {', '.join(METHODS)}")
