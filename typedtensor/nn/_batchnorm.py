"""BatchNorm1D, BatchNorm2D and FusedBatchNorm2D: every variant of dfdx, PyTorch, OneFlow, MegEngine
and PuzzleLib in one module family, with the train/infer split in the type.

``forward`` takes only untraced (``NoneTape``) input: inference, running statistics, nothing
updated. ``forward_mut`` takes only traced (``OwnedTape``) input: training, batch statistics, running
statistics updated. Calling the wrong one is a mypy/pyright error and a run-time ``CheckError``.

Options, each from a reference framework:

* PyTorch: ``momentum`` (``None``: cumulative average), ``affine``, ``track_running_stats``.
* MegEngine: ``momentum_convention="megengine"`` (momentum 0.9 there == 0.1 here); ``freeze=True``
  (training normalises with the running statistics, never updates them, and gives scale/bias no
  gradient; the input still gets one).
* OneFlow: ``FusedBatchNorm2D`` computes ``relu(bn(x) + addend)`` in one op.
* PuzzleLib: ``init_factor``/``min_factor`` (factor ``max(init_factor / n, min_factor)`` for the
  n-th training step), ``sscale`` (scale initialised from Normal(1, sscale)), ``inplace=True``
  (inference writes the output into the input's buffer; refused in training).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar, TypeVarTuple, cast, overload

import numpy as np
from numpy.typing import NDArray

from .. import extend as ext
from .._errors import InplaceError, ShapeError, TapeError, TypedTensorError
from .._exclusive import exclusive
from .._ops import elementwise as _ew
from .._tape import NoneTape, OwnedTape
from .._tensor import Tensor
from . import _bn_backend as _k
from . import _bn_numpy, _fold_pass
from ._fields import check_fields
from ._module import FieldSpec, Module

__all__ = ["BatchNorm1D", "BatchNorm2D", "FusedBatchNorm2D"]

C = TypeVar("C", bound=int)
B = TypeVar("B", bound=int)
H = TypeVar("H", bound=int)
W = TypeVar("W", bound=int)
E = TypeVar("E", bound=np.generic)
Tape = TypeVar("Tape", bound=NoneTape | OwnedTape)
Lead = TypeVarTuple("Lead")
Rest = TypeVarTuple("Rest")

Array = NDArray[Any]
F64 = NDArray[np.float64]
Convention = Literal["pytorch", "megengine"]
#: The backward of one BatchNorm forward: (g as (N, C, L), whether x needs a gradient) -> dx, dscale, dbias.
Core = Callable[[Array, bool], tuple[Array | None, F64 | None, F64 | None]]


class _BatchNorm(Module, Generic[C]):
    """Shared state and arithmetic of the BatchNorm family (see the module docstring)."""

    dim_attrs: ClassVar[Mapping[str, str]] = {"C": "num_features"}
    param_names: ClassVar[tuple[str, ...]] = ("scale", "bias")
    buffer_names: ClassVar[tuple[str, ...]] = ("running_mean", "running_var", "num_batches_tracked")
    torch_names: ClassVar[Mapping[str, str]] = {"weight": "scale"}
    # Checkpoint files restore these (momentum in PyTorch's convention, as stored) ...
    hparam_names: ClassVar[tuple[str, ...]] = ("eps", "momentum", "init_factor", "min_factor")
    # ... and refuse a file whose values for these differ. freeze, inplace and sscale are choices of
    # how to train or run, not part of the model: not saved.
    structure_names: ClassVar[tuple[str, ...]] = ("num_features", "affine", "track_running_stats")
    # Hyper-parameters and options may be changed after construction: validated by the constructor's
    # checks, honoured from the next call (sscale from the next reset_params). The structure is fixed.
    option_names: ClassVar[tuple[str, ...]] = ("freeze", "inplace", "sscale")
    _field_flags: ClassVar[Mapping[str, str]] = {
        "scale": "affine",
        "bias": "affine",
        "running_mean": "track_running_stats",
        "running_var": "track_running_stats",
        "num_batches_tracked": "track_running_stats",
    }
    _setting_hints: ClassVar[Mapping[str, str]] = {
        "num_features": "it sets the shape of every tensor; build a new module with the channel count you want",
        "affine": (
            "it decides whether scale and bias exist; build a new module with affine=... and copy the running "
            "statistics with new.load_state_dict(old.state_dict(), strict=False)"
        ),
        "track_running_stats": (
            "it decides whether running_mean, running_var and num_batches_tracked exist; for batch statistics in "
            "inference too, build a new module with track_running_stats=False and copy scale and bias with "
            "new.load_state_dict(old.state_dict(), strict=False); to keep training without changing the running "
            "statistics, set freeze=True (normalises with them) or momentum=0.0"
        ),
        "momentum_convention": "momentum is kept in PyTorch's convention: for MegEngine's momentum m set momentum = 1 - m",
        "seed": "re-initialise the parameters with reset_params(seed)",
    }
    #: Ranks accepted.
    _ranks: ClassVar[tuple[int, ...]] = ()
    _name: ClassVar[str] = "BatchNorm"
    #: Whether training may take the fused small-tensor kernels, which compute the statistics themselves
    #: (SyncBatchNorm may not: its statistics come from every process).
    _fuse_small: ClassVar[bool] = True
    #: Where the training statistics come from, for the one-value-per-channel error.
    _stats_scope: ClassVar[str] = ""

    scale: Tensor[tuple[C], Any, NoneTape] | None
    bias: Tensor[tuple[C], Any, NoneTape] | None
    running_mean: Tensor[tuple[C], Any, NoneTape] | None
    running_var: Tensor[tuple[C], Any, NoneTape] | None
    #: Training steps counted while running statistics are tracked (None without them, as PyTorch).
    num_batches_tracked: int | None

    def __init__(
        self,
        num_features: C,
        *,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        dtype: type[Any] = np.float32,
        momentum_convention: Convention = "pytorch",
        freeze: bool = False,
        init_factor: float | None = None,
        min_factor: float = 0.1,
        sscale: float | None = None,
        seed: int | None = None,
        inplace: bool = False,
    ) -> None:
        # validated at run time whatever the static types said; no prefix but num_features's: the messages also
        # serve the settings check (bn.eps = ...), which names the module
        opt, where = ext.options, ""
        num_features = cast("C", opt.positive_int(num_features, "num_features", self._name))  # as a Python int
        # eps == 0 is allowed, as in PyTorch: inference with running statistics; training refuses it
        eps = opt.non_negative(
            eps, "eps", where, why="it is added to the variance under the square root", fix="the default is 1e-5"
        )
        momentum = opt.unit(momentum, "momentum", where, optional=True)
        min_factor = opt.unit(min_factor, "min_factor", where)
        init_factor = None if init_factor is None else opt.positive(init_factor, "init_factor", where)
        sscale = None if sscale is None else opt.real(sscale, "sscale", where)
        seed = opt.seed(seed, where)
        affine, track_running_stats = (
            opt.flag(affine, "affine", where),
            opt.flag(track_running_stats, "track_running_stats", where),
        )
        freeze, inplace = opt.flag(freeze, "freeze", where), opt.flag(inplace, "inplace", where)
        if momentum_convention not in ("pytorch", "megengine"):
            raise TypedTensorError(f"momentum_convention must be 'pytorch' or 'megengine', got {momentum_convention!r}")
        if momentum is None and momentum_convention == "megengine":
            raise TypedTensorError(
                "momentum=None (cumulative average) has no MegEngine form; use the PyTorch convention"
            )
        if init_factor is not None and (momentum != 0.1 or momentum_convention != "pytorch" or not track_running_stats):
            raise TypedTensorError(
                "init_factor sets the running-average factor itself: leave momentum at its default and keep "
                "track_running_stats=True"
            )
        if freeze and not track_running_stats:
            raise TypedTensorError(
                "freeze=True normalises with the running statistics: it needs track_running_stats=True"
            )
        if sscale is not None and (sscale < 0 or not affine):
            raise TypedTensorError("sscale (scale ~ Normal(1, sscale)) needs affine=True and sscale >= 0")
        self.dtype = ext.float_dtype(dtype, self._name)
        self.num_features = num_features
        self.eps = float(eps) + 0.0  # -0.0 == 0 is stored as +0.0: running_var -0.0 + eps is then +0.0
        self.momentum = (
            (1.0 - momentum if momentum_convention == "megengine" else momentum) if momentum is not None else None
        )
        self.affine = affine
        self.track_running_stats = track_running_stats
        self.freeze = freeze
        self.init_factor = init_factor
        self.min_factor = min_factor
        self.inplace = inplace
        self.sscale = sscale

        def vector() -> Tensor[tuple[C], Any, NoneTape]:  # size-checked as tt.zeros, then initialised
            return ext.filled((num_features,), 0.0, self.dtype, self._name)

        self.scale, self.bias = (vector(), vector()) if affine else (None, None)
        self.running_mean, self.running_var = (vector(), vector()) if track_running_stats else (None, None)
        self.num_batches_tracked = 0 if track_running_stats else None
        self._reset(np.random.default_rng(seed))

    def _reset(self, rng: np.random.Generator) -> None:
        """scale 1 (or Normal(1, sscale)), bias 0, running mean 0 and variance 1, counter 0; in place."""
        if self.scale is not None and self.bias is not None:
            if self.sscale is not None:
                ext.data_mut(self.scale)[...] = rng.normal(1.0, self.sscale, self.num_features)
            else:
                ext.data_mut(self.scale)[...] = 1
            ext.data_mut(self.bias)[...] = 0
        if self.running_mean is not None and self.running_var is not None:
            ext.data_mut(self.running_mean)[...] = 0
            ext.data_mut(self.running_var)[...] = 1
            self.num_batches_tracked = 0

    def extra_repr(self) -> str:
        opts = [f"{self.num_features}", f"eps={self.eps}", f"momentum={self.momentum}", f"affine={self.affine}"]
        opts.append(f"track_running_stats={self.track_running_stats}")
        opts += [f"{k}=True" for k in ("freeze", "inplace") if getattr(self, k)]
        if self.init_factor is not None:
            opts.append(f"init_factor={self.init_factor}, min_factor={self.min_factor}")
        into = _fold_pass.folded_into(self)
        folded = "" if into is None else f", folded into {into!r}"  # a pass-through (fold_batchnorms)
        return f"{', '.join(opts)}, dtype={self.dtype.name}{folded}"

    # ---- shared helpers ----------------------------------------------------------------------

    def _view(self, x: Tensor[Any, Any, Any]) -> Array:
        """x's data as (N, C, L), after the rank and dtype checks the annotations cannot make."""
        data = self._checked(x)
        shape = data.shape
        unbatched = len(shape) == 3 and self._ranks == (3, 4)
        # The kernels take C-contiguous (N, C, L) arrays only (their rows are views, never copies): any
        # other layout (F order, channels-last, negative strides, slices) is copied here, once.
        if data.dtype == np.float16:  # statistics and arithmetic in float32, as PyTorch does for half
            data = data.astype(np.float32, order="C")
        elif not data.flags.c_contiguous:
            data = np.ascontiguousarray(data)
        if len(shape) == 4:
            return data.reshape(shape[0], shape[1], shape[2] * shape[3])
        if len(shape) == 2:  # BatchNorm1D (N, C)
            return data.reshape(shape[0], shape[1], 1)
        if unbatched:  # (C, H, W)
            return data.reshape(1, shape[0], shape[1] * shape[2])
        return data  # BatchNorm1D (N, C, L)

    def _checked(self, x: Tensor[Any, Any, Any]) -> Array:
        """x's data as it is, after the rank, dtype and channel checks the annotations cannot make."""
        data = ext.data(x)
        shape = data.shape
        if len(shape) not in self._ranks:
            wanted = " or ".join(f"{r}D" for r in self._ranks)
            raise ShapeError(f"{self._name}: expected {wanted} input (got {data.ndim}D input)")
        if data.dtype != self.dtype:
            raise ext.input_dtype_error(self._name, self.dtype, data.dtype)
        unbatched = len(shape) == 3 and self._ranks == (3, 4)
        channels = shape[0] if unbatched else shape[1]
        if channels != self.num_features:  # the annotations check this too, unless checks are off
            raise ShapeError(
                f"{self._name}: expected {self.num_features} channels, got input of shape {shape} "
                f"({channels} channels at dim {0 if unbatched else 1})"
            )
        return data

    def _check_state(self, attr: str, key: str, value: object) -> None:
        if attr == "running_var" and np.any(np.asarray(value) < 0):
            raise TypedTensorError(f"{key!r} holds negative variances")
        _fold_pass.check_loaded(self, attr, key, value)  # a folded BatchNorm takes only its identity fields

    def _check_hparams(self, values: Mapping[str, object]) -> None:
        """The constructor's checks, on a probe module built with ``values`` and this one's other settings."""
        self._probe(values)
        _fold_pass.check_hparams(self, values)

    def _check_setting(self, name: str, value: object) -> object:
        """A new hyper-parameter or option, through the constructor's checks (as the probe normalised it)."""
        return getattr(self._probe({name: value}), name)

    def _probe(self, changes: Mapping[str, object]) -> _BatchNorm[Any]:
        """A one-channel module with this one's settings (momentum in PyTorch's convention) and ``changes``."""
        settings: dict[str, Any] = {
            "eps": self.eps,
            "momentum": self.momentum,
            "affine": self.affine,
            "track_running_stats": self.track_running_stats,
            "dtype": self.dtype.type,
            "freeze": self.freeze,
            "init_factor": self.init_factor,
            "min_factor": self.min_factor,
            "sscale": self.sscale,
            "inplace": self.inplace,
        }
        merged: dict[str, Any] = {**settings, **changes}
        return _BatchNorm(1, **merged)

    def _field_spec(self, name: str) -> FieldSpec:
        """(C,) tensors of the module's dtype; the counter an int; None for what the module was built without."""
        if name in ("scale", "bias"):
            return ((self.num_features,), self.dtype) if self.affine else None
        if name in ("running_mean", "running_var"):
            return ((self.num_features,), self.dtype) if self.track_running_stats else None
        return int if self.track_running_stats else None

    def _check_fields(self, training: bool) -> None:
        """The statistics and parameters about to be read exist exactly as ``affine`` and
        ``track_running_stats`` say, with shape (C,) and the module's dtype; in training the step counter
        too (an int >= 0 exactly when the running statistics are tracked).

        Assignments are checked (Module.__setattr__): only a write into the instance's __dict__ can leave a
        wrong one (or remove one: the layer would silently compute as if built without it), which is then
        named here before anything is read or changed.
        """
        shape, dtype, affine, track = (self.num_features,), self.dtype, self.affine, self.track_running_stats
        fields = ((self.scale, affine), (self.bias, affine), (self.running_mean, track), (self.running_var, track))
        for t, built in fields:
            if (t is None) is built or (t is not None and (ext.data(t).shape != shape or ext.data(t).dtype != dtype)):
                check_fields(self)
        if training:
            n = self.num_batches_tracked
            if (n is None) is track or (n is not None and (n.__class__ is not int or n < 0)):
                check_fields(self)

    def _factor(self) -> float:
        """This training step's running-average factor; num_batches_tracked is already counted."""
        n = self.num_batches_tracked or 1
        if self.init_factor is not None:
            return max(self.init_factor / n, self.min_factor)
        if self.momentum is None:
            return 1.0 / n
        return self.momentum

    def _check_train(self, x3: Array, shape: tuple[int, ...], count: int | None = None) -> None:
        """Refuse a training step: one value per channel (``count``: the statistics' count if not x3's), eps <= 0."""
        if (x3.shape[0] * x3.shape[2] if count is None else count) == 1:
            raise ShapeError(
                f"Expected more than 1 value per channel when training, got input size {list(shape)}"
                f"{self._stats_scope}; use a larger batch, or forward() (inference) for a single value"
            )
        self._check_eps()

    def _check_eps(self) -> None:
        """Refuse to normalise with batch statistics (or to train at all) with eps <= 0, as PyTorch does."""
        if self.eps <= 0:
            raise TypedTensorError(
                f"batch_norm eps must be positive during training, got eps={self.eps}; build the module with "
                "eps > 0 (e.g. the default 1e-5) to train it or to normalise with batch statistics"
            )

    def _update_running(self, mean: F64, var: F64, count: int) -> None:
        if self.running_mean is None or self.running_var is None or self.num_batches_tracked is None:
            return
        self.num_batches_tracked += 1
        if count == 0:
            return  # zero-size batch: counted, nothing to average (PyTorch)
        f = self._factor()
        rm, rv = ext.data(self.running_mean), ext.data(self.running_var)
        rm *= 1.0 - f
        rm += f * mean
        rv *= 1.0 - f
        with np.errstate(over="ignore"):  # float16: a variance beyond 65504 is inf, as in PyTorch, without a warning
            rv += (f * count / (count - 1) if count > 1 else f) * var  # the unbiased batch variance

    def _running_coefficients(self) -> tuple[Array, Array]:
        """``a, b`` (module dtype) such that ``y = a*x + b`` normalises with the running statistics."""
        assert self.running_mean is not None
        assert self.running_var is not None
        rm, rv = self._param(self.running_mean), self._param(self.running_var)
        assert rm is not None
        assert rv is not None
        return _bn_numpy.running_coefficients(rm, rv, self._param(self.scale), self._param(self.bias), self.eps)

    def _batch_coefficients(self, mean: F64, var: F64) -> tuple[F64, F64, F64]:
        """``r = 1/sqrt(var + eps)`` and ``a, b`` (float64) normalising with batch statistics."""
        r = 1.0 / np.sqrt(var + self.eps)
        scale, bias = self._param(self.scale), self._param(self.bias)
        a = r if scale is None else scale * r
        b = -mean * a
        if bias is not None:
            b += bias
        return r, a, b

    def _param(self, t: Tensor[Any, Any, Any] | None) -> Array | None:
        """A parameter or statistic as the kernels take it (float16 ones are computed in float32)."""
        if t is None:
            return None
        data: Array = ext.data(t)
        return data.astype(np.float32) if data.dtype == np.float16 else data

    def _addend(self, x: Tensor[Any, Any, Any], addend: Tensor[Any, Any, Any] | None) -> Array | None:
        """The addend's data as (N, C, L) (``_view``), after checking it has x's shape; None without one."""
        return None if addend is None else self._view(self._addend_checked(x, addend))

    def _addend_checked(self, x: Tensor[Any, Any, Any], addend: Tensor[Any, Any, Any]) -> Tensor[Any, Any, Any]:
        if ext.data(ext.tensor_arg(addend, f"{self._name}: addend")).shape != ext.data(x).shape:
            raise ShapeError(
                f"{self._name}: the addend has shape {ext.data(addend).shape}, the input {ext.data(x).shape}"
            )
        self._checked(addend)
        return addend

    @staticmethod
    def _finish(out: Array, addend3: Array | None, relu: bool) -> Array:
        if addend3 is not None:
            np.add(out, addend3, out=out)
        if relu:
            _ew.relu_values(out, out)  # np.maximum(out, 0, out=out), vectorised
        return out

    def _infer(
        self, x: Tensor[Any, Any, Any], addend: Tensor[Any, Any, Any] | None, relu: bool
    ) -> Tensor[Any, Any, Any]:
        """Inference (running statistics, or batch statistics without them); inplace: into x, returned."""
        inplace = self.inplace
        if ext.tensor_arg(x, f"{self._name}.forward").traced:
            raise TapeError(
                f"{self._name}.forward is inference and takes an untraced tensor; for a training step call "
                "forward_mut"
                + (
                    " (or run inference on an untraced copy, tt.tensor(x): this module is inplace=True and would "
                    "overwrite the values the tape holds)"
                    if inplace
                    else " (or pass x.detach() to run inference on these values)"
                )
            )
        if _fold_pass.MARK in self.__dict__:  # folded into the layer before it (fold_batchnorms): a pass-through
            return _fold_pass.pass_through(self, x, addend, relu)
        self._check_fields(False)
        alone = inplace and exclusive(x)  # before any view of x exists here
        xd = ext.data(x)  # written only when inplace, after the checks below
        x3 = self._view(x)
        addend3 = self._addend(x, addend)
        if inplace:
            if not xd.flags.writeable or not xd.flags.c_contiguous:
                why = (
                    "is read-only (a broadcast or another read-only view)"
                    if not xd.flags.writeable
                    else f"is not C-contiguous (strides {xd.strides}: F order, channels-last, a transposed, "
                    "strided or reversed view; tt.tensor(x) keeps that layout)"
                )
                raise InplaceError(
                    f"{self._name}(inplace=True) writes the output into the input's buffer, which {why}; pass a "
                    "C-contiguous copy, tt.tensor(np.ascontiguousarray(x.numpy())), or build the module with "
                    "inplace=False"
                )
            if not alone:
                raise InplaceError(
                    f"{self._name}(inplace=True) writes the output into the input's buffer, but something else sees "
                    "that buffer: another tensor shares it (x.detach(), x.reshape(...), x.realize(...), a slice, "
                    "x.trace(...)), a NumPy view of it is held (x.numpy()), a tape keeps it for a backward pass, or "
                    "the input is a view of another tensor's data; overwriting it would change those too. Pass a "
                    "tensor that owns its data (tt.tensor(x) makes a copy), or build the module with inplace=False"
                )
            if addend3 is not None and np.shares_memory(addend3, xd):
                addend3 = addend3.copy()  # the output overwrites x before the addend is read
        out = x3 if inplace and x3.dtype == xd.dtype else np.empty(x3.shape, x3.dtype)
        if self.running_mean is not None and self.running_var is not None:
            rm, rv = self._param(self.running_mean), self._param(self.running_var)
            _k.infer(x3, rm, rv, self._param(self.scale), self._param(self.bias), self.eps, out)
        else:
            self._check_train(x3, xd.shape)
            _, a, b = self._batch_coefficients(*_k.stats(x3))
            _k.affine(x3, a, b, out)
        result = self._finish(out, addend3, relu).reshape(xd.shape)
        if result.dtype != xd.dtype:  # float16: computed in float32
            with np.errstate(over="ignore"):  # beyond 65504 is inf (IEEE, as PyTorch), without the raw warning
                result = result.astype(xd.dtype)
            if inplace:
                xd[...] = result
        return x if inplace else ext.wrap(result)

    def _train(
        self, x: Tensor[Any, Any, Any], addend: Tensor[Any, Any, Any] | None, relu: bool
    ) -> Tensor[Any, Any, Any]:
        """Training forward: one recorded op whose backward is the closed form.

        Everything that can fail runs before the running statistics change, so a refused step
        changes nothing.
        """
        try:
            x3, addend3 = self._train_input(x, addend)
        except TypedTensorError as error:
            self._refused(error)  # SyncBatchNorm: every process refuses the step alike
            raise
        if self.freeze:
            out, core, stats = *self._frozen(x3), None
        else:
            out, core, stats = self._normalised(x3, ext.data(x).shape)
        out = self._finish(out, addend3, relu)
        shape, dtype = ext.data(x).shape, ext.data(x).dtype
        # (x, scale, bias, addend): the parameters are None (constants) when frozen or without affine
        learn = self.scale is not None and self.bias is not None and not self.freeze
        parents = (x, self.scale if learn else None, self.bias if learn else None, addend)
        # Only a fused ReLU reads the output back: without one the backward must not keep it (the next
        # layer's ReLU keeps its own output, and this buffer would be one more activation held per layer).
        relu_out = out if relu else None

        def backward(g: Array, need: tuple[bool, ...]) -> tuple[Array | None, ...]:
            g3 = np.ascontiguousarray(g, dtype=x3.dtype).reshape(x3.shape)
            if relu_out is not None:
                g3 = g3 * (relu_out > 0)
            dx, dscale, dbias = core(g3, need[0])
            # float16: a sum over many values (dbias, dscale) may pass 65504 and becomes inf, as in IEEE
            # and PyTorch, without NumPy's raw warning; the optimizers refuse a non-finite gradient.
            with np.errstate(over="ignore"):
                return (
                    dx.reshape(shape).astype(dtype, copy=False) if need[0] and dx is not None else None,
                    dscale.astype(dtype) if need[1] and dscale is not None else None,
                    dbias.astype(dtype) if need[2] and dbias is not None else None,
                    g3.reshape(shape).astype(dtype, copy=False) if need[3] else None,
                )

        with np.errstate(over="ignore"):  # a float16 output beyond 65504 is inf (IEEE), without the warning
            y = out.reshape(shape).astype(dtype, copy=False)
        result = ext.record(parents, y, backward)
        if stats is not None:
            self._update_running(*stats)
        return result

    def _train_input(
        self, x: Tensor[Any, Any, Any], addend: Tensor[Any, Any, Any] | None
    ) -> tuple[Array, Array | None]:
        """The checks of a training step that need no statistics, then x (and the addend) as (N, C, L)."""
        _fold_pass.refuse_training(self)
        if self.inplace:
            raise TapeError(
                f"{self._name}(inplace=True) works only in inference (forward): training keeps the input for the "
                "backward pass; build a separate module with inplace=False for training"
            )
        if not ext.tensor_arg(x, f"{self._name}.forward_mut").traced:
            raise TapeError(
                f"{self._name}.forward_mut is a training step and takes a traced tensor: x.trace(grads) "
                "(use forward for inference)"
            )
        self._check_eps()  # every training step, freeze's too
        self._check_fields(True)
        return self._view(x), self._addend(x, addend)

    def _refused(self, error: TypedTensorError, backward: bool = False) -> None:
        """A training step (``backward``: its backward pass) refused before its statistics exchange."""

    def _frozen(self, x3: Array) -> tuple[Array, Core]:
        """freeze: normalise with the running statistics, constants for the backward: y = a*x + b."""
        a, b = self._running_coefficients()
        out = _k.affine(x3, a, b, np.empty(x3.shape, x3.dtype))

        def core(g3: Array, need_x: bool) -> tuple[Array | None, None, None]:
            return (g3 * a[:, None] if need_x else None), None, None

        return out, core

    # ---- the training statistics: SyncBatchNorm overrides these two to reduce over processes -----

    def _batch_stats(self, x3: Array) -> tuple[F64, F64, int]:
        """Per-channel mean and biased variance (float64) of the training batch, and its values per channel."""
        mean, var = _k.stats(x3)
        return mean, var, x3.shape[0] * x3.shape[2]

    def _reduce_grad_sums(self, sg: F64, sgd: F64) -> tuple[F64, F64]:
        """The backward's per-channel ``sum(g)`` and ``sum(g * (x - mean))`` over the whole batch (for dx)."""
        return sg, sgd

    def _normalised(self, x3: Array, shape: tuple[int, ...]) -> tuple[Array, Core, tuple[F64, F64, int]]:
        """Batch statistics, the closed-form backward, and (mean, var, count) for the running update."""
        count = x3.shape[0] * x3.shape[2]
        if self._fuse_small and count > 0 and _k.is_small(x3):  # few fused calls: overhead dominates
            self._check_train(x3, shape)
            out, mean, var, save = _k.train_small(x3, self._param(self.scale), self._param(self.bias), self.eps)

            def small_core(g3: Array, need_x: bool) -> tuple[Array | None, F64 | None, F64 | None]:
                dx, dscale, dbias = _k.backward_small(g3, save)
                return dx, dscale, dbias

            return out, small_core, (mean, var, count)
        mean, var, count = self._batch_stats(x3)  # SyncBatchNorm: the global batch's
        self._check_train(x3, shape, count)
        r, a, b = self._batch_coefficients(mean, var)
        out = _k.affine(x3, a, b, np.empty(x3.shape, x3.dtype))

        def core(g3: Array, need_x: bool) -> tuple[Array | None, F64 | None, F64 | None]:
            try:
                sg, sgd = _k.grad_sums(g3, x3, mean)  # this batch's: the scale and bias gradients
            except TypedTensorError as error:
                self._refused(error, backward=True)
                raise
            total_sg, total_sgd = self._reduce_grad_sums(sg, sgd)  # SyncBatchNorm: every process's, for dx
            dx = None
            if need_x:
                n = max(count, 1)
                coef_b = -(a / n) * r * r * total_sgd
                coef_c = -(a / n) * total_sg - coef_b * mean
                dx = _k.combine(g3, x3, a, coef_b, coef_c, np.empty(x3.shape, x3.dtype))
            return dx, sgd * r, sg

        return out, core, (mean, var, count)


