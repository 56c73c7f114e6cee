"""Disentanglement metrics (chapter 8) and the scores of the Locatello et al. study (chapter 9).

Two layers:

- **array level** (pure functions of ``codes`` ``(n_samples, n_latents)`` and integer
  ``factors`` ``(n_samples, n_factors)``): :func:`mutual_info_matrix`, :func:`mig`,
  :func:`modularity`, :func:`explicitness`, :func:`sap`, :func:`dci`, :func:`downstream_accuracy`
  and the unsupervised scores;
- **sampling level** (a ground-truth data set, an ``encode(images) -> codes`` function and a
  ``random_state``): :func:`beta_vae_score`, :func:`factor_vae_score`, :func:`downstream`, and
  :func:`evaluate_all` for everything at once.

Reference mode (the default) follows the settings of disentanglement_lib's
``unsupervised_study_v1`` with every scikit-learn solver, multi-class mode and seed written out;
``fast=True`` swaps the slow classifiers. See each module's docstring for the choices made where
papers disagree. A note on dSprites: a square looks the same after a quarter turn and an ellipse
after a half turn, so the orientation factor is not identifiable from the images for those shapes;
every metric's ceiling on orientation is therefore below 1 even for a perfect encoder.
"""

from lecturelib.metrics.classifier_based import dci, dci_scores, downstream_accuracy, explicitness, sap
from lecturelib.metrics.evaluate import METRICS, evaluate_all
from lecturelib.metrics.information import (
    discretize,
    factor_entropy,
    gaussian_total_correlation,
    gaussian_wasserstein_correlation,
    latent_mutual_info,
    mig,
    modularity,
    mutual_info_matrix,
    unsupervised_scores,
)
from lecturelib.metrics.sampling import (
    CodeCache,
    beta_vae_score,
    downstream,
    encode_factors,
    factor_vae_score,
    sample_codes,
    statistical_efficiency,
)

__all__ = [
    "METRICS",
    "CodeCache",
    "beta_vae_score",
    "dci",
    "dci_scores",
    "discretize",
    "downstream",
    "downstream_accuracy",
    "encode_factors",
    "evaluate_all",
    "explicitness",
    "factor_entropy",
    "factor_vae_score",
    "gaussian_total_correlation",
    "gaussian_wasserstein_correlation",
    "latent_mutual_info",
    "mig",
    "modularity",
    "mutual_info_matrix",
    "sample_codes",
    "sap",
    "statistical_efficiency",
    "unsupervised_scores",
]
