"""Checks of the code exercises of the chapters "Autoencoders" (02) and "Denoising autoencoders" (03).

Each check runs the student's function on small cases whose answers are known in closed form
(an orthonormal dictionary, a diagonal covariance, two data points) or come from the library's
tested implementations (:mod:`lecturelib.sparse_coding`, :mod:`lecturelib.autoencoders`) or from
autograd, and names the typical mistakes it recognises (a missing chain-rule factor, the
Frobenius norm for :math:`L_D`, dropout's rescaling, ...).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from lecturelib import autoencoders as ae
from lecturelib import sparse_coding
from lecturelib.exercises.checks import CheckFailed, as_numpy, exercise_check, expect_close, expect_number, expect_shape

__all__ = [
    "check_logit_gradients", "check_tied_ista_step", "check_kl_sparsity",                 # 02
    "check_optimal_denoiser", "check_linear_denoiser", "check_masking_noise",             # 03
]


def _close(value: np.ndarray, expected: np.ndarray, rtol: float = 1e-6, atol: float = 1e-9) -> bool:
    return value.shape == np.shape(expected) and bool(np.allclose(value, expected, rtol=rtol, atol=atol))


# --------------------------------------------------------------------------------------------
# chapter 02: autoencoders
# --------------------------------------------------------------------------------------------
def _autograd_logit_gradients(a: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reference: d/da of the per-entry cross-entropy and half squared error, by autograd."""
    a_t = torch.tensor(a, dtype=torch.float64, requires_grad=True)
    x_t = torch.tensor(x, dtype=torch.float64)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(a_t, x_t, reduction="sum")
    g_bce, = torch.autograd.grad(bce, a_t)
    se = 0.5 * (torch.sigmoid(a_t) - x_t).pow(2).sum()
    g_se, = torch.autograd.grad(se, a_t)
    return g_bce.numpy(), g_se.numpy()


@exercise_check("ex-ae-bce-gradient",
                "logit_gradients(a, x) -> (grad_bce, grad_se): both losses' derivatives with respect to the logits")
def check_logit_gradients(logit_gradients: Callable) -> str:
    a = np.array([[-2.0, 0.0, 1.5, 10.0], [3.0, -1.0, 0.5, -10.0]])
    x = np.array([[0.0, 1.0, 0.3, 0.0], [1.0, 0.2, 0.5, 1.0]])
    what = "logit_gradients(a, x) for a 2x4 case"
    result = logit_gradients(a.copy(), x.copy())
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        raise CheckFailed(f"{what} should return a pair (grad_bce, grad_se), got {type(result).__name__}")
    g_bce = expect_shape(result[0], a.shape, f"grad_bce of {what}")
    g_se = expect_shape(result[1], a.shape, f"grad_se of {what}")
    ref_bce, ref_se = _autograd_logit_gradients(a, x)
    if _close(g_bce, ref_se) and _close(g_se, ref_bce):
        raise CheckFailed(f"{what}: the two gradients are swapped; return (grad_bce, grad_se) in that order")
    if _close(g_bce, -ref_bce):
        raise CheckFailed(f"{what}: grad_bce has the wrong sign; it is x_hat - x (positive when the output is "
                          "too large, so gradient descent lowers the logit)")
    expect_close(g_bce, ref_bce, f"grad_bce of {what} (autograd's d/da of the cross-entropy)", rtol=1e-6, atol=1e-9)
    if _close(g_se, ref_bce):
        raise CheckFailed(f"{what}: grad_se equals x_hat - x; the squared error is a function of x_hat = "
                          "sigmoid(a), so the chain rule adds the factor sigmoid'(a) = x_hat (1 - x_hat)")
    if _close(g_se, -ref_se):
        raise CheckFailed(f"{what}: grad_se has the wrong sign; it is (x_hat - x) x_hat (1 - x_hat)")
    expect_close(g_se, ref_se, f"grad_se of {what} (autograd's d/da of 0.5 (x_hat - x)^2)", rtol=1e-6, atol=1e-12)
    saturated = ref_bce[0, 3] / ref_se[0, 3]
    return (f"equal to autograd on 8 entries; at a = 10, x = 0 the cross-entropy's gradient is "
            f"{saturated:.0f} times the squared error's.")


def _orthonormal_case() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    D = np.linalg.qr(rng.standard_normal((6, 4)))[0].T  # 4 orthonormal atoms in R^6, L_D = 1
    return rng.standard_normal((5, 6)), D


