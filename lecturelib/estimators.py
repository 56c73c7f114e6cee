"""Monte-Carlo gradient estimators of ``grad_theta E_{h ~ q_theta}[f(h)]`` for a diagonal Gaussian q.

Chapter "The reparametrization trick" (05). The parameters are ``theta = (mu, log_var)`` of
``q_theta = N(mu, diag exp(log_var))``, flattened into one vector of length ``2 d``.

- Score function (REINFORCE, Williams 1992): ``f(h) grad_theta log q_theta(h)``, h ~ q_theta.
- Reparametrized (Kingma & Welling 2014): ``grad_theta f(mu + exp(log_var / 2) eps)``, eps ~ N(0, I).

Both are unbiased; :func:`gradient_samples` returns one single-draw estimate per row, computed for
all draws at once with ``torch.func.vmap`` so that their variance can be measured.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import Tensor
from torch.func import grad, vmap

from lecturelib.validation import check_finite, check_int, check_number, check_tensor
from lecturelib.vae import diagonal_gaussian_log_prob

ESTIMATORS = ("score", "reparam")

__all__ = ["ESTIMATORS", "gradient_samples", "estimate_gradient", "estimator_variance",
           "quadratic_objective", "quadratic_expectation_gradient"]


def _check(mu: Tensor, log_var: Tensor, estimator: str, num_samples: int, baseline: float) -> int:
    """Check the arguments shared by every estimator; return ``num_samples`` as an int."""
    for name, value in (("mu", mu), ("log_var", log_var)):
        if not isinstance(value, Tensor) or not value.is_floating_point():
            raise ValueError(f"{name} must be a floating-point torch tensor (d,), got {type(value).__name__}")
    if mu.ndim != 1 or mu.shape != log_var.shape:
        raise ValueError(f"mu and log_var must be vectors of the same length, got {tuple(mu.shape)} and {tuple(log_var.shape)}")
    check_finite(mu, "mu")
    check_finite(log_var, "log_var")
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator={estimator!r} is not known; expected one of {ESTIMATORS}")
    check_number(baseline, "baseline")
    return check_int(num_samples, "num_samples", minimum=1)


def gradient_samples(f: Callable[[Tensor], Tensor], mu: Tensor, log_var: Tensor, num_samples: int,
                     estimator: str = "reparam", *, baseline: float = 0.0,
                     generator: torch.Generator | None = None) -> Tensor:
    """``num_samples`` independent single-draw estimates of ``grad_(mu, log_var) E_q[f(h)]``.

    ``f`` maps one latent ``h`` ``(d,)`` to a scalar (written with torch operations so that it can
    be differentiated and vmapped). ``baseline`` is subtracted from ``f`` in the score-function
    estimator (a control variate; it keeps the estimator unbiased). Returns ``(num_samples, 2 d)``:
    the gradient with respect to ``mu`` in the first ``d`` columns, ``log_var`` in the last ``d``.
    """
    num_samples = _check(mu, log_var, estimator, num_samples, baseline)
    theta = torch.cat([mu, log_var]).detach()
    d = mu.shape[0]
    eps = torch.randn(num_samples, d, dtype=mu.dtype, generator=generator,
                      device=generator.device if generator is not None else mu.device).to(mu.device)

    if estimator == "reparam":
        def single(theta: Tensor, e: Tensor) -> Tensor:
            return f(theta[:d] + torch.exp(0.5 * theta[d:]) * e)
        return vmap(grad(single), in_dims=(None, 0))(theta, eps)

    h = (theta[:d] + torch.exp(0.5 * theta[d:]) * eps).detach()  # draws; no path through h
    values = vmap(f)(h) - baseline

    def log_q(theta: Tensor, h: Tensor) -> Tensor:
        return diagonal_gaussian_log_prob(h, theta[:d], theta[d:])
    scores = vmap(grad(log_q), in_dims=(None, 0))(theta, h)
    return values[:, None] * scores


def estimate_gradient(f: Callable[[Tensor], Tensor], mu: Tensor, log_var: Tensor, num_samples: int,
                      estimator: str = "reparam", *, baseline: float = 0.0,
                      generator: torch.Generator | None = None) -> Tensor:
    """The ``num_samples``-draw Monte-Carlo gradient estimate, ``(2 d,)`` (mean of :func:`gradient_samples`)."""
    return gradient_samples(f, mu, log_var, num_samples, estimator, baseline=baseline, generator=generator).mean(0)


def estimator_variance(f: Callable[[Tensor], Tensor], mu: Tensor, log_var: Tensor,
                       num_samples: list[int] | tuple[int, ...], estimator: str = "reparam", *,
                       num_repeats: int = 200, baseline: float = 0.0, seed: int = 0) -> np.ndarray:
    """Empirical total variance (trace of the covariance) of the N-draw estimator, for each N.

    For each N in ``num_samples``, ``num_repeats`` independent N-draw estimates are formed and the
    variances of their ``2 d`` coordinates summed. Returns an array shaped like ``num_samples``;
    it falls like ``1 / N`` for both estimators, with very different constants.
    """
    num_repeats = check_int(num_repeats, "num_repeats", minimum=2)
    generator = torch.Generator(device="cpu").manual_seed(check_int(seed, "seed", minimum=0))
    out = []
    for n in num_samples:
        n = check_int(n, "num_samples", minimum=1)
        g = gradient_samples(f, mu, log_var, n * num_repeats, estimator, baseline=baseline,
                             generator=generator)
        estimates = g.reshape(num_repeats, n, -1).mean(1)
        out.append(float(estimates.var(0).sum()))
    return np.array(out)


def quadratic_objective(a: Tensor) -> Callable[[Tensor], Tensor]:
    """``f(h) = |h - a|^2``, whose Gaussian expectation ``|mu - a|^2 + sum exp(log_var)`` is closed form."""
    check_tensor(a, "a", ndim=1, layout="(d,)", finite=True)
    def f(h: Tensor) -> Tensor:
        return (h - a).pow(2).sum(-1)
    return f


def quadratic_expectation_gradient(mu: Tensor, log_var: Tensor, a: Tensor) -> Tensor:
    """Exact ``grad_(mu, log_var) E_q |h - a|^2 = (2 (mu - a), exp(log_var))``, ``(2 d,)``."""
    for name, value in (("mu", mu), ("log_var", log_var), ("a", a)):
        check_tensor(value, name, ndim=1, layout="(d,)", finite=True)
    if not mu.shape == log_var.shape == a.shape:
        raise ValueError(f"mu, log_var and a must have one length, got {tuple(mu.shape)}, {tuple(log_var.shape)} "
                         f"and {tuple(a.shape)}")
    return torch.cat([2 * (mu - a), torch.exp(log_var)])
