"""An index on the alert episodes' end: the history retention (correlator/store/history.py) finds
the episodes that ended before its cutoff without reading every episode ever stored.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08
"""
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_alerts_ends_at_us", "alerts", ["ends_at_us"])


def downgrade() -> None:
    op.drop_index("ix_alerts_ends_at_us", "alerts")
