"""The networks the benchmarks time, each built twice with the same weights: typedtensor and PyTorch CPU.

``build(name, batch, torch)`` gives a :class:`Pair`: the typedtensor model with its training step and
inference batch, and (when ``torch`` is given) the same network in PyTorch holding a copy of the
model's weights, with its own step and inference. Networks (``NETWORKS``):

* ``digits``: ``typedtensor.examples.digits.DigitsNet`` on (B, 1, 8, 8) (bench.train's network);
* ``resnet``: a small ResNet on (B, 3, 32, 32): stem conv 3->16 + BatchNorm + ReLU, a basic block of 16,
  a stride-2 block 16->32 with a 1x1 stride-2 projection shortcut, global average pooling, Linear(32, 10);
  19,994 parameters;
* ``vgg``: conv-bn-relu 3->16, 16->16, max pool 2, conv-bn-relu 16->32, 32->32, max pool 2, Flatten,
  Linear(2048, 10) on (B, 3, 32, 32);
* ``sort``: the sort demo's Transformer (``typedtensor.examples.sort.SortNet``) on (B, 19) tokens, its
  PyTorch twin from bench.transformer_step.

A training step is: zero the gradients, forward in training mode, the loss (cross-entropy; the sort
demo's: of the 10 answer positions), backward, the optimizer update (AdamW lr 1e-3, weight decay 1e-4;
the sort demo's Adam lr 1e-3). Inference is one forward of the batch in inference mode (PyTorch: eval
mode under ``no_grad``). The PyTorch modules are named as the typedtensor attributes (PyTorch's names
for the parameters: ``weight`` for a BatchNorm's ``scale``), so :func:`copy_weights` copies every
parameter and buffer by name, and a missing or extra name is an error.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar
from typing import Literal as L

import numpy as np
from numpy.typing import NDArray

import typedtensor as tt
from typedtensor import NoneTape, OwnedTape, Tensor, nn
from typedtensor.examples import sort
from typedtensor.examples.digits import DigitsNet
from typedtensor.nn import _walk

__all__ = ["NETWORKS", "TOLERANCES", "Pair", "build", "copy_weights", "parity"]

NETWORKS = ("digits", "resnet", "vgg", "sort")
#: What :func:`parity` may find before the two sides count as different networks. Gradients get more:
#: float32 rounding may put an activation that is ~0 on the other side of a ReLU, and the gradient of
#: everything upstream then differs by that element's share (the small ResNet at batch 64: 3.3e-3 from
#: its stride-2 block down, the same with either BatchNorm backend); a wrong layer or weight gives O(1).
TOLERANCES = {"inference": 1e-4, "loss": 1e-4, "gradients": 1e-2}

B = TypeVar("B", bound=int)
C = TypeVar("C", bound=int)
C2 = TypeVar("C2", bound=int)
H = TypeVar("H", bound=int)
W = TypeVar("W", bound=int)
F32 = np.float32
Maps = Tensor[tuple[B, C, H, W], F32, NoneTape]
TracedMaps = Tensor[tuple[B, C, H, W], F32, OwnedTape]
Image32 = Tensor[tuple[B, L[3], L[32], L[32]], F32, NoneTape]
TracedImage32 = Tensor[tuple[B, L[3], L[32], L[32]], F32, OwnedTape]
Logits = Tensor[tuple[B, L[10]], F32, NoneTape]
TracedLogits = Tensor[tuple[B, L[10]], F32, OwnedTape]


# ---- the typedtensor networks (digits and sort come from the examples) ----------------------------------


class ConvBNReLU(nn.Module, Generic[C, C2]):
    """A 3x3 convolution (padding 1, no bias), BatchNorm and ReLU."""

    dim_attrs: ClassVar[Mapping[str, str]] = {"C": "in_channels", "C2": "out_channels"}

    def __init__(self, in_channels: C, out_channels: C2) -> None:
        self.in_channels, self.out_channels = in_channels, out_channels
        self.conv = nn.Conv2D[C, C2](in_channels, out_channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2D[C2](out_channels)
        self.relu = nn.ReLU()

    def forward(self, x: Maps[B, C, H, W]) -> Maps[B, C2, H, W]:
        return self.relu.forward(self.bn.forward(self.conv.forward(x)))

    def forward_mut(self, x: TracedMaps[B, C, H, W]) -> TracedMaps[B, C2, H, W]:
        return self.relu.forward_mut(self.bn.forward_mut(self.conv.forward_mut(x)))


class BasicBlock(nn.Module, Generic[C]):
    """relu(x + bn(conv(relu(bn(conv(x)))))), 3x3 convolutions of C channels."""

    dim_attrs: ClassVar[Mapping[str, str]] = {"C": "channels"}

    def __init__(self, channels: C) -> None:
        self.channels = channels
        self.conv1 = nn.Conv2D[C, C](channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2D[C](channels)
        self.conv2 = nn.Conv2D[C, C](channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2D[C](channels)
        self.relu = nn.ReLU()

    def forward(self, x: Maps[B, C, H, W]) -> Maps[B, C, H, W]:
        h = self.relu.forward(self.bn1.forward(self.conv1.forward(x)))
        return self.relu.forward(self.bn2.forward(self.conv2.forward(h)) + x)

    def forward_mut(self, x: TracedMaps[B, C, H, W]) -> TracedMaps[B, C, H, W]:
        h = self.relu.forward_mut(self.bn1.forward_mut(self.conv1.forward_mut(x)))
        return self.relu.forward_mut(self.bn2.forward_mut(self.conv2.forward_mut(h)) + x)


class DownBlock(nn.Module, Generic[C, C2]):
    """The stride-2 block: 3x3 stride-2 and 3x3 convolutions, a 1x1 stride-2 projection shortcut with BatchNorm."""

    dim_attrs: ClassVar[Mapping[str, str]] = {"C": "in_channels", "C2": "out_channels"}

    def __init__(self, in_channels: C, out_channels: C2) -> None:
        self.in_channels, self.out_channels = in_channels, out_channels
        self.conv1 = nn.Conv2D[C, C2](in_channels, out_channels, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2D[C2](out_channels)
        self.conv2 = nn.Conv2D[C2, C2](out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2D[C2](out_channels)
        self.shortcut = nn.Conv2D[C, C2](in_channels, out_channels, 1, stride=2, bias=False)
        self.bn_shortcut = nn.BatchNorm2D[C2](out_channels)
        self.relu = nn.ReLU()

    def forward(self, x: Maps[B, C, H, W]) -> Maps[B, C2, int, int]:
        h = self.relu.forward(self.bn1.forward(self.conv1.forward(x)))
        h = self.bn2.forward(self.conv2.forward(h))
        return self.relu.forward(h + self.bn_shortcut.forward(self.shortcut.forward(x)))

    def forward_mut(self, x: TracedMaps[B, C, H, W]) -> TracedMaps[B, C2, int, int]:
        h = self.relu.forward_mut(self.bn1.forward_mut(self.conv1.forward_mut(x)))
        h = self.bn2.forward_mut(self.conv2.forward_mut(h))
        return self.relu.forward_mut(h + self.bn_shortcut.forward_mut(self.shortcut.forward_mut(x)))


class SmallResNet(nn.Module):
    """Stem 3->16, a basic block of 16, a stride-2 block 16->32, global average pooling, Linear(32, 10)."""

    def __init__(self, seed: int = 0) -> None:
        self.stem = ConvBNReLU[L[3], L[16]](3, 16)
        self.block = BasicBlock[L[16]](16)
        self.down = DownBlock[L[16], L[32]](16, 32)
        self.gap = nn.GlobalAvgPool2D()
        self.fc = nn.Linear[L[32], L[10]](32, 10)
        self.reset_params(seed)

    def forward(self, x: Image32[B]) -> Logits[B]:
        h = self.down.forward(self.block.forward(self.stem.forward(x)))
        return self.fc.forward(self.gap.forward(h))

    def forward_mut(self, x: TracedImage32[B]) -> TracedLogits[B]:
        h = self.down.forward_mut(self.block.forward_mut(self.stem.forward_mut(x)))
        return self.fc.forward_mut(self.gap.forward_mut(h))


class VGGStack(nn.Module):
    """conv-bn-relu 3->16, 16->16, pool, 16->32, 32->32, pool (32 -> 16 -> 8), Flatten, Linear(2048, 10)."""

    def __init__(self, seed: int = 0) -> None:
        self.unit1 = ConvBNReLU[L[3], L[16]](3, 16)
        self.unit2 = ConvBNReLU[L[16], L[16]](16, 16)
        self.unit3 = ConvBNReLU[L[16], L[32]](16, 32)
        self.unit4 = ConvBNReLU[L[32], L[32]](32, 32)
        self.pool = nn.MaxPool2D(2)
        self.flat = nn.Flatten()
        self.fc = nn.Linear[int, L[10]](32 * 8 * 8, 10)
        self.reset_params(seed)

    def forward(self, x: Image32[B]) -> Logits[B]:
        h = self.pool.forward(self.unit2.forward(self.unit1.forward(x)))
        h2 = self.pool.forward(self.unit4.forward(self.unit3.forward(h)))
        return self.fc.forward(self.flat.forward(h2))

    def forward_mut(self, x: TracedImage32[B]) -> TracedLogits[B]:
        h = self.pool.forward_mut(self.unit2.forward_mut(self.unit1.forward_mut(x)))
        h2 = self.pool.forward_mut(self.unit4.forward_mut(self.unit3.forward_mut(h)))
        return self.fc.forward_mut(self.flat.forward_mut(h2))


# ---- the same networks in PyTorch (modules named as the typedtensor attributes) ------------------------


def _conv_bn(tn: Any, cin: int, cout: int, kernel: int = 3, stride: int = 1) -> tuple[Any, Any]:
    return tn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False), tn.BatchNorm2d(cout)


def torch_digits(torch: Any) -> tuple[Any, Callable[[Any], Any]]:
    """DigitsNet in PyTorch: (module tree, forward)."""
    tn, f = torch.nn, torch.nn.functional
    layers: dict[str, Any] = {}
    for i, (cin, cout) in enumerate(((1, 16), (16, 32), (32, 64)), 1):
        layers[f"conv{i}"], layers[f"bn{i}"] = _conv_bn(tn, cin, cout)
    net = tn.ModuleDict({**layers, "drop": tn.Dropout(0.2), "fc": tn.Linear(64, 10)})

    def forward(x: Any) -> Any:
        h = f.relu(net.bn2(net.conv2(f.relu(net.bn1(net.conv1(x))))))
        h = f.relu(net.bn3(net.conv3(f.max_pool2d(h, 2))))
        return net.fc(net.drop(h.mean((2, 3))))

    return net, forward


def _torch_unit(tn: Any, cin: int, cout: int) -> Any:
    conv, bn = _conv_bn(tn, cin, cout)
    return tn.ModuleDict({"conv": conv, "bn": bn})


def torch_resnet(torch: Any) -> tuple[Any, Callable[[Any], Any]]:
    """SmallResNet in PyTorch."""
    tn, relu = torch.nn, torch.nn.functional.relu
    block: dict[str, Any] = {}
    block["conv1"], block["bn1"] = _conv_bn(tn, 16, 16)
    block["conv2"], block["bn2"] = _conv_bn(tn, 16, 16)
    down: dict[str, Any] = {}
    down["conv1"], down["bn1"] = _conv_bn(tn, 16, 32, stride=2)
    down["conv2"], down["bn2"] = _conv_bn(tn, 32, 32)
    down["shortcut"], down["bn_shortcut"] = _conv_bn(tn, 16, 32, kernel=1, stride=2)
    net = tn.ModuleDict(
        {
            "stem": _torch_unit(tn, 3, 16),
            "block": tn.ModuleDict(block),
            "down": tn.ModuleDict(down),
            "fc": tn.Linear(32, 10),
        }
    )

    def forward(x: Any) -> Any:
        b, d = net.block, net.down
        h = relu(net.stem.bn(net.stem.conv(x)))
        h = relu(b.bn2(b.conv2(relu(b.bn1(b.conv1(h))))) + h)
        h = relu(d.bn2(d.conv2(relu(d.bn1(d.conv1(h))))) + d.bn_shortcut(d.shortcut(h)))
        return net.fc(h.mean((2, 3)))

    return net, forward


def torch_vgg(torch: Any) -> tuple[Any, Callable[[Any], Any]]:
    """VGGStack in PyTorch."""
    tn, f = torch.nn, torch.nn.functional
    sizes = ((3, 16), (16, 16), (16, 32), (32, 32))
    net = tn.ModuleDict({f"unit{i}": _torch_unit(tn, cin, cout) for i, (cin, cout) in enumerate(sizes, 1)})
    net["fc"] = tn.Linear(32 * 8 * 8, 10)

    def unit(name: str, x: Any) -> Any:
        u = net[name]
        return f.relu(u.bn(u.conv(x)))

    def forward(x: Any) -> Any:
        h = f.max_pool2d(unit("unit2", unit("unit1", x)), 2)
        h = f.max_pool2d(unit("unit4", unit("unit3", h)), 2)
        return net.fc(h.flatten(1))

    return net, forward


def torch_sort(torch: Any, model: sort.SortNet[Any], rows: NDArray[np.int64]) -> tuple[Any, Callable[[Any], Any]]:
    """SortNet in PyTorch, as bench.transformer_step builds it (it copies the weights itself; copied again here)."""
    from bench import transformer_step  # torch-side code, imported only when torch is there

    other = transformer_step.theirs(torch, model, rows, rows)
    return other["net"], other["forward"]


def copy_weights(torch: Any, model: nn.Module, net: Any) -> None:
    """Copy every parameter and buffer of ``model`` into ``net`` by PyTorch's name; the names must match exactly."""
    ours = {name: entry.value for entry in _walk.state(model, "torch") for name in entry.names}
    theirs: dict[str, Any] = net.state_dict()
    if set(ours) != set(theirs):
        raise KeyError(
            f"names differ: only typedtensor {set(ours) - set(theirs)}, only torch {set(theirs) - set(ours)}"
        )
    with torch.no_grad():
        for name, value in theirs.items():
            source = ours[name]
            data = np.array(source) if isinstance(source, int) else np.array(source.numpy())  # writable copies
            value.copy_(torch.from_numpy(data))


