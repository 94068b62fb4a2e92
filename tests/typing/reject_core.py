"""Reject corpus: every marked line must be an error in both checkers (unused ignores fail)."""

from __future__ import annotations

from typing import Literal as L

import numpy as np

import typedtensor as tt
from typedtensor import NoneTape, OwnedTape, Tensor

F32 = np.float32
a: Tensor[tuple[L[2], L[3]], F32, NoneTape] = tt.zeros((2, 3))
c: Tensor[tuple[L[3], L[2]], F32, NoneTape] = tt.zeros((3, 2))
d: Tensor[tuple[L[2], L[3]], np.float64, NoneTape] = tt.zeros((2, 3), np.float64)

# a mismatching literal shape at construction
bad_shape: Tensor[tuple[L[2], L[3]], F32, NoneTape] = tt.zeros((2, 4))  # type: ignore[arg-type]  # pyright: ignore[reportAssignmentType]
# the dtype argument becomes E
bad_dtype: Tensor[tuple[L[2], L[3]], F32, NoneTape] = tt.zeros((2, 3), np.float64)  # type: ignore[arg-type]  # pyright: ignore[reportAssignmentType]

# maximum takes what + takes: the same shape and dtype, or a number
tt.maximum(a, c)  # type: ignore[misc]  # pyright: ignore[reportCallIssue, reportArgumentType]
tt.maximum(a, d)  # type: ignore[misc]  # pyright: ignore[reportCallIssue, reportArgumentType]
# elementwise shape mismatch
a + c  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]
a * c  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]
# dtype mismatch
a + d  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]
# matmul inner dims (3 vs 2)
a @ a  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]
# matmul with a 1-D operand: inner dims 3 vs 2, a rank-0 operand
w2: Tensor[tuple[L[2]], F32, NoneTape] = tt.zeros((2,))
a @ w2  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]
w2 @ c  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]
scalar: Tensor[tuple[()], F32, NoneTape] = tt.zeros(())
a @ scalar  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]
# batch dims that do not broadcast (5 vs 4): only the plugin sees it (the run time refuses it)
p5: Tensor[tuple[L[5], L[2], L[3]], F32, NoneTape] = tt.zeros((5, 2, 3))
q4: Tensor[tuple[L[4], L[3], L[2]], F32, NoneTape] = tt.zeros((4, 3, 2))
p5 @ q4  # type: ignore[tt-shape, unused-ignore]  # reject: mypy+plugin

# backward on a non-scalar or an untraced tensor
a.sum().backward()  # type: ignore[misc]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]
a.leaky_trace().backward()  # type: ignore[misc]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]
# tracing twice
a.leaky_trace().leaky_trace()  # type: ignore[misc]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]

# the tape is part of the type
t: Tensor[tuple[L[2], L[3]], F32, OwnedTape] = a  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
n: Tensor[tuple[L[2], L[3]], F32, NoneTape] = a.leaky_trace()  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]

# realize misuse: the requested shape must match the target type
r1: Tensor[tuple[L[3], L[2]], F32, NoneTape] = a.realize((2, 3))  # type: ignore[arg-type]  # pyright: ignore[reportAssignmentType]
r2: Tensor[tuple[L[2], L[3], L[1]], F32, NoneTape] = a.realize((2, 3))  # type: ignore[arg-type]  # pyright: ignore[reportAssignmentType]
# unsqueeze(0) / squeeze(-1) are typed: the new size-1 axis is in front, the last axis is gone
u0: Tensor[tuple[L[2], L[3], L[1]], F32, NoneTape] = a.unsqueeze(0)  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
s1: Tensor[tuple[L[2], L[1]], F32, NoneTape] = a.unsqueeze(-1).squeeze(-1)  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
# squeezing a dim other than 1, or an axis out of range: only the plugin sees it (the run time refuses it)
a.squeeze(0)  # type: ignore[tt-shape, unused-ignore]  # reject: mypy+plugin
a.unsqueeze(3)  # type: ignore[tt-shape, unused-ignore]  # reject: mypy+plugin
# invariant shapes: Literal dims do not silently widen to int (use realize)
w: Tensor[tuple[int, int], F32, NoneTape] = a  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]

# == and != take what > takes: the same shape and dtype, or a number
_ = a == c  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue, reportUnknownVariableType]
_ = a != d  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue, reportUnknownVariableType]
# the result of == is a bool tensor, not a bool
eq_bool: bool = a == a  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
# any()/all() along an axis: the shape is typed like sum()'s, and the result is never traced
any0: Tensor[tuple[L[2]], np.bool_, NoneTape] = (a > 0.0).any(0)  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
any_t: Tensor[tuple[()], np.bool_, OwnedTape] = a.leaky_trace().all()  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
# ** takes a real number, not a tensor or a str; @ needs two tensors
_ = a**a  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue, reportUnknownVariableType]
_ = a ** "2"  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue, reportUnknownVariableType]
_ = 2 @ a  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue, reportUnknownVariableType]
# dtype arguments are NumPy scalar types (the dtype is part of the type): no strings, no Python float
a.astype("float16")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
a.astype(float)  # type: ignore[type-var]  # pyright: ignore[reportArgumentType]
tt.zeros((2,), "float32")  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType]
# a mask must be bool and have the tensor's shape
a.masked_fill(c > 0.0, 0.0)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
# concat needs the same trailing dims
tt.concat((a, tt.zeros((2, 4), np.float64)))  # type: ignore[misc]  # pyright: ignore[reportArgumentType]
