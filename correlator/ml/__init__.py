"""The learned layer: features, online clustering, classifiers, training, safe model I/O."""
