"""Claims of the chapter *DropBlock* (book/dropblock.md).

Catalogue items K2 and N5. ``p`` is the drop probability (the paper's ``1 - keep_prob``).
"""

from __future__ import annotations

import itertools
import math

import sympy as sp
import torch

from dropout_theory import functional as F
from dropout_theory.claims.core import Evidence, claim, exact_evidence
from dropout_theory.devices import seeded_generator
from dropout_theory.enumeration import all_masks, mask_probabilities
from dropout_theory.functional.dropblock import block_mask_from_origins, cover_counts
from dropout_theory.functional.masks import uniform
from dropout_theory.montecarlo import check_mean
from dropout_theory.symbolic import is_zero

EXACT_TOL = 1e-12



def drop_fraction_for_rate(gamma: float, block_size: int, height: int, width: int) -> float:
    """Exact dropped fraction when origins are drawn at an arbitrary rate ``gamma``."""
    n_y = cover_counts(block_size, height).double()
    n_x = cover_counts(block_size, width).double()
    return float(1.0 - ((1.0 - gamma) ** (n_y[:, None] * n_x[None, :])).mean())


def cover_incidence(block_size: int, height: int, width: int) -> torch.Tensor:
    """``(origins, positions)`` 0/1 matrix: origin ``(i, j)`` covers ``(y, x)``; built by loops,
    an oracle independent of the max-pool used by the package."""
    rows = []
    for i, j in itertools.product(range(height - block_size + 1), range(width - block_size + 1)):
        rows.append([float(i <= y < i + block_size and j <= x < j + block_size) for y in range(height) for x in range(width)])
    return torch.tensor(rows, dtype=torch.float64)


@claim(
    "dropblock.gamma-formula",
    title="The origin rate of eq. (1)",
    statement=r"With $\gamma = \frac{1-\mathrm{keep}}{b^2}\frac{H W}{(H-b+1)(W-b+1)}$ (eq. 1), the expected number of "
    r"block *origins* times the block area, $\gamma\, b^2 (H-b+1)(W-b+1)$, equals $(1-\mathrm{keep})\,HW$: the rate is "
    r"chosen as if blocks never overlapped. Moreover $\gamma \le 1 - \mathrm{keep}$ for all $1 \le b \le \min(H, W)$.",
    source="ghiasi2018dropblock",
    catalogue=("K2",),
)
def gamma_formula() -> list[Evidence]:
    keep, b, H, W = sp.symbols("keep b H W", positive=True)
    gamma = (1 - keep) / b**2 * H * W / ((H - b + 1) * (W - b + 1))
    budget = sp.simplify(gamma * b**2 * (H - b + 1) * (W - b + 1) - (1 - keep) * H * W)
    # gamma <= p  <=>  H W <= b^2 (H-b+1)(W-b+1), which factors per axis: b(H-b+1) - H = (b-1)(H-b) >= 0.
    axis_gap = sp.factor(b * (H - b + 1) - H)
    worst = 0.0
    for p, block, height, width in [(0.1, 7, 28, 28), (0.25, 3, 9, 12), (0.5, 5, 5, 8), (1.0, 1, 4, 4)]:
        expected = p / block**2 * height * width / ((height - block + 1) * (width - block + 1))
        worst = max(worst, abs(F.drop_block_gamma(p, block, height, width) - expected))
    return [
        Evidence("symbolic", is_zero(budget) and is_zero(axis_gap - (b - 1) * (H - b)),
                 f"gamma b^2 (H-b+1)(W-b+1) - (1-keep) H W = {budget}; b(H-b+1) - H = {axis_gap}"),
        exact_evidence(worst, "the package's drop_block_gamma vs eq. (1) at four geometries"),
    ]


@claim(
    "dropblock.exact-drop-fraction",
    title="Overlapping blocks drop less than 1 - keep",
    statement=r"Position $(y,x)$ is covered by $n_y n_x$ valid origins, so DropBlock drops the expected fraction "
    r"$\delta = 1 - \frac{1}{HW}\sum_{y,x}(1-\gamma)^{n_y n_x}$ exactly. At keep $= 0.9$, $b = 7$, $H = W = 28$: "
    r"$\delta \approx 0.0939$, not $0.100$.",
    source="ghiasi2018dropblock",
    catalogue=("K2",),
)
def exact_drop_fraction() -> list[Evidence]:
    # Exact enumeration on a 6x6 map with b = 3: all 2^16 origin patterns.
    p, b, H, W = 0.3, 3, 6, 6
    gamma = F.drop_block_gamma(p, b, H, W)
    patterns = all_masks((H - b + 1) * (W - b + 1))
    weights = mask_probabilities(patterns, gamma)
    oracle_keep = (patterns @ cover_incidence(b, H, W) == 0).double()
    package_keep = block_mask_from_origins(patterns.float().view(-1, 1, H - b + 1, W - b + 1), b).view(len(patterns), -1).double()
    mask_err = (package_keep - oracle_keep).abs().max().item()
    enumerated = 1.0 - (weights @ oracle_keep).mean().item()
    closed = F.drop_block_drop_fraction(p, b, H, W)
    # The 28x28 case, by the closed form and by Monte Carlo through the package's mask.
    big = F.drop_block_drop_fraction(0.1, 7, 28, 28)
    masks = F.drop_block_mask((20_000, 1, 28, 28), 0.1, 7, generator=seeded_generator(31), dtype=torch.float64)
    fractions = 1.0 - masks.mean(dim=(1, 2, 3))
    return [
        exact_evidence(max(abs(enumerated - closed), mask_err),
               f"6x6 map, b=3, p={p}: all 2^16 origin patterns; the package's masks equal a loop oracle (max diff {mask_err}) "
               f"and the enumerated fraction {enumerated:.12f} equals the closed form"),
        Evidence("exact", abs(big - 0.0939) < 5e-5 and big < 0.1,
                 f"closed form at keep=0.9, b=7, 28x28: {big:.6f}", estimate=big, target=0.0939, tolerance=5e-5),
        check_mean(fractions, big, detail="dropped fraction of 20,000 sampled 28x28 masks vs the closed form"),
    ]


