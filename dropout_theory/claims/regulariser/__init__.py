"""Claims of the chapter *Dropout as a penalty* (book/regulariser.md).

Catalogue items B1-B3, C2, E1, E2, N1, N3 and audit rows P25-P27, in two modules:
:mod:`.linear_unit` (Baldi & Sadowski's linear unit) and :mod:`.glm` (Wager et al.'s
generalised linear models, Helmbold & Long's non-convex penalty).
"""

from dropout_theory.claims.regulariser import glm, linear_unit

__all__ = ["glm", "linear_unit"]