def _tied_mistakes(value: np.ndarray, X: np.ndarray, D: np.ndarray, lam: float, what: str) -> None:
    """Name the typical mistake if ``value`` matches one on this case."""
    L = sparse_coding.lipschitz_constant(D)
    frobenius = float(np.sum(D ** 2))
    wrong = {
        "returned X D^T / L_D without the soft-threshold S_(lam / L_D)": X @ D.T / L,
        "L_D is the largest singular value of D squared, np.linalg.norm(D, 2) ** 2, not the squared "
        "Frobenius norm": sparse_coding.soft_threshold(X @ D.T / frobenius, lam / frobenius),
        "the threshold is lam / L_D, not lam": sparse_coding.soft_threshold(X @ D.T / L, lam),
        "the gradient step has size 1 / L_D: threshold X D^T / L_D, not X D^T":
            sparse_coding.soft_threshold(X @ D.T, lam / L),
    }
    for hint, candidate in wrong.items():
        if _close(value, candidate):
            raise CheckFailed(f"{what}: {hint}")


@exercise_check("ex-ae-tied-encoder",
                "tied_encoder(X, D, lam) -> H: the tied soft-threshold encoder, one ISTA step from zero")
def check_tied_ista_step(tied_encoder: Callable) -> str:
    # 1. Orthonormal atoms: L_D = 1 and the code is S_lam(X D^T) (closed form).
    X, D = _orthonormal_case()
    lam = 0.4
    what = "tied_encoder(X, D, lam=0.4) for 4 orthonormal atoms in R^6 (L_D = 1) and X 5x6"
    value = expect_shape(tied_encoder(X.copy(), D.copy(), lam), (5, 4), what)
    expected = sparse_coding.soft_threshold(X @ D.T, lam)
    if not _close(value, expected):
        _tied_mistakes(value, X, D, lam, what)
        expect_close(value, expected, what + " (closed form: S_lam(X D^T))", rtol=1e-9, atol=1e-9)

    # 2. A dictionary with L_D = ||D||_2^2 != 1: the step and the threshold both scale with 1 / L_D.
    rng = np.random.default_rng(1)
    D = 2.0 * rng.standard_normal((7, 5))
    X = rng.standard_normal((6, 5))
    lam = 0.5
    what = "tied_encoder(X, D, lam=0.5) for a random 7x5 dictionary (L_D about 54) and X 6x5"
    value = expect_shape(tied_encoder(X.copy(), D.copy(), lam), (6, 7), what)
    reference = sparse_coding.ista(X, D, lam, max_iter=1, stop="none")
    if not _close(value, reference):
        _tied_mistakes(value, X, D, lam, what)
        expect_close(value, reference, what + " (one ISTA step from H = 0: S_(lam / L_D)(X D^T / L_D))",
                     rtol=1e-6, atol=1e-9)
    sparsity = float(np.mean(value == 0))
    return f"2 cases: orthonormal atoms (closed form) and a random dictionary ({sparsity:.0%} of codes exactly 0)."


def _bernoulli_kl(rho: float, rho_hat: np.ndarray) -> np.ndarray:
    return rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))


@exercise_check("ex-ae-kl-sparsity",
                "kl_sparsity_penalty(H, rho) -> float: sum over code units of KL(rho || mean activation)")
