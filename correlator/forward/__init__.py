"""Forwarding incidents to ticketing and paging: the outbox the engine's saves fill, the delivery
worker that drains it on the leader, and one module per destination (adapters do not know each other)."""
