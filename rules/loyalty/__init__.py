"""Loyalty rules (SPEC L1-L5): accrual, points values of products, levels and gifts, ledger.

Pure like the rest of ``rules``: policies, sales and balances in, points and decisions out.
Policies are frozen dataclasses validated when they are built (an :class:`InvalidPolicy`
names the field), so central's REST layer and the store can share them as they are.
"""
