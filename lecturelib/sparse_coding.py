"""Sparse coding: the Lasso solved by ISTA and FISTA, and dictionary learning (chapter 1).

Conventions follow scikit-learn: data ``X`` of shape ``(n_samples, n_features)``, dictionary ``D`` of
shape ``(n_atoms, n_features)`` (one atom per row), codes ``H`` of shape ``(n_samples, n_atoms)`` and
the reconstruction ``H @ D``. Each sample's code minimises

.. math::  \\tfrac12 \\lVert \\mathbf{x} - \\mathbf{h} D \\rVert^2 + \\lambda \\lVert \\mathbf{h} \\rVert_1 ,

the objective of ``sklearn.decomposition.sparse_encode(X, D, algorithm="lasso_cd", alpha=lam)``.

Every solver accepts numpy arrays or torch tensors (CPU or CUDA) and returns the type it was given.
Internally everything is torch, batched over all samples at once; the loops synchronise with the
host only every ``check_every`` iterations, to test the stopping criterion.

Used by ``notebooks/01_sparse_coding.ipynb``; ``soft_threshold`` and ``ista`` are reused by the
autoencoder chapter (weight tying as one ISTA step, LISTA).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, TypeVar, Union

import numpy as np
import torch

from lecturelib.config import resolve_device
from lecturelib.validation import check_int, check_number

Array = Union[np.ndarray, torch.Tensor]
A = TypeVar("A", np.ndarray, torch.Tensor)

__all__ = [
    "SolverInfo",
    "DictionaryLearningResult",
    "lasso_objective",
    "soft_threshold",
    "lipschitz_constant",
    "duality_gap",
    "ista",
    "fista",
    "learn_dictionary",
    "atom_statistics",
    "ill_conditioned_lasso",
]


# --------------------------------------------------------------------------------------------
# validation and conversion
# --------------------------------------------------------------------------------------------
def _to_tensor(name: str, value: Array, *, device: torch.device | None = None,
               dtype: torch.dtype | None = None) -> torch.Tensor:
    """``value`` as a floating torch tensor (no copy when possible); ``ValueError`` if unusable."""
    if isinstance(value, torch.Tensor):
        tensor = value.detach()
    else:
        array = np.asarray(value)
        if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
            raise ValueError(f"{name} must be a numeric array, got dtype {array.dtype}")
        if not np.issubdtype(array.dtype, np.floating) or array.dtype == np.float16:
            array = array.astype(np.float64)
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    if not tensor.is_floating_point():
        tensor = tensor.to(torch.get_default_dtype())
    if dtype is not None or device is not None:
        tensor = tensor.to(device=device or tensor.device, dtype=dtype or tensor.dtype)
    return tensor


def _check_finite(name: str, tensor: torch.Tensor) -> None:
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} contains NaN or infinite values")


def _squared_norm(Dt: torch.Tensor) -> float:
    """:math:`\\lVert D\\rVert_2^2` in float64; ``ValueError`` when it overflows (entries near 1e154 or more)."""
    norm = float(torch.linalg.matrix_norm(Dt.double(), ord=2))
    if not math.isfinite(norm * norm):
        raise ValueError(f"D is too large: its squared spectral norm ({norm!r} squared) overflows float64; "
                         f"rescale D")
    return norm * norm


def _prepare(X: Array, D: Array, H0: Array | None, device: str | torch.device | None
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Validate shapes and values of ``X``, ``D`` (and ``H0``); move them to one device and dtype."""
    if device is None:
        target = X.device if isinstance(X, torch.Tensor) else torch.device("cpu")
    else:
        target = resolve_device(device)
    Xt = _to_tensor("X", X, device=target)
    if Xt.ndim != 2:
        raise ValueError(f"X must have shape (n_samples, n_features), got shape {tuple(Xt.shape)}")
    Dt = _to_tensor("D", D, device=target, dtype=Xt.dtype)
    if Dt.ndim != 2:
        raise ValueError(f"D must have shape (n_atoms, n_features), got shape {tuple(Dt.shape)}")
    if Dt.shape[1] != Xt.shape[1]:
        raise ValueError(f"D must have shape (n_atoms, {Xt.shape[1]}) to match X's n_features={Xt.shape[1]}, "
                         f"got shape {tuple(Dt.shape)}")
    if Xt.shape[0] == 0 or Dt.shape[0] == 0:
        raise ValueError(f"X and D must be non-empty, got shapes {tuple(Xt.shape)} and {tuple(Dt.shape)}")
    _check_finite("X", Xt)
    _check_finite("D", Dt)
    Ht = None
    if H0 is not None:
        Ht = _to_tensor("H0", H0, device=target, dtype=Xt.dtype)
        if tuple(Ht.shape) != (Xt.shape[0], Dt.shape[0]):
            raise ValueError(f"H0 must have shape (n_samples, n_atoms) = {(Xt.shape[0], Dt.shape[0])}, "
                             f"got shape {tuple(Ht.shape)}")
        _check_finite("H0", Ht)
    return Xt, Dt, Ht


