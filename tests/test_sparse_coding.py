"""lecturelib.sparse_coding and lecturelib.data.patches: closed forms, scikit-learn agreement, errors."""

import numpy as np
import pytest
import torch
from sklearn.decomposition import sparse_encode
from sklearn.linear_model import Lasso

from lecturelib import sparse_coding as sc
from lecturelib.data.patches import image_patches, zca_whitening


def problem(n_samples, n_features, n_atoms, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((n_atoms, n_features))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    H = rng.standard_normal((n_samples, n_atoms)) * (rng.random((n_samples, n_atoms)) < 0.1)
    X = H @ D + 0.1 * rng.standard_normal((n_samples, n_features))
    return X.astype(dtype), D.astype(dtype)


def test_soft_threshold_matches_closed_form_numpy_and_torch():
    z = np.linspace(-3, 3, 601)
    for t in (0.0, 0.5, 2.0):
        expected = np.where(z > t, z - t, np.where(z < -t, z + t, 0.0))
        np.testing.assert_allclose(sc.soft_threshold(z, t), expected, atol=1e-15)
        out = sc.soft_threshold(torch.from_numpy(z), t)
        assert isinstance(out, torch.Tensor)
        np.testing.assert_allclose(out.numpy(), expected, atol=1e-15)


def test_soft_threshold_of_integers_gives_floats_in_numpy_and_torch():
    expected = np.array([-1.0, 0.0, 0.0, 0.0, 1.0])
    np.testing.assert_array_equal(sc.soft_threshold(np.arange(-2, 3), 1.0), expected)
    for t in (1.0, torch.ones(5)):  # scalar (fused softshrink) and per-element threshold
        out = sc.soft_threshold(torch.arange(-2, 3), t)
        assert out.is_floating_point()
        np.testing.assert_array_equal(out.numpy(), expected)


def test_soft_threshold_is_the_prox_of_the_l1_norm():
    # argmin_u 0.5 (u - z)^2 + t |u| by brute force on a fine grid
    grid = np.linspace(-5, 5, 200_001)
    for z in (-2.3, -0.4, 0.0, 0.7, 3.1):
        brute = grid[np.argmin(0.5 * (grid - z) ** 2 + 1.0 * np.abs(grid))]
        assert abs(sc.soft_threshold(np.array(z), 1.0) - brute) < 1e-4


def test_soft_threshold_rejects_negative_threshold():
    with pytest.raises(ValueError, match="t must be non-negative"):
        sc.soft_threshold(np.ones(3), -1.0)


@pytest.mark.parametrize("z", [np.ones(3), torch.ones(3)], ids=["numpy", "torch"])
@pytest.mark.parametrize("t", [-1.0, float("nan"), torch.tensor(-1.0), torch.tensor(float("nan")),
                               np.array([0.5, -1.0, 0.5])], ids=["neg", "nan", "neg-tensor", "nan-tensor", "neg-array"])
def test_soft_threshold_rejects_negative_or_nan_threshold_in_numpy_and_torch(z, t):
    if isinstance(z, torch.Tensor) and isinstance(t, np.ndarray):
        t = torch.from_numpy(t)
    with pytest.raises(ValueError, match="t must be non-negative"):
        sc.soft_threshold(z, t)


def test_lipschitz_constant_is_largest_squared_singular_value():
    _, D = problem(5, 20, 40)
    assert sc.lipschitz_constant(D) == pytest.approx(np.linalg.svd(D, compute_uv=False)[0] ** 2, rel=1e-12)


def test_ill_conditioned_lasso_has_log_spaced_curvatures_from_one_over_condition_to_one():
    x, D = sc.ill_conditioned_lasso(50, condition=1e4)
    assert x.shape == (1, 50) and D.shape == (50, 50)
    curvatures = np.linalg.eigvalsh(D @ D.T)
    np.testing.assert_allclose(curvatures, np.geomspace(1e-4, 1, 50), rtol=1e-12)
    np.testing.assert_allclose(D @ D.T, np.diag(np.diag(D @ D.T)), atol=0)  # orthogonal atoms
    assert sc.lipschitz_constant(D) == pytest.approx(1.0, rel=1e-12)


def test_ill_conditioned_lasso_is_solved_by_all_ones_with_zero_objective():
    x, D = sc.ill_conditioned_lasso(30, condition=1e3)
    h_star = np.ones((1, 30))
    assert sc.lasso_objective(x, D, h_star, 0.0) == pytest.approx(0.0, abs=1e-15)
    np.testing.assert_allclose((h_star @ D - x) @ D.T, 0, atol=1e-15)  # the gradient vanishes
    # each atom holds the share s_j^2 / 2 of the gap at h = 0
    assert sc.lasso_objective(x, D, np.zeros((1, 30)), 0.0) == pytest.approx(0.5 * np.trace(D @ D.T), rel=1e-12)


def test_ista_on_the_ill_conditioned_lasso_follows_its_closed_form_gap():
    x, D = sc.ill_conditioned_lasso(40, condition=1e5)
    curvatures = np.diag(D) ** 2
    _, info = sc.ista(x, D, 0.0, max_iter=200, stop="none", history=True, return_info=True)
    k = np.arange(1, 201)[:, None]
    expected = 0.5 * np.sum(curvatures * (1 - curvatures) ** (2 * k), axis=1)
    np.testing.assert_allclose(info.history, expected, rtol=1e-9)


@pytest.mark.parametrize("kwargs, name", [({"n_atoms": 1}, "n_atoms"), ({"n_atoms": 2.0}, "n_atoms"),
                                          ({"condition": 1.0}, "condition"), ({"condition": np.nan}, "condition")])
def test_ill_conditioned_lasso_names_a_bad_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        sc.ill_conditioned_lasso(**kwargs)


@pytest.mark.parametrize("shape", [(60, 16, 32), (40, 30, 20), (50, 64, 128)])
@pytest.mark.parametrize("lam", [0.05, 0.3, 1.0])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fista_and_ista_match_sklearn_objective(shape, lam, dtype):
    X, D = problem(*shape, seed=sum(shape), dtype=dtype)
    reference = sc.lasso_objective(X.astype(np.float64), D.astype(np.float64),
                                   sparse_encode(X.astype(np.float64), D.astype(np.float64),
                                                 algorithm="lasso_lars", alpha=lam), lam)
    rtol = 1e-6 if dtype == np.float64 else 1e-4
    for solver in (sc.fista, sc.ista):
        H, info = solver(X, D, lam, stop="gap", tol=rtol / 10, max_iter=50_000, return_info=True)
        assert H.dtype == dtype and H.shape == (shape[0], shape[2])
        assert info.converged
        ours = sc.lasso_objective(X.astype(np.float64), D.astype(np.float64), H.astype(np.float64), lam)
        assert abs(ours - reference) <= rtol * reference, (solver.__name__, ours, reference)


def test_duality_gap_certifies_the_objective():
    X, D = problem(50, 20, 40, seed=3)
    lam = 0.2
    optimum = sc.lasso_objective(X, D, sparse_encode(X, D, algorithm="lasso_lars", alpha=lam), lam)
    for iters in (1, 5, 50):
        H = sc.ista(X, D, lam, max_iter=iters, stop="none")
        excess = sc.lasso_objective(X, D, H, lam) - optimum
        gap = sc.duality_gap(X, D, H, lam)
        assert -1e-12 <= excess <= gap + 1e-12
    assert sc.duality_gap(X, D, np.zeros((50, 40)), lam) > 0


@pytest.mark.parametrize("solver", [sc.ista, sc.fista])
def test_gap_stop_freezes_converged_samples_and_still_certifies(solver):
    X, D = problem(60, 16, 32, seed=5)
    X[::2] = 0  # an all-zero code is optimal for these: they must leave the batch at the first check
    # without the polish, so that the iterates are the plain ones compared with below
    H, info = solver(X, D, 0.2, stop="gap", tol=1e-8, max_iter=50_000, history=True, polish=False,
                     return_info=True)
    assert info.converged and info.mean_iterations < 0.6 * info.n_iter
    np.testing.assert_array_equal(H[::2], 0)
    assert sc.duality_gap(X, D, H, 0.2) <= 1e-8 * sc.lasso_objective(X, D, H, 0.2)
    assert info.history[-1] == pytest.approx(info.objective, rel=1e-12)  # frozen samples count in it
    H_all = solver(X, D, 0.2, stop="none", max_iter=info.n_iter)  # every sample, every iteration
    assert sc.lasso_objective(X, D, H, 0.2) == pytest.approx(sc.lasso_objective(X, D, H_all, 0.2), rel=1e-7)


def test_gap_stop_wakes_frozen_samples_when_the_mean_objective_falls():
    # Five samples start with a huge objective that falls to a small one, so the others freeze early,
    # against a share of the bound that later shrinks about 100-fold; the certificate must still hold.
    rng = np.random.default_rng(0)
    D = rng.standard_normal((30, 20))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = rng.standard_normal((40, 20))
    X[:5] = 100 * (D[0] + D[1])
    for restart in (False, True):
        H, info = sc.fista(X, D, 0.1, restart=restart, stop="gap", tol=1e-3, check_every=1, max_iter=20_000,
                           return_info=True)
        assert info.converged
        assert sc.duality_gap(X, D, H, 0.1) <= 1e-3 * sc.lasso_objective(X, D, H, 0.1)


@pytest.mark.parametrize("seed", range(4))
def test_fista_never_ends_above_ista_at_equal_iterations(seed):
    X, D = problem(80, 16, 48, seed=seed)
    for lam in (0.05, 0.5):
        for iters in (5, 20, 100):
            f = sc.lasso_objective(X, D, sc.fista(X, D, lam, max_iter=iters, stop="none"), lam)
            i = sc.lasso_objective(X, D, sc.ista(X, D, lam, max_iter=iters, stop="none"), lam)
            assert f <= i + 1e-12, (lam, iters, f, i)


def test_history_is_per_iteration_and_ista_is_monotone():
    X, D = problem(30, 10, 20)
    _, info = sc.ista(X, D, 0.1, max_iter=40, stop="none", history=True, return_info=True)
    assert info.history.shape == (40,)
    assert np.all(np.diff(info.history) <= 1e-12)
    assert info.history[-1] == pytest.approx(info.objective)


def test_torch_in_torch_out_and_restart_reaches_the_same_optimum():
    X, D = problem(40, 12, 24)
    Xt, Dt = torch.from_numpy(X), torch.from_numpy(D)
    H = sc.ista(Xt, Dt, 0.2, max_iter=5000, stop="gap", tol=1e-10)
    assert isinstance(H, torch.Tensor) and H.dtype == torch.float64
    Hr = sc.fista(X, D, 0.2, restart=True, stop="gap", tol=1e-10, max_iter=5000)
    assert isinstance(Hr, np.ndarray)
    assert sc.lasso_objective(X, D, Hr, 0.2) == pytest.approx(float(sc.lasso_objective(Xt, Dt, H, 0.2)), rel=1e-8)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    X, D = problem(100, 16, 32)
    H_cpu = sc.fista(X, D, 0.1, stop="gap", tol=1e-9)
    H_gpu = sc.fista(torch.from_numpy(X).cuda(), torch.from_numpy(D).cuda(), 0.1, stop="gap", tol=1e-9)
    assert H_gpu.is_cuda
    np.testing.assert_allclose(H_gpu.cpu().numpy(), H_cpu, atol=1e-5)


def test_full_batch_dictionary_learning_is_monotone_with_unit_atoms():
    X = image_patches(600, 6, seed=1)
    result = sc.learn_dictionary(X, 24, lam=0.5, n_iter=8, coding_iter=20, seed=0)
    assert result.D.shape == (24, 36) and result.H.shape == (600, 24)
    np.testing.assert_allclose(np.linalg.norm(result.D, axis=1), 1.0, rtol=1e-10)
    assert np.all(np.diff(result.objectives) <= 1e-10 * result.objectives[0])
    assert result.objectives[-1] < 0.95 * result.objectives[0]
    assert sc.lasso_objective(X, result.D, result.H, 0.5) == pytest.approx(result.objectives[-1])
    again = sc.learn_dictionary(X, 24, lam=0.5, n_iter=8, coding_iter=20, seed=0)
    np.testing.assert_array_equal(again.D, result.D)


def test_minibatch_dictionary_learning_lowers_the_objective():
    X = image_patches(800, 6, seed=2).astype(np.float32)
    result = sc.learn_dictionary(X, 24, lam=0.5, n_iter=3, batch_size=100, coding_iter=20, seed=0)
    assert result.D.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(result.D, axis=1), 1.0, rtol=1e-5)
    start = sc.lasso_objective(X, result.D, np.zeros((800, 24), np.float32), 0.5)
    assert result.objectives[-1] < 0.8 * start


