r"""How far weight scaling is from the exact ensemble in random ReLU networks.

For random networks ``in -> (Linear -> ReLU -> Dropout(p)) x depth -> Linear -> softmax``
(He-initialised, seeded), every mask of every hidden dropout layer is enumerated and the
weight-scaled prediction (WS) is compared with the exact arithmetic mean (E) and the
normalised geometric mean (NWGM) of the subnetworks' class distributions. The distance is
the total variation :math:`\tfrac12 \sum_c |a_c - b_c|`, averaged over random inputs.

``python -m dropout_theory reproduce ensemble-weight-scaling-gap --scale small`` writes
``results/ensemble-weight-scaling-gap-small.json``; the chapter draws its figure from it.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from tqdm import tqdm

from dropout_theory.devices import seeded_generator
from dropout_theory.experiments.registry import RunConfig, experiment
from dropout_theory.experiments.store import ResultStore
from dropout_theory.inference import exact_ensemble, weight_scaled
from dropout_theory.nn import Dropout

INPUTS, CLASSES = 5, 3
GRIDS = {
    # scale: (depths, widths, drop probabilities, inputs per network); depth * width <= max units
    "smoke": ((1, 2), (4,), (0.3, 0.5), 4),
    "small": ((1, 2, 3), (4, 6), (0.1, 0.3, 0.5, 0.7), 16),
    "paper": ((1, 2, 3), (4, 6, 8), (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8), 64),
}
MAX_UNITS = {"smoke": 8, "small": 18, "paper": 24}


def random_relu_network(depth: int, width: int, p: float, seed: int) -> nn.Sequential:
    """He-initialised ReLU network with inverted dropout after every hidden layer (float64)."""
    layers: list[nn.Module] = []
    fan_in = INPUTS
    for _ in range(depth):
        layers += [nn.Linear(fan_in, width), nn.ReLU(), Dropout(p)]
        fan_in = width
    layers.append(nn.Linear(fan_in, CLASSES))
    net = nn.Sequential(*layers).double()
    g = seeded_generator(seed, "cpu")
    with torch.no_grad():
        for module in net:
            if isinstance(module, nn.Linear):
                module.weight.copy_(torch.randn(module.weight.shape, generator=g, dtype=torch.float64)
                                    * math.sqrt(2.0 / module.in_features))
                module.bias.copy_(torch.randn(module.bias.shape, generator=g, dtype=torch.float64) * 0.1)
    return net


def gap_for(depth: int, width: int, p: float, seed: int, inputs: int, device: torch.device) -> dict:
    """Mean total-variation distances WS-E, WS-NWGM, E-NWGM for one random network."""
    net = random_relu_network(depth, width, p, seed).to(device)
    x = torch.randn(inputs, INPUTS, generator=seeded_generator(seed + 10_000, "cpu"), dtype=torch.float64).to(device)
    result = exact_ensemble(net, x, link="softmax")
    with torch.no_grad():
        ws = torch.softmax(weight_scaled(net)(x), -1)

    def tv(a: torch.Tensor, b: torch.Tensor) -> float:
        return float(0.5 * (a - b).abs().sum(-1).mean())

    return {"ws_vs_mean": tv(ws, result.mean), "ws_vs_nwgm": tv(ws, result.nwgm), "mean_vs_nwgm": tv(result.mean, result.nwgm),
            "units": result.units, "seconds": result.seconds}


@experiment(
    "ensemble-weight-scaling-gap",
    description="weight scaling vs exact arithmetic and geometric ensemble means in random ReLU nets (depth, width, p)",
    default_seeds=5,
)
def run(config: RunConfig, store: ResultStore) -> None:
    depths, widths, ps, inputs = GRIDS[config.scale]
    units = [(L, w, p, s) for L in depths for w in widths for p in ps for s in range(config.seeds)
             if L * w <= MAX_UNITS[config.scale]]
    for depth, width, p, seed in tqdm(units, disable=not config.progress, desc="ensemble gap"):
        key = f"depth={depth}/width={width}/p={p}/seed={seed}"
        if key in store:
            continue
        store.put(key, {"depth": depth, "width": width, "p": p, "seed": seed,
                        **gap_for(depth, width, p, 1000 * depth + 100 * width + seed, inputs, config.device)})