def check_kl_sparsity(kl_sparsity_penalty: Callable) -> str:
    # 1. Every unit's mean activation equals the target: the penalty is exactly 0.
    H = np.array([[0.0, 0.2, 0.1], [0.2, 0.0, 0.1]])
    what = "kl_sparsity_penalty(H, rho=0.1) for H = [[0, 0.2, 0.1], [0.2, 0, 0.1]] (every unit's mean is 0.1)"
    value = expect_number(kl_sparsity_penalty(H.copy(), 0.1), what)
    if abs(value) > 1e-9:
        raise CheckFailed(f"{what} should be 0 (the penalty vanishes when each unit's mean activation, over the "
                          f"batch, equals rho), got {value:.6g}; average each column of H before taking the KL")

    # 2. Hand-worked: means 0.5 and 0.2 for rho = 0.1.
    H = np.array([[0.4, 0.1], [0.6, 0.3]])
    rho = 0.1
    rho_hat = H.mean(0)
    expected = float(_bernoulli_kl(rho, rho_hat).sum())
    what = "kl_sparsity_penalty(H, rho=0.1) for H = [[0.4, 0.1], [0.6, 0.3]] (mean activations 0.5 and 0.2)"
    value = expect_number(kl_sparsity_penalty(H.copy(), rho), what)
    wrong = {
        "the KL is the wrong way round: the penalty is KL(rho || rho_hat_j) = rho log(rho / rho_hat_j) + "
        "(1 - rho) log((1 - rho) / (1 - rho_hat_j))": float(_bernoulli_kl(rho_hat, np.full(2, rho)).sum()),
        "sum the KL over the code units, do not average it": float(_bernoulli_kl(rho, rho_hat).mean()),
        "take the mean activation of each unit over the batch first, then the KL (not the KL of each "
        "sample's activation)": float(_bernoulli_kl(rho, H).sum(1).mean()),
    }
    if abs(value - expected) > 1e-9 * max(1.0, abs(expected)):
        for hint, candidate in wrong.items():
            if abs(value - candidate) < 1e-9 * max(1.0, abs(candidate)):
                raise CheckFailed(f"{what}: {hint}")
        raise CheckFailed(f"{what} should be {expected:.6g}, got {value:.6g}")

    # 3. A random batch of sigmoid codes, against the library's penalty.
    rng = np.random.default_rng(2)
    H = 1 / (1 + np.exp(-rng.standard_normal((20, 8)) - 1.0))
    expected = float(ae.kl_sparsity_penalty(torch.from_numpy(H), 0.05))
    what = "kl_sparsity_penalty(H, rho=0.05) for a random 20x8 batch of sigmoid codes"
    value = expect_number(kl_sparsity_penalty(H.copy(), 0.05), what)
    if abs(value - expected) > 1e-7 * max(1.0, abs(expected)):
        raise CheckFailed(f"{what} should be {expected:.6g} (lecturelib.autoencoders.kl_sparsity_penalty), "
                          f"got {value:.6g}")
    return "3 cases: means equal to the target (0), a hand-worked 2x2 batch, a random batch."


# --------------------------------------------------------------------------------------------
# chapter 03: denoising autoencoders
# --------------------------------------------------------------------------------------------
def _posterior_mean(X_tilde: np.ndarray, data: np.ndarray, sigma: float) -> np.ndarray:
    """Reference E[x | x_tilde] for x uniform on the rows of ``data``, by Tweedie's formula and autograd."""
    x_t = torch.tensor(X_tilde, dtype=torch.float64, requires_grad=True)
    points = torch.tensor(data, dtype=torch.float64)
    log_p = torch.logsumexp(-torch.cdist(x_t, points).pow(2) / (2 * sigma ** 2), dim=1).sum()
    score, = torch.autograd.grad(log_p, x_t)
    return (x_t + sigma ** 2 * score).detach().numpy()


@exercise_check("ex-dae-optimal-denoiser",
                "optimal_denoiser(X_tilde, data, sigma) -> X_hat: E[x | x_tilde] for x drawn from the rows of data")
