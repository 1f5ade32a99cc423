"""``torch.nn`` modules over :mod:`dropout_theory.functional`: ``p`` first, train/eval as in torch."""

from dropout_theory.nn.bernoulli import Dropout

__all__ = ["Dropout"]