def _like(result: torch.Tensor, reference: Array) -> Array:
    """Return ``result`` as the type of ``reference``: numpy (on the host) or a torch tensor."""
    if isinstance(reference, torch.Tensor):
        return result
    return result.detach().cpu().numpy()


# --------------------------------------------------------------------------------------------
# the objective, the proximal operator, the step size and the duality gap
# --------------------------------------------------------------------------------------------
def soft_threshold(z: A, t: float | A) -> A:
    """Soft-thresholding :math:`S_t(z) = \\operatorname{sign}(z)\\max(|z| - t, 0)`, elementwise.

    The proximal operator of :math:`t\\lVert\\cdot\\rVert_1`. ``z`` is a numpy array or a torch tensor
    (any shape, any device); ``t >= 0`` is a number or broadcasts against ``z``. Returns the type of
    ``z``; torch inputs keep their autograd graph. Integer input gives floats, as numpy does.
    A negative or NaN ``t`` raises ``ValueError``; for a tensor ``t`` on a GPU that check is skipped,
    as it would make every call wait for the device.
    """
    if isinstance(z, torch.Tensor):
        if not z.is_floating_point():
            z = z.to(torch.get_default_dtype())  # softshrink has no integer kernel
        if not isinstance(t, torch.Tensor):
            # one fused pass over z
            return torch.nn.functional.softshrink(z, _check_threshold(t))
        if not t.is_cuda and not bool((t.detach() >= 0).all()):  # False for NaN, unlike t < 0
            raise ValueError(f"t must be non-negative (and not NaN), got {t!r}")
        return z - torch.clamp(z, -t, t)  # = sign(z) max(|z| - t, 0), for a per-element t
    z = np.asarray(z)
    if isinstance(t, torch.Tensor):
        t = t.detach().cpu().numpy()
    if np.ndim(t) == 0:
        _check_threshold(t)  # the value itself is kept, so a 0-d array keeps its dtype
    elif not np.all(np.asarray(t) >= 0):
        raise ValueError(f"t must be non-negative (and not NaN), got {t!r}")
    return z - np.clip(z, -t, t)


def _check_threshold(t: object) -> float:
    """A scalar threshold as a float >= 0 (infinity allowed: it maps everything to 0)."""
    try:
        return check_number(t, "t", minimum=0, finite=False)
    except ValueError:
        raise ValueError(f"t must be non-negative (and not NaN), got {t!r}") from None


def _objective_rows(X: torch.Tensor, D: torch.Tensor, H: torch.Tensor, lam: float) -> torch.Tensor:
    residual = X - H @ D
    return 0.5 * (residual * residual).sum(1) + lam * H.abs().sum(1)


def lasso_objective(X: A, D: Array, H: Array, lam: float, *, reduction: Literal["mean", "sum", "none"] = "mean"):
    """Sparse-coding objective :math:`\\tfrac12\\lVert\\mathbf{x} - \\mathbf{h}D\\rVert^2 + \\lambda\\lVert\\mathbf{h}\\rVert_1`.

    ``X`` ``(n_samples, n_features)``, ``D`` ``(n_atoms, n_features)``, ``H`` ``(n_samples, n_atoms)``.
    Returns the mean over samples (``reduction="mean"``), the sum, or one value per sample
    (``"none"``, shape ``(n_samples,)``): a float / numpy array for numpy ``X``, a tensor for torch ``X``.
    """
    lam = check_number(lam, "lam", minimum=0)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    Xt, Dt, Ht = _prepare(X, D, H, None)
    rows = _objective_rows(Xt, Dt, Ht, lam)
    value = rows if reduction == "none" else (rows.mean() if reduction == "mean" else rows.sum())
    if isinstance(X, torch.Tensor):
        return value
    return value.cpu().numpy() if reduction == "none" else float(value)


def lipschitz_constant(D: Array) -> float:
    """:math:`L_D = \\lVert D\\rVert_2^2`, the largest singular value of ``D`` squared.

    The Lipschitz constant of the gradient of :math:`\\tfrac12\\lVert\\mathbf{x} - \\mathbf{h}D\\rVert^2`
    in :math:`\\mathbf{h}`; ``1 / L_D`` is the step size of ISTA and FISTA.
    """
    Dt = _to_tensor("D", D)
    if Dt.ndim != 2:
        raise ValueError(f"D must have shape (n_atoms, n_features), got shape {tuple(Dt.shape)}")
    _check_finite("D", Dt)
    return _squared_norm(Dt)


