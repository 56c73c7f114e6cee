"""Classifier-based disentanglement scores on arrays: explicitness, SAP, DCI, downstream accuracy.

Used by chapters 8 (disentanglement metrics) and 9 (the Locatello et al. study). Inputs follow
scikit-learn's layout: ``codes_*`` float ``(n_samples, n_latents)``, ``factors_*`` int class
indices ``(n_samples, n_factors)``; train and test sets are given separately.

**Reference mode** (the default) reproduces the classifiers of disentanglement_lib as they ran
in :cite:`locatello2019challenging`, i.e. with scikit-learn ~0.20 defaults, which have changed
since and move these scores a lot (measured on the same codes: explicitness 0.975 -> 0.923). Every solver, multi-class
mode and seed is therefore set explicitly here:

- ``LogisticRegression()`` then meant liblinear, one-vs-rest, ``C=1``; now it means lbfgs,
  multinomial. We write ``OneVsRestClassifier(LogisticRegression(solver="liblinear"))``.
- ``LogisticRegressionCV(Cs=10, cv=KFold(5))`` then meant lbfgs one-vs-rest with the best ``C``
  chosen per class; ``OneVsRestClassifier(LogisticRegressionCV(...))`` is the same computation.
- ``LinearSVC`` then used the dual solver (``dual=True``); the default is now ``"auto"``.
- ``GradientBoostingClassifier`` ran with ``random_state=None`` (not reproducible); we pass a seed.

**Fast mode** (``fast=True``, :mod:`lecturelib.metrics._fast`) changes only the solvers and the
boosting library, never the data or the scores' definitions:

- explicitness, and the downstream logistic regression: the one-vs-rest liblinear logistic
  regression with ``C=1`` is solved for all classes at once by a vectorised Newton method
  (:class:`~lecturelib.metrics._fast.OvRLogistic`): the same objective, hence the same model up to
  solver tolerance (explicitness agrees with reference mode to ~1e-4). The downstream task keeps
  reference mode's cross-validation of ``C`` (10 values, 5 folds, per class), each fit solved the
  same way (:class:`~lecturelib.metrics._fast.OvRLogisticCV`). With ``C=1`` instead, fast mode's
  first choice, the downstream accuracies ranked the study's first 18 models unlike the reference
  (Spearman 0.81 at 100 training samples, 0.89 at 1,000); with the cross-validation, 0.98 and 0.98.
- SAP: the same ``LinearSVC`` with the primal solver (``dual=False``): same strictly convex
  objective, so the same classifier up to tolerance, about 2x faster on one latent.
- DCI: 50 extremely randomised trees (scikit-learn's ``ExtraTreesClassifier``, every latent a
  candidate at each split, leaves of at least 5 samples) and their impurity importances, instead
  of ``GradientBoostingClassifier``'s. Both are impurity importances. LightGBM's split gains, fast mode's
  first choice, are not (Newton gains G^2/H weight samples by their Hessians) and ranked the
  study's models unlike the reference (Spearman 0.42 for disentanglement, 0.53 for completeness).
- downstream gradient boosting: LightGBM with the reference tree shape (depth 3, one-sample
  leaves) but 20 rounds at learning rate 0.5 instead of 100 at 0.1, and an L2 leaf penalty of 1
  (:func:`~lecturelib.metrics._fast.lightgbm_classifier`); only its accuracy is used.

The rank agreement of each fast score with its reference score is measured on the study's own
trained models (``python -m lecturelib.study agreement``; chapter 8 prints the table) and on a
family of synthetic representations of varying quality (``benchmarks/metrics.py``), and checked on
a small problem in ``tests/test_metrics.py``. The choice of DCI's importances was made on the
study's first nine models (fast vs the stored reference scores, same samples):

====================================================  ==============  ============  ===========
importance (fast DCI)                                 disentanglement  completeness  informative
====================================================  ==============  ============  ===========
LightGBM split gains                                  0.42             0.53          0.95
random forest, 100 trees                              0.93             0.90          0.95
extra trees, 50, leaves >= 5, all latents (chosen)    0.92             0.92          0.97
====================================================  ==============  ============  ===========

(Spearman over models; with ``max_features="sqrt"`` the extra trees scored a perfectly
disentangled code 0.85 instead of 1: a split whose candidates miss the one informative latent
credits a noise latent.) On the benchmark's synthetic family, which played no part in the choice
(8 representations, 400 train / 200 test), the Spearman correlations were 0.976 for DCI's
three scores (LightGBM: 0.95-0.98), 1.0 for explicitness and SAP, 0.95 for the downstream GBT
and 0.93 for the downstream logistic regression (then with ``C=1``, not the cross-validated ``C``).

Factors with a single value in the training set are left out (no classifier can be fitted).
"""

