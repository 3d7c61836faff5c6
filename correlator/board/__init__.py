"""The incident board: static pages served at `/`, a login that turns the API's credentials into a
signed session cookie, and the access rules every API request passes (operator or read-only)."""
