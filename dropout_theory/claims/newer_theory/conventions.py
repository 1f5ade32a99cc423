"""The keep-probability symbol, dtype and exact-evidence tolerance shared by the newer-theory claims.

``p`` is the drop probability and ``q = 1 - p`` the keep probability; ``lam = p/(1-p) = (1-q)/q``
weights dropout's penalty.
"""

from __future__ import annotations

import sympy as sp
import torch

EXACT_TOL = 1e-10
q_sym = sp.Symbol("q", positive=True)
f64 = torch.float64