from __future__ import annotations

import inspect
import warnings
from typing import Literal

import numpy as np
import scipy.stats
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import KFold
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from lecturelib.metrics._fast import MAX_NEWTON_FEATURES, OvRLogistic, OvRLogisticCV, lightgbm_classifier
from lecturelib.validation import check_choice, check_rng, check_train_test, child_seed, varying_factors

__all__ = ["dci", "dci_scores", "downstream_accuracy", "explicitness", "make_classifier", "sap"]

Importance = Literal["gbt", "extra_trees", "hgb_permutation"]

# scikit-learn >= 1.8 announces new defaults for LogisticRegressionCV; pin the old meaning
# (accuracy to choose C, a pure L2 penalty) where the running version has the parameters.
_LRCV_PARAMS = inspect.signature(LogisticRegressionCV).parameters
_LRCV_EXPLICIT: dict[str, object] = {"scoring": "accuracy"}
if "l1_ratios" in _LRCV_PARAMS:
    _LRCV_EXPLICIT["l1_ratios"] = (0.0,)
if "use_legacy_attributes" in _LRCV_PARAMS:
    _LRCV_EXPLICIT["use_legacy_attributes"] = False


def make_classifier(name: str, seed: int, boosting_rounds: int = 100):
    """A fresh scikit-learn classifier with every reference setting written out.

    ``name``: ``"logistic_ovr"`` (sklearn 0.20's ``LogisticRegression()``), ``"logistic_cv"``
    (sklearn 0.20's ``LogisticRegressionCV(Cs=10, cv=KFold(5))``), ``"gbt"`` (sklearn's
    ``GradientBoostingClassifier()``); fast mode: ``"logistic_newton"`` (the objective of
    ``"logistic_ovr"`` solved by batched Newton), ``"logistic_newton_cv"`` (``"logistic_cv"`` solved
    by batched Newton), ``"lightgbm"`` (LightGBM shaped like ``"gbt"``),
    ``"extra_trees"`` (50 extremely randomised trees with leaves of at least 5 samples: fast DCI),
    ``"hgb"`` (scikit-learn's histogram GBT, kept for comparison).
    ``boosting_rounds``: trees per class of ``"gbt"``/``"hgb"`` (the reference's 100; fewer only
    to make the tiny compute scale affordable, chapter 9).
    """
    if not isinstance(boosting_rounds, (int, np.integer)) or boosting_rounds < 1:
        raise ValueError(f"boosting_rounds must be a positive int, got {boosting_rounds!r}")
    if name == "logistic_newton":
        return OvRLogistic(C=1.0)
    if name == "logistic_newton_cv":
        return OvRLogisticCV(Cs=10, n_folds=5)
    if name == "lightgbm":
        return lightgbm_classifier(seed)
    if name == "extra_trees":
        # Chosen on the study's models (see dci): leaves of >= 5 samples keep single noisy samples
        # from crediting noise latents, as the reference's shallow trees do.
        return ExtraTreesClassifier(n_estimators=50, min_samples_leaf=5, max_features=None, n_jobs=1, random_state=seed)
    if name == "logistic_ovr":
        # sklearn 0.20: LogisticRegression() = liblinear, one-vs-rest, C=1, tol=1e-4, max_iter=100.
        return OneVsRestClassifier(
            LogisticRegression(solver="liblinear", C=1.0, tol=1e-4, max_iter=100, random_state=seed)
        )
    if name == "logistic_cv":
        # sklearn 0.20: LogisticRegressionCV = lbfgs; multi_class defaulted to one-vs-rest, so the
        # best C was chosen per class. Unshuffled KFold(5) as in disentanglement_lib.
        return OneVsRestClassifier(
            LogisticRegressionCV(
                Cs=10, cv=KFold(n_splits=5), solver="lbfgs", max_iter=100, tol=1e-4, random_state=seed,
                **_LRCV_EXPLICIT,
            )
        )
    if name == "gbt":
        return GradientBoostingClassifier(
            n_estimators=int(boosting_rounds), learning_rate=0.1, max_depth=3, subsample=1.0, random_state=seed
        )
    if name == "hgb":
        # Same depth, learning rate and number of rounds as "gbt"; min_samples_leaf=1 like GBT (HGB's
        # default of 20 would refuse to split the 10-sample downstream task); no early stopping.
        return HistGradientBoostingClassifier(
            max_iter=int(boosting_rounds), learning_rate=0.1, max_depth=3, min_samples_leaf=1, early_stopping=False,
            random_state=seed,
        )
    raise ValueError(f"classifier name={name!r} is not known; expected logistic_ovr, logistic_cv, gbt, logistic_newton, lightgbm, extra_trees or hgb")


