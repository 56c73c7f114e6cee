import math

import numpy as np
import pytest
import torch
from scipy.linalg import subspace_angles
from sklearn.decomposition import PCA

from lecturelib import autoencoders as ae
from lecturelib.data.toy import noisy_circle, render_glyphs, uniform_noise_images
from lecturelib.sparse_coding import ista, lipschitz_constant
from lecturelib.training import evaluate, train


# ------------------------------------------------------------------ shapes, dtypes, validation
@pytest.mark.parametrize("make", [
    lambda: ae.Autoencoder(20, 5),
    lambda: ae.Autoencoder(20, 30, hidden=(16,), code_activation="relu", output="linear"),
    lambda: ae.TiedAutoencoder(20, 7, code_activation="sigmoid"),
    lambda: ae.TiedAutoencoder(20, 7, code_activation="soft_threshold", threshold=0.1, output="linear"),
    lambda: ae.ConvAutoencoder(side=8, n_code=4, channels=(3, 5)),
])
def test_model_shapes_and_dtypes(make):
    torch.manual_seed(0)
    model = make()
    x = torch.rand(6, model.n_features)
    h = model.encode(x)
    x_hat = model(x).detach()
    h = h.detach()
    h2, raw = (t.detach() for t in model.forward_raw(x))
    assert h.shape == (6, model.n_code) and h.dtype == torch.float32
    assert x_hat.shape == x.shape and x_hat.dtype == torch.float32 and raw.shape == x.shape
    assert torch.equal(h, h2)
    if model.output == "sigmoid":
        assert torch.allclose(x_hat, torch.sigmoid(raw)) and float(x_hat.min()) >= 0 and float(x_hat.max()) <= 1
    else:
        assert torch.equal(x_hat, raw)
    recon = model.reconstruct(x.numpy())
    assert recon.shape == (6, model.n_features) and recon.dtype == np.float32
    assert model.encoder_filters().shape[-1] in (model.n_features, 9)


def test_lista_shapes():
    D = torch.randn(12, 8)
    model = ae.LISTA(D, lam=0.1, n_steps=3)
    h = model(torch.randn(5, 8))
    assert h.shape == (5, 12) and h.dtype == torch.float32


