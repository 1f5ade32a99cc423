"""Claims of the chapter *Channel (spatial) dropout* (book/channel-dropout.md).

Catalogue items K1, N9 and audit rows P9, P23. ``p`` is the drop probability, ``q = 1 - p``.
"""

from __future__ import annotations

import math

import torch

from dropout_theory import functional as F
from dropout_theory.claims.core import Evidence, claim
from dropout_theory.devices import seeded_generator
from dropout_theory.enumeration import all_masks, mask_probabilities
from dropout_theory.montecarlo import check_mean, check_variance

EXACT_TOL = 1e-12
TORCH_CHANNEL_DROPOUT = {1: torch.nn.Dropout1d, 2: torch.nn.Dropout2d, 3: torch.nn.Dropout3d}


def channel_structure_error(x: torch.Tensor, y: torch.Tensor, p: float, *, batched: bool = True) -> tuple[float, int]:
    """Max |y - x/q| over kept channels and the number of *mixed* channels (some entries zero, some not).

    ``x`` must be nonzero everywhere, so a zero output entry means a dropped entry.
    """
    lead = 2 if batched else 1
    flat_x = x.reshape(*x.shape[:lead], -1)
    flat_y = y.reshape(*y.shape[:lead], -1)
    zero = flat_y == 0
    all_zero, none_zero = zero.all(-1), (~zero).all(-1)
    mixed = int((~(all_zero | none_zero)).sum())
    kept = none_zero.unsqueeze(-1).expand_as(flat_y)
    err = (flat_y - flat_x / (1 - p))[kept].abs().max().item() if bool(kept.any()) else 0.0
    return err, mixed


def torch_channel_dropout(x: torch.Tensor, p: float, spatial_dims: int, seed: int) -> torch.Tensor:
    """torch's ``Dropout{k}d`` in training mode under a fixed seed, without disturbing the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return TORCH_CHANNEL_DROPOUT[spatial_dims](p)(x)


@claim(
    "channel-dropout.whole-channels",
    title="Channel dropout zeroes whole channels and rescales the rest by 1/(1-p)",
    statement=r"For input $(N, C, *)$ (or unbatched $(C, *)$) each channel of each sample is either all zero or all "
    r"$x/(1-p)$; it is kept with probability $q = 1-p$, and per element $\mathbb{E}y = x$, $\mathrm{Var}\,y = x^2p/(1-p)$.",
    source="tompson2015efficient",
    catalogue=("K1", "P9"),
)
def whole_channels() -> list[Evidence]:
    p = 0.3
    g = seeded_generator(61)
    x = 0.5 + torch.rand(20_000, 3, 4, 5, generator=g, dtype=torch.float64)
    y = F.channel_dropout(x, p, generator=seeded_generator(62))
    err, mixed = channel_structure_error(x, y, p)
    xu = 0.5 + torch.rand(50_000, 6, generator=g, dtype=torch.float64)  # unbatched (C, L) with C = 50,000
    yu = F.channel_dropout(xu, p, spatial_dims=1, generator=seeded_generator(63))
    err_u, mixed_u = channel_structure_error(xu, yu, p, batched=False)
    worst = max(err, err_u) if mixed == 0 and mixed_u == 0 else math.inf
    fixed = torch.tensor([[-1.5, 0.5], [2.0, 1.0]], dtype=torch.float64)  # (C=2, L=2), one input
    samples = F.channel_dropout(fixed.expand(200_000, 2, 2), p, generator=seeded_generator(64)).reshape(200_000, -1)
    return [
        Evidence("exact", worst <= EXACT_TOL,
                 f"batched (20000, 3, 4, 5) and unbatched (50000, 6) at p={p}: {mixed + mixed_u} mixed channels; "
                 "max |y - x/q| on kept channels", estimate=worst, target=0.0, tolerance=EXACT_TOL),
        check_mean((yu[:, 0] != 0).double(), 1 - p, detail="keep frequency of unbatched channels"),
        check_mean(samples, fixed.reshape(-1), detail="per-element mean of a fixed (2, 2) map"),
        check_variance(samples, fixed.reshape(-1) ** 2 * p / (1 - p), detail="per-element variance x^2 p/(1-p)"),
    ]


@claim(
    "channel-dropout.torch-parity",
    title="Same mask, same output as torch's Dropout1d/2d/3d",
    statement=r"torch's `Dropout1d` (input $(N,C,L)$ or $(C,L)$), `Dropout2d` (input $(N,C,H,W)$) and `Dropout3d` "
    r"(input $(N,C,D,H,W)$ or $(C,D,H,W)$) zero whole channels, and for the channel mask recovered from torch's "
    r"output the package's channel dropout gives exactly torch's output.",
    source="tompson2015efficient,paszke2019pytorch",
    catalogue=("K1", "P23"),
)
def torch_parity() -> list[Evidence]:
    p = 0.4
    g = seeded_generator(65)
    worst, mixed_total, cases = 0.0, 0, []
    for k in (1, 2, 3):
        spatial = (5, 4, 3)[:k]
        # torch's Dropout2d reads a 3-D input as batched (N, C, L) (with a warning), not as (C, H, W):
        # that case is shown in the chapter, not claimed here.
        for batched in ((True,) if k == 2 else (True, False)):
            shape = ((8,) if batched else ()) + (6,) + spatial
            x = 0.5 + torch.rand(shape, generator=g, dtype=torch.float64)
            out = torch_channel_dropout(x, p, k, seed=66 + k)
            _, mixed = channel_structure_error(x, out, p, batched=batched)
            lead = 2 if batched else 1
            mask = (out.reshape(*out.shape[:lead], -1) != 0).all(-1).double()
            ours = F.apply_channel_mask(x, mask, p, batched=batched)
            worst = max(worst, (ours - out).abs().max().item())
            mixed_total += mixed
            cases.append(f"{k}d {'batched' if batched else 'unbatched'} {tuple(shape)}")
    worst = worst if mixed_total == 0 else math.inf
    return [Evidence("exact", worst <= EXACT_TOL, f"p={p}; {mixed_total} mixed channels in torch's outputs; cases: {', '.join(cases)}",
                     estimate=worst, target=0.0, tolerance=EXACT_TOL)]


def pooled_noise(k: int, p: float) -> dict[str, tuple[float, float]]:
    """Exact (variance, P(output = 0)) of the mean of k identical pixels (value 1) after element-wise
    and after channel dropout, by enumerating all 2^k element masks and both channel gates through the
    package's mask-application ops."""
    masks = all_masks(k)
    probs = mask_probabilities(masks, 1 - p)
    element = F.apply_dropout_mask(torch.ones(len(masks), k, dtype=torch.float64), masks, p).mean(1)
    gate = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    channel = F.apply_channel_mask(torch.ones(2, 1, k, dtype=torch.float64), gate, p).mean((1, 2))
    cprobs = torch.tensor([p, 1 - p], dtype=torch.float64)
    out = {}
    for name, values, weights in (("element", element, probs), ("channel", channel, cprobs)):
        mean = (weights * values).sum()
        out[name] = (((weights * (values - mean) ** 2).sum()).item(), weights[values == 0].sum().item())
    return out


