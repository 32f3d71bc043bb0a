"""Categories (a tree: each may have a parent), brands and families: list, create, edit.

One view pair serves the three kinds; each kind names its service functions and the REST
API's schemas, so a form here is checked by the same rules as a JSON body there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import abort, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext
from marshmallow import Schema, ValidationError

from central.api import schemas
from central.console.pages import field_messages, page_blueprint, render
from central.services import catalog
from central.services.errors import ServiceError
from central.transactions import db_session

references_bp = page_blueprint("references", __name__)

MAX_CHOICES = 1000


@dataclass(frozen=True)
class Kind:
    title: Any  # a lazy translation
    listing: Callable[..., tuple[list[Any], int]]
    create: Callable[..., Any]
    update: Callable[..., Any]
    schema: type[Schema]
    update_schema: type[Schema]
    tree: bool = False


KINDS = {
    "categories": Kind(lazy_gettext("Categories"), catalog.list_categories,
                       catalog.create_category, catalog.update_category,
                       schemas.CategorySchema, schemas.CategoryUpdateSchema, tree=True),
    "brands": Kind(lazy_gettext("Brands"), catalog.list_brands, catalog.create_brand,
                   catalog.update_brand, schemas.BrandSchema, schemas.BrandUpdateSchema),
    "families": Kind(lazy_gettext("Families"), catalog.list_families, catalog.create_family,
                     catalog.update_family, schemas.FamilySchema, schemas.BrandUpdateSchema),
}


def _kind(name: str) -> Kind:
    kind = KINDS.get(name)
    if kind is None:
        abort(404)
    return kind


def _tree(rows: list[Any]) -> list[tuple[int, Any]]:
    """Categories in tree order, each with its depth (parents before their children)."""
    children: dict[int | None, list[Any]] = {}
    for row in rows:
        children.setdefault(row.parent_id, []).append(row)
    known = {row.id for row in rows}
    result: list[tuple[int, Any]] = []

    def visit(parent: int | None, depth: int) -> None:
        for row in sorted(children.get(parent, []), key=lambda r: r.name.lower()):
            result.append((depth, row))
            visit(row.id, depth + 1)

    visit(None, 0)
    for parent in set(children) - known - {None}:  # parents outside the page
        visit(parent, 0)
    return result


def _page(name: str, status: int = 200, errors: dict[str, list[str]] | None = None,
          message: str | None = None, values: Any = None) -> ResponseReturnValue:
    kind = _kind(name)
    rows = kind.listing(db_session(), 1, MAX_CHOICES)[0]
    entries = _tree(rows) if kind.tree else [(0, row) for row in rows]
    return render("catalogue/references.html", status=status, name=name, kind=kind,
                  entries=entries, all_rows=rows, errors=errors or {}, message=message,
                  values=values or {})


def _data(kind: Kind, form: Any, create: bool) -> dict[str, Any]:
    data: dict[str, Any] = {"name": form.get("name", "").strip()}
    if create:
        data["code"] = form.get("code", "").strip()
    else:
        data["active"] = form.get("active") == "on"
    if kind.tree:
        data["parent"] = form.get("parent", "").strip() or None
    return data


@references_bp.route("/catalogue/<name>", methods=["GET", "POST"])
def references(name: str) -> ResponseReturnValue:
    kind = _kind(name)
    if request.method == "GET":
        return _page(name)
    db = db_session()
    try:
        data = kind.schema().load(_data(kind, request.form, create=True))
        if kind.tree:
            kind.create(db, data["code"], data["name"], data.get("parent"))
        else:
            kind.create(db, data["code"], data["name"])
        db.commit()
    except ValidationError as exc:
        db.rollback()
        return _page(name, 422, field_messages(exc.messages), values=request.form)
    except ServiceError as exc:
        db.rollback()
        return _page(name, exc.status, field_messages(exc.errors), exc.message, request.form)
    return redirect(url_for(".references", name=name), 303)


@references_bp.post("/catalogue/<name>/<code>")
def reference(name: str, code: str) -> ResponseReturnValue:
    kind = _kind(name)
    db = db_session()
    try:
        kind.update(db, code, kind.update_schema().load(_data(kind, request.form, False)))
        db.commit()
    except ValidationError as exc:
        db.rollback()
        return _page(name, 422, field_messages(exc.messages))
    except ServiceError as exc:
        db.rollback()
        return _page(name, exc.status, field_messages(exc.errors), exc.message)
    return redirect(url_for(".references", name=name), 303)
