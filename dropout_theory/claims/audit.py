"""Claims of the audit chapter (book/audit.md) not already checked in another chapter.

Audit rows P16, P18, P21 and P29 of the catalogue. The other rows are claims of the chapters
they belong to; the audit chapter links to them.
"""

from __future__ import annotations

import warnings

import numpy as np
import sympy as sp
import torch

from dropout_theory import functional as F
from dropout_theory.claims.core import Evidence, claim
from dropout_theory.devices import seeded_generator
from dropout_theory.enumeration import all_masks, mask_probabilities
from dropout_theory.montecarlo import check_mean


def source_numpy_dropout(x, discard_prob=0.5, seed=None):  # noqa: ANN001, ANN201 - quoted as written
    """The ``dropout`` function of source note 004, verbatim apart from the line numbers."""
    if discard_prob < 0 or discard_prob > 1:
        raise ValueError('Dropout prob must be in interval [0,1].')

    keep_prob = 1 - discard_prob

    seed = np.random.seed(seed)

    random_tensor = np.random.binomial(n=1, p=keep_prob, size=x.shape)

    x *= random_tensor

    x /= keep_prob

    return x


def _source_side_effects() -> dict[str, bool]:
    """Run the source function the way a user would and record what it does to them."""
    x = np.linspace(1.0, 2.0, 1000)
    original = x.copy()
    source_numpy_dropout(x, 0.5, seed=0)
    mutates = not np.array_equal(x, original)

    np.random.seed(123)
    expected_next = np.random.random_sample()
    np.random.seed(123)
    source_numpy_dropout(np.ones(10), 0.5, seed=7)
    reseeds = np.random.random_sample() != expected_next

    try:
        source_numpy_dropout(np.arange(10), 0.5, seed=1)
        integer_ok = True
    except TypeError:  # numpy's UFuncTypeError: float result cannot be cast back to int
        integer_ok = False

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        all_dropped = source_numpy_dropout(np.ones(10), 1.0, seed=2)
    p_one_finite = bool(np.all(np.isfinite(all_dropped)))
    return {"mutates": mutates, "reseeds": reseeds, "integer_ok": integer_ok, "p_one_finite": p_one_finite}


@claim(
    "audit.source-numpy-dropout-scaling",
    title="The notes' NumPy dropout scales correctly",
    statement=r"`dropout(x, discard_prob)` of note 004 keeps each entry with probability "
    r"$1-\text{discard\_prob}$ and divides by it, so $\mathbb{E}[\text{output}] = x$.",
    source="srivastava2014dropout",
    catalogue=("P29",),
)
def source_numpy_dropout_scaling() -> list[Evidence]:
    p, n = 0.3, 200_000
    outputs = np.stack([source_numpy_dropout(np.full(1, 2.0), p, seed=s) for s in range(2000)])
    one_call = source_numpy_dropout(np.full(n, 2.0), p, seed=2024)
    return [
        check_mean(one_call, 2.0, detail=f"{n} entries of one call at discard_prob={p}"),
        check_mean(outputs[:, 0], 2.0, detail="2000 calls with seeds 0..1999"),
    ]


@claim(
    "audit.source-numpy-dropout-side-effect-free",
    title="Refuted: the notes' NumPy dropout is safe to call",
    statement=r"Calling `dropout(x, discard_prob, seed)` of note 004 leaves `x` and NumPy's global random "
    r"state alone, works for integer arrays, and returns finite values for every `discard_prob` in $[0, 1]$.",
    source="srivastava2014dropout",
    expectation="refuted",
    catalogue=("P29",),
)
def source_numpy_dropout_side_effect_free() -> list[Evidence]:
    found = _source_side_effects()
    return [
        Evidence("exact", not found["mutates"], "the input array is modified in place (`x *= ...; x /= ...`)"),
        Evidence("exact", not found["reseeds"], "np.random.seed(seed) resets the global generator of the caller"),
        Evidence("exact", found["integer_ok"], "integer input: `x /= keep_prob` cannot cast float64 to int64"),
        Evidence("exact", found["p_one_finite"], "discard_prob=1 divides by keep_prob = 0: 0/0 = nan"),
    ]


@claim(
    "audit.package-dropout-side-effect-free",
    title="The package's dropout has none of those side effects",
    statement=r"`dropout_theory.functional.dropout` leaves its input and torch's global generator untouched "
    r"(randomness comes from the generator passed in), refuses integer tensors with a clear `TypeError`, and "
    r"returns exact zeros at $p = 1$.",
    source="paszke2019pytorch",
    catalogue=("P29",),
)
def package_dropout_side_effect_free() -> list[Evidence]:
    x = torch.linspace(1.0, 2.0, 1000, dtype=torch.float64)
    original = x.clone()
    global_state = torch.get_rng_state()
    F.dropout(x, 0.5, generator=seeded_generator(0, "cpu"))
    untouched = torch.equal(x, original) and torch.equal(global_state, torch.get_rng_state())
    try:
        F.dropout(torch.arange(10), 0.5)
        clear_error = False
    except TypeError as err:
        clear_error = "x must have a floating dtype" in str(err) and "torch.int64" in str(err)
    zeros = F.dropout(torch.ones(10), 1.0, generator=seeded_generator(1, "cpu"))
    return [
        Evidence("exact", untouched, "input and torch's global RNG state identical after a call"),
        Evidence("exact", clear_error, "integer input raises TypeError naming x and its dtype"),
        Evidence("exact", bool(torch.equal(zeros, torch.zeros(10))), "p=1 returns exact zeros"),
    ]