def _gap_rows(X: torch.Tensor, D: torch.Tensor, H: torch.Tensor, lam: float
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample primal objective and duality gap (both ``(n_samples,)``) at ``H``."""
    residual = X - H @ D
    primal = 0.5 * (residual * residual).sum(1) + lam * H.abs().sum(1)
    # Dual: max_theta 0.5||x||^2 - 0.5||x - theta||^2  s.t.  ||theta D^T||_inf <= lam.
    # The residual scaled into the feasible set is a dual point; the gap bounds primal - optimum.
    correlation = (residual @ D.T).abs().amax(1)
    scale = torch.where(correlation > lam, lam / correlation.clamp_min(torch.finfo(X.dtype).tiny),
                        torch.ones_like(correlation))
    theta = residual * scale[:, None]
    diff = X - theta
    dual = 0.5 * (X * X).sum(1) - 0.5 * (diff * diff).sum(1)
    return primal, (primal - dual).clamp_min(0)


def _polish(G: torch.Tensor, b: torch.Tensor, H: torch.Tensor, lam: float, max_support: int
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Solve each sample's optimality equations on its current support and signs (a Newton step).

    ``G = D D^T`` ``(m, m)``, ``b = X D^T`` ``(n, m)``, ``H`` ``(n, m)``. A Lasso solution with support
    :math:`S` and signs :math:`\\mathbf{s}` satisfies :math:`G_{SS}\\mathbf{h}_S = \\mathbf{b}_S -
    \\lambda\\mathbf{s}_S`: once the iterations have found :math:`S` and :math:`\\mathbf{s}`, this
    linear system gives the exact solution, where the gradient steps would only approach it linearly.
    Returns the candidate codes and a mask of the samples whose system was solved (support non-empty,
    at most ``max_support`` atoms, :math:`G_{SS}` positive definite). Whether a candidate is better is
    for the caller to decide (its objective), as a wrong support gives a wrong solution.
    """
    support = H != 0
    sizes = support.sum(1)
    solvable = (sizes > 0) & (sizes <= max_support)
    candidate = torch.zeros_like(H)
    rows = torch.nonzero(solvable).flatten()
    if rows.numel() == 0:
        return candidate, solvable
    width = int(sizes[rows].max())  # host sync; the systems are padded to the largest support
    # The support's atoms first (a stable sort keeps their order), then padding atoms outside it.
    order = torch.argsort(support[rows].to(torch.int8), dim=1, descending=True, stable=True)[:, :width]
    inside = torch.arange(width, device=H.device) < sizes[rows, None]
    both = inside[:, :, None] & inside[:, None, :]
    eye = torch.eye(width, dtype=H.dtype, device=H.device)
    system = torch.where(both, G[order[:, :, None], order[:, None, :]], eye)  # padding: identity rows
    rhs = torch.where(inside, b[rows].gather(1, order) - lam * torch.sign(H[rows].gather(1, order)), 0.0)
    factor, info = torch.linalg.cholesky_ex(system)
    solution = torch.cholesky_solve(rhs[:, :, None], factor)[:, :, 0]
    solution = torch.where(inside & (info == 0)[:, None], solution, 0.0)
    candidate[rows] = H.new_zeros(rows.numel(), H.shape[1]).scatter(1, order, solution)
    solvable[rows] = info == 0
    return candidate, solvable


def duality_gap(X: A, D: Array, H: Array, lam: float, *, reduction: Literal["mean", "sum", "none"] = "mean"):
    """Duality gap of the Lasso at ``H``: an upper bound on ``objective(H) - objective(H*)``.

    The dual point is the residual :math:`\\mathbf{x} - \\mathbf{h}D`, scaled so that
    :math:`\\lVert\\boldsymbol\\theta D^\\top\\rVert_\\infty \\le \\lambda`. Shapes and ``reduction`` as in
    :func:`lasso_objective`. A gap of zero certifies that ``H`` is optimal.
    """
    lam = check_number(lam, "lam", minimum=0)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    Xt, Dt, Ht = _prepare(X, D, H, None)
    _, gap = _gap_rows(Xt, Dt, Ht, lam)
    value = gap if reduction == "none" else (gap.mean() if reduction == "mean" else gap.sum())
    if isinstance(X, torch.Tensor):
        return value
    return value.cpu().numpy() if reduction == "none" else float(value)


# --------------------------------------------------------------------------------------------
# ISTA and FISTA
# --------------------------------------------------------------------------------------------
@dataclass
class SolverInfo:
    """What a solver did: iterations, final mean objective, final relative duality gap, history.

    ``history`` holds the mean objective after each iteration (``history[k]`` after ``k + 1`` steps)
    when the solver was called with ``history=True``; otherwise it is empty. ``mean_iterations`` is the
    number of steps taken per sample on average: below ``n_iter`` when ``stop="gap"`` froze samples.
    """

    n_iter: int
    objective: float
    converged: bool
    relative_gap: float | None = None
    history: np.ndarray = field(default_factory=lambda: np.empty(0))
    mean_iterations: float | None = None


def _solve(X: A, D: Array, lam: float, *, accelerated: bool, max_iter: int, tol: float,
           stop: str, check_every: int, H0: Array | None, history: bool, restart: bool, polish: bool,
           lipschitz: float | None, device: str | torch.device | None, return_info: bool):
    lam = check_number(lam, "lam", minimum=0)
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    check_every = check_int(check_every, "check_every", minimum=1)
    tol = check_number(tol, "tol", minimum=0)
    if stop not in ("objective", "gap", "none"):
        raise ValueError(f"stop must be 'objective', 'gap' or 'none', got {stop!r}")
    Xt, Dt, H = _prepare(X, D, H0, device)
    n_samples, n_atoms = Xt.shape[0], Dt.shape[0]
    given_lipschitz = lipschitz is not None
    if lipschitz is None:
        lipschitz = _squared_norm(Dt)  # once, before the loop
    else:
        lipschitz = check_number(lipschitz, "lipschitz", minimum=0, strict=True)
        # Cheap lower bounds on ||D||_2^2 (the largest squared atom norm, and ||D||_F^2 / rank) catch
        # most too-small values before a single step; the check after the loop catches the rest.
        squared = Dt.double().pow(2)
        bound = max(float(squared.sum(1).max()), float(squared.sum()) / min(Dt.shape))
        if lipschitz < bound * (1 - 1e-6):
            raise ValueError(f"lipschitz={lipschitz!r} is below ||D||_2^2 >= {bound:.6g}: the step size "
                             f"1/lipschitz is too large and the iterations would diverge; pass "
                             f"lipschitz=lipschitz_constant(D) or None")
        initial = float(_objective_rows(Xt, Dt, Xt.new_zeros(n_samples, n_atoms) if H is None else H, lam).mean())
    if lipschitz == 0:  # an all-zero dictionary: the code is zero
        lipschitz = 1.0
    step, threshold = 1.0 / lipschitz, lam / lipschitz

    # One step is z = y - step * grad(y), with grad(y) = (yD - x) D^T = yG - b (G = D D^T, b = x D^T),
    # written as fused multiply-adds. The Gram form costs n m^2 flops per step instead of 2 n m d.
    use_gram = n_atoms <= 2 * Dt.shape[1]
    if use_gram:
        G = Dt @ Dt.T
        B_all = -(Xt @ Dt.T)
    else:
        DT = Dt.T.contiguous()
    polish = bool(polish) and stop == "gap"
    if polish:
        G = G if use_gram else Dt @ Dt.T
        max_support = min(Dt.shape)  # a larger support makes G_SS singular

    if H is None:
        H = Xt.new_zeros(n_samples, n_atoms)
    else:
        H = H.clone()
    # With stop="gap", the samples whose own gap is at most half of tol times the mean objective are
    # frozen at every check: they leave the batch and cost nothing until a later check finds their gap
    # above the (by then lower) share again. Samples converge at very different speeds (an all-zero code
    # is optimal after a few steps), so the batch shrinks as the solver goes. The stopping test stays the
    # certified one, on the gaps summed over all samples, frozen or not; the half leaves room in that sum
    # for samples whose gap cannot fall further (rounding, in float32).
    active = torch.arange(n_samples, device=Xt.device)
    Xa, Ba, Ha = Xt, (B_all if use_gram else None), H
    Ya, t = Ha, Xt.new_ones(n_samples)
    if stop == "gap":
        Y, T = H.clone(), t.clone()  # the momentum state of every sample, frozen or not
        primal_rows, gap_rows = Xt.new_zeros(n_samples), Xt.new_zeros(n_samples)
        if polish:  # the signs of every code at the previous check, to tell a support that has settled
            last_signs = torch.zeros(n_samples, n_atoms, dtype=torch.int8, device=Xt.device)
    frozen_primal = Xt.new_zeros(())  # summed objective of the frozen samples, for the history
    trace = Xt.new_empty(max_iter) if history else None
    previous = None
    converged, relative_gap, k, sample_steps = False, None, 0, 0
    for k in range(1, max_iter + 1):
        if use_gram:
            Z = torch.add(Ya, torch.addmm(Ba, Ya, G), alpha=-step)
        else:
            Z = torch.addmm(Ya, torch.addmm(Xa, Ya, Dt, alpha=-1.0), DT, alpha=step)
        H_new = soft_threshold(Z, threshold)
        if accelerated:
            t_new = 0.5 * (1.0 + torch.sqrt(1.0 + 4.0 * t * t))
            delta = H_new - Ha
            if restart:  # gradient-based adaptive restart (O'Donoghue & Candes 2015), per sample
                uphill = torch.linalg.vecdot(Ya - H_new, delta) > 0
                t_new = torch.where(uphill, 1.0, t_new)
                momentum = torch.where(uphill, 0.0, (t - 1.0) / t_new)
            else:
                momentum = (t - 1.0) / t_new
            Ya = torch.addcmul(H_new, momentum[:, None], delta)
            t = t_new
        else:
            Ya = H_new
        Ha = H_new
        sample_steps += Ha.shape[0]
        if trace is not None:
            trace[k - 1] = (frozen_primal + _objective_rows(Xa, Dt, Ha, lam).sum()) / n_samples
        if stop != "none" and (k % check_every == 0 or k == max_iter):
            if stop == "gap":
                primal_a, gap_a = _gap_rows(Xa, Dt, Ha, lam)
                primal_rows[active] = primal_a
                total = primal_rows.sum()
                if polish:
                    # A sample whose signs did not change since the last check has probably found its
                    # support: solve for the exact solution on it, and keep that if its objective is lower.
                    signs = torch.sign(Ha).to(torch.int8)
                    settled = (signs == last_signs[active]).all(1) & (gap_a > 0.5 * tol * total / n_samples)
                    last_signs[active] = signs
                    rows = torch.nonzero(settled).flatten()
                    if rows.numel() > 0:  # host sync
                        b = -Ba[rows] if use_gram else Xa[rows] @ DT
                        candidate, solved = _polish(G, b, Ha[rows], lam, max_support)
                        primal_c, gap_c = _gap_rows(Xa[rows], Dt, candidate, lam)
                        better = solved & (primal_c < primal_a[rows])
                        take = rows[better]
                        Ha = Ha.index_put((take,), candidate[better])
                        Ya = Ya.index_put((take,), candidate[better])  # and restart its momentum
                        t = t.index_put((take,), t.new_ones(()))
                        primal_a = primal_a.index_put((take,), primal_c[better])
                        gap_a = gap_a.index_put((take,), gap_c[better])
                        primal_rows[active] = primal_a
                        total = primal_rows.sum()
                gap_rows[active] = gap_a
                H[active], Y[active], T[active] = Ha, Ya, t
                relative_gap = float(gap_rows.sum() / total.clamp_min(torch.finfo(Xt.dtype).tiny))  # host sync
                if relative_gap <= tol:
                    converged = True
                    break
                # Not converged, so some gap exceeds tol * total / n_samples: the new batch is not empty.
                behind = gap_rows > 0.5 * tol * total / n_samples
                Y[~behind], T[~behind] = H[~behind], 1.0  # a sample woken later restarts without momentum
                active = torch.nonzero(behind).flatten()
                Xa, Ha, Ya, t = Xt[active], H[active], Y[active], T[active]
                Ba = B_all[active] if use_gram else None
                frozen_primal = total - primal_rows[active].sum()
            else:
                current = float(_objective_rows(Xa, Dt, Ha, lam).mean())  # host sync
                if previous is not None and (previous - current) / check_every <= tol * max(abs(current), 1e-300):
                    converged = True
                    break
                previous = current
    H[active] = Ha
    objective = None
    if given_lipschitz:
        # With a step 1/L_D or smaller, ISTA never raises the objective and FISTA stays close to its
        # start; a too-large step makes the codes grow geometrically instead.
        objective = float(_objective_rows(Xt, Dt, H, lam).mean())
        if not objective <= 10.0 * initial:
            raise FloatingPointError(
                f"the solver diverged (mean objective {objective:.3g}, {initial:.3g} at the start): the step "
                f"size 1/lipschitz = {1.0 / lipschitz:.3g} is too large for this D, whose ||D||_2^2 = "
                f"{lipschitz_constant(Dt):.6g}; pass lipschitz=lipschitz_constant(D) or None")
    H_out = _like(H, X)
    if not return_info:
        return H_out
    if objective is None:
        objective = float(_objective_rows(Xt, Dt, H, lam).mean())
    info = SolverInfo(n_iter=k, objective=objective, converged=converged, relative_gap=relative_gap,
                      history=trace[:k].cpu().numpy() if trace is not None else np.empty(0),
                      mean_iterations=sample_steps / n_samples)
    return H_out, info


def ista(X: A, D: Array, lam: float, *, max_iter: int = 1000, tol: float = 1e-6,
         stop: Literal["objective", "gap", "none"] = "objective", check_every: int = 10,
         H0: Array | None = None, history: bool = False, lipschitz: float | None = None,
         polish: bool = True, device: str | torch.device | None = None, return_info: bool = False):
    """Sparse codes of all samples by ISTA (proximal gradient), batched over samples.

    Each step is a gradient step on :math:`\\tfrac12\\lVert\\mathbf{x}-\\mathbf{h}D\\rVert^2` with step
    :math:`1/L_D` followed by soft-thresholding at :math:`\\lambda/L_D`:
    :math:`\\mathbf{h} \\leftarrow S_{\\lambda/L_D}(\\mathbf{h} - \\tfrac{1}{L_D}(\\mathbf{h}D - \\mathbf{x})D^\\top)`.

    Parameters
    ----------
    X : (n_samples, n_features) numpy array or torch tensor (CPU or CUDA).
    D : (n_atoms, n_features) dictionary, one atom per row.
    lam : float >= 0, weight of the L1 penalty.
    max_iter : maximum number of iterations.
    tol, stop : ``"objective"`` stops when the mean objective's relative decrease per iteration (over
        the last ``check_every`` iterations) is ``<= tol``; ``"gap"`` stops when the summed duality gap
        is ``<= tol`` times the summed objective (a certified relative accuracy), and meanwhile stops
        iterating on each sample whose own gap is at most half of ``tol`` times the mean objective, so
        the batch shrinks as samples converge; ``"none"`` runs ``max_iter`` iterations.
    check_every : test the stopping criterion every this many iterations (each test syncs with the
        host; the iterations between tests run without any).
    H0 : (n_samples, n_atoms) warm start; zeros by default.
    history : record the mean objective after every iteration (returned in ``SolverInfo.history``).
    lipschitz : :math:`L_D` if already known (see :func:`lipschitz_constant`); computed otherwise.
        A smaller value makes the step ``1/lipschitz`` too large and the iterations diverge: that
        raises ``ValueError`` when a cheap lower bound on :math:`L_D` already shows it, and
        ``FloatingPointError`` after the loop when the final objective is more than ten times the
        initial one (never for the computed :math:`L_D`).
    polish : with ``stop="gap"``, at each check solve every unfinished sample whose signs have not
        changed since the previous check exactly on its support (the optimality equations
        :math:`G_{SS}\\mathbf{h}_S = \\mathbf{b}_S - \\lambda\\,\\operatorname{sign}(\\mathbf{h}_S)`, with
        :math:`G = DD^\\top`, :math:`\\mathbf{b} = \\mathbf{x}D^\\top`) and keep the result where its
        objective is lower. The gradient steps find the support long before they reach a 1e-6 gap on
        it; the solve then finishes the sample in one step. Ignored for the other stops.
    device : ``None`` computes where ``X`` lives (CPU for numpy); ``"auto"``, ``"cpu"``, ``"cuda"``.
    return_info : also return a :class:`SolverInfo`.

    Returns
    -------
    H : (n_samples, n_atoms) codes, numpy for numpy ``X``, a tensor on the compute device for torch
        ``X``; and ``info`` when ``return_info=True``.
    """
    return _solve(X, D, lam, accelerated=False, max_iter=max_iter, tol=tol, stop=stop,
                  check_every=check_every, H0=H0, history=history, restart=False, polish=polish,
                  lipschitz=lipschitz, device=device, return_info=return_info)


def fista(X: A, D: Array, lam: float, *, max_iter: int = 1000, tol: float = 1e-6,
          stop: Literal["objective", "gap", "none"] = "objective", check_every: int = 10,
          H0: Array | None = None, history: bool = False, restart: bool = False,
          lipschitz: float | None = None, polish: bool = True, device: str | torch.device | None = None,
          return_info: bool = False):
    """Sparse codes by FISTA (Beck & Teboulle 2009): ISTA's step taken from an extrapolated point.

    With :math:`t_1 = 1`: :math:`\\mathbf{h}_k = S_{\\lambda/L_D}(\\mathbf{y}_k - \\tfrac1{L_D}\\nabla f(\\mathbf{y}_k))`,
    :math:`t_{k+1} = (1 + \\sqrt{1 + 4t_k^2})/2`,
    :math:`\\mathbf{y}_{k+1} = \\mathbf{h}_k + \\tfrac{t_k - 1}{t_{k+1}}(\\mathbf{h}_k - \\mathbf{h}_{k-1})`.
    The objective gap falls as :math:`O(1/k^2)` instead of ISTA's :math:`O(1/k)`, at the same step
    :math:`1/L_D`. ``restart=True`` resets the momentum of a sample whenever it points uphill
    (gradient-based adaptive restart, O'Donoghue & Candes 2015), which is often much faster on
    sparse problems. Other parameters and the return value as in :func:`ista`.
    """
    return _solve(X, D, lam, accelerated=True, max_iter=max_iter, tol=tol, stop=stop,
                  check_every=check_every, H0=H0, history=history, restart=restart, polish=polish,
                  lipschitz=lipschitz, device=device, return_info=return_info)


# --------------------------------------------------------------------------------------------
# dictionary learning
# --------------------------------------------------------------------------------------------
@dataclass
class DictionaryLearningResult:
    """A learned dictionary ``D`` ``(n_atoms, n_features)`` and the codes ``H`` ``(n_samples, n_atoms)``
    of the training data, with the mean objective after every outer iteration (``objectives``)."""

    D: np.ndarray | torch.Tensor
    H: np.ndarray | torch.Tensor
    objectives: np.ndarray
    n_iter: int


def _update_dictionary(D: torch.Tensor, A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """One sweep of block-coordinate descent on the atoms, each projected onto the unit ball.

    Minimises :math:`\\tfrac12\\operatorname{tr}(D^\\top A D) - \\operatorname{tr}(D^\\top B)` over ``D``
    with :math:`\\lVert\\mathbf{d}_j\\rVert\\le 1`, where ``A = H^T H`` and ``B = H^T X`` (Mairal et al.
    2009). Each atom's update is that block's exact minimiser (the projection of the unconstrained
    one), so the objective cannot increase. Atoms with ``A[j, j] == 0`` (unused) are left alone.
    """
    D = D.clone()
    diag = torch.diagonal(A)
    for j in range(D.shape[0]):  # a loop over atoms (not samples): each update needs the previous ones
        a_jj = diag[j]
        update = (B[j] - A[j] @ D) / a_jj.clamp_min(torch.finfo(D.dtype).tiny)
        atom = torch.where(a_jj > 0, D[j] + update, D[j])
        D[j] = atom / torch.clamp_min(torch.linalg.vector_norm(atom), 1.0)
    return D


def _renormalise(D: torch.Tensor, H: torch.Tensor, rng: torch.Generator, X: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale atoms to unit norm, moving the scale into the codes (``H @ D`` unchanged, ``|H|_1`` not larger).

    Atoms that are exactly zero are replaced by random normalised samples (their codes are zero).
    """
    norms = torch.linalg.vector_norm(D, dim=1)
    dead = norms <= torch.finfo(D.dtype).eps
    if bool(dead.any()):
        index = torch.randint(0, X.shape[0], (int(dead.sum()),), generator=rng).to(X.device)
        fresh = X[index]
        fresh = fresh / torch.linalg.vector_norm(fresh, dim=1, keepdim=True).clamp_min(torch.finfo(D.dtype).tiny)
        D = D.clone()
        D[dead] = fresh
        H = H.clone()
        H[:, dead] = 0
        norms = torch.where(dead, torch.ones_like(norms), norms)
    return D / norms[:, None], H * norms[None, :]


def learn_dictionary(X: A, n_atoms: int, lam: float, *, n_iter: int = 30, batch_size: int | None = None,
                     coding_iter: int = 100, D0: Array | None = None, seed: int = 0,
                     device: str | torch.device | None = None, verbose: bool = False
                     ) -> DictionaryLearningResult:
    """Learn a dictionary by alternating sparse coding (FISTA) and a dictionary update.

    Minimises the mean over samples of :math:`\\tfrac12\\lVert\\mathbf{x}-\\mathbf{h}D\\rVert^2 +
    \\lambda\\lVert\\mathbf{h}\\rVert_1` over codes and unit-norm atoms.

    Parameters
    ----------
    X : (n_samples, n_features) training data (numpy or torch).
    n_atoms : number of atoms ``m``.
    lam : L1 weight.
    n_iter : full-batch: outer iterations (code all samples, then one block-coordinate sweep over the
        atoms); minibatch: passes over the data.
    batch_size : ``None`` for full-batch learning, in which the objective never increases (codes are
        warm-started and a sample keeps its old code if FISTA did not improve it); otherwise online
        learning on minibatches with the running statistics ``A = sum H^T H``, ``B = sum H^T X``
        (Mairal et al. 2009, as scikit-learn's ``MiniBatchDictionaryLearning``).
    coding_iter : FISTA iterations per sparse-coding step.
    D0 : (n_atoms, n_features) initial dictionary; by default ``n_atoms`` random samples, normalised.
    seed : seeds the initial dictionary and the minibatch order.
    device : as in :func:`ista`.

    Returns
    -------
    DictionaryLearningResult with ``D`` (unit-norm rows) and the training codes ``H`` in the type of
    ``X``, and ``objectives`` (mean objective over all of ``X`` after each outer iteration; computed
    with the current codes in full-batch mode, and after re-coding all of ``X`` in minibatch mode).
    """
    lam = check_number(lam, "lam", minimum=0)
    if not isinstance(n_atoms, (int, np.integer)) or n_atoms < 1:
        raise ValueError(f"n_atoms must be a positive integer, got {n_atoms!r}")
    if not isinstance(n_iter, (int, np.integer)) or n_iter < 1:
        raise ValueError(f"n_iter must be a positive integer, got {n_iter!r}")
    if batch_size is not None and (not isinstance(batch_size, (int, np.integer)) or batch_size < 1):
        raise ValueError(f"batch_size must be None or a positive integer, got {batch_size!r}")
    rng = torch.Generator().manual_seed(int(seed))
    Xt, _, _ = _prepare(X, np.zeros((1, np.shape(X)[-1] if np.ndim(X) == 2 else 1)), None, device)
    n_samples = Xt.shape[0]
    if D0 is None:
        index = torch.randperm(n_samples, generator=rng)[:n_atoms]
        if n_atoms > n_samples:
            index = torch.randint(0, n_samples, (n_atoms,), generator=rng)
        D = Xt[index.to(Xt.device)].clone()
        D = D + 1e-3 * torch.randn(D.shape, generator=rng, dtype=D.dtype).to(D.device)
        D = D / torch.linalg.vector_norm(D, dim=1, keepdim=True).clamp_min(torch.finfo(D.dtype).tiny)
    else:
        _, D, _ = _prepare(Xt, D0, None, Xt.device)
        if D.shape[0] != n_atoms:
            raise ValueError(f"D0 must have shape (n_atoms, n_features) = {(n_atoms, Xt.shape[1])}, "
                             f"got {tuple(D.shape)}")
        D = D / torch.linalg.vector_norm(D, dim=1, keepdim=True).clamp_min(torch.finfo(D.dtype).tiny)
    objectives = []
    if batch_size is None:
        H = Xt.new_zeros(n_samples, n_atoms)
        for it in range(n_iter):
            old = _objective_rows(Xt, D, H, lam)
            H_new = fista(Xt, D, lam, max_iter=coding_iter, stop="none", H0=H, restart=True)
            new = _objective_rows(Xt, D, H_new, lam)
            H = torch.where((new <= old)[:, None], H_new, H)  # block descent: never worse than before
            D = _update_dictionary(D, H.T @ H, H.T @ Xt)
            D, H = _renormalise(D, H, rng, Xt)
            objectives.append(float(_objective_rows(Xt, D, H, lam).mean()))
            if verbose:
                print(f"iteration {it + 1}: objective {objectives[-1]:.6g}")
    else:
        A = Xt.new_zeros(n_atoms, n_atoms)
        B = Xt.new_zeros(n_atoms, Xt.shape[1])
        step = 0
        for it in range(n_iter):
            order = torch.randperm(n_samples, generator=rng).to(Xt.device)
            for start in range(0, n_samples, batch_size):
                batch = Xt[order[start:start + batch_size]]
                H_batch = fista(batch, D, lam, max_iter=coding_iter, stop="none", restart=True)
                # Forget the statistics of early, poorly-coded batches (scikit-learn's schedule).
                n = batch.shape[0]
                theta = (step + 1) * n if step < n - 1 else n ** 2 + step + 1 - n
                beta = (theta + 1 - n) / (theta + 1)
                step += 1
                A = beta * A + H_batch.T @ H_batch
                B = beta * B + H_batch.T @ batch
                D = _update_dictionary(D, A, B)
                norms = torch.linalg.vector_norm(D, dim=1)
                D, _ = _renormalise(D, Xt.new_zeros(1, n_atoms), rng, Xt)
                A, B = A * norms[:, None] * norms[None, :], B * norms[:, None]
            H = fista(Xt, D, lam, max_iter=coding_iter, stop="none", restart=True)
            objectives.append(float(_objective_rows(Xt, D, H, lam).mean()))
            if verbose:
                print(f"pass {it + 1}: objective {objectives[-1]:.6g}")
    return DictionaryLearningResult(D=_like(D, X), H=_like(H, X), objectives=np.asarray(objectives),
                                    n_iter=n_iter)


# --------------------------------------------------------------------------------------------
# an instance where the worst-case rates show
# --------------------------------------------------------------------------------------------
def ill_conditioned_lasso(n_atoms: int = 200, condition: float = 1e6) -> tuple[np.ndarray, np.ndarray]:
    """A sample ``x`` and a dictionary ``D`` on which ISTA's gap falls as 1/k and FISTA's as 1/k^2 (chapter 1).

    ``D = diag(s)`` has ``n_atoms`` orthogonal atoms ``s_j e_j`` whose curvatures ``s_j**2`` (the eigenvalues of
    ``D D^T``) are log-spaced from ``1 / condition`` to ``1``, so ``L_D = 1``. The sample is ``x = s``, so at
    ``lam = 0`` the best code is ``h* = (1, ..., 1)`` with objective ``F* = 0``, and every atom holds the share
    ``s_j**2 / 2`` of the gap at ``h = 0``: evenly many such shares per factor of curvature is what makes the gap
    of gradient steps fall as a power of ``k`` until ``k`` reaches about ``condition``.

    Returns ``x`` of shape ``(1, n_atoms)`` and ``D`` of shape ``(n_atoms, n_atoms)``, float64.
    """
    n_atoms = check_int(n_atoms, "n_atoms", minimum=2)
    condition = check_number(condition, "condition", minimum=1, strict=True)
    s = np.sqrt(np.geomspace(1 / condition, 1.0, n_atoms))
    return s[None, :].copy(), np.diag(s)


# --------------------------------------------------------------------------------------------
# describing atoms
# --------------------------------------------------------------------------------------------
def atom_statistics(D: Array, patch_shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """How localised and how oriented each atom is, to tell edge detectors from global waves.

    Parameters
    ----------
    D : (n_atoms, height * width) atoms as image patches.
    patch_shape : ``(height, width)``.

    Returns
    -------
    dict of arrays of shape ``(n_atoms,)``:
    ``spread`` -- root-mean-square distance (in pixels) of the atom's energy ``d**2`` from its
    centroid: small for localised atoms, about ``0.41 * side`` for energy spread evenly over a square.
    ``orientation`` -- coherence ``(l1 - l2) / (l1 + l2)`` of the eigenvalues of the atom's gradient
    structure tensor: 1 for a pattern varying along one direction only (an edge, a grating),
    0 for an isotropic one (a blob, noise).
    """
    Dn = _to_tensor("D", D).double().cpu().numpy()
    height, width = patch_shape
    if Dn.ndim != 2 or Dn.shape[1] != height * width:
        raise ValueError(f"D must have shape (n_atoms, {height * width}) for patch_shape {patch_shape}, "
                         f"got {Dn.shape}")
    atoms = Dn.reshape(-1, height, width)
    energy = atoms ** 2
    energy = energy / np.clip(energy.sum((1, 2), keepdims=True), 1e-300, None)
    rows, cols = np.mgrid[0:height, 0:width]
    r0 = (energy * rows).sum((1, 2), keepdims=True)
    c0 = (energy * cols).sum((1, 2), keepdims=True)
    spread = np.sqrt((energy * ((rows - r0) ** 2 + (cols - c0) ** 2)).sum((1, 2)))
    gy, gx = np.gradient(atoms, axis=(1, 2))
    jxx, jyy, jxy = (gx * gx).sum((1, 2)), (gy * gy).sum((1, 2)), (gx * gy).sum((1, 2))
    root = np.sqrt((jxx - jyy) ** 2 + 4 * jxy ** 2)
    orientation = root / np.clip(jxx + jyy, 1e-300, None)
    return {"spread": spread, "orientation": orientation}
