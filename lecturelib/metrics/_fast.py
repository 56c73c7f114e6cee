"""The classifiers of fast mode (chapters 8 and 9): batched one-vs-rest logistic regressions and LightGBM.

- :class:`OvRLogistic` minimises **the same objective as liblinear's** L2 logistic regression
  (``0.5 ||w||^2 + C sum_i log(1 + exp(-y_i w.[x_i, 1]))``, intercept regularised like every
  other weight: ``intercept_scaling=1``) for all classes at once with Newton's method, vectorised
  in numpy. It therefore fits the same model as
  ``OneVsRestClassifier(LogisticRegression(solver="liblinear", C=C))`` up to solver tolerance
  (liblinear stops at a relative gradient of 1e-4, we at 1e-8), 10-50x faster on codes of a few
  tens of latents. Its ``predict_proba`` normalises the per-class sigmoids as
  ``OneVsRestClassifier`` does. ``penalize_intercept=False`` gives scikit-learn's lbfgs objective instead.
- :class:`OvRLogisticCV` is the reference downstream classifier, ``LogisticRegressionCV`` (10 values
  of ``C``, unshuffled 5-fold CV, ``C`` chosen per class), with every fit an :class:`OvRLogistic`
  warm-started along the path of ``C``: the same ``C`` and predictions as scikit-learn up to ties
  between values of ``C`` and lbfgs' tolerance.
- :func:`lightgbm_classifier` is LightGBM's histogram gradient boosting with the reference GBT's
  tree shape (depth 3, leaves of one sample allowed) but 20 rounds at learning rate 0.5 instead
  of 100 at 0.1 (one tree per class per round, so 5x fewer trees: LightGBM alone is only ~5x
  faster than scikit-learn per tree on these small problems) and an L2 leaf penalty of 1 (without
  it, second-order gains G^2/H explode once a class is fitted and its Hessians vanish, which
  wrecked DCI's completeness on a perfectly disentangled code). Fast mode uses it for the
  downstream task's accuracy; its importances (split gains) ranked the study's models unlike the
  reference DCI, so DCI uses extra trees (:mod:`lecturelib.metrics.classifier_based`). LightGBM
  is imported lazily, only when fast mode runs.
"""

from __future__ import annotations

import numpy as np
import scipy.special

__all__ = ["OvRLogistic", "lightgbm_classifier"]

# Above this many latents the (n_classes, d+1, d+1) Hessians grow large: fall back to liblinear.
MAX_NEWTON_FEATURES = 256


