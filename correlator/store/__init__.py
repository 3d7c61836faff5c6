"""Durable storage: SQLAlchemy tables, Alembic migrations, the group-commit writer, queries."""
