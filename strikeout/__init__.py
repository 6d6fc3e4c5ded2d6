"""The `strikeout` command line: the composition root that wires features, training and serving."""
