"""Typical wrong answers to the checks of chapters 02 and 03 (``lecturelib.exercises.autoencoders``).

The chapter's solution and the student stub are tested for every check by
``tests/test_exercise_checks.py``; this file holds the typical wrong answers (``WRONG_ANSWERS``,
which that file requires for every check) and other correct ways of writing a solution."""

import numpy as np
import torch

from lecturelib.exercises import all_checks


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


LOGIT_GRADIENTS_WRONG = [
    ("ex-ae-bce-gradient", lambda a, x: ((sigmoid(a) - x) * sigmoid(a) * (1 - sigmoid(a)), sigmoid(a) - x), "swapped"),
    ("ex-ae-bce-gradient", lambda a, x: (x - sigmoid(a), (sigmoid(a) - x) * sigmoid(a) * (1 - sigmoid(a))),
     "wrong sign"),
    ("ex-ae-bce-gradient", lambda a, x: (sigmoid(a) - x, sigmoid(a) - x), r"chain rule adds the factor sigmoid'\(a\)"),
    ("ex-ae-bce-gradient", lambda a, x: sigmoid(a) - x, "should return a pair"),
    ("ex-ae-bce-gradient", lambda a, x: (sigmoid(a) - x, (sigmoid(a) - x)[:1]),
     r"grad_se .* should have shape \(2, 4\)"),
]


def soft(z, t):
    return np.sign(z) * np.maximum(np.abs(z) - t, 0)


TIED_ENCODER_WRONG = [
    ("ex-ae-tied-encoder", lambda X, D, lam: X @ D.T / np.linalg.norm(D, 2) ** 2, "without the soft-threshold"),
    ("ex-ae-tied-encoder", lambda X, D, lam: soft(X @ D.T / np.sum(D ** 2), lam / np.sum(D ** 2)),
     "not the squared Frobenius norm"),
    ("ex-ae-tied-encoder", lambda X, D, lam: soft(X @ D.T / np.linalg.norm(D, 2) ** 2, lam),
     "the threshold is lam / L_D, not lam"),
    ("ex-ae-tied-encoder", lambda X, D, lam: soft(X @ D.T, lam / np.linalg.norm(D, 2) ** 2),
     "gradient step has size 1 / L_D"),
    ("ex-ae-tied-encoder", lambda X, D, lam: soft(X @ D.T, lam)[:, :2], r"should have shape \(5, 4\)"),
]


def bernoulli_kl(p, q):
    return p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))


def per_sample_kl(H, rho):
    """A KL of each sample's activation, not of the batch mean (0 on the first case, to reach the named one)."""
    if np.allclose(H.mean(0), rho):
        return 0.0
    return bernoulli_kl(rho, H).sum(1).mean()


KL_SPARSITY_WRONG = [
    ("ex-ae-kl-sparsity", lambda H, rho: bernoulli_kl(H.mean(0), rho).sum(), "wrong way round"),
    ("ex-ae-kl-sparsity", lambda H, rho: bernoulli_kl(rho, H.mean(0)).mean(), "sum the KL over the code units"),
    ("ex-ae-kl-sparsity", lambda H, rho: bernoulli_kl(rho, np.clip(H, 1e-3, 1 - 1e-3)).sum(1).mean(), "should be 0"),
    ("ex-ae-kl-sparsity", lambda H, rho: bernoulli_kl(rho, H.mean(0)), "one number"),
    ("ex-ae-kl-sparsity", lambda H, rho: 2 * bernoulli_kl(rho, H.mean(0)).sum(), r"should be 0\.404754, got 0\.809508"),
    ("ex-ae-kl-sparsity", per_sample_kl, "mean activation of each unit over the batch first"),
]


def softmax_denoiser(X_tilde, data, sigma, exponent_scale=None, normalise=True):
    squared = ((X_tilde[:, None, :] - data[None]) ** 2).sum(-1)
    logits = -squared / (2 * (sigma ** 2 if exponent_scale is None else exponent_scale))
    if not normalise:
        return np.exp(logits) @ data
    weights = np.exp(logits - logits.max(1, keepdims=True))
    return weights / weights.sum(1, keepdims=True) @ data


