"""Data for the experiments: loaders, the IDX reader, splits and standardisation."""

from dropout_theory.data.datasets import DATASETS, DataSplit, load_dataset, load_digits, load_mnist, load_mnist5k, read_mnist
from dropout_theory.data.idx import IdxFormatError, parse_idx, read_idx, write_idx
from dropout_theory.data.preprocessing import Standardizer, stratified_split, stratified_subset

__all__ = [
    "DATASETS",
    "DataSplit",
    "IdxFormatError",
    "Standardizer",
    "load_dataset",
    "load_digits",
    "load_mnist",
    "load_mnist5k",
    "parse_idx",
    "read_idx",
    "read_mnist",
    "stratified_split",
    "stratified_subset",
    "write_idx",
]
