"""Wire keys: `wire_casing` and `wire_name` decide the keys of stored JSON.

Events that another MessageDB client wrote (Eventide writes camelCase keys and a
string `schemaVersion`) read back with every value; what aggregen writes uses the
same keys; the lock file records them, so changing one is caught.
"""

from __future__ import annotations

import datetime
import decimal
import importlib
import json
import types
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from aggregen.generator import pipeline
from aggregen.generator.errors import SchemaErrors
from aggregen.generator.validate import load_and_validate
from aggregen.generator.wirekeys import camel_case
from aggregen.review.lock import check_lock, update_lock
from aggregen.review.wire_shape import domain_shapes
from aggregen.runtime import InMemoryEventStore, NewMessage, StreamWrite, connect

from .support import importable

SCHEMA = """\
domain: crm
wire_casing: camelCase
value_objects:
  Address:
    fields:
      street_name: {type: String, required: true}
      post_code: {type: String, wire_name: zip}
aggregates:
  Contact:
    fields:
      first_name: String
      last_name: String
      born_on: Date
      home_address: Address
      phone_numbers: {type: List, of: String}
      credit_limit: Decimal
      signed_up_at: DateTime
    events:
      ContactAdded:
        fields:
          first_name: {type: String, required: true}
          last_name: {type: String, wire_name: surname}
          born_on: Date
          home_address: Address
          phone_numbers: {type: List, of: String}
          credit_limit: Decimal
          signed_up_at: DateTime
    commands:
      add_contact: {event: ContactAdded, creates: true}
"""

ZED = {
    "firstName": "Zed",
    "surname": "Zimmer",
    "bornOn": "1990-02-03",
    "homeAddress": {"streetName": "Main St", "zip": "12345"},
    "phoneNumbers": ["+1 555", "+1 556"],
    "creditLimit": "12.50",
    "signedUpAt": "2024-05-01T12:30:00+00:00",
}


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[types.ModuleType]:
    root = tmp_path_factory.mktemp("wire_keys")
    schema = root / "crm.yaml"
    schema.write_text(SCHEMA, encoding="utf-8")
    pipeline.generate([schema], root / "out")
    with importable(root / "out", ["crm"]):
        yield importlib.import_module("crm")


def _assert_zed(contact: object) -> None:
    assert vars_of(contact) == {
        "first_name": "Zed",
        "last_name": "Zimmer",
        "born_on": datetime.date(1990, 2, 3),
        "phone_numbers": ["+1 555", "+1 556"],
        "credit_limit": decimal.Decimal("12.50"),
        "signed_up_at": datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.UTC),
    }
    address = getattr(contact, "home_address", None)
    assert (getattr(address, "street_name", None), getattr(address, "post_code", None)) == (
        "Main St",
        "12345",
    )


def vars_of(contact: object) -> dict[str, object]:
    names = ("first_name", "last_name", "born_on", "phone_numbers", "credit_limit")
    return {name: getattr(contact, name) for name in (*names, "signed_up_at")}


def test_camel_case() -> None:
    assert camel_case("first_name") == "firstName"
    assert camel_case("address_line_2") == "addressLine2"
    assert camel_case("name") == "name"


def test_events_are_written_under_their_wire_keys(crm: types.ModuleType) -> None:
    address = crm.Address(street_name="Main St", post_code="12345")
    contact = crm.Contact.add_contact(
        first_name="Zed",
        last_name="Zimmer",
        born_on=datetime.date(1990, 2, 3),
        home_address=address,
        phone_numbers=["+1 555", "+1 556"],
        credit_limit=decimal.Decimal("12.50"),
        signed_up_at=datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.UTC),
    )
    event = contact.pending_events[0]
    assert event.to_data() == ZED
    assert crm.ContactAdded.from_data(ZED) == event


def test_an_event_eventide_wrote_by_raw_sql_reads_back_every_value(
    crm: types.ModuleType, messagedb_uri: str
) -> None:
    contact_id = str(uuid.uuid4())
    with psycopg.connect(messagedb_uri, autocommit=True) as conn:
        conn.execute("SET search_path = message_store, public")
        conn.execute(
            "SELECT write_message(%s, %s, %s, %s::jsonb, %s::jsonb, %s)",
            (
                str(uuid.uuid4()),
                f"contact-{contact_id}",
                "ContactAdded",
                json.dumps(ZED),
                json.dumps({"schemaVersion": "1", "correlationStreamName": "x-1"}),
                -1,
            ),
        )
    store = connect(messagedb_uri, max_size=1)
    try:
        contact = crm.ContactRepository(store).get(contact_id)
    finally:
        store.close()
    _assert_zed(contact)
    assert contact._version == 0