@claim(
    "dropblock.drops-exactly-p",
    title="Refuted: DropBlock drops exactly the fraction 1 - keep",
    statement=r"(A common reading of eq. 1.) With $\gamma$ of eq. (1), DropBlock zeroes on average exactly the "
    r"fraction $1 - \mathrm{keep}$ of each feature map (here keep $= 0.9$, $b = 7$, $28 \times 28$).",
    source="ghiasi2018dropblock",
    expectation="refuted",
    catalogue=("K2",),
)
def drops_exactly_p() -> list[Evidence]:
    exact = F.drop_block_drop_fraction(0.1, 7, 28, 28)
    masks = F.drop_block_mask((20_000, 1, 28, 28), 0.1, 7, generator=seeded_generator(32), dtype=torch.float64)
    return [
        Evidence("exact", abs(exact - 0.1) <= EXACT_TOL, f"exact dropped fraction {exact:.6f}",
                 estimate=exact, target=0.1, tolerance=EXACT_TOL),
        check_mean(1.0 - masks.mean(dim=(1, 2, 3)), 0.1, detail="sampled dropped fraction vs 0.1"),
    ]


@claim(
    "dropblock.keep-for-drop",
    title="Refuted: gamma with keep_prob in place of 1 - keep_prob",
    statement=r"(Seen in a public implementation.) The origin rate $\gamma = \frac{\mathrm{keep}}{b^2}\frac{HW}{(H-b+1)(W-b+1)}$ "
    r"gives DropBlock its intended drop fraction $\approx 1 - \mathrm{keep}$ (keep $= 0.9$, $b = 7$, $28\times 28$).",
    source="ghiasi2018dropblock",
    expectation="refuted",
    catalogue=("N5",),
)
def keep_for_drop() -> list[Evidence]:
    keep, b, H = 0.9, 7, 28
    wrong_gamma = keep / b**2 * H * H / (H - b + 1) ** 2
    exact = drop_fraction_for_rate(wrong_gamma, b, H, H)
    origins = (uniform((20_000, 1, H - b + 1, H - b + 1), generator=seeded_generator(33)) < wrong_gamma).float()
    fractions = 1.0 - block_mask_from_origins(origins, b).double().mean(dim=(1, 2, 3))
    return [
        Evidence("exact", abs(exact - (1 - keep)) <= 0.01, f"gamma={wrong_gamma:.5f} drops the fraction {exact:.4f}",
                 estimate=exact, target=1 - keep, tolerance=0.01),
        check_mean(fractions, 1 - keep, detail="sampled dropped fraction with the swapped gamma vs 1 - keep"),
    ]


@claim(
    "dropblock.channel-masks",
    title="Per-channel and shared masks; where blocks land",
    statement=r"Position $(y,x)$ is kept with probability $\pi_{yx} = (1-\gamma)^{n_y n_x}$, larger near the border, "
    r"where fewer origins cover it. Per-channel masks are independent across channels: $\mathbb{E}[M_{c}M_{c'}] = \pi_{yx}^2$ "
    r"for $c \ne c'$; a shared mask is one mask for all channels: $M_c = M_{c'}$ and $\mathbb{E}[M_cM_{c'}] = \pi_{yx}$. "
    r"With `normalize=\"expected\"` the spatial mean of the output is unbiased for a constant input, while "
    r"$\mathbb{E}[y_{yx}] = x_{yx}\,\pi_{yx}/(1-\delta)$ position by position.",
    source="ghiasi2018dropblock",
    catalogue=("K2",),
)
def channel_masks() -> list[Evidence]:
    p, b, H, n = 0.2, 3, 8, 50_000
    gamma = F.drop_block_gamma(p, b, H, H)
    counts = cover_counts(b, H).double()
    keep_map = (1.0 - gamma) ** (counts[:, None] * counts[None, :])
    kept = 1.0 - F.drop_block_drop_fraction(p, b, H, H)
    per_channel = F.drop_block_mask((n, 2, H, H), p, b, generator=seeded_generator(34), dtype=torch.float64)
    x = torch.ones(n, 2, H, H, dtype=torch.float64)
    shared_out = F.drop_block2d(x, p, b, shared_channels=True, normalize="expected", generator=seeded_generator(35))
    identical = bool((shared_out[:, 0] == shared_out[:, 1]).all())
    shared = (shared_out != 0).double()
    return [
        exact_evidence(0.0 if identical else math.inf, f"shared_channels=True: the two channels' outputs are identical in all {n:,} samples"),
        check_mean(per_channel[:, 0].reshape(n, -1), keep_map.reshape(-1), detail="keep frequency at all 64 positions vs (1-gamma)^(n_y n_x)"),
        check_mean((per_channel[:, 0] * per_channel[:, 1]).reshape(n, -1), (keep_map**2).reshape(-1),
                   detail="per-channel masks: E[M_c M_c'] vs pi^2 at all 64 positions"),
        check_mean((shared[:, 0] * shared[:, 1]).reshape(n, -1), keep_map.reshape(-1), detail="shared mask: E[M_c M_c'] vs pi"),
        check_mean(shared_out[:, 0].mean(dim=(1, 2)), 1.0, detail="normalize='expected': spatial mean of y for x = 1 vs 1"),
        check_mean(shared_out[:, 0].reshape(n, -1), (keep_map / kept).reshape(-1), detail="per position: E[y] vs pi/(1-delta)"),
    ]
