"""dropout_theory: an executable book about dropout, with a PyTorch reference implementation.

Subpackages and modules:

* :mod:`dropout_theory.functional` -- pure tensor ops (masks, dropout and its variants);
* :mod:`dropout_theory.nn` -- ``torch.nn`` modules over the functional ops;
* :mod:`dropout_theory.regularisation` -- the penalties dropout adds (linear unit, GLMs,
  least squares) and gradient descent with sampled masks;
* :mod:`dropout_theory.inference` -- exact ensembles over all masks, weight scaling, MC dropout;
* :mod:`dropout_theory.claims` -- the book's claims, their checks and :func:`verify`;
* :mod:`dropout_theory.montecarlo`, :mod:`dropout_theory.symbolic`,
  :mod:`dropout_theory.enumeration` -- the three kinds of evidence.
"""

from dropout_theory import functional, inference, nn, regularisation
from dropout_theory.claims import REGISTRY, Claim, Evidence, verify
from dropout_theory.devices import default_device, seeded_generator

__version__ = "0.1.0"

__all__ = [
    "REGISTRY",
    "Claim",
    "Evidence",
    "default_device",
    "functional",
    "inference",
    "nn",
    "regularisation",
    "seeded_generator",
    "verify",
]
