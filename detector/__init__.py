"""detector: the near-duplicate detector (model, augmentations, training, descriptors, metrics)."""
