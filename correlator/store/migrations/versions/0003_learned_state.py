"""The engine's learned state: topology, co-occurrence counts and alert-name rates.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "learned_state",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("saved_at_us", sa.BigInteger, nullable=False),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_learned_state"),
    )


def downgrade() -> None:
    op.drop_table("learned_state")
