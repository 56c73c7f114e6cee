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
from lecturelib.evaluation import interpolate, interpolation_images, linear_probe_curve, tsne
from lecturelib.metrics import beta_vae_score, downstream, factor_vae_score, sample_codes, statistical_efficiency
from lecturelib.models import regularizers as R
from lecturelib.models.dsprites_mlp import dsprites_mlp_vae
from lecturelib.plotting import annotated_heatmap, image_grid, mi_heatmap, plot_embedding
from lecturelib.study import make_grid, run_study
from lecturelib.study.tables import pixel_entropy_sum, rank_correlation
from lecturelib.training import train
from lecturelib.validation import check_array, check_choice, check_int, check_number, check_tensor
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


@given(st.integers(2, 300), st.floats(1.0, 1e12, exclude_min=True))
def test_ill_conditioned_lasso_spans_its_condition_number(n_atoms, condition):
    x, D = sc.ill_conditioned_lasso(n_atoms, condition)
    curvatures = np.diag(D) ** 2
    assert x.shape == (1, n_atoms) and np.all(np.isfinite(x)) and np.all(np.diff(curvatures) >= 0)
    assert curvatures[-1] == pytest.approx(1.0) and curvatures[0] == pytest.approx(1 / condition)
    np.testing.assert_array_equal(x[0], np.diag(D))  # so that h* = (1, ..., 1)


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


# ------------------------------------------------------------------------ the validation helpers for arrays

@given(hnp.array_shapes(min_dims=0, max_dims=4).filter(lambda shape: len(shape) != 2))
def test_check_array_names_the_argument_and_the_layout_for_a_wrong_shape(shape):
    with pytest.raises(ValueError, match=r"^features must have shape \(n_samples, n_features\)"):
        check_array(np.zeros(shape), "features", ndim=2, layout="(n_samples, n_features)")


@given(hnp.array_shapes(max_dims=3), st.sampled_from([math.nan, math.inf]))
def test_check_array_and_check_tensor_refuse_non_finite_values(shape, bad):
    x = np.zeros(shape)
    x.flat[-1] = bad
    with pytest.raises(ValueError, match="^x contains 1 NaN or infinite"):
        check_array(x, "x")
    with pytest.raises(ValueError, match="^x contains 1 NaN or infinite"):
        check_tensor(torch.from_numpy(x), "x", finite=True)


@given(st.one_of(st.integers(), st.text(max_size=3), st.none(), st.floats()))
def test_check_choice_names_the_argument_and_the_choices(value):
    assume(value not in ("linear", "spherical"))
    with pytest.raises(ValueError, match=r"^path=.* is not known; expected one of: 'linear', 'spherical'"):
        check_choice(value, "path", ("linear", "spherical"))


# ------------------------------------------------------------------------ evaluation

vectors = st.integers(1, 6).flatmap(lambda d: st.tuples(hnp.arrays(np.float64, d, elements=finite),
                                                        hnp.arrays(np.float64, d, elements=finite)))


@given(vectors, st.integers(2, 8))
def test_linear_interpolation_has_exact_endpoints_and_a_midpoint_between_them(ends, num_steps):
    a, b = ends
    points = interpolate(a, b, num_steps)
    assert points.shape == (num_steps, len(a)) and np.all(np.isfinite(points))
    np.testing.assert_array_equal(points[0], a)
    np.testing.assert_allclose(points[-1], b, rtol=1e-12, atol=1e-9)
    assert np.all(points >= np.minimum(a, b) - 1e-9) and np.all(points <= np.maximum(a, b) + 1e-9)


@given(st.sampled_from(["start", "end"]), st.sampled_from([math.nan, math.inf]))
def test_interpolate_names_a_non_finite_endpoint(name, bad):
    ends = {"start": np.zeros(3), "end": np.ones(3)}
    ends[name][1] = bad
    with pytest.raises(ValueError, match=f"^{name} contains 1 NaN"):
        interpolate(ends["start"], ends["end"], 3)


