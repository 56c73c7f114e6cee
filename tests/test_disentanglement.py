"""Tests for lecturelib.disentanglement (chapter 7): ICA demo, β-VAE loss and training, latent tools."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from scipy.stats import kurtosis  # noqa: E402
from sklearn.decomposition import PCA, FastICA  # noqa: E402

from lecturelib.disentanglement import (  # noqa: E402
    aggregate_posterior_samples, beta_vae_loss, check_steps, cocktail_party_sources, decode_codes, dominant_latents,
    encode, evaluate_beta_vae, held_out_sample, kl_decomposition, kl_per_latent, latent_report, latent_traversal,
    load_beta_vae, match_sources, mixing_matrix, separates, train_beta_vae,
)
from lecturelib.models.dsprites_conv import dsprites_conv_vae  # noqa: E402
from lecturelib.plotting import mi_heatmap, traversal_grid  # noqa: E402
from lecturelib.vae import gaussian_kl  # noqa: E402

torch.set_num_threads(1)

TINY_SUBSET = {"shape": [2], "orientation": [0], "scale": [0, 5], "posX": list(range(0, 32, 8)),
               "posY": list(range(0, 32, 8))}


# ------------------------------------------------------------------ ICA
def test_sources_are_standardised_non_gaussian_and_deterministic():
    t, Z = cocktail_party_sources(3000, random_state=1)
    assert t.shape == (3000,) and Z.shape == (3000, 3)
    np.testing.assert_allclose(Z.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(Z.std(0), 1, atol=1e-12)
    assert np.all(np.abs(kurtosis(Z, axis=0)) > 0.5)  # far from Gaussian (excess kurtosis 0)
    np.testing.assert_array_equal(Z, cocktail_party_sources(3000, random_state=1)[1])
    with pytest.raises(ValueError, match="n_samples"):
        cocktail_party_sources(3)


def test_mixing_matrix_is_well_conditioned_and_seeded():
    A = mixing_matrix(4, random_state=3)
    assert A.shape == (4, 4) and np.linalg.svd(A, compute_uv=False).min() > 0.3
    np.testing.assert_array_equal(A, mixing_matrix(4, random_state=3))
    with pytest.raises(ValueError, match="n_sources"):
        mixing_matrix(0)


def test_match_sources_undoes_permutation_sign_and_scale():
    _, Z = cocktail_party_sources(1000)
    Z_hat = np.stack([-2.0 * Z[:, 2], 0.5 * Z[:, 0], 3.0 * Z[:, 1]], axis=1)
    order, corr = match_sources(Z, Z_hat)
    np.testing.assert_array_equal(order, [1, 2, 0])
    np.testing.assert_allclose(corr, 1.0, atol=1e-12)
    with pytest.raises(ValueError, match="Z_hat needs"):
        match_sources(Z, Z_hat[:, :2])
    with pytest.raises(ValueError, match="same n_samples"):
        match_sources(Z, Z_hat[:10])


def test_fastica_recovers_the_sources_and_pca_does_not():
    _, Z = cocktail_party_sources(2000)
    X = Z @ mixing_matrix(3).T  # x = A z, one sample per row
    ica = FastICA(n_components=3, whiten="unit-variance", random_state=0).fit_transform(X)
    pca = PCA(n_components=3).fit_transform(X)
    assert match_sources(Z, ica)[1].min() > 0.98
    assert match_sources(Z, pca)[1].min() < 0.9


# ------------------------------------------------------------------ β-VAE loss and training
def test_beta_vae_loss_is_reconstruction_plus_beta_kl():
    model = dsprites_conv_vae(4, seed=0).double()  # float64: the KL is tiny next to the reconstruction
    model.train()
    x = (torch.rand(8, 1, 64, 64, generator=torch.Generator().manual_seed(0)) < 0.1).double()
    eps = torch.randn(8, 4, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    outs = {beta: beta_vae_loss(beta)(model, (x, eps)) for beta in (1.0, 4.0)}
    for beta, out in outs.items():
        torch.testing.assert_close(out["loss"], out["reconstruction"] + beta * out["kl"])
    torch.testing.assert_close(outs[4.0]["loss"] - outs[1.0]["loss"], 3.0 * outs[1.0]["kl"])
    mu, log_var = model.encode(x)
    torch.testing.assert_close(outs[1.0]["kl"], gaussian_kl(mu, log_var).mean())
    # -log p(x | z) with z = mu + sigma * eps: the Bernoulli cross-entropy summed over pixels
    logits = model.decode(mu + (0.5 * log_var).exp() * eps)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").sum((1, 2, 3)).mean()
    torch.testing.assert_close(outs[1.0]["reconstruction"], bce)
    # beta-TCVAE at beta = 1 is the VAE; at beta > 1 it adds (beta - 1) * TC, not (beta - 1) * KL
    tc1 = beta_vae_loss(1.0, "beta_tcvae")(model, (x, eps))
    torch.testing.assert_close(tc1["loss"], outs[1.0]["loss"])
    tc4 = beta_vae_loss(4.0, "beta_tcvae")(model, (x, eps))
    torch.testing.assert_close(tc4["loss"], tc4["reconstruction"] + tc4["regularizer"])
    from lecturelib.models.regularizers import total_correlation

    z = mu + (0.5 * log_var).exp() * eps
    torch.testing.assert_close(tc4["regularizer"], tc4["kl"] + 3.0 * total_correlation(z, mu, log_var))
    for bad in (float("nan"), -1.0, True, "2"):
        with pytest.raises(ValueError, match="beta"):
            beta_vae_loss(bad)
    with pytest.raises(ValueError, match="objective"):
        beta_vae_loss(1.0, "factor_vae")
    # warm-up: the regulariser's weight grows linearly with the training step, then stays at 1
    warm = beta_vae_loss(4.0, warmup_steps=4)
    for step in (1, 2, 3, 4, 5):
        out = warm(model, (x, eps))
        torch.testing.assert_close(out["loss"], out["reconstruction"] + min(1.0, step / 4) * 4.0 * out["kl"])
    with pytest.raises(ValueError, match="warmup_steps"):
        beta_vae_loss(1.0, warmup_steps=-1)


def test_training_at_tiny_scale_decreases_the_loss_and_round_trips():
    params = dict(beta=2.0, seed=0, num_steps=24, batch_size=16, lr=1e-3, n_latents=4, subset=TINY_SUBSET,
                  num_logs=4)
    result = train_beta_vae.__wrapped__(**params)  # the undecorated function: always trains
    losses = result["history"]["train"]["loss"]
    assert len(losses) == 4 and losses[-1] < losses[0] - 100  # nats per image
    assert all(t.device.type == "cpu" for t in result["state_dict"].values())
    assert result["architecture"] == "conv" and result["objective"] == "beta_vae" and result["checks"]["mig"] == []
    model = load_beta_vae(result)
    assert model.n_latents == 4 and not model.training
    with pytest.raises(ValueError, match="lacks"):
        load_beta_vae({"n_latents": 4})
    with pytest.raises(ValueError, match="beta"):
        train_beta_vae.__wrapped__(beta=-1.0)
    with pytest.raises(ValueError, match="num_checks"):
        train_beta_vae.__wrapped__(beta=1.0, num_checks=-1)
    with pytest.raises(ValueError, match="architecture"):
        train_beta_vae.__wrapped__(beta=1.0, architecture="resnet", num_steps=1)


def test_training_checks_the_model_on_held_out_images_as_it_learns():
    params = dict(beta=4.0, seed=0, num_steps=30, batch_size=16, lr=1e-3, n_latents=4, subset=TINY_SUBSET,
                  num_logs=3, architecture="mlp", objective="beta_tcvae", num_checks=3, check_size=64)
    result = train_beta_vae.__wrapped__(**params)
    checks = result["checks"]
    assert checks["steps"] == check_steps(30, 3) and checks["steps"][-1] == 30
    assert checks["images"] == [s * 16 for s in checks["steps"]]
    assert np.all(np.diff(checks["seconds"]) > 0) and checks["seconds"][-1] <= result["history"]["seconds"] + 1e-6
    assert checks["reconstruction"][-1] < checks["reconstruction"][0]
    assert all(len(t) == 3 and len(r) == 3 for t, r in zip(checks["top"], checks["ratio"]))  # 3 varying factors
    model = load_beta_vae(result)
    assert result["architecture"] == "mlp" and model.n_latents == 4
    # the last check is what the stored model gives on the same held-out images
    from lecturelib.disentanglement import make_dsprites

    images, factors = held_out_sample(make_dsprites(subset=TINY_SUBSET), 64)
    mu, log_var = encode(model, images)
    np.testing.assert_allclose(latent_report(mu, log_var, factors)["mig"], checks["mig"][-1], rtol=1e-6)


def test_held_out_sample_and_check_steps():
    from lecturelib.disentanglement import make_dsprites

    data = make_dsprites(subset=TINY_SUBSET)
    images, factors = held_out_sample(data, 20)
    assert images.shape == (20, 1, 64, 64) and factors.shape == (20, 3)
    np.testing.assert_array_equal(factors, held_out_sample(data, 20)[1])
    with pytest.raises(ValueError, match="n must"):
        held_out_sample(data, 1)
    steps = check_steps(10_000, 5)
    assert steps == [100, 316, 1000, 3162, 10_000]
    assert check_steps(3, 10) == [1, 2, 3] and check_steps(100, 0) == []


# ------------------------------------------------------------------ latent tools
@pytest.fixture(scope="module")
def model():
    return dsprites_conv_vae(3, seed=1).eval()


def test_kl_per_latent_sums_to_the_vae_kl():
    rng = np.random.default_rng(0)
    mu, log_var = rng.normal(size=(50, 6)), rng.normal(scale=0.5, size=(50, 6))
    per = kl_per_latent(mu, log_var)
    assert per.shape == (6,) and np.all(per >= 0)
    total = gaussian_kl(torch.as_tensor(mu), torch.as_tensor(log_var)).mean().item()
    np.testing.assert_allclose(per.sum(), total, rtol=1e-10)
    np.testing.assert_allclose(kl_per_latent(np.zeros((3, 2)), np.zeros((3, 2))), 0.0)
    with pytest.raises(ValueError, match="log_var"):
        kl_per_latent(mu, log_var[:, :3])


def test_kl_decomposition_parts_match_torch_distributions():
    rng = np.random.default_rng(1)
    mu, log_var = rng.normal(1.0, 2.0, size=(200, 4)), rng.normal(scale=0.7, size=(200, 4))
    parts = kl_decomposition(mu, log_var)
    assert set(parts) == {"spread", "offset", "width"} and all(p.shape == (4,) for p in parts.values())
    np.testing.assert_allclose(sum(parts.values()), kl_per_latent(mu, log_var), rtol=1e-12)
    normal = torch.distributions.Normal
    prior = normal(torch.zeros(()), torch.ones(()))
    # width: the KL of zero-mean posteriors of the same variances; spread + offset: unit-variance ones
    width = torch.distributions.kl_divergence(normal(0.0, torch.as_tensor(log_var).mul(0.5).exp()), prior)
    means = torch.distributions.kl_divergence(normal(torch.as_tensor(mu), 1.0), prior)
    np.testing.assert_allclose(parts["width"], width.mean(0).numpy(), rtol=1e-10)
    np.testing.assert_allclose(parts["spread"] + parts["offset"], means.mean(0).numpy(), rtol=1e-10)
    np.testing.assert_allclose(parts["offset"], 0.5 * mu.mean(0) ** 2, rtol=1e-12)


def test_kl_decomposition_of_a_code_that_ignores_the_image():
    shared = np.tile([[2.0, -1.0]], (30, 1))  # every image's posterior mean is the same
    parts = kl_decomposition(shared, np.full((30, 2), -3.0))
    np.testing.assert_allclose(parts["spread"], 0.0, atol=1e-12)
    np.testing.assert_allclose(parts["offset"], [2.0, 0.5])
    assert np.all(parts["width"] > 0)
    centred = np.random.default_rng(2).normal(size=(30, 2))
    parts = kl_decomposition(centred - centred.mean(0), np.zeros((30, 2)))
    np.testing.assert_allclose(parts["offset"], 0.0, atol=1e-12)
    np.testing.assert_allclose(parts["width"], 0.0, atol=1e-12)
    with pytest.raises(ValueError, match="log_var"):
        kl_decomposition(shared, shared[:, :1])


def test_encode_matches_the_model_in_batches(model):
    x = (torch.rand(10, 1, 64, 64, generator=torch.Generator().manual_seed(2)) < 0.1).float()
    mu, log_var = encode(model, x, batch_size=3)
    ref_mu, ref_lv = model.encode(x)
    np.testing.assert_allclose(mu, ref_mu.detach().double().numpy(), atol=1e-6)
    np.testing.assert_allclose(log_var, ref_lv.detach().double().numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="images"):
        encode(model, x[0])


def test_latent_traversal_moves_one_latent_per_row(model):
    x = (torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(3)) < 0.1).float()
    values = np.array([-2.0, 0.0, 2.0])
    grid = latent_traversal(model, x[0], values)
    assert grid.shape == (3, 3, 1, 64, 64)
    centre = decode_codes(model, encode(model, x)[0])
    for j in range(3):  # t = 0 is the reconstruction from mu
        np.testing.assert_allclose(grid[j, 1], centre[0], atol=1e-6)
    mu = encode(model, x)[0][0]
    shifted = mu.copy()
    shifted[2] += 2.0
    np.testing.assert_allclose(grid[2, 2], decode_codes(model, shifted[None])[0], atol=1e-6)
    assert latent_traversal(model, x, values, latents=[1]).shape == (1, 3, 1, 64, 64)
    with pytest.raises(ValueError, match="latents"):
        latent_traversal(model, x, values, latents=[3])
    with pytest.raises(ValueError, match="one image"):
        latent_traversal(model, torch.cat([x, x]), values)


def test_aggregate_posterior_samples_mix_the_posteriors():
    mu = np.repeat([[2.0, -1.0]], 20_000, axis=0)
    log_var = np.log(np.full_like(mu, 0.25))
    z = aggregate_posterior_samples(mu, log_var, random_state=0)
    np.testing.assert_allclose(z.mean(0), [2.0, -1.0], atol=0.02)
    np.testing.assert_allclose(z.std(0), 0.5, atol=0.02)
    np.testing.assert_array_equal(z, aggregate_posterior_samples(mu, log_var, random_state=0))


def test_dominant_latents():
    mi = np.array([[2.0, 0.1, 0.0], [0.5, 1.0, 0.0], [0.1, 0.9, 0.3]])
    top, ratio = dominant_latents(mi)
    np.testing.assert_array_equal(top, [0, 1, 2])
    np.testing.assert_allclose(ratio, [4.0, 1.0 / 0.9, np.inf])
    # latent 1 inactive: it no longer competes, so latent 2 tops factor 1, margin over latent 0
    top, ratio = dominant_latents(mi, np.array([True, False, True]))
    np.testing.assert_array_equal(top, [0, 2, 2])
    np.testing.assert_allclose(ratio, [20.0, 9.0, np.inf])
    top, ratio = dominant_latents(mi, np.array([False, True, False]))  # one active latent: no runner-up
    np.testing.assert_array_equal(top, [1, 1, 1]) and np.testing.assert_array_equal(ratio, np.inf)
    with pytest.raises(ValueError, match="non-negative"):
        dominant_latents(-mi)
    for bad in (np.array([1, 0, 1]), np.zeros(3, bool), np.ones(2, bool)):
        with pytest.raises(ValueError, match="active"):
            dominant_latents(mi, bad)


def test_latent_report_credits_only_active_latents():
    rng = np.random.default_rng(0)
    n = 4000
    factors = rng.integers(0, 8, size=(n, 3))
    mu = np.zeros((n, 4))
    mu[:, 0] = factors[:, 0] + 0.1 * rng.standard_normal(n)   # latent 0 <- factor 0
    mu[:, 2] = factors[:, 1] + 0.1 * rng.standard_normal(n)   # latent 2 <- factor 1
    mu[:, 3] = factors[:, 2] + 0.1 * rng.standard_normal(n)   # latent 3 <- factor 2
    mu[:, 1] = 1e-3 * (factors[:, 0] + factors[:, 1])          # latent 1: tiny, entangled, unused
    log_var = np.full((n, 4), np.log(0.01))
    log_var[:, 1] = 0.0                                        # its posterior is the prior: KL ~ 0
    report = latent_report(mu, log_var, factors)
    np.testing.assert_array_equal(report["active"], [True, False, True, True])
    assert report["n_active"] == 3 and report["mi"].shape == (4, 3)
    assert report["mi"][1].max() > 0.1  # min-max binning credits the unused latent with information...
    np.testing.assert_array_equal(report["top"], [0, 2, 3])  # ...which the active-only ranking ignores
    assert np.all(report["ratio"] > 10) and report["mig"] > 0.3
    assert separates(report, [0, 1, 2]) and not separates(report, [0, 1, 2], min_ratio=1e9)
    duplicated = {**report, "top": np.array([0, 0, 3])}
    assert not separates(duplicated, [0, 1, 2])
    assert not separates({**report, "n_active": 0}, [0, 1, 2])  # nothing active: ratios mean nothing
    with pytest.raises(ValueError, match="factors"):
        latent_report(mu, log_var, factors[:10])


def test_plot_helpers():
    fig = traversal_grid(np.zeros((2, 3, 1, 8, 8)), np.array([-1.0, 0.0, 1.0]), row_labels=["a", "b"])
    assert len(fig.axes) == 6
    ax = mi_heatmap(np.eye(3)[:, :2], ["posX", "posY"], normalizer=np.array([2.0, 1.0]))
    assert ax.get_xticklabels()[0].get_text() == "posX"
    with pytest.raises(ValueError, match="traversal"):
        traversal_grid(np.zeros((2, 3, 8, 8)), np.array([0.0]))
    plt.close("all")


def test_evaluate_beta_vae(model):
    from lecturelib.data.dsprites import DSprites

    data = DSprites(subset=TINY_SUBSET)
    images, factors = data.sample(40, 0)
    out = evaluate_beta_vae(model, images, factors, batch_size=16)
    assert out["mu"].shape == (40, 3) and out["mi"].shape == (3, 3) and out["kl_per_latent"].shape == (3,)
    np.testing.assert_allclose(out["kl"], out["kl_per_latent"].sum())
    with torch.no_grad():  # -log p(x | mu): the Bernoulli cross-entropy summed over pixels
        logits = model.decode(model.encode(images)[0])
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, images, reduction="none").sum((1, 2, 3))
    np.testing.assert_allclose(out["reconstruction"], bce.mean().item(), rtol=1e-5)
    assert out["tc_sampled"] >= 0 and out["tc_means"] >= 0
    with pytest.raises(ValueError, match="factors"):
        evaluate_beta_vae(model, images, factors[:5])


def test_beta_sweep_is_one_definition_for_chapter_and_command(monkeypatch):
    from lecturelib import disentanglement as dis

    from lecturelib.recipe_search import candidate_params

    betas, params = dis.beta_sweep("default")
    # the recipe search's models are the chapter's: same parameters, so the same stored results
    for beta in betas:
        assert {**params, "beta": beta} == candidate_params(f"mlp-tcvae-b{beta:g}-bs1024-warm")
    tiny_betas, tiny = dis.beta_sweep("tiny")
    assert tiny["subset"] == dis.TINY_SUBSET and set(tiny) == set(params) and tiny_betas[0] == 1.0
    calls = []

    def fake_train(**kwargs):
        calls.append(kwargs)
        return {"images_per_second": 1.0, "history": {"train": {"loss": [1.0]}}}

    monkeypatch.setattr(dis, "train_beta_vae", fake_train)
    for name in ("LECTURELIB_COMMAND", "LECTURELIB_ARTIFACT_DIR"):  # set then unset: restored afterwards
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setenv("LECTURELIB_SCALE", "tiny")
    dis.main(["--scale", "default"])
    assert calls == [dict(beta=b, **params) for b in betas]
    import os

    assert os.environ["LECTURELIB_COMMAND"] == "python -m lecturelib.disentanglement --scale default"
    calls.clear()
    dis.main(["--scale", "default", "--betas", "1", "--longer"])  # the longest run comes last
    assert calls == [dict(beta=1.0, **params), dict(beta=dis.LONGER_BETA, **dis.longer_training("default"))]
    # the longest run trains the sweep's beta = LONGER_BETA model as long again, from its weights
    assert dis.longer_training("default") == {**params, "seed": params["seed"] + 1, "warmup_steps": 0,
                                              "start_from": {**params, "beta": dis.LONGER_BETA}}
    assert {**dis.longer_training("default"), "beta": dis.LONGER_BETA} == candidate_params("mlp-tcvae-b6-bs1024-warm-more")
    assert dis.LONGER_BETA in betas
    calls.clear()
    dis.main(["--scale", "default", "--betas", "6", "1"])  # chosen values first, e.g. the large β
    assert [c["beta"] for c in calls] == [6.0, 1.0]
    with pytest.raises(SystemExit):
        dis.main(["--scale", "default", "--betas", "4"])  # not in the sweep


def test_mlp_vae_shapes_and_errors():
    from lecturelib.models import ARCHITECTURES, dsprites_vae

    assert ARCHITECTURES == ("conv", "mlp")
    model = dsprites_vae("mlp", 6, 3, seed=0)
    x = torch.rand(5, 3, 64, 64)
    mu, log_var = model.encode(x)
    assert mu.shape == log_var.shape == (5, 6) and model.decode(mu).shape == (5, 3, 64, 64)
    torch.testing.assert_close(dsprites_vae("mlp", 6, 3, seed=0).encode(x)[0], mu)  # seeded
    with pytest.raises(ValueError, match="x must have shape"):
        model.encode(torch.rand(5, 1, 64, 64))
    with pytest.raises(ValueError, match="hidden"):
        from lecturelib.models import MLPEncoder

        MLPEncoder(4, 1, hidden=0)
    with pytest.raises(ValueError, match="architecture"):
        dsprites_vae("transformer")


def test_traversal_animation_is_html_with_one_frame_per_offset():
    from lecturelib.plotting import traversal_animation

    frames = np.zeros((2, 4, 1, 8, 8))
    frames[:, :, 0, 2, :] = np.linspace(0, 1, 4)[None, :, None]  # frames differ
    html = traversal_animation(frames, np.linspace(-1, 1, 4), row_labels=["z0", "z1"])
    assert html.count("data:image/png;base64") == 4 and "<script" in html
    assert plt.get_fignums() == []  # no stray static figure
    with pytest.raises(ValueError, match="n_values"):
        traversal_animation(frames, np.zeros(3))
    with pytest.raises(ValueError, match="label"):
        traversal_animation(frames, np.zeros(4), row_labels=["z0"])


def test_an_interrupted_beta_vae_resumes_from_its_checkpoint(monkeypatch, tmp_path):
    import lecturelib.disentanglement as dis
    from lecturelib import artifacts, training

    monkeypatch.setenv(artifacts.WRITE_ENV, str(tmp_path))
    monkeypatch.setenv(artifacts.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv("LECTURELIB_SCALE", "tiny")
    params = dict(beta=4.0, seed=0, num_steps=30, batch_size=16, lr=1e-3, n_latents=4, subset=TINY_SUBSET,
                  num_logs=3, architecture="mlp", objective="beta_tcvae", warmup_steps=12, num_checks=3,
                  check_size=64)
    reference = train_beta_vae.__wrapped__(**params)
    assert artifacts.checkpoint_path() is None  # only set while a result is being computed

    def killed_at_step_25(*args, **kwargs):  # checkpoints every 10 steps, then dies after step 25
        seen = kwargs["callback"]
        kwargs.update(checkpoint_every=10, callback_steps=[*kwargs["callback_steps"], 25])

        def callback(step, model, seconds):
            if step == 25:
                raise KeyboardInterrupt
            seen(step, model, seconds)
        kwargs["callback"] = callback
        return training.train(*args, **kwargs)

    monkeypatch.setattr(dis, "train", killed_at_step_25)
    with pytest.raises(KeyboardInterrupt):
        train_beta_vae(**params)
    partial = list(tmp_path.glob("*.checkpoint.pt"))
    assert len(partial) == 1 and not list(tmp_path.glob("*-tiny-*[0-9a-f].pt"))
    monkeypatch.setattr(dis, "train", training.train)
    resumed = train_beta_vae(**params)  # resumes at step 21, with the warm-up's step count and the checks so far
    assert not partial[0].exists()
    for name, tensor in reference["state_dict"].items():
        torch.testing.assert_close(resumed["state_dict"][name], tensor, rtol=0, atol=0)
    for key in ("steps", "images", "mig", "top", "ratio", "n_active", "reconstruction", "kl"):
        assert resumed["checks"][key] == reference["checks"][key]


def test_a_continued_run_starts_from_the_stored_weights_and_counts_on_from_its_checks(tmp_path, monkeypatch):
    monkeypatch.setenv("LECTURELIB_CACHE", str(tmp_path))
    first = dict(beta=4.0, seed=0, num_steps=20, batch_size=16, lr=1e-3, n_latents=4, subset=TINY_SUBSET,
                 num_logs=2, architecture="mlp", objective="beta_tcvae", num_checks=2, check_size=64)
    before = train_beta_vae(**first)  # stored, so that a continued run can find it
    # a learning rate too small to move the weights: the continued model is the stored one
    still = train_beta_vae.__wrapped__(**{**first, "seed": 1, "num_steps": 10, "lr": 1e-12, "start_from": first})
    for name, tensor in before["state_dict"].items():
        torch.testing.assert_close(still["state_dict"][name], tensor, rtol=0, atol=1e-6)
    checks = still["checks"]
    assert checks["steps"] == [*before["checks"]["steps"], 20 + 1, 20 + 10]  # check_steps(10, 2) after step 20
    assert checks["images"] == [s * 16 for s in checks["steps"]]
    assert np.all(np.diff(checks["seconds"]) > 0)
    np.testing.assert_allclose(checks["mig"][-1], before["checks"]["mig"][-1], atol=1e-6)
    with pytest.raises(ValueError, match="start_from: no stored train_beta_vae result"):
        train_beta_vae.__wrapped__(**{**first, "start_from": {**first, "beta": 5.0}})
    with pytest.raises(ValueError, match="start_from is a mlp model with 4 latents"):
        train_beta_vae.__wrapped__(**{**first, "architecture": "conv", "start_from": first})
