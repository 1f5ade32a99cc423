"""Claims of the chapter *Beyond the classics: newer theory* (book/newer-theory.md)."""

from dropout_theory.claims.newer_theory import linear_networks

__all__ = ["linear_networks"]
