"""Claims of the chapter *Beyond the classics: newer theory* (book/newer-theory.md).

Catalogue items L1, L3, L7 and audit row P24, in three modules: :mod:`.linear_networks`
(implicit bias of dropout in linear networks), :mod:`.matrix_factorisation` (squared nuclear
norm in matrix factorisation) and :mod:`.variance_shift` (dropout before BatchNorm);
:mod:`.conventions` holds their shared symbol, dtype and tolerance.
"""

from dropout_theory.claims.newer_theory import linear_networks, matrix_factorisation, variance_shift

__all__ = ["linear_networks", "matrix_factorisation", "variance_shift"]
