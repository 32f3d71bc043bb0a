"""in-store surveys: questions, surveys, one per store, answers (SPEC S5)

Revision ID: 0020_surveys
Revises: 0019_footfall
"""

import sqlalchemy as sa
from alembic import op

revision = "0020_surveys"
down_revision = "0019_footfall"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "survey_questions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(length=32), nullable=False, unique=True),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("choices", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "surveys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(length=32), nullable=False, unique=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "survey_items",
        sa.Column("survey_id", sa.Integer(), sa.ForeignKey("surveys.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("position", sa.Integer(), primary_key=True),
        sa.Column("question_id", sa.Integer(), sa.ForeignKey("survey_questions.id"),
                  nullable=False),
    )
    op.create_table(
        "survey_assignments",
        sa.Column("store_id", sa.Integer(), sa.ForeignKey("stores.id"), primary_key=True),
        sa.Column("survey_id", sa.Integer(), sa.ForeignKey("surveys.id"), nullable=False),
    )
    op.create_index("ix_survey_assignments_survey_id", "survey_assignments", ["survey_id"])
    op.create_table(
        "survey_answers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("store_id", sa.Integer(), sa.ForeignKey("stores.id"), nullable=False),
        sa.Column("sale_uuid", sa.String(length=36), nullable=False),
        sa.Column("cashier", sa.String(length=32), nullable=True),
        sa.Column("survey", sa.String(length=32), nullable=False),
        sa.Column("question", sa.String(length=32), nullable=False),
        sa.Column("question_text", sa.String(length=500), nullable=False),
        sa.Column("choice", sa.String(length=32), nullable=False),
        sa.Column("choice_text", sa.String(length=200), nullable=False),
        sa.Column("answered_at", TZ, nullable=False),
        sa.UniqueConstraint("sale_uuid", "question"),
    )
    op.create_index("ix_survey_answers_store_id", "survey_answers", ["store_id"])
    op.create_index("ix_survey_answers_answered_at", "survey_answers", ["answered_at"])


def downgrade() -> None:
    op.drop_table("survey_answers")
    op.drop_table("survey_assignments")
    op.drop_table("survey_items")
    op.drop_table("surveys")
    op.drop_table("survey_questions")