@given(not_a_positive_int)
def test_interpolation_images_names_a_bad_number_of_steps(num_steps):
    with pytest.raises(ValueError, match="num_steps"):
        interpolation_images(np.zeros(4), np.ones(4), num_steps, "pixel")


PROBE_X, PROBE_Y = np.random.default_rng(0).standard_normal((20, 3)), np.arange(20) % 2


@given(st.one_of(st.tuples(st.sampled_from(["repeats", "max_iter"]), not_a_positive_int),
                st.tuples(st.just("C"), not_a_non_negative_number),
                st.tuples(st.just("random_state"), st.one_of(st.integers(max_value=-1), st.floats(), st.none()))))
def test_linear_probe_curve_names_a_bad_setting_before_fitting(name_and_value):
    name, value = name_and_value
    with pytest.raises(ValueError, match=name):
        linear_probe_curve(PROBE_X, PROBE_Y, PROBE_X, PROBE_Y, [4], **{name: value})


@given(st.sampled_from(["train_features", "test_features"]), st.sampled_from([math.nan, math.inf]))
def test_linear_probe_curve_names_non_finite_features(name, bad):
    features = {"train_features": PROBE_X.copy(), "test_features": PROBE_X.copy()}
    features[name][3, 1] = bad
    with pytest.raises(ValueError, match=f"^{name} contains 1 NaN"):
        linear_probe_curve(features["train_features"], PROBE_Y, features["test_features"], PROBE_Y, [4])


@given(not_a_non_negative_number)
def test_tsne_names_a_bad_perplexity(perplexity):
    with pytest.raises(ValueError, match="perplexity"):
        tsne(PROBE_X, perplexity=perplexity)


# ------------------------------------------------------------------------ plotting

@given(st.one_of(st.tuples(st.just("ncols"), not_a_positive_int.filter(lambda v: v is not None)),
                st.tuples(st.just("ax_size"), not_a_non_negative_number)))
def test_image_grid_names_a_bad_layout(name_and_value):
    name, value = name_and_value
    with pytest.raises(ValueError, match=name):
        image_grid(np.zeros((4, 3, 3)), **{name: value})


@given(st.sampled_from([math.nan, math.inf]), st.integers(0, 5))
def test_figure_helpers_name_non_finite_input(bad, position):
    mi = np.ones((2, 3))
    mi.flat[position] = bad
    with pytest.raises(ValueError, match="^mi contains 1 NaN"):
        mi_heatmap(mi, ["a", "b", "c"])
    with pytest.raises(ValueError, match="^images contains 1 NaN"):
        image_grid(mi.reshape(1, 2, 3))
    with pytest.raises(ValueError, match="^embedding contains 1 NaN"):
        plot_embedding(mi.reshape(3, 2), np.zeros(3))


@given(finite, st.floats(0, 10))
def test_annotated_heatmap_names_an_empty_colour_range(vmin, below):
    with pytest.raises(ValueError, match="vmin must be below vmax"):
        annotated_heatmap(np.zeros((2, 2)), ["a", "b"], vmin=vmin, vmax=vmin - below)


# ------------------------------------------------------------------------ training

LINEAR = torch.nn.Linear(2, 1)


def squared_loss(model, batch):
    return {"loss": (model(batch[0]) - batch[1]).pow(2).mean()}


@given(st.sampled_from(["lr", "grad_clip"]), not_a_non_negative_number)
def test_train_names_a_bad_number(name, value):
    assume(not (name == "grad_clip" and value is None))  # None: no clipping
    with pytest.raises(ValueError, match=name):
        train(LINEAR, squared_loss, (torch.zeros(4, 2), torch.zeros(4, 1)), num_steps=1, device="cpu", **{name: value})


@given(st.sampled_from(["num_steps", "batch_size", "num_logs"]), not_a_positive_int)
def test_train_names_a_bad_count(name, value):
    assume(not (name == "num_steps" and value is None))  # None: exactly one of num_steps, num_epochs is needed
    kwargs = {"num_steps": 1, name: value}
    with pytest.raises(ValueError, match=name):
        train(LINEAR, squared_loss, (torch.zeros(4, 2), torch.zeros(4, 1)), device="cpu", **kwargs)


