"""Pure tensor ops: masks, dropout and its variants.

Every op takes ``p`` as the *drop* probability (as torch and Keras do), a ``training``
flag, and an explicit ``generator``; none mutates its input unless ``inplace=True``.
"""

from dropout_theory.functional.alpha import alpha_dropout, alpha_dropout_affine, apply_alpha_dropout_mask
from dropout_theory.functional.bernoulli import apply_dropout_mask, dropout, dropout_scale
from dropout_theory.functional.channel import apply_channel_mask, channel_dropout
from dropout_theory.functional.concrete import concrete_drop_mask, concrete_dropout
from dropout_theory.functional.dropblock import (
    drop_block2d,
    drop_block_drop_fraction,
    drop_block_gamma,
    drop_block_mask,
)
from dropout_theory.functional.dropconnect import (
    apply_dropconnect_mask,
    dropconnect_linear,
    dropconnect_moment_matching,
    dropconnect_moments,
)
from dropout_theory.functional.droppath import drop_path, linear_decay_survival
from dropout_theory.functional.fast import (
    dropped_sum_moments,
    fast_dropout_logistic,
    gaussian_sigmoid_mean,
    probit_sigmoid_mean,
)
from dropout_theory.functional.gaussian import gaussian_dropout, standard_normal
from dropout_theory.functional.local_reparameterisation import (
    gaussian_dropout_linear,
    local_reparameterised_linear,
    weight_sampled_linear,
)
from dropout_theory.functional.locked import locked_dropout
from dropout_theory.functional.masks import bernoulli_mask, keep_mask, uniform

__all__ = [
    "alpha_dropout",
    "alpha_dropout_affine",
    "apply_alpha_dropout_mask",
    "apply_channel_mask",
    "apply_dropconnect_mask",
    "apply_dropout_mask",
    "bernoulli_mask",
    "channel_dropout",
    "concrete_drop_mask",
    "concrete_dropout",
    "drop_block2d",
    "drop_block_drop_fraction",
    "drop_block_gamma",
    "drop_block_mask",
    "drop_path",
    "dropconnect_linear",
    "dropconnect_moment_matching",
    "dropconnect_moments",
    "dropout",
    "dropout_scale",
    "dropped_sum_moments",
    "fast_dropout_logistic",
    "gaussian_dropout",
    "gaussian_dropout_linear",
    "gaussian_sigmoid_mean",
    "keep_mask",
    "linear_decay_survival",
    "local_reparameterised_linear",
    "locked_dropout",
    "probit_sigmoid_mean",
    "standard_normal",
    "uniform",
    "weight_sampled_linear",
]
