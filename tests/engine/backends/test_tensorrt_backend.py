"""TensorRT backend on a real GPU: parity with PyTorch per the tolerance table, and engine reuse."""

from __future__ import annotations

from pathlib import Path

import pytest

trt = pytest.importorskip("tensorrt", reason="TensorRT is not installed (it cannot be installed on this CPU machine)")
torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("TensorRT needs a CUDA GPU and none is available", allow_module_level=True)

from reenact.engine.backends.tensorrt_backend import TensorRTBackend  # noqa: E402
from reenact.engine.backends.torch_backend import TorchBackend  # noqa: E402
from reenact.export.parity import compare, random_case  # noqa: E402
from reenact.export.tensorrt import build_engines  # noqa: E402

pytestmark = pytest.mark.tensorrt


@pytest.mark.parametrize("fp16", [False, True])
def test_engine_matches_torch_and_is_reused(small_export: Path, small_checkpoint: Path, tmp_path: Path,
                                            fp16: bool) -> None:
    engines = tmp_path / "engines"
    precision = "fp16" if fp16 else "fp32"
    assert all(build_engines(small_export, precision, engines).values())
    backend = TensorRTBackend(small_export, fp16=fp16, engine_dir=engines)
    baseline = TorchBackend(small_checkpoint)
    report = compare(baseline, backend, [random_case(baseline.meta)])
    assert report.ok, report.format()
    backend.close()
    assert not any(build_engines(small_export, precision, engines).values()), "built once, then reused"
    TensorRTBackend(small_export, fp16=fp16, engine_dir=engines).close()