def test_bad_inputs_name_the_argument():
    model = ae.Autoencoder(10, 3)
    with pytest.raises(ValueError, match="x must have shape"):
        model(torch.rand(4, 11))
    with pytest.raises(ValueError, match="x must be a floating-point"):
        model(torch.ones(4, 10, dtype=torch.long))
    with pytest.raises(ValueError, match="h must have shape"):
        model.decode(torch.rand(4, 4))
    with pytest.raises(ValueError, match="n_code"):
        ae.Autoencoder(10, 0)
    with pytest.raises(ValueError, match="code_activation"):
        ae.Autoencoder(10, 3, code_activation="swish")
    with pytest.raises(ValueError, match="output"):
        ae.TiedAutoencoder(10, 3, output="softmax")
    with pytest.raises(ValueError, match="side"):
        ae.ConvAutoencoder(side=10)
    with pytest.raises(ValueError, match="sigma"):
        ae.gaussian_noise(torch.zeros(3), -1.0)
    with pytest.raises(ValueError, match="p must be a probability"):
        ae.masking_noise(torch.zeros(3), 1.5)
    with pytest.raises(ValueError, match="kind"):
        ae.make_corruption("blur", 0.1)
    with pytest.raises(ValueError, match="rho"):
        ae.kl_sparsity_penalty(torch.rand(4, 3), 1.0)
    with pytest.raises(ValueError, match="kl_target"):
        ae.autoencoder_loss(kl_weight=1.0)
    with pytest.raises(ValueError, match="logits and x"):
        ae.binary_cross_entropy(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="H and H_star"):
        ae.relative_code_error(np.zeros((2, 3)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="n_steps"):
        ae.LISTA(np.eye(3), 0.1, 0)


def test_corruptions_accept_numpy_scalars_and_refuse_nan():
    x = torch.rand(4, 5)
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    torch.testing.assert_close(ae.masking_noise(x, np.float32(0.25), generator=g()),
                               ae.masking_noise(x, 0.25, generator=g()), rtol=0, atol=0)
    torch.testing.assert_close(ae.gaussian_noise(x, np.float64(0.1), generator=g()),
                               ae.gaussian_noise(x, 0.1, generator=g()), rtol=0, atol=0)
    with pytest.raises(ValueError, match="p must be a probability"):
        ae.masking_noise(x, float("nan"))
    with pytest.raises(ValueError, match="sigma"):
        ae.gaussian_noise(x, float("nan"))


def test_tied_and_lista_models_name_a_bad_lam_lipschitz_or_dictionary():
    with pytest.raises(ValueError, match="lam"):
        ae.TiedAutoencoder.from_dictionary(np.eye(3), float("nan"))
    with pytest.raises(ValueError, match="lipschitz"):
        ae.LISTA(np.eye(3), 0.1, 2, lipschitz=0.0)
    with pytest.raises(ValueError, match="D contains"):
        ae.LISTA(np.full((3, 3), np.nan), 0.1, 2)
    with pytest.raises(ValueError, match="step"):
        ae.TiedAutoencoder(10, 3, step=float("inf"))


# ------------------------------------------------------------------ tied weights
def test_tied_weights_are_one_shared_parameter_and_get_gradients():
    torch.manual_seed(0)
    model = ae.TiedAutoencoder(12, 5, code_activation="sigmoid")
    weights = [p for name, p in model.named_parameters() if p.ndim == 2]
    assert len(weights) == 1 and weights[0] is model.weight
    x = torch.rand(8, 12)
    h = model.encode(x)
    # both uses of W receive gradient: through the encoder alone and through the decoder alone
    g_enc, = torch.autograd.grad(h.sum(), model.weight)
    g_dec, = torch.autograd.grad(model.decode_raw(h.detach()).sum(), model.weight)
    assert g_enc.abs().sum() > 0 and g_dec.abs().sum() > 0
    g_total, = torch.autograd.grad(ae.squared_error(model(x), x), model.weight)
    assert torch.isfinite(g_total).all() and g_total.abs().sum() > 0
    # changing W changes both the encoder and the decoder
    with torch.no_grad():
        model.weight.mul_(2)
    assert not torch.allclose(model.encode(x), h)


# ------------------------------------------------------------------ losses
def test_losses_match_the_slide_formulas_on_hand_computed_cases():
    logits = torch.tensor([[0.0, math.log(3.0)]])  # sigmoid: 0.5, 0.75
    x = torch.tensor([[1.0, 0.0]])
    expected = -(math.log(0.5) + math.log(0.25))
    assert ae.binary_cross_entropy(logits, x).item() == pytest.approx(expected, rel=1e-6)
    x_hat = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    target = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    # sample 1: 0.5 * (0 + 4 + 4) = 4; sample 2: 0.5 * 3 = 1.5; mean 2.75
    assert ae.squared_error(x_hat, target).item() == pytest.approx(2.75)
    assert ae.reconstruction_loss(x_hat, target, "linear").item() == pytest.approx(2.75)
    assert ae.l1_penalty(torch.tensor([[1.0, -2.0], [0.0, 3.0]])).item() == pytest.approx(3.0)
    h = torch.tensor([[0.2, 0.5], [0.2, 0.5]])
    rho = 0.1
    kl = sum(rho * math.log(rho / q) + (1 - rho) * math.log((1 - rho) / (1 - q)) for q in (0.2, 0.5))
    assert ae.kl_sparsity_penalty(h, rho).item() == pytest.approx(kl, rel=1e-6)
    assert ae.kl_sparsity_penalty(torch.full((3, 2), 0.1), 0.1).item() == pytest.approx(0.0, abs=1e-6)


def test_cross_entropy_stays_finite_where_the_sigmoid_saturates():
    logits = torch.tensor([[-200.0, 200.0, -200.0, 200.0]], requires_grad=True)
    assert torch.sigmoid(logits).detach().tolist() == [[0.0, 1.0, 0.0, 1.0]]  # outputs exactly 0 and 1
    x = torch.tensor([[0.0, 1.0, 1.0, 0.0]])
    loss = ae.binary_cross_entropy(logits, x)
    # right answers cost ~0, confident wrong answers cost exactly |logit| each
    assert torch.isfinite(loss) and loss.item() == pytest.approx(400.0, rel=1e-6)
    loss.backward()
    assert torch.isfinite(logits.grad).all()
    # the naive formula on probabilities is not finite there
    p = torch.sigmoid(logits.detach())
    naive = -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum()
    assert not torch.isfinite(naive)


# ------------------------------------------------------------------ corruption processes
def test_gaussian_noise_has_the_requested_statistics():
    x = torch.full((400, 250), 0.3)
    g = torch.Generator().manual_seed(0)
    x_tilde = ae.gaussian_noise(x, 0.2, generator=g)
    noise = x_tilde - x
    assert abs(noise.mean().item()) < 0.002 and noise.std().item() == pytest.approx(0.2, rel=0.01)
    again = ae.gaussian_noise(x, 0.2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x_tilde, again)
    clipped = ae.gaussian_noise(x, 1.0, clip=True)
    assert clipped.min() >= 0 and clipped.max() <= 1
    assert torch.equal(ae.gaussian_noise(x, 0.0), x)


def test_masking_and_salt_and_pepper_statistics():
    x = torch.full((500, 200), 0.5)
    g = torch.Generator().manual_seed(1)
    masked = ae.masking_noise(x, 0.3, generator=g)
    assert set(torch.unique(masked).tolist()) == {0.0, 0.5}
    assert (masked == 0).float().mean().item() == pytest.approx(0.3, abs=0.005)
    sp = ae.salt_and_pepper(x, 0.4, generator=g)
    changed = sp != x
    assert changed.float().mean().item() == pytest.approx(0.4, abs=0.005)
    assert (sp[changed] == 1).float().mean().item() == pytest.approx(0.5, abs=0.01)
    assert set(torch.unique(sp).tolist()) == {0.0, 0.5, 1.0}
    assert torch.equal(ae.masking_noise(x, 0.0), x) and (ae.masking_noise(x, 1.0) == 0).all()
    corrupt = ae.make_corruption("salt_and_pepper", 0.4, generator=torch.Generator().manual_seed(1))
    assert corrupt(x).shape == x.shape


# ------------------------------------------------------------------ training
def test_training_reduces_the_loss_and_the_loss_uses_the_clean_input():
    torch.manual_seed(0)
    X = torch.rand(128, 16) * (torch.rand(1, 16) > 0.5)
    model = ae.Autoencoder(16, 8, hidden=(32,))
    loss_fn = ae.autoencoder_loss(corruption=ae.make_corruption("masking", 0.2), l1=1e-3)
    before = evaluate(model, ae.autoencoder_loss(), X, device="cpu")["loss"]
    history = train(model, loss_fn, X, num_steps=100, batch_size=32, lr=1e-2, device="cpu")
    after = evaluate(model, ae.autoencoder_loss(), X, device="cpu")["loss"]
    assert set(history.train) == {"loss", "reconstruction", "sparsity"}
    assert after < 0.8 * before

    class Spy(ae.Autoencoder):  # records what the encoder saw
        def encode(self, x):
            self.seen = x
            return super().encode(x)

    spy = Spy(16, 4, output="linear")
    out = ae.autoencoder_loss(corruption=lambda x: x + 1.0)(spy, (X[:4],))
    assert torch.allclose(spy.seen, X[:4] + 1.0)
    expected = ae.squared_error(spy.decode_raw(spy.encode(X[:4] + 1.0)), X[:4])  # compared with clean X
    assert out["loss"].item() == pytest.approx(expected.item())


def test_linear_autoencoder_spans_the_pca_subspace():
    rng = np.random.default_rng(0)
    n_code = 3
    scales = np.array([5.0, 4.0, 3.0, 0.3, 0.2, 0.1, 0.1, 0.05])
    basis = np.linalg.qr(rng.standard_normal((8, 8)))[0]
    X = (rng.standard_normal((1000, 8)) * scales) @ basis.T + 2.0
    X = X.astype(np.float32)
    torch.manual_seed(0)
    model = ae.Autoencoder(8, n_code, code_activation="linear", output="linear")
    train(model, ae.autoencoder_loss(), X, num_steps=1500, batch_size=200, lr=1e-2, device="cpu")
    pca = PCA(n_code).fit(X)
    angles = subspace_angles(model.decoder_basis().numpy(), pca.components_.T)
    assert np.degrees(angles).max() < 2.0
    # and not just any subspace: a random one is far away
    assert np.degrees(subspace_angles(rng.standard_normal((8, n_code)), pca.components_.T)).max() > 10


# ------------------------------------------------------------------ weight tying = one ISTA step; LISTA
def test_tied_soft_threshold_encoder_is_one_ista_step():
    rng = np.random.default_rng(0)
    D = rng.standard_normal((15, 10))
    X = rng.standard_normal((20, 10))
    lam = 0.5
    model = ae.TiedAutoencoder.from_dictionary(D, lam)
    assert model.weight.dtype == torch.float64
    H_model = model.encode(torch.from_numpy(X)).detach().numpy()
    H_ista = ista(X, D, lam, max_iter=1, stop="none")
    np.testing.assert_allclose(H_model, H_ista, rtol=1e-12, atol=1e-12)
    assert (H_ista == 0).mean() > 0.1  # the threshold is active, so the test checks it
    np.testing.assert_allclose(model.decode(torch.from_numpy(H_model)).detach().numpy(), H_model @ D, atol=1e-12)
    assert model.step == pytest.approx(1 / lipschitz_constant(D))


def test_lista_initialised_from_the_dictionary_is_ista_and_training_helps():
    rng = np.random.default_rng(0)
    D = rng.standard_normal((12, 8)).astype(np.float32)
    X = rng.standard_normal((300, 8)).astype(np.float32)
    lam = 0.3
    model = ae.LISTA(D, lam, n_steps=3)
    for k in (1, 2, 5):
        np.testing.assert_allclose(model(torch.from_numpy(X), n_steps=k).detach().numpy(),
                                   ista(X, D, lam, max_iter=k, stop="none"), atol=1e-5)
    H_star = ista(X.astype(np.float64), D, lam, max_iter=5000, tol=1e-12).astype(np.float32)
    before = ae.relative_code_error(model(torch.from_numpy(X)).detach(), H_star)
    torch.manual_seed(0)
    train(model, ae.lista_loss, (X, H_star), num_steps=300, batch_size=64, lr=3e-3, device="cpu")
    after = ae.relative_code_error(model(torch.from_numpy(X)).detach(), H_star)
    assert after < 0.5 * before


def test_reconstruction_errors_and_relative_code_error():
    model = ae.Autoencoder(4, 2, output="linear")
    X = np.zeros((3, 4), dtype=np.float32)
    errors = ae.reconstruction_errors(model, X)
    expected = (model.reconstruct(X) ** 2).sum(1)
    np.testing.assert_allclose(errors, expected, rtol=1e-6)
    with pytest.raises(ValueError, match="X must have shape"):
        ae.reconstruction_errors(model, np.zeros((3, 5)))
    assert ae.relative_code_error(np.array([[1.0, 0.0]]), np.array([[2.0, 0.0]])) == pytest.approx(0.25)


# ------------------------------------------------------------------ toy data
def test_toy_data():
    P = noisy_circle(500, radius=2.0, noise=0.0, random_state=0)
    assert P.shape == (500, 2) and P.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(P, axis=1), 2.0, rtol=1e-5)
    assert np.array_equal(noisy_circle(10, random_state=3), noisy_circle(10, random_state=3))
    noisy = noisy_circle(4000, noise=0.1, random_state=0)
    assert np.std(np.linalg.norm(noisy, axis=1) - 1.0) == pytest.approx(0.1, rel=0.1)
    glyphs = render_glyphs("AX")
    assert glyphs.shape == (2, 784) and glyphs.dtype == np.float32
    assert glyphs.min() >= 0 and glyphs.max() <= 1 and (glyphs.mean(1) > 0.03).all()
    assert not np.allclose(glyphs[0], glyphs[1])
    assert glyphs.reshape(2, 28, 28)[:, [0, -1]].max() == 0  # drawn centred, borders empty
    noise = uniform_noise_images(5, 16, random_state=0)
    assert noise.shape == (5, 16) and 0 <= noise.min() and noise.max() <= 1
    with pytest.raises(ValueError, match="text"):
        render_glyphs("")
    with pytest.raises(ValueError, match="n_samples"):
        noisy_circle(0)


