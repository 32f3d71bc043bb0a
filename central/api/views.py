"""Blueprints of the REST API: stores, store groups, categories, brands, products, sales."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app
from flask.views import MethodView

from central.api import schemas as s
from central.api.requests import Blueprint
from central.services import catalog, repricing, sales, stores
from central.transactions import db_session, transactional

stores_blp = Blueprint("stores", __name__, url_prefix="/api/v1/stores",
                       description="Stores (outlets) of the chain")
groups_blp = Blueprint("store-groups", __name__, url_prefix="/api/v1/store-groups",
                       description="Groups of stores, for prices and policies")
categories_blp = Blueprint("categories", __name__, url_prefix="/api/v1/categories",
                           description="Product categories (a tree)")
brands_blp = Blueprint("brands", __name__, url_prefix="/api/v1/brands", description="Brands")
families_blp = Blueprint("families", __name__, url_prefix="/api/v1/families",
                         description="Product families")
products_blp = Blueprint("products", __name__, url_prefix="/api/v1/products",
                         description="The master catalogue, by SKU")
sales_blp = Blueprint("sales", __name__, url_prefix="/api/v1/sales",
                      description="Sales received from the stores")

BLUEPRINTS: tuple[Blueprint, ...] = (stores_blp, groups_blp, categories_blp, brands_blp,
                                     families_blp, products_blp, sales_blp)


def _paged(pagination: Any, result: tuple[list[Any], int]) -> list[Any]:
    items, total = result
    pagination.item_count = total
    return items


def _listing(fetch: Callable[..., tuple[list[Any], int]], pagination: Any,
             args: dict[str, Any]) -> list[Any]:
    return _paged(pagination, fetch(db_session(), pagination.page, pagination.page_size,
                                    **args))


# -- store groups -----------------------------------------------------------------------------

@groups_blp.route("/")
class StoreGroups(MethodView):
    @groups_blp.response(200, s.StoreGroupSchema(many=True))
    @groups_blp.paginate()
    def get(self, pagination_parameters: Any) -> list[Any]:
        """List store groups."""
        return _listing(stores.list_groups, pagination_parameters, {})

    @groups_blp.arguments(s.StoreGroupSchema)
    @groups_blp.response(201, s.StoreGroupSchema)
    @transactional
    def post(self, data: dict[str, Any]) -> Any:
        """Create a store group."""
        return stores.create_group(db_session(), data["code"], data["name"])


@groups_blp.route("/<code>")
class StoreGroupByCode(MethodView):
    @groups_blp.response(200, s.StoreGroupSchema)
    def get(self, code: str) -> Any:
        """Read a store group."""
        return stores.get_group(db_session(), code)

    @groups_blp.arguments(s.StoreGroupUpdateSchema)
    @groups_blp.response(200, s.StoreGroupSchema)
    @transactional
    def patch(self, data: dict[str, Any], code: str) -> Any:
        """Update a store group."""
        return stores.update_group(db_session(), code, data)


# -- stores -----------------------------------------------------------------------------------

@stores_blp.route("/")
class Stores(MethodView):
    @stores_blp.arguments(s.StoreListArgs, location="query")
    @stores_blp.response(200, s.StoreOut(many=True))
    @stores_blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> list[Any]:
        """List stores, optionally by group or active flag."""
        return _listing(stores.list_stores, pagination_parameters, args)

    @stores_blp.arguments(s.StoreSchema)
    @stores_blp.response(201, s.StoreOut)
    @transactional
    def post(self, data: dict[str, Any]) -> Any:
        """Create a store."""
        time_zone = data["time_zone"]
        if time_zone is None:
            time_zone = current_app.extensions["tessera.settings"].default_time_zone
        return stores.create_store(db_session(), data["code"], data["name"], data["group"],
                                   time_zone)


@stores_blp.route("/<code>")
class StoreByCode(MethodView):
    @stores_blp.response(200, s.StoreOut)
    def get(self, code: str) -> Any:
        """Read a store."""
        return stores.get_store(db_session(), code)

    @stores_blp.arguments(s.StoreUpdateSchema)
    @stores_blp.response(200, s.StoreOut)
    @transactional
    def patch(self, data: dict[str, Any], code: str) -> Any:
        """Update a store (name, group, time zone, active)."""
        return stores.update_store(db_session(), code, data)

    @stores_blp.response(200, s.StoreOut)
    @transactional
    def delete(self, code: str) -> Any:
        """Deactivate a store (its history stays)."""
        return stores.update_store(db_session(), code, {"active": False})


# -- categories -------------------------------------------------------------------------------

@categories_blp.route("/")
class Categories(MethodView):
    @categories_blp.arguments(s.ListArgs, location="query")
    @categories_blp.response(200, s.CategoryOut(many=True))
    @categories_blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> list[Any]:
        """List categories."""
        return _listing(catalog.list_categories, pagination_parameters, args)

    @categories_blp.arguments(s.CategorySchema)
    @categories_blp.response(201, s.CategoryOut)
    @transactional
    def post(self, data: dict[str, Any]) -> Any:
        """Create a category, optionally under a parent."""
        return catalog.create_category(db_session(), data["code"], data["name"], data["parent"])


@categories_blp.route("/<code>")
class CategoryByCode(MethodView):
    @categories_blp.response(200, s.CategoryOut)
    def get(self, code: str) -> Any:
        """Read a category."""
        return catalog.get_category(db_session(), code)

    @categories_blp.arguments(s.CategoryUpdateSchema)
    @categories_blp.response(200, s.CategoryOut)
    @transactional
    def patch(self, data: dict[str, Any], code: str) -> Any:
        """Update a category."""
        return catalog.update_category(db_session(), code, data)

    @categories_blp.response(200, s.CategoryOut)
    @transactional
    def delete(self, code: str) -> Any:
        """Deactivate a category."""
        return catalog.update_category(db_session(), code, {"active": False})


# -- brands -----------------------------------------------------------------------------------

@brands_blp.route("/")
class Brands(MethodView):
    @brands_blp.arguments(s.ListArgs, location="query")
    @brands_blp.response(200, s.BrandSchema(many=True))
    @brands_blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> list[Any]:
        """List brands."""
        return _listing(catalog.list_brands, pagination_parameters, args)

    @brands_blp.arguments(s.BrandSchema)
    @brands_blp.response(201, s.BrandSchema)
    @transactional
    def post(self, data: dict[str, Any]) -> Any:
        """Create a brand."""
        return catalog.create_brand(db_session(), data["code"], data["name"])


@brands_blp.route("/<code>")
class BrandByCode(MethodView):
    @brands_blp.response(200, s.BrandSchema)
    def get(self, code: str) -> Any:
        """Read a brand."""
        return catalog.get_brand(db_session(), code)

    @brands_blp.arguments(s.BrandUpdateSchema)
    @brands_blp.response(200, s.BrandSchema)
    @transactional
    def patch(self, data: dict[str, Any], code: str) -> Any:
        """Update a brand."""
        return catalog.update_brand(db_session(), code, data)

    @brands_blp.response(200, s.BrandSchema)
    @transactional
    def delete(self, code: str) -> Any:
        """Deactivate a brand."""
        return catalog.update_brand(db_session(), code, {"active": False})


# -- families ---------------------------------------------------------------------------------

@families_blp.route("/")
class Families(MethodView):
    @families_blp.arguments(s.ListArgs, location="query")
    @families_blp.response(200, s.FamilySchema(many=True))
    @families_blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> list[Any]:
        """List product families."""
        return _listing(catalog.list_families, pagination_parameters, args)

    @families_blp.arguments(s.FamilySchema)
    @families_blp.response(201, s.FamilySchema)
    @transactional
    def post(self, data: dict[str, Any]) -> Any:
        """Create a product family."""
        return catalog.create_family(db_session(), data["code"], data["name"])


@families_blp.route("/<code>")
class FamilyByCode(MethodView):
    @families_blp.response(200, s.FamilySchema)
    def get(self, code: str) -> Any:
        """Read a product family."""
        return catalog.get_family(db_session(), code)

    @families_blp.arguments(s.FamilyUpdateSchema)
    @families_blp.response(200, s.FamilySchema)
    @transactional
    def patch(self, data: dict[str, Any], code: str) -> Any:
        """Update a product family."""
        return catalog.update_family(db_session(), code, data)

    @families_blp.response(200, s.FamilySchema)
    @transactional
    def delete(self, code: str) -> Any:
        """Deactivate a product family."""
        return catalog.update_family(db_session(), code, {"active": False})


# -- products ---------------------------------------------------------------------------------

@products_blp.route("/")
class Products(MethodView):
    @products_blp.arguments(s.ProductListArgs, location="query")
    @products_blp.response(200, s.ProductOut(many=True))
    @products_blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> list[Any]:
        """List products: filter by name (q), category, brand, barcode, active."""
        return _listing(catalog.list_products, pagination_parameters, args)

    @products_blp.arguments(s.ProductSchema)
    @products_blp.response(201, s.ProductOut)
    @transactional
    def post(self, data: dict[str, Any]) -> Any:
        """Create a product; it reaches every store."""
        return catalog.create_product(db_session(), data)


@products_blp.route("/<sku>")
class ProductBySku(MethodView):
    @products_blp.response(200, s.ProductOut)
    def get(self, sku: str) -> Any:
        """Read a product."""
        return catalog.get_product(db_session(), sku)

    @products_blp.arguments(s.ProductUpdateSchema)
    @products_blp.response(200, s.ProductOut)
    @transactional
    def patch(self, data: dict[str, Any], sku: str) -> Any:
        """Change a product (price, name, barcodes, ...); the change reaches every store."""
        return catalog.update_product(db_session(), sku, data)

    @products_blp.response(200, s.ProductOut)
    @transactional
    def delete(self, sku: str) -> Any:
        """Deactivate a product: stores stop selling it; its history stays."""
        return catalog.update_product(db_session(), sku, {"active": False})


# -- sales ------------------------------------------------------------------------------------

@sales_blp.route("/")
class Sales(MethodView):
    @sales_blp.arguments(s.SaleListArgs, location="query")
    @sales_blp.response(200, s.SaleOut(many=True))
    @sales_blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> list[Any]:
        """List sales received from the stores, with their lines."""
        return _listing(sales.list_sales, pagination_parameters, args)


@sales_blp.route("/drift")
class SalesDrift(MethodView):
    @sales_blp.arguments(s.DriftArgs, location="query")
    @sales_blp.response(200, s.DriftOut(many=True))
    @sales_blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> list[Any]:
        """Sales that central priced differently from the store (newest first)."""
        return _listing(repricing.list_drift, pagination_parameters, args)


@sales_blp.route("/<uuid>")
class SaleByUuid(MethodView):
    @sales_blp.response(200, s.SaleOut)
    def get(self, uuid: str) -> Any:
        """Read one sale."""
        return sales.get_sale(db_session(), uuid)
