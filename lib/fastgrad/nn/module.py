"""`Module`: the base class of every layer, and the protocols it satisfies.

A module is an object whose attributes hold its state. Nothing has to be registered:
`Module` finds what it owns by walking its instance attributes, in the order they were
assigned, and looking inside lists, tuples and dicts:

    a leaf Tensor with requires_grad=True   a parameter (`Parameter(x)` makes one)
    a Module                                a sub-module (a "child")
    a list / tuple / dict of the above      each element, named by index or key
    a name passed to `register_buffer`      a buffer: state that is saved but not
                                            trained (BatchNorm's running statistics)

Names are dotted paths, as in PyTorch: `layers.0.weight`, `heads.q.bias`. A parameter
or module reachable by two paths is reported once, under the first.

The seed's design gave a layer three "traits": Differentiable, Parameterized,
Serializable. In Python these are not base classes to inherit boilerplate from, they are
*protocols*: any object with the right methods satisfies them (`typing.Protocol`,
checked structurally). `Module` satisfies all three, and an optimizer or a weight saver
can ask only for the one it needs.
"""
from __future__ import annotations

from typing import Any, Iterator, NamedTuple, Protocol, runtime_checkable

import numpy as np

from ..autograd import Tensor


# ------------------------------------------------------------------ protocols
@runtime_checkable
class Differentiable(Protocol):
    """Something you call on tensors to get tensors, so gradients flow through it."""

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation, on tensors."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Calls forward."""


@runtime_checkable
class Parameterized(Protocol):
    """Something that owns trainable tensors: what an optimizer needs."""

    def parameters(self) -> Iterator[Tensor]:
        """The trainable tensors."""

    def named_parameters(self) -> Iterator[tuple[str, Tensor]]:
        """(name, tensor) for the trainable tensors."""

    def zero_grad(self) -> None:
        """Forget the gradients."""


@runtime_checkable
class Serializable(Protocol):
    """Something whose state is a flat dict name -> array and can be restored from one."""

    def state_dict(self) -> dict[str, np.ndarray]:
        """name -> a copy of each array of state."""

    def load_state_dict(self, state: dict, strict: bool = True) -> Any:
        """Restore the state from such a dict."""


# ------------------------------------------------------------------ parameter
class Parameter(Tensor):
    """A Tensor that requires grad: `Parameter(np.zeros(3))`. The data is copied; the
    dtype rule is `Tensor`'s (a NumPy float64 array stays float64, lists become float32).

    Any leaf Tensor with requires_grad=True stored on a module is a parameter; this class
    only saves typing `requires_grad=True` and makes the intent visible.
    """

    def __init__(self, data, dtype=None, requires_grad: bool = True):
        super().__init__(data, dtype=dtype, requires_grad=requires_grad)


def _is_parameter(value) -> bool:
    return isinstance(value, Tensor) and value.requires_grad and value.is_leaf


class StateDictError(ValueError):
    """`load_state_dict` refused a state dict; the message names every bad key."""


