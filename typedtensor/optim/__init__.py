"""Optimizers in the style of PyTorch's, with dfdx's API shape: ``opt.update(model, grads)``.

::

    opt = tt.optim.Adam(model, lr=1e-3)
    for x, y in batches:
        grads = model.alloc_grads()
        loss = loss_fn(model.forward_mut(x.trace(grads)), y)
        loss.backward()
        opt.update(model, grads)  # every parameter, in place, all or nothing

The update rules are PyTorch's (``torch.optim.SGD``, ``Adam``, ``AdamW``, single-tensor form), in the
parameters' own dtype. State is kept by the parameters' dotted names; ``opt.lr`` can be changed
between updates. Buffers such as BatchNorm's running statistics are never touched.
"""

from . import lr_scheduler as lr_scheduler
from ._adam import Adam as Adam
from ._adamw import AdamW as AdamW
from ._base import MissingGradientError as MissingGradientError
from ._base import Optimizer as Optimizer
from ._base import OptimizerError as OptimizerError
from ._sgd import SGD as SGD
