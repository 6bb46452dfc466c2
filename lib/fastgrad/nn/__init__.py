"""fastgrad.nn: modules and layers (chapter 06).

    Module, Parameter          the base class (parameters found by walking attributes)
                               and a Tensor that requires grad     (nn/module.py)
    Differentiable, Parameterized, Serializable
                               the protocols a Module satisfies     (nn/module.py)
    Linear, ReLU, GELU, Flatten, Dropout, Sequential               (nn/layers.py)
    LayerNorm, BatchNorm1d, BatchNorm2d  composed from existing ops (nn/norm.py)
    Conv2d, MaxPool2d, AvgPool2d, Embedding, CrossEntropyLoss
                               one op each, via fastgrad.functional (nn/conv.py)

Every layer is a thin module over ops of the table `fastgrad.ops.OPS`, so its
gradient comes from autograd and the ops' gradient-checked backward rules.

    >>> import numpy as np
    >>> from fastgrad import nn
    >>> model = nn.Sequential(nn.Linear(4, 3, seed=0), nn.ReLU())
    >>> [name for name, _ in model.named_parameters()]
    ['0.weight', '0.bias']
"""
from .module import (Differentiable, LoadResult, Module, Parameter, Parameterized, Serializable,
                     StateDictError)
from .layers import GELU, Dropout, Flatten, Linear, ReLU, Sequential
from .norm import BatchNorm1d, BatchNorm2d, LayerNorm
from .conv import AvgPool2d, Conv2d, CrossEntropyLoss, Embedding, MaxPool2d
from .utils import clip_grad_norm_  # noqa: F401  (chapter 07)

__all__ = ["Module", "Parameter", "Differentiable", "Parameterized", "Serializable", "StateDictError",
           "LoadResult", "Linear", "ReLU", "GELU", "Flatten", "Dropout", "Sequential", "LayerNorm",
           "BatchNorm1d", "BatchNorm2d", "Conv2d", "MaxPool2d", "AvgPool2d", "Embedding",
           "CrossEntropyLoss", "clip_grad_norm_"]
