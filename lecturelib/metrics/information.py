"""Information-theoretic disentanglement scores: mutual information, MIG, modularity, unsupervised scores.

Used by the chapter on disentanglement metrics (chapter 8) and by the Locatello et al. study
(chapter 9). All functions are pure and work on arrays in scikit-learn's layout: ``codes`` float
``(n_samples, n_latents)`` and ``factors`` int class indices ``(n_samples, n_factors)``.

Choices (reference mode follows disentanglement_lib, the code of :cite:`locatello2019challenging`):

- **Discretisation.** Each latent is cut into ``num_bins`` equal-width bins over its own
  min..max (``np.histogram``'s edges, the maximum falls in the last bin); a constant latent falls
  in a single bin and has zero mutual information with everything. The factors are used as they
  are (they are already discrete). Mutual information is the plug-in estimate in nats, the same
  number as ``sklearn.metrics.mutual_info_score``; with 20 bins and 10,000 samples it is biased
  upwards by roughly ``(bins - 1)(classes - 1) / (2 n)`` nats, which is why pure noise gets a
  small positive MIG.
- **MIG variants.** :cite:`chen2018isolating` estimate :math:`I(z_j; v_k)` from the encoder's
  full posterior over the whole data set; disentanglement_lib (and we) discretise the posterior
  means. Both normalise the gap by :math:`H(v_k)`. Other variants (MIG-sup, per-latent gaps)
  exist and rank models differently.
- **Factors with a single value** (dSprites' colour) have zero entropy; they are left out of
  every average (disentanglement_lib leaves colour out of its factor list). If no factor varies,
  a ``ValueError`` is raised. NaN or infinite codes raise a ``ValueError``.
"""

from __future__ import annotations

import numpy as np

from lecturelib.validation import check_codes, check_factors, check_int, check_pair, varying_factors

__all__ = [
    "discretize",
    "factor_entropy",
    "gaussian_total_correlation",
    "gaussian_wasserstein_correlation",
    "latent_mutual_info",
    "mig",
    "modularity",
    "mutual_info_matrix",
    "unsupervised_scores",
]


