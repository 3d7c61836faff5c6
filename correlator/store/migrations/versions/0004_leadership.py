"""Replicas on PostgreSQL: the leadership epoch that fences a former leader, and the notification
digest that stores a notification two replicas received once.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leadership",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("epoch", sa.BigInteger, nullable=False),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("acquired_at_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_leadership"),
    )
    op.add_column("notifications", sa.Column("digest", sa.LargeBinary, nullable=True))
    op.create_index("ix_notifications_digest", "notifications", ["digest"])


def downgrade() -> None:
    op.drop_index("ix_notifications_digest", "notifications")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("digest")
    op.drop_table("leadership")
