"""Claims of the chapter *The ensemble of 2^d subnetworks* (book/ensemble.md)."""

from dropout_theory.claims.ensemble import exact_identities

__all__ = ["exact_identities"]
