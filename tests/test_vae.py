import math

import pytest
import torch
from torch.distributions import MultivariateNormal, Normal, kl_divergence

from lecturelib.estimators import (estimate_gradient, estimator_variance, gradient_samples,
                                   quadratic_expectation_gradient, quadratic_objective)
from lecturelib.models import ConvDecoder, ConvEncoder, dsprites_conv_vae
from lecturelib import vae as vae_lib
from lecturelib.training import train
from lecturelib.vae import (PPCA, VAE, GaussianLayer, chain_log_prob, elbo, elbo_loss, gaussian_kl,
                            hierarchical_elbo, iwae_bound, kl_to_prior, log_likelihood, log_weights, make_fast_loss,
                            mlp_vae, reparametrize, sample_chain, sample_full_covariance)


def make_ppca(seed=0, d=6, k=3, sigma=0.4):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(d, k, generator=g, dtype=torch.float64)
    b = torch.randn(d, generator=g, dtype=torch.float64)
    model = PPCA(W, b, sigma)
    return model, model.sample(50, generator=g)


# ---------------------------------------------------------------- pPCA: the ELBO is exact at the posterior

def test_ppca_elbo_equals_log_likelihood_at_the_true_posterior():
    model, X = make_ppca()
    mean, cov = model.posterior(X)
    log_px = model.log_likelihood(X)
    torch.testing.assert_close(model.analytic_elbo(X, mean, cov), log_px, atol=1e-9, rtol=0)
    # Monte Carlo with the library's elbo(): with kl="mc", log p(x,h) - log q(h|x) = log p(x) for every h
    vae = model.as_vae()
    torch.testing.assert_close(elbo(vae, X, kl="mc")["elbo"], log_px, atol=1e-6, rtol=0)
    # with the analytic KL the reconstruction term is a Monte-Carlo mean: agreement within its error
    with torch.no_grad():
        torch.manual_seed(0)
        draws = log_weights(vae, X, 4000)["log_px_given_h"]  # (4000, n)
        mc = draws.mean(0) - kl_to_prior(*vae.encode(X), "full")
    standard_error = draws.std(0) / math.sqrt(4000)
    assert bool(((mc - log_px).abs() < 5 * standard_error).all())


def test_ppca_elbo_is_below_log_likelihood_for_random_q_and_gap_is_kl_to_posterior():
    model, X = make_ppca(seed=1)
    log_px = model.log_likelihood(X)
    g = torch.Generator().manual_seed(2)
    mean_true, cov_true = model.posterior(X)
    for _ in range(5):
        q_mean = torch.randn(X.shape[0], 3, generator=g, dtype=torch.float64)
        F = torch.randn(3, 3, generator=g, dtype=torch.float64)
        q_cov = F @ F.T + 0.1 * torch.eye(3, dtype=torch.float64)
        value = model.analytic_elbo(X, q_mean, q_cov)
        assert bool((value < log_px).all())
        gap = kl_divergence(MultivariateNormal(q_mean, q_cov), MultivariateNormal(mean_true, cov_true))
        torch.testing.assert_close(log_px - value, gap, atol=1e-8, rtol=1e-8)


def test_ppca_perturbed_encoder_in_vae_gives_lower_mc_elbo():
    model, X = make_ppca(seed=3)
    A, c = model.posterior_map()
    vae = model.as_vae(A=A + 0.3, c=c)
    torch.manual_seed(0)
    value = elbo(vae, X, num_samples=2000)["elbo"]
    assert bool((value < model.log_likelihood(X)).all())


# ---------------------------------------------------------------- KL and reparametrization

