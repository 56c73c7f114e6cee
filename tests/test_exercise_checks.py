"""The autograded checks of the code exercises (``lecturelib.exercises.check_*``).

For every solution code cell of every chapter: a check is registered under its exercise's label and
called in the cell right after it; the chapter's own solution (the function defined in that cell)
passes it; the student version of the cell (``notebooks.student_version``: the solution replaced by a
stub raising ``NotImplementedError``) fails with "not implemented yet". Every registered check has
such a cell. Typical wrong answers fail with a message that says what is wrong.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from lecturelib import exercises
from lecturelib.exercises import CheckFailed, all_checks
from lecturelib.exercises import notebooks as exnb
from lecturelib.vae import log_weights

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CHECK_CALL = re.compile(r"\bexercises\.(check_\w+)\(\s*(\w+)\s*\)")


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@dataclass
class SolutionCell:
    chapter: str
    label: str
    prelude: str        # the chapter's import cells
    source: str         # the solution cell
    student: str        # the same cell in the student notebook
    following: str      # the code cell after it

    def function_names(self) -> list[str]:
        return [n.name for n in ast.parse(self.source).body if isinstance(n, ast.FunctionDef)]

    def define(self, student: bool = False):
        """Execute the chapter's imports and the (student or solution) cell; return the function it defines."""
        namespace: dict = {}
        exec(compile(self.prelude, f"<{self.chapter} imports>", "exec"), namespace)
        exec(compile(self.student if student else self.source, f"<{self.chapter} {self.label}>", "exec"), namespace)
        (name,) = self.function_names()
        return namespace[name]


def only_imports(source: str) -> bool:
    try:
        body = ast.parse(source).body
    except SyntaxError:  # IPython magics: not an import cell
        return False
    return bool(body) and all(isinstance(node, (ast.Import, ast.ImportFrom)) for node in body)


def solution_cells() -> list[SolutionCell]:
    cells = []
    for path in CHAPTERS:
        nb = nbformat.read(path, as_version=4)
        student = exnb.student_version(nb)
        prelude = "\n".join(c.source for c in nb.cells if c.cell_type == "code" and only_imports(c.source))
        for index, label in exnb.solution_cells(nb):
            following = next((c.source for c in nb.cells[index + 1:index + 2] if c.cell_type == "code"), "")
            cells.append(SolutionCell(path.name, label, prelude, nb.cells[index].source, student.cells[index].source,
                                      following))
    return cells


SOLUTIONS = solution_cells()
IDS = [f"{cell.chapter[:2]}:{cell.label}" for cell in SOLUTIONS]


def test_chapters_have_code_exercises():
    assert SOLUTIONS, "no solution code cell found in the chapters"


@pytest.mark.parametrize("cell", SOLUTIONS, ids=IDS)
def test_solution_cell_defines_one_function_and_the_next_cell_checks_it(cell):
    assert cell.label in all_checks(), (f"{cell.chapter}: exercise {cell.label} has a solution code cell but no "
                                        "registered check (lecturelib/exercises/<topic>.py, exercise_check)")
    names = cell.function_names()
    assert len(names) == 1, f"{cell.chapter} {cell.label}: the solution cell must define exactly one function, got {names}"
    calls = CHECK_CALL.findall(cell.following)
    assert calls, f"{cell.chapter} {cell.label}: the cell after the solution must call exercises.check_...({names[0]})"
    check_name, argument = calls[0]
    assert getattr(exercises, check_name, None) is all_checks()[cell.label], \
        f"{cell.chapter}: exercises.{check_name} is not the check registered for {cell.label}"
    assert argument == names[0]


@pytest.mark.parametrize("cell", SOLUTIONS, ids=IDS)
def test_chapter_solution_passes_its_check(cell, capsys):
    message = all_checks()[cell.label](cell.define())
    assert message.startswith(f"{cell.label}: passed.")
    assert message in capsys.readouterr().out


@pytest.mark.parametrize("cell", SOLUTIONS, ids=IDS)
def test_student_stub_fails_with_not_implemented(cell):
    stub = cell.define(student=True)
    with pytest.raises(CheckFailed, match=rf"^{cell.label}: not implemented yet .*Exercise {cell.label}"):
        all_checks()[cell.label](stub)


def test_every_check_has_a_chapter_solution_and_is_exported():
    assert set(all_checks()) == {cell.label for cell in SOLUTIONS}, "a registered check has no solution cell"
    exported = {getattr(exercises, name) for name in exercises.__all__ if name.startswith("check_")}
    assert set(all_checks().values()) == exported, "export every check from lecturelib.exercises as check_<name>"
    for label, check in all_checks().items():
        assert re.fullmatch(r"ex-[a-z0-9]+-[a-z0-9-]+", label) and check.description


