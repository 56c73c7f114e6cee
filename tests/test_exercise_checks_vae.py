"""Typical wrong answers to the checks of chapter 04 (``lecturelib.exercises.vae``).

The chapter's solution and the student stub are tested for every check by
``tests/test_exercise_checks.py``; this file holds the typical wrong answers (``WRONG_ANSWERS``,
which that file requires for every check) and other correct ways of writing a solution."""

import torch

from lecturelib.exercises import all_checks
from lecturelib.vae import log_weights


def iwae_variant(kind: str):
    def my_iwae(model, x, K, generator):
        with torch.no_grad():
            terms = log_weights(model, x, K, generator=generator)
            log_w = terms["log_px_given_h"] + terms["log_prior"] - terms["log_q"]
            if kind == "no-log-K":
                return torch.logsumexp(log_w, dim=0)
            if kind == "mean-log-weights":
                return log_w.mean(0)
            return torch.log(torch.exp(log_w).mean(0))  # "naive"
    return my_iwae


def kl_numpy(mu, log_var):
    return torch.as_tensor(0.5 * (log_var.exp() + mu**2 - 1 - log_var).sum(-1).detach().numpy())


WRONG_ANSWERS = [
    ("ex-vae-gaussian-kl", lambda mu, log_var: 0.5 * (log_var.exp() + mu**2 - 1 - log_var),
     r"has shape \(3, 4\): sum the KL over the latents"),
    ("ex-vae-gaussian-kl", lambda mu, log_var: 0.5 * ((0.5 * log_var).exp() + mu**2 - 1 - log_var).sum(-1),
     r"you used sigma where the formula has sigma\^2"),
    ("ex-vae-gaussian-kl", lambda mu, log_var: (log_var.exp() + mu**2 - 1 - log_var).sum(-1),
     r"5 random samples .* is wrong at index"),
    ("ex-vae-gaussian-kl", kl_numpy, r"torch tensor that autograd can differentiate"),
    ("ex-vae-iwae", iwae_variant("no-log-K"), r"too large by log K = 1\.946.*subtract log K"),
    ("ex-vae-iwae", iwae_variant("mean-log-weights"), r"mean of the log-weights, which is the K-sample ELBO"),
    ("ex-vae-iwae", iwae_variant("naive"), r"underflows to 0 .*use torch\.logsumexp"),
]


def test_correct_alternatives_pass():
    """Other correct ways of writing a solution pass too (the checks test behaviour, not the code)."""
    all_checks()["ex-vae-gaussian-kl"](lambda mu, log_var: torch.distributions.kl_divergence(
        torch.distributions.Normal(mu, (0.5 * log_var).exp()), torch.distributions.Normal(0.0, 1.0)).sum(-1))
