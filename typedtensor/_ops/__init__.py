"""Kernels: each op's forward and its local derivative side by side, on NumPy arrays.

Every kernel returns ``(output, backward)`` where ``backward(g, need)`` maps the upstream gradient
to one gradient per input (``None`` where ``need`` says the input needs none). The typed ``Tensor``
methods wrap these kernels and record them on the tape.
"""
