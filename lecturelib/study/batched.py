"""Train several models of one grid row in one step: stacked parameters, ``vmap``, one Adam.

Used by the study (chapter 9) on a GPU, where one dSprites VAE at batch 64 leaves the device
mostly idle (launch-bound): ``M`` models of the same architecture, each with its own
hyperparameters, seed and batch of 64, are trained together. Their parameters are stacked along
a new first axis (:func:`torch.func.stack_module_state`), the loss of every model is computed by
one :func:`torch.vmap` of :func:`torch.func.functional_call`, and one Adam steps the stacked
tensors. Adam acts elementwise, so this is the same computation as training each model alone with
its own Adam, up to floating-point rounding (tested); only the kernels are batched. On a CPU, where
one model's convolutions already keep the cores busy and vmap's grouped convolutions are slower,
the losses are computed in a loop over the models instead (``vectorize``), still with one Adam step.

A *stacked loss* ``loss_fn(model, batch, hparams, step) -> {"loss": scalar, ...}`` is written for
one model: ``hparams`` maps names to 0-d tensors (one model's values), ``step`` is the 1-based
step as a 0-d tensor, ``batch`` one model's batch. It must be free of in-place randomness
(pass noise in the batch), so that vmapped and single runs agree. :func:`single_loss` turns it into
the ``loss_fn(model, batch)`` of :func:`lecturelib.training.train` for one model.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state

from lecturelib.config import resolve_device
from lecturelib.training import History, adam
from lecturelib.validation import check_int, check_number

Batch = tuple[torch.Tensor, ...]
StackedLoss = Callable[[nn.Module, Batch, Mapping[str, torch.Tensor], torch.Tensor], dict[str, torch.Tensor]]
DataFn = Callable[[int, torch.Generator], Batch]


class _LossModule(nn.Module):
    """``forward(batch, hparams, step) = loss_fn(model, ...)``, so that functional_call swaps the model's parameters."""

    def __init__(self, model: nn.Module, loss_fn: StackedLoss) -> None:
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, batch: Batch, hparams: Mapping[str, torch.Tensor], step: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.loss_fn(self.model, batch, hparams, step)