def discretize(codes: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """Bin each latent into ``num_bins`` equal-width bins over its min..max.

    Parameters
    ----------
    codes : float array (n_samples, n_latents)
    num_bins : int >= 1

    Returns
    -------
    int64 array (n_samples, n_latents) with values in ``0 .. num_bins - 1``.
    """
    codes = check_codes(codes, min_samples=1)
    num_bins = check_int(num_bins, "num_bins", minimum=1)
    out = np.empty(codes.shape, dtype=np.int64)
    for j in range(codes.shape[1]):  # a loop over latents (about 10), not over samples
        edges = np.histogram_bin_edges(codes[:, j], bins=num_bins)
        out[:, j] = np.digitize(codes[:, j], edges[:-1]) - 1
    return out


def _relabel(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map each column to 0..(n_values-1); return the relabelled array and values per column."""
    out = np.empty(labels.shape, dtype=np.int64)
    sizes = np.empty(labels.shape[1], dtype=np.int64)
    for k in range(labels.shape[1]):
        _, out[:, k] = np.unique(labels[:, k], return_inverse=True)
        sizes[k] = out[:, k].max() + 1
    return out, sizes


def _entropy_of_counts(counts: np.ndarray, axis: int) -> np.ndarray:
    total = counts.sum(axis=axis, keepdims=True)
    p = counts / total
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(p), 0.0)
    return terms.sum(axis=axis)


def _discrete_mutual_info(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Plug-in MI (nats) between every column of ``a`` (n, A) and every column of ``b`` (n, B).

    One ``np.bincount`` over all pairs: the joint histogram of pair (i, j) occupies its own block.
    """
    a, size_a = _relabel(a)
    b, size_b = _relabel(b)
    n, num_a = a.shape
    num_b = b.shape[1]
    sa, sb = int(size_a.max()), int(size_b.max())
    block = sa * sb
    pair = (np.arange(num_a)[:, None] * num_b + np.arange(num_b)[None, :]) * block  # (A, B)
    index = pair[None, :, :] + a[:, :, None] * sb + b[:, None, :]  # (n, A, B)
    joint = np.bincount(index.ravel(), minlength=num_a * num_b * block)
    joint = joint.reshape(num_a, num_b, sa, sb).astype(np.float64) / n
    pa = joint.sum(axis=3, keepdims=True)
    pb = joint.sum(axis=2, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(joint > 0, joint * (np.log(joint) - np.log(pa) - np.log(pb)), 0.0)
    return np.maximum(terms.sum(axis=(2, 3)), 0.0)


def mutual_info_matrix(codes: np.ndarray, factors: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """Plug-in mutual information :math:`I(z_j; v_k)` in nats between discretised latents and factors.

    Parameters
    ----------
    codes : float array (n_samples, n_latents)
    factors : int array (n_samples, n_factors), class indices
    num_bins : int, equal-width bins per latent over its min..max (reference: 20)

    Returns
    -------
    float64 array (n_latents, n_factors), entry ``[j, k]`` = :math:`I(z_j; v_k)`.
    """
    codes, factors = check_pair(codes, factors)
    return _discrete_mutual_info(discretize(codes, num_bins), factors)


def factor_entropy(factors: np.ndarray) -> np.ndarray:
    """Plug-in entropy :math:`H(v_k)` in nats of each factor column: array (n_factors,).

    ``factors``: int array (n_samples, n_factors) of class indices, as every metric takes them.
    """
    factors = check_factors(factors)
    if factors.shape[0] == 0:
        raise ValueError(f"factors needs at least one sample, got shape {factors.shape}")
    factors, _ = _relabel(factors)
    size = int(factors.max()) + 1
    counts = np.stack([np.bincount(factors[:, k], minlength=size) for k in range(factors.shape[1])])
    return _entropy_of_counts(counts.astype(np.float64), axis=1)


def mig(codes: np.ndarray, factors: np.ndarray, num_bins: int = 20) -> float:
    """Mutual information gap :cite:`chen2018isolating`, discretised as in disentanglement_lib.

    .. math:: \\mathrm{MIG} = \\frac{1}{K} \\sum_k \\frac{I(z_{j^{(1)}_k}; v_k) - I(z_{j^{(2)}_k}; v_k)}{H(v_k)}

    where :math:`j^{(1)}_k, j^{(2)}_k` are the latents with the largest and second-largest MI
    with factor :math:`k`. With a single latent the second-largest MI is taken as 0. Factors
    with a single value are left out. Range ``[0, 1]``.

    Parameters
    ----------
    codes : float array (n_samples, n_latents)
    factors : int array (n_samples, n_factors)
    num_bins : int (reference: 20)
    """
    codes, factors = check_pair(codes, factors)
    keep = varying_factors(factors)
    factors = factors[:, keep]
    mi = mutual_info_matrix(codes, factors, num_bins)
    top = np.sort(mi, axis=0)[::-1]
    second = top[1] if top.shape[0] > 1 else np.zeros(top.shape[1])
    return float(np.mean((top[0] - second) / factor_entropy(factors)))


def modularity(codes: np.ndarray, factors: np.ndarray, num_bins: int = 20) -> float:
    """Modularity of :cite:`ridgeway2018learning`: does each latent depend on at most one factor?

    Per latent :math:`j`, with :math:`m_{jk} = I(z_j; v_k)` and :math:`\\theta_j = \\max_k m_{jk}`:

    .. math:: \\delta_j = \\frac{\\sum_k m_{jk}^2 - \\theta_j^2}{\\theta_j^2 (K - 1)}, \\qquad
              \\text{modularity} = \\frac{1}{L}\\sum_j (1 - \\delta_j)

    A latent with zero MI with every factor (e.g. a constant latent) scores 0, as in
    disentanglement_lib. Factors with a single value are left out; with a single remaining factor
    every informative latent is trivially modular (score 1).

    Parameters
    ----------
    codes : float array (n_samples, n_latents)
    factors : int array (n_samples, n_factors)
    num_bins : int (reference: 20)
    """
    codes, factors = check_pair(codes, factors)
    factors = factors[:, varying_factors(factors)]
    mi = mutual_info_matrix(codes, factors, num_bins)
    squared = mi**2
    theta2 = squared.max(axis=1)
    num_factors = mi.shape[1]
    informative = theta2 > 0
    score = np.zeros(mi.shape[0])
    if num_factors == 1:
        score[informative] = 1.0
    else:
        delta = (squared.sum(axis=1)[informative] - theta2[informative]) / (
            theta2[informative] * (num_factors - 1)
        )
        score[informative] = 1.0 - delta
    return float(score.mean())


# --------------------------------------------------------------------------------------------
# Unsupervised scores (no factors needed): how far the aggregate codes are from independent.
# --------------------------------------------------------------------------------------------


def _active_covariance(codes: np.ndarray) -> np.ndarray:
    cov = np.atleast_2d(np.cov(codes, rowvar=False))
    active = np.diag(cov) > 0
    return cov[np.ix_(active, active)]


def gaussian_total_correlation(codes: np.ndarray) -> float:
    """Total correlation of a Gaussian fitted to the codes, in nats.

    :math:`\\mathrm{TC} = \\tfrac12 (\\sum_j \\log \\Sigma_{jj} - \\log\\det\\Sigma) = -\\tfrac12 \\log\\det R`
    with :math:`R` the correlation matrix. 0 for uncorrelated codes; ``inf`` when two latents are
    perfectly correlated (e.g. a duplicated latent). Constant latents are independent of the others
    and are left out.

    Parameters
    ----------
    codes : float array (n_samples, n_latents)
    """
    codes = check_codes(codes)
    cov = _active_covariance(codes)
    if cov.size == 0:
        return 0.0
    std = np.sqrt(np.diag(cov))
    corr = cov / np.outer(std, std)
    sign, logdet = np.linalg.slogdet(corr)
    if sign <= 0 or not np.isfinite(logdet) or np.linalg.cond(corr) > 1e12:
        return float("inf")
    return float(max(-0.5 * logdet, 0.0))


def gaussian_wasserstein_correlation(codes: np.ndarray, normalize: bool = False) -> float:
    """Squared 2-Wasserstein distance between :math:`N(0, \\Sigma)` and :math:`N(0, \\operatorname{diag}\\Sigma)`.

    :math:`2\\operatorname{tr}\\Sigma - 2\\operatorname{tr}(D^{1/2}\\Sigma D^{1/2})^{1/2}` with
    :math:`D = \\operatorname{diag}\\Sigma`; ``normalize=True`` divides by :math:`\\operatorname{tr}\\Sigma`
    (disentanglement_lib's ``gaussian_wasserstein_correlation_norm``).

    Parameters
    ----------
    codes : float array (n_samples, n_latents)
    """
    codes = check_codes(codes)
    cov = np.atleast_2d(np.cov(codes, rowvar=False))
    d = np.sqrt(np.diag(cov))
    inner = cov * np.outer(d, d)
    eig = np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0.0, None)
    value = max(2.0 * np.trace(cov) - 2.0 * np.sqrt(eig).sum(), 0.0)
    if normalize:
        trace = np.trace(cov)
        return float(value / trace) if trace > 0 else 0.0
    return float(value)


def latent_mutual_info(codes: np.ndarray, num_bins: int = 20) -> float:
    """Mean plug-in MI (nats) between pairs of distinct discretised latents (0 with one latent)."""
    codes = check_codes(codes)
    num_latents = codes.shape[1]
    if num_latents == 1:
        return 0.0
    binned = discretize(codes, num_bins)
    mi = _discrete_mutual_info(binned, binned)
    np.fill_diagonal(mi, 0.0)
    return float(mi.sum() / (num_latents**2 - num_latents))


def unsupervised_scores(codes: np.ndarray, num_bins: int = 20) -> dict[str, float]:
    """The unsupervised scores of disentanglement_lib's study, in one dict."""
    return {
        "gaussian_total_correlation": gaussian_total_correlation(codes),
        "gaussian_wasserstein_correlation": gaussian_wasserstein_correlation(codes),
        "gaussian_wasserstein_correlation_norm": gaussian_wasserstein_correlation(codes, normalize=True),
        "mutual_info_score": latent_mutual_info(codes, num_bins),
    }
