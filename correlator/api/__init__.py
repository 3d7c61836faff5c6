"""REST handlers for people and tools."""