def single_loss(loss_fn: StackedLoss, hparams: Mapping[str, float]) -> Callable[[nn.Module, Batch], dict]:
    """``loss_fn`` for one model with fixed ``hparams``, as :func:`lecturelib.training.train` expects.

    The step passed to ``loss_fn`` counts the calls made in training mode (1, 2, ...), as in the
    stacked trainer; evaluation calls (model in eval mode) see the last training step. The count is
    ``loss.state["step"]``, which a resumed training run restores (``extra_state`` of
    :func:`lecturelib.training.train`).
    """
    state = {"step": 0}

    def loss(model: nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
        if model.training:
            state["step"] += 1
        ref = next(model.parameters())
        hp = {k: torch.as_tensor(v, dtype=ref.dtype, device=ref.device) for k, v in hparams.items()}
        return loss_fn(model, batch, hp, torch.tensor(float(max(state["step"], 1)), device=ref.device))

    loss.state = state
    return loss


def _check_models(models: Sequence[nn.Module]) -> None:
    if not models:
        raise ValueError("models must hold at least one model")
    shapes = [[(n, tuple(p.shape)) for n, p in m.named_parameters()] for m in models]
    if any(s != shapes[0] for s in shapes[1:]):
        raise ValueError("models must share one architecture (same parameter names and shapes)")


def train_stacked(models: Sequence[nn.Module], loss_fn: StackedLoss, data: DataFn | Sequence[DataFn], *,
                  hparams: Sequence[Mapping[str, float]], seeds: Sequence[int], num_steps: int,
                  batch_size: int = 64, lr: float = 1e-4, betas: tuple[float, float] = (0.9, 0.999),
                  eps: float = 1e-8, num_logs: int = 50, device: str | torch.device = "auto",
                  progress: bool | None = None, vectorize: bool | None = None) -> list[History]:
    """Train ``M = len(models)`` models of one architecture together; copy the results back into them.

    Parameters
    ----------
    models : M modules with identical parameter names and shapes (initialised by the caller).
    loss_fn : the stacked loss (module docstring), written for one model.
    data : ``data(batch_size, generator) -> batch`` streamed per model, or one such callable per model.
        Model ``m`` draws its batches with a CPU generator seeded ``seeds[m]``, as
        :func:`lecturelib.training.train` does, so a model sees the same batches here and alone.
    hparams : M dicts with the same keys: the hyperparameters of each model.
    seeds : M seeds of the data streams.
    num_steps, batch_size, lr, betas, eps : the per-model training settings (Adam).
    vectorize : compute the M losses in one ``torch.vmap`` call (``True``) or in a loop over the
        models (``False``); either way one optimizer step updates all M. ``None`` (default) picks
        vmap on CUDA, where it fills the GPU, and the loop on a CPU, where one model's convolutions
        already keep the cores busy and vmap's grouped convolutions are slower (``benchmarks/study.py``).

    Returns
    -------
    list of M :class:`~lecturelib.training.History`, one per model (training losses only).
    """
    m = len(models)
    _check_models(models)
    if len(hparams) != m or len(seeds) != m:
        raise ValueError(f"hparams and seeds must have one entry per model ({m}), got {len(hparams)} and {len(seeds)}")
    keys = set(hparams[0]) if m else set()
    if any(set(hp) != keys for hp in hparams):
        raise ValueError("every model's hparams must have the same keys")
    num_steps = check_int(num_steps, "num_steps", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    num_logs = check_int(num_logs, "num_logs", minimum=1)
    eps = check_number(eps, "eps", minimum=0, strict=True)  # lr is checked by adam, before any training
    if len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    betas = tuple(check_number(b, f"betas[{i}]", minimum=0, maximum=1) for i, b in enumerate(betas))
    data_fns = list(data) if isinstance(data, Sequence) else [data] * m
    if len(data_fns) != m:
        raise ValueError(f"data must be one callable or one per model ({m}), got {len(data_fns)}")
    device = resolve_device(device)
    for model in models:
        model.to(device).train()
    stacked_hp = {k: torch.tensor([float(hp[k]) for hp in hparams], device=device) for k in sorted(keys)}
    if vectorize is None:
        vectorize = device.type == "cuda"
    if vectorize:
        params, buffers = stack_module_state(list(models))  # leaves of shape (M, ...), requires_grad
        base = _LossModule(copy.deepcopy(models[0]).to("meta"), loss_fn)
        params = {f"model.{k}": v for k, v in params.items()}
        buffers = {f"model.{k}": v for k, v in buffers.items()}

        def one(p: dict, b: dict, batch: Batch, hp: dict, step: torch.Tensor) -> dict[str, torch.Tensor]:
            return functional_call(base, (p, b), (batch, hp, step))

        vmapped = torch.vmap(one, in_dims=(0, 0, 0, 0, None))

        def losses(per_model: list[Batch], step: torch.Tensor) -> dict[str, torch.Tensor]:
            batch = tuple(torch.stack(parts) for parts in zip(*per_model))
            return vmapped(params, buffers, batch, stacked_hp, step)

        trained = list(params.values())
    else:  # each model keeps its own parameters; the optimizer step is still one for all
        modules = [_LossModule(model, loss_fn) for model in models]
        model_hp = [{k: v[i] for k, v in stacked_hp.items()} for i in range(m)]

        def losses(per_model: list[Batch], step: torch.Tensor) -> dict[str, torch.Tensor]:
            outs = []
            for module, batch, hp in zip(modules, per_model, model_hp):
                out = module(batch, hp, step)
                if "loss" not in out or out["loss"].ndim != 0:
                    raise ValueError("loss_fn must return a dict with a scalar tensor under 'loss'")
                out["loss"].backward()  # now, so that only one model's graph is held at a time
                outs.append({name: value.detach() for name, value in out.items()})
            return {name: torch.stack([out[name] for out in outs]) for name in outs[0]}

        trained = [p for model in models for p in model.parameters()]
    optimizer = adam(trained, lr=lr, betas=betas, eps=eps)
    generators = [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds]
    log_points = set(np.unique(np.linspace(1, num_steps, min(num_logs, num_steps)).round().astype(int)).tolist())
    histories = [History() for _ in range(m)]
    sums: dict[str, torch.Tensor] = {}
    since_log = 0
    bar = None
    if progress if progress is not None else num_steps >= 1000:
        from tqdm.auto import tqdm

        bar = tqdm(total=num_steps, desc=f"training {m} models", leave=False)
    start = time.perf_counter()
    for step in range(1, num_steps + 1):
        per_model = [tuple(t.to(device, non_blocking=True) for t in fn(batch_size, g))
                     for fn, g in zip(data_fns, generators)]
        optimizer.zero_grad(set_to_none=True)
        out = losses(per_model, torch.tensor(float(step), device=device))
        if "loss" not in out or out["loss"].shape != (m,):
            raise ValueError("loss_fn must return a dict with a scalar tensor under 'loss'")
        if vectorize:
            out["loss"].sum().backward()  # models are independent: each gets its own gradient
        optimizer.step()
        for name, value in out.items():
            sums[name] = sums.get(name, 0.0) + value.detach().float()
        since_log += 1
        if step in log_points:
            host = {name: (total / since_log).tolist() for name, total in sums.items()}  # one sync per log
            for i, history in enumerate(histories):
                history.steps.append(step)
                for name, values in host.items():
                    history.train.setdefault(name, []).append(values[i])
            bad = [i for i in range(m) if not math.isfinite(host["loss"][i])]
            if bad:
                raise FloatingPointError(f"the loss of models {bad} became non-finite at step {step}")
            sums, since_log = {}, 0
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - start
    with torch.no_grad():
        for i, model in enumerate(models):
            if vectorize:  # copy the trained parameters back into the caller's modules
                for name, p in model.named_parameters():
                    p.copy_(params[f"model.{name}"][i])
                for name, b in model.named_buffers():
                    b.copy_(buffers[f"model.{name}"][i])
            model.eval()
    for history in histories:
        history.seconds = seconds
    return histories