def test_image_patches_are_centred_and_normalised():
    X = image_patches(300, 8, seed=0)
    assert X.shape == (300, 64)
    np.testing.assert_allclose(X.mean(1), 0, atol=1e-12)
    assert np.all(X.var(1) <= 1 + 1e-12) and np.percentile(X.var(1), 90) > 0.9  # contrast normalised
    np.testing.assert_array_equal(X, image_patches(300, 8, seed=0))
    Z, W = zca_whitening(X, eps=1e-6)
    cov = Z.T @ Z / len(Z)
    # whitened: unit variance along every non-degenerate direction (the mean direction is null)
    assert np.allclose(np.sort(np.linalg.eigvalsh(cov))[1:], 1, atol=1e-3)
    np.testing.assert_allclose(W, W.T)


def test_atom_statistics_tell_edges_from_waves():
    side = 8
    rows, cols = np.mgrid[0:side, 0:side]
    edge = np.exp(-((cols - 3.5) ** 2) / 2) * np.exp(-((rows - 3.5) ** 2) / 50) * (cols - 3.5)
    wave = np.cos(np.pi * rows / side) * np.cos(np.pi * cols / side)
    stats = sc.atom_statistics(np.stack([edge.ravel(), wave.ravel()]), (side, side))
    assert stats["spread"][0] < stats["spread"][1]
    assert stats["orientation"][0] > 0.8
    with pytest.raises(ValueError, match="patch_shape"):
        sc.atom_statistics(np.ones((2, 10)), (3, 3))