def test_analytic_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, log_var = torch.randn(7, 4, generator=g), torch.randn(7, 4, generator=g)
    expected = kl_divergence(Normal(mu, (0.5 * log_var).exp()), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(gaussian_kl(mu, log_var), expected)
    mu_p, log_var_p = torch.randn(7, 4, generator=g), torch.randn(7, 4, generator=g)
    expected = kl_divergence(Normal(mu, (0.5 * log_var).exp()), Normal(mu_p, (0.5 * log_var_p).exp())).sum(-1)
    torch.testing.assert_close(gaussian_kl(mu, log_var, mu_p, log_var_p), expected)
    L = torch.tril(torch.randn(7, 4, 4, generator=g)) + 2 * torch.eye(4)
    expected = kl_divergence(MultivariateNormal(mu, scale_tril=L), MultivariateNormal(torch.zeros(4), torch.eye(4)))
    torch.testing.assert_close(kl_to_prior(mu, L, "full"), expected, rtol=1e-5, atol=1e-5)


def test_mc_kl_agrees_with_analytic_kl():
    torch.manual_seed(0)
    vae = mlp_vae(20, 3, (16,))
    x = torch.rand(5, 20)
    analytic = elbo(vae, x, num_samples=20000)["kl"]
    mc = elbo(vae, x, num_samples=20000, kl="mc")["kl"]
    torch.testing.assert_close(mc, analytic, atol=0.05, rtol=0)


def test_full_covariance_sampling_matches_target():
    g = torch.Generator().manual_seed(0)
    F = torch.randn(3, 3, generator=g, dtype=torch.float64)
    cov = F @ F.T + 0.5 * torch.eye(3, dtype=torch.float64)
    mean = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    samples = sample_full_covariance(mean, cov, 200_000, generator=g)
    assert samples.shape == (200_000, 3) and samples.dtype == torch.float64
    torch.testing.assert_close(samples.mean(0), mean, atol=0.02, rtol=0)
    torch.testing.assert_close(torch.cov(samples.T), cov, atol=0.05, rtol=0.02)
    with pytest.raises(ValueError, match="positive definite"):
        sample_full_covariance(mean, -cov, 10)
    with pytest.raises(ValueError, match="cov"):
        sample_full_covariance(mean, cov[:2, :2], 10)


def test_reparametrize_shapes_and_gradients():
    mu = torch.zeros(4, 2, requires_grad=True)
    log_var = torch.zeros(4, 2, requires_grad=True)
    h = reparametrize(mu, log_var, 5)
    assert h.shape == (5, 4, 2)
    h.sum().backward()
    assert mu.grad is not None and log_var.grad is not None
    eps = torch.ones(4, 2)
    torch.testing.assert_close(reparametrize(torch.ones(4, 2), torch.log(torch.full((4, 2), 4.0)), eps=eps),
                               torch.full((4, 2), 3.0))
    with pytest.raises(ValueError, match="eps"):
        reparametrize(mu, log_var, eps=torch.ones(3))
    with pytest.raises(ValueError, match="covariance"):
        reparametrize(mu, log_var, covariance="banded")


# ---------------------------------------------------------------- ELBO, IWAE, shapes, errors

def test_elbo_terms_shapes_dtypes_and_beta():
    torch.manual_seed(0)
    vae = mlp_vae(12, 3, (8,))
    x = torch.rand(6, 12)
    out = elbo(vae, x, num_samples=2, beta=4.0)
    for name in ("reconstruction", "kl", "elbo", "objective"):
        assert out[name].shape == (6,) and out[name].dtype == torch.float32
    torch.testing.assert_close(out["elbo"], out["reconstruction"] - out["kl"])
    torch.testing.assert_close(out["objective"], out["reconstruction"] - 4.0 * out["kl"])
    assert bool((out["kl"] >= 0).all()) and bool((out["reconstruction"] <= 0).all())
    terms = elbo_loss(beta=2.0)(vae, (x,))
    assert set(terms) == {"loss", "reconstruction", "kl", "elbo"} and terms["loss"].ndim == 0


def test_bad_inputs_raise():
    vae = mlp_vae(12, 3, (8,))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        elbo(vae, torch.full((2, 12), 2.0))
    with pytest.raises(ValueError, match="floating"):
        elbo(vae, torch.ones(2, 12, dtype=torch.int64))
    with pytest.raises(ValueError, match="num_samples"):
        elbo(vae, torch.rand(2, 12), num_samples=0)
    with pytest.raises(ValueError, match="kl"):
        elbo(vae, torch.rand(2, 12), kl="exact")
    with pytest.raises(ValueError, match="beta"):
        elbo_loss(beta=-1.0)
    with pytest.raises(ValueError, match="encoder"):
        elbo(vae, torch.rand(2, 10))
    with pytest.raises(ValueError, match="likelihood"):
        VAE(vae.encoder, vae.decoder, 3, likelihood="poisson")
    with pytest.raises(ValueError, match="x of shape"):
        log_likelihood(torch.rand(2, 5), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"b \(n_features,\)"):
        PPCA(torch.ones(3, 2), torch.ones(2), 1.0)
    with pytest.raises(ValueError, match="sigma"):
        PPCA(torch.ones(3, 2), torch.ones(3), 0.0)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_elbo_refuses_nan_data(likelihood):
    vae = mlp_vae(16, 3, (8,), likelihood=likelihood)
    with pytest.raises(ValueError, match=r"\[0, 1\]" if likelihood == "bernoulli" else "x contains"):
        elbo(vae, torch.full((4, 16), float("nan")))
    with pytest.raises(ValueError, match=r"\[0, 1\]" if likelihood == "bernoulli" else "x contains"):
        iwae_bound(vae, torch.full((4, 16), float("nan")), num_samples=2)


@pytest.mark.parametrize("beta", [float("nan"), float("inf"), -1.0, "1", None])
def test_elbo_and_elbo_loss_refuse_a_beta_that_is_not_a_finite_non_negative_number(beta):
    vae = mlp_vae(12, 3, (8,))
    with pytest.raises(ValueError, match="beta"):
        elbo(vae, torch.rand(2, 12), beta=beta)
    with pytest.raises(ValueError, match="beta"):
        elbo_loss(beta=beta)


def test_elbo_accepts_numpy_scalars():
    import numpy as np
    vae = mlp_vae(12, 3, (8,))
    x = torch.rand(2, 12)
    expected = elbo(vae, x, num_samples=2, beta=4.0, generator=torch.Generator().manual_seed(0))
    got = elbo(vae, x, num_samples=np.int64(2), beta=np.float32(4.0), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(got["objective"], expected["objective"], rtol=0, atol=0)


@pytest.mark.parametrize("num_samples", [2.5, 0, "2", True])
def test_a_number_of_samples_that_is_not_a_positive_int_is_refused(num_samples):
    vae = mlp_vae(12, 3, (8,))
    x = torch.rand(2, 12)
    for call in (lambda: elbo(vae, x, num_samples=num_samples), lambda: elbo_loss(num_samples=num_samples),
                 lambda: iwae_bound(vae, x, num_samples=num_samples),
                 lambda: reparametrize(torch.zeros(2), torch.zeros(2), num_samples)):
        with pytest.raises(ValueError, match="num_samples"):
            call()


def test_reparametrize_refuses_numpy_input():
    import numpy as np
    with pytest.raises(ValueError, match="mu must be a floating-point torch tensor"):
        reparametrize(np.zeros(2), torch.zeros(2))
    with pytest.raises(ValueError, match="log_var must be a floating-point torch tensor"):
        reparametrize(torch.zeros(2), np.zeros(2))
    with pytest.raises(ValueError, match="scale_tril must be a floating-point torch tensor"):
        reparametrize(torch.zeros(2), np.eye(2), covariance="full")


@pytest.mark.parametrize("args, name", [((-1, 3), "n_features"), ((12, -1), "n_latents"), ((12, 0), "n_latents"),
                                        ((12.0, 3), "n_features"), ((12, 3, (8, -2)), "hidden")])
def test_mlp_vae_refuses_sizes_that_are_not_positive_ints(args, name):
    with pytest.raises(ValueError, match=name):
        mlp_vae(*args)


@pytest.mark.parametrize("num_samples", [-1, 2.5])
def test_vae_sample_refuses_a_negative_or_fractional_count(num_samples):
    with pytest.raises(ValueError, match="num_samples"):
        mlp_vae(12, 3, (8,)).sample(num_samples)


def test_sample_full_covariance_refuses_nan_and_numpy_input():
    import numpy as np
    cov = torch.eye(3, dtype=torch.float64)
    with pytest.raises(ValueError, match="cov contains"):
        sample_full_covariance(torch.zeros(3, dtype=torch.float64), torch.full((3, 3), float("nan")), 10)
    with pytest.raises(ValueError, match="mean contains"):
        sample_full_covariance(torch.full((3,), float("nan"), dtype=torch.float64), cov, 10)
    with pytest.raises(ValueError, match="cov must be a floating-point torch tensor"):
        sample_full_covariance(torch.zeros(3), np.eye(3), 10)
    with pytest.raises(ValueError, match="num_samples"):
        sample_full_covariance(torch.zeros(3, dtype=torch.float64), cov, 2.5)


def test_iwae_bound_increases_with_k_and_is_below_log_likelihood():
    model, X = make_ppca(seed=4)
    A, c = model.posterior_map()
    vae = model.as_vae(A=A * 0.5, c=c)  # a poor encoder: the bounds are loose and K matters
    g = torch.Generator().manual_seed(0)
    bounds = {k: iwae_bound(vae, X, k, generator=g).mean().item() for k in (1, 10, 100)}
    log_px = model.log_likelihood(X).mean().item()
    assert bounds[1] < bounds[10] < bounds[100] < log_px
    assert iwae_bound(vae, X, 7, chunk_size=3).shape == (X.shape[0],)
    exact = model.as_vae()
    torch.testing.assert_close(iwae_bound(exact, X, 5), model.log_likelihood(X), atol=1e-6, rtol=0)


def test_gaussian_likelihood_and_training_reduces_negative_elbo():
    torch.manual_seed(0)
    X = torch.rand(256, 10)
    vae = mlp_vae(10, 2, (16,), likelihood="gaussian")
    loss = elbo_loss()
    history = train(vae, loss, X, num_steps=150, batch_size=64, lr=3e-3, device="cpu", num_logs=5)
    assert history.train["loss"][-1] < history.train["loss"][0]
    assert vae.sample(4).shape == (4, 10) and vae.reconstruct(X[:3]).shape == (3, 10)


# ---------------------------------------------------------------- dSprites conv VAE

def test_dsprites_conv_vae_shapes_and_loss():
    vae = dsprites_conv_vae(n_latents=10, seed=0)
    x = (torch.rand(3, 1, 64, 64) < 0.1).float()
    mu, log_var = vae.encode(x)
    assert mu.shape == (3, 10) and log_var.shape == (3, 10)
    assert vae.decode(mu).shape == (3, 1, 64, 64)
    out = elbo_loss(beta=4.0)(vae, (x,))
    out["loss"].backward()
    assert all(p.grad is not None for p in vae.parameters())
    colour = VAE(ConvEncoder(5, 3), ConvDecoder(5, 3), 5)
    assert colour.reconstruct(torch.rand(2, 3, 64, 64)).shape == (2, 3, 64, 64)
    with pytest.raises(ValueError, match="64, 64"):
        vae.encode(torch.rand(2, 1, 32, 32))


def test_fast_loss_is_the_eager_loss_on_cpu():
    vae = dsprites_conv_vae(seed=0)
    loss = elbo_loss()
    assert make_fast_loss(vae, loss, device="cpu") is loss
    wrapped = make_fast_loss(vae, loss, device="cpu", compile=False, bf16=True, channels_last=True)
    x = (torch.rand(2, 1, 64, 64) < 0.1).float()
    torch.manual_seed(0)
    value = wrapped(vae, (x,))["loss"]
    assert value.dtype == torch.float32 and torch.isfinite(value)


# ---------------------------------------------------------------- deep Gaussian chains

def test_linear_gaussian_chain_has_the_right_marginal_mean_and_covariance():
    torch.manual_seed(0)
    layers = [GaussianLayer(2, 3), GaussianLayer(3, 2)]
    with torch.no_grad():  # affine means, constant variances s^2: the marginals are Gaussian and known
        for layer, log_s2 in zip(layers, (-1.0, -2.0)):
            layer.net[0].weight[layer.out_features:] = 0.0
            layer.net[0].bias[layer.out_features:] = log_s2
        start = torch.randn(200_000, 2, dtype=torch.float32)
        h1, h2 = sample_chain(layers, start)
    W1, b1 = layers[0].net[0].weight[:3].detach(), layers[0].net[0].bias[:3].detach()
    W2, b2 = layers[1].net[0].weight[:2].detach(), layers[1].net[0].bias[:2].detach()
    cov1 = W1 @ W1.T + math.exp(-1.0) * torch.eye(3)
    cov2 = W2 @ cov1 @ W2.T + math.exp(-2.0) * torch.eye(2)
    assert h1.shape == (200_000, 3) and h2.shape == (200_000, 2)
    torch.testing.assert_close(h2.mean(0), W2 @ b1 + b2, atol=0.02, rtol=0)
    torch.testing.assert_close(torch.cov(h1.T), cov1, atol=0.03, rtol=0.02)
    torch.testing.assert_close(torch.cov(h2.T), cov2, atol=0.03, rtol=0.02)
    lp = chain_log_prob(layers, start[:10], [h1[:10], h2[:10]])
    assert lp.shape == (10,) and bool(torch.isfinite(lp).all())
    with pytest.raises(ValueError, match="one tensor per layer"):
        chain_log_prob(layers, start[:10], [h1[:10]])


def test_chain_sampling_is_reparametrized_and_hierarchical_elbo_trains():
    torch.manual_seed(0)
    x = (torch.rand(64, 20) < 0.3).float()
    recognition = torch.nn.ModuleList([GaussianLayer(20, 6, (16,)), GaussianLayer(6, 2, (8,))])
    generative = torch.nn.ModuleList([GaussianLayer(2, 6, (8,)), torch.nn.Sequential(torch.nn.Linear(6, 20))])
    value = hierarchical_elbo(x, recognition, generative)
    assert value.shape == (64,)
    (-value.mean()).backward()
    assert all(p.grad is not None for p in recognition.parameters())
    assert all(p.grad is not None for p in generative.parameters())
    with pytest.raises(ValueError, match="generative"):
        hierarchical_elbo(x, recognition, generative[:1])


# ---------------------------------------------------------------- gradient estimators

def test_both_estimators_are_unbiased_and_reparam_has_lower_variance():
    mu = torch.tensor([0.5, -1.0, 0.0], dtype=torch.float64)
    log_var = torch.tensor([0.0, -1.0, 0.5], dtype=torch.float64)
    a = torch.tensor([1.0, 2.0, -1.0], dtype=torch.float64)
    f = quadratic_objective(a)
    exact = quadratic_expectation_gradient(mu, log_var, a)
    n = 40_000
    variances = {}
    for estimator in ("score", "reparam"):
        g = gradient_samples(f, mu, log_var, n, estimator, generator=torch.Generator().manual_seed(1))
        assert g.shape == (n, 6) and g.dtype == torch.float64
        standard_error = g.std(0) / math.sqrt(n)
        assert bool(((g.mean(0) - exact).abs() < 5 * standard_error + 1e-12).all()), estimator
        variances[estimator] = float(g.var(0).sum())
    assert variances["reparam"] < variances["score"] / 10
    estimate = estimate_gradient(f, mu, log_var, 1000, "reparam", generator=torch.Generator().manual_seed(0))
    assert estimate.shape == (6,)


def test_estimator_variance_falls_like_one_over_n_and_baseline_helps():
    mu, log_var, a = torch.zeros(2), torch.zeros(2), torch.ones(2)
    f = quadratic_objective(a)
    var = estimator_variance(f, mu, log_var, [1, 10], "score", num_repeats=400, seed=0)
    assert var.shape == (2,) and 5 < var[0] / var[1] < 20
    with_baseline = estimator_variance(f, mu, log_var, [10], "score", num_repeats=400, baseline=4.0, seed=0)
    assert with_baseline[0] < var[1]
    with pytest.raises(ValueError, match="estimator"):
        gradient_samples(f, mu, log_var, 3, "pathwise")
    with pytest.raises(ValueError, match="same length"):
        gradient_samples(f, mu, torch.zeros(3), 3)
    with pytest.raises(ValueError, match="num_samples"):
        gradient_samples(f, mu, log_var, 2.5)
    with pytest.raises(ValueError, match="mu must be a floating-point torch tensor"):
        gradient_samples(f, [0.0, 0.0], log_var, 3)
    with pytest.raises(ValueError, match="log_var contains"):
        gradient_samples(f, mu, torch.full((2,), float("nan")), 3)
    with pytest.raises(ValueError, match="baseline"):
        gradient_samples(f, mu, log_var, 3, "score", baseline=float("nan"))
    with pytest.raises(ValueError, match="num_repeats"):
        estimator_variance(f, mu, log_var, [1], num_repeats=1.5)


# ------------------------------------------------------------------ looking at q(h|x) (chapter 4)
def test_kl_per_latent_adds_up_to_the_kl_term_and_is_zero_at_the_prior():
    torch.manual_seed(0)
    mu, log_var = torch.randn(30, 4), torch.randn(30, 4)
    mu[:, 2], log_var[:, 2] = 0.0, 0.0  # latent 2 is the prior for every x
    shares = vae_lib.kl_per_latent(mu, log_var)
    assert shares.shape == (4,) and shares[2] == 0
    assert torch.allclose(shares.sum(), vae_lib.gaussian_kl(mu, log_var).mean())
    with pytest.raises(ValueError, match="mu and log_var"):
        vae_lib.kl_per_latent(mu, log_var[:, :3])


def test_active_units_uses_the_variance_of_the_posterior_means():
    mu = torch.zeros(100, 3)
    mu[:, 0] = torch.linspace(-1, 1, 100)   # variance about 0.34
    mu[:, 1] = torch.linspace(-0.1, 0.1, 100)  # variance about 0.0034
    assert vae_lib.active_units(mu).tolist() == [True, False, False]
    assert vae_lib.active_units(mu, threshold=0.001).tolist() == [True, True, False]
    with pytest.raises(ValueError, match="threshold"):
        vae_lib.active_units(mu, threshold=-1)


def test_diagonal_elbo_at_the_encoders_q_is_the_elbo():
    torch.manual_seed(0)
    model = vae_lib.mlp_vae(6, 2, hidden=(8,))
    x = torch.rand(5, 6).round()
    mu, log_var = model.encode(x)
    ours = vae_lib.diagonal_elbo(model, x, mu, log_var, num_samples=3, generator=torch.Generator().manual_seed(1))
    reference = vae_lib.elbo(model, x, num_samples=3, generator=torch.Generator().manual_seed(1))["elbo"]
    assert torch.allclose(ours, reference)
    with pytest.raises(ValueError, match="mu must have shape"):
        vae_lib.diagonal_elbo(model, x, mu[:, :1], log_var[:, :1])


def test_optimize_posterior_reaches_the_exact_posterior_of_a_linear_gaussian_model():
    # pPCA with orthogonal W has a diagonal posterior, so the per-datapoint optimum is the exact posterior
    g = torch.Generator().manual_seed(0)
    W = torch.linalg.qr(torch.randn(5, 2, generator=g, dtype=torch.float64))[0] * torch.tensor([2.0, 1.0], dtype=torch.float64)
    ppca = vae_lib.PPCA(W, torch.zeros(5, dtype=torch.float64), sigma=0.5)
    X = ppca.sample(6, generator=g)
    A, c = ppca.posterior_map()
    model = ppca.as_vae(A=A * 0.5, c=c + 0.3, q_cov=torch.eye(2, dtype=torch.float64))  # a poor encoder
    model.covariance = "diagonal"
    model.encoder = _DiagonalFromFull(model.encoder)
    before = [p.clone() for p in model.parameters()]
    mu, log_var = vae_lib.optimize_posterior(model, X, num_steps=1500, num_samples=16, lr=0.02, seed=0)
    post_mean, post_cov = ppca.posterior(X)
    assert torch.allclose(mu, post_mean, atol=0.05)
    assert torch.allclose(log_var.exp(), torch.diagonal(post_cov, dim1=-2, dim2=-1), rtol=0.15)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # the model is left unchanged


class _DiagonalFromFull(torch.nn.Module):
    """Wraps an encoder returning (mu, scale_tril) as one returning (mu, log of the diagonal variances)."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, x):
        mu, scale_tril = self.encoder(x)
        return mu, torch.diagonal(scale_tril @ scale_tril.transpose(-1, -2), dim1=-2, dim2=-1).log()


def test_independent_pixels_log_likelihood_is_exact():
    X_train = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 1.0]])
    X = torch.tensor([[1.0, 0.0]])
    p = torch.tensor([4 / 6, 4 / 6])  # (3 + 1) / (4 + 2) for both pixels
    expected = torch.log(p[0]) + torch.log(1 - p[1])
    assert torch.allclose(vae_lib.independent_pixels_log_likelihood(X_train, X), expected.double().reshape(1))
    with pytest.raises(ValueError, match="binary"):
        vae_lib.independent_pixels_log_likelihood(X_train, torch.full((1, 2), 0.5))
