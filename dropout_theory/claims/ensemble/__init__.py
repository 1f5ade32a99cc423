"""Claims of the chapter *The ensemble of 2^d subnetworks* (book/ensemble.md).

Catalogue items B4, B5, B6, D1, D2, G2, N12 and audit rows P4, P5, P22, in three modules:
:mod:`.exact_identities` (where weight scaling is exact), :mod:`.bounds` (bounds on the NWGM)
and :mod:`.approximation` (where it only approximates); :mod:`.networks` builds their networks.
"""

from dropout_theory.claims.ensemble import approximation, bounds, exact_identities

__all__ = ["approximation", "bounds", "exact_identities"]
