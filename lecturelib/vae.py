"""Variational autoencoders: Gaussian encoder and decoder, the ELBO, the IWAE bound, pPCA, deep chains.

Used by the chapters "Variational autoencoders" (04) and "The reparametrization trick" (05), and
by the beta-VAE and Locatello chapters through :class:`VAE` and :func:`elbo_loss`.

Conventions (see the notation page): data ``x`` of shape ``(n_samples, ...)`` (flat features
``(n_samples, n_features)`` or images ``(n_samples, C, H, W)``); latents ``h`` of shape
``(n_samples, n_latents)``; the encoder returns ``(mu, log_var)`` for a diagonal Gaussian
``q(h|x)`` or ``(mu, scale_tril)`` for a full-covariance one; the decoder returns the likelihood's
parameters: Bernoulli logits (a tensor shaped like ``x``) or a Gaussian ``(mean, log_var)``.
Monte-Carlo samples are stacked on a leading axis: ``(num_samples, n_samples, ...)``.
"""

from __future__ import annotations

import math
import os
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lecturelib.validation import check_choice, check_finite, check_int, check_number

LOG_2PI = math.log(2 * math.pi)
LIKELIHOODS = ("bernoulli", "gaussian")
COVARIANCES = ("diagonal", "full")

__all__ = [
    "VAE", "GaussianEncoder", "BernoulliDecoder", "GaussianDecoder", "mlp_vae",
    "gaussian_kl", "kl_to_prior", "reparametrize", "sample_full_covariance",
    "standard_normal_log_prob", "diagonal_gaussian_log_prob", "log_likelihood",
    "log_weights", "elbo", "elbo_loss", "iwae_bound", "PPCA",
    "GaussianLayer", "sample_chain", "chain_log_prob", "hierarchical_elbo",
    "make_fast_loss", "kl_per_latent", "active_units", "diagonal_elbo", "optimize_posterior",
    "independent_pixels_log_likelihood",
]


# --------------------------------------------------------------------------------------------
# Gaussian algebra
# --------------------------------------------------------------------------------------------

def _randn(shape: Sequence[int], like: Tensor, generator: torch.Generator | None) -> Tensor:
    """Standard normal noise with ``like``'s dtype and device (drawn on the generator's device)."""
    if generator is None:
        return torch.randn(*shape, dtype=like.dtype, device=like.device)
    eps = torch.randn(*shape, dtype=like.dtype, device=generator.device, generator=generator)
    return eps.to(like.device)


def gaussian_kl(mu: Tensor, log_var: Tensor, mu_p: Tensor | None = None,
                log_var_p: Tensor | None = None) -> Tensor:
    """Analytic KL(N(mu, diag e^log_var) || N(mu_p, diag e^log_var_p)), summed over the last axis.

    ``mu_p``/``log_var_p`` default to the prior N(0, I), giving
    ``0.5 * sum(e^log_var + mu^2 - 1 - log_var)``. Shapes ``(..., n_latents)`` -> ``(...)``.
    """
    if mu.shape != log_var.shape:
        raise ValueError(f"mu and log_var must have the same shape, got {tuple(mu.shape)} and {tuple(log_var.shape)}")
    if mu_p is None:
        return 0.5 * (log_var.exp() + mu.pow(2) - 1.0 - log_var).sum(-1)
    if log_var_p is None:
        log_var_p = torch.zeros_like(mu_p)
    return 0.5 * (log_var_p - log_var + (log_var.exp() + (mu - mu_p).pow(2)) / log_var_p.exp() - 1.0).sum(-1)


def kl_to_prior(mu: Tensor, second: Tensor, covariance: str = "diagonal") -> Tensor:
    """KL(q || N(0, I)) for a diagonal ``(mu, log_var)`` or full ``(mu, scale_tril)`` Gaussian q.

    Full: ``0.5 * (tr(L L^T) + |mu|^2 - k - 2 sum log diag L)``. Returns shape ``mu.shape[:-1]``.
    """
    if covariance == "diagonal":
        return gaussian_kl(mu, second)
    check_choice(covariance, "covariance", COVARIANCES)
    _check_tril(mu, second)
    diag = torch.diagonal(second, dim1=-2, dim2=-1)
    return 0.5 * (second.pow(2).sum((-2, -1)) + mu.pow(2).sum(-1) - mu.shape[-1]
                  - 2.0 * diag.abs().log().sum(-1))


def _check_tensors(**tensors: object) -> None:
    """``ValueError`` naming the first argument that is not a floating-point torch tensor."""
    for name, value in tensors.items():
        if not isinstance(value, Tensor) or not value.is_floating_point():
            raise ValueError(f"{name} must be a floating-point torch tensor, got {type(value).__name__} "
                             f"{getattr(value, 'dtype', '')}".rstrip())


def _check_tril(mu: Tensor, scale_tril: Tensor) -> None:
    k = mu.shape[-1]
    if scale_tril.shape[-2:] != (k, k) or scale_tril.shape[:-2] != mu.shape[:-1]:
        raise ValueError(f"scale_tril must have shape {tuple(mu.shape) + (k,)} for mu of shape "
                         f"{tuple(mu.shape)}, got {tuple(scale_tril.shape)}")


