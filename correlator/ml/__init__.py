"""The learned layer: features, classifiers, the lexicon, training, safe model I/O."""
