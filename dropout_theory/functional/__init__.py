"""Pure tensor ops: masks, dropout and its variants.

Every op takes ``p`` as the *drop* probability (as torch and Keras do), a ``training``
flag, and an explicit ``generator``; none mutates its input unless ``inplace=True``.
"""

from dropout_theory.functional.bernoulli import apply_dropout_mask, dropout, dropout_scale
from dropout_theory.functional.concrete import concrete_dropout, concrete_drop_mask
from dropout_theory.functional.dropblock import (
    drop_block2d,
    drop_block_drop_fraction,
    drop_block_gamma,
    drop_block_mask,
)
from dropout_theory.functional.droppath import drop_path, linear_decay_survival
from dropout_theory.functional.locked import locked_dropout
from dropout_theory.functional.masks import bernoulli_mask, uniform

__all__ = [
    "apply_dropout_mask",
    "bernoulli_mask",
    "concrete_drop_mask",
    "concrete_dropout",
    "drop_block2d",
    "drop_block_drop_fraction",
    "drop_block_gamma",
    "drop_block_mask",
    "drop_path",
    "dropout",
    "dropout_scale",
    "linear_decay_survival",
    "locked_dropout",
    "uniform",
]
