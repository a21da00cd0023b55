"""The Debezium MySQL-connector envelope: a committed write set as broker records.

Theory of operation
-------------------
One write set (one committed transaction) becomes an ordered list of ``SinkRecord``s, each with
its own ``Position`` (cdc/DESIGN.md §2): the index counts every record the write set makes,
before any filter, so a record's position never depends on what else a sink publishes.

======================  =========================================================  ==========
change                  records (topic ``<prefix>.<db>.<table>``)                 op
======================  =========================================================  ==========
INSERT                  value {before: null, after}                                c
UPDATE (same key)       value {before, after}                                      u
DELETE                  value {before, after: null}; then a tombstone (value null) d
UPDATE moving the key   delete + tombstone for the old key, create for the new     d, -, c
DDL                     schema-change event on topic ``<prefix>`` (key null)       -
TRUNCATE TABLE          its deletes (as DELETE) and its schema-change event; with  d / t
                        ``t`` not skipped, one truncate record (key null, before
                        and after null) after the schema event, and no deletes
BEGIN / END             on ``<prefix>.transaction`` when ``transaction_events``    -
======================  =========================================================  ==========

``skipped_operations`` is Debezium's ``skipped.operations``: the ops among c, u, d, t not
published (their positions are still counted); ``{"t"}`` by default, as Debezium's.

Values are "JSON with schema" as Kafka Connect's JsonConverter writes them with schemas on:
``{"schema": <Envelope struct>, "payload": {before, after, source, op, ts_ms, ts_us, ts_ns,
transaction}}``. Keys are ``{"schema": <Key struct>, "payload": {<pk columns>}}``; a table
without a primary key has a null key (and no tombstones), as in Debezium. Column types map as
``columns.py`` documents. ``source`` has the MySQL connector's fields — version, connector
"mysql", name (the prefix), ts_ms (commit time), snapshot, db, table, server_id (the origin
node), gtid (null), file/pos/row (the position), thread, query — plus ``txId``, ``commit_ts``
(the packed HLC commit version) and ``position`` (its text).

The schema JSON of a table is built once per table shape and spliced in as bytes: building it
per record would cost more than the rest of the record.

Never published: marmotdb's own replicated bookkeeping rows (``__marmot_*`` tables:
AUTO_INCREMENT block claims, accounts). Not emitted: the ``__debezium.newkey``/``oldkey``
headers of a key change (SinkRecord carries no headers).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from marmotdb import __version__
from marmotdb.cdc.filters import TableFilter
from marmotdb.cdc.columns import TEXT_CODEC, FieldCodec, codec_for_column
from marmotdb.cdc.position import SNAPSHOT_ORIGIN, Position
from marmotdb.cdc.sink import SinkRecord
from marmotdb.sql.catalog.model import TableModel
from marmotdb.sql.rewrites.ddl_target import ddl_target
from marmotdb.storage.schema import INTERNAL_PREFIX, TableSchema
from marmotdb.storage.writeset import ChangeOp, SchemaChange, WriteSet

CONNECTOR = "mysql"
VERSION = f"marmotdb-{__version__}"
TableModels = Callable[[str, str], TableModel | None]   # (database, table) -> model
_NAME_RE = re.compile(r"[^A-Za-z0-9_]")


def topic_part(name: str) -> str:
    """A database or table name as one token of a topic/subject (Avro name rules)."""
    return _NAME_RE.sub("_", name)


def _field(kind: str, field: str, optional: bool, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "optional": optional, **extra, "field": field}


def _enum(field: str, allowed: str, optional: bool) -> dict[str, Any]:
    return _field("string", field, optional, name="io.debezium.data.Enum", version=1,
                  parameters={"allowed": allowed})


SOURCE_SCHEMA: dict[str, Any] = {
    "type": "struct", "fields": [
        _field("string", "version", False), _field("string", "connector", False),
        _field("string", "name", False), _field("int64", "ts_ms", False),
        _enum("snapshot", "true,first,first_in_data_collection,last_in_data_collection,last,"
              "false,incremental", True),
        _field("string", "db", False), _field("string", "sequence", True),
        _field("int64", "ts_us", True), _field("int64", "ts_ns", True),
        _field("string", "table", True), _field("int64", "server_id", False),
        _field("string", "gtid", True), _field("string", "file", False),
        _field("int64", "pos", False), _field("int32", "row", False),
        _field("int64", "thread", True), _field("string", "query", True),
        _field("string", "txId", True), _field("int64", "commit_ts", True),
        _field("string", "position", True)],
    "optional": False, "name": "io.debezium.connector.mysql.Source", "field": "source"}
TRANSACTION_SCHEMA: dict[str, Any] = {
    "type": "struct", "fields": [
        _field("string", "id", False), _field("int64", "total_order", False),
        _field("int64", "data_collection_order", False)],
    "optional": True, "name": "event.block", "version": 1, "field": "transaction"}


class TableCodec:
    """One table shape (database, table, columns, key) and its cached schemas."""

    def __init__(self, prefix: str, database: str, schema: TableSchema,
                 model: TableModel | None):
        self.topic = f"{prefix}.{topic_part(database)}.{topic_part(schema.name)}"
        self.columns = schema.columns
        self.key = schema.key
        codecs = [_codec(model, name) for name in schema.columns]
        self.converters = [codec.convert for codec in codecs]
        self._columns = [(name, codec.passthrough, codec.convert)
                         for name, codec in zip(schema.columns, codecs)]
        fields = [_column_field(model, name, codec, schema.key, i)
                  for i, (name, codec) in enumerate(zip(schema.columns, codecs))]
        value_struct = {"type": "struct", "fields": fields, "optional": True,
                        "name": f"{self.topic}.Value"}
        envelope = {
            "type": "struct", "fields": [
                {**value_struct, "field": "before"}, {**value_struct, "field": "after"},
                SOURCE_SCHEMA, TRANSACTION_SCHEMA, _field("string", "op", False),
                _field("int64", "ts_ms", True), _field("int64", "ts_us", True),
                _field("int64", "ts_ns", True)],
            "optional": False, "name": f"{self.topic}.Envelope", "version": 2}
        self.value_head = b'{"schema":' + orjson.dumps(envelope) + b',"payload":'
        key_fields = [{**fields[i], "optional": False} for i in schema.key]
        key_schema = {"type": "struct", "fields": key_fields, "optional": False,
                      "name": f"{self.topic}.Key"}
        self.key_head = b'{"schema":' + orjson.dumps(key_schema) + b',"payload":'

    def row(self, image: tuple[Any, ...] | None) -> dict[str, Any] | None:
        if image is None:
            return None
        return {name: value if type(value) in passthrough else convert(value)
                for (name, passthrough, convert), value in zip(self._columns, image)}

    def key_bytes(self, image: tuple[Any, ...]) -> bytes | None:
        if not self.key:
            return None
        payload = {self.columns[i]: self.converters[i](image[i]) for i in self.key}
        return self.key_head + orjson.dumps(payload) + b"}"

    def value_bytes(self, payload: dict[str, Any]) -> bytes:
        return self.value_head + orjson.dumps(payload) + b"}"


def _codec(model: TableModel | None, name: str) -> FieldCodec:
    column = model.column(name) if model is not None else None
    return TEXT_CODEC if column is None else codec_for_column(column)


def _column_field(model: TableModel | None, name: str, codec: FieldCodec,
                  key: tuple[int, ...], index: int) -> dict[str, Any]:
    column = model.column(name) if model is not None else None
    optional = index not in key and (column is None or column.nullable)
    return {**codec.schema, "optional": optional, "field": name}


SKIPPED_OPERATIONS_DEFAULT = frozenset("t")  # Debezium's default


class Envelopes:
    """Builds the records of write sets for one sink (its prefix and settings).

    ``models(database, table)`` returns the catalog's model of a table (None when unknown),
    ``schemas(database, table)`` its storage schema (for the truncate record of a table the
    write set has no row of); ``filter`` is the sink's (None: everything). Table codecs are
    cached by shape, at most ``codecs_max`` of them."""

    def __init__(self, prefix: str, models: TableModels, filter: TableFilter | None = None, *,
                 transaction_events: bool = False, skipped_operations: frozenset[str] =
                 SKIPPED_OPERATIONS_DEFAULT,
                 schemas: Callable[[str, str], TableSchema | None] | None = None,
                 codecs_max: int = 4096):
        self.prefix = prefix
        self._models = models
        self.schemas = schemas  # (database, table) -> storage schema: a truncated empty table
        self.filter = filter or TableFilter()
        self.transaction_events = transaction_events
        self.skipped = skipped_operations
        self._codecs: dict[tuple[str, TableSchema, int], TableCodec] = {}
        self._codecs_max = codecs_max
        self.generation = 0  # bump (forget codecs) when a DDL may have changed a table's model

    def forget_tables(self) -> None:
        self._codecs.clear()

    def codec(self, database: str, schema: TableSchema) -> TableCodec:
        ident = (database, schema, self.generation)
        found = self._codecs.get(ident)
        if found is None:
            if len(self._codecs) >= self._codecs_max:
                self._codecs.clear()
            found = self._codecs[ident] = TableCodec(
                self.prefix, database, schema, self._models(database, schema.name))
        return found

    # ------------------------------------------------------------------ write sets
    def records(self, write_set: WriteSet, now_us: int) -> list[SinkRecord]:
        """Every record of one committed write set, in order (empty for an abort marker)."""
        if not write_set.changes and not write_set.schema_changes:
            return []
        build = _Build(self, write_set, now_us)
        return build.run()

    def source(self, database: str, table: str | None, position: Position, commit_wall_ms: int,
               *, commit_ts: int | None, tx_id: str | None, snapshot: str = "false"
               ) -> dict[str, Any]:
        return {"version": VERSION, "connector": CONNECTOR, "name": self.prefix,
                "ts_ms": commit_wall_ms, "snapshot": snapshot, "db": database,
                "sequence": None, "ts_us": commit_wall_ms * 1000,
                "ts_ns": commit_wall_ms * 1_000_000, "table": table,
                "server_id": position.origin, "gtid": None, "file": position.file,
                "pos": position.origin_seq, "row": position.index, "thread": None,
                "query": None, "txId": tx_id, "commit_ts": commit_ts,
                "position": position.text()}

    # ------------------------------------------------------------------ snapshots
    def snapshot_records(self, database: str, schema: TableSchema, rows: Iterable[tuple[Any, ...]],
                         snapshot_seq: int, first_index: int, now_us: int, started_ms: int
                         ) -> list[SinkRecord]:
        """``op: r`` records of rows read by an initial snapshot (origin 0, cdc/DESIGN.md §4)."""
        codec = self.codec(database, schema)
        records = []
        for offset, image in enumerate(rows):
            position = Position(database, SNAPSHOT_ORIGIN, snapshot_seq, first_index + offset)
            payload = {"before": None, "after": codec.row(image),
                       "source": self.source(database, schema.name, position, started_ms,
                                             commit_ts=None, tx_id=None, snapshot="true"),
                       "transaction": None, "op": "r", **_times(now_us)}
            records.append(SinkRecord(codec.topic, codec.key_bytes(image),
                                      codec.value_bytes(payload), position.text()))
        return records


def _times(now_us: int) -> dict[str, int]:
    return {"ts_ms": now_us // 1000, "ts_us": now_us, "ts_ns": now_us * 1000}


class _Build:
    """The records of one write set (a function's state, split into steps)."""

    def __init__(self, envelopes: Envelopes, write_set: WriteSet, now_us: int):
        self.env, self.ws, self.now_us = envelopes, write_set, now_us
        self.database = write_set.database
        self.schemas = {schema.name: schema for schema in write_set.tables}
        self.out: list[SinkRecord] = []
        self.index = 0
        ts = write_set.txn_id
        self.tx_id = f"{ts.wall_ms}.{ts.logical}.{ts.node_id}"
        self.commit_ts = write_set.commit_ts.pack()
        self.counts: dict[str, int] = {}  # per data collection, for transaction events
        self.total = 0
        # the source block of this write set; each record changes table, row and position
        self.base_source = envelopes.source(
            self.database, None, Position(self.database, write_set.origin, write_set.origin_seq, 0),
            write_set.commit_ts.wall_ms, commit_ts=self.commit_ts, tx_id=self.tx_id)

    def position(self) -> Position:
        position = Position(self.database, self.ws.origin, self.ws.origin_seq, self.index)
        self.index += 1
        return position

    def run(self) -> list[SinkRecord]:
        ws, env = self.ws, self.env
        if env.transaction_events:
            self.transaction("BEGIN")
        ddl = sorted(ws.schema_changes, key=lambda entry: entry.position)
        # a TRUNCATE is its own transaction: every delete of its table here is one of its own
        self.truncated = {table for entry in ddl if (table := _truncated_table(entry.mysql))}
        for i, change in enumerate(ws.changes):
            while ddl and ddl[0].position <= i:
                self.schema_change(ddl.pop(0))
            self.change(change)
        for entry in ddl:
            self.schema_change(entry)
        if env.transaction_events:
            self.transaction("END")
        return self.out

    def change(self, change: Any) -> None:
        table = change.table
        schema = self.schemas[table]
        wanted = not table.startswith(INTERNAL_PREFIX) and \
            self.env.filter.table(self.database, table)
        codec = self.env.codec(self.database, schema) if wanted else None
        if change.op == ChangeOp.UPDATE and change.old_key != change.new_key:
            self.row_event(codec, table, "d", change.before, None)
            self.row_event(codec, table, "c", None, change.after)
        elif change.op == ChangeOp.UPDATE:
            self.row_event(codec, table, "u", change.before, change.after)
        elif change.op == ChangeOp.INSERT:
            self.row_event(codec, table, "c", None, change.after)
        else:
            self.row_event(codec, table, "d", change.before, None)

    def row_event(self, codec: TableCodec | None, table: str, op: str,
                  before: tuple[Any, ...] | None, after: tuple[Any, ...] | None) -> None:
        position = self.position()
        tombstone = self.position() if op == "d" else None
        if codec is None or op in self.env.skipped or (
                op == "d" and table in self.truncated and "t" not in self.env.skipped):
            return
        self.total += 1
        collection = f"{self.database}.{table}"
        self.counts[collection] = self.counts.get(collection, 0) + 1
        transaction = {"id": self.tx_id, "total_order": self.total,
                       "data_collection_order": self.counts[collection]} \
            if self.env.transaction_events else None
        payload = {"before": codec.row(before), "after": codec.row(after),
                   "source": {**self.base_source, "table": table, "row": position.index,
                              "position": position.text()},
                   "transaction": transaction, "op": op, **_times(self.now_us)}
        image = after if after is not None else before
        assert image is not None
        key = codec.key_bytes(image)
        self.out.append(SinkRecord(codec.topic, key, codec.value_bytes(payload), position.text()))
        if tombstone is not None and key is not None:
            self.out.append(SinkRecord(codec.topic, key, None, tombstone.text()))

    def schema_change(self, entry: SchemaChange) -> None:
        position = self.position()
        self.env.generation += 1  # the table's model may have changed: rebuild codecs
        if not self.env.filter.database(self.database):
            return
        source = self.env.source(self.database, None, position, self.ws.commit_ts.wall_ms,
                                 commit_ts=self.commit_ts, tx_id=self.tx_id)
        value = schema_change_value(self.database, entry.mysql, source, self.now_us,
                                    self.env._models)
        self.out.append(SinkRecord(self.env.prefix, None, value, position.text()))
        table = _truncated_table(entry.mysql)
        if table is not None:
            self.truncate(table)

    def truncate(self, table: str) -> None:
        """Debezium's truncate record: key null, no row images (its position is counted
        whether or not it is published)."""
        position = self.position()
        if "t" in self.env.skipped or table.startswith(INTERNAL_PREFIX) or \
                not self.env.filter.table(self.database, table):
            return
        schema = self.schemas.get(table)  # an empty table's truncate has no row here: the
        if schema is None and self.env.schemas is not None:  # catalog's
            schema = self.env.schemas(self.database, table)
        if schema is None:
            return
        codec = self.env.codec(self.database, schema)
        payload = {"before": None, "after": None,
                   "source": {**self.base_source, "table": table, "row": position.index,
                              "position": position.text()},
                   "transaction": None, "op": "t", **_times(self.now_us)}
        self.out.append(SinkRecord(codec.topic, None, codec.value_bytes(payload),
                                   position.text()))

    def transaction(self, status: str) -> None:
        position = self.position()
        payload: dict[str, Any] = {"status": status, "id": self.tx_id,
                                   "ts_ms": self.ws.commit_ts.wall_ms}
        if status == "END":
            payload["event_count"] = self.total
            payload["data_collections"] = [
                {"data_collection": name, "event_count": count}
                for name, count in self.counts.items()]
        else:
            payload["event_count"] = None
            payload["data_collections"] = None
        key = orjson.dumps({"schema": _TX_KEY_SCHEMA, "payload": {"id": self.tx_id}})
        value = orjson.dumps({"schema": _TX_VALUE_SCHEMA, "payload": payload})
        self.out.append(SinkRecord(f"{self.env.prefix}.transaction", key, value,
                                   position.text()))


_TX_KEY_SCHEMA = {"type": "struct", "fields": [_field("string", "id", False)], "optional": False,
                  "name": "io.debezium.connector.common.TransactionMetadataKey"}
_TX_VALUE_SCHEMA = {
    "type": "struct", "fields": [
        _field("string", "status", False), _field("string", "id", False),
        _field("int64", "ts_ms", False), _field("int64", "event_count", True),
        {"type": "array", "items": {"type": "struct", "fields": [
            _field("string", "data_collection", False), _field("int64", "event_count", False)],
            "optional": False}, "optional": True, "field": "data_collections"}],
    "optional": False, "name": "io.debezium.connector.common.TransactionMetadataValue"}

# ---------------------------------------------------------------------- schema changes
_DDL_RE = re.compile(
    r"^\s*(CREATE|ALTER|DROP|RENAME|TRUNCATE)\s+(?:TEMPORARY\s+)?(TABLE|VIEW|INDEX|"
    r"DATABASE|SCHEMA|PROCEDURE|FUNCTION|TRIGGER|UNIQUE\s+INDEX)?\s*(?:IF\s+(?:NOT\s+)?EXISTS\s+)?"
    r"(`[^`]+`|[\w$]+)?", re.IGNORECASE)


def _truncated_table(ddl: str) -> str | None:
    """The table a ``TRUNCATE [TABLE] [db.]name`` empties (None: another statement)."""
    target = ddl_target(ddl) if ddl.lstrip()[:8].upper() == "TRUNCATE" else None
    return target.name[1] if target is not None and target.verb == "TRUNCATE" else None


_TABLE_CHANGE = {"CREATE": "CREATE", "ALTER": "ALTER", "DROP": "DROP", "RENAME": "ALTER",
                 "TRUNCATE": "ALTER"}
_JDBC = {"tinyint": -6, "smallint": 5, "mediumint": 4, "int": 4, "bigint": -5, "decimal": 3,
         "float": 7, "double": 8, "char": 1, "varchar": 12, "date": 91, "time": 92,
         "datetime": 93, "timestamp": 2014, "year": 4, "json": 1111, "bit": -7}


def schema_change_value(database: str, ddl: str, source: dict[str, Any], now_us: int,
                        models: TableModels) -> bytes:
    """The value of a schema-change event (topic ``<prefix>``): the DDL text as the client
    sent it, and the table it changed as the catalog describes it at publication time."""
    changes = []
    found = _DDL_RE.match(ddl)
    if found and (found.group(2) or "").upper() == "TABLE" and found.group(3):
        table = found.group(3).strip("`")
        kind = _TABLE_CHANGE[found.group(1).upper()]
        model = models(database, table) if kind != "DROP" else None
        changes.append({"type": kind, "id": f'"{database}"."{table}"',
                        "table": _table_description(model) if model is not None else None})
    payload = {"source": source, "ts_ms": now_us // 1000, "databaseName": database,
               "schemaName": None, "ddl": ddl, "tableChanges": changes}
    return orjson.dumps({"schema": _SCHEMA_CHANGE_SCHEMA, "payload": payload})


def _table_description(model: TableModel) -> dict[str, Any]:
    primary = model.primary
    return {
        "defaultCharsetName": model.charset,
        "primaryKeyColumnNames": [name for name, _, _ in primary.columns] if primary else [],
        "columns": [{"name": c.name, "jdbcType": _JDBC.get(c.data_type, 12),
                     "typeName": c.data_type.upper(), "typeExpression": c.column_type.upper(),
                     "charsetName": c.charset, "position": i + 1, "optional": c.nullable,
                     "autoIncremented": c.auto_increment, "generated": c.auto_increment
                     or c.generated is not None, "comment": c.comment or None}
                    for i, c in enumerate(model.columns)]}


_SCHEMA_CHANGE_SCHEMA = {
    "type": "struct", "fields": [
        SOURCE_SCHEMA, _field("int64", "ts_ms", False), _field("string", "databaseName", True),
        _field("string", "schemaName", True), _field("string", "ddl", True),
        {"type": "array", "items": {"type": "struct", "fields": [
            _field("string", "type", False), _field("string", "id", False),
            {"type": "struct", "fields": [], "optional": True, "field": "table"}],
            "optional": False, "name": "io.debezium.connector.schema.Change"},
         "optional": False, "field": "tableChanges"}],
    "optional": False, "name": "io.debezium.connector.mysql.SchemaChangeValue"}
