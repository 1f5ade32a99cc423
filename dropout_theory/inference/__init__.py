"""Inference with dropout networks: exact ensembles, weight scaling, Monte Carlo dropout.

* :func:`exact_ensemble` -- arithmetic, geometric and normalised geometric means over all
  :math:`2^d` subnetworks, exactly (float64, chunked);
* :func:`weight_scaled` -- the deterministic network that the weight-scaling rule uses;
* :func:`mc_predict` -- predictive mean and variance from T stochastic passes, batched;
* :func:`mc_log_likelihood` -- the test log-likelihood of those samples (Gal & Ghahramani, eq. 8);
* :func:`dropout_sampling` -- a context in which exactly the dropout modules sample masks.
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
from dropout_theory.inference.mc import MCPrediction, mc_log_likelihood, mc_predict
from dropout_theory.inference.stochastic import dropout_modules, dropout_sampling, is_dropout_module
from dropout_theory.inference.weight_scaling import weight_scaled

__all__ = [
    "DEFAULT_MAX_MASKS",
    "EnsembleResult",
    "EnsembleTooLarge",
    "MCPrediction",
    "dropout_modules",
    "dropout_sampling",
    "enumerated_units",
    "exact_ensemble",
    "is_dropout_module",
    "mc_log_likelihood",
    "mc_predict",
    "per_mask_loop",
    "subnetwork_outputs",
    "weight_scaled",
    "weighted_means",
]
