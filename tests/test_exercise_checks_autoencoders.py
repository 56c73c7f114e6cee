"""The checks of chapters 02 and 03 (lecturelib.exercises.autoencoders): each passes with the chapter's
own solution (executed from the notebook's solution cell), fails with "not implemented yet" on the
stub that the student notebook holds, and names the mistake on typical wrong answers."""

from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from lecturelib.exercises import all_checks
from lecturelib.exercises import autoencoders as checks
from lecturelib.exercises import notebooks as exnb
from lecturelib.exercises.checks import CheckFailed

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = {"02": ROOT / "notebooks" / "02_autoencoders.ipynb", "03": ROOT / "notebooks" / "03_denoising_autoencoders.ipynb"}

# exercise label -> (chapter, name of the function the exercise asks for, check)
EXERCISES = {
    "ex-ae-bce-gradient": ("02", "logit_gradients", checks.check_logit_gradients),
    "ex-ae-tied-encoder": ("02", "tied_encoder", checks.check_tied_ista_step),
    "ex-ae-kl-sparsity": ("02", "kl_sparsity_penalty", checks.check_kl_sparsity),
    "ex-dae-optimal-denoiser": ("03", "optimal_denoiser", checks.check_optimal_denoiser),
    "ex-dae-linear": ("03", "optimal_linear_denoiser", checks.check_linear_denoiser),
    "ex-dae-masking": ("03", "masking_noise", checks.check_masking_noise),
}


def solution_function(label: str, student: bool = False):
    """The function defined by the chapter's solution cell for ``label`` (or by its student stub)."""
    chapter, name, _ = EXERCISES[label]
    nb = nbformat.read(CHAPTERS[chapter], as_version=4)
    if student:
        nb = exnb.student_version(nb)
    cells = dict((label_, index) for index, label_ in exnb._solution_cells(nbformat.read(CHAPTERS[chapter],
                                                                                           as_version=4)))
    namespace = {"np": np, "torch": torch}
    exec(compile(nb.cells[cells[label]].source, f"<{label}>", "exec"), namespace)
    return namespace[name]


@pytest.mark.parametrize("label", EXERCISES)
def test_check_passes_with_the_chapter_solution(label):
    check = EXERCISES[label][2]
    assert check.label == label and all_checks()[label] is check
    assert "passed" in check(solution_function(label))


@pytest.mark.parametrize("label", EXERCISES)
def test_check_says_not_implemented_on_the_student_stub(label):
    with pytest.raises(CheckFailed, match=f"{label}: not implemented yet"):
        EXERCISES[label][2](solution_function(label, student=True))


@pytest.mark.parametrize("label", EXERCISES)
def test_chapter_calls_the_check_after_the_solution(label):
    chapter, name, check = EXERCISES[label]
    nb = nbformat.read(CHAPTERS[chapter], as_version=4)
    index = dict((l, i) for i, l in exnb._solution_cells(nb))[label]
    assert f"def {name}(" in nb.cells[index].source
    assert nb.cells[index + 1].source.strip().startswith(f"{check.run.__name__}({name})")


def test_every_code_exercise_of_the_chapters_has_a_check():
    labels = [label for path in CHAPTERS.values() for label in exnb.solution_labels(nbformat.read(path, as_version=4))]
    assert sorted(labels) == sorted(EXERCISES)


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


@pytest.mark.parametrize("wrong, message", [
    (lambda a, x: ((sigmoid(a) - x) * sigmoid(a) * (1 - sigmoid(a)), sigmoid(a) - x), "swapped"),
    (lambda a, x: (x - sigmoid(a), (sigmoid(a) - x) * sigmoid(a) * (1 - sigmoid(a))), "wrong sign"),
    (lambda a, x: (sigmoid(a) - x, sigmoid(a) - x), r"chain rule adds the factor sigmoid'\(a\)"),
    (lambda a, x: sigmoid(a) - x, "should return a pair"),
    (lambda a, x: (sigmoid(a) - x, (sigmoid(a) - x)[:1]), r"grad_se .* should have shape \(2, 4\)"),
])
def test_logit_gradients_wrong_answers(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_logit_gradients(wrong)


def soft(z, t):
    return np.sign(z) * np.maximum(np.abs(z) - t, 0)


@pytest.mark.parametrize("wrong, message", [
    (lambda X, D, lam: X @ D.T / np.linalg.norm(D, 2) ** 2, "without the soft-threshold"),
    (lambda X, D, lam: soft(X @ D.T / np.sum(D ** 2), lam / np.sum(D ** 2)), "not the squared Frobenius norm"),
    (lambda X, D, lam: soft(X @ D.T / np.linalg.norm(D, 2) ** 2, lam), "the threshold is lam / L_D, not lam"),
    (lambda X, D, lam: soft(X @ D.T, lam / np.linalg.norm(D, 2) ** 2), "gradient step has size 1 / L_D"),
    (lambda X, D, lam: soft(X @ D.T, lam)[:, :2], r"should have shape \(5, 4\)"),
])
def test_tied_encoder_wrong_answers(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_tied_ista_step(wrong)


def bernoulli_kl(p, q):
    return p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))


