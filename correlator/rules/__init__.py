"""Rule vocabulary shared with Alertmanager users: matchers, later the rule schema and loader."""
