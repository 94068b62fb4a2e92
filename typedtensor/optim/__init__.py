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
``clip_grad_norm(model, grads, max_norm)`` and ``clip_grad_value(model, grads, clip_value)`` clip the
gradients in ``grads`` in place before ``update`` (PyTorch's ``clip_grad_norm_``/``clip_grad_value_``).
``groups=[ParamGroup(select, lr_scale, weight_decay)]`` and ``frozen=[submodule or selector]`` on every
optimizer: per-parameter learning-rate factors and weight decays, and parameters left untrained (``_groups``).
``opt.state_dict()`` / ``load_state_dict``, ``save_npz`` / ``load_npz`` and ``save_safetensors`` /
``load_safetensors`` (each with ``scheduler=``) save and restore the state, hyper-parameters and schedule position
for an exact resume (``_state``, ``_state_file``).
"""

from . import lr_scheduler as lr_scheduler
from ._adam import Adam as Adam
from ._adamw import AdamW as AdamW
from ._base import MissingGradientError as MissingGradientError
from ._base import Optimizer as Optimizer
from ._base import OptimizerError as OptimizerError
from ._clip import clip_grad_norm as clip_grad_norm
from ._clip import clip_grad_value as clip_grad_value
from ._groups import ParamGroup as ParamGroup
from ._groups import Selector as Selector
from ._groups import no_decay as no_decay
from ._sgd import SGD as SGD
