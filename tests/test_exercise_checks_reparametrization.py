"""Typical wrong answers to the checks of chapter 05 (``lecturelib.exercises.reparametrization``).

The chapter's solution and the student stub are tested for every check by
``tests/test_exercise_checks.py``; this file holds the typical wrong answers (``WRONG_ANSWERS``,
which that file requires for every check) and other correct ways of writing a solution."""

import torch

from lecturelib.exercises import all_checks


def sampler_variant(kind: str):
    def my_sampler(mean, cov, n, generator):
        if kind == "sample":
            return torch.distributions.MultivariateNormal(mean, cov).sample((n,))
        L = torch.linalg.cholesky(cov)
        eps = torch.randn(n, mean.shape[0], dtype=mean.dtype,
                          generator=None if kind == "no-generator" else generator)
        if kind == "eps-L":
            return mean + eps @ L
        if kind == "cov":
            return mean + eps @ cov
        if kind == "no-mean":
            return eps @ L.T
        if kind == "detach":
            return (mean + eps @ L.T).detach()
        return mean + eps @ L.T
    return my_sampler


def score_variant(kind: str):
    def score_gradient(f, mu, log_var, num_samples, baseline, generator):
        eps = torch.randn(num_samples, mu.shape[0], generator=generator, dtype=mu.dtype)
        sigma = torch.exp(0.5 * log_var)
        half = 1.0 if kind == "no-half" else 0.5
        score = torch.cat([eps / sigma, half * (eps**2 - 1)], dim=1)
        b = 0.0 if kind == "ignore-baseline" else baseline
        out = (f(mu + sigma * eps) - b)[:, None] * score
        return out.T if kind == "transposed" else out
    return score_gradient


WRONG_ANSWERS = [
    ("ex-reparam-sampler", sampler_variant("eps-L"), r"you computed eps @ L, whose covariance is L\^T L"),
    ("ex-reparam-sampler", sampler_variant("cov"), r"multiplied the noise by cov itself"),
    ("ex-reparam-sampler", sampler_variant("no-mean"), r"the mean of 200000 draws is .*add the mean"),
    ("ex-reparam-sampler", sampler_variant("no-generator"), r"different draws for two generators with the same seed"),
    ("ex-reparam-sampler", sampler_variant("detach"), r"no gradient flows .*\.sample\(\)"),
    ("ex-reparam-sampler", sampler_variant("sample"), r"different draws for two generators"),  # .sample ignores it
    ("ex-reparam-score-baseline", score_variant("ignore-baseline"), r"the baseline changes nothing"),
    ("ex-reparam-score-baseline", score_variant("no-half"),
     r"is biased: .*d/dlog_var_\d.*\(\(h - mu\)\^2 / sigma\^2 - 1\) / 2"),
    ("ex-reparam-score-baseline", score_variant("transposed"), r"should have shape \(5, 6\), got \(6, 5\)"),
]


def test_correct_alternatives_pass():
    """Other correct ways of writing a solution pass too (the checks test behaviour, not the code)."""
    all_checks()["ex-reparam-sampler"](
        lambda mean, cov, n, generator: mean + torch.randn(n, mean.shape[0], generator=generator, dtype=mean.dtype)
        @ torch.linalg.cholesky(cov).mT)
