"""Claims of the chapter *Dropout as a penalty* (book/regulariser.md)."""

from dropout_theory.claims.regulariser import linear_unit

__all__ = ["linear_unit"]
