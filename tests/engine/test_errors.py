"""Third-party error text shown to a user: one clean line."""

from __future__ import annotations

import argparse
import re

import pytest
import torch

from reenact.engine.errors import ReenactError, first_line
from reenact.engine.model.checkpoint import load_checkpoint


def test_terminal_codes_are_dropped():
    exc = RuntimeError("\x1b[1;31mError\x1b[0m: \x1b]0;title\x07bad \x1b[4minput\x1b[24m\nsecond line")
    assert first_line(exc) == "Error: bad input"


@pytest.mark.parametrize("limit", [40, 80, 160])
def test_a_long_message_is_cut_at_a_word(limit: int):
    text = " ".join(f"word{i:03d}" for i in range(100))
    line = first_line(ValueError(text), limit)
    assert len(line) <= limit and line.endswith("…")
    kept = line[:-1]
    assert text.startswith(kept) and text[len(kept)] == " "


def test_torchs_refusal_of_a_pickled_object_is_one_clean_line(tmp_path):
    path = tmp_path / "pickled.pt"
    torch.save({"format": "reenact-checkpoint", "options": argparse.Namespace(lr=1)}, path)  # code, not tensors
    with pytest.raises(ReenactError) as exc:
        load_checkpoint(path)
    message = str(exc.value)
    assert message.startswith(f"{path}: not a reenact checkpoint (cannot be read: Weights only load failed.")
    assert "\x1b" not in message and "\n" not in message  # torch's message is bold in places and a page long
    with pytest.raises(Exception) as raw:
        torch.load(path, weights_only=True)
    torch_line = re.sub(r"\x1b\[[0-9;]*m", "", str(raw.value)).splitlines()[0]
    assert message.endswith("…)")
    kept = message.split("cannot be read: ", 1)[1].removesuffix("…)")
    assert torch_line.startswith(kept) and torch_line[len(kept)] == " "  # cut between words
