"""Tests of lecturelib.representations: controlled codes, pixel encoders, VAE encoders, BetaVAE points."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lecturelib.data.dsprites import DSprites
from lecturelib.metrics import beta_vae_score, mig, sample_codes
from lecturelib.metrics.classifier_based import make_classifier
from lecturelib.validation import child_seed
from lecturelib.models.dsprites_conv import dsprites_conv_vae
from lecturelib.representations import (
    CONTROLLED,
    FactorObservations,
    LinearCodes,
    NoiseCodes,
    PixelEncoder,
    VAEMeanEncoder,
    beta_vae_points,
    controlled_encoders,
    fit_pixel_encoder,
    flatten_pixels,
)

SUBSET = {"scale": [0, 5], "orientation": [0, 5], "posX": [0, 10, 20, 31], "posY": [0, 10, 20, 31]}


@pytest.fixture(scope="module")
def data():
    return DSprites(subset=SUBSET)


@pytest.fixture(scope="module")
def obs(data):
    return FactorObservations(data)


def test_factor_observations_are_standardised_and_match_torch(obs):
    factors = obs.sample_factors(4000, 0)
    x = obs.render(factors)
    assert x.shape == (4000, 5) and x.dtype == np.float32
    np.testing.assert_allclose(x.mean(0), 0.0, atol=0.08)
    # uniform over s values, rescaled to unit variance in the continuum limit: var = (s + 1) / (s - 1)
    sizes = np.array(obs.factor_sizes)
    np.testing.assert_allclose(x.var(0), (sizes + 1) / (sizes - 1), rtol=0.08)
    np.testing.assert_allclose(obs.render(torch.as_tensor(factors)).numpy(), x, atol=1e-6)
    with pytest.raises(ValueError, match="factors must have shape"):
        obs.render(factors[:, :3])
    with pytest.raises(ValueError, match="ground-truth data set"):
        FactorObservations(object())


def test_controlled_encoders_shapes_and_structure(obs):
    enc = controlled_encoders(5, random_state=3, duplicate=1, drop=2)
    assert tuple(enc) == CONTROLLED
    x = obs.render(obs.sample_factors(50, 1))
    np.testing.assert_array_equal(enc["true factors"](x), x.astype(np.float64))
    rot = enc["rotation"].weights
    np.testing.assert_allclose(rot @ rot.T, np.eye(5), atol=1e-12)
    assert np.linalg.det(rot) == pytest.approx(1.0)
    dup = enc["duplicated"](x)
    assert dup.shape == (50, 6)
    np.testing.assert_array_equal(dup[:, 5], dup[:, 1])
    np.testing.assert_array_equal(enc["missing"](x), np.delete(x.astype(np.float64), 2, axis=1))
    # torch in, torch out, same numbers
    np.testing.assert_allclose(enc["rotation"](torch.as_tensor(x)).numpy(), enc["rotation"](x), atol=1e-6)
    with pytest.raises(ValueError, match="duplicate must be"):
        controlled_encoders(5, duplicate=5)
    with pytest.raises(ValueError, match="observations must have shape"):
        enc["true factors"](x[:, :2])
    with pytest.raises(ValueError, match=r"weights must have shape \(n_factors, n_latents\)"):
        LinearCodes(np.array([1.0, np.nan]))


def test_noise_is_reproducible_and_uninformative(obs):
    a, b = NoiseCodes(4, random_state=7), NoiseCodes(4, random_state=7)
    x = np.zeros((100, 5), np.float32)
    np.testing.assert_array_equal(a(x), b(x))
    assert not np.array_equal(a(x), a(x))  # fresh draws per call
    assert isinstance(b(torch.zeros(3, 5)), torch.Tensor)
    codes, factors = sample_codes(obs, NoiseCodes(5, 0), 2000, random_state=0, device=None)
    assert mig(codes, factors) < 0.05
    with pytest.raises(ValueError, match="n_latents"):
        NoiseCodes(0)


def test_truth_beats_rotation_beats_noise_on_mig(obs):
    enc = controlled_encoders(5, random_state=0)
    scores = {}
    for name in ("true factors", "rotation", "noise"):
        codes, factors = sample_codes(obs, enc[name], 2000, random_state=0, device=None)
        scores[name] = mig(codes, factors)
    assert scores["true factors"] > 0.9 > scores["rotation"] > scores["noise"], scores


def test_beta_vae_points_reproduce_the_library_metric(obs):
    encode = controlled_encoders(5, random_state=0)["rotation"]
    rng = np.random.default_rng(11)
    x_train, y_train = beta_vae_points(obs, encode, 60, batch_size=8, random_state=rng, encode_batch_size=20)
    x_eval, y_eval = beta_vae_points(obs, encode, 40, batch_size=8, random_state=rng)
    assert x_train.shape == (60, 5) and y_train.shape == (60,) and set(y_train) <= set(range(5))
    clf = make_classifier("logistic_ovr", child_seed(rng)).fit(x_train, y_train)
    ours = float(np.mean(clf.predict(x_eval) == y_eval))
    library = beta_vae_score(obs, encode, batch_size=8, num_train=60, num_eval=40, random_state=11, device=None)
    assert ours == pytest.approx(library["eval_accuracy"])


def test_beta_vae_points_truth_has_a_zero_coordinate(obs):
    z_avg, k = beta_vae_points(obs, controlled_encoders(5)["true factors"], 30, batch_size=4, random_state=0)
    np.testing.assert_array_equal(z_avg[np.arange(30), k], 0.0)
    others = np.ones_like(z_avg, dtype=bool)
    others[np.arange(30), k] = False
    assert np.all(z_avg[others] >= 0)
    with pytest.raises(ValueError, match="batch_size"):
        beta_vae_points(obs, controlled_encoders(5)["true factors"], 3, batch_size=0)


def test_ica_of_full_size_dsprites_gives_whitened_finite_sources():
    # FastICA's own whitening returned NaN sources here (5,000 images of 4,096 mostly black pixels)
    data = DSprites()
    ica = fit_pixel_encoder(data, "ica", n_components=10, num_samples=5_000, random_state=0)
    codes = ica(data.render(data.sample_factors(2_000, 1)))
    assert np.isfinite(codes).all()
    np.testing.assert_allclose(np.cov(codes.T), np.eye(10), atol=0.15)  # unit variance, decorrelated


def test_pixel_encoders(data):
    images = data.render(data.sample_factors(20, 0))
    assert flatten_pixels(images).shape == (20, 64 * 64)
    pca = fit_pixel_encoder(data, "pca", n_components=4, num_samples=200, random_state=0)
    codes = pca(images)
    assert codes.shape == (20, 4)
    np.testing.assert_allclose(pca(torch.as_tensor(images)).numpy(), codes)
    ica = fit_pixel_encoder(data, "ica", n_components=3, num_samples=200, random_state=0)
    again = fit_pixel_encoder(data, "ica", n_components=3, num_samples=200, random_state=0)
    np.testing.assert_allclose(ica(images), again(images))  # deterministic under a seed
    with pytest.raises(ValueError, match="method"):
        fit_pixel_encoder(data, "nmf")
    with pytest.raises(ValueError, match="num_samples"):
        fit_pixel_encoder(data, "pca", n_components=10, num_samples=5)
    with pytest.raises(ValueError, match="transformer"):
        PixelEncoder(object())


def test_vae_mean_encoder_matches_the_encoder(data):
    torch.set_num_threads(1)
    model = dsprites_conv_vae(4, seed=0)
    images = data.render(data.sample_factors(6, 0))
    encode = VAEMeanEncoder(model)
    codes = encode(images)
    with torch.no_grad():
        expected = model.encoder(torch.as_tensor(images))[0].double().numpy()
    np.testing.assert_allclose(codes, expected, atol=1e-6)
    assert isinstance(encode(torch.as_tensor(images)), torch.Tensor)
