"""User mistakes on the command line, every subcommand: one line naming the option or file, exit 2, no traceback,
found before the model loads or any face is tracked."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from reenact.engine.config import ModelConfig
from reenact.engine.model.checkpoint import Checkpoint, save_checkpoint
from reenact.engine.model.networks import ReenactModel

SMALL = ModelConfig(size=64, encoder_channels=(4, 8, 8), frame_channels=8, expression_dim=4)


def _reenact(*args: str, cwd: Path | None = None, limit: Callable[[], None] | None = None
             ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reenact.app.cli", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd, preexec_fn=limit)


def _one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# Options ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args,needles", [
    (["demo", "--out", "x.mp4", "--max-frames", "0"], ["--max-frames", "must be ≥ 1, got 0"]),
    (["demo", "--out", "x.mp4", "--max-frames", "many"], ["--max-frames", "whole number"]),
    (["demo"], ["reenact demo: error:", "--out"]),
    (["train", "--config", "c.yaml", "--steps", "-5"], ["--steps", "must be ≥ 1, got -5"]),
    (["eval", "--videos", ".", "--frames", "-5:10"], ["--frames", "START must be ≥ 0, got -5"]),
    (["eval", "--videos", ".", "--frames", "7:8"], ["--frames", "two frames"]),
    (["eval", "--videos", ".", "--frames", "a:b"], ["--frames", "START:STOP"]),
    (["eval", "--videos", ".", "--stride", "0"], ["--stride", "must be ≥ 1, got 0"]),
    (["bench", "--size", "17"], ["--size", "must be ≥ 64, got 17"]),
    (["bench", "--size", "100"], ["--size", "must be a multiple of 8, got 100"]),
    (["bench", "--size", "0"], ["--size", "must be ≥ 64, got 0"]),
    (["bench", "--frames", "0"], ["--frames", "must be ≥ 1"]),
    (["bench", "--warmup", "-1"], ["--warmup", "must be ≥ 0"]),
    (["bench", "--model-runs", "0"], ["--model-runs", "must be ≥ 1"]),
    (["bench", "--fomm-frames", "-2"], ["--fomm-frames", "must be ≥ 0"]),
    (["bench", "--soak", "-1"], ["--soak", "must be ≥ 0"]),
    (["bench", "--soak", "nan"], ["--soak", "must be a number"]),
])
def test_a_bad_option_value_is_one_line_naming_the_option(tmp_path: Path, args: list[str], needles: list[str]):
    line = _one_line_error(_reenact(*args, cwd=tmp_path), *needles)
    assert line.startswith(f"reenact {args[0]}: error:")
    assert not any(tmp_path.iterdir())  # refused before anything was written


# Outputs ---------------------------------------------------------------------------------------------------------
def _without_dac_override() -> None:
    """Root writes anywhere through CAP_DAC_OVERRIDE: without it (still reading everything, through
    CAP_DAC_READ_SEARCH) a folder's permission bits stop root as they stop anyone."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(24, 1, 0, 0, 0) != 0:  # PR_CAPBSET_DROP, CAP_DAC_OVERRIDE
        raise OSError(ctypes.get_errno(), "cannot drop CAP_DAC_OVERRIDE")


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)


OUTPUT_COMMANDS = {
    "demo": lambda out: ["demo", "--out", f"{out}/result.mp4", "--mode", "warp", "--max-frames", "2", "--quiet"],
    "eval": lambda out: ["eval", "--videos", "no-such-folder", "--json", f"{out}/metrics.json"],
    "bench": lambda out: ["bench", "--avatar", "no-such-image.jpg", "--json", f"{out}/bench.json"],
    "export": lambda out: ["export", "--out", f"{out}/export"],
}


@pytest.mark.parametrize("command", sorted(OUTPUT_COMMANDS))
@pytest.mark.parametrize("where", ["/proc", "/sys", "read-only"])
def test_an_output_folder_that_cannot_be_written_is_refused_first(command: str, where: str, read_only_folder: Path,
                                                                  tmp_path: Path):
    target = read_only_folder if where == "read-only" else Path(where)
    limit = _without_dac_override if where == "read-only" and os.geteuid() == 0 else None
    try:
        proc = _reenact(*OUTPUT_COMMANDS[command](target), cwd=tmp_path, limit=limit)
    except subprocess.SubprocessError as exc:  # a container that keeps root from dropping a capability
        pytest.skip(f"root cannot give up CAP_DAC_OVERRIDE here, so no folder is read-only to it: {exc}")
    _one_line_error(proc, str(target), "cannot write files in this folder")
    assert not any(read_only_folder.iterdir())


def test_a_failed_run_removes_the_folders_it_made(tmp_path: Path):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    out = tmp_path / "newdir" / "sub" / "x.mp4"
    proc = _reenact("demo", "--out", str(out), "--mode", "model", "--weights", str(broken), "--quiet")
    _one_line_error(proc, str(broken))
    assert not (tmp_path / "newdir").exists()
    proc = _reenact("eval", "--videos", str(tmp_path / "missing"), "--json", str(out.with_suffix(".json")))
    _one_line_error(proc, "missing")
    assert not (tmp_path / "newdir").exists()
    (tmp_path / "mine").mkdir()  # a folder that was there before is kept
    _one_line_error(_reenact("demo", "--out", str(tmp_path / "mine" / "new" / "x.mp4"), "--mode", "model",
                             "--weights", str(broken), "--quiet"), str(broken))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.pt", "mine"]
    assert not any((tmp_path / "mine").iterdir())


