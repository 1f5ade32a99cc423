"""The training engine of the experiments: models with pluggable dropout, SGD, max-norm, MC evaluation."""

from dropout_theory.training.evaluation import mc_error_curve
from dropout_theory.training.loop import History, TrainConfig, evaluate, evaluation_mode, train
from dropout_theory.training.models import apply_max_norm_, build_mlp, constrained_layers, init_linear_
from dropout_theory.training.runs import RunSpec, run_training
from dropout_theory.training.variants import Variant, get_variant, variant_sources, variants

__all__ = [
    "History",
    "RunSpec",
    "TrainConfig",
    "Variant",
    "apply_max_norm_",
    "build_mlp",
    "constrained_layers",
    "evaluate",
    "evaluation_mode",
    "get_variant",
    "init_linear_",
    "mc_error_curve",
    "run_training",
    "train",
    "variant_sources",
    "variants",
]
