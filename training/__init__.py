"""Training and evaluation of the reenact networks."""
