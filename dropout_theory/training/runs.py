"""One seeded training run from a declarative spec: what the experiments repeat over seeds and settings."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from dropout_theory.data import DataSplit
from dropout_theory.devices import seeded_generator
from dropout_theory.training.loop import History, TrainConfig, train
from dropout_theory.training.models import build_mlp


@dataclass(frozen=True)
class RunSpec:
    """Architecture, noise and optimisation of one network.

    Attributes:
        hidden: widths of the hidden layers.
        variant: the kind of noise (see :func:`~dropout_theory.training.variants.variants`).
        p_hidden, p_input: drop probabilities.
        train: optimisation settings.
    """

    hidden: tuple[int, ...] = (256, 256)
    variant: str = "bernoulli"
    p_hidden: float = 0.5
    p_input: float = 0.2
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return asdict(self)


# Distinct streams per seed: the same seed gives the same initial weights and minibatch order
# to every configuration with the same architecture, so configurations can be compared pairwise.
_INIT, _ORDER, _NOISE = 0, 1, 2


def _stream(seed: int, stream: int, device: torch.device | str = "cpu") -> torch.Generator:
    return seeded_generator(10_007 * seed + stream, device)


def run_training(
    spec: RunSpec, data: DataSplit, seed: int, *, device: torch.device | str = "cpu", progress: bool = False, description: str = "train",
    record_every: int | None = None,
) -> tuple[nn.Module, History, torch.Generator]:
    """Build the network of ``spec`` for ``seed``, train it on ``data``; return model, history, noise generator.

    ``data`` may live anywhere; it is moved to ``device``. The initial weights and the
    minibatch order come from CPU generators (identical on every device); the masks from a
    generator on ``device``. ``record_every`` as in :func:`~dropout_theory.training.loop.train`
    (default: measure only the trained network).
    """
    device = torch.device(device)
    noise = _stream(seed, _NOISE, device)
    model = build_mlp(
        [data.num_features, *spec.hidden, data.num_classes],
        variant=spec.variant,
        p_hidden=spec.p_hidden,
        p_input=spec.p_input,
        init_generator=_stream(seed, _INIT),
        noise_generator=noise,
    ).to(device)
    history = train(model, data.to(device), spec.train, order_generator=_stream(seed, _ORDER), progress=progress, description=description, record_every=record_every)
    return model, history, noise