@pytest.mark.parametrize("solver", [sc.ista, sc.fista])
def test_bad_inputs_raise_clear_errors(solver):
    X, D = problem(10, 5, 8)
    with pytest.raises(ValueError, match="lam"):
        solver(X, D, -0.1)
    with pytest.raises(ValueError, match=r"D must have shape \(n_atoms, 5\)"):
        solver(X, D[:, :4], 0.1)
    with pytest.raises(ValueError, match="X must have shape"):
        solver(X[0], D, 0.1)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        solver(bad, D, 0.1)
    with pytest.raises(ValueError, match="H0 must have shape"):
        solver(X, D, 0.1, H0=np.zeros((10, 7)))
    with pytest.raises(ValueError, match="stop"):
        solver(X, D, 0.1, stop="never")
    with pytest.raises(ValueError, match="max_iter"):
        solver(X, D, 0.1, max_iter=0)
    with pytest.raises(ValueError, match="lam"):
        sc.lasso_objective(X, D, np.zeros((10, 8)), float("inf"))
    with pytest.raises(ValueError, match="n_atoms"):
        sc.learn_dictionary(X, 0, 0.1)


@pytest.mark.parametrize("solver", [sc.ista, sc.fista])
def test_numpy_scalars_are_accepted_where_numbers_are_expected(solver):
    X, D = problem(10, 5, 8)
    expected = solver(X, D, 0.1, tol=1e-3, max_iter=50)
    got = solver(X, D, np.float64(0.1), tol=np.float32(1e-3), max_iter=np.int64(50),
                 check_every=np.int32(10), lipschitz=np.float64(sc.lipschitz_constant(D)))
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("solver", [sc.ista, sc.fista])
@pytest.mark.parametrize("name, value", [("lipschitz", "a"), ("lipschitz", float("nan")), ("lipschitz", 0.0),
                                         ("tol", float("nan")), ("tol", "1e-3"), ("max_iter", 2.5),
                                         ("check_every", True)])
