"""Inference with a dropout network: Monte Carlo dropout (and the exact mask ensemble).

* :func:`mc_predict` -- predictive mean and variance from T stochastic passes, batched;
* :func:`mc_log_likelihood` -- the test log-likelihood of those samples (Gal & Ghahramani, eq. 8);
* :func:`dropout_sampling` -- a context in which exactly the dropout modules sample masks.
"""

from dropout_theory.inference.mc import MCPrediction, mc_log_likelihood, mc_predict
from dropout_theory.inference.stochastic import dropout_modules, dropout_sampling, is_dropout_module

__all__ = ["MCPrediction", "dropout_modules", "dropout_sampling", "is_dropout_module", "mc_log_likelihood", "mc_predict"]