class OvRLogistic:
    """One-vs-rest L2 logistic regression with liblinear's objective, all classes in one Newton solve.

    Parameters
    ----------
    C : inverse regularisation strength (liblinear's ``C``).
    tol : stop when every class's gradient norm is below ``tol`` times its value at zero.
    max_iter : Newton steps (each with a backtracking line search).

    Attributes after :meth:`fit`: ``classes_`` (K,), ``coef_`` (d + 1, K) with the intercept last
    (or (d + 1, 1) for two classes, like scikit-learn's binary case).
    """

    def __init__(self, C: float = 1.0, tol: float = 1e-8, max_iter: int = 100, penalize_intercept: bool = True):
        self.C, self.tol, self.max_iter, self.penalize_intercept = C, tol, max_iter, penalize_intercept

    @staticmethod
    def _design(x: np.ndarray) -> np.ndarray:
        return np.hstack([x, np.ones((len(x), 1))])

    def _penalty(self, dim: int) -> np.ndarray:
        """Diagonal of the L2 penalty's Hessian (d+1,): 1 per weight, 0 for an unpenalised intercept."""
        diag = np.ones(dim)
        if not self.penalize_intercept:
            diag[-1] = 0.0
        return diag

    def _loss(self, w: np.ndarray, xb: np.ndarray, s: np.ndarray) -> np.ndarray:
        penalty = self._penalty(len(w))[:, None]
        return 0.5 * np.sum(penalty * w * w, axis=0) + self.C * np.sum(np.logaddexp(0.0, -s * (xb @ w)), axis=0)

    def fit(self, x: np.ndarray, y: np.ndarray) -> OvRLogistic:
        """``x`` float (n, d), ``y`` class labels (n,) with at least two distinct values."""
        self.classes_ = np.unique(y)
        if self.classes_.size < 2:
            raise ValueError("OvRLogistic needs at least two classes in y")
        targets = self.classes_[1:] if self.classes_.size == 2 else self.classes_
        self.coef_ = self.solve(x, y[:, None] == targets[None, :])
        return self

    def solve(self, x: np.ndarray, positive: np.ndarray, coef_init: np.ndarray | None = None) -> np.ndarray:
        """Coefficients (d + 1, K) of K binary problems at once: ``x`` (n, d), ``positive`` bool (n, K).

        ``coef_init`` (d + 1, K) starts Newton there (a warm start along a path of ``C``) instead of at 0.
        """
        xb = self._design(np.asarray(x, dtype=np.float64))
        s = np.where(positive, 1.0, -1.0)  # (n, K) labels in {-1, +1}
        w = np.zeros((xb.shape[1], s.shape[1])) if coef_init is None else np.array(coef_init, dtype=np.float64)
        dim = xb.shape[1]
        penalty = self._penalty(dim)
        # An unpenalised intercept has no curvature once the classes are separated: a tiny ridge keeps
        # the Newton system solvable without moving the solution.
        eye = np.diag(np.maximum(penalty, 1e-10))
        outer = (xb[:, :, None] * xb[:, None, :]).reshape(len(xb), dim * dim)  # (n, (d+1)^2)
        g0 = np.linalg.norm(self.C * xb.T @ (0.5 * s), axis=0)  # the gradient's norm at w = 0
        cols = np.arange(s.shape[1])  # the problems not yet converged
        loss = self._loss(w, xb, s)
        for _ in range(self.max_iter):
            sc, wc = s[:, cols], w[:, cols]
            margin = sc * (xb @ wc)
            grad = penalty[:, None] * wc - self.C * xb.T @ (sc * scipy.special.expit(-margin))  # (d+1, A)
            active = np.linalg.norm(grad, axis=0) > self.tol * np.maximum(g0[cols], 1e-300)
            if not active.any():
                break
            cols, sc, wc, margin, grad = cols[active], sc[:, active], wc[:, active], margin[:, active], grad[:, active]
            p = scipy.special.expit(margin)
            weight = p * (1.0 - p)  # (n, A)
            hess = self.C * (weight.T @ outer).reshape(-1, dim, dim) + eye  # one GEMM for all classes
            step = np.linalg.solve(hess, grad.T[..., None])[..., 0].T  # (d+1, A)
            # Backtracking line search per problem: Newton from 0 may overshoot on near-separable data.
            base = loss[cols]
            t = np.ones(cols.size)
            for _ in range(30):
                trial_loss = self._loss(wc - t * step, xb, sc)
                worse = trial_loss > base + 1e-12 * np.abs(base)
                if not worse.any():
                    break
                t = np.where(worse, t / 2, t)
            w[:, cols] = wc - t * step
            loss[cols] = trial_loss
        return w

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        """Scores (n, K) (or (n,) for two classes, as scikit-learn)."""
        z = self._design(np.asarray(x, dtype=np.float64)) @ self.coef_
        return z[:, 0] if self.classes_.size == 2 else z

    def predict(self, x: np.ndarray) -> np.ndarray:
        z = self.decision_function(x)
        if self.classes_.size == 2:
            return self.classes_[(z > 0).astype(int)]
        return self.classes_[np.argmax(z, axis=1)]

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Per-class sigmoids normalised to sum to 1, as ``OneVsRestClassifier.predict_proba``: (n, K)."""
        z = self.decision_function(x)
        if self.classes_.size == 2:
            p = scipy.special.expit(z)
            return np.stack([1.0 - p, p], axis=1)
        p = scipy.special.expit(z)
        return p / p.sum(axis=1, keepdims=True)


class OvRLogisticCV:
    """One-vs-rest logistic regression with ``C`` chosen per class by K-fold cross-validated accuracy.

    The computation of ``OneVsRestClassifier(LogisticRegressionCV(Cs=10, cv=KFold(5), scoring="accuracy"))``,
    the reference downstream classifier (scikit-learn's objective: the intercept is not penalised),
    with every (fold, ``C``) fit solved for all classes at once by :class:`OvRLogistic`, warm-started
    along the path of ``C``. For each class the ``C`` of highest mean held-out binary accuracy wins
    (the smallest on ties, as ``np.argmax``), and the class is refitted on all the data with it.

    Parameters
    ----------
    Cs : number of values of ``C``, log-spaced from 1e-4 to 1e4 (scikit-learn's grid).
    n_folds : unshuffled consecutive folds (``KFold(n_folds)``).
    """

    def __init__(self, Cs: int = 10, n_folds: int = 5):
        self.Cs, self.n_folds = Cs, n_folds

    def fit(self, x: np.ndarray, y: np.ndarray) -> OvRLogisticCV:
        """``x`` float (n, d), ``y`` class labels (n,) with at least two distinct values; n >= n_folds."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        if self.classes_.size < 2:
            raise ValueError("OvRLogisticCV needs at least two classes in y")
        if len(y) < self.n_folds:
            raise ValueError(f"OvRLogisticCV needs at least n_folds={self.n_folds} samples, got {len(y)}")
        grid = np.logspace(-4, 4, self.Cs)
        targets = self.classes_[1:] if self.classes_.size == 2 else self.classes_
        folds = np.array_split(np.arange(len(y)), self.n_folds)
        accuracy = np.zeros((self.Cs, targets.size))  # summed over folds
        for held_out in folds:
            train = np.setdiff1d(np.arange(len(y)), held_out)
            s_train = y[train, None] == targets[None, :]
            s_test = y[held_out, None] == targets[None, :]
            coef = None
            for i, C in enumerate(grid):
                coef = OvRLogistic(C=C, penalize_intercept=False).solve(x[train], s_train, coef)
                scores = np.hstack([x[held_out], np.ones((len(held_out), 1))]) @ coef
                accuracy[i] += np.mean((scores > 0) == s_test, axis=0)
        self.C_ = grid[np.argmax(accuracy, axis=0)]  # (K',) one C per binary problem
        s_all = y[:, None] == targets[None, :]
        self.coef_ = np.zeros((x.shape[1] + 1, targets.size))
        for C in np.unique(self.C_):
            cols = np.flatnonzero(self.C_ == C)
            self.coef_[:, cols] = OvRLogistic(C=C, penalize_intercept=False).solve(x, s_all[:, cols])
        return self

    decision_function = OvRLogistic.decision_function
    predict = OvRLogistic.predict
    predict_proba = OvRLogistic.predict_proba
    _design = staticmethod(OvRLogistic._design)


def lightgbm_classifier(seed: int, num_rounds: int = 20, learning_rate: float = 0.5):
    """LightGBM shaped like the reference ``GradientBoostingClassifier()`` (fast mode's GBT).

    Depth 3 (at most 8 leaves), ``num_rounds`` rounds at ``learning_rate`` (reference: 100 at 0.1),
    leaves of one sample allowed (``min_child_samples=1``, as GBT's ``min_samples_leaf=1``), L2
    leaf penalty ``reg_lambda=1`` (bounds the gains when Hessians vanish), every row and latent used
    each round (so ``seed`` changes nothing but is passed for form), one thread and
    ``deterministic=True`` (bit-identical reruns), ``"gain"`` importances.
    """
    try:
        import lightgbm
    except ImportError as err:  # pragma: no cover - lightgbm is pinned in requirements.txt
        raise ImportError(
            "fast mode's gradient boosting needs LightGBM: pip install 'lightgbm>=4.0' "
            "(or use fast=False for scikit-learn's GradientBoostingClassifier)"
        ) from err
    return lightgbm.LGBMClassifier(
        n_estimators=num_rounds, learning_rate=learning_rate, max_depth=3, num_leaves=8,
        min_child_samples=1, min_child_weight=1e-3, subsample=1.0, colsample_bytree=1.0,
        reg_lambda=1.0, importance_type="gain", n_jobs=1, deterministic=True, force_col_wise=True,
        random_state=seed, verbose=-1,
    )
