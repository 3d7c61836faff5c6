"""The learned layer at run time: features, classifiers, the lexicon, safe model I/O (training is offline)."""
