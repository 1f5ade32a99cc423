"""Pure tensor ops: masks, dropout and its variants.

Every op takes ``p`` as the *drop* probability (as torch and Keras do), a ``training``
flag, and an explicit ``generator``; none mutates its input unless ``inplace=True``.
"""

from dropout_theory.functional.bernoulli import apply_dropout_mask, dropout, dropout_scale
from dropout_theory.functional.masks import bernoulli_mask, keep_mask, uniform

__all__ = ["apply_dropout_mask", "bernoulli_mask", "dropout", "dropout_scale", "keep_mask", "uniform"]
