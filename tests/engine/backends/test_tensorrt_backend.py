"""TensorRT backend on a real GPU: parity with PyTorch per the tolerance table, and engine reuse."""

from __future__ import annotations

from pathlib import Path

import pytest

trt = pytest.importorskip("tensorrt", reason="TensorRT is not installed (it cannot be installed on this CPU machine)")
torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("TensorRT needs a CUDA GPU and none is available", allow_module_level=True)

from reenact.engine.backends.parity import compare, random_case  # noqa: E402
from reenact.engine.backends.tensorrt_backend import TensorRTBackend  # noqa: E402
from reenact.engine.backends.torch_backend import TorchBackend  # noqa: E402

pytestmark = pytest.mark.tensorrt


@pytest.mark.parametrize("fp16", [False, True])
def test_engine_matches_torch_and_is_reused(small_export: Path, small_checkpoint: Path, tmp_path: Path,
                                            fp16: bool) -> None:
    engines = tmp_path / "engines"
    backend = TensorRTBackend(small_export, fp16=fp16, engine_dir=engines)
    assert all(backend.built.values())
    reference = TorchBackend(small_checkpoint)
    report = compare(reference, backend, [random_case(reference.meta)])
    assert report.ok, report.format()
    backend.close()
    again = TensorRTBackend(small_export, fp16=fp16, engine_dir=engines)
    assert not any(again.built.values())
    again.close()