# Each public method has one overload per accepted rank (any other rank is a static error) and an
# implementation annotated with the variadic shape that the run-time checks are generated from; pyright
# does not see that the variadic form covers the overloads, hence its ignore comments below.
class BatchNorm2D(_BatchNorm[C]):
    """Batch normalisation over (B, C, H, W) or unbatched (C, H, W) input, per channel C.

    ``BatchNorm2D[L[3]](3, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
    dtype=np.float32)``; see the module docstring for the other options.
    """

    _ranks = (3, 4)
    _name = "BatchNorm2D"

    if TYPE_CHECKING:  # model(x): forward on an untraced x, forward_mut on a traced one (see _call)
        # either tape: forward takes only untraced input, forward_mut only traced input (statically and at run time)
        @overload
        def __call__(self, x: Tensor[tuple[B, C, H, W], E, Tape]) -> Tensor[tuple[B, C, H, W], E, Tape]: ...
        @overload
        def __call__(self, x: Tensor[tuple[C, H, W], E, Tape]) -> Tensor[tuple[C, H, W], E, Tape]: ...
        def __call__(self, x: Any) -> Any: ...

    # One overload per accepted rank, so that any other rank is a static error too.
    @overload
    def forward(self, x: Tensor[tuple[B, C, H, W], E, NoneTape]) -> Tensor[tuple[B, C, H, W], E, NoneTape]: ...
    @overload
    def forward(self, x: Tensor[tuple[C, H, W], E, NoneTape]) -> Tensor[tuple[C, H, W], E, NoneTape]: ...
    def forward(self, x: Tensor[tuple[*Lead, C, H, W], E, NoneTape]) -> Tensor[tuple[*Lead, C, H, W], E, NoneTape]:  # pyright: ignore[reportInconsistentOverload]
        """Inference: normalise with the running statistics; nothing is updated."""
        return self._infer(x, None, False)

    @overload
    def forward_mut(self, x: Tensor[tuple[B, C, H, W], E, OwnedTape]) -> Tensor[tuple[B, C, H, W], E, OwnedTape]: ...
    @overload
    def forward_mut(self, x: Tensor[tuple[C, H, W], E, OwnedTape]) -> Tensor[tuple[C, H, W], E, OwnedTape]: ...
    def forward_mut(  # pyright: ignore[reportInconsistentOverload]
        self, x: Tensor[tuple[*Lead, C, H, W], E, OwnedTape]
    ) -> Tensor[tuple[*Lead, C, H, W], E, OwnedTape]:
        """Training: normalise with the batch statistics and update the running ones."""
        return self._train(x, None, False)


