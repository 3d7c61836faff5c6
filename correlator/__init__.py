"""correlator: turns a flood of monitoring alerts into a few well-described incidents."""

__version__ = "0.1.0"