# ---- a pair of the same network ------------------------------------------------------------------------


@dataclass
class Pair:
    """One network at one batch size, in typedtensor and (if torch was given) PyTorch."""

    name: str
    batch: int
    model: nn.Module
    grads: tt.Gradients
    #: typedtensor: one training step (returns the loss tensor), one inference batch (returns the logits),
    #: and the step without its optimizer update (zero the gradients, forward, loss, backward: the loss).
    step: Callable[[], Tensor[Any, Any, Any]]
    infer: Callable[[], Tensor[Any, Any, Any]]
    backward: Callable[[], Tensor[Any, Any, Any]]
    torch_net: Any = None
    torch_step: Callable[[], Any] | None = None
    torch_infer: Callable[[], Any] | None = None
    torch_backward: Callable[[], Any] | None = None


@dataclass(frozen=True)
class _Spec:
    model: nn.Module
    inputs: Tensor[Any, Any, NoneTape]
    loss: Callable[[Tensor[Any, F32, OwnedTape]], Tensor[tuple[()], F32, OwnedTape]]
    optimizer: Callable[[nn.Module], tt.optim.Optimizer[Any]]
    inputs_np: NDArray[Any]
    torch_net: Callable[[Any], tuple[Any, Callable[[Any], Any]]]
    torch_loss: Callable[[Any, Any], Any]
    torch_optimizer: Callable[[Any, Any], Any]