@pytest.mark.parametrize("wrong, message", [
    (lambda H, rho: bernoulli_kl(H.mean(0), rho).sum(), "wrong way round"),
    (lambda H, rho: bernoulli_kl(rho, H.mean(0)).mean(), "sum the KL over the code units"),
    (lambda H, rho: bernoulli_kl(rho, np.clip(H, 1e-3, 1 - 1e-3)).sum(1).mean(), "should be 0"),
    (lambda H, rho: bernoulli_kl(rho, H.mean(0)), "single number"),
    (lambda H, rho: 2 * bernoulli_kl(rho, H.mean(0)).sum(), r"should be 0\.404754, got 0\.809508"),
])
def test_kl_sparsity_wrong_answers(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_kl_sparsity(wrong)


def test_kl_sparsity_names_per_sample_kl():
    """A KL of each sample's activation (not of the batch mean) is recognised on the hand-worked case."""
    def per_sample(H, rho):
        if np.allclose(H.mean(0), rho):  # get past the first case to reach the named one
            return 0.0
        return bernoulli_kl(rho, H).sum(1).mean()

    with pytest.raises(CheckFailed, match="mean activation of each unit over the batch first"):
        checks.check_kl_sparsity(per_sample)


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


@pytest.mark.parametrize("wrong, message", [
    (lambda X, data, s: softmax_denoiser(X, data, s, exponent_scale=s), "with sigma squared"),
    (lambda X, data, s: softmax_denoiser(X, data, s, normalise=False), "normalise the weights"),
    (lambda X, data, s: data[np.argmin(((X[:, None] - data[None]) ** 2).sum(-1), axis=1)], "nearest one"),
    (naive_denoiser, "gave NaN: .* underflows"),
    (lambda X, data, s: X, r"index \(1, 1\): expected -1, got 2"),
])
def test_optimal_denoiser_wrong_answers(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_optimal_denoiser(wrong)


def linear_denoiser(X, sigma, centre=True, noise_variance=None):
    Xc = X - X.mean(0) if centre else X
    Sigma = Xc.T @ Xc / len(X)
    return Sigma @ np.linalg.inv(Sigma + (sigma ** 2 if noise_variance is None else noise_variance) * np.eye(X.shape[1]))


def test_linear_denoiser_accepts_the_unbiased_covariance():
    assert "passed" in checks.check_linear_denoiser(
        lambda X, s: np.cov(X, rowvar=False) @ np.linalg.inv(np.cov(X, rowvar=False) + s ** 2 * np.eye(X.shape[1])))


@pytest.mark.parametrize("wrong, message", [
    (lambda X, s: linear_denoiser(X, s, noise_variance=s), "sigma\\^2 to Sigma, not sigma"),
    (lambda X, s: linear_denoiser(X, s, centre=False), "centre X"),
    (lambda X, s: np.eye(X.shape[1]), r"index \(2, 2\): expected 0\.5, got 1"),
    (lambda X, s: np.eye(2), r"should have shape \(3, 3\)"),
])
def test_linear_denoiser_wrong_answers(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_linear_denoiser(wrong)


def uniform(x, generator):
    return torch.rand(x.shape, generator=generator, dtype=x.dtype)


@pytest.mark.parametrize("wrong, message", [
    (lambda x, p, generator=None: torch.where(uniform(x, generator) < p, x, torch.zeros_like(x)), "about 1 - p"),
    (lambda x, p, generator=None: torch.where(uniform(x, generator) < p, torch.zeros_like(x), x) / (1 - p)
     if p < 1 else torch.zeros_like(x), "that is dropout"),
    (lambda x, p, generator=None: x.masked_fill_(uniform(x, generator) < p, 0), "changed x in place"),
    (lambda x, p, generator=None: torch.where(torch.rand(x.shape[0], 1, generator=generator, dtype=x.dtype) < p,
                                              torch.zeros_like(x), x), "draw one uniform number per entry"),
    (lambda x, p, generator=None: torch.where(torch.rand(x.shape, dtype=x.dtype) < p, torch.zeros_like(x), x),
     "must come from the generator"),
    (lambda x, p, generator=None: x[:10], r"should have shape \(200, 500\)"),
])
def test_masking_noise_wrong_answers(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_masking_noise(wrong)


def test_masking_noise_accepts_the_library_version():
    from lecturelib import autoencoders as ae

    assert "passed" in checks.check_masking_noise(ae.masking_noise)