def check_optimal_denoiser(optimal_denoiser: Callable) -> str:
    # 1. A single data point: the posterior is certain.
    data = np.array([[0.5, -1.0]])
    X_tilde = np.array([[0.0, 0.0], [3.0, 2.0], [0.5, -1.0]])
    what = "optimal_denoiser(X_tilde, data, sigma=0.3) with one data point (0.5, -1)"
    value = expect_shape(optimal_denoiser(X_tilde.copy(), data.copy(), 0.3), (3, 2), what)
    scale = value @ data[0] / (data[0] @ data[0])
    if _close(value, scale[:, None] * data) and not np.allclose(scale, 1.0):
        raise CheckFailed(f"{what} gave multiples {np.round(scale, 3).tolist()} of the point: normalise the "
                          "weights, they are the posterior probabilities of the data points and sum to 1")
    expect_close(value, np.repeat(data, 3, axis=0), what + " (every x_tilde must map to that point)",
                 rtol=1e-9, atol=1e-9)

    # 2. Two points -1 and +1 on a line: E[x | t] = tanh(t / sigma^2) (closed form).
    data = np.array([[-1.0], [1.0]])
    t = np.array([[-1.5], [-0.2], [0.0], [0.3], [2.0]])
    sigma = 0.8
    what = "optimal_denoiser(X_tilde, data=[[-1], [1]], sigma=0.8) at t = -1.5, -0.2, 0, 0.3, 2"
    value = expect_shape(optimal_denoiser(t.copy(), data.copy(), sigma), (5, 1), what)
    expected = np.tanh(t / sigma ** 2)
    if not _close(value, expected):
        wrong = {
            "the Gaussian's exponent is -||x_tilde - x_i||^2 / (2 sigma^2), with sigma squared":
                np.tanh(t / sigma),
            "weight every data point by its posterior probability instead of picking the nearest one":
                np.sign(t) + (t == 0) * -1.0,
        }
        for hint, candidate in wrong.items():
            if _close(value, candidate):
                raise CheckFailed(f"{what}: {hint}")
        expect_close(value, expected, what + " (closed form: tanh(t / sigma^2))", rtol=1e-6, atol=1e-9)

    # 3. Far from the data with a small sigma: exp underflows unless the weights are a softmax.
    data = np.array([[0.0, 0.0], [10.0, 0.0]])
    X_tilde = np.array([[30.0, 0.0], [-30.0, 1.0]])
    what = "optimal_denoiser(X_tilde, data, sigma=0.1) for x_tilde far from both data points"
    value = as_numpy(optimal_denoiser(X_tilde.copy(), data.copy(), 0.1), what)
    if value.shape == (2, 2) and not np.all(np.isfinite(value)):
        raise CheckFailed(f"{what} gave NaN: exp(-||x_tilde - x_i||^2 / (2 sigma^2)) underflows to 0 for every "
                          "point; subtract the largest exponent first (a softmax, or scipy.special.logsumexp)")
    expect_close(value, [[10.0, 0.0], [0.0, 0.0]], what + " (the nearer point takes all the weight)",
                 rtol=1e-9, atol=1e-9)

    # 4. Random 3-D data: Tweedie's formula x_tilde + sigma^2 grad log p_sigma(x_tilde), by autograd.
    rng = np.random.default_rng(3)
    data, X_tilde = rng.standard_normal((40, 3)), 1.5 * rng.standard_normal((7, 3))
    what = "optimal_denoiser(X_tilde, data, sigma=0.7) for 40 random points in R^3 and 7 queries"
    value = expect_shape(optimal_denoiser(X_tilde.copy(), data.copy(), 0.7), (7, 3), what)
    expect_close(value, _posterior_mean(X_tilde, data, 0.7),
                 what + " (Tweedie: x_tilde + sigma^2 grad log p_sigma(x_tilde))", rtol=1e-6, atol=1e-9)
    return "4 cases: one point, two points (tanh closed form), far queries (no underflow), Tweedie's formula."


def _diagonal_case() -> np.ndarray:
    """Six centred points whose covariance (divided by n) is exactly diag(4, 1, 0.25)."""
    base = np.array([[2, 0, 0], [-2, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 0.5], [0, 0, -0.5]], dtype=float)
    return np.sqrt(3.0) * base


def _linear_denoiser(X: np.ndarray, sigma: float, ddof: int = 0) -> np.ndarray:
    Sigma = np.cov(X, rowvar=False, ddof=ddof)
    return Sigma @ np.linalg.inv(Sigma + sigma ** 2 * np.eye(X.shape[1]))


@exercise_check("ex-dae-linear",
                "optimal_linear_denoiser(X, sigma) -> A: the best linear denoiser Sigma (Sigma + sigma^2 I)^-1")
def check_linear_denoiser(optimal_linear_denoiser: Callable) -> str:
    # 1. Covariance diag(4, 1, 0.25), sigma = 0.5: A = diag(4 / 4.25, 1 / 1.25, 0.25 / 0.5).
    X = _diagonal_case()
    what = "optimal_linear_denoiser(X, sigma=0.5) for data with covariance diag(4, 1, 0.25)"
    value = expect_shape(optimal_linear_denoiser(X.copy(), 0.5), (3, 3), what)
    expected = np.diag([4 / 4.25, 1 / 1.25, 0.25 / 0.5])
    # The unbiased covariance (divided by n - 1) is accepted too.
    if not (_close(value, expected) or _close(value, _linear_denoiser(X, 0.5, ddof=1))):
        if _close(value, np.diag([4 / 4.5, 1 / 1.5, 0.25 / 0.75])):
            raise CheckFailed(f"{what}: add the noise variance sigma^2 to Sigma, not sigma")
        expect_close(value, expected, what + " (closed form: lambda_i / (lambda_i + sigma^2) on the diagonal)",
                     rtol=1e-6, atol=1e-9)

    # 2. Random, not centred data: Sigma is the covariance, about the mean.
    rng = np.random.default_rng(4)
    X = 3.0 + rng.standard_normal((200, 4)) @ rng.standard_normal((4, 4))
    what = "optimal_linear_denoiser(X, sigma=0.8) for 200 random points in R^4 with mean 3"
    value = expect_shape(optimal_linear_denoiser(X.copy(), 0.8), (4, 4), what)
    if not (_close(value, _linear_denoiser(X, 0.8)) or _close(value, _linear_denoiser(X, 0.8, ddof=1))):
        second_moment = X.T @ X / len(X)
        if _close(value, second_moment @ np.linalg.inv(second_moment + 0.64 * np.eye(4))):
            raise CheckFailed(f"{what}: Sigma is the covariance, so centre X (subtract its mean) before X^T X / n")
        expect_close(value, _linear_denoiser(X, 0.8), what + " (Sigma (Sigma + sigma^2 I)^-1)", rtol=1e-6, atol=1e-9)

    # 3. No noise: the identity.
    what = "optimal_linear_denoiser(X, sigma=0) (without noise the best map is the identity)"
    expect_close(optimal_linear_denoiser(X.copy(), 0.0), np.eye(4), what, rtol=1e-6, atol=1e-8)
    return "3 cases: a diagonal covariance (closed form), random uncentred data, sigma = 0."