def _adamw(model: nn.Module) -> tt.optim.Optimizer[Any]:
    return tt.optim.AdamW(model, lr=1e-3, weight_decay=1e-4)


def _torch_adamw(torch: Any, net: Any) -> Any:
    return torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)


def _classifier(
    model: nn.Module, shape: tuple[int, ...], build_torch: Callable[[Any], tuple[Any, Callable[[Any], Any]]], seed: int
) -> _Spec:
    rng = np.random.default_rng(seed)
    x_np = rng.standard_normal(shape).astype(np.float32)
    y_np = rng.integers(0, 10, shape[0])
    labels: Tensor[tuple[int], np.int64, NoneTape] = tt.tensor(y_np, np.int64).realize((shape[0],))

    def torch_loss(torch: Any, logits: Any) -> Any:
        return torch.nn.functional.cross_entropy(logits, torch.as_tensor(y_np))

    return _Spec(
        model,
        tt.tensor(x_np),
        lambda logits: nn.cross_entropy(logits, labels),
        _adamw,
        x_np,
        build_torch,
        torch_loss,
        _torch_adamw,
    )


def _sort(batch: int, seed: int) -> _Spec:
    rows = sort.problems(np.random.default_rng(seed), batch)
    model = sort.build(seed)
    answers = rows[:, sort.LENGTH :]

    def torch_loss(torch: Any, logits: Any) -> Any:
        scored = logits[:, sort.LENGTH - 1 :].reshape(-1, sort.VOCAB)
        return torch.nn.functional.cross_entropy(scored, torch.as_tensor(answers).reshape(-1))

    return _Spec(
        model,
        sort.token_ids(rows[:, :-1]),
        lambda logits: sort.answer_loss(logits, answers),
        lambda m: tt.optim.Adam(m, lr=1e-3),
        np.ascontiguousarray(rows[:, :-1]),
        lambda torch: torch_sort(torch, model, rows),
        torch_loss,
        lambda torch, net: torch.optim.Adam(net.parameters(), lr=1e-3),
    )