@claim(
    "audit.weight-matrices-shrink",
    title="Refuted: dropout updates a small fraction of neurons and shrinks the weight matrices",
    statement=r"(Note 002.) With keep probability between 0.5 and 0.8, only a small fraction of the neurons are "
    r"updated each iteration, leading to a substantial reduction in the size of the weight matrices.",
    source="srivastava2014dropout",
    expectation="refuted",
    catalogue=("P16",),
)
def weight_matrices_shrink() -> list[Evidence]:
    p = 0.5  # the smallest keep probability the note mentions: its most favourable case
    g = seeded_generator(3, "cpu")
    # tanh, not ReLU: its derivative never vanishes, so a unit gets a gradient iff it is kept.
    w1 = (0.3 * torch.randn(400, 20, generator=g, dtype=torch.float64)).requires_grad_()
    w2 = (0.05 * torch.randn(1, 400, generator=g, dtype=torch.float64)).requires_grad_()
    updated = []
    for _ in range(500):
        x = torch.randn(20, generator=g, dtype=torch.float64)
        (grad,) = torch.autograd.grad(w2 @ F.dropout(torch.tanh(w1 @ x), p, generator=g), w1)
        updated.append((grad.abs().sum(1) > 0).double())
    fraction = torch.cat(updated)
    matches_keep = check_mean(fraction, 1 - p, detail="fraction of hidden units with a gradient per step vs q")
    return [
        Evidence("exact", tuple(grad.shape) != (400, 20), "the weight matrix and its gradient are 400x20 at every step"),
        Evidence(
            "monte-carlo",
            not matches_keep.holds,
            f"{matches_keep.detail}: estimate {matches_keep.estimate:.4f} agrees with q = {1 - p} "
            f"(within {matches_keep.tolerance:.4f}), which is not a small fraction",
            estimate=matches_keep.estimate,
            target=matches_keep.target,
            tolerance=matches_keep.tolerance,
            false_alarm=matches_keep.false_alarm,
            samples=matches_keep.samples,
        ),
    ]


@claim(
    "audit.rate-to-one-recovers-weights",
    title="Refuted: as the dropout rate goes to 1 the original weights come back",
    statement=r"(Note 002.) For $\hat W_i = \frac{\lambda}{1-\rho} M_i w_i$ with drop rate $\rho$, "
    r"'when $\rho$ goes to 1, we get the original weights back'.",
    source="srivastava2014dropout",
    expectation="refuted",
    catalogue=("P18",),
)
def rate_to_one_recovers_weights() -> list[Evidence]:
    rho, w = sp.symbols("rho w", positive=True)
    # With lambda = 1: P(W_hat = w) = (1 - rho)^n and Var W_hat = w^2 rho/(1 - rho).
    n = 10
    prob_equal = (1 - rho) ** n
    variance = w**2 * rho / (1 - rho)
    lim_prob = sp.limit(prob_equal, rho, 1, "-")
    lim_var = sp.limit(variance, rho, 1, "-")
    masks = all_masks(n)
    exact = {r: mask_probabilities(masks, 1 - r)[masks.sum(1) == n].sum().item() for r in (0.0, 0.5, 0.99)}
    return [
        Evidence("symbolic", lim_prob == 1 and lim_var == 0,
                 f"rho -> 1: P(W_hat = w) -> {lim_prob}, Var(W_hat) -> {lim_var} (the limit rho -> 0 gives 1 and 0)"),
        Evidence("exact", exact[0.99] > 0.5,
                 f"P(all {n} weights of a row kept) at rho=0, .5, .99: " + ", ".join(f"{v:.3g}" for v in exact.values())),
    ]


@claim(
    "audit.test-time-inverse-keep",
    title="Refuted: with keep probability p, multiply by 1/p at test time",
    statement=r"(Note 003.) With $r_i \sim \mathrm{Bernoulli}(p)$ ($p$ = keep) and training output "
    r"$\hat y = r \odot f(Wx+b)$, the test output $\frac1p f(Wx+b)$ matches the training expectation.",
    source="srivastava2014dropout",
    expectation="refuted",
    catalogue=("P21",),
)
def test_time_inverse_keep() -> list[Evidence]:
    p, f = sp.symbols("p f", positive=True)
    training_mean = sum(prob * (val * f) for val, prob in ((1, p), (0, 1 - p)))
    gap = sp.simplify(f / p - training_mean)
    keep = 0.6
    h = torch.linspace(0.5, 2.0, 6, dtype=torch.float64)
    masks = all_masks(6)
    exact_mean = mask_probabilities(masks, keep) @ F.apply_dropout_mask(h.expand(64, -1), masks, 1 - keep, inverted=False)
    mismatch = (h / keep - exact_mean).abs().max().item()
    return [
        Evidence("symbolic", gap == 0, f"f/p - E[r f] = {sp.factor(gap)}, zero only at p = 1"),
        Evidence("exact", mismatch < 1e-12, f"keep {keep}: max |h/p - E[r h]| = {mismatch:.3f} over 2^6 masks; "
                 "the correct test factor is p (or 1/p at training time: inverted dropout)"),
    ]