@claim(
    "channel-dropout.correlated-pixels",
    title="Why element-wise dropout barely regularises correlated feature maps",
    statement=r"If $k$ neighbouring pixels carry the same value $s$ and the next layer averages them, element-wise "
    r"dropout leaves noise of variance $s^2 p/(k(1-p))$ and removes the signal entirely only with probability $p^k$; "
    r"channel dropout gives variance $s^2 p/(1-p)$ and removes it with probability $p$.",
    source="tompson2015efficient",
    catalogue=("K1",),
)
def correlated_pixels() -> list[Evidence]:
    p, worst = 0.3, 0.0
    for k in (2, 4, 9):
        exact = pooled_noise(k, p)
        targets = {"element": (p / (k * (1 - p)), p**k), "channel": (p / (1 - p), p)}
        for name in exact:
            worst = max(worst, *(abs(a - b) for a, b in zip(exact[name], targets[name])))
    k, n = 4, 200_000
    maps = torch.ones(n, 1, 2, 2, dtype=torch.float64)
    element = F.dropout(maps, p, generator=seeded_generator(67)).mean((1, 2, 3))
    channel = F.channel_dropout(maps, p, generator=seeded_generator(68)).mean((1, 2, 3))
    return [
        Evidence("exact", worst <= EXACT_TOL, f"k = 2, 4, 9 identical pixels, p={p}: all masks; max error of variance and P(signal removed)",
                 estimate=worst, target=0.0, tolerance=EXACT_TOL),
        check_variance(element, p / (k * (1 - p)), detail=f"element-wise dropout, 2x2 average pool, s=1: variance p/(kq)"),
        check_mean((element == 0).double(), p**k, detail="element-wise: P(pooled output = 0) = p^k"),
        check_variance(channel, p / (1 - p), detail="channel dropout: variance p/q"),
        check_mean((channel == 0).double(), p, detail="channel dropout: P(pooled output = 0) = p"),
    ]


@claim(
    "channel-dropout.nn-dropout-zeroes-channels",
    title="Refuted: torch.nn.Dropout zeroes whole channels",
    statement=r"(An old sentence of PyTorch's `nn.Dropout` documentation: \"each channel will be zeroed out "
    r"independently\".) On a 4-D input $(N, C, H, W)$, `torch.nn.Dropout` zeroes whole channels.",
    source="paszke2019pytorch",
    expectation="refuted",
    catalogue=("N9",),
)
def nn_dropout_zeroes_channels() -> list[Evidence]:
    p = 0.5
    x = 0.5 + torch.rand(16, 8, 5, 5, generator=seeded_generator(69), dtype=torch.float64)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(70)
        out = torch.nn.Dropout(p)(x)
    _, mixed = channel_structure_error(x, out, p)
    return [Evidence("exact", mixed == 0, f"{mixed} of {16 * 8} channels are mixed (some entries zeroed, others kept): "
                     "nn.Dropout is element-wise; the channel-wise modules are Dropout1d/2d/3d")]
