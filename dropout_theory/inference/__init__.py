"""Inference with dropout networks: exact ensembles over all masks, and weight scaling.

* :func:`exact_ensemble` -- arithmetic, geometric and normalised geometric means over all
  :math:`2^d` subnetworks, exactly (float64, chunked);
* :func:`weight_scaled` -- the deterministic network that the weight-scaling rule uses.
"""

from dropout_theory.inference.ensemble import (
    DEFAULT_MAX_MASKS,
    EnsembleResult,
    EnsembleTooLarge,
    enumerated_units,
    exact_ensemble,
    per_mask_loop,
    subnetwork_outputs,
    weighted_means,
)
from dropout_theory.inference.weight_scaling import weight_scaled

__all__ = [
    "DEFAULT_MAX_MASKS",
    "EnsembleResult",
    "EnsembleTooLarge",
    "enumerated_units",
    "exact_ensemble",
    "per_mask_loop",
    "subnetwork_outputs",
    "weight_scaled",
    "weighted_means",
]