# Files -----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [
    ["demo", "--out", "x.mp4", "--source", "{dir}"],
    ["demo", "--out", "x.mp4", "--driving", "{dir}"],
    ["demo", "--out", "x.mp4", "--config", "{dir}"],
    ["demo", "--out", "x.mp4", "--mode", "model", "--weights", "{dir}"],
    ["train", "--config", "{dir}"],
    ["export", "--checkpoint", "{dir}", "--out", "export"],
    ["bench", "--weights", "{dir}"],
    ["bench", "--avatar", "{dir}"],
    ["bench", "--driving", "{dir}"],
    ["bench", "--json", "{dir}"],
    ["eval", "--videos", "{dir}", "--json", "{dir}"],
    ["eval", "--videos", "{dir}", "--weights", "{dir}"],
])
def test_a_folder_given_for_a_file_is_named_as_such(tmp_path: Path, args: list[str]):
    folder = tmp_path / "somedir"
    folder.mkdir()
    proc = _reenact(*(a.format(dir=folder) for a in args), cwd=tmp_path)
    _one_line_error(proc, str(folder), "is a folder, expected a")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["somedir"]


# Config files ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("command,text,needles", [
    ("demo", "face:\n  crop:\n    size: big\n", ["face.crop.size must be a whole number, got 'big'"]),
    ("demo", "face:\n  crop:\n    size: -3\n", ["face.crop.size must be ≥ 16, got -3"]),
    ("demo", "warp:\n  grid_size: 0\n", ["warp.grid_size must be ≥ 2, got 0"]),
    ("demo", "paste:\n  enabled: maybe\n", ["paste.enabled must be true or false, got 'maybe'"]),
    ("train", "lr: fast\n", ["lr must be a number, got 'fast'"]),
    ("train", "batch_size: two\n", ["batch_size must be a whole number, got 'two'"]),
    ("train", "model:\n  size: 100\n", ["model.size must be a multiple of 8, got 100"]),
    ("train", "videos:\n  - path: a.mp4\n    start: -1\n", ["videos[0].start must be ≥ 0, got -1"]),
    ("train", "augment:\n  gamma: [0.7]\n", ["augment.gamma must be a list of 2 items, got 1"]),
])
def test_a_wrong_config_value_is_one_line_naming_the_file_and_key(tmp_path: Path, command: str, text: str,
                                                                  needles: list[str]):
    config = tmp_path / "x.yaml"
    config.write_text(text, encoding="utf-8")
    args = ["demo", "--out", "out.mp4", "--mode", "warp", "--quiet"] if command == "demo" else ["train"]
    _one_line_error(_reenact(*args, "--config", str(config), cwd=tmp_path), f"{config}: ", *needles)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.yaml"]


# Checkpoints -----------------------------------------------------------------------------------------------------
def _checkpoint(path: Path, edit: Callable[[dict[str, torch.Tensor]], None]) -> Path:
    state = ReenactModel(SMALL).state_dict()
    edit(state)
    return save_checkpoint(Checkpoint(SMALL, state), path)


def _narrower(state: dict[str, torch.Tensor]) -> None:
    state["frame.d64.0.weight"] = state["frame.d64.0.weight"][:4].clone()


@pytest.mark.parametrize("edit,needle", [
    (_narrower, "frame.d64.0.weight: shape (4, 24, 3, 3) in the file, (8, 24, 3, 3) expected"),
    (lambda s: s.pop("frame.out.bias"), "frame.out.bias: missing from the file"),
    (lambda s: s.update({"frame.extra.weight": torch.zeros(3)}), "frame.extra.weight: in the file but not in"),
])
def test_weights_that_do_not_fit_name_the_tensor(tmp_path: Path, edit, needle: str):
    ckpt = _checkpoint(tmp_path / "bad.pt", edit)
    proc = _reenact("export", "--checkpoint", str(ckpt), "--out", str(tmp_path / "export"))
    line = _one_line_error(proc, str(ckpt), needle)
    assert len(line) < 250
    assert not (tmp_path / "export").exists()


# Order: inputs before heavy work ---------------------------------------------------------------------------------
@pytest.mark.parametrize("mistake,named", [
    (["--config", "{tmp}/typo.yaml"], "typo.yaml"),
    (["--driving", "{tmp}"], "is a folder"),
    (["--driving", "{tmp}/notes.mp4"], "notes.mp4"),
])
def test_demo_checks_every_input_before_the_model_loads(tmp_path: Path, mistake: list[str], named: str):
    """Loading weights on ONNX Runtime exports them into the cache first: an empty cache shows no model loaded."""
    (tmp_path / "typo.yaml").write_text("warpp:\n  grid_size: 8\n", encoding="utf-8")
    (tmp_path / "notes.mp4").write_text("not a video\n" * 50, encoding="utf-8")
    weights = _checkpoint(tmp_path / "fresh.pt", lambda s: None)
    cache = tmp_path / "cache"
    proc = subprocess.run(
        [sys.executable, "-m", "reenact.app.cli", "demo", "--out", str(tmp_path / "out" / "x.mp4"), "--mode", "model",
         "--backend", "onnxruntime", "--weights", str(weights), "--quiet", *(a.format(tmp=tmp_path) for a in mistake)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "REENACT_CACHE_DIR": str(cache)})
    _one_line_error(proc, named)
    assert not cache.exists() and not (tmp_path / "out").exists()


def test_bench_says_damaged_weights_before_searching_the_clip_for_a_face(tmp_path: Path):
    from imageio_ffmpeg import get_ffmpeg_exe

    faceless = tmp_path / "bars.mp4"
    subprocess.run([get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=128x128:rate=10",
                    "-t", "1", "-pix_fmt", "yuv420p", str(faceless)], check=True, timeout=60)
    broken = _checkpoint(tmp_path / "narrow.pt", _narrower)
    proc = _reenact("bench", "--weights", str(broken), "--driving", str(faceless), "--frames", "1", cwd=tmp_path)
    _one_line_error(proc, str(broken), "frame.d64.0.weight")
