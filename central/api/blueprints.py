"""Every REST resource under /api/v1, in the order of the OpenAPI document.

A new resource is a ``*_views.py`` module with its blueprints and a line here; the app
factory registers this list (after ``access.init_app``, which documents each of them).
"""

from __future__ import annotations

from central.api import (
    auth_views,
    cashier_views,
    customer_views,
    display_views,
    enrolment_views,
    fleet_views,
    footfall_views,
    import_views,
    instruction_views,
    loyalty_views,
    policy_views,
    price_views,
    receipt_views,
    survey_views,
    views,
)
from central.api.requests import Blueprint

BLUEPRINTS: tuple[Blueprint, ...] = (
    *views.BLUEPRINTS,  # stores, store groups, catalogue, sales
    *price_views.PRICE_BLUEPRINTS,
    *policy_views.POLICY_BLUEPRINTS,
    *auth_views.AUTH_BLUEPRINTS,
    *enrolment_views.ENROLMENT_BLUEPRINTS,
    *customer_views.CUSTOMER_BLUEPRINTS,
    *import_views.IMPORT_BLUEPRINTS,
    *fleet_views.FLEET_BLUEPRINTS,
    *receipt_views.RECEIPT_BLUEPRINTS,
    *cashier_views.CASHIER_BLUEPRINTS,
    *loyalty_views.LOYALTY_BLUEPRINTS,
    *instruction_views.INSTRUCTION_BLUEPRINTS,
    *footfall_views.FOOTFALL_BLUEPRINTS,
    *survey_views.SURVEY_BLUEPRINTS,
    *display_views.DISPLAY_BLUEPRINTS,
)
