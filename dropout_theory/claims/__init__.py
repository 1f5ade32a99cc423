"""The claims: statements about dropout, each with a check that produces evidence.

One module per chapter (``claims/<chapter>.py``), or a subpackage for a long chapter
(``claims/<chapter>/``, whose ``__init__`` imports its modules). :data:`REGISTRY` maps claim
ids to claims; it imports every chapter module and subpackage on first use, so adding one is
all it takes to register its claims.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Iterator, Mapping

from dropout_theory.claims.core import Claim, Evidence, Verdict, claim, defined_claims

_INFRASTRUCTURE = {"core"}


class _Registry(Mapping[str, Claim]):
    """Read-only mapping id -> Claim, loaded lazily (the claim modules import the package)."""

    def _claims(self) -> dict[str, Claim]:
        for module in pkgutil.iter_modules(__path__):
            if module.name not in _INFRASTRUCTURE:
                importlib.import_module(f"{__name__}.{module.name}")
        return defined_claims()

    def __getitem__(self, key: str) -> Claim:
        claims = self._claims()
        if key not in claims:
            raise KeyError(f"no claim with id {key!r}; known ids start with: {sorted({k.split('.')[0] for k in claims})}")
        return claims[key]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._claims()))

    def __len__(self) -> int:
        return len(self._claims())

    def in_chapter(self, chapter: str) -> list[Claim]:
        return [c for c in self.values() if c.chapter == chapter]


REGISTRY = _Registry()


def verify(ids: Iterable[str] | None = None) -> list[Verdict]:
    """Run the checks of ``ids`` (default: every claim) and return their verdicts.

    An id ending in ``.`` or naming a chapter selects every claim of that chapter.
    """
    if ids is None:
        selected = list(REGISTRY.values())
    else:
        selected = []
        for wanted in ids:
            if wanted in REGISTRY:
                selected.append(REGISTRY[wanted])
                continue
            prefix = wanted.rstrip(".") + "."
            matches = [c for c in REGISTRY.values() if c.id.startswith(prefix)]
            if not matches:
                raise KeyError(f"no claim or chapter matches {wanted!r}")
            selected.extend(matches)
    return [c.run() for c in selected]


__all__ = ["Claim", "Evidence", "REGISTRY", "Verdict", "claim", "verify"]
