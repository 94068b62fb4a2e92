"""Kernels: each op's forward and its local derivative side by side, on NumPy arrays.

Every kernel returns ``(output, backward)`` where ``backward(g, need)`` maps the upstream gradient
to one gradient per parent (``None`` where ``need`` says the parent needs none). A kernel's parents are
fixed by the kernel (``mul``: a and b, ``linear``: x, w and b, ``where``: a, b and the condition), so
``need`` always has that length: a constant in a parent's place (a scalar b, a missing bias) and an
integer or bool parent get False. The typed ``Tensor`` methods wrap these kernels and record them on
the tape through one recorder (``typedtensor._tensor._apply``).
"""