@given(st.sampled_from(["data", "eval_data"]), st.sampled_from([math.nan, math.inf]), st.integers(0, 7))
def test_train_names_non_finite_data_before_training(name, bad, position):
    X = torch.zeros(4, 2)
    X.view(-1)[position] = bad
    data = {"data": (torch.zeros(4, 2), torch.zeros(4, 1)), "eval_data": (torch.zeros(4, 2), torch.zeros(4, 1))}
    data[name] = (X, torch.zeros(4, 1))
    with pytest.raises(ValueError, match=rf"^{name}\[0\] contains 1 NaN"):
        train(LINEAR, squared_loss, data["data"], eval_data=data["eval_data"], num_steps=1, device="cpu")


# ------------------------------------------------------------------------ the study's regularisers

batches = st.tuples(st.integers(2, 6), st.integers(1, 4), st.integers(0, 2**32 - 1)).map(
    lambda t: tuple(torch.from_numpy(np.random.default_rng(t[2]).standard_normal((3, t[0], t[1])))))


@given(batches, st.floats(0, 50).flatmap(scalars))
def test_regularizers_are_finite_scalars_and_dip_penalty_vanishes_only_at_the_identity(batch, value):
    mu, log_var, z = batch
    for method, hparams in (("beta_vae", {"beta": value}), ("beta_tcvae", {"beta": value}),
                            ("dip_vae_i", {"lambda_od": value, "lambda_d": value}),
                            ("annealed_vae", {"gamma": value, "c_max": value, "iteration_threshold": 10})):
        out = R.regularizer(method, mu, log_var, z, step=3, **hparams)
        assert out.shape == () and bool(torch.isfinite(out))
    assert float(R.kl_loss(mu, log_var)) >= 0
    eye = torch.eye(mu.shape[1], dtype=mu.dtype)
    assert float(R.dip_penalty(eye, value, value)) == 0.0
    assert float(R.dip_penalty(R.covariance(mu), 1.0, 1.0)) >= 0


@given(batches, st.integers(0, 2**32 - 1))
def test_permute_dims_keeps_every_column_s_values(batch, seed):
    z = batch[2]
    shuffled = R.permute_dims(z, torch.Generator().manual_seed(seed))
    torch.testing.assert_close(shuffled.sort(dim=0).values, z.sort(dim=0).values)


@given(st.sampled_from([("beta_vae", "beta"), ("beta_tcvae", "beta"), ("dip_vae_ii", "lambda_od"),
                        ("dip_vae_i", "lambda_d"), ("annealed_vae", "c_max"), ("annealed_vae", "gamma"),
                        ("annealed_vae", "iteration_threshold")]), not_a_non_negative_number)
def test_regularizers_name_a_bad_hyperparameter(method_and_name, value):
    method, name = method_and_name
    assume(not (name == "iteration_threshold" and value is None))
    hparams = {"beta": 1.0, "gamma": 1.0, "c_max": 1.0, "iteration_threshold": 10, "lambda_od": 1.0, "lambda_d": 1.0}
    hparams[name] = value
    mu = torch.zeros(3, 2)
    with pytest.raises(ValueError, match=name):
        R.regularizer(method, mu, mu, mu, **hparams)


@given(st.sampled_from(["mu", "log_var", "z"]), st.sampled_from([np.zeros((3, 2)), torch.zeros(6), 1.0]))
def test_regularizers_name_a_batch_that_is_not_a_matching_tensor(name, bad):
    batch = {"mu": torch.zeros(3, 2), "log_var": torch.zeros(3, 2), "z": torch.zeros(3, 2)}
    batch[name] = bad
    with pytest.raises(ValueError, match=name):
        R.regularizer("beta_tcvae", batch["mu"], batch["log_var"], batch["z"], beta=2.0)


@given(st.sampled_from(["n_latents", "n_channels", "hidden"]), not_a_positive_int)
def test_dsprites_mlp_vae_names_a_bad_size(name, value):
    with pytest.raises(ValueError, match=name):
        dsprites_mlp_vae(**{"n_latents": 2, "n_channels": 1, "hidden": 4, name: value})


