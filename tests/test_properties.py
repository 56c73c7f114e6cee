"""Property-based tests of lecturelib's public boundary (Hypothesis).

For generated valid input: shapes, invariants (closed forms, ranges, permutation invariance where
the definition has it) and no NaN. For generated invalid input: a ``ValueError`` that names the
argument. The number of examples comes from the profile loaded in ``conftest.py`` ("ci": bounded
and derandomized, so every run draws the same examples).
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lecturelib import sparse_coding as sc
from lecturelib.autoencoders import filter_roughness
from lecturelib.data.dsprites import DSprites
from lecturelib.data.mnist import downsample, make_loader
from lecturelib.data.toy import noisy_circle
from lecturelib.estimators import gradient_samples, quadratic_objective
from lecturelib.metrics import dci_scores, factor_entropy, mig, modularity, mutual_info_matrix
from lecturelib.validation import check_int, check_number
from lecturelib.vae import elbo, gaussian_kl, mlp_vae, reparametrize

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
not_a_non_negative_number = st.one_of(st.floats(max_value=-1e-12), st.just(math.nan), st.just(math.inf),
                                      st.text(max_size=3), st.none(), st.booleans())
not_a_positive_int = st.one_of(st.integers(max_value=0), st.floats(allow_nan=True), st.text(max_size=3),
                               st.none(), st.booleans())


def small_matrix(rows=(1, 8), cols=(1, 6), elements=finite):
    return hnp.arrays(np.float64, st.tuples(st.integers(*rows), st.integers(*cols)), elements=elements)


def scalars(value: float):
    """The same number as a Python, numpy and 0-d torch scalar."""
    return st.sampled_from([value, np.float64(value), np.float32(value), torch.tensor(value, dtype=torch.float64)])


# ------------------------------------------------------------------------ the validation helpers

@given(st.floats(-1e6, 1e6, allow_nan=False).flatmap(scalars))
def test_check_number_accepts_every_kind_of_real_scalar(value):
    assert check_number(value, "x") == float(value)


@given(not_a_non_negative_number)
def test_check_number_names_the_argument_for_what_is_not_a_non_negative_number(value):
    with pytest.raises(ValueError, match="^lam must be"):
        check_number(value, "lam", minimum=0)


@given(st.integers(1, 2**40).flatmap(lambda n: st.sampled_from([n, np.int64(n), torch.tensor(n)])))
def test_check_int_accepts_python_numpy_and_torch_integers(value):
    assert check_int(value, "n", minimum=1) == int(value)


@given(not_a_positive_int)
def test_check_int_names_the_argument_for_what_is_not_a_positive_int(value):
    with pytest.raises(ValueError, match="^num_steps must be an int >= 1"):
        check_int(value, "num_steps", minimum=1)


# ------------------------------------------------------------------------ sparse coding

@given(small_matrix(), st.floats(0, 1e3))
def test_soft_threshold_is_its_closed_form_in_numpy_and_torch(z, t):
    expected = np.sign(z) * np.maximum(np.abs(z) - t, 0.0)
    np.testing.assert_array_equal(sc.soft_threshold(z, t), expected)
    np.testing.assert_array_equal(sc.soft_threshold(torch.from_numpy(z), t).numpy(), expected)
    np.testing.assert_array_equal(sc.soft_threshold(torch.from_numpy(z), torch.full(z.shape, t, dtype=torch.float64))
                                  .numpy(), expected)


@given(small_matrix(), st.one_of(st.floats(max_value=-1e-12), st.just(math.nan)),
       st.sampled_from(["numpy", "torch", "torch-tensor-t"]))
def test_soft_threshold_refuses_a_negative_or_nan_threshold_everywhere(z, t, kind):
    if kind == "numpy":
        call = lambda: sc.soft_threshold(z, t)  # noqa: E731
    elif kind == "torch":
        call = lambda: sc.soft_threshold(torch.from_numpy(z), t)  # noqa: E731
    else:
        call = lambda: sc.soft_threshold(torch.from_numpy(z), torch.tensor(t))  # noqa: E731
    with pytest.raises(ValueError, match="t must be non-negative"):
        call()


@st.composite
def lasso_problems(draw):
    n_samples, n_features, n_atoms = draw(st.integers(1, 6)), draw(st.integers(1, 5)), draw(st.integers(1, 7))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = rng.standard_normal((n_samples, n_features)) * draw(st.sampled_from([1e-3, 1.0, 1e3]))
    D = rng.standard_normal((n_atoms, n_features))
    lam = draw(st.floats(0, 2)) * float(np.abs(X @ D.T).max(initial=0.0))  # up to twice the lam that zeroes all codes
    return X, D, lam


@given(lasso_problems(), st.sampled_from([sc.ista, sc.fista]))
def test_solvers_give_finite_codes_no_worse_than_zero(problem, solver):
    X, D, lam = problem
    H = solver(X, D, lam, max_iter=300)
    assert H.shape == (X.shape[0], D.shape[0]) and np.all(np.isfinite(H))
    zero = sc.lasso_objective(X, D, np.zeros_like(H), lam)
    assert sc.lasso_objective(X, D, H, lam) <= zero * (1 + 1e-9) + 1e-12


@given(lasso_problems(), st.randoms(use_true_random=False))
def test_ista_codes_follow_a_permutation_of_the_samples(problem, random):
    X, D, lam = problem
    order = list(range(X.shape[0]))
    random.shuffle(order)
    H = sc.ista(X, D, lam, max_iter=40, stop="none")
    np.testing.assert_allclose(sc.ista(X[order], D, lam, max_iter=40, stop="none"), H[order], rtol=1e-12, atol=1e-12)


@given(st.sampled_from(["lam", "tol", "lipschitz"]), not_a_non_negative_number,
       st.sampled_from([sc.ista, sc.fista]))
def test_solvers_name_a_bad_number(name, value, solver):
    assume(not (name == "lipschitz" and value is None))  # None: computed from D
    X, D = np.ones((3, 2)), np.eye(2)
    kwargs = {"lam": 0.1, name: value}
    with pytest.raises(ValueError, match=name):
        solver(X, D, **kwargs)


@given(st.sampled_from(["max_iter", "check_every"]), not_a_positive_int)
def test_solvers_name_a_bad_count(name, value):
    with pytest.raises(ValueError, match=name):
        sc.ista(np.ones((3, 2)), np.eye(2), 0.1, **{name: value})


@given(lasso_problems(), st.floats(1e-6, 0.5))
def test_a_lipschitz_below_the_squared_norm_never_returns_huge_codes(problem, fraction):
    X, D, lam = problem
    assume(sc.lipschitz_constant(D) > 0)
    try:
        H = sc.fista(X, D, lam, lipschitz=fraction * sc.lipschitz_constant(D), max_iter=300, stop="none")
    except (ValueError, FloatingPointError) as err:
        assert "step size 1/lipschitz" in str(err)
    else:  # a step below 2 / L_D may still converge: then the codes are sane
        assert np.all(np.isfinite(H))
        assert sc.lasso_objective(X, D, H, lam) <= 10 * sc.lasso_objective(X, D, np.zeros_like(H), lam) + 1e-12


# ------------------------------------------------------------------------ VAE, ELBO and estimators

torch.manual_seed(0)
VAE_MODEL = mlp_vae(6, 2, (8,))  # built once: the properties are about the ELBO, not the weights


@given(hnp.arrays(np.float32, st.tuples(st.integers(1, 5), st.just(6)), elements=st.floats(0, 1, width=32)),
       st.integers(1, 3), st.floats(0, 10).flatmap(scalars))
def test_elbo_terms_are_finite_with_the_right_shapes_and_signs(x, num_samples, beta):
    out = elbo(VAE_MODEL, torch.from_numpy(x), num_samples=num_samples, beta=beta,
               generator=torch.Generator().manual_seed(0))
    for term in out.values():
        assert term.shape == (x.shape[0],) and bool(torch.isfinite(term).all())
    assert bool((out["kl"] >= 0).all()) and bool((out["reconstruction"] <= 0).all())
    torch.testing.assert_close(out["elbo"], out["reconstruction"] - out["kl"])
    torch.testing.assert_close(out["objective"], out["reconstruction"] - float(beta) * out["kl"])


@given(st.integers(1, 4), st.integers(0, 5), st.sampled_from([math.nan, -0.5, 1.5, math.inf]))
def test_elbo_refuses_data_outside_the_unit_interval(n, position, bad):
    x = torch.full((n, 6), 0.5)
    x.view(-1)[position % x.numel()] = bad
    with pytest.raises(ValueError, match=r"x in \[0, 1\]"):
        elbo(VAE_MODEL, x)


@given(not_a_non_negative_number)
def test_elbo_names_a_bad_beta(beta):
    with pytest.raises(ValueError, match="beta"):
        elbo(VAE_MODEL, torch.full((2, 6), 0.5), beta=beta)


@given(not_a_positive_int)
def test_elbo_names_a_bad_number_of_samples(num_samples):
    with pytest.raises(ValueError, match="num_samples"):
        elbo(VAE_MODEL, torch.full((2, 6), 0.5), num_samples=num_samples)


gaussians = st.integers(1, 4).flatmap(lambda k: st.tuples(
    hnp.arrays(np.float64, (3, k), elements=st.floats(-5, 5)), hnp.arrays(np.float64, (3, k), elements=st.floats(-5, 5))))


@given(gaussians, st.integers(1, 3))
def test_reparametrize_is_mu_plus_scaled_noise(params, num_samples):
    mu, log_var = (torch.from_numpy(a) for a in params)
    eps = torch.randn((num_samples, *mu.shape), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    h = reparametrize(mu, log_var, num_samples, eps=eps)
    assert h.shape == (num_samples, *mu.shape)
    torch.testing.assert_close(h, mu + torch.exp(0.5 * log_var) * eps)


@given(gaussians)
def test_gaussian_kl_is_non_negative_and_zero_at_the_prior(params):
    mu, log_var = (torch.from_numpy(a) for a in params)
    kl = gaussian_kl(mu, log_var)
    assert kl.shape == (3,) and bool((kl >= -1e-12).all())
    assert float(gaussian_kl(torch.zeros_like(mu), torch.zeros_like(log_var)).abs().max()) == 0.0


@given(st.integers(1, 4), st.integers(1, 6), st.sampled_from(["score", "reparam"]))
def test_gradient_samples_have_one_finite_row_per_draw(d, num_samples, estimator):
    f = quadratic_objective(torch.ones(d, dtype=torch.float64))
    g = gradient_samples(f, torch.zeros(d, dtype=torch.float64), torch.zeros(d, dtype=torch.float64), num_samples,
                         estimator, generator=torch.Generator().manual_seed(0))
    assert g.shape == (num_samples, 2 * d) and bool(torch.isfinite(g).all())


@given(not_a_positive_int)
def test_gradient_samples_name_a_bad_number_of_samples(num_samples):
    f = quadratic_objective(torch.ones(2))
    with pytest.raises(ValueError, match="num_samples"):
        gradient_samples(f, torch.zeros(2), torch.zeros(2), num_samples)


@given(st.integers(2, 5), st.integers(2, 5), st.integers(1, 4), st.integers(0, 2**32 - 1), st.floats(1e-3, 1e3))
def test_filter_roughness_lies_in_zero_to_eight_and_ignores_the_scale(height, width, n_filters, seed, scale):
    W = np.random.default_rng(seed).normal(size=(n_filters, height * width))
    roughness = filter_roughness(W, (height, width))
    # ||grad w||^2 <= 8 ||w||^2: the largest eigenvalue of a grid's Laplacian is below 8
    assert roughness.shape == (n_filters,) and np.all((roughness >= 0) & (roughness < 8))
    assert np.allclose(filter_roughness(scale * W, (height, width)), roughness)


@given(st.sampled_from([(3,), (1, 4), (2.0, 2), "ab", None]))
def test_filter_roughness_names_a_bad_image_shape(image_shape):
    with pytest.raises(ValueError, match="image_shape"):
        filter_roughness(np.ones((2, 4)), image_shape)


# ------------------------------------------------------------------------ metrics

@st.composite
def codes_and_factors(draw):
    n = draw(st.integers(4, 60))
    n_latents, n_factors = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    factors = rng.integers(0, draw(st.integers(2, 5)), size=(n, n_factors))
    factors[:2, 0] = [0, 1]  # at least one factor varies, as the supervised metrics need
    codes = np.concatenate([factors[:, :1] + draw(st.floats(0, 2)) * rng.standard_normal((n, 1)),
                            rng.standard_normal((n, n_latents - 1))], axis=1)
    return codes, factors, rng.permutation(n)


@given(codes_and_factors(), st.integers(2, 20))
def test_information_metrics_lie_in_the_unit_interval_and_ignore_the_sample_order(data, num_bins):
    codes, factors, order = data
    for metric in (mig, modularity):
        score = metric(codes, factors, num_bins=num_bins)
        assert 0.0 <= score <= 1.0 + 1e-12
        assert metric(codes[order], factors[order], num_bins=num_bins) == pytest.approx(score, abs=1e-12)
    mi = mutual_info_matrix(codes, factors, num_bins=num_bins)
    entropy = factor_entropy(factors)
    assert mi.shape == (codes.shape[1], factors.shape[1]) and np.all(mi >= -1e-12)
    assert np.all(mi <= entropy[None, :] + 1e-9)  # I(z; v) <= H(v)
    np.testing.assert_allclose(mutual_info_matrix(codes[order], factors[order], num_bins=num_bins), mi, atol=1e-12)


@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 5)), elements=st.floats(0, 1e3)))
def test_dci_scores_lie_in_the_unit_interval_and_ignore_the_latent_order(importance):
    scores = dci_scores(importance)
    assert all(-1e-9 <= value <= 1 + 1e-9 for value in scores.values())
    flipped = dci_scores(importance[::-1])
    assert flipped == pytest.approx(scores, abs=1e-9)


@given(codes_and_factors(), st.sampled_from([math.nan, math.inf, -math.inf]), st.integers(0, 10**6))
def test_metrics_name_non_finite_codes(data, bad, position):
    codes, factors, _ = data
    codes = codes.copy()
    codes.flat[position % codes.size] = bad
    for metric in (mig, modularity, mutual_info_matrix):
        with pytest.raises(ValueError, match="codes contains 1 NaN or infinite"):
            metric(codes, factors)


@given(codes_and_factors(), st.sampled_from([0.5, math.nan, -1.0]))
def test_metrics_name_factors_that_are_not_class_indices(data, bad):
    codes, factors, _ = data
    factors = factors.astype(np.float64)
    factors[0, 0] = bad
    for call in (lambda: mig(codes, factors), lambda: factor_entropy(factors)):
        with pytest.raises(ValueError, match="factors must hold"):
            call()


# ------------------------------------------------------------------------ the dSprites renderer and sampler

DSPRITES = DSprites(16)  # a small frame: the properties are about the grid, not the pixels


@given(st.integers(0, 20), st.integers(0, 2**32 - 1))
def test_sampled_factors_render_to_binary_images_and_round_trip_through_the_index(n, seed):
    factors = DSPRITES.sample_factors(n, seed)
    assert factors.shape == (n, 5) and factors.dtype == np.int64
    assert np.all((factors >= 0) & (factors < np.asarray(DSPRITES.factor_sizes)))
    images = DSPRITES.render(factors)
    assert images.shape == (n, 1, 16, 16) and set(np.unique(images)) <= {0.0, 1.0}
    np.testing.assert_array_equal(DSPRITES.index_to_factors(DSPRITES.factors_to_index(factors)), factors)


@given(st.integers(1, 4), st.sampled_from(["scale", "orientation", "pos_x", "pos_y"]),
       st.sampled_from([math.nan, math.inf]))
def test_render_values_names_a_non_finite_value(n, name, bad):
    values = {"scale": np.ones(n), "orientation": np.zeros(n), "pos_x": np.full(n, 0.5), "pos_y": np.full(n, 0.5)}
    values[name][-1] = bad
    with pytest.raises(ValueError, match=name):
        DSPRITES.render_values(np.zeros(n, dtype=int), **values)


@given(st.floats(0, 2).filter(lambda s: s != round(s)))
def test_render_values_refuses_a_fractional_shape(shape):
    with pytest.raises(ValueError, match="shape must hold integer class indices"):
        DSPRITES.render_values(np.array([shape]), np.ones(1), np.zeros(1), np.full(1, 0.5), np.full(1, 0.5))


@given(st.sampled_from(["n", "rng"]), st.one_of(st.integers(max_value=-1), st.floats(), st.text(max_size=2)))
def test_sample_factors_names_a_bad_argument(name, value):
    kwargs = {"n": 3, "rng": 0, name: value}
    with pytest.raises(ValueError, match=name):
        DSPRITES.sample_factors(**kwargs)


# ------------------------------------------------------------------------ the data loaders

@given(st.integers(1, 50), st.floats(1e-3, 1e3), st.integers(0, 2**32 - 1))
def test_noisy_circle_without_noise_lies_on_the_circle(n, radius, seed):
    points = noisy_circle(n, radius=radius, noise=0.0, random_state=seed)
    assert points.shape == (n, 2) and points.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(points.astype(np.float64), axis=1), radius, rtol=1e-6)


@given(st.sampled_from(["radius", "noise"]), not_a_non_negative_number)
def test_noisy_circle_names_a_bad_number(name, value):
    with pytest.raises(ValueError, match=name):
        noisy_circle(5, **{name: value})


@given(st.integers(1, 30), st.integers(1, 40), st.booleans())
def test_make_loader_yields_every_sample_once_in_batches(n, batch_size, shuffle):
    X = torch.arange(n)
    batches = [b[0] for b in make_loader(X, batch_size=batch_size, shuffle=shuffle)]
    assert len(batches) == math.ceil(n / batch_size)
    assert sorted(torch.cat(batches).tolist()) == list(range(n))


@given(not_a_positive_int)
def test_make_loader_names_a_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        make_loader(np.zeros(3), batch_size=batch_size)


@given(st.integers(1, 4), st.sampled_from([1, 2, 4]), st.integers(1, 3),
       st.integers(0, 2**32 - 1))
def test_downsample_keeps_the_mean_of_each_image(n, factor, blocks, seed):
    side = factor * blocks
    X = np.random.default_rng(seed).random((n, side * side))
    small = downsample(X, factor)
    assert small.shape == (n, blocks * blocks)
    np.testing.assert_allclose(small.mean(1), X.mean(1), rtol=1e-12)


@given(not_a_positive_int)
def test_downsample_names_a_bad_factor(factor):
    with pytest.raises(ValueError, match="factor"):
        downsample(np.zeros((1, 16)), factor)