@exercise_check("ex-dae-masking",
                "masking_noise(x, p, generator=None) -> x_tilde: each entry set to 0 independently with probability p")
def check_masking_noise(masking_noise: Callable) -> str:
    def call(x: torch.Tensor, p: float, seed: int) -> torch.Tensor:
        return masking_noise(x, p, generator=torch.Generator().manual_seed(seed))

    # 1. Shape, values kept as they are, input left alone.
    x = torch.rand(200, 500, generator=torch.Generator().manual_seed(0), dtype=torch.float64) + 0.5
    original = x.clone()
    what = "masking_noise(x, p=0.3) for x of shape (200, 500) with entries in [0.5, 1.5)"
    x_tilde = expect_shape(call(x, 0.3, seed=1), (200, 500), what)
    if not torch.equal(x, original):
        raise CheckFailed(f"{what} changed x in place; return a new tensor (torch.where or x * mask)")
    kept = x_tilde != 0
    reference = original.numpy()
    if np.allclose(x_tilde[kept], reference[kept] / 0.7):
        raise CheckFailed(f"{what} scales the kept entries by 1 / (1 - p): that is dropout; masking noise "
                          "leaves them as they are")
    if not np.array_equal(x_tilde[kept], reference[kept]):
        raise CheckFailed(f"{what} changed entries it did not mask; each entry is either x or 0")

    # 2. The rate: zeroed with probability p, not 1 - p.
    fraction = 1 - kept.mean()
    if abs(fraction - 0.7) < 0.01:
        raise CheckFailed(f"{what} zeroed {fraction:.1%} of the entries, about 1 - p: zero an entry where "
                          "the uniform draw is below p (it happens with probability p)")
    if abs(fraction - 0.3) > 0.01:
        raise CheckFailed(f"{what} zeroed {fraction:.1%} of the entries; expected about 30%")

    # 3. Independently per entry (not whole samples or whole features).
    rows, columns = 1 - kept.mean(1), 1 - kept.mean(0)
    if rows.std() > 0.1 or columns.std() > 0.1:
        raise CheckFailed(f"{what}: the fraction masked varies from {min(rows.min(), columns.min()):.0%} to "
                          f"{max(rows.max(), columns.max()):.0%} across samples or features; draw one uniform "
                          "number per entry, torch.rand(x.shape, generator=generator)")

    # 4. The generator makes it reproducible; p = 0 and p = 1.
    again = as_numpy(call(x, 0.3, seed=1), what)
    other = as_numpy(call(x, 0.3, seed=2), what)
    if not np.array_equal(again, x_tilde) or np.array_equal(other, x_tilde):
        raise CheckFailed(f"{what}: the mask must come from the generator passed in (the same seed gives the "
                          "same mask, another seed another); pass generator=generator to torch.rand")
    expect_close(call(x, 0.0, seed=3), original.numpy(), "masking_noise(x, p=0) (nothing is masked)", rtol=0, atol=0)
    expect_close(call(x, 1.0, seed=3), np.zeros((200, 500)), "masking_noise(x, p=1) (everything is masked)",
                 rtol=0, atol=0)
    return f"100,000 entries at p = 0.3: {fraction:.1%} masked, independently, reproducibly; p = 0 and p = 1."
