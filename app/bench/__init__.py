"""`reenact bench`: how fast the app's own threaded pipeline runs here, against a FOMM-sized network.

One job per module: `setup` (options, machine, frames, weights), `run` (the timed run through app.runner and
app.outputs), `load` (busy processes beside it), `null_camera` (the virtual camera's null driver), `fomm_sized`
(the comparison network), `report` (text, JSON, chart) and `cli` (the subcommand).
"""

from reenact.app.bench.cli import register

__all__ = ["register"]