def test_bad_solver_numbers_raise_naming_the_argument(solver, name, value):
    X, D = problem(10, 5, 8)
    with pytest.raises(ValueError, match=name):
        solver(X, D, 0.1, **{name: value})


@pytest.mark.parametrize("solver", [sc.ista, sc.fista])
def test_a_far_too_small_lipschitz_is_refused_before_any_step(solver):
    X, D = problem(10, 5, 8)
    with pytest.raises(ValueError, match=r"step size 1/lipschitz is too large"):
        solver(X, D, 0.1, lipschitz=1e-3)


def test_a_diverging_fista_raises_instead_of_returning_huge_codes():
    # 0.7 L_D passes the cheap lower bounds on L_D for this D, and FISTA's step 1/(0.7 L_D) diverges.
    rng = np.random.default_rng(0)
    X, D = rng.normal(size=(20, 8)), rng.normal(size=(12, 8))
    with pytest.raises(FloatingPointError, match=r"step size 1/lipschitz"):
        sc.fista(X, D, 0.1, lipschitz=0.7 * sc.lipschitz_constant(D), stop="none", max_iter=2000)


@pytest.mark.parametrize("solver", [sc.ista, sc.fista])
def test_an_overflowing_dictionary_raises_a_value_error(solver):
    X, D = problem(10, 5, 8)
    with pytest.raises(ValueError, match="D is too large"):
        solver(X, D * 1e200, 0.1)
    with pytest.raises(ValueError, match="D is too large"):
        sc.lipschitz_constant(D * 1e200)


