"""Receiving alerts: HTTP receivers, payload parsers per source, authentication, fingerprints."""
