"""The augmentation family: random image transforms that the targets do not follow, or that change the label."""