def _spec(name: str, batch: int, seed: int) -> _Spec:
    if name == "digits":
        return _classifier(DigitsNet(seed), (batch, 1, 8, 8), torch_digits, seed)
    if name == "resnet":
        return _classifier(SmallResNet(seed), (batch, 3, 32, 32), torch_resnet, seed)
    if name == "vgg":
        return _classifier(VGGStack(seed), (batch, 3, 32, 32), torch_vgg, seed)
    if name == "sort":
        return _sort(batch, seed)
    raise ValueError(f"unknown network {name!r}: one of {', '.join(NETWORKS)}")


def build(name: str, batch: int, torch: Any | None = None, seed: int = 0) -> Pair:
    """Network ``name`` at ``batch``: the typedtensor side, and the PyTorch side with the same weights if ``torch``."""
    spec = _spec(name, batch, seed)
    model, x = spec.model, spec.inputs
    grads = model.alloc_grads()
    opt = spec.optimizer(model)
    forward_mut: Callable[[Tensor[Any, Any, OwnedTape]], Tensor[Any, F32, OwnedTape]] = getattr(model, "forward_mut")  # noqa: B009
    forward: Callable[[Tensor[Any, Any, NoneTape]], Tensor[Any, F32, NoneTape]] = getattr(model, "forward")  # noqa: B009

    def backward() -> Tensor[Any, Any, Any]:
        model.zero_grads(grads)
        loss = spec.loss(forward_mut(x.trace(grads)))
        loss.backward()
        return loss

    def step() -> Tensor[Any, Any, Any]:
        loss = backward()
        opt.update(model, grads)
        return loss

    def infer() -> Tensor[Any, Any, Any]:
        return forward(x)

    pair = Pair(name, batch, model, grads, step, infer, backward)
    if torch is None:
        return pair
    net, torch_forward = spec.torch_net(torch)
    copy_weights(torch, model, net)
    torch_opt = spec.torch_optimizer(torch, net)
    xt = torch.as_tensor(spec.inputs_np)

    def torch_backward() -> Any:
        net.train()
        torch_opt.zero_grad()
        loss = spec.torch_loss(torch, torch_forward(xt))
        loss.backward()
        return loss

    def torch_step() -> Any:
        loss = torch_backward()
        torch_opt.step()
        return loss

    def torch_infer() -> Any:
        net.eval()
        with torch.no_grad():
            return torch_forward(xt)

    pair.torch_net, pair.torch_step, pair.torch_infer, pair.torch_backward = (
        net,
        torch_step,
        torch_infer,
        torch_backward,
    )
    return pair


