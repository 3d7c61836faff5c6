"""Durable storage: SQLAlchemy tables, Alembic migrations, the group-commit writer, queries."""


class StoreUnreachable(Exception):
    """The store's first connection failed: a wrong URL, a server down, a user or a file it may not
    open. Named here, without SQLAlchemy, so that the command line can report it in one line."""

    def __init__(self, url: str, reason: str):
        what = "this user may write there" if url.startswith("sqlite") else \
            "the database server runs and accepts that user"
        super().__init__(f"the store at {url} cannot be opened: {reason}. Check store.url (or --db), and that {what}")
