"""The six regularisers of the study against hand-computed values, and the paper's grids."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm

from lecturelib.models import regularizers as R

MU = torch.tensor([[1.0, 0.0], [0.0, -2.0]])
LOG_VAR = torch.tensor([[0.0, math.log(2.0)], [math.log(0.5), 0.0]])
# KL per entry: 0.5 (mu^2 + sigma^2 - log sigma^2 - 1)
KL_ROWS = [0.5 * (1 + 1 - 0 - 1) + 0.5 * (0 + 2 - math.log(2) - 1),
           0.5 * (0 + 0.5 - math.log(0.5) - 1) + 0.5 * (4 + 1 - 0 - 1)]
KL = sum(KL_ROWS) / 2


def test_kl_matches_hand_computation_and_torch_distributions():
    assert R.kl_loss(MU, LOG_VAR).item() == pytest.approx(KL, rel=1e-6)
    q = torch.distributions.Normal(MU, (0.5 * LOG_VAR).exp())
    p = torch.distributions.Normal(torch.zeros(2, 2), torch.ones(2, 2))
    assert R.kl_loss(MU, LOG_VAR).item() == pytest.approx(torch.distributions.kl_divergence(q, p).sum(1).mean().item())


def test_beta_vae_and_annealed_vae():
    assert R.beta_vae(MU, LOG_VAR, beta=4.0).item() == pytest.approx(4 * KL, rel=1e-6)
    # C(t) = c_max * min(1, t / T): 0 at the start, half way at T/2, c_max from T on
    assert R.annealed_capacity(0, 10.0, 100) == 0.0
    assert R.annealed_capacity(50, 10.0, 100) == pytest.approx(5.0)
    assert R.annealed_capacity(500, 10.0, 100) == pytest.approx(10.0)
    assert R.annealed_capacity(torch.tensor(50.0), torch.tensor(10.0), 100).item() == pytest.approx(5.0)
    value = R.annealed_vae(MU, LOG_VAR, gamma=1000.0, c_max=10.0, iteration_threshold=100, step=50)
    assert value.item() == pytest.approx(1000 * abs(KL - 5.0), rel=1e-5)
    value = R.annealed_vae(MU, LOG_VAR, gamma=2.0, c_max=0.5, iteration_threshold=100, step=100)
    assert value.item() == pytest.approx(2 * abs(KL - 0.5), rel=1e-6)


def test_permute_dims_keeps_marginals_and_breaks_dependence():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2000, 1, generator=g)
    z = torch.cat([x, x, 2 * x + 1], dim=1)  # perfectly dependent columns
    shuffled = R.permute_dims(z, torch.Generator().manual_seed(1))
    for j in range(3):  # each column is a permutation of itself: same marginal
        assert torch.equal(shuffled[:, j].sort().values, z[:, j].sort().values)
    corr = np.corrcoef(shuffled.T.numpy())
    assert np.abs(corr[np.triu_indices(3, 1)]).max() < 0.1  # dependence destroyed
    assert not torch.equal(shuffled[:, 0], shuffled[:, 1])  # columns shuffled independently
    again = R.permute_dims(z, torch.Generator().manual_seed(1))
    assert torch.equal(shuffled, again)  # deterministic under a seed
    with pytest.raises(ValueError, match="z must have shape"):
        R.permute_dims(z[:, 0])


class _FixedLogits(torch.nn.Module):
    def __init__(self, logits):
        super().__init__()
        self.logits = logits

    def forward(self, z):
        return self.logits[: len(z)].expand(len(z), 2) if len(self.logits) == 1 else self.logits


def test_factor_vae_tc_is_the_mean_logit_difference():
    z = torch.zeros(2, 2)
    disc = _FixedLogits(torch.tensor([[3.0, 1.0], [0.0, 1.0]]))
    assert R.factor_vae_tc(disc, z).item() == pytest.approx(((3 - 1) + (0 - 1)) / 2)
    value = R.factor_vae(MU, LOG_VAR, z, gamma=10.0, discriminator=disc)
    assert value.item() == pytest.approx(KL + 10 * 0.5, rel=1e-6)


def test_discriminator_loss_and_its_training_separate_joint_from_product():
    assert R.Discriminator(10)(torch.zeros(3, 10)).shape == (3, 2)
    zero = _FixedLogits(torch.zeros(1, 2))
    z = torch.randn(8, 3, requires_grad=True)
    loss = R.discriminator_loss(zero, z)
    assert loss.item() == pytest.approx(math.log(2))  # an undecided discriminator
    loss_fn = R.discriminator_loss(R.Discriminator(3, hidden=8, num_layers=1), z)
    loss_fn.backward()
    assert z.grad is None  # z is detached: the discriminator's loss never trains the encoder
    # a small discriminator learns to tell perfectly correlated latents from their permutation
    torch.manual_seed(0)
    disc = R.Discriminator(2, hidden=32, num_layers=2)
    opt = torch.optim.Adam(disc.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(60):
        x = torch.randn(128, 1, generator=g)
        loss = R.discriminator_loss(disc, torch.cat([x, x], 1), g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    x = torch.randn(512, 1, generator=g)
    assert R.factor_vae_tc(disc, torch.cat([x, x], 1)).item() > 1.0  # a large TC estimate
    assert R.make_discriminator_optimizer(disc).defaults["betas"] == (0.5, 0.9)


def _tc_by_hand(z, mu, log_var):
    """The minibatch estimator with loops and scipy, batch as data set."""
    b, d = z.shape
    sd = np.exp(0.5 * log_var)
    total = 0.0
    for i in range(b):
        joint = [np.prod([norm.pdf(z[i, j], mu[k, j], sd[k, j]) for j in range(d)]) for k in range(b)]
        log_joint = np.log(np.sum(joint) / b)
        log_marg = sum(np.log(np.sum([norm.pdf(z[i, j], mu[k, j], sd[k, j]) for k in range(b)]) / b)
                       for j in range(d))
        total += log_joint - log_marg
    return total / b


def test_total_correlation_matches_hand_computation():
    rng = np.random.default_rng(0)
    z, mu = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    log_var = rng.normal(scale=0.3, size=(4, 3))
    expected = _tc_by_hand(z, mu, log_var)
    got = R.total_correlation(*(torch.tensor(a, dtype=torch.float64) for a in (z, mu, log_var)))
    assert got.item() == pytest.approx(expected, rel=1e-9)
    # Chen et al.'s dataset size N adds the constant (D - 1) log N
    with_n = R.total_correlation(*(torch.tensor(a) for a in (z, mu, log_var)), dataset_size=1000)
    assert with_n.item() == pytest.approx(expected + 2 * math.log(1000), rel=1e-6)


def test_total_correlation_is_zero_for_independent_and_positive_for_correlated_latents():
    g = torch.Generator().manual_seed(0)
    n = 1000
    log_var = torch.full((n, 3), math.log(0.1))
    mu = torch.randn(n, 3, generator=g)
    z = mu + torch.randn(n, 3, generator=g) * (0.5 * log_var).exp()
    independent = R.total_correlation(z, mu, log_var).item()
    shared = torch.randn(n, 1, generator=g)
    mu_c = torch.cat([shared, shared + 0.1 * torch.randn(n, 1, generator=g), torch.randn(n, 1, generator=g)], 1)
    z_c = mu_c + torch.randn(n, 3, generator=g) * (0.5 * log_var).exp()
    correlated = R.total_correlation(z_c, mu_c, log_var).item()
    assert abs(independent) < 0.1
    # two latents with correlation ~0.95 (after the posterior noise) share about -0.5 log(1 - rho^2) nats
    assert correlated > 0.8
    value = R.beta_tcvae(mu_c, log_var, z_c, beta=6.0)
    assert value.item() == pytest.approx(R.kl_loss(mu_c, log_var).item() + 5 * correlated, rel=1e-5)


def test_dip_penalties_vanish_at_identity_covariance_and_match_hand_values():
    square = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])  # mean 0, covariance I
    assert torch.allclose(R.covariance(square), torch.eye(2))
    log_var = torch.zeros(4, 2)
    assert R.dip_vae_i(square, log_var, lambda_od=5.0, lambda_d=50.0).item() == pytest.approx(
        R.kl_loss(square, log_var).item())
    # DIP-VAE-II: Cov[mu] = 0.5 I plus E[sigma^2] = 0.5 gives the identity again
    half = square * math.sqrt(0.5)
    log_var_half = torch.full((4, 2), math.log(0.5))
    assert R.dip_vae_ii(half, log_var_half, lambda_od=5.0, lambda_d=5.0).item() == pytest.approx(
        R.kl_loss(half, log_var_half).item(), abs=1e-6)
    assert R.dip_vae_i(half, log_var_half, lambda_od=5.0, lambda_d=5.0).item() > R.kl_loss(half, log_var_half).item()
    cov = torch.tensor([[2.0, 1.0], [1.0, 3.0]])
    assert R.dip_penalty(cov, 10.0, 2.0).item() == pytest.approx(10 * (1 + 1) + 2 * (1 + 4))
    assert torch.allclose(R.covariance(MU), torch.tensor(np.cov(MU.numpy().T, bias=True), dtype=torch.float32))


def test_regularizer_dispatch_and_validation():
    z = MU + 0.1
    disc = _FixedLogits(torch.zeros(1, 2))
    for method, hp in [("beta_vae", {"beta": 4.0}), ("beta_tcvae", {"beta": 4.0}),
                       ("annealed_vae", {"gamma": 1000.0, "c_max": 5.0, "iteration_threshold": 10}),
                       ("factor_vae", {"gamma": 10.0}), ("dip_vae_i", {"lambda_od": 1.0, "lambda_d": 10.0}),
                       ("dip_vae_ii", {"lambda_od": 1.0, "lambda_d": 1.0})]:
        value = R.regularizer(method, MU, LOG_VAR, z, step=5, discriminator=disc, **hp)
        direct = {"beta_vae": lambda: R.beta_vae(MU, LOG_VAR, beta=4.0),
                  "beta_tcvae": lambda: R.beta_tcvae(MU, LOG_VAR, z, beta=4.0),
                  "annealed_vae": lambda: R.annealed_vae(MU, LOG_VAR, step=5, **hp),
                  "factor_vae": lambda: R.factor_vae(MU, LOG_VAR, z, gamma=10.0, discriminator=disc),
                  "dip_vae_i": lambda: R.dip_vae_i(MU, LOG_VAR, **hp),
                  "dip_vae_ii": lambda: R.dip_vae_ii(MU, LOG_VAR, **hp)}[method]()
        assert value.item() == pytest.approx(direct.item())
    with pytest.raises(ValueError, match="method='vae' is not known"):
        R.regularizer("vae", MU, LOG_VAR, z)
    with pytest.raises(ValueError, match="needs its discriminator"):
        R.regularizer("factor_vae", MU, LOG_VAR, z, gamma=1.0)
    with pytest.raises(ValueError, match="log_var must have the shape"):
        R.kl_loss(MU, LOG_VAR[:1])
    with pytest.raises(ValueError, match="cov must be a square"):
        R.dip_penalty(MU[:1], 1.0, 1.0)


def test_grids_are_the_papers():
    assert set(R.PAPER_GRIDS) == set(R.METHODS)
    assert [hp["beta"] for hp in R.PAPER_GRIDS["beta_vae"]] == [1, 2, 4, 6, 8, 16]
    assert [hp["beta"] for hp in R.PAPER_GRIDS["beta_tcvae"]] == [1, 2, 4, 6, 8, 10]
    assert [hp["c_max"] for hp in R.PAPER_GRIDS["annealed_vae"]] == [5, 10, 25, 50, 75, 100]
    assert {(hp["gamma"], hp["iteration_threshold"]) for hp in R.PAPER_GRIDS["annealed_vae"]} == {(1000, 100_000)}
    assert [hp["gamma"] for hp in R.PAPER_GRIDS["factor_vae"]] == [10, 20, 30, 40, 50, 100]
    for hp in R.PAPER_GRIDS["dip_vae_i"]:
        assert hp["lambda_d"] == 10 * hp["lambda_od"]
    for hp in R.PAPER_GRIDS["dip_vae_ii"]:
        assert hp["lambda_d"] == hp["lambda_od"]
    assert (R.PAPER_TRAINING["num_steps"], R.PAPER_TRAINING["batch_size"], R.PAPER_TRAINING["lr"]) == (300_000, 64, 1e-4)
    from lecturelib.study.settings import STUDY_SCALES

    for scale in ("tiny", "default"):
        for method, grid in STUDY_SCALES[scale].grids().items():
            assert 2 <= len(grid) < 6 and all(hp in R.PAPER_GRIDS[method] for hp in grid)
    assert STUDY_SCALES["paper"].grids() == R.PAPER_GRIDS


def _tc_by_autograd(z, mu, log_var):
    """The estimate written by broadcasting, differentiated by autograd: the reference for the hand-written backward."""
    log_q = R.gaussian_log_density(z[:, None, :], mu[None, :, :], log_var[None, :, :])
    return (torch.logsumexp(log_q.sum(2), 1) - torch.logsumexp(log_q, 1).sum(1)).mean() \
        + (z.shape[1] - 1) * math.log(z.shape[0])


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_total_correlation_gradients_match_autograd_through_all_pairs(dtype, tol):
    g = torch.Generator().manual_seed(1)
    mu = torch.randn(48, 6, generator=g, dtype=dtype).requires_grad_()
    log_var = (0.8 * torch.randn(48, 6, generator=g, dtype=dtype) - 1.0).requires_grad_()
    eps = torch.randn(48, 6, generator=g, dtype=dtype)
    results = []
    for fn in (_tc_by_autograd, R.total_correlation):
        z = mu + eps * (0.5 * log_var).exp()  # z depends on mu and log_var, as in training
        value = fn(z, mu, log_var)
        results.append((value, *torch.autograd.grad(value, (mu, log_var))))
    for expected, got in zip(*results):
        torch.testing.assert_close(got, expected, rtol=tol, atol=tol)


def test_total_correlation_backward_passes_gradcheck_and_vmap():
    g = torch.Generator().manual_seed(2)
    inputs = tuple(torch.randn(7, 3, generator=g, dtype=torch.float64).requires_grad_() for _ in range(3))
    # both outputs (joint and per-latent marginal log-densities), each with its own upstream gradient
    assert torch.autograd.gradcheck(lambda *a: R._MinibatchLogDensities.apply(*a)[:2], inputs)
    # the study vmaps the regulariser over stacked models
    z, mu, log_var = (torch.randn(3, 16, 4, generator=g) for _ in range(3))
    mu.requires_grad_()
    stacked = torch.vmap(R.total_correlation)(z, mu, log_var)
    stacked.sum().backward()
    for i in range(3):
        mu_i = mu.detach()[i].clone().requires_grad_()
        single = R.total_correlation(z[i], mu_i, log_var[i])
        single.backward()
        torch.testing.assert_close(stacked[i], single.detach(), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(mu.grad[i], mu_i.grad, rtol=1e-4, atol=1e-5)


def test_total_correlation_stays_finite_far_from_every_posterior():
    # a sample far from all posteriors: the log-sum-exps must not underflow to -inf
    mu, log_var = torch.zeros(4, 2), torch.full((4, 2), -6.0)
    z = torch.tensor([[50.0, -50.0], [0.0, 0.0], [0.1, 0.0], [0.0, 0.1]])
    value = R.total_correlation(z.requires_grad_(), mu, log_var)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(z.grad).all()


def test_total_correlation_gradients_stay_accurate_in_float32_for_sharp_posteriors():
    # A trained model's active latents have posterior variances down to ~1e-6. Expanding
    # (z - mu)^2 / sigma^2 into separate z^2, z mu and mu^2 terms cancels catastrophically there.
    g = torch.Generator().manual_seed(3)
    mu64 = 2.0 * torch.randn(256, 4, generator=g, dtype=torch.float64)
    log_var64 = -14.0 + torch.rand(256, 4, generator=g, dtype=torch.float64)
    eps = torch.randn(256, 4, generator=g, dtype=torch.float64)
    grads = {}
    for dtype, fn in ((torch.float64, _tc_by_autograd), (torch.float32, R.total_correlation)):
        mu, log_var = mu64.to(dtype).requires_grad_(), log_var64.to(dtype).requires_grad_()
        z = mu + eps.to(dtype) * (0.5 * log_var).exp()
        grads[dtype] = torch.autograd.grad(fn(z, mu, log_var), (mu, log_var))
    for exact, got in zip(grads[torch.float64], grads[torch.float32]):
        assert torch.isfinite(got).all()
        torch.testing.assert_close(got.double(), exact, rtol=1e-3, atol=1e-3 * exact.abs().max().item())
