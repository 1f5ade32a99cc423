r"""The weight-scaling inference rule as an explicit deterministic network.

Training with dropout samples subnetworks; the weight-scaling rule (Srivastava et al.
2014, §4; Hinton et al. 2012) predicts with one deterministic network instead:

* **non-inverted** dropout (``dropout_theory.nn.Dropout(p, inverted=False)``; training
  computes :math:`W(m \odot h)`): the outgoing weights are multiplied by the keep
  probability, :math:`W \to qW`, and the dropout layer is removed;
* **inverted** dropout (``torch.nn.Dropout``, ``dropout_theory.nn.Dropout(p)``; training
  computes :math:`W(m \odot h)/q`): the :math:`1/q` was already applied during training,
  so the weight-scaled network *is* the network in evaluation mode -- the layer becomes the
  identity and no weight changes.

Either way the result replaces every unit by its expected value *before* the next
nonlinearity. It is the exact ensemble average only in special cases (a single logistic or
softmax layer, where it gives the normalised geometric mean; deep linear networks with
independent masks); see the chapter *The ensemble of subnetworks*.
"""

from __future__ import annotations

import copy

from torch import nn

from dropout_theory.inference.masking import is_dropout, is_inverted

# Modules whose output is linear in their input: scaling the input by q = scaling the weight.
LINEAR_AFTER_DROPOUT = (nn.Linear, nn.Bilinear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
# Inverted torch variants whose evaluation rule is the identity (they drop channels, same scaling).
INVERTED_CHANNEL_DROPOUT = (nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)


def _describe(path: str) -> str:
    return repr(path) if path else "the model itself"


def weight_scaled(model: nn.Module) -> nn.Module:
    r"""A deterministic copy of ``model`` that applies the weight-scaling rule.

    For a non-inverted dropout layer with keep probability :math:`q = 1-p`, followed in
    an ``nn.Sequential`` by a linear module with weight :math:`W` (``Linear``, ``ConvNd``),
    the copy drops the dropout layer and uses :math:`qW` (the bias is unchanged):

    .. math:: \mathbb{E}_m\big[W (m \odot h)\big] + b = (qW) h + b.

    Inverted dropout layers are replaced by the identity (their :math:`1/q` was applied in
    training). The result is in evaluation mode; ``model`` is not modified.

    Args:
        model: a network with ``dropout_theory.nn.Dropout`` or ``torch.nn.Dropout``
            (or ``Dropout1d/2d/3d``) modules.

    Returns:
        The weight-scaled copy (same parameters otherwise, same devices and dtypes).

    Raises:
        ValueError: a non-inverted dropout layer is not followed, in an ``nn.Sequential``,
            by a module whose weights can be scaled (``Linear``, ``Bilinear``, ``ConvNd``);
            the message names the layer. For ``Bilinear`` the scaled weight assumes the
            dropout feeds its first input only.
        TypeError: a dropout-like module this function does not know (e.g. alpha dropout,
            whose inference rule is not a rescaling).

    Example:
        >>> import torch
        >>> from dropout_theory.nn import Dropout
        >>> net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), Dropout(0.2, inverted=False), nn.Linear(4, 2))
        >>> scaled = weight_scaled(net)
        >>> torch.allclose(scaled[3].weight, 0.8 * net[3].weight)
        True
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    scaled = copy.deepcopy(model)
    if _is_known_dropout(scaled):
        if not is_inverted(scaled) and scaled.p != 0.0:
            raise ValueError("the model itself is a non-inverted dropout layer: there are no outgoing weights to scale")
        return nn.Identity()
    pending = [("", scaled)]
    while pending:
        path, parent = pending.pop()
        children = list(parent.named_children())
        for position, (name, child) in enumerate(children):
            child_path = f"{path}.{name}" if path else name
            if not _is_known_dropout(child):
                if "dropout" in type(child).__name__.lower() and not list(child.children()):
                    raise TypeError(
                        f"weight_scaled: {child_path!r} is a {type(child).__name__}; only Bernoulli dropout "
                        f"(dropout_theory.nn.Dropout, torch.nn.Dropout, Dropout1d/2d/3d) has a weight-scaling rule here"
                    )
                pending.append((child_path, child))
                continue
            if not is_inverted(child) and child.p != 0.0:
                following = children[position + 1][1] if position + 1 < len(children) else None
                if not isinstance(parent, nn.Sequential) or not isinstance(following, LINEAR_AFTER_DROPOUT):
                    where = "the end of its container" if following is None else f"a {type(following).__name__}"
                    raise ValueError(
                        f"weight_scaled: non-inverted dropout {child_path!r} is followed by {where} inside a "
                        f"{type(parent).__name__}; its outgoing weights must be the next module of an nn.Sequential "
                        f"(one of {', '.join(t.__name__ for t in LINEAR_AFTER_DROPOUT)}) to be scaled by q"
                    )
                following.weight.data.mul_(1.0 - child.p)
            setattr(parent, name, nn.Identity())
    return scaled.eval()


def _is_known_dropout(module: nn.Module) -> bool:
    return is_dropout(module) or type(module) in INVERTED_CHANNEL_DROPOUT
