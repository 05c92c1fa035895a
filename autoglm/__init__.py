"""The `autoglm` command line: the composition root that wires every package together."""