def test_energy_by_data_direction_on_known_subspaces():
    rng = np.random.default_rng(0)
    # data that vary fully in coordinates 0-2, faintly (1e-3) in coordinate 3 and never in 4-5
    data = np.concatenate([rng.normal(size=(200, 3)), 1e-3 * rng.normal(size=(200, 1)), np.zeros((200, 2))], 1)
    probes = rng.normal(size=(7, 6))
    shares = ae.energy_by_data_direction(data, probes)
    per_coordinate = probes ** 2 / (probes ** 2).sum(1, keepdims=True)
    # the sample's columns are not exactly orthogonal, which tilts the directions by ~1e-3
    assert shares["used"] == pytest.approx(per_coordinate[:, :3].sum(1).mean(), abs=1e-4)
    assert shares["faint"] == pytest.approx(per_coordinate[:, 3:].sum(1).mean(), abs=1e-4)
    assert shares["never"] == pytest.approx(per_coordinate[:, 4:].sum(1).mean())
    directions = shares["faint_directions"]
    assert directions.shape == (6, 3) and np.allclose(directions[:3], 0, atol=1e-2)
    # a data row has almost no faint energy (only its 1e-3 coordinate)
    assert ae.energy_by_data_direction(data, data[:5])["faint"] == pytest.approx(0, abs=1e-5)