def reparametrize(mu: Tensor, second: Tensor, num_samples: int | None = None, *,
                  covariance: str = "diagonal", eps: Tensor | None = None,
                  generator: torch.Generator | None = None) -> Tensor:
    """Reparametrized sample ``h = mu + Sigma^(1/2) eps`` with ``eps ~ N(0, I)`` (Kingma & Welling).

    Diagonal: ``second = log_var`` and ``Sigma^(1/2) eps = exp(log_var / 2) * eps``.
    Full: ``second = scale_tril`` (Cholesky factor L of Sigma) and ``Sigma^(1/2) eps = L eps``.
    ``num_samples=None`` gives ``mu``'s shape; an integer S gives ``(S, *mu.shape)``.
    Gradients flow to ``mu`` and ``second``; ``eps`` may be passed to fix the noise.
    """
    check_choice(covariance, "covariance", COVARIANCES)
    _check_tensors(mu=mu, **{"log_var" if covariance == "diagonal" else "scale_tril": second})
    if num_samples is not None:
        num_samples = check_int(num_samples, "num_samples", minimum=1)
    shape = tuple(mu.shape) if num_samples is None else (num_samples, *mu.shape)
    if eps is None:
        eps = _randn(shape, mu, generator)
    elif not isinstance(eps, Tensor) or tuple(eps.shape) != shape:
        raise ValueError(f"eps must have shape {shape}, got {tuple(eps.shape)}")
    if covariance == "diagonal":
        if second.shape != mu.shape:
            raise ValueError(f"log_var must have mu's shape {tuple(mu.shape)}, got {tuple(second.shape)}")
        return mu + torch.exp(0.5 * second) * eps
    _check_tril(mu, second)
    return mu + (second @ eps.unsqueeze(-1)).squeeze(-1)


def sample_full_covariance(mean: Tensor, cov: Tensor, num_samples: int, *,
                           generator: torch.Generator | None = None) -> Tensor:
    """``num_samples`` draws of N(mean, cov) as ``mean + eps @ L^T`` with ``L = cholesky(cov)``.

    ``mean`` ``(d,)``, ``cov`` ``(d, d)`` symmetric positive definite -> ``(num_samples, d)``.
    Costs O(d^3) for the factorisation and O(num_samples d^2) for the product, against
    O(num_samples d) for a diagonal covariance.
    """
    _check_tensors(mean=mean, cov=cov)
    if mean.ndim != 1 or cov.shape != (mean.shape[0], mean.shape[0]):
        raise ValueError(f"mean must be (d,) and cov (d, d); got {tuple(mean.shape)} and {tuple(cov.shape)}")
    num_samples = check_int(num_samples, "num_samples", minimum=0)
    check_finite(mean, "mean")
    check_finite(cov, "cov")
    if not torch.allclose(cov, cov.T, atol=1e-6 * float(cov.abs().max())):
        raise ValueError("cov must be symmetric")
    L, info = torch.linalg.cholesky_ex(cov)
    if int(info) != 0:
        raise ValueError("cov must be positive definite (its Cholesky factorisation failed)")
    eps = _randn((num_samples, mean.shape[0]), mean, generator)
    return mean + eps @ L.T


