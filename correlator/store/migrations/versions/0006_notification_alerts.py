"""The alerts ingest parsed from each notification, stored beside its body, for the engine to read.

Rows stored before this revision keep NULL: the engine parses their bodies, as it did before.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("notifications", sa.Column("alerts", sa.LargeBinary, nullable=True))


def downgrade() -> None:
    op.drop_column("notifications", "alerts")