class LoadResult(NamedTuple):
    """What `load_state_dict(..., strict=False)` could not match."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _count(n: int) -> str:
    return f"{n:,} parameter" + ("" if n == 1 else "s")


# --------------------------------------------------------------------- module
class Module:
    """Base class of layers and models. Subclasses call `super().__init__()`, assign
    parameters and sub-modules as attributes and define `forward`; `module(x)` calls
    `forward(x)`.

        class MLP(Module):
            def __init__(self):
                super().__init__()
                self.layers = [Linear(64, 128, seed=0), Linear(128, 10, seed=1)]
            def forward(self, x):
                return self.layers[1](self.layers[0](x).relu())

    `training` is True after construction; `eval()` / `train()` set it on every module.
    """

    training: bool = True

    def __init__(self) -> None:
        self.training = True
        self._buffer_names: list[str] = []

    # ----------------------------------------------------------- forward
    def forward(self, *args, **kwargs):
        """The computation; every subclass defines it."""
        raise NotImplementedError(f"{type(self).__name__} has no forward(); define forward(self, ...)")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------ buffers
    def register_buffer(self, name: str, value) -> None:
        """Keep `value` (a NumPy array, copied) as the attribute `name` and in
        `state_dict()`, but not in `parameters()`: running statistics, counters."""
        if "_buffer_names" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}.register_buffer({name!r}) before Module.__init__(): "
                               "call super().__init__() first")
        value = np.array(value.data if isinstance(value, Tensor) else value)
        setattr(self, name, value)
        if name not in self._buffer_names:
            self._buffer_names.append(name)

    # ------------------------------------------------------------ walking
    def _direct(self) -> Iterator[tuple[str, Any]]:
        """(name, value) for every parameter and sub-module held directly by this module,
        looking inside lists, tuples and dicts (recursively), in attribute order."""
        def walk(name, value):
            if isinstance(value, Module) or _is_parameter(value):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, v in enumerate(value):
                    yield from walk(f"{name}.{i}", v)
            elif isinstance(value, dict):
                for k, v in value.items():
                    yield from walk(f"{name}.{k}", v)

        for name, value in vars(self).items():
            if name != "_buffer_names":
                yield from walk(name, value)

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        """(name, module) for the modules held directly by this one (each once)."""
        seen = set()
        for name, value in self._direct():
            if isinstance(value, Module) and id(value) not in seen:
                seen.add(id(value))
                yield name, value

    def children(self) -> Iterator["Module"]:
        """The modules held directly by this one."""
        for _, m in self.named_children():
            yield m

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        """(dotted name, module) for this module (name `prefix`, "" by default) and every
        module below it, parents before children, each module once."""
        seen: set[int] = set()

        def visit(module, name):
            if id(module) in seen:
                return
            seen.add(id(module))
            yield name, module
            for child_name, child in module.named_children():
                yield from visit(child, f"{name}.{child_name}" if name else child_name)

        yield from visit(self, prefix)

    def modules(self) -> Iterator["Module"]:
        """This module and every module below it."""
        for _, m in self.named_modules():
            yield m

    def named_parameters(self) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, parameter) for every parameter, as PyTorch orders them: each
        module's own parameters (attribute order), modules in `named_modules` order.
        A parameter shared by two modules appears once, under its first name."""
        seen: set[int] = set()
        for prefix, module in self.named_modules():
            for name, value in module._direct():
                if not isinstance(value, Module) and id(value) not in seen:
                    seen.add(id(value))
                    yield (f"{prefix}.{name}" if prefix else name), value

    def parameters(self) -> Iterator[Tensor]:
        """Every parameter (each once): what an optimizer updates."""
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self) -> Iterator[tuple[str, np.ndarray]]:
        """(dotted name, array) for every registered buffer."""
        for prefix, module in self.named_modules():
            for name in module.__dict__.get("_buffer_names", ()):
                yield (f"{prefix}.{name}" if prefix else name), getattr(module, name)

    def num_parameters(self) -> int:
        """The number of trainable numbers (the sum of the parameters' sizes)."""
        return sum(p.size for p in self.parameters())

    # --------------------------------------------------------- train/eval
    def train(self, mode: bool = True) -> "Module":
        """Set `training = mode` on this module and every module below it; returns self."""
        for m in self.modules():
            m.training = bool(mode)
        return self

    def eval(self) -> "Module":
        """`train(False)`: Dropout becomes the identity, BatchNorm uses running statistics."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (`grad = None`)."""
        for p in self.parameters():
            p.grad = None

    # ------------------------------------------------------------ state
    def _state_entries(self) -> dict[str, np.ndarray]:
        """name -> the live array (not a copy) of every parameter and buffer, in PyTorch's
        order: module by module, its parameters then its buffers."""
        entries: dict[str, np.ndarray] = {}
        seen: set[int] = set()
        for prefix, module in self.named_modules():
            dotted = (lambda name: f"{prefix}.{name}") if prefix else (lambda name: name)
            for name, value in module._direct():
                if not isinstance(value, Module) and id(value) not in seen:
                    seen.add(id(value))
                    entries[dotted(name)] = value.data
            for name in module.__dict__.get("_buffer_names", ()):
                entries[dotted(name)] = getattr(module, name)
        return entries

    def state_dict(self) -> dict[str, np.ndarray]:
        """name -> a copy (NumPy array) of every parameter and buffer. Changing the
        copies does not change the module; `load_state_dict` puts them back."""
        return {name: np.array(a) for name, a in self._state_entries().items()}

    def load_state_dict(self, state: dict, strict: bool = True) -> LoadResult:
        """Copy arrays from `state` (name -> array or Tensor) into the parameters and
        buffers, in place (a parameter stays the same object, views into it stay valid).

        strict=True: a missing or an unexpected key is an error. Whatever `strict`, a key
        whose shape or dtype differs from the module's is an error naming the key and
        both shapes and dtypes. Everything is checked before anything is copied, so a
        refused state dict leaves the module unchanged. Returns the missing and
        unexpected keys (both empty when strict).
        """
        entries = self._state_entries()
        missing = [k for k in entries if k not in state]
        unexpected = [k for k in state if k not in entries]
        problems = []
        if strict and missing:
            problems.append("missing key(s): " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected key(s): " + ", ".join(map(str, unexpected)))
        incoming = {}
        for name, target in entries.items():
            if name not in state:
                continue
            value = state[name]
            value = np.asarray(value.data if isinstance(value, Tensor) else value)
            if value.shape != target.shape or value.dtype != target.dtype:
                problems.append(f"{name}: the state dict has shape {value.shape} dtype {value.dtype}, "
                                f"the module has shape {target.shape} dtype {target.dtype}")
            incoming[name] = value
        if problems:
            raise StateDictError(f"{type(self).__name__}.load_state_dict refused the state dict (nothing "
                                 "was loaded):\n  " + "\n  ".join(problems))
        for name, value in incoming.items():
            entries[name][...] = value
        return LoadResult(missing, unexpected)

    # ------------------------------------------------------------- repr
    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's repr (its settings)."""
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, child in self.named_children():
            text = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {text}")
        n = self.num_parameters()
        count = f"  # {_count(n)}" if n else ""
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")" + count
        return head + count + "\n" + "\n".join(lines) + "\n)"
