"""The gain from dropout as the training set grows (Srivastava et al. 2014, §7.4, Fig. 10).

For each training-set size (class-balanced subsets of the training part, one per seed), a
network with dropout and one without are trained for the same number of SGD steps, so a
small set is seen for many epochs; the test set is always the same.
"""

from __future__ import annotations

import math

from dropout_theory.experiments.protocol import Unit, load_scale_data, run_units, unit_key
from dropout_theory.experiments.registry import RunConfig, experiment
from dropout_theory.experiments.store import ResultStore
from dropout_theory.training import RunSpec, TrainConfig, run_training, variant_sources

CONFIGS = {"standard": dict(variant="none", p_hidden=0.0, p_input=0.0), "dropout": dict(variant="bernoulli", p_hidden=0.5, p_input=0.2)}
# The paper's sizes were 100, 500, 1K, 5K, 10K and 50K images of MNIST.
PAPER_SIZES = (100, 500, 1_000, 5_000, 10_000, 50_000)

SETTINGS = {
    "smoke": dict(hidden=(32,), sizes=(50, 200), steps=20, batch_size=50, lr=0.05),
    "small": dict(hidden=(256, 256), sizes=(100, 300, 1_000, 4_000), steps=800, batch_size=100, lr=0.05),
    "paper": dict(hidden=(1024, 1024, 1024), sizes=PAPER_SIZES, steps=50_000, batch_size=100, lr=0.05),
}


def spec_for(scale: str, config: str, size: int) -> RunSpec:
    s = SETTINGS[scale]
    steps_per_epoch = math.ceil(size / s["batch_size"])
    epochs = max(1, round(s["steps"] / steps_per_epoch))
    return RunSpec(hidden=s["hidden"], train=TrainConfig(epochs=epochs, batch_size=s["batch_size"], lr=s["lr"], momentum=0.9), **CONFIGS[config])


@experiment("dataset-size", description="test error with and without dropout as the training set grows")
def run(config: RunConfig, store: ResultStore) -> None:
    data = load_scale_data(config)
    sizes = [n for n in SETTINGS[config.scale]["sizes"] if n <= len(data.y_train)]
    store.metadata.update(data=data.name, variants=variant_sources(), sizes=sizes)

    def unit(name: str, size: int, seed: int) -> Unit:
        def compute() -> dict:
            spec = spec_for(config.scale, name, size)
            subset = data.subset(size, seed)
            try:
                _, history, _ = run_training(spec, subset, seed, device=config.device, progress=config.progress, description=f"{name} n={size} seed {seed}")
            except FloatingPointError as err:  # recorded as a result, never retried silently
                return {"spec": spec.to_dict(), "size": size, "diverged": str(err)}
            return {"spec": spec.to_dict(), "size": size, "train_error": history.train_error[-1], "test_error": history.test_error[-1]}

        return Unit(unit_key(config=name, size=size, seed=seed), compute)

    units = [unit(name, size, seed) for seed in range(config.seeds) for size in sizes for name in CONFIGS]
    run_units(store, units, config, "dataset-size")
