"""prices and discount policies

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 08:00:10.092723
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_changes_entity_key", "changes", ["stream", "entity", "key", "version"])
    op.create_table('families',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    op.create_table('partner_programmes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('percent', sa.Numeric(precision=5, scale=2), nullable=False),
    sa.Column('stores', sa.Text(), nullable=False),
    sa.Column('groups', sa.Text(), nullable=False),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=True),
    sa.Column('valid_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    op.create_table('policies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('definition', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    with op.batch_alter_table('policies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_policies_kind'), ['kind'], unique=False)

    op.create_table('vip_cards',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('customer', sa.String(length=200), nullable=False),
    sa.Column('percent', sa.Numeric(precision=5, scale=2), nullable=False),
    sa.Column('valid_until', sa.DateTime(timezone=True), nullable=False),
    sa.Column('notify', sa.String(length=200), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    op.create_table('partner_cards',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('first', sa.String(length=64), nullable=False),
    sa.Column('last', sa.String(length=64), nullable=False),
    sa.Column('holder', sa.String(length=200), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['programme_id'], ['partner_programmes.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('programme_id', 'first', 'last')
    )
    with op.batch_alter_table('partner_cards', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_partner_cards_first'), ['first'], unique=False)
        batch_op.create_index(batch_op.f('ix_partner_cards_programme_id'), ['programme_id'], unique=False)

    op.create_table('price_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=8), nullable=False),
    sa.Column('scope_ref', sa.String(length=64), nullable=False),
    sa.Column('price', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('effective_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('product_id', 'scope', 'scope_ref', 'effective_from')
    )
    with op.batch_alter_table('price_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_price_entries_product_id'), ['product_id'], unique=False)

    op.create_table('sale_drifts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sale_id', sa.Integer(), nullable=False),
    sa.Column('store_total', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('central_total', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('details', sa.Text(), nullable=False),
    sa.Column('detected_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['sale_id'], ['sales.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sale_id')
    )
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('family_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_products_family_id'), ['family_id'], unique=False)
        batch_op.create_foreign_key("fk_products_family_id", 'families', ['family_id'], ['id'])

    with op.batch_alter_table('sales', schema=None) as batch_op:
        batch_op.add_column(sa.Column("repriced", sa.Boolean(), nullable=False, server_default=sa.false()))



def downgrade() -> None:
    op.drop_index("ix_changes_entity_key", table_name="changes")
    with op.batch_alter_table('sales', schema=None) as batch_op:
        batch_op.drop_column('repriced')

    with op.batch_alter_table('products', schema=None) as batch_op:
        # WARNING: constraint name is None; this directive will fail as
        # rendered.  Add a name, or use a naming convention; see
        # https://alembic.sqlalchemy.org/en/latest/naming.html
        batch_op.drop_constraint("fk_products_family_id", type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_products_family_id'))
        batch_op.drop_column('family_id')

    op.drop_table('sale_drifts')
    with op.batch_alter_table('price_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_price_entries_product_id'))

    op.drop_table('price_entries')
    with op.batch_alter_table('partner_cards', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_partner_cards_programme_id'))
        batch_op.drop_index(batch_op.f('ix_partner_cards_first'))

    op.drop_table('partner_cards')
    op.drop_table('vip_cards')
    with op.batch_alter_table('policies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_policies_kind'))

    op.drop_table('policies')
    op.drop_table('partner_programmes')
    op.drop_table('families')
