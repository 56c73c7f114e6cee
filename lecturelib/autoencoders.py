"""Autoencoders: models, the slides' losses, corruption processes, and LISTA (chapters 2 and 3).

Models (all take ``x`` of shape ``(n_samples, n_features)`` and share one interface:
``encode(x) -> h`` ``(n_samples, n_code)``, ``decode_raw(h)`` (logits for a sigmoid output, the
output itself for a linear one), ``decode(h) -> x_hat`` and ``forward(x) -> x_hat``):

- :class:`Autoencoder` -- an MLP encoder/decoder; under- or overcomplete by ``n_code``.
- :class:`ConvAutoencoder` -- a small convolutional variant for square images.
- :class:`TiedAutoencoder` -- one weight matrix ``W`` ``(n_code, n_features)``; the encoder uses
  ``W^T`` and the decoder ``W``. With a soft-threshold code it is one ISTA step (chapter 2).
- :class:`LISTA` -- ``n_steps`` unrolled ISTA iterations with learned matrices (Gregor & LeCun 2010).

Losses exactly as the lecture's "Typical losses" slide, summed over features and averaged over the
batch: :func:`binary_cross_entropy` (computed from logits, so it stays finite when the sigmoid
saturates at 0 or 1) and :func:`squared_error` ``0.5 * sum (x_hat - x)^2``. Sparsity penalties:
:func:`l1_penalty` and :func:`kl_sparsity_penalty`. Corruption processes of the denoising
autoencoder (chapter 3): :func:`gaussian_noise`, :func:`masking_noise`, :func:`salt_and_pepper`.
:func:`autoencoder_loss` builds the ``loss_fn(model, batch)`` that :func:`lecturelib.training.train`
expects from all of these. :func:`energy_by_data_direction` measures where inputs lie relative to the
directions the training data explore (chapter 2: why noise is not copied), :func:`edge_weight`
where on the image a direction lies, and :func:`filter_roughness` how noise-like a model's filters
are (chapter 3). Chapter 2's analyses: :func:`dead_units` (ReLU code units that
never fire), :func:`copy_test` (does a model reconstruct letters as well as digits?) and
:func:`steps_to_reach` (how many ISTA steps match a LISTA network's error).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lecturelib.validation import check_choice, check_finite, check_int, check_number, check_tensor

__all__ = [
    "ACTIVATIONS",
    "Autoencoder",
    "ConvAutoencoder",
    "TiedAutoencoder",
    "LISTA",
    "binary_cross_entropy",
    "squared_error",
    "reconstruction_loss",
    "l1_penalty",
    "kl_sparsity_penalty",
    "gaussian_noise",
    "masking_noise",
    "salt_and_pepper",
    "make_corruption",
    "autoencoder_loss",
    "lista_loss",
    "relative_code_error",
    "reconstruction_errors",
    "energy_by_data_direction",
    "filter_roughness",
    "edge_weight",
    "dead_units",
    "copy_test",
    "steps_to_reach",
]

ACTIVATIONS: tuple[str, ...] = ("linear", "relu", "sigmoid", "tanh")
"""Code (and hidden-layer) activations the MLP models accept."""

OUTPUTS: tuple[str, ...] = ("sigmoid", "linear")
"""Output units: ``"sigmoid"`` for inputs in [0, 1] (with cross-entropy), ``"linear"`` for real inputs."""


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------
def _check_input(name: str, x: torch.Tensor, n_features: int) -> None:
    check_tensor(x, name, ndim=2, layout=f"(n_samples, {n_features})")
    if x.shape[1] != n_features:
        raise ValueError(f"{name} must have shape (n_samples, {n_features}), got {tuple(x.shape)}")


def _same_shape(a_name: str, a: torch.Tensor, b_name: str, b: torch.Tensor) -> None:
    check_tensor(a, a_name)
    check_tensor(b, b_name)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"{a_name} and {b_name} must both have shape (n_samples, n_features), "
                         f"got {tuple(a.shape)} and {tuple(b.shape)}")


def _activation(name: str) -> nn.Module:
    return {"linear": nn.Identity(), "relu": nn.ReLU(), "sigmoid": nn.Sigmoid(), "tanh": nn.Tanh()}[name]


# --------------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------------
class _AutoencoderBase(nn.Module):
    """Shared interface: ``encode``, ``decode_raw``, ``decode``, ``forward``; ``output`` says the units."""

    n_features: int
    n_code: int
    output: str

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codes ``h`` ``(n_samples, n_code)`` of ``x`` ``(n_samples, n_features)`` (via ``self.encoder``)."""
        _check_input("x", x, self.n_features)
        return self.encoder(x)

    def decode_raw(self, h: torch.Tensor) -> torch.Tensor:
        """Logits (sigmoid output) or the output (linear), ``(n_samples, n_features)`` (via ``self.decoder``)."""
        _check_input("h", h, self.n_code)
        return self.decoder(h)

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        """Reconstruction ``x_hat`` ``(n_samples, n_features)`` from codes ``h`` ``(n_samples, n_code)``."""
        raw = self.decode_raw(h)
        return torch.sigmoid(raw) if self.output == "sigmoid" else raw

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction ``x_hat`` of ``x``, both ``(n_samples, n_features)``."""
        return self.decode(self.encode(x))

    def forward_raw(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Codes ``h`` and the raw output (logits or linear output) for ``x``; what the losses use."""
        h = self.encode(x)
        return h, self.decode_raw(h)

    @torch.no_grad()
    def reconstruct(self, X: np.ndarray | torch.Tensor, batch_size: int = 1024) -> np.ndarray:
        """Reconstructions of ``X`` ``(n_samples, n_features)`` as a float32 numpy array (eval mode)."""
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        X = torch.as_tensor(np.asarray(X, dtype=np.float32) if not isinstance(X, torch.Tensor) else X)
        out = torch.cat([self(X[i:i + batch_size].to(device, torch.float32)).cpu()
                         for i in range(0, len(X), batch_size)])
        self.train(was_training)
        return out.numpy()