class _Constant:
    """Predicts the single class seen in training (a factor constant in a small training set)."""

    def __init__(self, value: int):
        self.value = value
        self.classes_ = np.array([value])

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.full(len(x), self.value)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return np.ones((len(x), 1))


def _fit(name: str, seed: int, x: np.ndarray, y: np.ndarray, boosting_rounds: int = 100):
    if np.unique(y).size == 1:
        return _Constant(int(y[0]))
    if name == "logistic_newton" and x.shape[1] + 1 > MAX_NEWTON_FEATURES:
        name = "logistic_ovr"  # same objective; liblinear scales better to very wide codes
    if name == "logistic_newton_cv" and x.shape[1] + 1 > MAX_NEWTON_FEATURES:
        name = "logistic_cv"
    model = make_classifier(name, seed, boosting_rounds)
    with warnings.catch_warnings():
        # liblinear / lbfgs / dual LinearSVC stop at max_iter exactly as the reference did.
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)  # HGB/CV notes about tiny classes
        model.fit(x, y)
    return model


def _macro_auc(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    """Macro one-vs-rest ROC-AUC over the classes of ``y`` that have positives and negatives.

    A class never seen in training gets probability 0 (AUC 0.5), so it is not silently dropped.
    """
    labels = np.union1d(classes, np.unique(y))
    full = np.zeros((len(y), labels.size))
    full[:, np.searchsorted(labels, classes)] = proba
    onehot = y[:, None] == labels[None, :]
    valid = onehot.any(axis=0) & ~onehot.all(axis=0)
    if not valid.any():
        raise ValueError("explicitness needs at least two classes of a factor in the evaluated set")
    return float(roc_auc_score(onehot[:, valid], full[:, valid], average="macro"))


def explicitness(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    random_state: int | np.random.Generator = 0,
    fast: bool = False,
) -> dict[str, float]:
    """Explicitness of :cite:`ridgeway2018learning`: can a linear model read each factor off the codes?

    Codes are standardised with the training statistics (a constant latent is left at 0); per
    factor a one-vs-rest logistic regression (liblinear, ``C=1``: sklearn 0.20's default) is fitted
    and scored with the macro one-vs-rest ROC-AUC. Returns the mean over factors, on the training
    and the test set: ``{"train": ..., "test": ...}``, each in ``[0, 1]`` (0.5 = chance).

    Parameters
    ----------
    codes_train, codes_test : float arrays (n_train, n_latents), (n_test, n_latents)
    factors_train, factors_test : int arrays (n_train, n_factors), (n_test, n_factors)
    random_state : seed or Generator for the classifiers
    fast : solve the same logistic regressions by batched Newton (:class:`lecturelib.metrics._fast.OvRLogistic`)
        instead of liblinear: same objective, scores equal to ~1e-4, several times faster.
    """
    codes_train, factors_train, codes_test, factors_test = check_train_test(
        codes_train, factors_train, codes_test, factors_test
    )
    rng = check_rng(random_state)
    name = "logistic_newton" if fast else "logistic_ovr"
    scaler = StandardScaler().fit(codes_train)  # zero variance -> scale 1, no division by zero
    x_train, x_test = scaler.transform(codes_train), scaler.transform(codes_test)
    train, test = [], []
    for k in varying_factors(factors_train, "factors_train"):
        model = _fit(name, child_seed(rng), x_train, factors_train[:, k])
        train.append(_macro_auc(factors_train[:, k], model.predict_proba(x_train), model.classes_))
        test.append(_macro_auc(factors_test[:, k], model.predict_proba(x_test), model.classes_))
    return {"train": float(np.mean(train)), "test": float(np.mean(test))}


def _sap_matrix_continuous(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Squared correlation between each latent and each factor (0 for a constant latent)."""
    zc = codes - codes.mean(axis=0)
    vc = factors - factors.mean(axis=0)
    cov = zc.T @ vc / (len(codes) - 1)
    var_z = zc.var(axis=0, ddof=1)
    var_v = vc.var(axis=0, ddof=1)
    denom = np.outer(var_z, var_v)
    out = np.zeros_like(cov)
    ok = denom > 1e-12
    out[ok] = cov[ok] ** 2 / denom[ok]
    return out


def sap(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    continuous: bool = False,
    random_state: int | np.random.Generator = 0,
    return_matrix: bool = False,
    fast: bool = False,
) -> float | tuple[float, np.ndarray]:
    """Separated Attribute Predictability :cite:`kumar2018variational`, as in disentanglement_lib.

    For every latent ``j`` and factor ``k`` a linear SVM (``LinearSVC(C=0.01,
    class_weight="balanced")``, dual solver as in sklearn 0.20) is trained on that single latent
    and its test accuracy is ``S[j, k]``; the score is the mean over factors of the gap between
    the two best latents. ``continuous=True`` uses the squared correlation instead (the training
    set only, as in the reference). Single-latent codes give a gap against 0.

    SAP's ceiling is low: a factor with many values (32 positions) cannot be classified well
    from one latent by a one-vs-rest linear SVM (thresholding a line gives at most two useful
    half-lines per class), so even the true factors score far below 1; only differences between
    representations are meaningful.

    ``fast=True`` solves the same SVMs with liblinear's primal solver (``dual=False``): the
    objective is strictly convex, so it is the same classifier up to tolerance, about 2x faster.

    Returns the score (and the matrix ``(n_latents, n_factors)`` if ``return_matrix``).
    """
    codes_train, factors_train, codes_test, factors_test = check_train_test(
        codes_train, factors_train, codes_test, factors_test
    )
    rng = check_rng(random_state)
    keep = varying_factors(factors_train, "factors_train")
    num_latents = codes_train.shape[1]
    if continuous:
        matrix = _sap_matrix_continuous(codes_train, factors_train[:, keep].astype(np.float64))
    else:
        matrix = np.zeros((num_latents, keep.size))
        for j in range(num_latents):
            x_train, x_test = codes_train[:, j : j + 1], codes_test[:, j : j + 1]
            for col, k in enumerate(keep):
                model = LinearSVC(
                    C=0.01, class_weight="balanced", dual=not fast, loss="squared_hinge", max_iter=1000,
                    random_state=child_seed(rng),
                )
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    model.fit(x_train, factors_train[:, k])
                matrix[j, col] = np.mean(model.predict(x_test) == factors_test[:, k])
    top = np.sort(matrix, axis=0)[::-1]
    second = top[1] if num_latents > 1 else np.zeros(top.shape[1])
    score = float(np.mean(top[0] - second))
    return (score, matrix) if return_matrix else score


def dci_scores(importance: np.ndarray) -> dict[str, float]:
    """Disentanglement and completeness of :cite:`eastwood2018framework` from an importance matrix.

    ``importance`` (n_latents, n_factors), non-negative: :math:`R_{jk}` = how much latent ``j``
    is used to predict factor ``k``. With :math:`P_{jk} = R_{jk} / \\sum_k R_{jk}`,
    :math:`D_j = 1 - H_K(P_{j\\cdot})` (entropy with log base ``K``), weighted by the latent's
    share of the total importance; completeness is the same with the roles swapped (log base
    ``L``). A latent (factor) with zero importance gets weight 0; an all-zero matrix is treated as
    uniform (score 0), as in disentanglement_lib. One factor (latent) gives ``D`` (``C``) = 1 by
    convention, since there is nothing to be mixed with.
    """
    r = np.asarray(importance, dtype=np.float64)
    if r.ndim != 2 or np.any(r < 0) or not np.all(np.isfinite(r)):
        raise ValueError(f"importance must be a finite non-negative (n_latents, n_factors) array, got shape {r.shape}")
    if r.sum() == 0:
        r = np.ones_like(r)
    num_latents, num_factors = r.shape

    def one_minus_entropy(rows: np.ndarray, base: int) -> np.ndarray:
        if base == 1:
            return np.ones(rows.shape[0])
        return 1.0 - scipy.stats.entropy(rows.T + 1e-11, base=base)

    per_code = one_minus_entropy(r, num_factors)
    per_factor = one_minus_entropy(r.T, num_latents)
    code_weight = r.sum(axis=1) / r.sum()
    factor_weight = r.sum(axis=0) / r.sum()
    return {
        "disentanglement": float(np.sum(per_code * code_weight)),
        "completeness": float(np.sum(per_factor * factor_weight)),
    }


def dci(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    importance: Importance = "gbt",
    random_state: int | np.random.Generator = 0,
    return_matrix: bool = False,
    boosting_rounds: int = 100,
) -> dict[str, float] | tuple[dict[str, float], np.ndarray]:
    """DCI of :cite:`eastwood2018framework`: disentanglement, completeness, informativeness.

    One classifier per factor predicts it from all latents; its importances fill a column of the
    importance matrix (see :func:`dci_scores`); informativeness is its accuracy on the training
    and test sets (disentanglement_lib's convention; Eastwood & Williams use a prediction error).

    ``importance``:

    - ``"gbt"`` (reference): ``GradientBoostingClassifier`` (100 depth-3 trees) and its impurity
      importances, as in disentanglement_lib. Minutes per model at 10,000 samples.
    - ``"extra_trees"`` (fast mode): 50 extremely randomised trees (every latent a candidate at
      each split, leaves of >= 5 samples) and their impurity importances; about 100x faster than
      ``"gbt"`` at 10,000 samples. It ranks the study's models as ``"gbt"`` does (see the module
      docstring for the measurement), with values of the same order, not equal.
    - ``"hgb_permutation"``: ``HistGradientBoostingClassifier`` with the same depth and
      rounds; importance = mean drop of test accuracy when a latent is permuted (5 repeats),
      clipped at 0. Permutation importance credits a latent by what is lost without it, so two
      exact copies of a factor share less credit than impurity importance gives them.

    ``boosting_rounds``: trees per class of the (histogram) gradient boosting (reference: 100).

    Returns ``{"disentanglement", "completeness", "informativeness_train", "informativeness_test"}``
    (and the importance matrix ``(n_latents, n_factors)`` if ``return_matrix``).
    """
    codes_train, factors_train, codes_test, factors_test = check_train_test(
        codes_train, factors_train, codes_test, factors_test
    )
    rng = check_rng(random_state)
    keep = varying_factors(factors_train, "factors_train")
    matrix = np.zeros((codes_train.shape[1], keep.size))
    train_acc, test_acc = [], []
    for col, k in enumerate(keep):
        y_train, y_test = factors_train[:, k], factors_test[:, k]
        seed = child_seed(rng)
        if importance == "gbt":
            model = _fit("gbt", seed, codes_train, y_train, boosting_rounds)
            matrix[:, col] = np.abs(model.feature_importances_)
        elif importance == "extra_trees":
            model = _fit("extra_trees", seed, codes_train, y_train)
            matrix[:, col] = model.feature_importances_
        elif importance == "hgb_permutation":
            model = _fit("hgb", seed, codes_train, y_train, boosting_rounds)
            result = permutation_importance(
                model, codes_test, y_test, n_repeats=5, random_state=seed, scoring="accuracy"
            )
            matrix[:, col] = np.clip(result.importances_mean, 0.0, None)
        else:
            raise ValueError(
                f"importance={importance!r} is not known; expected 'gbt', 'extra_trees' or 'hgb_permutation'"
            )
        train_acc.append(np.mean(model.predict(codes_train) == y_train))
        test_acc.append(np.mean(model.predict(codes_test) == y_test))
    scores = dci_scores(matrix)
    scores["informativeness_train"] = float(np.mean(train_acc))
    scores["informativeness_test"] = float(np.mean(test_acc))
    return (scores, matrix) if return_matrix else scores


def downstream_accuracy(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    model: Literal["lr", "gbt"] = "lr",
    fast: bool = False,
    random_state: int | np.random.Generator = 0,
    boosting_rounds: int = 100,
) -> dict[str, np.ndarray]:
    """Per-factor accuracy of predicting each true factor from the codes (Locatello et al.'s downstream task).

    ``model="lr"``: reference = one-vs-rest ``LogisticRegressionCV`` (10 ``C`` values, unshuffled
    5-fold CV, lbfgs); fast = the same cross-validation with each fit solved by batched Newton
    (:class:`~lecturelib.metrics._fast.OvRLogisticCV`).
    ``model="gbt"``: reference = ``GradientBoostingClassifier()``; fast = LightGBM with the
    same depth/rounds/learning rate. Codes are not standardised (as in the reference). Every factor column is
    kept (a factor constant in the training set is predicted as that constant).
    ``boosting_rounds``: trees per class of the gradient boosting (reference: 100).

    Returns ``{"train_accuracy": (n_factors,), "test_accuracy": (n_factors,)}``.
    """
    codes_train, factors_train, codes_test, factors_test = check_train_test(
        codes_train, factors_train, codes_test, factors_test
    )
    rng = check_rng(random_state)
    check_choice(model, "model", ("lr", "gbt"))
    if model == "lr":
        name = "logistic_newton_cv" if fast else "logistic_cv"
    else:
        name = "lightgbm" if fast else "gbt"
    train, test = [], []
    for k in range(factors_train.shape[1]):
        clf = _fit_downstream(name, child_seed(rng), codes_train, factors_train[:, k], boosting_rounds)
        train.append(np.mean(clf.predict(codes_train) == factors_train[:, k]))
        test.append(np.mean(clf.predict(codes_test) == factors_test[:, k]))
    return {"train_accuracy": np.array(train), "test_accuracy": np.array(test)}


def _fit_downstream(name: str, seed: int, x: np.ndarray, y: np.ndarray, boosting_rounds: int = 100):
    """Fit, falling back to plain one-vs-rest logistic regression where CV is impossible.

    With 10 training samples some classes have fewer members than folds; LogisticRegressionCV
    then still runs (a fold may hold one class) but scikit-learn may refuse a fold with a single
    class: those rare fits fall back to ``C=1`` (what the CV picks most often on tiny sets).
    """
    try:
        return _fit(name, seed, x, y, boosting_rounds)
    except ValueError:
        if name == "logistic_cv":
            return _fit("logistic_ovr", seed, x, y)
        if name == "logistic_newton_cv":  # fewer samples than folds
            return _fit("logistic_newton", seed, x, y)
        raise
