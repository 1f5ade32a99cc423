"""``torch.nn`` modules over :mod:`dropout_theory.functional`: ``p`` first, train/eval as in torch."""

from dropout_theory.nn.bernoulli import Dropout
from dropout_theory.nn.blocks import DropBlock2d, DropPath
from dropout_theory.nn.concrete import ConcreteDropout
from dropout_theory.nn.recurrent import LockedDropout, LSTMMasks, VariationalLSTM

__all__ = ["ConcreteDropout", "DropBlock2d", "DropPath", "Dropout", "LSTMMasks", "LockedDropout", "VariationalLSTM"]