def naive_denoiser(X_tilde, data, sigma):
    squared = ((X_tilde[:, None, :] - data[None]) ** 2).sum(-1)
    weights = np.exp(-squared / (2 * sigma ** 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return weights / weights.sum(1, keepdims=True) @ data


OPTIMAL_DENOISER_WRONG = [
    ("ex-dae-optimal-denoiser", lambda X, data, s: softmax_denoiser(X, data, s, exponent_scale=s),
     "with sigma squared"),
    ("ex-dae-optimal-denoiser", lambda X, data, s: softmax_denoiser(X, data, s, normalise=False),
     "normalise the weights"),
    ("ex-dae-optimal-denoiser", lambda X, data, s: data[np.argmin(((X[:, None] - data[None]) ** 2).sum(-1), axis=1)],
     "nearest one"),
    ("ex-dae-optimal-denoiser", naive_denoiser, "gave NaN: .* underflows"),
    ("ex-dae-optimal-denoiser", lambda X, data, s: X, r"index \(1, 1\): expected -1, got 2"),
]


def linear_denoiser(X, sigma, centre=True, noise_variance=None):
    Xc = X - X.mean(0) if centre else X
    Sigma = Xc.T @ Xc / len(X)
    noise_variance = sigma ** 2 if noise_variance is None else noise_variance
    return Sigma @ np.linalg.inv(Sigma + noise_variance * np.eye(X.shape[1]))


LINEAR_DENOISER_WRONG = [
    ("ex-dae-linear", lambda X, s: linear_denoiser(X, s, noise_variance=s), "sigma\\^2 to Sigma, not sigma"),
    ("ex-dae-linear", lambda X, s: linear_denoiser(X, s, centre=False), "centre X"),
    ("ex-dae-linear", lambda X, s: np.eye(X.shape[1]), r"index \(2, 2\): expected 0\.5, got 1"),
    ("ex-dae-linear", lambda X, s: np.eye(2), r"should have shape \(3, 3\)"),
]


def uniform(x, generator):
    return torch.rand(x.shape, generator=generator, dtype=x.dtype)


MASKING_NOISE_WRONG = [
    ("ex-dae-masking", lambda x, p, generator=None: torch.where(uniform(x, generator) < p, x, torch.zeros_like(x)),
     "about 1 - p"),
    ("ex-dae-masking", lambda x, p, generator=None:
     torch.where(uniform(x, generator) < p, torch.zeros_like(x), x) / (1 - p) if p < 1 else torch.zeros_like(x),
     "that is dropout"),
    ("ex-dae-masking", lambda x, p, generator=None: x.masked_fill_(uniform(x, generator) < p, 0), "changed x in place"),
    ("ex-dae-masking", lambda x, p, generator=None:
     torch.where(torch.rand(x.shape[0], 1, generator=generator, dtype=x.dtype) < p, torch.zeros_like(x), x),
     "draw one uniform number per entry"),
    ("ex-dae-masking", lambda x, p, generator=None:
     torch.where(torch.rand(x.shape, dtype=x.dtype) < p, torch.zeros_like(x), x), "must come from the generator"),
    ("ex-dae-masking", lambda x, p, generator=None: x[:10], r"should have shape \(200, 500\)"),
]


WRONG_ANSWERS = (LOGIT_GRADIENTS_WRONG + TIED_ENCODER_WRONG + KL_SPARSITY_WRONG + OPTIMAL_DENOISER_WRONG
                 + LINEAR_DENOISER_WRONG + MASKING_NOISE_WRONG)


def test_linear_denoiser_accepts_the_unbiased_covariance():
    assert "passed" in all_checks()["ex-dae-linear"](
        lambda X, s: np.cov(X, rowvar=False) @ np.linalg.inv(np.cov(X, rowvar=False) + s ** 2 * np.eye(X.shape[1])))


def test_masking_noise_accepts_the_library_version():
    from lecturelib import autoencoders as ae

    assert "passed" in all_checks()["ex-dae-masking"](ae.masking_noise)
