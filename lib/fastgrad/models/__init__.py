"""fastgrad.models: small complete models built from `fastgrad.nn` (chapter 06 on).

    LeNet, standardize, train_epoch, evaluate, fit
                                     a LeNet-style CNN for the 8x8 digits and
                                     its training loop          (models/lenet.py)
"""
from .lenet import LeNet, evaluate, fit, standardize, train_epoch
from . import gpt  # noqa: F401  (chapter 07: GPT, KVCache, generate; fastgrad.models.gpt)

__all__ = ["LeNet", "standardize", "train_epoch", "evaluate", "fit"]
