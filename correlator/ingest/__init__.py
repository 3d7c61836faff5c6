"""Receiving alerts: HTTP receivers, payload parsers per source, authentication, fingerprints, and the
recording `serve --record` writes."""
