"""``torch.nn`` modules over :mod:`dropout_theory.functional`: ``p`` first, train/eval as in torch."""

from dropout_theory.nn.bernoulli import Dropout
from dropout_theory.nn.blocks import DropBlock2d, DropPath
from dropout_theory.nn.channel import ChannelDropout, ChannelDropout1d, ChannelDropout2d, ChannelDropout3d
from dropout_theory.nn.concrete import ConcreteDropout
from dropout_theory.nn.dropconnect import DropConnectLinear
from dropout_theory.nn.gaussian import AlphaDropout, GaussianDropout
from dropout_theory.nn.recurrent import LockedDropout, LSTMMasks, VariationalLSTM

__all__ = [
    "AlphaDropout",
    "ChannelDropout",
    "ChannelDropout1d",
    "ChannelDropout2d",
    "ChannelDropout3d",
    "ConcreteDropout",
    "DropBlock2d",
    "DropConnectLinear",
    "DropPath",
    "Dropout",
    "GaussianDropout",
    "LSTMMasks",
    "LockedDropout",
    "VariationalLSTM",
]
