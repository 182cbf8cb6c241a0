"""Training data: sources and the split by image, the chip dataset, augmentation, normalisation."""
