"""sympy building blocks: expectations over independent Bernoulli gates, exactly.

Two independent routes to :math:`\\mathbb{E}[f(\\delta)]` for gates
:math:`\\delta_i \\sim \\mathrm{Bernoulli}(q_i)`:

* :func:`bernoulli_expectation` uses algebra: for a polynomial, :math:`\\delta_i^k = \\delta_i`
  (a gate is 0 or 1) and independence makes the expectation multilinear, so each
  :math:`\\delta_i` may be replaced by :math:`q_i` once powers are reduced.
* :func:`enumerated_expectation` sums :math:`f` over all :math:`2^d` gate values with their
  probabilities. It works for any expression, not only polynomials.

Claims check one against the other and against a closed form.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import sympy as sp


def gates(name: str, d: int) -> list[sp.Symbol]:
    """``d`` gate symbols ``name_1 .. name_d`` (0/1 valued)."""
    return list(sp.symbols(f"{name}1:{d + 1}", integer=True, nonnegative=True))


def keep_probabilities(name: str, d: int) -> list[sp.Symbol]:
    """``d`` probability symbols, declared positive so sympy can simplify."""
    return list(sp.symbols(f"{name}1:{d + 1}", positive=True))


def reduce_gate_powers(expr: sp.Expr, gate_symbols: Sequence[sp.Symbol]) -> sp.Expr:
    """Replace :math:`\\delta^k` by :math:`\\delta` for every gate (valid since δ ∈ {0, 1})."""
    expanded = sp.expand(expr)
    gate_set = set(gate_symbols)
    return expanded.replace(
        lambda e: e.is_Pow and e.base in gate_set and e.exp.is_Integer and e.exp > 0,
        lambda e: e.base,
    )


def bernoulli_expectation(
    expr: sp.Expr, gate_symbols: Sequence[sp.Symbol], keep: Sequence[sp.Expr] | sp.Expr
) -> sp.Expr:
    """Exact expectation of a *polynomial* in independent Bernoulli gates.

    Args:
        expr: polynomial in the gates (other symbols are constants).
        gate_symbols: the gates.
        keep: one probability per gate, or a single one shared by all.
    """
    if not isinstance(keep, (list, tuple)):
        keep = [keep] * len(gate_symbols)
    if len(keep) != len(gate_symbols):
        raise ValueError(f"keep has {len(keep)} entries for {len(gate_symbols)} gates")
    expanded = sp.expand(expr)
    if not expanded.is_polynomial(*gate_symbols):
        raise ValueError("bernoulli_expectation needs a polynomial in the gates; use enumerated_expectation")
    reduced = reduce_gate_powers(expanded, gate_symbols)
    return sp.expand(reduced.subs(dict(zip(gate_symbols, keep))))


def enumerated_expectation(
    expr: sp.Expr, gate_symbols: Sequence[sp.Symbol], keep: Sequence[sp.Expr] | sp.Expr
) -> sp.Expr:
    """Exact expectation by summing over all :math:`2^d` gate values (any expression)."""
    if not isinstance(keep, (list, tuple)):
        keep = [keep] * len(gate_symbols)
    total = sp.Integer(0)
    for values in itertools.product((0, 1), repeat=len(gate_symbols)):
        weight = sp.Integer(1)
        for value, q in zip(values, keep):
            weight *= q if value else (1 - q)
        total += weight * expr.subs(dict(zip(gate_symbols, values)))
    return total


def binary_entropy(q: sp.Expr) -> sp.Expr:
    """:math:`H_b(q) = -q\\log q - (1-q)\\log(1-q)` in nats."""
    return -q * sp.log(q) - (1 - q) * sp.log(1 - q)


def is_zero(expr: sp.Expr) -> bool:
    """True when sympy proves ``expr == 0`` (simplify, then expand as a second try)."""
    return sp.simplify(expr) == 0 or sp.expand(sp.simplify(expr)) == 0