# --- typical wrong answers ---------------------------------------------------------------------

def fista_variant(momentum: bool = True, frobenius: bool = False, return_y: bool = False):
    def my_fista(X, D, lam, n_iter):
        lipschitz = np.sum(D**2) if frobenius else np.linalg.norm(D, 2) ** 2
        H = np.zeros((X.shape[0], D.shape[0]))
        Y, t = H, 1.0
        for _ in range(n_iter):
            H_next = np.sign(Y - (Y @ D - X) @ D.T / lipschitz) * np.maximum(
                np.abs(Y - (Y @ D - X) @ D.T / lipschitz) - lam / lipschitz, 0)
            t_next = (1 + math.sqrt(1 + 4 * t**2)) / 2
            Y = H_next + ((t - 1) / t_next if momentum else 0.0) * (H_next - H)
            H, t = H_next, t_next
        return Y if return_y else H
    return my_fista


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


def kl_numpy(mu, log_var):
    return torch.as_tensor(0.5 * (log_var.exp() + mu**2 - 1 - log_var).sum(-1).detach().numpy())


WRONG_ANSWERS = [
    ("ex-sparse-soft-threshold", lambda z, t: np.maximum(z - t, 0), r"negative inputs must shrink towards zero"),
    ("ex-sparse-soft-threshold", lambda z, t: z, r"returned z unchanged"),
    ("ex-sparse-soft-threshold", lambda z, t: np.where(np.abs(z) > t, z, 0.0),  # hard thresholding
     r"wrong at index \(0,\): expected -2, got -3"),
    ("ex-sparse-soft-threshold", lambda z, t: float(np.sum(np.sign(z) * np.maximum(np.abs(z) - t, 0))),
     r"should have shape \(7,\), got \(\)"),
    ("ex-sparse-fista", fista_variant(momentum=False), r"gives ISTA's codes: take the step from the extrapolated"),
    ("ex-sparse-fista", fista_variant(frobenius=True), r"Frobenius norm of D"),
    ("ex-sparse-fista", fista_variant(return_y=True), r"differs from FISTA's iterates .*return H_k, not the extrapolated Y"),
    ("ex-sparse-fista", lambda X, D, lam, n_iter: fista_variant()(X, D, lam, n_iter).T, r"should have shape \(3, 4\), got \(4, 3\)"),
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
    ("ex-reparam-sampler", sampler_variant("eps-L"), r"you computed eps @ L, whose covariance is L\^T L"),
    ("ex-reparam-sampler", sampler_variant("cov"), r"multiplied the noise by cov itself"),
    ("ex-reparam-sampler", sampler_variant("no-mean"), r"the mean of 200000 draws is .*add the mean"),
    ("ex-reparam-sampler", sampler_variant("no-generator"), r"different draws for two generators with the same seed"),
    ("ex-reparam-sampler", sampler_variant("detach"), r"no gradient flows .*\.sample\(\)"),
    ("ex-reparam-sampler", sampler_variant("sample"), r"different draws for two generators"),  # .sample ignores it
    ("ex-reparam-score-baseline", score_variant("ignore-baseline"), r"the baseline changes nothing"),
    ("ex-reparam-score-baseline", score_variant("no-half"), r"is biased: .*d/dlog_var_\d.*\(\(h - mu\)\^2 / sigma\^2 - 1\) / 2"),
    ("ex-reparam-score-baseline", score_variant("transposed"), r"should have shape \(5, 6\), got \(6, 5\)"),
]


@pytest.mark.parametrize("label, wrong, message", WRONG_ANSWERS,
                         ids=[f"{label}-{i}" for i, (label, _, _) in enumerate(WRONG_ANSWERS)])
def test_wrong_answer_fails_with_a_helpful_message(label, wrong, message):
    with pytest.raises(CheckFailed, match=message) as error:
        all_checks()[label](wrong)
    assert str(error.value).startswith(f"{label}: ")


def test_every_check_is_tested_with_wrong_answers():
    assert {label for label, _, _ in WRONG_ANSWERS} == set(all_checks())


def test_correct_alternatives_pass():
    """Other correct ways of writing a solution pass too (the checks test behaviour, not the code)."""
    all_checks()["ex-sparse-soft-threshold"](lambda z, t: z - np.clip(z, -t, t))
    all_checks()["ex-vae-gaussian-kl"](lambda mu, log_var: torch.distributions.kl_divergence(
        torch.distributions.Normal(mu, (0.5 * log_var).exp()), torch.distributions.Normal(0.0, 1.0)).sum(-1))
    all_checks()["ex-reparam-sampler"](
        lambda mean, cov, n, generator: mean + torch.randn(n, mean.shape[0], generator=generator, dtype=mean.dtype)
        @ torch.linalg.cholesky(cov).mT)
