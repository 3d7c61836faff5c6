"""Incidents by state and last update: a restore reads the alerts' flaps of those closed within
the flap window without scanning every closed incident.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_incidents_state_updated_at_us", "incidents", ["state", "updated_at_us"])


def downgrade() -> None:
    op.drop_index("ix_incidents_state_updated_at_us", "incidents")