def _wide(t: Tensor) -> Tensor:
    """Half-precision tensors (from autocast) upcast to float32; float32/float64 left as they are."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def standard_normal_log_prob(h: Tensor) -> Tensor:
    """log N(h; 0, I) summed over the last axis: ``(..., k)`` -> ``(...)``."""
    return -0.5 * (h.pow(2) + LOG_2PI).sum(-1)


def diagonal_gaussian_log_prob(h: Tensor, mu: Tensor, log_var: Tensor) -> Tensor:
    """log N(h; mu, diag e^log_var) summed over the last axis (broadcasting)."""
    return -0.5 * (LOG_2PI + log_var + (h - mu).pow(2) * torch.exp(-log_var)).sum(-1)


def _q_log_prob(h: Tensor, mu: Tensor, second: Tensor, covariance: str) -> Tensor:
    if covariance == "diagonal":
        return diagonal_gaussian_log_prob(h, mu, second)
    diff = (h - mu).unsqueeze(-1)  # (..., k, 1)
    tril = second.expand(*diff.shape[:-2], *second.shape[-2:])
    z = torch.linalg.solve_triangular(tril, diff, upper=False).squeeze(-1)
    log_det = torch.diagonal(second, dim1=-2, dim2=-1).abs().log().sum(-1)
    return -0.5 * (z.pow(2).sum(-1) + mu.shape[-1] * LOG_2PI) - log_det


def log_likelihood(x: Tensor, params: Tensor | tuple[Tensor, Tensor], likelihood: str = "bernoulli") -> Tensor:
    """log p(x | h) summed over every feature axis of ``x``.

    ``params``: Bernoulli logits shaped like ``x`` (or with extra leading sample axes), or a
    Gaussian ``(mean, log_var)`` pair broadcastable to that. Returns ``params``' leading shape,
    e.g. ``(n_samples,)`` or ``(num_samples, n_samples)``. Computed in float32 or wider.
    """
    check_choice(likelihood, "likelihood", LIKELIHOODS)
    event_dims = x.ndim - 1
    if likelihood == "bernoulli":
        if isinstance(params, (tuple, list)):
            raise ValueError("a Bernoulli likelihood needs the decoder to return one tensor of logits")
        logits = _wide(params)
        if logits.shape[logits.ndim - event_dims:] != x.shape[1:]:
            raise ValueError(f"decoder logits of shape {tuple(logits.shape)} do not match x of shape {tuple(x.shape)}")
        target = x.to(logits.dtype).expand_as(logits)
        ll = -F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    else:
        if not isinstance(params, (tuple, list)) or len(params) != 2:
            raise ValueError("a Gaussian likelihood needs the decoder to return (mean, log_var)")
        mean, log_var = (_wide(p) for p in params)
        if mean.shape[mean.ndim - event_dims:] != x.shape[1:]:
            raise ValueError(f"decoder mean of shape {tuple(mean.shape)} does not match x of shape {tuple(x.shape)}")
        ll = -0.5 * (LOG_2PI + log_var + (x.to(mean.dtype) - mean).pow(2) * torch.exp(-log_var))
        ll = ll.expand(*mean.shape)
    return ll.flatten(ll.ndim - event_dims).sum(-1) if event_dims else ll


# --------------------------------------------------------------------------------------------
# Encoders, decoders and the VAE
# --------------------------------------------------------------------------------------------

def _mlp(sizes: Sequence[int], activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class GaussianEncoder(nn.Module):
    """Recognition network q(h|x) = N(mu(x), diag exp(log_var(x))): an MLP with two heads.

    ``forward(x)`` with ``x`` ``(n_samples, n_features)`` returns ``(mu, log_var)``, each
    ``(n_samples, n_latents)``.
    """

    def __init__(self, n_features: int, n_latents: int, hidden: Sequence[int] = (256,)):
        super().__init__()
        self.n_features = n_features
        self.body = _mlp([n_features, *hidden], nn.ReLU) if hidden else nn.Identity()
        self.act = nn.ReLU() if hidden else nn.Identity()
        self.head = nn.Linear(hidden[-1] if hidden else n_features, 2 * n_latents)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if x.ndim < 2 or x[0].numel() != self.n_features:
            raise ValueError(f"the encoder expects x of shape (n_samples, {self.n_features}), got {tuple(x.shape)}")
        mu, log_var = self.head(self.act(self.body(x.flatten(1)))).chunk(2, dim=-1)
        return mu, log_var


class BernoulliDecoder(nn.Module):
    """Generative network p(x|h) = Bernoulli(sigmoid(logits(h))): ``(n, n_latents) -> (n, n_features)`` logits."""

    def __init__(self, n_latents: int, n_features: int, hidden: Sequence[int] = (256,)):
        super().__init__()
        self.net = _mlp([n_latents, *hidden, n_features])

    def forward(self, h: Tensor) -> Tensor:
        return self.net(h)


class GaussianDecoder(nn.Module):
    """p(x|h) = N(mean(h), diag exp(log_var)) with a learned per-feature ``log_var`` (or fixed).

    ``forward(h)`` returns ``(mean, log_var)``: ``(n, n_features)`` and ``(n_features,)``.
    """

    def __init__(self, n_latents: int, n_features: int, hidden: Sequence[int] = (256,),
                 log_var: float = 0.0, learn_variance: bool = True):
        super().__init__()
        self.net = _mlp([n_latents, *hidden, n_features])
        init = torch.full((n_features,), float(log_var))
        self.log_var = nn.Parameter(init) if learn_variance else nn.Buffer(init)

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor]:
        return self.net(h), self.log_var


class VAE(nn.Module):
    """A variational autoencoder from any encoder and decoder, with the prior N(0, I).

    Parameters
    ----------
    encoder : module ``x -> (mu, log_var)`` (``covariance="diagonal"``) or ``x -> (mu, scale_tril)``
        (``covariance="full"``), latents of size ``n_latents``.
    decoder : module ``h (n, n_latents) -> likelihood parameters`` for ``x``: logits shaped like
        ``x`` (``likelihood="bernoulli"``) or ``(mean, log_var)`` (``"gaussian"``).
    n_latents : size of ``h``.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, n_latents: int, *,
                 likelihood: str = "bernoulli", covariance: str = "diagonal"):
        super().__init__()
        check_choice(likelihood, "likelihood", LIKELIHOODS)
        check_choice(covariance, "covariance", COVARIANCES)
        n_latents = check_int(n_latents, "n_latents", minimum=1)
        self.encoder, self.decoder = encoder, decoder
        self.n_latents, self.likelihood, self.covariance = n_latents, likelihood, covariance

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Parameters of q(h|x): ``(mu, log_var)`` or ``(mu, scale_tril)``, ``mu`` ``(n, n_latents)``."""
        mu, second = self.encoder(x)
        if mu.ndim != 2 or mu.shape != (x.shape[0], self.n_latents):
            raise ValueError(f"the encoder must return mu of shape (n_samples, {self.n_latents}), "
                             f"got {tuple(mu.shape)} for x of shape {tuple(x.shape)}")
        return mu, second

    def decode(self, h: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        """Likelihood parameters of p(x|h) for ``h`` of shape ``(..., n_latents)`` (leading axes flattened)."""
        lead = h.shape[:-1]
        params = self.decoder(h.reshape(-1, self.n_latents))
        if isinstance(params, tuple):
            mean, log_var = params
            mean = mean.reshape(*lead, *mean.shape[1:])
            return mean, log_var
        return params.reshape(*lead, *params.shape[1:])

    def mean(self, params: Tensor | tuple[Tensor, Tensor]) -> Tensor:
        """E[x|h] from decoder parameters (sigmoid of the logits, or the Gaussian mean)."""
        return torch.sigmoid(params) if self.likelihood == "bernoulli" else params[0]

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """E[x | h = mu(x)]: the decoder's mean at the encoder's mean, shaped like ``x``."""
        return self.mean(self.decode(self.encode(x)[0])).reshape(x.shape)

    @torch.no_grad()
    def sample(self, num_samples: int, *, generator: torch.Generator | None = None,
               mean: bool = True) -> Tensor:
        """Ancestral samples: h ~ N(0, I), then E[x|h] (``mean=True``) or a draw of x ~ p(x|h)."""
        num_samples = check_int(num_samples, "num_samples", minimum=0)
        ref = next(self.parameters())
        h = _randn((num_samples, self.n_latents), ref, generator)
        params = self.decode(h)
        if mean:
            return self.mean(params)
        if self.likelihood == "bernoulli":
            probs = torch.sigmoid(params)
            return (torch.rand(probs.shape, generator=generator, device=generator.device if generator else probs.device)
                    .to(probs.device) < probs).to(probs.dtype)
        mu, log_var = params
        return mu + torch.exp(0.5 * log_var) * _randn(mu.shape, mu, generator)


def mlp_vae(n_features: int, n_latents: int, hidden: Sequence[int] = (256,), *,
            likelihood: str = "bernoulli") -> VAE:
    """An MLP VAE for flat data ``(n_samples, n_features)`` (the MNIST chapters)."""
    n_features = check_int(n_features, "n_features", minimum=1)
    n_latents = check_int(n_latents, "n_latents", minimum=1)
    hidden = tuple(check_int(width, "hidden", minimum=1) for width in hidden)
    check_choice(likelihood, "likelihood", LIKELIHOODS)
    encoder = GaussianEncoder(n_features, n_latents, hidden)
    if likelihood == "bernoulli":
        decoder: nn.Module = BernoulliDecoder(n_latents, n_features, tuple(reversed(hidden)))
    else:
        decoder = GaussianDecoder(n_latents, n_features, tuple(reversed(hidden)))
    return VAE(encoder, decoder, n_latents, likelihood=likelihood)


# --------------------------------------------------------------------------------------------
# The ELBO and the importance-weighted bound
# --------------------------------------------------------------------------------------------

def _check_x(model: VAE, x: Tensor) -> None:
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor, got {type(x).__name__} "
                         f"{getattr(x, 'dtype', '')}")
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"x must have shape (n_samples, ...) with n_samples >= 1, got {tuple(x.shape)}")
    if x.is_cuda:  # checking values on a GPU would make every training step wait for it
        return
    if model.likelihood == "bernoulli":
        if not bool(((x >= 0) & (x <= 1)).all()):  # False for NaN, unlike x < 0 or x > 1
            raise ValueError("a Bernoulli likelihood needs x in [0, 1] (no NaN)")
    else:
        check_finite(x, "x")


def log_weights(model: VAE, x: Tensor, num_samples: int = 1, *,
                generator: torch.Generator | None = None) -> dict[str, Tensor]:
    """The three log densities at ``num_samples`` reparametrized draws h ~ q(h|x).

    Returns ``{"log_px_given_h", "log_prior", "log_q"}``, each ``(num_samples, n_samples)``, plus
    ``"mu"`` and ``"second"`` (q's parameters). ``log w = log p(x|h) + log p(h) - log q(h|x)``.
    """
    mu, second = model.encode(x)
    h = reparametrize(mu, second, num_samples, covariance=model.covariance, generator=generator)
    return {"log_px_given_h": log_likelihood(x, model.decode(h), model.likelihood),
            "log_prior": standard_normal_log_prob(_wide(h)),
            "log_q": _q_log_prob(_wide(h), _wide(mu), _wide(second), model.covariance),
            "mu": mu, "second": second}


def elbo(model: VAE, x: Tensor, *, num_samples: int = 1, kl: str = "analytic", beta: float = 1.0,
         generator: torch.Generator | None = None) -> dict[str, Tensor]:
    """The ELBO of each sample, as its two terms: reconstruction and KL to the prior.

    ``reconstruction`` = Monte-Carlo mean over ``num_samples`` draws h ~ q(h|x) of log p(x|h);
    ``kl`` = KL(q(h|x) || N(0, I)), in closed form (``kl="analytic"``) or by Monte Carlo
    (``kl="mc"``: mean of log q(h|x) - log p(h) at the same draws). ``elbo = reconstruction - kl``
    and ``objective = reconstruction - beta * kl`` (the beta-VAE objective). All ``(n_samples,)``,
    in nats. ``x``: ``(n_samples, ...)``.
    """
    _check_x(model, x)
    num_samples = check_int(num_samples, "num_samples", minimum=1)
    check_number(beta, "beta", minimum=0)  # the value is kept: a tensor beta keeps its graph and device
    check_choice(kl, "kl", ("analytic", "mc"))
    if kl == "mc":
        terms = log_weights(model, x, num_samples, generator=generator)
        reconstruction = terms["log_px_given_h"].mean(0)
        kl_value = (terms["log_q"] - terms["log_prior"]).mean(0)
    else:  # the training path: no log-densities of h are needed, so none are computed
        mu, second = model.encode(x)
        h = reparametrize(mu, second, num_samples, covariance=model.covariance, generator=generator)
        reconstruction = log_likelihood(x, model.decode(h), model.likelihood).mean(0)
        kl_value = kl_to_prior(_wide(mu), _wide(second), model.covariance)
    return {"reconstruction": reconstruction, "kl": kl_value, "elbo": reconstruction - kl_value,
            "objective": reconstruction - beta * kl_value}


def elbo_loss(beta: float = 1.0, *, kl: str = "analytic",
              num_samples: int = 1) -> Callable[[VAE, tuple[Tensor, ...]], dict[str, Tensor]]:
    """A loss for :func:`lecturelib.training.train`: minus the (beta-weighted) ELBO, averaged.

    The returned ``loss_fn(model, batch)`` reads ``x = batch[0]`` and logs ``loss``,
    ``reconstruction``, ``kl`` and ``elbo`` (batch means, nats per sample).
    """
    check_number(beta, "beta", minimum=0)
    num_samples = check_int(num_samples, "num_samples", minimum=1)
    check_choice(kl, "kl", ("analytic", "mc"))

    def loss_fn(model: VAE, batch: tuple[Tensor, ...]) -> dict[str, Tensor]:
        terms = elbo(model, batch[0], num_samples=num_samples, kl=kl, beta=beta)
        return {"loss": -terms["objective"].mean(), "reconstruction": terms["reconstruction"].mean(),
                "kl": terms["kl"].mean(), "elbo": terms["elbo"].mean()}

    loss_fn.beta = beta  # type: ignore[attr-defined]
    return loss_fn


@torch.no_grad()
def iwae_bound(model: VAE, x: Tensor, num_samples: int = 100, *, chunk_size: int = 100,
               generator: torch.Generator | None = None) -> Tensor:
    """Importance-weighted lower bound on log p(x) with K = ``num_samples`` draws (Burda et al.).

    ``log (1/K) sum_k p(x, h_k) / q(h_k|x)``, h_k ~ q(h|x); K = 1 is a one-sample ELBO, and the
    bound tightens (in expectation) as K grows. Returns ``(n_samples,)`` nats; draws are
    processed ``chunk_size`` at a time to bound memory.
    """
    _check_x(model, x)
    num_samples = check_int(num_samples, "num_samples", minimum=1)
    chunk_size = check_int(chunk_size, "chunk_size", minimum=1)
    chunks = []
    for start in range(0, num_samples, chunk_size):
        terms = log_weights(model, x, min(chunk_size, num_samples - start), generator=generator)
        chunks.append(terms["log_px_given_h"] + terms["log_prior"] - terms["log_q"])
    log_w = torch.cat(chunks)
    return torch.logsumexp(log_w, dim=0) - math.log(num_samples)


# --------------------------------------------------------------------------------------------
# Looking at q(h|x): per-latent KL, active units, the amortization gap (chapter 4)
# --------------------------------------------------------------------------------------------

def _check_diagonal_q(mu: Tensor, log_var: Tensor) -> None:
    _check_tensors(mu=mu, log_var=log_var)
    if mu.ndim != 2 or mu.shape != log_var.shape or mu.shape[0] == 0:
        raise ValueError(f"mu and log_var must have one shape (n_samples, n_latents) with n_samples >= 1, "
                         f"got {tuple(mu.shape)} and {tuple(log_var.shape)}")


def kl_per_latent(mu: Tensor, log_var: Tensor) -> Tensor:
    """Each latent's share of the KL to the prior, averaged over the samples: ``(n_latents,)`` nats.

    ``mu``, ``log_var`` ``(n_samples, n_latents)`` are q(h|x)'s parameters. For a diagonal q the KL to
    N(0, I) is a sum over latents, so the shares add up to the mean KL term of the ELBO. A latent
    whose share is near zero keeps q at the prior for every x: it carries no information about x.
    """
    _check_diagonal_q(mu, log_var)
    return 0.5 * (log_var.exp() + mu.pow(2) - 1.0 - log_var).mean(0)


def active_units(mu: Tensor, threshold: float = 0.01) -> Tensor:
    """Which latents the encoder uses: ``Var_x(E_q[h_j | x]) > threshold``, boolean ``(n_latents,)``.

    ``mu`` ``(n_samples, n_latents)`` holds the posterior means of data samples. Burda et al. (2016)
    call a latent *active* when its posterior mean varies across the data by more than 0.01 (the
    prior's variance is 1); an inactive latent decodes the same for every input.
    """
    _check_tensors(mu=mu)
    if mu.ndim != 2 or mu.shape[0] < 2:
        raise ValueError(f"mu must have shape (n_samples, n_latents) with n_samples >= 2, got {tuple(mu.shape)}")
    threshold = check_number(threshold, "threshold", minimum=0)
    return mu.var(0) > threshold


def diagonal_elbo(model: VAE, x: Tensor, mu: Tensor, log_var: Tensor, *, num_samples: int = 1,
                  generator: torch.Generator | None = None) -> Tensor:
    """The ELBO of each row of ``x`` for a *given* q = N(mu, diag exp(log_var)), not the encoder's.

    ``mu``, ``log_var`` ``(n_samples, n_latents)``; the decoder and the prior are ``model``'s. Monte
    Carlo over ``num_samples`` reparametrized draws for the reconstruction, closed-form KL. Returns
    ``(n_samples,)`` nats; differentiable in ``mu`` and ``log_var``.
    """
    _check_x(model, x)
    _check_diagonal_q(mu, log_var)
    if mu.shape != (x.shape[0], model.n_latents):
        raise ValueError(f"mu must have shape ({x.shape[0]}, {model.n_latents}), got {tuple(mu.shape)}")
    h = reparametrize(mu, log_var, num_samples, generator=generator)
    return log_likelihood(x, model.decode(h), model.likelihood).mean(0) - gaussian_kl(mu, log_var)


def optimize_posterior(model: VAE, x: Tensor, *, num_steps: int = 500, num_samples: int = 8, lr: float = 0.01,
                       seed: int = 0) -> tuple[Tensor, Tensor]:
    """Per-datapoint variational inference: the diagonal q that maximises each row's ELBO.

    Starts from the encoder's ``(mu, log_var)`` for ``x`` and takes ``num_steps`` Adam steps (learning
    rate ``lr``) on the ELBO, estimated with ``num_samples`` draws, over q's parameters only; the
    decoder is left unchanged (its parameters get no gradient). Returns ``(mu, log_var)``, each
    ``(n_samples, n_latents)``, detached. Its ELBO minus the encoder's is the *amortization gap*
    (Cremer et al. 2018): what one network for all x loses against a q fitted to each x (chapter 4).
    """
    _check_x(model, x)
    if model.covariance != "diagonal":
        raise ValueError("optimize_posterior needs a model with covariance='diagonal'")
    num_steps = check_int(num_steps, "num_steps", minimum=1)
    num_samples = check_int(num_samples, "num_samples", minimum=1)
    lr = check_number(lr, "lr", minimum=0, strict=True)
    with torch.no_grad():
        mu, log_var = (t.detach().clone() for t in model.encode(x))
    mu.requires_grad_(True)
    log_var.requires_grad_(True)
    generator = torch.Generator(device=mu.device).manual_seed(seed)
    optimizer = torch.optim.Adam([mu, log_var], lr=lr)
    flags = [p.requires_grad for p in model.parameters()]
    try:
        for p in model.parameters():
            p.requires_grad_(False)
        for _ in range(num_steps):
            loss = -diagonal_elbo(model, x, mu, log_var, num_samples=num_samples, generator=generator).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        for p, flag in zip(model.parameters(), flags):
            p.requires_grad_(flag)
    return mu.detach(), log_var.detach()


def independent_pixels_log_likelihood(X_train: Tensor, X: Tensor) -> Tensor:
    """Exact log p(x) of binary images under independent Bernoulli pixels fitted to ``X_train``.

    Each pixel's probability is its frequency in ``X_train`` ``(n_train, n_features)`` with one 1 and
    one 0 added (Laplace's rule), so that a pixel never on in training does not give log 0. Returns
    ``(n_samples,)`` nats for binary ``X`` ``(n_samples, n_features)``: the likelihood of the best
    model without latents (up to the smoothing), a reference a VAE's ELBO must beat (chapter 4).
    """
    _check_tensors(X_train=X_train, X=X)
    for name, value in (("X_train", X_train), ("X", X)):
        if value.ndim != 2 or value.shape[0] == 0 or not bool(((value == 0) | (value == 1)).all()):
            raise ValueError(f"{name} must be binary (0 or 1) of shape (n_samples, n_features), got {tuple(value.shape)}")
    if X.shape[1] != X_train.shape[1]:
        raise ValueError(f"X must have {X_train.shape[1]} features like X_train, got {X.shape[1]}")
    p = (X_train.double().sum(0) + 1) / (X_train.shape[0] + 2)
    X = X.double()
    return (X * p.log() + (1 - X) * torch.log1p(-p)).sum(1)


# --------------------------------------------------------------------------------------------
# Probabilistic PCA: a VAE whose log-likelihood and posterior are closed form
# --------------------------------------------------------------------------------------------

class _AffineGaussianEncoder(nn.Module):
    """q(h|x) = N(x A^T + c, L L^T) with a fixed Cholesky factor L (full covariance)."""

    def __init__(self, A: Tensor, c: Tensor, scale_tril: Tensor):
        super().__init__()
        self.A, self.c, self.scale_tril = nn.Parameter(A.clone()), nn.Parameter(c.clone()), nn.Parameter(scale_tril.clone())

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mu = x @ self.A.T + self.c
        return mu, self.scale_tril.expand(x.shape[0], *self.scale_tril.shape)


class _AffineGaussianDecoder(nn.Module):
    def __init__(self, W: Tensor, b: Tensor, log_var: Tensor):
        super().__init__()
        self.W, self.b, self.log_var = nn.Parameter(W.clone()), nn.Parameter(b.clone()), nn.Parameter(log_var.clone())

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor]:
        return h @ self.W.T + self.b, self.log_var.expand(self.b.shape)


class PPCA:
    """Probabilistic PCA ``x = W h + b + sigma * noise``, ``h ~ N(0, I_k)`` (Tipping & Bishop).

    ``W`` ``(n_features, n_latents)``, ``b`` ``(n_features,)``, ``sigma > 0``. Everything is exact:
    ``log p(x) = log N(x; b, W W^T + sigma^2 I)``; the posterior is
    ``N(M^-1 W^T (x - b), sigma^2 M^-1)`` with ``M = W^T W + sigma^2 I``.
    """

    def __init__(self, W: Tensor, b: Tensor, sigma: float):
        if W.ndim != 2 or b.shape != (W.shape[0],):
            raise ValueError(f"W must be (n_features, n_latents) and b (n_features,); got {tuple(W.shape)}, {tuple(b.shape)}")
        if not sigma > 0:
            raise ValueError(f"sigma must be > 0, got {sigma}")
        self.W, self.b, self.sigma = W, b, float(sigma)
        self.n_features, self.n_latents = W.shape

    def _check(self, X: Tensor) -> None:
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"X must have shape (n_samples, {self.n_features}), got {tuple(X.shape)}")

    def sample(self, num_samples: int, *, generator: torch.Generator | None = None) -> Tensor:
        """Draws of x, ``(num_samples, n_features)``."""
        h = _randn((num_samples, self.n_latents), self.W, generator)
        return h @ self.W.T + self.b + self.sigma * _randn((num_samples, self.n_features), self.W, generator)

    def log_likelihood(self, X: Tensor) -> Tensor:
        """Exact log p(x) for each row of ``X``: ``(n_samples,)``."""
        self._check(X)
        cov = self.W @ self.W.T + self.sigma ** 2 * torch.eye(self.n_features, dtype=self.W.dtype, device=self.W.device)
        return torch.distributions.MultivariateNormal(self.b, covariance_matrix=cov).log_prob(X)

    def posterior(self, X: Tensor) -> tuple[Tensor, Tensor]:
        """Exact posterior p(h|x): means ``(n_samples, n_latents)`` and the shared covariance ``(k, k)``."""
        self._check(X)
        M = self.W.T @ self.W + self.sigma ** 2 * torch.eye(self.n_latents, dtype=self.W.dtype, device=self.W.device)
        mean = torch.linalg.solve(M, self.W.T @ (X - self.b).T).T
        return mean, self.sigma ** 2 * torch.linalg.inv(M)

    def posterior_map(self) -> tuple[Tensor, Tensor]:
        """The posterior mean as an affine map of x: ``mean = x A^T + c``; returns ``(A, c)``."""
        M = self.W.T @ self.W + self.sigma ** 2 * torch.eye(self.n_latents, dtype=self.W.dtype, device=self.W.device)
        A = torch.linalg.solve(M, self.W.T)
        return A, -(A @ self.b)

    def analytic_elbo(self, X: Tensor, q_mean: Tensor, q_cov: Tensor) -> Tensor:
        """The ELBO in closed form for q(h|x) = N(q_mean, q_cov): ``(n_samples,)``.

        ``E_q[log p(x|h)] = log N(x; W m + b, sigma^2 I) - tr(W S W^T) / (2 sigma^2)`` and
        ``KL(N(m, S) || N(0, I)) = (tr S + |m|^2 - k - log det S) / 2``.
        """
        self._check(X)
        if q_mean.shape != (X.shape[0], self.n_latents) or q_cov.shape != (self.n_latents, self.n_latents):
            raise ValueError(f"q_mean must be (n_samples, {self.n_latents}) and q_cov ({self.n_latents}, {self.n_latents})")
        var = self.sigma ** 2
        resid = X - q_mean @ self.W.T - self.b
        reconstruction = (-0.5 * (self.n_features * (LOG_2PI + math.log(var)) + resid.pow(2).sum(-1) / var)
                          - torch.trace(self.W @ q_cov @ self.W.T) / (2 * var))
        kl = 0.5 * (torch.trace(q_cov) + q_mean.pow(2).sum(-1) - self.n_latents - torch.logdet(q_cov))
        return reconstruction - kl

    def as_vae(self, A: Tensor | None = None, c: Tensor | None = None, q_cov: Tensor | None = None) -> VAE:
        """This pPCA as a :class:`VAE` (Gaussian likelihood, full-covariance encoder).

        The encoder is q(h|x) = N(x A^T + c, q_cov), by default the exact posterior, so that
        :func:`elbo` and :func:`iwae_bound` can be checked against :meth:`log_likelihood`.
        """
        A0, c0 = self.posterior_map()
        A = A0 if A is None else A
        c = c0 if c is None else c
        if q_cov is None:
            q_cov = self.posterior(self.b[None])[1]
        encoder = _AffineGaussianEncoder(A, c, torch.linalg.cholesky(q_cov))
        log_var = torch.full((self.n_features,), 2 * math.log(self.sigma), dtype=self.W.dtype, device=self.W.device)
        decoder = _AffineGaussianDecoder(self.W, self.b, log_var)
        return VAE(encoder, decoder, self.n_latents, likelihood="gaussian", covariance="full")


# --------------------------------------------------------------------------------------------
# Deep latent Gaussian models: L stochastic layers
# --------------------------------------------------------------------------------------------

class GaussianLayer(nn.Module):
    """One stochastic layer ``h^l | h^(l-1) ~ N(mu(h^(l-1)), diag exp(log_var(h^(l-1))))``.

    ``mu`` and ``log_var`` are an MLP of the previous layer (``hidden=()`` gives an affine map).
    ``forward(h_prev)`` returns ``(mu, log_var)``, each ``(n, out_features)``.
    """

    def __init__(self, in_features: int, out_features: int, hidden: Sequence[int] = ()):
        super().__init__()
        self.net = _mlp([in_features, *hidden, 2 * out_features])
        self.in_features, self.out_features = in_features, out_features

    def forward(self, h_prev: Tensor) -> tuple[Tensor, Tensor]:
        mu, log_var = self.net(h_prev.flatten(1)).chunk(2, dim=-1)
        return mu, log_var


def sample_chain(layers: Sequence[GaussianLayer], start: Tensor, *, eps: Sequence[Tensor] | None = None,
                 generator: torch.Generator | None = None) -> list[Tensor]:
    """Ancestral reparametrized sampling ``h^l = Sigma(h^(l-1))^(1/2) eps^l + mu(h^(l-1))``.

    Works in both directions: the recognition network (``start = x``, layers q(h^1|x), ...,
    q(h^L|h^(L-1))) and the generative one (``start = h^L ~ N(0, I)``, layers p(h^(L-1)|h^L), ...).
    Returns the list of samples ``[h^1, ..., h^L]`` (in the order the layers are applied), each
    ``(n_samples, out_features)``; gradients flow through every layer.
    """
    if eps is not None and len(eps) != len(layers):
        raise ValueError(f"eps must hold one tensor per layer ({len(layers)}), got {len(eps)}")
    samples, h = [], start
    for i, layer in enumerate(layers):
        if h.shape[-1] != layer.in_features and h.flatten(1).shape[-1] != layer.in_features:
            raise ValueError(f"layer {i} expects {layer.in_features} inputs, got shape {tuple(h.shape)}")
        mu, log_var = layer(h)
        h = reparametrize(mu, log_var, eps=None if eps is None else eps[i], generator=generator)
        samples.append(h)
    return samples


def chain_log_prob(layers: Sequence[GaussianLayer], start: Tensor, samples: Sequence[Tensor]) -> Tensor:
    """``sum_l log N(h^l; mu(h^(l-1)), Sigma(h^(l-1)))`` with ``h^0 = start``: ``(n_samples,)``."""
    if len(samples) != len(layers):
        raise ValueError(f"samples must hold one tensor per layer ({len(layers)}), got {len(samples)}")
    total, prev = torch.zeros(start.shape[0], dtype=start.dtype, device=start.device), start
    for layer, h in zip(layers, samples):
        mu, log_var = layer(prev)
        total = total + diagonal_gaussian_log_prob(h, mu, log_var)
        prev = h
    return total


def hierarchical_elbo(x: Tensor, recognition: Sequence[GaussianLayer], generative: Sequence[nn.Module], *,
                      likelihood: str = "bernoulli", generator: torch.Generator | None = None) -> Tensor:
    """One-sample ELBO of a model with L stochastic layers: ``log p(x, h^1..h^L) - log q(h^1..h^L | x)``.

    ``recognition``: L layers q(h^1|x), ..., q(h^L|h^(L-1)). ``generative``: L - 1 layers
    p(h^(L-1)|h^L), ..., p(h^1|h^2) followed by a decoder ``h^1 -> likelihood parameters``;
    the prior on h^L is N(0, I). Returns ``(n_samples,)`` nats (an unbiased estimate of the ELBO).
    """
    if len(generative) != len(recognition):
        raise ValueError(f"generative needs L - 1 layers and a decoder ({len(recognition)} modules), got {len(generative)}")
    hs = sample_chain(recognition, x, generator=generator)
    log_q = chain_log_prob(recognition, x, hs)
    top = hs[-1]
    log_p = standard_normal_log_prob(top)
    down = hs[::-1]  # h^L, ..., h^1
    if len(generative) > 1:
        log_p = log_p + chain_log_prob(list(generative[:-1]), top, down[1:])
    log_p = log_p + log_likelihood(x, generative[-1](hs[0]), likelihood)
    return log_p - log_q


# --------------------------------------------------------------------------------------------
# A faster training step (GPU): bf16 autocast, channels-last, torch.compile with CUDA graphs
# --------------------------------------------------------------------------------------------

def make_fast_loss(model: nn.Module, loss_fn: Callable, *, device: str | torch.device = "auto",
                   compile: bool | None = None, bf16: bool | None = None,
                   channels_last: bool | None = None, mode: str = "reduce-overhead") -> Callable:
    """Wrap ``loss_fn(model, batch)`` for speed on a GPU; on a CPU it returns ``loss_fn`` itself.

    ``None`` means "on when the device is CUDA": channels-last memory format for 4-D inputs and
    the model (convolutions), bf16 autocast (the log-likelihood stays float32), and
    ``torch.compile(mode="reduce-overhead")``, which replays the step as CUDA graphs (the batch-64
    step is bound by kernel-launch overhead). Use with :func:`lecturelib.training.train`, whose
    loop has no per-step host sync. The first steps are slow while it compiles.
    """
    from lecturelib.config import resolve_device

    device = resolve_device(device)
    cuda = device.type == "cuda"
    if compile is None:  # LECTURELIB_COMPILE=0 turns compilation off (e.g. where the compiler is unavailable)
        compile = cuda and os.environ.get("LECTURELIB_COMPILE", "1") != "0"
    bf16 = cuda if bf16 is None else bf16
    channels_last = cuda if channels_last is None else channels_last
    if not (compile or bf16 or channels_last):
        return loss_fn
    if channels_last:
        model.to(memory_format=torch.channels_last)

    def fast_loss(model: nn.Module, batch: tuple[Tensor, ...]) -> dict[str, Tensor]:
        if channels_last:
            batch = tuple(t.contiguous(memory_format=torch.channels_last) if t.ndim == 4 else t for t in batch)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            return loss_fn(model, batch)

    if compile:
        return torch.compile(fast_loss, mode=mode)
    return fast_loss