class Autoencoder(_AutoencoderBase):
    """MLP autoencoder ``n_features -> hidden... -> n_code -> ...hidden -> n_features`` (chapters 2, 3).

    Undercomplete when ``n_code < n_features``, overcomplete when larger. ``code_activation`` is
    applied to the code ``h`` (``"linear"`` with no hidden layers and ``output="linear"`` gives the
    linear autoencoder of the PCA section); ``activation`` to the hidden layers; ``output`` is
    ``"sigmoid"`` (inputs in [0, 1], trained with cross-entropy) or ``"linear"`` (real inputs,
    trained with the squared error).
    """

    def __init__(self, n_features: int, n_code: int, hidden: tuple[int, ...] = (), *,
                 activation: str = "relu", code_activation: str = "linear", output: str = "sigmoid") -> None:
        super().__init__()
        self.n_features = check_int(n_features, "n_features", minimum=1)
        self.n_code = check_int(n_code, "n_code", minimum=1)
        hidden = tuple(check_int(h, "hidden", minimum=1) for h in hidden)
        check_choice(activation, "activation", ACTIVATIONS)
        self.code_activation = check_choice(code_activation, "code_activation", ACTIVATIONS)
        self.output = check_choice(output, "output", OUTPUTS)
        sizes = (self.n_features, *hidden, self.n_code)
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers += [nn.Linear(a, b), _activation(activation if i < len(sizes) - 2 else code_activation)]
        self.encoder = nn.Sequential(*layers)
        back = sizes[::-1]
        layers = []
        for i, (a, b) in enumerate(zip(back[:-1], back[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(back) - 2:
                layers.append(_activation(activation))
        self.decoder = nn.Sequential(*layers)

    def encoder_filters(self) -> torch.Tensor:
        """First-layer weights ``(n_units, n_features)``: one filter per row, to draw as images."""
        return self.encoder[0].weight.detach()

    def decoder_basis(self) -> torch.Tensor:
        """Last decoder layer's weights ``(n_features, n_last)``; for a linear AE its columns span the
        subspace of the reconstructions."""
        return self.decoder[-1].weight.detach()


class TiedAutoencoder(_AutoencoderBase):
    """Autoencoder with tied weights: one matrix ``W`` ``(n_code, n_features)`` (chapter 2).

    Encoder :math:`\\mathbf{h} = a(\\eta\\, \\mathbf{x} W^\\top + \\mathbf{b})`, decoder
    :math:`\\widehat{\\mathbf{x}} = \\mathbf{h} W + \\mathbf{c}` (through a sigmoid if
    ``output="sigmoid"``). ``step`` is the fixed scalar :math:`\\eta`. ``code_activation`` may also be
    ``"soft_threshold"``: :math:`a = S_t` with a learned per-unit threshold ``t >= 0`` (initialised to
    ``threshold``) and no bias. With ``W = D``, ``step = 1 / L_D`` and ``t = lam / L_D``, the encoder is
    exactly one ISTA step from ``h = 0`` and the decoder is the dictionary reconstruction ``h @ D``
    (see :meth:`from_dictionary`).
    """

    def __init__(self, n_features: int, n_code: int, *, code_activation: str = "sigmoid",
                 output: str = "sigmoid", step: float = 1.0, threshold: float = 0.0,
                 bias: bool = True) -> None:
        super().__init__()
        self.n_features = check_int(n_features, "n_features", minimum=1)
        self.n_code = check_int(n_code, "n_code", minimum=1)
        self.code_activation = check_choice(code_activation, "code_activation", ACTIVATIONS + ("soft_threshold",))
        self.output = check_choice(output, "output", OUTPUTS)
        self.step = check_number(step, "step", minimum=0, strict=True)
        threshold = check_number(threshold, "threshold", minimum=0)
        bound = 1.0 / math.sqrt(self.n_features)
        self.weight = nn.Parameter(torch.empty(self.n_code, self.n_features).uniform_(-bound, bound))
        soft = self.code_activation == "soft_threshold"
        self.encoder_bias = nn.Parameter(torch.zeros(self.n_code)) if bias and not soft else None
        self.threshold = nn.Parameter(torch.full((self.n_code,), float(threshold))) if soft else None
        self.decoder_bias = nn.Parameter(torch.zeros(self.n_features)) if bias else None
        self._act = None if soft else _activation(code_activation)

    @classmethod
    def from_dictionary(cls, D: np.ndarray | torch.Tensor, lam: float, *, lipschitz: float | None = None,
                        output: str = "linear") -> "TiedAutoencoder":
        """The tied soft-threshold autoencoder whose encoder is one ISTA step from zero for ``D``.

        ``D`` ``(n_atoms, n_features)``; the encoder computes ``soft_threshold(x @ D.T / L, lam / L)``
        and the decoder ``h @ D``, with ``L`` the Lipschitz constant ``||D||_2^2``.
        """
        D = torch.as_tensor(np.asarray(D) if not isinstance(D, torch.Tensor) else D).detach()
        if D.ndim != 2:
            raise ValueError(f"D must have shape (n_atoms, n_features), got {tuple(D.shape)}")
        check_finite(D, "D")
        lam = check_number(lam, "lam", minimum=0)
        if lipschitz is not None:
            lipschitz = check_number(lipschitz, "lipschitz", minimum=0, strict=True)
        if lipschitz is None:
            lipschitz = float(torch.linalg.matrix_norm(D.double(), ord=2)) ** 2
        model = cls(D.shape[1], D.shape[0], code_activation="soft_threshold", output=output,
                    step=1.0 / lipschitz, threshold=lam / lipschitz, bias=False)
        model.to(D.dtype if D.is_floating_point() else torch.float32)
        with torch.no_grad():
            model.weight.copy_(D)
            model.threshold.fill_(lam / lipschitz)  # exact in D's precision
        return model

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codes ``h`` ``(n_samples, n_code)`` of ``x`` ``(n_samples, n_features)``."""
        _check_input("x", x, self.n_features)
        z = self.step * (x @ self.weight.T)
        if self.threshold is not None:
            t = F.relu(self.threshold)  # thresholds stay non-negative while learned
            return torch.sign(z) * F.relu(z.abs() - t)
        if self.encoder_bias is not None:
            z = z + self.encoder_bias
        return self._act(z)

    def decode_raw(self, h: torch.Tensor) -> torch.Tensor:
        """``h @ W (+ c)``: logits (sigmoid output) or the output (linear), ``(n_samples, n_features)``."""
        _check_input("h", h, self.n_code)
        out = h @ self.weight
        return out + self.decoder_bias if self.decoder_bias is not None else out

    def encoder_filters(self) -> torch.Tensor:
        """The tied weights ``W`` ``(n_code, n_features)``: encoder filters and decoder atoms at once."""
        return self.weight.detach()


class ConvAutoencoder(_AutoencoderBase):
    """Small convolutional autoencoder for square single-channel images, flattened (chapter 2).

    Encoder: two stride-2 3x3 convolutions (``channels``) and a linear map to ``n_code``; the
    decoder mirrors it with transposed convolutions. ``side`` must be divisible by 4 (28 for MNIST).
    Inputs and outputs are flattened, ``(n_samples, side * side)``, like the MLP models.
    """

    def __init__(self, side: int = 28, n_code: int = 32, channels: tuple[int, int] = (16, 32), *,
                 code_activation: str = "linear", output: str = "sigmoid") -> None:
        super().__init__()
        side = check_int(side, "side", minimum=1)
        if side % 4:
            raise ValueError(f"side must be divisible by 4, got {side}")
        c1, c2 = (check_int(c, "channels", minimum=1) for c in channels)
        self.side, self.n_features, self.n_code = side, side * side, check_int(n_code, "n_code", minimum=1)
        self.code_activation = check_choice(code_activation, "code_activation", ACTIVATIONS)
        self.output = check_choice(output, "output", OUTPUTS)
        small = side // 4
        self.encoder = nn.Sequential(
            nn.Unflatten(1, (1, side, side)),
            nn.Conv2d(1, c1, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(c2 * small * small, self.n_code), _activation(code_activation))
        self.decoder = nn.Sequential(
            nn.Linear(self.n_code, c2 * small * small), nn.ReLU(), nn.Unflatten(1, (c2, small, small)),
            nn.ConvTranspose2d(c2, c1, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
            nn.ConvTranspose2d(c1, 1, 3, stride=2, padding=1, output_padding=1), nn.Flatten())

    def encoder_filters(self) -> torch.Tensor:
        """First convolution's kernels, ``(channels[0], 9)`` (3x3 each)."""
        return self.encoder[1].weight.detach().flatten(1)


class LISTA(nn.Module):
    """Learned ISTA (Gregor & LeCun 2010): ``n_steps`` unrolled ISTA iterations with learned weights.

    With ``B = x W_e^T`` the recursion is :math:`\\mathbf{h}_1 = S_\\theta(\\mathbf{b})`,
    :math:`\\mathbf{h}_{k+1} = S_\\theta(\\mathbf{b} + \\mathbf{h}_k S^\\top)`, the same ``W_e``
    ``(n_atoms, n_features)``, ``S`` ``(n_atoms, n_atoms)`` and thresholds ``theta`` ``(n_atoms,)`` at
    every step. Initialised from a dictionary ``D`` with ``W_e = D / L``, ``S = I - D D^T / L`` and
    ``theta = lam / L`` it computes exactly ``n_steps`` ISTA iterations from zero; training
    (:func:`lista_loss` against ISTA's converged codes) then makes few steps do the work of many.
    Used by chapter 2.
    """

    def __init__(self, D: np.ndarray | torch.Tensor, lam: float, n_steps: int, *,
                 lipschitz: float | None = None) -> None:
        super().__init__()
        D = torch.as_tensor(np.asarray(D) if not isinstance(D, torch.Tensor) else D).detach().float()
        if D.ndim != 2:
            raise ValueError(f"D must have shape (n_atoms, n_features), got {tuple(D.shape)}")
        check_finite(D, "D")
        lam = check_number(lam, "lam", minimum=0)
        if lipschitz is not None:
            lipschitz = check_number(lipschitz, "lipschitz", minimum=0, strict=True)
        self.n_steps = check_int(n_steps, "n_steps", minimum=1)
        self.n_atoms, self.n_features = D.shape
        if lipschitz is None:
            lipschitz = float(torch.linalg.matrix_norm(D.double(), ord=2)) ** 2
        self.W_e = nn.Parameter(D / lipschitz)
        self.S = nn.Parameter(torch.eye(self.n_atoms, device=D.device, dtype=D.dtype) - D @ D.T / lipschitz)
        self.theta = nn.Parameter(torch.full((self.n_atoms,), lam / lipschitz))

    def forward(self, x: torch.Tensor, n_steps: int | None = None) -> torch.Tensor:
        """Codes ``h`` ``(n_samples, n_atoms)`` after ``n_steps`` (default: the model's) iterations."""
        _check_input("x", x, self.n_features)
        n_steps = self.n_steps if n_steps is None else check_int(n_steps, "n_steps", minimum=1)
        theta = F.relu(self.theta)
        b = x @ self.W_e.T
        h = torch.sign(b) * F.relu(b.abs() - theta)
        for _ in range(n_steps - 1):
            z = b + h @ self.S.T
            h = torch.sign(z) * F.relu(z.abs() - theta)
        return h


# --------------------------------------------------------------------------------------------
# losses
# --------------------------------------------------------------------------------------------
def binary_cross_entropy(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Cross-entropy for inputs in [0, 1] with a sigmoid output, from the logits (slide "Typical losses").

    :math:`-\\sum_k x_k\\log\\widehat{x}_k + (1-x_k)\\log(1-\\widehat{x}_k)` with
    :math:`\\widehat{x}_k = \\sigma(\\text{logits}_k)`, summed over features, averaged over samples.
    Computed as ``softplus(l) - x l``, finite even where the sigmoid rounds to exactly 0 or 1.
    ``logits`` and ``x`` ``(n_samples, n_features)``.
    """
    _same_shape("logits", logits, "x", x)
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1).mean()


def squared_error(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """:math:`\\tfrac12\\sum_k(\\widehat{x}_k - x_k)^2` summed over features, averaged over samples.

    The loss for real-valued inputs with a linear output. ``x_hat`` and ``x`` ``(n_samples, n_features)``.
    """
    _same_shape("x_hat", x_hat, "x", x)
    return 0.5 * (x_hat - x).pow(2).sum(1).mean()


def reconstruction_loss(raw: torch.Tensor, x: torch.Tensor, output: str) -> torch.Tensor:
    """The slide's loss for a model's ``output`` units: cross-entropy (``"sigmoid"``, ``raw`` are
    logits) or the squared error (``"linear"``, ``raw`` is ``x_hat``)."""
    check_choice(output, "output", OUTPUTS)
    return binary_cross_entropy(raw, x) if output == "sigmoid" else squared_error(raw, x)


def l1_penalty(h: torch.Tensor) -> torch.Tensor:
    """:math:`\\lVert\\mathbf{h}\\rVert_1` summed over code units, averaged over samples; ``h`` ``(n, n_code)``."""
    check_tensor(h, "h", ndim=2, layout="(n_samples, n_code)")
    return h.abs().sum(1).mean()


def kl_sparsity_penalty(h: torch.Tensor, rho: float) -> torch.Tensor:
    """Sparsity target: :math:`\\sum_j \\mathrm{KL}(\\rho \\,\\Vert\\, \\hat\\rho_j)` (Bernoulli KL).

    :math:`\\hat\\rho_j` is unit ``j``'s mean activation over the batch; ``h`` ``(n, n_code)`` must be
    in [0, 1] (a sigmoid code); ``rho`` in (0, 1) is the target mean activation.
    """
    rho = check_number(rho, "rho")  # numpy and 0-d tensor scalars too
    if not 0 < rho < 1:
        raise ValueError(f"rho must be a number in (0, 1), got {rho!r}")
    check_tensor(h, "h", ndim=2, layout="(n_samples, n_code)")
    eps = torch.finfo(h.dtype).eps
    rho_hat = h.mean(0).clamp(eps, 1 - eps)
    return (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()


# --------------------------------------------------------------------------------------------
# corruption processes (denoising autoencoders, chapter 3)
# --------------------------------------------------------------------------------------------
def _uniform(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    if generator is None:
        return torch.rand_like(x)
    return torch.rand(x.shape, generator=generator, device=generator.device, dtype=x.dtype).to(x.device)


def _check_probability(name: str, p: float) -> float:
    try:
        return check_number(p, name, minimum=0, maximum=1)
    except ValueError:
        raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}") from None


def gaussian_noise(x: torch.Tensor, sigma: float, *, generator: torch.Generator | None = None,
                   clip: bool = False) -> torch.Tensor:
    """Additive Gaussian corruption :math:`\\widetilde{\\mathbf{x}} = \\mathbf{x} + \\sigma\\boldsymbol{\\epsilon}`.

    ``x`` any shape; ``sigma >= 0``; ``clip=True`` clips the result to [0, 1] (for images).
    ``generator`` (on any device) makes the noise reproducible; otherwise torch's global RNG is used.
    """
    sigma = check_number(sigma, "sigma", minimum=0)
    if generator is None:
        eps = torch.randn_like(x)
    else:
        eps = torch.randn(x.shape, generator=generator, device=generator.device, dtype=x.dtype).to(x.device)
    x_tilde = x + sigma * eps
    return x_tilde.clamp(0, 1) if clip else x_tilde


def masking_noise(x: torch.Tensor, p: float, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Masking corruption: each entry is set to 0 independently with probability ``p`` (Vincent et al. 2008)."""
    p = _check_probability("p", p)
    return torch.where(_uniform(x, generator) < p, torch.zeros_like(x), x)


def salt_and_pepper(x: torch.Tensor, p: float, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Salt-and-pepper corruption: each entry, with probability ``p``, becomes 0 or 1 (each half the time)."""
    p = _check_probability("p", p)
    u = _uniform(x, generator)
    # u < p/2 -> 0 (pepper), p/2 <= u < p -> 1 (salt): one uniform per entry decides both.
    return torch.where(u < p, (u >= p / 2).to(x.dtype), x)


CORRUPTIONS: dict[str, Callable[..., torch.Tensor]] = {
    "gaussian": gaussian_noise, "masking": masking_noise, "salt_and_pepper": salt_and_pepper}


def make_corruption(kind: str, level: float, **kwargs) -> Callable[[torch.Tensor], torch.Tensor]:
    """A corruption ``x -> x_tilde``: ``kind`` in ``gaussian`` (``level`` = sigma), ``masking`` or
    ``salt_and_pepper`` (``level`` = probability). Extra keyword arguments go to the function."""
    check_choice(kind, "kind", tuple(CORRUPTIONS))
    function = CORRUPTIONS[kind]
    if kind == "gaussian":
        gaussian_noise(torch.zeros(1), level)  # validate now, not at the first training step
        return lambda x: function(x, level, **kwargs)
    _check_probability("level", level)
    return lambda x: function(x, level, **kwargs)


# --------------------------------------------------------------------------------------------
# loss functions for lecturelib.training.train
# --------------------------------------------------------------------------------------------
def autoencoder_loss(*, corruption: Callable[[torch.Tensor], torch.Tensor] | None = None, l1: float = 0.0,
                     kl_target: float | None = None, kl_weight: float = 0.0
                     ) -> Callable[[nn.Module, tuple[torch.Tensor, ...]], dict[str, torch.Tensor]]:
    """``loss_fn(model, batch)`` for :func:`lecturelib.training.train` (chapters 2 and 3).

    The batch's first tensor is the clean ``x``. The model sees ``x_tilde = corruption(x)`` (or ``x``)
    and the loss compares its reconstruction with the **clean** ``x``, using the slide's loss for the
    model's ``output`` units. Optional penalties: ``l1 * ||h||_1`` and
    ``kl_weight * sum_j KL(kl_target || mean h_j)``. Returns ``loss``, ``reconstruction`` and, when
    a penalty is on, ``sparsity``.
    """
    l1 = check_number(l1, "l1", minimum=0)
    kl_weight = check_number(kl_weight, "kl_weight", minimum=0)
    if corruption is not None and not callable(corruption):
        raise ValueError(f"corruption must be a function x -> x_tilde or None, got {type(corruption).__name__}")
    if kl_weight > 0 and kl_target is None:
        raise ValueError("kl_weight > 0 needs kl_target, the target mean activation in (0, 1)")
    if kl_target is not None:
        kl_target = check_number(kl_target, "kl_target")
        if not 0 < kl_target < 1:
            raise ValueError(f"kl_target must be in (0, 1), got {kl_target!r}")

    def loss_fn(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        x = batch[0]
        x_tilde = corruption(x) if corruption is not None else x
        h, raw = model.forward_raw(x_tilde)
        reconstruction = reconstruction_loss(raw, x, model.output)
        out = {"loss": reconstruction, "reconstruction": reconstruction}
        if l1 > 0 or kl_weight > 0:
            sparsity = h.new_zeros(())
            if l1 > 0:
                sparsity = sparsity + l1 * l1_penalty(h)
            if kl_weight > 0:
                sparsity = sparsity + kl_weight * kl_sparsity_penalty(h, kl_target)
            out["loss"] = reconstruction + sparsity
            out["sparsity"] = sparsity
        return out

    return loss_fn


def lista_loss(model: LISTA, batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
    """``loss_fn`` for training :class:`LISTA`: batch ``(x, h_star)``, loss ``0.5 ||h - h_star||^2``
    summed over atoms and averaged over samples (Gregor & LeCun 2010)."""
    x, h_star = batch
    return {"loss": squared_error(model(x), h_star)}


def relative_code_error(H: np.ndarray | torch.Tensor, H_star: np.ndarray | torch.Tensor) -> float:
    """:math:`\\sum\\lVert H - H^*\\rVert^2 / \\sum\\lVert H^*\\rVert^2` over all samples; both ``(n, n_atoms)``."""
    H = torch.as_tensor(np.asarray(H) if not isinstance(H, torch.Tensor) else H).double().cpu()
    H_star = torch.as_tensor(np.asarray(H_star) if not isinstance(H_star, torch.Tensor) else H_star).double().cpu()
    if H.shape != H_star.shape:
        raise ValueError(f"H and H_star must have the same shape, got {tuple(H.shape)} and {tuple(H_star.shape)}")
    denominator = float(H_star.pow(2).sum())
    if denominator == 0:
        raise ValueError("H_star is all zeros: the relative error is undefined")
    return float((H - H_star).pow(2).sum()) / denominator


def reconstruction_errors(model: _AutoencoderBase, X: np.ndarray | torch.Tensor) -> np.ndarray:
    """Per-sample squared error ``sum_k (x_hat_k - x_k)^2`` ``(n_samples,)`` of ``model`` on ``X``.

    The same measure for every model and input, whatever loss trained it, so that digits and
    off-distribution inputs can be compared (chapter 2's identity table, chapter 3's denoising).
    """
    X_np = np.asarray(X.detach().cpu() if isinstance(X, torch.Tensor) else X, dtype=np.float32)
    if X_np.ndim != 2 or X_np.shape[1] != model.n_features:
        raise ValueError(f"X must have shape (n_samples, {model.n_features}), got {X_np.shape}")
    return ((model.reconstruct(X_np) - X_np) ** 2).sum(1)


def energy_by_data_direction(data: np.ndarray, probes: np.ndarray, faint: float = 0.01) -> dict[str, object]:
    """How the energy of ``probes`` splits over the principal directions of ``data`` (not centred).

    With ``data = U S V^T`` ``(n, d)``, the right singular vectors ``V`` split the input space into
    directions the data *use* (singular value at least ``faint`` times the largest), *faint* ones
    (below it) and, among the faint ones, directions the data *never* vary in (below ``1e-6`` times
    the largest). Returns ``{"used", "faint", "never"}``, each the mean over the probes ``(m, d)`` of
    the share of a probe's squared norm along that set (``used + faint = 1``), and
    ``"faint_directions"`` and ``"used_directions"``: the faint and the used right singular vectors
    as columns, ``(d, n_faint)`` and ``(d, d - n_faint)``.
    """
    data = np.asarray(data, dtype=np.float64)
    probes = np.asarray(probes, dtype=np.float64)
    if data.ndim != 2 or probes.ndim != 2 or data.shape[1] != probes.shape[1]:
        raise ValueError(f"data (n, d) and probes (m, d) must be 2-D with the same d, got {data.shape} and {probes.shape}")
    check_finite(data, "data")
    check_finite(probes, "probes")
    faint = check_number(faint, "faint")
    if not 0 < faint < 1:
        raise ValueError(f"faint must be in (0, 1), got {faint!r}")
    norms = (probes ** 2).sum(1)
    if not np.all(norms > 0):
        raise ValueError("every probe must have a non-zero norm")
    squared_singular, V = np.linalg.eigh(data.T @ data)  # data^T data = V S^2 V^T
    singular = np.sqrt(np.clip(squared_singular, 0, None))
    is_faint = singular < faint * singular.max()
    never = singular < 1e-6 * singular.max()
    energy = (probes @ V) ** 2 / norms[:, None]  # each probe's share along each direction; rows sum to 1
    return {"used": float(energy[:, ~is_faint].sum(1).mean()), "faint": float(energy[:, is_faint].sum(1).mean()),
            "never": float(energy[:, never].sum(1).mean()), "faint_directions": V[:, is_faint],
            "used_directions": V[:, ~is_faint]}


def filter_roughness(W: np.ndarray | torch.Tensor, image_shape: tuple[int, int]) -> np.ndarray:
    """Roughness ``||grad w||^2 / ||w||^2`` of each filter, one per row of ``W`` ``(n_filters, h * w)``.

    The filter is seen as an image of ``image_shape``; ``||grad w||^2`` sums its squared differences
    between horizontal and vertical neighbours. White noise scores ``2 (2 - 1/h - 1/w)`` in
    expectation (about 3.9 for 28x28), a constant image 0. Chapter 3 compares the filters of a
    plain and a denoising autoencoder with it. Returns ``(n_filters,)``.
    """
    W = np.asarray(W.detach().cpu() if isinstance(W, torch.Tensor) else W, dtype=np.float64)
    if (not isinstance(image_shape, tuple) or len(image_shape) != 2
            or not all(isinstance(n, (int, np.integer)) and n >= 2 for n in image_shape)):
        raise ValueError(f"image_shape must be a pair of ints (height, width), each at least 2, got {image_shape!r}")
    height, width = image_shape
    if W.ndim != 2 or W.shape[1] != height * width:
        raise ValueError(f"W must have shape (n_filters, {height * width}) for image_shape {image_shape}, got {W.shape}")
    check_finite(W, "W")
    images = W.reshape(-1, height, width)
    energy = (images ** 2).sum((1, 2))
    if not np.all(energy > 0):
        raise ValueError("W must not have an all-zero filter (its roughness is undefined)")
    gradient_energy = (np.diff(images, axis=2) ** 2).sum((1, 2)) + (np.diff(images, axis=1) ** 2).sum((1, 2))
    return gradient_energy / energy


def edge_weight(directions: np.ndarray, width: int) -> np.ndarray:
    """Share of each direction's squared norm on the pixels within ``width`` of the image's edge.

    ``directions`` ``(d, m)`` holds ``m`` directions as columns over the ``d = side * side`` pixels of
    a square image (row-major). Returns ``(m,)`` shares in [0, 1]. A direction spread evenly over
    the pixels, ``np.ones((d, 1))``, gives the fraction of pixels near the edge: the reference that
    "mostly near the edge" is measured against (chapter 2).
    """
    directions = np.asarray(directions, dtype=np.float64)
    if directions.ndim != 2:
        raise ValueError(f"directions must have shape (n_pixels, n_directions), got {directions.shape}")
    side = math.isqrt(directions.shape[0])
    if side * side != directions.shape[0]:
        raise ValueError(f"directions must have a square number of rows (pixels), got {directions.shape[0]}")
    width = check_int(width, "width", minimum=1)
    norms = (directions ** 2).sum(0)
    if not np.all(norms > 0):
        raise ValueError("every direction must have a non-zero norm")
    row, col = np.divmod(np.arange(side * side), side)
    to_edge = np.minimum.reduce([row, col, side - 1 - row, side - 1 - col])
    return (directions[to_edge < width] ** 2).sum(0) / norms


def dead_units(codes: np.ndarray) -> np.ndarray:
    """Indices of the code units that are exactly zero on every sample of ``codes`` ``(n_samples, n_code)``.

    A ReLU unit whose pre-activation is negative on all the data outputs zero and gets no gradient,
    so once dead it stays dead (chapter 2).
    """
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[0] == 0:
        raise ValueError(f"codes must have shape (n_samples, n_code) with n_samples >= 1, got {codes.shape}")
    return np.flatnonzero((codes == 0).all(0))


def copy_test(reconstruct: Callable[[np.ndarray], np.ndarray], digits: np.ndarray, letters: np.ndarray, *,
              level: float = 0.95, n_boot: int = 2000, random_state: int = 0) -> dict[str, float]:
    """Does a model reconstruct inputs it never saw (letters) as well as those it was trained on (digits)?

    ``reconstruct`` maps images ``(n, d)`` to reconstructions ``(n, d)``. The relative error of an image is
    ``||x_hat - x||^2 / ||x||^2``. Returns the mean relative errors ``"digits"`` and ``"letters"``, their
    ``"ratio"`` (letters / digits), and a bootstrap interval ``"ratio_low"``, ``"ratio_high"`` at ``level``
    (digits and letters resampled independently, ``n_boot`` times): a model that has learned the identity
    has a ratio near 1 or below, one that has learned digits a ratio above 1 (chapters 2 and 4).
    """
    check_number(level, "level", minimum=0, maximum=1, strict=True)
    n_boot = check_int(n_boot, "n_boot", minimum=1)
    errors = {}
    for name, X in (("digits", digits), ("letters", letters)):
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or len(X) < 2:
            raise ValueError(f"{name} must have shape (n_samples, n_features) with n_samples >= 2, got {X.shape}")
        energy = (X.astype(np.float64) ** 2).sum(1)
        if not np.all(energy > 0):
            raise ValueError(f"every image in {name} must have a non-zero norm")
        errors[name] = ((np.asarray(reconstruct(X), dtype=np.float64) - X) ** 2).sum(1) / energy
    rng = np.random.default_rng(random_state)
    boot = [errors["letters"][rng.integers(0, len(errors["letters"]), (n_boot, len(errors["letters"])))].mean(1),
            errors["digits"][rng.integers(0, len(errors["digits"]), (n_boot, len(errors["digits"])))].mean(1)]
    low, high = np.quantile(boot[0] / boot[1], [(1 - level) / 2, (1 + level) / 2])
    digits_mean, letters_mean = float(errors["digits"].mean()), float(errors["letters"].mean())
    return {"digits": digits_mean, "letters": letters_mean, "ratio": letters_mean / digits_mean,
            "ratio_low": float(low), "ratio_high": float(high)}


def steps_to_reach(ks: np.ndarray, errors: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Steps an iterative method needs to reach each of ``targets``, read off its error curve.

    ``errors[i]`` is the error after ``ks[i]`` steps (``ks`` increasing, ``errors`` decreasing, both
    positive); the curve is interpolated linearly in log-log coordinates, where ISTA's is nearly
    straight. A target above ``errors[0]`` needs ``ks[0]`` steps or fewer and gets ``ks[0]``; one
    below ``errors[-1]`` is not reached within ``ks[-1]`` steps and gets ``inf`` (chapter 2: the ISTA
    steps that match a LISTA network's error).
    """
    ks, errors = np.asarray(ks, dtype=np.float64), np.asarray(errors, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if ks.ndim != 1 or ks.shape != errors.shape or len(ks) < 2:
        raise ValueError(f"ks and errors must be 1-D of one length >= 2, got {ks.shape} and {errors.shape}")
    if not (np.all(ks > 0) and np.all(np.diff(ks) > 0)):
        raise ValueError("ks must be positive and increasing")
    if not (np.all(errors > 0) and np.all(np.diff(errors) < 0)):
        raise ValueError("errors must be positive and decreasing")
    if not np.all(targets > 0):
        raise ValueError("targets must be positive")
    steps = np.exp(np.interp(np.log(targets), np.log(errors[::-1]), np.log(ks[::-1])))
    return np.where(targets < errors[-1], np.inf, steps)
