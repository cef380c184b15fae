"""The two graphs of a reenact model and their tensor names, defined once.

The networks (engine.model.networks), the exporter (reenact.export) and every backend read these names; a rename
here renames them everywhere, so a graph and its runtime can never disagree on what an input is called.
"""

from __future__ import annotations

GRAPHS = ("encoder", "frame")  # encoder: once per avatar; frame: once per driving frame
ENCODER_INPUTS = ("source",)
ENCODER_OUTPUTS = ("feat_128", "feat_64", "feat_32")
# The frame graph (FrameNet.layers) returns the layers the full-resolution renderer applies to the avatar's own
# pixels, not the crop they make of the avatar crop (FrameNet.forward, for training): the app never shows that
# crop, so the graph takes no avatar crop.
FRAME_INPUTS = (*ENCODER_OUTPUTS, "grid", "kp_source", "kp_driving")
FRAME_OUTPUTS = ("mask", "flow", "generated")
# A model without the generator branch (ModelConfig.generator False) only refines the motion: its frame graph
# needs only the two coarse feature maps and returns only the residual flow.
FLOW_FRAME_INPUTS = ("feat_64", "feat_32", "grid", "kp_source", "kp_driving")
FLOW_FRAME_OUTPUTS = ("flow",)


def frame_names(generator: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(inputs, outputs) of the frame graph of a model with or without the generator branch."""
    return (FRAME_INPUTS, FRAME_OUTPUTS) if generator else (FLOW_FRAME_INPUTS, FLOW_FRAME_OUTPUTS)
