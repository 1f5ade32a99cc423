"""Overfitting curves with and without dropout (the ``compare_dropout_effect`` demo, done properly).

The demo in the project's source notes trains two networks once, on 100 random 10-d points,
with full-batch Adam, and plots one training-mode loss curve each. Here: real images
(MNIST-5k), minibatch SGD, several seeds with paired initial weights and data order, and
every loss and error measured in evaluation mode on the full training and test sets after
each epoch, so the curves of both networks measure the same (deterministic) network.
"""

from __future__ import annotations

from dropout_theory.experiments.protocol import Unit, load_scale_data, run_units, unit_key
from dropout_theory.experiments.registry import RunConfig, experiment
from dropout_theory.experiments.store import ResultStore
from dropout_theory.training import RunSpec, TrainConfig, run_training, variant_sources

CONFIGS = {"standard": dict(variant="none", p_hidden=0.0, p_input=0.0), "dropout": dict(variant="bernoulli", p_hidden=0.5, p_input=0.2)}

# Constant learning rate and many epochs: the regime in which an unregularised net overfits.
SETTINGS = {
    "smoke": dict(hidden=(32,), train=TrainConfig(epochs=3, batch_size=64, lr=0.05)),
    "small": dict(hidden=(256, 256), train=TrainConfig(epochs=40, batch_size=100, lr=0.05, momentum=0.9)),
    "paper": dict(hidden=(1024, 1024, 1024), train=TrainConfig(epochs=200, batch_size=100, lr=0.05, momentum=0.9)),
}


def spec_for(scale: str, config: str) -> RunSpec:
    settings = SETTINGS[scale]
    return RunSpec(hidden=settings["hidden"], train=settings["train"], **CONFIGS[config])


@experiment("overfitting", description="train/test loss and error per epoch, with and without dropout")
def run(config: RunConfig, store: ResultStore) -> None:
    data = load_scale_data(config)
    store.metadata.update(data=data.name, variants=variant_sources())

    def unit(name: str, seed: int) -> Unit:
        def compute() -> dict:
            spec = spec_for(config.scale, name)
            _, history, _ = run_training(spec, data, seed, device=config.device, progress=config.progress, description=f"{name} seed {seed}", record_every=1)
            return {"spec": spec.to_dict(), "history": history.to_dict()}

        return Unit(unit_key(config=name, seed=seed), compute)

    run_units(store, [unit(name, seed) for seed in range(config.seeds) for name in CONFIGS], config, "overfitting")