def test_the_in_memory_store_reads_the_same_message_the_same(crm: types.ModuleType) -> None:
    store = InMemoryEventStore()
    message = NewMessage(str(uuid.uuid4()), "ContactAdded", ZED, {"schemaVersion": None})
    store.append([StreamWrite("contact-a", -1, [message])])
    _assert_zed(crm.ContactRepository(store).get("a"))


def test_two_fields_under_one_wire_key_are_a_schema_error(tmp_path: Path) -> None:
    schema = tmp_path / "crm.yaml"
    schema.write_text(
        SCHEMA.replace(
            "post_code: {type: String, wire_name: zip}",
            "post_code: {type: String, wire_name: streetName}",
        ),
        encoding="utf-8",
    )
    with pytest.raises(SchemaErrors) as raised:
        pipeline.models([schema])
    assert [(e.line, e.message) for e in raised.value.errors] == [
        (
            7,
            "field 'post_code' is stored under the key 'streetName', as field 'street_name' "
            "is: give one of them another `wire_name`",
        )
    ]


def test_the_lock_records_wire_keys_and_refuses_a_changed_one(tmp_path: Path) -> None:
    schema = tmp_path / "crm.yaml"
    schema.write_text(SCHEMA, encoding="utf-8")
    lock_path = tmp_path / "aggregen.lock.json"
    lock = update_lock(load_and_validate([schema]), lock_path)
    (event,) = [e for e in lock.events() if e.type_name == "ContactAdded"]
    assert event.fields["last_name"]["wire_key"] == "surname"
    assert event.fields["home_address"]["fields"]["post_code"]["wire_key"] == "zip"
    assert event.fields["home_address"]["fields"]["street_name"]["wire_key"] == "streetName"
    schema.write_text(SCHEMA.replace("wire_name: surname", "wire_name: family_name"), "utf-8")
    errors = check_lock(load_and_validate([schema]), lock)
    assert [e.message for e in errors] == [
        "event Contact.ContactAdded version 1 was changed in place: its wire shape differs "
        "from the locked one (field 'last_name' changed its wire key from 'surname' to "
        "'family_name'); raise its version (and keep the old shape readable) instead"
    ]


def test_a_field_stored_under_its_own_name_has_the_wire_shape_it_had(tmp_path: Path) -> None:
    schema = tmp_path / "crm.yaml"
    schema.write_text(SCHEMA.replace("wire_casing: camelCase\n", ""), encoding="utf-8")
    shapes = domain_shapes(load_and_validate([schema]))
    (event,) = shapes["crm"].aggregates[0].events
    assert "wire_key" not in event.fields["first_name"]
    assert event.fields["last_name"]["wire_key"] == "surname"


def test_upcasters_rename_and_default_under_wire_keys(tmp_path: Path) -> None:
    schema = tmp_path / "crm.yaml"
    schema.write_text(
        SCHEMA.replace("      ContactAdded:\n", "      ContactAdded:\n        version: 2\n")
        .replace(
            "last_name: {type: String, wire_name: surname}",
            "last_name: {type: String, wire_name: surname, aliases: [family_name]}",
        )
        .replace(
            "          credit_limit: Decimal\n          signed_up_at",
            "          credit_limit: {type: Decimal, default: '5'}\n          signed_up_at",
        ),
        encoding="utf-8",
    )
    pipeline.generate([schema], tmp_path / "out")
    with importable(tmp_path / "out", ["crm"]):
        crm = importlib.import_module("crm")
        store = InMemoryEventStore()
        v1 = {"firstName": "Zed", "familyName": "Zimmer", "creditLimit": None}
        message = NewMessage(str(uuid.uuid4()), "ContactAdded", v1, {"schemaVersion": "1"})
        store.append([StreamWrite("contact-b", -1, [message])])
        contact = crm.ContactRepository(store).get("b")
        assert (contact.first_name, contact.last_name) == ("Zed", "Zimmer")
        assert contact.credit_limit == decimal.Decimal("5")
