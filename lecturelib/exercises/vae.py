"""Checks of the code exercises of the chapter "Variational autoencoders" (04).

The known answers come from ``torch.distributions`` (the Gaussian KL) and from probabilistic PCA,
where ``log p(x)`` is exact and the importance-weighted bound equals it at the true posterior.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch.distributions import Normal, kl_divergence

from lecturelib.exercises.checks import CheckFailed, as_numpy, exercise_check, expect_close, expect_shape
from lecturelib.vae import PPCA, iwae_bound, log_weights

__all__ = ["check_gaussian_kl", "check_iwae"]


@exercise_check("ex-vae-gaussian-kl", "my_gaussian_kl(mu, log_var): KL(N(mu, diag e^log_var) || N(0, I)) per sample")
def check_gaussian_kl(my_gaussian_kl: Callable) -> str:
    what = "my_gaussian_kl(mu=0, log_var=0) for 3 samples of 4 latents (q is the prior)"
    zeros = torch.zeros(3, 4, dtype=torch.float64)
    value = my_gaussian_kl(zeros.clone(), zeros.clone())
    shape = tuple(as_numpy(value, what).shape)
    if shape == (3, 4):
        raise CheckFailed(f"{what} has shape (3, 4): sum the KL over the latents (the last axis), one value per sample")
    expect_close(value, torch.zeros(3), what, atol=1e-12)

    g = torch.Generator().manual_seed(0)
    mu = torch.randn(5, 3, generator=g, dtype=torch.float64)
    log_var = torch.randn(5, 3, generator=g, dtype=torch.float64)
    expected = kl_divergence(Normal(mu, (0.5 * log_var).exp()), Normal(0.0, 1.0)).sum(-1)
    what = "my_gaussian_kl(mu, log_var) for 5 random samples of 3 latents (checked with torch.distributions)"
    value = expect_shape(my_gaussian_kl(mu.clone(), log_var.clone()), (5,), what)
    if not torch.allclose(torch.as_tensor(value), expected, rtol=1e-6, atol=1e-9):
        with_sigma = 0.5 * ((0.5 * log_var).exp() + mu**2 - 1 - log_var).sum(-1)
        if torch.allclose(torch.as_tensor(value), with_sigma, rtol=1e-6, atol=1e-9):
            raise CheckFailed(f"{what}: you used sigma where the formula has sigma^2; log_var = log sigma^2, "
                              "so sigma^2 = exp(log_var)")
        expect_close(value, expected, what, rtol=1e-6, atol=1e-9)

    mu = mu.clone().requires_grad_(True)
    value = my_gaussian_kl(mu, log_var.clone())
    if not isinstance(value, torch.Tensor) or not value.requires_grad:
        raise CheckFailed("my_gaussian_kl must return a torch tensor that autograd can differentiate (a VAE "
                          "trains through it): use torch operations, no .numpy() or .item()")
    (gradient,) = torch.autograd.grad(value.sum(), mu)
    expect_close(gradient, mu.detach(), "the gradient of sum(my_gaussian_kl) with respect to mu (it is mu)",
                 rtol=1e-6, atol=1e-9)
    return "3 cases: q equal to the prior, 5 random Gaussians against torch.distributions, the gradient in mu."


def _ppca() -> PPCA:
    g = torch.Generator().manual_seed(0)
    W = torch.randn(5, 2, generator=g, dtype=torch.float64)
    b = torch.randn(5, generator=g, dtype=torch.float64)
    return PPCA(W, b, sigma=0.5)


@exercise_check("ex-vae-iwae", "my_iwae(model, x, K, generator): the importance-weighted bound L_K per sample")
def check_iwae(my_iwae: Callable) -> str:
    ppca = _ppca()
    x = ppca.sample(6, generator=torch.Generator().manual_seed(1))
    exact = ppca.log_likelihood(x)
    posterior = ppca.as_vae()
    # 1. At the true posterior every weight p(x, h) / q(h|x) equals p(x): L_K = log p(x) for every K.
    for K in (1, 7):
        what = f"my_iwae(pPCA with q = its true posterior, x, K={K}) (every weight is p(x), so L_K = log p(x))"
        value = expect_shape(my_iwae(posterior, x.clone(), K, torch.Generator().manual_seed(2)), (6,), what)
        if K > 1 and torch.allclose(torch.as_tensor(value) - math.log(K), exact, atol=1e-6):
            raise CheckFailed(f"{what} is too large by log K = {math.log(K):.3f}: the bound averages the weights, "
                              "(1/K) sum_k w_k, so subtract log K after the logsumexp")
        expect_close(value, exact, what, rtol=1e-6, atol=1e-6)

    # 2. Away from the posterior, with the same draws as the library (the same generator seed).
    A, c = ppca.posterior_map()
    shifted = ppca.as_vae(A=A, c=c + 0.8, q_cov=2 * ppca.posterior(x)[1])
    K = 10
    what = f"my_iwae(pPCA with a shifted, wider q, x, K={K}) with generator seed 3"
    value = expect_shape(my_iwae(shifted, x.clone(), K, torch.Generator().manual_seed(3)), (6,), what)
    expected = iwae_bound(shifted, x, K, generator=torch.Generator().manual_seed(3))
    if not torch.allclose(torch.as_tensor(value), expected, rtol=1e-6, atol=1e-6):
        with torch.no_grad():
            terms = log_weights(shifted, x, K, generator=torch.Generator().manual_seed(3))
        log_w = terms["log_px_given_h"] + terms["log_prior"] - terms["log_q"]
        if torch.allclose(torch.as_tensor(value), log_w.mean(0), rtol=1e-6, atol=1e-6):
            raise CheckFailed(f"{what} equals the mean of the log-weights, which is the K-sample ELBO: L_K averages "
                              "the weights inside the log, log (1/K) sum_k exp(log w_k)")
        raise CheckFailed(f"{what}: expected {expected.numpy().round(4).tolist()}, got "
                          f"{as_numpy(value, what).round(4).tolist()}; draw h through "
                          "log_weights(model, x, K, generator=generator), take log w = log p(x|h) + log p(h) - "
                          "log q(h|x), and combine the K rows with logsumexp(log_w, dim=0) - log K")

    # 3. Far from the data the weights are about exp(-14000): exp() underflows to 0 in floating point.
    far = ppca.b + 40.0 * torch.ones(2, 5, dtype=torch.float64)
    what = "my_iwae(pPCA at its posterior, x far from the data, K=5), where log p(x) is about " \
           f"{ppca.log_likelihood(far).mean().item():.0f}"
    value = as_numpy(my_iwae(posterior, far.clone(), 5, torch.Generator().manual_seed(4)), what)
    if not (value.shape == (2,) and (value == value).all() and abs(value).max() < float("inf")):
        raise CheckFailed(f"{what} gave {value.tolist()}: exp(log w) underflows to 0 when log w is that negative; "
                          "never exponentiate the log-weights yourself, use torch.logsumexp")
    expect_close(value, ppca.log_likelihood(far), what, rtol=1e-9, atol=1e-6)
    return "3 cases on probabilistic PCA: the true posterior (exact), a shifted q (same draws as iwae_bound), " \
           "log-weights of about -14,000 (stability)."
