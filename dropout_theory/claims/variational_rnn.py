"""Claims of the chapter *Variational dropout in recurrent networks* (book/variational-rnn.md).

Catalogue items G6, B6 and audit rows P10, P19. ``p`` is the drop probability and
``q = 1 - p``; Gal & Ghahramani write :math:`p` for the keep probability.
"""

from __future__ import annotations

import math

import sympy as sp
import torch

from dropout_theory import functional as F
from dropout_theory.claims.core import Evidence, claim, exact_evidence
from dropout_theory.devices import seeded_generator
from dropout_theory.enumeration import all_masks, mask_probabilities
from dropout_theory.montecarlo import check_mean
from dropout_theory.nn import VariationalLSTM
from dropout_theory.symbolic import bernoulli_expectation, gates, is_zero




def _time_correlation(masks: torch.Tensor) -> torch.Tensor:
    """``m_1 * m_2`` per (sequence, unit): masks ``(T, N, F)`` -> ``(N * F,)`` products of steps 0 and 1."""
    return (masks[0] * masks[1]).reshape(-1)


@claim(
    "variational-rnn.masks-tied-over-time",
    title="One mask per sequence, shared by all time steps",
    statement=r"Locked (variational) dropout draws $m$ once per sequence: $m_t = m_s$ for all steps, so "
    r"$\mathbb{E}[m_{t,i} m_{s,i}] = q$; masks differ across sequences and across calls. Naive dropout draws a fresh "
    r"mask per step: $\mathbb{E}[m_{t,i} m_{s,i}] = q^2$ for $t \ne s$.",
    source="gal2016theoretically",
    catalogue=("G6", "P10"),
)
def masks_tied_over_time() -> list[Evidence]:
    p, q = 0.3, 0.7
    T, N, D = 6, 20_000, 4
    ones = torch.ones(T, N, D, dtype=torch.float64)
    g = seeded_generator(61)
    locked = F.locked_dropout(ones, p, generator=g) * q
    again = F.locked_dropout(ones, p, generator=g) * q
    naive = F.dropout(ones, p, generator=seeded_generator(62)) * q
    tied = bool((locked == locked[0]).all())
    distinct_rows = torch.unique(locked[0], dim=0).shape[0]
    differs_between_calls = bool((locked != again).any())
    ok = tied and distinct_rows == 2**D and differs_between_calls
    return [
        exact_evidence(0.0 if ok else math.inf,
               f"one draw: identical over all {T} steps: {tied}; {distinct_rows} of {2**D} possible masks appear across "
               f"{N:,} sequences; a second call differs: {differs_between_calls}"),
        check_mean(_time_correlation(locked), q, detail=f"locked: E[m_1 m_2] vs q = {q}"),
        check_mean(_time_correlation(naive), q * q, detail=f"naive per-step: E[m_1 m_2] vs q^2 = {q * q:.2f}"),
    ]


@claim(
    "variational-rnn.fresh-mask-per-step",
    title="Refuted: variational RNN dropout draws a fresh mask at each step",
    statement=r"(A statement about RNN dropout in general.) Dropout in a recurrent network draws a fresh Bernoulli mask at "
    r"each time step, so masks at different steps are independent, $\mathbb{E}[m_{t,i}m_{s,i}] = q^2$. Checked on "
    r"the package's `LockedDropout` (Gal & Ghahramani's scheme).",
    source="gal2016theoretically",
    expectation="refuted",
    catalogue=("P19",),
)
def fresh_mask_per_step() -> list[Evidence]:
    from dropout_theory.nn import LockedDropout

    p, q = 0.3, 0.7
    module = LockedDropout(p, generator=seeded_generator(63))
    masks = module(torch.ones(2, 20_000, 4, dtype=torch.float64)) * q
    changed = bool((masks[0] != masks[1]).any())
    return [
        Evidence("exact", changed, f"some unit changes between steps 1 and 2: {changed}"),
        check_mean(_time_correlation(masks), q * q, detail="E[m_1 m_2] vs q^2"),
    ]


@claim(
    "variational-rnn.lstm-matches-torch",
    title="VariationalLSTM is torch's LSTM with tied masks",
    statement=r"In evaluation `VariationalLSTM` computes exactly what `torch.nn.LSTM` computes with the same parameters; "
    r"in training it computes an `nn.LSTMCell` recursion whose input and recurrent state are multiplied by the *same* "
    r"masks $m_x/(1-p_x)$, $m_h/(1-p_h)$ at every step.",
    source="gal2016theoretically",
    catalogue=("G6", "P10"),
)
def lstm_matches_torch() -> list[Evidence]:
    torch.manual_seed(64)  # parameter initialisation only; masks use explicit generators
    lstm = VariationalLSTM(3, 5, 2, 0.2, 0.3, 0.25, generator=seeded_generator(65), dtype=torch.float64)
    reference = torch.nn.LSTM(3, 5, 2, dtype=torch.float64)
    reference.load_state_dict(lstm.state_dict())
    x = torch.randn(7, 4, 3, generator=seeded_generator(66), dtype=torch.float64)
    lstm.eval()
    out, (h, c) = lstm(x)
    ref_out, (ref_h, ref_c) = reference(x)
    eval_err = max((out - ref_out).abs().max().item(), (h - ref_h).abs().max().item(), (c - ref_c).abs().max().item())
    lstm.train()
    masks = lstm.sample_masks(4, dtype=torch.float64)
    out_train, _ = lstm(x, masks=masks)
    cells = []
    for k in range(2):
        cell = torch.nn.LSTMCell(3 if k == 0 else 5, 5, dtype=torch.float64)
        cell.load_state_dict({name: getattr(reference, f"{name}_l{k}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")})
        cells.append(cell)
    layer_in = x
    for k, cell in enumerate(cells):
        h_k = torch.zeros(4, 5, dtype=torch.float64)
        c_k = torch.zeros(4, 5, dtype=torch.float64)
        steps = []
        for t in range(7):
            h_k, c_k = cell(layer_in[t] * masks.inputs[k] / 0.8, (h_k * masks.hidden[k] / 0.7, c_k))
            steps.append(h_k)
        layer_in = torch.stack(steps)
    oracle = layer_in * masks.output / 0.75
    train_err = (out_train - oracle).abs().max().item()
    return [
        exact_evidence(eval_err, "eval vs torch.nn.LSTM with copied parameters (2 layers, float64): outputs, h_n, c_n", tol=1e-12),
        exact_evidence(train_err, "training with sampled masks vs an nn.LSTMCell loop applying the same masks at every step", tol=1e-12),
    ]