# ---- the two sides compute the same ---------------------------------------------------------------------


@contextlib.contextmanager
def _no_dropout(torch: Any, pair: Pair) -> Generator[None]:
    """Dropout off on both sides (p = 0) inside the block: the two libraries draw different masks."""
    ours = [m for _, m in pair.model.named_modules() if isinstance(m, nn.Dropout)]
    theirs = [m for m in pair.torch_net.modules() if isinstance(m, torch.nn.Dropout)]
    saved = [(m, m.p) for m in ours], [(m, m.p) for m in theirs]
    for m in (*ours, *theirs):
        m.p = 0.0
    try:
        yield
    finally:
        for m, p in saved[0]:
            m.p = p
        for m, p in saved[1]:
            m.p = p


def _relative(ours: NDArray[Any], theirs: NDArray[Any]) -> float:
    """max |ours - theirs| / max(max |theirs|, 1e-12)."""
    return float(np.abs(ours - theirs).max() / max(float(np.abs(theirs).max()), 1e-12))


def parity(torch: Any, pair: Pair) -> dict[str, float]:
    """The largest relative differences between the two sides: inference logits, then (a training forward
    and backward, dropout off) the loss and every parameter's gradient. No optimizer update, so the weights
    stay equal (Adam's first update moves a weight by about lr whatever the size of its gradient, so a
    gradient that is ~0 on both sides would end up lr apart); the running statistics move alike on both sides.
    """
    assert pair.torch_infer is not None
    assert pair.torch_backward is not None
    out = {"inference": _relative(pair.infer().numpy(), pair.torch_infer().numpy())}
    with _no_dropout(torch, pair):
        loss, torch_loss = pair.backward().numpy(), pair.torch_backward().detach().numpy()
    out["loss"] = _relative(loss, torch_loss)
    theirs = dict(pair.torch_net.named_parameters())
    worst = 0.0
    for entry in _walk.state(pair.model, "torch"):
        if entry.param and isinstance(entry.value, Tensor):
            worst = max(worst, _relative(pair.grads.get(entry.value).numpy(), theirs[entry.name].grad.numpy()))
    out["gradients"] = worst
    return out
