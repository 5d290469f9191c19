"""The pretrained family: inputs of pretrained models that miss the normalization, statistics or channel order their weights expect, and weights loaded unchecked."""