def sklearn_lasso_codes(X, D, lam):
    """Each sample's code from scikit-learn's Lasso, whose objective is 1/(2 n) ||y - A w||^2 + alpha ||w||_1
    with n the rows of A = D^T (our n_features): alpha = lam / n_features gives our objective divided by n."""
    lasso = Lasso(alpha=lam / D.shape[1], fit_intercept=False, tol=1e-12, max_iter=100_000)
    return lasso.fit(D.T, X.T).coef_  # one target per sample: coef_ is (n_samples, n_atoms)


def test_polish_on_the_right_support_is_the_exact_lasso_solution():
    X, D = problem(40, 16, 32, seed=7)
    lam = 0.2
    H_sk = sklearn_lasso_codes(X, D, lam)
    # any point with the solution's signs gives the solution in one solve
    start = np.sign(H_sk) * np.random.default_rng(0).uniform(0.1, 2.0, H_sk.shape)
    G, b = torch.from_numpy(D @ D.T), torch.from_numpy(X @ D.T)
    H, solved = sc._polish(G, b, torch.from_numpy(start), lam, max_support=16)
    H = H.numpy()
    np.testing.assert_array_equal(solved.numpy(), (H_sk != 0).any(1))  # an empty support has nothing to solve
    np.testing.assert_allclose(H, H_sk, atol=1e-8)
    assert sc.duality_gap(X, D, H, lam) <= 1e-12 * sc.lasso_objective(X, D, H, lam)


def test_polish_skips_supports_it_cannot_solve():
    X, D = problem(5, 6, 10, seed=8)
    G = D @ D.T
    G[1], G[:, 1] = G[0], G[:, 0]  # atom 1 repeats atom 0: G_SS is singular when both are in the support
    H = np.zeros((5, 10))
    H[0, :2] = 1.0       # singular system
    H[1, :7] = 1.0       # more atoms than n_features (6)
    H[3, 3] = -1.0       # solvable
    _, solved = sc._polish(torch.from_numpy(G), torch.from_numpy(X @ D.T), torch.from_numpy(H), 0.1,
                           max_support=6)
    np.testing.assert_array_equal(solved.numpy(), [False, False, False, True, False])


@pytest.mark.parametrize("solver", [sc.ista, sc.fista])
@pytest.mark.parametrize("lam", [0.05, 0.3, 1.0])
def test_polish_certifies_sklearns_objective_in_fewer_iterations(solver, lam):
    X, D = problem(60, 16, 32, seed=9)
    reference = sc.lasso_objective(X, D, sklearn_lasso_codes(X, D, lam), lam)
    plain = solver(X, D, lam, stop="gap", tol=1e-6, max_iter=50_000, polish=False, return_info=True)[1]
    H, info = solver(X, D, lam, stop="gap", tol=1e-6, max_iter=50_000, return_info=True)
    assert plain.converged and info.converged and info.relative_gap <= 1e-6
    assert sc.duality_gap(X, D, H, lam) <= 1e-6 * sc.lasso_objective(X, D, H, lam)
    assert sc.lasso_objective(X, D, H, lam) == pytest.approx(reference, rel=1e-6)
    assert info.mean_iterations < plain.mean_iterations


def test_polish_only_changes_the_gap_stop():
    X, D = problem(30, 10, 20, seed=10)
    for stop in ("none", "objective"):
        np.testing.assert_array_equal(sc.fista(X, D, 0.1, stop=stop, max_iter=200),
                                      sc.fista(X, D, 0.1, stop=stop, max_iter=200, polish=False))
