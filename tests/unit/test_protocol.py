"""The wire contract: encoding, message schemas, topic names and stream names."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest

from protocol import PROTOCOL_VERSION, messages, requests, topics
from protocol.encoding import WireError, dumps, loads
from protocol.streams import ALL, Scope, parse_stream, stream_name

EPOCH = "e" * 32
SALE_UUID = uuid.UUID("6f1c2f3e-8a7b-4c1d-9e0f-123456789abc")


def change(version: int, **extra: Any) -> dict[str, Any]:
    return {"version": version, "entity": "product", "key": f"SKU-{version}", "op": "upsert",
            "data": {"sku": f"SKU-{version}"}, **extra}


def entry(seq: int, **extra: Any) -> dict[str, Any]:
    return {"seq": seq, "kind": "sale", "id": f"id-{seq}", "body": {"n": seq}, **extra}


def with_(message: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**message, **changes}


def sale_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uuid": str(SALE_UUID), "store": "kiosk-1", "number": 7,
        "created_at": "2026-11-22T08:00:00+00:00", "till": "T1", "cashier": "ann",
        "lines": [{"sku": "SKU-1", "barcode": "4006381333931", "name": "Bread",
                   "qty": "2", "unit_price": "1.10", "amount": "2.20", "vat_rate": "9.00"}],
        "total": "2.20",
        "vat": [{"rate": "9.00", "gross": "2.20", "net": "2.02", "vat": "0.18"}],
        "payments": [{"method": "cash", "amount": "5.00"}],
    }
    body.update(overrides)
    return body


# -- encoding ---------------------------------------------------------------------------------

def test_dumps_writes_money_as_exact_strings_and_times_in_utc() -> None:
    cet = dt.timezone(dt.timedelta(hours=1))
    payload = dumps({"amount": Decimal("1.10"), "at": dt.datetime(2026, 1, 2, 9, 30, tzinfo=cet),
                     "day": dt.date(2026, 1, 2), "id": SALE_UUID})
    assert loads(payload) == {"amount": "1.10", "at": "2026-01-02T08:30:00+00:00",
                              "day": "2026-01-02", "id": str(SALE_UUID)}


def test_dumps_gives_the_same_bytes_whatever_the_key_order() -> None:
    assert dumps({"b": 1, "a": {"d": 2, "c": 3}}) == dumps({"a": {"c": 3, "d": 2}, "b": 1})


def test_decimal_survives_a_round_trip_through_the_wire_exactly() -> None:
    body = sale_body(total=Decimal("2.20"))
    sale = messages.parse_sale(loads(dumps(body)))
    assert isinstance(sale["total"], Decimal)
    assert sale["total"].as_tuple() == Decimal("2.20").as_tuple()  # trailing zero kept
    assert sale["lines"][0]["unit_price"].as_tuple() == Decimal("1.10").as_tuple()


@pytest.mark.parametrize("text, expected", [
    ('{"x": 1.1}', Decimal("1.1")),
    ('{"x": 0.1}', Decimal("0.1")),
    ('{"x": 1.10}', Decimal("1.10")),
    ('{"x": 1e-2}', Decimal("0.01")),
])
def test_loads_reads_json_fractions_as_decimal_never_float(text: str, expected: Decimal) -> None:
    value = loads(text)["x"]
    assert type(value) is Decimal
    assert value == expected


def test_naive_datetime_is_refused_on_the_wire() -> None:
    with pytest.raises(TypeError, match="naive"):
        dumps({"at": dt.datetime(2026, 1, 2, 9, 30)})  # noqa: DTZ001 - the point of the test


def test_unknown_types_are_refused_rather_than_guessed() -> None:
    with pytest.raises(TypeError):
        dumps({"x": object()})


@pytest.mark.parametrize("payload, reason", [
    (b"not json", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b"[1, 2]", "JSON object"),
    (b'"text"', "JSON object"),
])
def test_loads_refuses_what_is_not_a_json_object(payload: bytes, reason: str) -> None:
    with pytest.raises(WireError, match=reason):
        loads(payload)


# -- message schemas --------------------------------------------------------------------------

VALID = {
    "changes": messages.envelope("changes", stream="catalog", log_epoch=EPOCH,
                                 changes=[change(4), change(5)]),
    "changes of one store": messages.envelope("changes", stream="store-config@s:kiosk-1",
                                              log_epoch=EPOCH, changes=[change(1)]),
    "delete": messages.envelope(
        "changes", stream="catalog", log_epoch=EPOCH,
        changes=[{"version": 1, "entity": "brand", "key": "acme", "op": "delete", "data": None}]),
    "batch": messages.envelope("batch", store="kiosk-1", epoch=EPOCH,
                               entries=[entry(1), entry(2), entry(3)]),
    "ack": messages.envelope("ack", store="kiosk-1", epoch=EPOCH, seq=0),
    "birth": messages.envelope("birth", store="kiosk-1", online=True, session=3,
                               agent_version="0.1.0", epoch=EPOCH, log_epoch=EPOCH,
                               streams={"catalog": 41}, outbox_head=7, outbox_pending=0),
    "death": messages.envelope("death", store="kiosk-1", online=False, session=3),
    "catch_up": messages.envelope("catch_up", store="kiosk-1", log_epoch=EPOCH,
                                  streams={"catalog": 41, "store-config@s:kiosk-1": 0}),
    "central": messages.envelope("central", online=True),
}


@pytest.mark.parametrize("message", VALID.values(), ids=VALID.keys())
def test_valid_messages_survive_encoding_and_parsing(message: dict[str, Any]) -> None:
    parsed = messages.parse(loads(dumps(message)))
    assert parsed["kind"] == message["kind"]
    assert parsed["v"] == PROTOCOL_VERSION
    for name, value in message.items():
        assert parsed[name] == value, name


def test_parsed_changes_keep_versions_and_data() -> None:
    parsed = messages.parse(loads(dumps(VALID["changes"])), "changes")
    assert [c["version"] for c in parsed["changes"]] == [4, 5]
    assert parsed["changes"][0]["data"] == {"sku": "SKU-4"}


def test_missing_optional_fields_get_their_defaults() -> None:
    birth = messages.parse(messages.envelope("birth", store="kiosk-1", online=True, session=0))
    assert birth["streams"] == {} and birth["epoch"] is None and birth["outbox_head"] is None
    no_data = {"version": 1, "entity": "brand", "key": "acme", "op": "delete"}
    delete = messages.parse(with_(VALID["changes"], changes=[no_data]))
    assert delete["changes"][0]["data"] is None


REFUSED = {
    "unknown kind": (with_(VALID["ack"], kind="telemetry"), "unknown message kind"),
    "no kind": ({"v": 1, "store": "kiosk-1"}, "unknown message kind"),
    "non-consecutive versions": (with_(VALID["changes"], changes=[change(4), change(6)]),
                                 "consecutive versions"),
    "versions out of order": (with_(VALID["changes"], changes=[change(5), change(4)]),
                              "consecutive versions"),
    "repeated version": (with_(VALID["changes"], changes=[change(4), change(4)]),
                         "consecutive versions"),
    "no changes": (with_(VALID["changes"], changes=[]), "invalid changes"),
    "version zero": (with_(VALID["changes"], changes=[change(0)]), "invalid changes"),
    "unknown op": (with_(VALID["changes"], changes=[change(1, op="merge")]), "invalid changes"),
    "bad stream name": (with_(VALID["changes"], stream="Catalog@x:1"), "invalid changes"),
    "non-consecutive seqs": (with_(VALID["batch"], entries=[entry(1), entry(3)]),
                             "consecutive seqs"),
    "seqs going back": (with_(VALID["batch"], entries=[entry(2), entry(1)]),
                        "consecutive seqs"),
    "no entries": (with_(VALID["batch"], entries=[]), "invalid batch"),
    "entry without body": (with_(VALID["batch"], entries=[{"seq": 1, "kind": "sale", "id": "x"}]),
                           "invalid batch"),
    "negative ack": (with_(VALID["ack"], seq=-1), "invalid ack"),
    "ack without epoch": ({k: v for k, v in VALID["ack"].items() if k != "epoch"},
                          "invalid ack"),
    "bad store code": (with_(VALID["birth"], store="../etc"), "invalid birth"),
    "no protocol version": ({k: v for k, v in VALID["ack"].items() if k != "v"}, "invalid ack"),
    "version before the oldest": (with_(VALID["ack"], v=0), "invalid ack"),
    "too new protocol version": (with_(VALID["ack"], v=PROTOCOL_VERSION + 2), "too new"),
    "far too new": (with_(VALID["changes"], v=99), "too new"),
}


@pytest.mark.parametrize("message, reason", REFUSED.values(), ids=REFUSED.keys())
def test_bad_messages_are_refused_with_a_clear_wire_error(message: dict[str, Any],
                                                          reason: str) -> None:
    with pytest.raises(WireError, match=reason):
        messages.parse(message)


def test_a_message_of_another_kind_than_expected_is_refused() -> None:
    with pytest.raises(WireError, match="unexpected message kind 'ack'"):
        messages.parse(VALID["ack"], "batch")
    assert messages.parse(VALID["ack"], "batch", "ack")["seq"] == 0


def test_next_protocol_version_is_read_because_changes_are_additive() -> None:
    # A reader one version behind keeps working during a rolling upgrade (N8).
    newer = with_(VALID["ack"], v=PROTOCOL_VERSION + 1, priority="high")
    assert messages.parse(newer)["seq"] == 0


UNKNOWN_FIELDS = {
    "top level": with_(VALID["batch"], compression="none", trace={"id": 1}),
    "inside an entry": with_(VALID["batch"], entries=[entry(1, signature="abc")]),
    "inside a change": with_(VALID["changes"], changes=[change(4, author="ann")]),
    "birth": with_(VALID["birth"], battery=97),
}


@pytest.mark.parametrize("message", UNKNOWN_FIELDS.values(), ids=UNKNOWN_FIELDS.keys())
def test_unknown_fields_are_ignored(message: dict[str, Any]) -> None:
    parsed = messages.parse(message)
    assert not {"compression", "trace", "battery"} & parsed.keys()
    for nested in parsed.get("entries", []) + parsed.get("changes", []):
        assert not {"signature", "author"} & nested.keys()


def test_a_sale_body_parses_into_decimals_and_an_aware_time() -> None:
    sale = messages.parse_sale(sale_body(weather={"sun": 3}))
    assert sale["uuid"] == SALE_UUID
    assert sale["created_at"] == dt.datetime(2026, 11, 22, 8, tzinfo=dt.UTC)
    assert sale["lines"][0]["qty"] == Decimal(2)
    assert sale["payments"] == [{"method": "cash", "amount": Decimal("5.00")}]
    assert "weather" not in sale


@pytest.mark.parametrize("overrides, field", [
    ({"created_at": "2026-11-22T08:00:00"}, "created_at"),
    ({"uuid": "not-a-uuid"}, "uuid"),
    ({"lines": []}, "lines"),
    ({"total": "two euros"}, "total"),
])
def test_bad_sale_bodies_are_refused_naming_the_field(overrides: dict[str, Any],
                                                      field: str) -> None:
    with pytest.raises(WireError, match=field):
        messages.parse_sale(sale_body(**overrides))


# -- topics -----------------------------------------------------------------------------------

@pytest.mark.parametrize("topic, store", [
    (topics.store_up("kiosk-1"), "kiosk-1"),
    (topics.store_up_ack("kiosk-1"), "kiosk-1"),
    (topics.store_state("market"), "market"),
    (topics.store_down("m.2"), "m.2"),
    (topics.store_cmd("x"), "x"),
    (topics.store_rpc("x"), "x"),
    (topics.store_rpc_reply("x"), "x"),
    (topics.bucket_down("catalog"), None),
    (topics.CENTRAL_STATE, None),
    ("other/v1/stores/kiosk-1/up", None),
    ("tessera/v2/stores/kiosk-1/up", None),
    ("tessera/v1/stores", None),
])
def test_store_of(topic: str, store: str | None) -> None:
    assert topics.store_of(topic) == store


@pytest.mark.parametrize("topic, bucket", [
    (topics.bucket_down("catalog"), "catalog"),
    (topics.bucket_down("store-config"), "store-config"),
    ("tessera/v1/bucket/catalog/down/extra", None),
    ("tessera/v1/bucket/catalog", None),
    (topics.store_down("kiosk-1"), None),
    ("other/v1/bucket/catalog/down", None),
])
def test_bucket_of(topic: str, bucket: str | None) -> None:
    assert topics.bucket_of(topic) == bucket


def test_topic_names_follow_the_architecture() -> None:
    assert topics.store_up_ack("kiosk-1") == "tessera/v1/stores/kiosk-1/up/ack"
    assert topics.bucket_down("catalog") == "tessera/v1/bucket/catalog/down"
    assert topics.CENTRAL_STATE == "tessera/v1/central/state"
    assert topics.shared("ingest", topics.ALL_STORES_UP) == "$share/ingest/tessera/v1/stores/+/up"


# -- streams ----------------------------------------------------------------------------------

@pytest.mark.parametrize("bucket, scope, name", [
    ("catalog", ALL, "catalog"),
    ("prices", Scope("group", "north"), "prices@g:north"),
    ("store-config", Scope("store", "kiosk-1"), "store-config@s:kiosk-1"),
    ("store-config", Scope("store", "m.2_x"), "store-config@s:m.2_x"),
])
def test_stream_names_round_trip(bucket: str, scope: Scope, name: str) -> None:
    assert stream_name(bucket, scope) == name
    assert parse_stream(name) == (bucket, scope)


@pytest.mark.parametrize("name", ["catalog@x:north", "catalog@g:", "catalog@s", "catalog@"])
def test_bad_stream_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="bad stream name"):
        parse_stream(name)


@pytest.mark.parametrize("kind, ref", [("all", "x"), ("group", None), ("store", None)])
def test_scopes_need_a_ref_exactly_when_they_are_not_all(kind: Any, ref: str | None) -> None:
    with pytest.raises(ValueError):
        Scope(kind, ref)


def test_a_request_and_its_reply_round_trip() -> None:
    request = messages.parse(loads(dumps(messages.envelope(
        "request", store="kiosk-1", id="r-1", request="clock", ttl_ms=5000, body={}))),
        "request")
    assert (request["id"], request["request"], request["ttl_ms"]) == ("r-1", "clock", 5000)
    body = requests.dump_reply("clock", {"time": dt.datetime(2026, 11, 22, 8, tzinfo=dt.UTC),
                                         "version": "0.1.0", "protocol": 1})
    reply = messages.parse(loads(dumps(messages.envelope(
        "reply", store="kiosk-1", id="r-1", request="clock", ok=True, body=body))), "reply")
    assert requests.read_reply("clock", reply["body"])["time"] == dt.datetime(
        2026, 11, 22, 8, tzinfo=dt.UTC)
    with pytest.raises(WireError, match="ttl_ms"):
        messages.parse({"v": 1, "kind": "request", "store": "kiosk-1", "id": "r-2",
                        "request": "clock", "ttl_ms": 0}, "request")
    with pytest.raises(WireError, match="unknown request kind 'hold'"):
        requests.read_request("hold", {})



@pytest.mark.parametrize("outer", ["array", "object"])
def test_json_nesting_is_refused_one_level_past_the_limit(outer: str) -> None:
    from protocol.encoding import MAX_DEPTH, JSONError, decode_json

    def nested(levels: int) -> str:
        """``levels`` containers, arrays and objects in turn, around one leaf."""
        text = '"leaf"'
        for level in range(levels):
            # the last one made is the outermost: it is of the ``outer`` kind
            array = ((levels - 1 - level) % 2 == 0) == (outer == "array")
            text = f"[{text}, 1]" if array else f'{{"k": {text}, "n": null}}'
        return text

    assert nested(3).startswith("[" if outer == "array" else "{")
    assert decode_json(nested(MAX_DEPTH)) is not None
    with pytest.raises(JSONError, match="nested deeper than"):
        decode_json(nested(MAX_DEPTH + 1))
    assert decode_json('"a scalar at the top"') == "a scalar at the top"
    assert decode_json('[1, "x", null, {"a": [true]}]') == [1, "x", None, {"a": [True]}]