def test_energy_by_data_direction_rejects_bad_input():
    with pytest.raises(ValueError, match="same d"):
        ae.energy_by_data_direction(np.ones((4, 3)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="faint must be in"):
        ae.energy_by_data_direction(np.ones((4, 3)), np.ones((2, 3)), faint=1.5)
    with pytest.raises(ValueError, match="non-zero norm"):
        ae.energy_by_data_direction(np.ones((4, 3)), np.zeros((2, 3)))


# ------------------------------------------------------------------ filter roughness (chapter 3)
def test_filter_roughness_of_white_noise_is_its_expectation():
    rng = np.random.default_rng(0)
    height, width = 28, 20
    roughness = ae.filter_roughness(rng.normal(size=(2000, height * width)), (height, width))
    assert roughness.shape == (2000,)
    assert roughness.mean() == pytest.approx(2 * (2 - 1 / height - 1 / width), rel=0.01)


def test_filter_roughness_of_constant_and_checkerboard_filters():
    height, width = 4, 6
    checkerboard = (-1.0) ** np.add.outer(np.arange(height), np.arange(width))   # every neighbour differs by 2
    W = np.stack([np.full(height * width, 3.0), checkerboard.ravel()])
    assert ae.filter_roughness(torch.from_numpy(W), (height, width)) == pytest.approx(
        [0.0, 4 * (2 - 1 / height - 1 / width)])


def test_filter_roughness_rejects_bad_input():
    with pytest.raises(ValueError, match="W must have shape"):
        ae.filter_roughness(np.ones((3, 10)), (3, 3))
    with pytest.raises(ValueError, match="image_shape"):
        ae.filter_roughness(np.ones((3, 9)), (9,))
    with pytest.raises(ValueError, match="all-zero filter"):
        ae.filter_roughness(np.zeros((2, 9)), (3, 3))
    with pytest.raises(ValueError, match="W contains 1 NaN"):
        ae.filter_roughness(np.array([[np.nan] + [1.0] * 8]), (3, 3))
# ------------------------------------------------------------------ chapter 2's analyses
def test_energy_by_data_direction_splits_space_into_used_and_faint_directions():
    rng = np.random.default_rng(0)
    data = rng.standard_normal((50, 3)) @ np.eye(3, 6)  # the data vary in the first 3 of 6 coordinates
    shares = ae.energy_by_data_direction(data, rng.standard_normal((4, 6)))
    used, faint = shares["used_directions"], shares["faint_directions"]
    assert used.shape == (6, 3) and faint.shape == (6, 3)
    assert np.allclose(np.abs(used[3:]), 0, atol=1e-8) and np.allclose(np.abs(faint[:3]), 0, atol=1e-8)


def test_edge_weight_of_border_interior_and_uniform_directions():
    side, width = 6, 1
    border = np.zeros((side, side))
    border[0, :] = 1
    interior = np.zeros((side, side))
    interior[2:4, 2:4] = 1
    shares = ae.edge_weight(np.stack([border.ravel(), interior.ravel(), np.ones(side * side)], 1), width)
    assert shares[0] == pytest.approx(1.0) and shares[1] == pytest.approx(0.0)
    assert shares[2] == pytest.approx(20 / 36)  # a uniform direction: the fraction of border pixels
    assert ae.edge_weight(-3 * border.reshape(-1, 1), width)[0] == pytest.approx(1.0)  # sign and scale free


def test_edge_weight_rejects_bad_input():
    with pytest.raises(ValueError, match="square number"):
        ae.edge_weight(np.ones((5, 2)), 1)
    with pytest.raises(ValueError, match="width"):
        ae.edge_weight(np.ones((4, 2)), 0)
    with pytest.raises(ValueError, match="non-zero norm"):
        ae.edge_weight(np.zeros((4, 1)), 1)


def test_dead_units_finds_units_zero_on_every_sample():
    codes = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    codes[1, 2] = 0.5
    assert ae.dead_units(codes).tolist() == [0]
    assert ae.dead_units(np.ones((3, 4))).size == 0
    with pytest.raises(ValueError, match="codes"):
        ae.dead_units(np.ones(3))


def test_dead_units_of_a_relu_code_with_a_unit_that_cannot_fire():
    model = ae.Autoencoder(5, 3, code_activation="relu")
    with torch.no_grad():
        model.encoder[0].weight[1] = 0.0
        model.encoder[0].bias[1] = -1.0  # pre-activation -1 on every input
    codes = model.encode(torch.rand(20, 5)).detach().numpy()
    assert 1 in ae.dead_units(codes).tolist()


def test_copy_test_identity_and_mean_models():
    rng = np.random.default_rng(0)
    digits, letters = rng.random((40, 9)) + 0.5, rng.random((12, 9))
    shrink = ae.copy_test(lambda X: 0.9 * X, digits, letters)  # the same relative error, 0.01, on every image
    assert shrink["digits"] == pytest.approx(0.01) and shrink["letters"] == pytest.approx(0.01)
    assert shrink["ratio_low"] == pytest.approx(1) and shrink["ratio_high"] == pytest.approx(1)
    mean = digits.mean(0)
    summary = ae.copy_test(lambda X: np.broadcast_to(mean, X.shape), digits, letters, random_state=1)
    expected_letters = (((letters - mean) ** 2).sum(1) / (letters ** 2).sum(1)).mean()
    assert summary["letters"] == pytest.approx(expected_letters)
    assert summary["ratio"] == pytest.approx(summary["letters"] / summary["digits"])
    assert 1 < summary["ratio_low"] < summary["ratio"] < summary["ratio_high"]  # letters far from the digits' mean


def test_copy_test_rejects_bad_input():
    with pytest.raises(ValueError, match="letters"):
        ae.copy_test(lambda X: X, np.ones((3, 4)), np.ones((1, 4)))
    with pytest.raises(ValueError, match="digits"):
        ae.copy_test(lambda X: X, np.zeros((3, 4)), np.ones((3, 4)))
    with pytest.raises(ValueError, match="n_boot"):
        ae.copy_test(lambda X: X, np.ones((3, 4)), np.ones((3, 4)), n_boot=0)


def test_steps_to_reach_inverts_a_power_law():
    ks = np.array([1, 10, 100, 1000])
    errors = 1.0 / ks  # error = 1 / k: reaching error e takes 1 / e steps
    steps = ae.steps_to_reach(ks, errors, np.array([0.05, 0.002, 2.0, 1e-4]))
    assert steps[:2] == pytest.approx([20, 500])
    assert steps[2] == 1 and steps[3] == np.inf  # above the curve: the first k; below it: not reached


def test_steps_to_reach_rejects_curves_that_do_not_fall():
    with pytest.raises(ValueError, match="errors"):
        ae.steps_to_reach([1, 2], [0.5, 0.6], [0.1])
    with pytest.raises(ValueError, match="ks"):
        ae.steps_to_reach([2, 1], [0.5, 0.4], [0.1])
    with pytest.raises(ValueError, match="targets"):
        ae.steps_to_reach([1, 2], [0.5, 0.4], [0.0])
