"""What the engine process publishes for serve (metrics text, candidates, rules in force) and what
serve asks of it (rule reloads).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "engine_exchange",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("updated_at_us", sa.BigInteger, nullable=False),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_engine_exchange"),
    )


def downgrade() -> None:
    op.drop_table("engine_exchange")
