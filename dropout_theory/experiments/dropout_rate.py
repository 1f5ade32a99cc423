"""The effect of the keep probability with the width fixed and with the expected kept width fixed.

Srivastava et al. (2014, §7.3, Fig. 9) vary the *keep* probability (their p; here
:math:`q = 1 - p`) of the hidden units: (a) with the number of hidden units :math:`n` fixed,
and (b) with :math:`q n` fixed, so the expected number of units kept per step is the same
for every :math:`q` (small :math:`q` then means a wide network). No input dropout here. With
:math:`q = 0.2` the kept units are scaled by 5 and plain SGD at learning rate 0.1 diverged, so
this sweep uses a smaller learning rate and a loose max-norm constraint (:math:`c = 3`) at
every :math:`q`, including :math:`q = 1`.
"""

from __future__ import annotations

from dropout_theory.experiments.protocol import Unit, load_scale_data, run_units, unit_key
from dropout_theory.experiments.registry import RunConfig, experiment
from dropout_theory.experiments.store import ResultStore
from dropout_theory.training import RunSpec, TrainConfig, run_training, variant_sources

SETTINGS = {
    "smoke": dict(keeps=(0.5, 1.0), width=32, kept_width=16, layers=1, train=dict(epochs=2, batch_size=64, lr=0.05)),
    "small": dict(keeps=(0.2, 0.4, 0.6, 0.8, 1.0), width=256, kept_width=64, layers=2, train=dict(epochs=25, batch_size=100, lr=0.03, lr_decay=0.95, momentum=0.9, max_norm=3.0)),
    "paper": dict(keeps=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0), width=2048, kept_width=256, layers=3, train=dict(epochs=200, batch_size=100, lr=0.03, lr_decay=0.99, momentum=0.9, max_norm=3.0)),
}
MODES = ("n-fixed", "qn-fixed")


def spec_for(scale: str, mode: str, keep: float) -> RunSpec:
    s = SETTINGS[scale]
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    width = s["width"] if mode == "n-fixed" else round(s["kept_width"] / keep)
    variant = "none" if keep == 1.0 else "bernoulli"
    return RunSpec(hidden=(width,) * s["layers"], variant=variant, p_hidden=round(1.0 - keep, 10), p_input=0.0, train=TrainConfig(**s["train"]))


@experiment("dropout-rate", description="test error against the keep probability, width n fixed or q*n fixed")
def run(config: RunConfig, store: ResultStore) -> None:
    data = load_scale_data(config)
    keeps = SETTINGS[config.scale]["keeps"]
    store.metadata.update(data=data.name, variants=variant_sources(), keeps=list(keeps))

    def unit(mode: str, keep: float, seed: int) -> Unit:
        def compute() -> dict:
            spec = spec_for(config.scale, mode, keep)
            try:
                _, history, _ = run_training(spec, data, seed, device=config.device, progress=config.progress, description=f"{mode} q={keep} seed {seed}")
            except FloatingPointError as err:  # recorded as a result, never retried silently
                return {"spec": spec.to_dict(), "keep": keep, "width": spec.hidden[0], "diverged": str(err)}
            return {"spec": spec.to_dict(), "keep": keep, "width": spec.hidden[0], "train_error": history.train_error[-1], "test_error": history.test_error[-1]}

        return Unit(unit_key(mode=mode, keep=keep, seed=seed), compute)

    units = [unit(mode, keep, seed) for seed in range(config.seeds) for mode in MODES for keep in keeps]
    run_units(store, units, config, "dropout-rate")
