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