def linear_rnn(h0: torch.Tensor, xs: torch.Tensor, W: torch.Tensor, U: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Final state of :math:`h_t = W (r_t \\odot h_{t-1}) + U x_t` for a batch of mask factors ``(n, T, d)``."""
    h = h0.expand(factors.shape[0], -1)
    for t in range(xs.shape[0]):
        h = (factors[:, t] * h) @ W.T + xs[t] @ U.T
    return h


@claim(
    "variational-rnn.tied-masks-break-weight-scaling",
    title="Tied masks make weight scaling inexact, even in a linear RNN",
    statement=r"For the linear RNN $h_t = W(r_t \odot h_{t-1}) + U x_t$ with independent masks at every step, "
    r"$\mathbb{E}[h_T]$ equals the weight-scaled network exactly (the output is multilinear in the gates). With one mask "
    r"shared over time the same gate enters several times and $\mathbb{E}[\delta^2] = q \ne q^2$: the mean differs from "
    r"the weight-scaled network.",
    source="gal2016theoretically,baldi2013understanding",
    catalogue=("B6", "G6"),
)
def tied_masks_break_weight_scaling() -> list[Evidence]:
    # Scalar RNN, two steps, non-inverted gates (the weight-scaled network uses q w).
    q, w, u, h0, x1, x2 = sp.symbols("q w u h0 x1 x2", positive=True)
    d1, d2 = gates("d", 2)
    tied = w * d1 * (w * d1 * h0 + u * x1) + u * x2
    fresh = w * d2 * (w * d1 * h0 + u * x1) + u * x2
    scaled = q * w * (q * w * h0 + u * x1) + u * x2
    tied_gap = sp.factor(bernoulli_expectation(tied, [d1], q) - scaled)
    fresh_gap = bernoulli_expectation(fresh, [d1, d2], q) - scaled
    # Exact enumeration, d = 2 units, T = 3 steps, inverted masks r = m / q.
    keep, d, T = 0.6, 2, 3
    g = seeded_generator(67)
    W = torch.randn(d, d, generator=g, dtype=torch.float64)
    U = torch.randn(d, 1, generator=g, dtype=torch.float64)
    h_init = torch.randn(d, generator=g, dtype=torch.float64)
    xs = torch.randn(T, 1, generator=g, dtype=torch.float64)
    plain = linear_rnn(h_init, xs, W, U, torch.ones(1, T, d, dtype=torch.float64))[0]
    tied_masks = all_masks(d)
    tied_mean = mask_probabilities(tied_masks, keep) @ linear_rnn(h_init, xs, W, U, (tied_masks / keep)[:, None, :].expand(-1, T, -1))
    step_masks = all_masks(d * T)
    step_mean = mask_probabilities(step_masks, keep) @ linear_rnn(h_init, xs, W, U, (step_masks / keep).view(-1, T, d))
    tied_err = (tied_mean - plain).abs().max().item()
    # Monte Carlo with the package's masks: locked (tied) and naive (fresh per step).
    n = 200_000
    locked = F.locked_dropout(torch.ones(T, n, d, dtype=torch.float64), 1 - keep, generator=seeded_generator(68))
    naive = F.dropout(torch.ones(T, n, d, dtype=torch.float64), 1 - keep, generator=seeded_generator(69))
    return [
        Evidence("symbolic", is_zero(fresh_gap) and not is_zero(tied_gap),
                 f"scalar, T=2: E[h_2] - weight-scaled = {tied_gap} (tied), {sp.simplify(fresh_gap)} (fresh per step)"),
        exact_evidence((step_mean - plain).abs().max().item(), f"fresh masks, all 2^{d * T} patterns: E[h_T] = weight-scaled network"),
        Evidence("exact", tied_err > 1e-3, f"tied masks, all 2^{d} patterns: max |E[h_T] - weight-scaled| = {tied_err:.4f} > 0",
                 estimate=tied_err, target=0.0),
        check_mean(linear_rnn(h_init, xs, W, U, locked.transpose(0, 1)), tied_mean,
                   detail="locked_dropout masks: mean final state vs the exact tied expectation"),
        check_mean(linear_rnn(h_init, xs, W, U, naive.transpose(0, 1)), plain,
                   detail="fresh per-step masks: mean final state vs the weight-scaled network"),
    ]