class FusedBatchNorm2D(_BatchNorm[C]):
    """OneFlow's fused ``relu(BatchNorm2D(x) + addend)`` (``addend`` optional), one op each way."""

    _ranks = (3, 4)
    _name = "FusedBatchNorm2D"

    if TYPE_CHECKING:  # model(x): forward on an untraced x, forward_mut on a traced one (see _call)
        # forward's overloads (untraced x and addend), then forward_mut's (traced x, addend of either tape)
        @overload
        def __call__(
            self,
            x: Tensor[tuple[B, C, H, W], E, NoneTape],
            addend: Tensor[tuple[B, C, H, W], E, NoneTape] | None = None,
        ) -> Tensor[tuple[B, C, H, W], E, NoneTape]: ...
        @overload
        def __call__(
            self, x: Tensor[tuple[C, H, W], E, NoneTape], addend: Tensor[tuple[C, H, W], E, NoneTape] | None = None
        ) -> Tensor[tuple[C, H, W], E, NoneTape]: ...
        @overload
        def __call__(
            self, x: Tensor[tuple[B, C, H, W], E, OwnedTape], addend: Tensor[tuple[B, C, H, W], E, Any] | None = None
        ) -> Tensor[tuple[B, C, H, W], E, OwnedTape]: ...
        @overload
        def __call__(
            self, x: Tensor[tuple[C, H, W], E, OwnedTape], addend: Tensor[tuple[C, H, W], E, Any] | None = None
        ) -> Tensor[tuple[C, H, W], E, OwnedTape]: ...
        def __call__(self, *args: Any, **kwargs: Any) -> Any: ...

    @overload
    def forward(
        self, x: Tensor[tuple[B, C, H, W], E, NoneTape], addend: Tensor[tuple[B, C, H, W], E, NoneTape] | None = None
    ) -> Tensor[tuple[B, C, H, W], E, NoneTape]: ...
    @overload
    def forward(
        self, x: Tensor[tuple[C, H, W], E, NoneTape], addend: Tensor[tuple[C, H, W], E, NoneTape] | None = None
    ) -> Tensor[tuple[C, H, W], E, NoneTape]: ...
    def forward(  # pyright: ignore[reportInconsistentOverload]
        self,
        x: Tensor[tuple[*Lead, C, H, W], E, NoneTape],
        addend: Tensor[tuple[*Lead, C, H, W], E, NoneTape] | None = None,
    ) -> Tensor[tuple[*Lead, C, H, W], E, NoneTape]:
        """Inference: ``relu(bn(x) + addend)`` with the running statistics."""
        return self._infer(x, addend, True)

    @overload
    def forward_mut(
        self, x: Tensor[tuple[B, C, H, W], E, OwnedTape], addend: Tensor[tuple[B, C, H, W], E, Any] | None = None
    ) -> Tensor[tuple[B, C, H, W], E, OwnedTape]: ...
    @overload
    def forward_mut(
        self, x: Tensor[tuple[C, H, W], E, OwnedTape], addend: Tensor[tuple[C, H, W], E, Any] | None = None
    ) -> Tensor[tuple[C, H, W], E, OwnedTape]: ...
    def forward_mut(  # pyright: ignore[reportInconsistentOverload]
        self,
        x: Tensor[tuple[*Lead, C, H, W], E, OwnedTape],
        addend: Tensor[tuple[*Lead, C, H, W], E, Any] | None = None,
    ) -> Tensor[tuple[*Lead, C, H, W], E, OwnedTape]:
        """Training: ``relu(bn(x) + addend)``; the gradient flows to x and addend through the ReLU mask."""
        return self._train(x, addend, True)


