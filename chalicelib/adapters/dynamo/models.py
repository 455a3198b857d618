"""PynamoDB table models.

Three tables:

* ``main`` holds every mutable entity under generic keys (``pk``/``sk``) with two overloaded
  global secondary indexes. A person's own items live under the ``USER#<id>`` partition so that GDPR
  export and erasure find them from the id alone. The entity itself is stored as JSON in ``data``;
  ``status`` is a top-level attribute because state transitions are conditional writes on it.
* ``consent-ledger`` and ``audit-log`` are append-only: the app only ever puts new items, conditional
  on absence (infra denies UpdateItem/DeleteItem on them to the app's role).

Table names come from the environment when this module is imported and can be re-bound by
``bind_table_names`` (PynamoDB reconnects when ``Meta.table_name`` changes).
"""

from __future__ import annotations

import os

from pynamodb.attributes import JSONAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model


class _Gsi1(GlobalSecondaryIndex["MainItem"]):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()
        billing_mode = "PAY_PER_REQUEST"

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class _Gsi2(GlobalSecondaryIndex["MainItem"]):
    class Meta:
        index_name = "gsi2"
        projection = AllProjection()
        billing_mode = "PAY_PER_REQUEST"

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


class _Gsi3(GlobalSecondaryIndex["MainItem"]):
    class Meta:
        index_name = "gsi3"
        projection = AllProjection()
        billing_mode = "PAY_PER_REQUEST"

    gsi3pk = UnicodeAttribute(hash_key=True)
    gsi3sk = UnicodeAttribute(range_key=True)


class _Gsi4(GlobalSecondaryIndex["MainItem"]):
    class Meta:
        index_name = "gsi4"
        projection = AllProjection()
        billing_mode = "PAY_PER_REQUEST"

    gsi4pk = UnicodeAttribute(hash_key=True)
    gsi4sk = UnicodeAttribute(range_key=True)


class MainItem(Model):
    class Meta:
        table_name = os.environ.get("TABLE_MAIN", "customersonly-dev-main")
        billing_mode = "PAY_PER_REQUEST"
        stream_view_type = "NEW_AND_OLD_IMAGES"  # the event pump / index Lambda read this stream

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()  # entity type, e.g. "user", "organisation"
    status = UnicodeAttribute(null=True)
    revision = NumberAttribute(null=True)  # optimistic lock of entities that have one (Expect.revision)
    data = JSONAttribute()
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    gsi3pk = UnicodeAttribute(null=True)
    gsi3sk = UnicodeAttribute(null=True)
    gsi4pk = UnicodeAttribute(null=True)
    gsi4sk = UnicodeAttribute(null=True)
    expires = TTLAttribute(null=True, attr_name="ttl")

    by_gsi1 = _Gsi1()
    by_gsi2 = _Gsi2()
    by_gsi3 = _Gsi3()
    by_gsi4 = _Gsi4()


class ConsentEntryItem(Model):
    class Meta:
        table_name = os.environ.get("TABLE_CONSENT_LEDGER", "customersonly-dev-consent-ledger")
        billing_mode = "PAY_PER_REQUEST"

    subject_id = UnicodeAttribute(hash_key=True)
    entry_id = UnicodeAttribute(range_key=True)
    data = JSONAttribute()


class AuditEntryItem(Model):
    class Meta:
        table_name = os.environ.get("TABLE_AUDIT_LOG", "customersonly-dev-audit-log")
        billing_mode = "PAY_PER_REQUEST"

    subject_id = UnicodeAttribute(hash_key=True)
    sort_key = UnicodeAttribute(range_key=True)  # "<at ISO>#<entry id>": newest last
    data = JSONAttribute()


TABLE_MODELS: tuple[type[Model], ...] = (MainItem, ConsentEntryItem, AuditEntryItem)


def bind_table_names(main: str, consent_ledger: str, audit_log: str) -> None:
    MainItem.Meta.table_name = main
    ConsentEntryItem.Meta.table_name = consent_ledger
    AuditEntryItem.Meta.table_name = audit_log


def ensure_tables() -> list[str]:
    """Create missing tables (local stack and tests), and the indexes a table restored from an older
    local snapshot lacks; returns the names created. Idempotent."""
    created = []
    for model in TABLE_MODELS:
        if not model.exists():
            model.create_table(wait=True)
            if model is MainItem:
                model.update_ttl(ignore_update_ttl_errors=False)
            created.append(model.Meta.table_name)
    _ensure_indexes(MainItem)
    return created


def _ensure_indexes(model: type[Model]) -> None:
    """Adds the model's global secondary indexes that its table lacks (PynamoDB only creates them with the
    table). In AWS the indexes are infra's; this serves the local stack's saved data."""
    connection = model._get_connection().connection
    table = connection.describe_table(model.Meta.table_name)
    present = {index["IndexName"] for index in table.get("GlobalSecondaryIndexes", [])}
    schema = model._get_schema()
    wanted = [index for index in schema["global_secondary_indexes"] if index["index_name"] not in present]
    if not wanted:
        return
    connection.client.update_table(
        TableName=model.Meta.table_name,
        AttributeDefinitions=[definition for index in wanted for definition in index["attribute_definitions"]],
        GlobalSecondaryIndexUpdates=[
            {"Create": {"IndexName": index["index_name"], "KeySchema": index["key_schema"], "Projection": index["projection"]}}
            for index in wanted
        ],
    )
