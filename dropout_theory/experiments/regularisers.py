"""Srivastava et al.'s MNIST table at small scale, other regularisers, and MC averaging.

One experiment, seven configurations of the same network and optimiser, paired by seed:

* ``standard`` (no regulariser), ``l2`` (weight decay), ``max-norm`` (constraint only),
* ``dropout`` (Bernoulli, input 0.2, hidden 0.5), ``dropout+max-norm``,
* ``gaussian`` (multiplicative Gaussian noise with the same mean and variance as dropout),
* ``dropconnect`` (weights masked at the places where dropout masks units).

For the two Bernoulli-dropout configurations the test error of the Monte Carlo average
over :math:`k` sampled networks is stored for each :math:`k` in :data:`MC_SAMPLES`, next to
the weight-scaled (deterministic) network's error (Srivastava et al. 2014, §7.5).

The paper's numbers (Table 2, full MNIST, 60,000 training images): standard net 1.60 %
(logistic, 2 x 800; Simard et al. 2003), dropout 1.25 % (ReLU, 3 x 1024), dropout + max-norm
1.06 % (ReLU, 3 x 1024). ``--scale paper`` trains the 3 x 1024 ReLU network on full MNIST;
its optimiser settings are this package's, not a copy of the paper's.
"""

from __future__ import annotations

from dropout_theory.experiments.protocol import Unit, load_scale_data, run_units, unit_key
from dropout_theory.experiments.registry import RunConfig, experiment
from dropout_theory.experiments.store import ResultStore
from dropout_theory.training import RunSpec, TrainConfig, mc_error_curve, run_training, variant_sources

PAPER_TABLE = {"standard": 1.60, "dropout": 1.25, "dropout+max-norm": 1.06}  # per cent; Srivastava et al. 2014, Table 2
MC_SAMPLES = (1, 2, 5, 10, 20, 50, 100)
WEIGHT_DECAY = 5e-4
MAX_NORM = 1.5

_NONE = dict(variant="none", p_hidden=0.0, p_input=0.0)
_DROPOUT = dict(variant="bernoulli", p_hidden=0.5, p_input=0.2)
CONFIGS: dict[str, tuple[dict, dict]] = {  # name -> (noise, changes to the optimiser)
    "standard": (_NONE, {}),
    "l2": (_NONE, {"weight_decay": WEIGHT_DECAY}),
    "max-norm": (_NONE, {"max_norm": MAX_NORM}),
    "dropout": (_DROPOUT, {}),
    "dropout+max-norm": (_DROPOUT, {"max_norm": MAX_NORM}),
    "gaussian": (dict(variant="gaussian", p_hidden=0.5, p_input=0.2), {}),
    "dropconnect": (dict(variant="dropconnect", p_hidden=0.5, p_input=0.0), {}),
}
MC_CONFIGS = ("dropout", "dropout+max-norm")

SETTINGS = {
    "smoke": dict(hidden=(32,), train=dict(epochs=2, batch_size=64, lr=0.05), mc=(1, 2, 5)),
    "small": dict(hidden=(256, 256), train=dict(epochs=30, batch_size=100, lr=0.05, lr_decay=0.95, momentum=0.9), mc=MC_SAMPLES),
    "paper": dict(
        hidden=(1024, 1024, 1024),
        train=dict(epochs=300, batch_size=100, lr=0.1, lr_decay=0.99, momentum=0.5, final_momentum=0.99, momentum_epochs=100),
        mc=MC_SAMPLES,
    ),
}


def spec_for(scale: str, config: str) -> RunSpec:
    noise, changes = CONFIGS[config]
    settings = SETTINGS[scale]
    return RunSpec(hidden=settings["hidden"], train=TrainConfig(**{**settings["train"], **changes}), **noise)


@experiment("regularisers", description="MNIST table ordering; L2, max-norm, dropout, Gaussian, DropConnect; MC vs weight scaling")
def run(config: RunConfig, store: ResultStore) -> None:
    data = load_scale_data(config)
    ks = SETTINGS[config.scale]["mc"]
    store.metadata.update(data=data.name, variants=variant_sources(), mc_samples=list(ks))

    def unit(name: str, seed: int) -> Unit:
        def compute() -> dict:
            spec = spec_for(config.scale, name)
            try:
                model, history, noise = run_training(spec, data, seed, device=config.device, progress=config.progress, description=f"{name} seed {seed}")
            except FloatingPointError as err:  # a diverged run is a result too: recorded, never retried silently
                return {"spec": spec.to_dict(), "diverged": str(err)}
            result = {
                "spec": spec.to_dict(),
                "train_error": history.train_error[-1],
                "test_error": history.test_error[-1],
                "train_loss": history.train_loss[-1],
                "test_loss": history.test_loss[-1],
            }
            if name in MC_CONFIGS:
                noise.manual_seed(1_000_003 + seed)
                test = data.to(config.device)
                result["mc_k"] = list(ks)
                result["mc_test_error"] = mc_error_curve(model, test.x_test, test.y_test, ks)
            return result

        return Unit(unit_key(config=name, seed=seed), compute)

    run_units(store, [unit(name, seed) for seed in range(config.seeds) for name in CONFIGS], config, "regularisers")