class BatchNorm1D(_BatchNorm[C]):
    """Batch normalisation over (B, C) or (B, C, L) input, per channel C."""

    _ranks = (2, 3)
    _name = "BatchNorm1D"

    if TYPE_CHECKING:  # model(x): forward on an untraced x, forward_mut on a traced one (see _call)

        @overload
        def __call__(self, x: Tensor[tuple[B, C], E, Tape]) -> Tensor[tuple[B, C], E, Tape]: ...
        @overload
        def __call__(self, x: Tensor[tuple[B, C, W], E, Tape]) -> Tensor[tuple[B, C, W], E, Tape]: ...
        def __call__(self, x: Any) -> Any: ...

    @overload
    def forward(self, x: Tensor[tuple[B, C], E, NoneTape]) -> Tensor[tuple[B, C], E, NoneTape]: ...
    @overload
    def forward(self, x: Tensor[tuple[B, C, W], E, NoneTape]) -> Tensor[tuple[B, C, W], E, NoneTape]: ...
    def forward(self, x: Tensor[tuple[B, C, *Rest], E, NoneTape]) -> Tensor[tuple[B, C, *Rest], E, NoneTape]:  # pyright: ignore[reportInconsistentOverload]
        """Inference: normalise with the running statistics; nothing is updated."""
        return self._infer(x, None, False)

    @overload
    def forward_mut(self, x: Tensor[tuple[B, C], E, OwnedTape]) -> Tensor[tuple[B, C], E, OwnedTape]: ...
    @overload
    def forward_mut(self, x: Tensor[tuple[B, C, W], E, OwnedTape]) -> Tensor[tuple[B, C, W], E, OwnedTape]: ...
    def forward_mut(self, x: Tensor[tuple[B, C, *Rest], E, OwnedTape]) -> Tensor[tuple[B, C, *Rest], E, OwnedTape]:  # pyright: ignore[reportInconsistentOverload]
        """Training: normalise with the batch statistics and update the running ones."""
        return self._train(x, None, False)