# ------------------------------------------------------------------------ sampling-level metrics and study tables

def mean_pixel(images):
    """A two-latent representation of images: their mean and their first pixel."""
    flat = torch.as_tensor(images).flatten(1).double()
    return torch.stack([flat.mean(1), flat[:, 0]], dim=1)


@given(st.integers(1, 20), st.integers(0, 2**32 - 1))
def test_sample_codes_give_finite_codes_of_valid_factors(n, seed):
    codes, factors = sample_codes(DSPRITES, mean_pixel, n, seed, device="cpu")
    assert codes.shape == (n, 2) and codes.dtype == np.float64 and np.all(np.isfinite(codes))
    assert factors.shape == (n, 5) and np.all((factors >= 0) & (factors < np.asarray(DSPRITES.factor_sizes)))


@given(st.sampled_from([sample_codes, beta_vae_score, factor_vae_score, downstream]),
       st.sampled_from(["data", "encode"]))
def test_sampling_metrics_name_a_bad_data_set_or_encoder(metric, name):
    kwargs = {"data": DSPRITES, "encode": mean_pixel, name: object()}
    if metric is sample_codes:
        kwargs["num_samples"] = 3
    with pytest.raises(ValueError, match=f"^{name} must be"):
        metric(**kwargs)


@given(not_a_non_negative_number)
def test_factor_vae_score_names_a_bad_prune_threshold(value):
    with pytest.raises(ValueError, match="prune_threshold"):
        factor_vae_score(DSPRITES, mean_pixel, prune_threshold=value)


@given(st.one_of(st.text(max_size=4), st.none(), st.integers()))
def test_downstream_names_an_unknown_model(model):
    assume(model not in ("lr", "gbt"))
    with pytest.raises(ValueError, match="model="):
        downstream(DSPRITES, mean_pixel, model=model)


@given(st.sampled_from(["small", "large"]), not_a_positive_int)
def test_statistical_efficiency_names_a_bad_size(name, value):
    with pytest.raises(ValueError, match=name):
        statistical_efficiency({"100.mean_test_accuracy": 0.5, "10000.mean_test_accuracy": 0.9}, **{name: value})


@given(st.integers(3, 12).flatmap(lambda n: hnp.arrays(np.float64, (n, 3), elements=finite)))
def test_rank_correlation_is_symmetric_and_in_the_unit_interval(scores):
    corr = rank_correlation(scores)
    assert corr.shape == (3, 3)
    np.testing.assert_array_equal(np.isnan(corr), np.isnan(corr.T))
    defined = corr[~np.isnan(corr)]
    assert np.all(np.abs(defined) <= 1 + 1e-12)
    np.testing.assert_allclose(corr, corr.T, equal_nan=True)


@given(hnp.arrays(np.float64, st.integers(1, 6), elements=st.floats(-10, 10)))
def test_pixel_entropy_sum_is_non_negative_in_the_unit_interval_and_names_p_outside(p):
    if np.all((p >= 0) & (p <= 1)):
        assert pixel_entropy_sum(p) >= 0
    else:
        with pytest.raises(ValueError, match=r"^p must hold pixel means in \[0, 1\]"):
            pixel_entropy_sum(p)


@given(st.one_of(st.tuples(st.sampled_from(["workers", "group_size"]), not_a_positive_int.filter(lambda v: v is not None)),
                 st.tuples(st.just("job_fn"), st.sampled_from([None, 3, "cheap_job"]))))
def test_run_study_names_a_bad_argument_before_touching_the_folder(tmp_path_factory, name_and_value):
    name, value = name_and_value
    root = tmp_path_factory.getbasetemp() / "never-written"
    kwargs = {"job_fn": len, name: value}
    with pytest.raises(ValueError, match=name):
        run_study(make_grid(["toy"], {"beta_vae": [{"beta": 1.0}]}, [0]), root=root, **kwargs)
    assert not root.exists()
