"""Minibatch SGD with momentum, a learning-rate schedule, weight decay and the max-norm constraint.

:func:`train` returns a :class:`History` of per-epoch losses and errors on the training and
test sets, both measured in evaluation mode (the deterministic network), so the curves of a
network trained with and without dropout are comparable.
"""

from __future__ import annotations

from contextlib import contextmanager
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from tqdm import tqdm

from dropout_theory.data import DataSplit
from dropout_theory.training.models import apply_max_norm_
from dropout_theory.validation import check_positive_int


@dataclass(frozen=True)
class TrainConfig:
    r"""Optimisation settings.

    The learning rate of epoch :math:`t` (from 0) is :math:`\eta_t = \eta_0 \gamma^t`
    (``lr_decay`` = :math:`\gamma`). The momentum rises linearly from ``momentum`` to
    ``final_momentum`` over ``momentum_epochs`` epochs (Srivastava et al. 2014, App. A.1),
    then stays there.

    Attributes:
        epochs: passes over the training set.
        batch_size: examples per step.
        lr: initial learning rate :math:`\eta_0`.
        lr_decay: per-epoch factor :math:`\gamma` (1 = constant).
        momentum: initial momentum.
        final_momentum: momentum after the ramp (``None``: no ramp).
        momentum_epochs: length of the ramp.
        weight_decay: L2 coefficient :math:`\lambda` (gradient :math:`+\lambda w` on weights and biases).
        max_norm: radius :math:`c` of the max-norm constraint (``None``: unconstrained).
    """

    epochs: int = 20
    batch_size: int = 100
    lr: float = 0.05
    lr_decay: float = 1.0
    momentum: float = 0.9
    final_momentum: float | None = None
    momentum_epochs: int = 1
    weight_decay: float = 0.0
    max_norm: float | None = None

    def __post_init__(self) -> None:
        check_positive_int("epochs", self.epochs)
        check_positive_int("batch_size", self.batch_size)
        check_positive_int("momentum_epochs", self.momentum_epochs)
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not 0 < self.lr_decay <= 1:
            raise ValueError(f"lr_decay must be in (0, 1], got {self.lr_decay}")
        for name in ("momentum", "final_momentum"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < 1:
                raise ValueError(f"{name} must be in [0, 1), got {value}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.max_norm is not None and not self.max_norm > 0:
            raise ValueError(f"max_norm must be > 0 or None, got {self.max_norm}")

    def learning_rate(self, epoch: int) -> float:
        return self.lr * self.lr_decay**epoch

    def momentum_at(self, epoch: int) -> float:
        if self.final_momentum is None:
            return self.momentum
        ramp = min(epoch / self.momentum_epochs, 1.0)
        return self.momentum + ramp * (self.final_momentum - self.momentum)


@dataclass
class History:
    """Measurements at the recorded epochs (``epoch``, counted from 1); every list has one entry per record."""

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_error: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_error: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[float]]:
        return asdict(self)


@contextmanager
def evaluation_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode and restore each submodule's own mode afterwards, also on error."""
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        yield model
    finally:
        for module, mode in modes.items():
            module.training = mode


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 2000) -> tuple[float, float]:
    """Mean cross-entropy and error rate of the deterministic (evaluation-mode) network."""
    loss, wrong = 0.0, 0
    with evaluation_mode(model):
        for start in range(0, len(x), batch_size):
            logits = model(x[start : start + batch_size])
            target = y[start : start + batch_size]
            loss += nn.functional.cross_entropy(logits, target, reduction="sum").item()
            wrong += int((logits.argmax(1) != target).sum())
    return loss / len(x), wrong / len(x)


def train(
    model: nn.Module,
    data: DataSplit,
    config: TrainConfig,
    *,
    order_generator: torch.Generator,
    progress: bool = False,
    description: str = "train",
    record_every: int | None = 1,
) -> History:
    """Train ``model`` in place on ``data`` (already on the model's device); return the history.

    Args:
        model: the network (its noise layers hold their own generator).
        data: training and test tensors on the model's device.
        config: optimisation settings.
        order_generator: CPU generator for the minibatch order, so a seed gives the same
            order on every device.
        progress: show a tqdm bar over epochs.
        description: the bar's label.
        record_every: measure losses and errors every this many epochs (and always after
            the last); ``None`` measures only after the last epoch.
    """
    if record_every is not None:
        check_positive_int("record_every", record_every)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    history = History()
    n = len(data.x_train)
    bar = tqdm(range(config.epochs), desc=description, disable=not progress, leave=False)
    for epoch in bar:
        for group in optimizer.param_groups:
            group["lr"] = config.learning_rate(epoch)
            group["momentum"] = config.momentum_at(epoch)
        model.train()
        order = torch.randperm(n, generator=order_generator).to(data.x_train.device)
        for start in range(0, n, config.batch_size):
            batch = order[start : start + config.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(model(data.x_train[batch]), data.y_train[batch])
            if not torch.isfinite(loss):
                raise FloatingPointError(f"training diverged at epoch {epoch}: loss {loss.item()} (lr {config.learning_rate(epoch)})")
            loss.backward()
            optimizer.step()
            if config.max_norm is not None:
                apply_max_norm_(model, config.max_norm)
        last = epoch == config.epochs - 1
        if not last and (record_every is None or (epoch + 1) % record_every):
            continue
        train_loss, train_error = evaluate(model, data.x_train, data.y_train)
        test_loss, test_error = evaluate(model, data.x_test, data.y_test)
        history.epoch.append(epoch + 1)
        history.train_loss.append(train_loss)
        history.train_error.append(train_error)
        history.test_loss.append(test_loss)
        history.test_error.append(test_error)
        history.lr.append(config.learning_rate(epoch))
        bar.set_postfix(test_error=f"{test_error:.4f}")
    model.train()
    return history
