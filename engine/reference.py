"""Former name of engine.neutral_pose, kept while app/demo.py and training/cross.py still import it from here."""

from reenact.engine.neutral_pose import neutral_frame, neutral_reference

__all__ = ["neutral_frame", "neutral_reference"]
