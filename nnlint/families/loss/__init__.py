"""The loss family: the loss is altered (capped) before backward()."""
