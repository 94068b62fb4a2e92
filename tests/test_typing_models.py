"""The typing corpus's model files also run: the shapes the checkers infer are the shapes that come out.

``tests/typing/accept_{resnet,vgg,unet}.py`` are static cases (``assert_type``) and programs: an
inference pass, one training step and ``assert``s on the run-time shapes. Run with the run-time checks
on, each annotated signature of theirs (BasicBlock, Down, upsample2x ...) is checked at every call too.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

import typedtensor as tt

HERE = Path(__file__).parent / "typing"
MODELS = ("accept_resnet.py", "accept_vgg.py", "accept_unet.py")


@pytest.mark.parametrize("name", MODELS)
def test_model_file_runs(name: str) -> None:
    with tt.checks(True):
        namespace = runpy.run_path(str(HERE / name), run_name="corpus_model")
    assert "net" in namespace  # the file built its network, and its asserts held


def test_a_model_fed_the_wrong_shape_fails_at_run_time() -> None:
    """What a wrong call would do at run time: the checked forward refuses it (the file's calls are right)."""
    namespace = runpy.run_path(str(HERE / "accept_vgg.py"), run_name="corpus_model")
    net = namespace["net"]
    with tt.checks(True), pytest.raises(tt.TypedTensorError):
        net.forward(tt.zeros((2, 3, 16, 16)))  # 16 x 16 where the forward is typed for 32 x 32
