#!/usr/bin/env python3
"""Decodes infragraph messages the way a consumer in another team would.

Usage: decode_with_fastavro.py AVRO_DIR MSG_DIR

Reads the writer schemas (*.avsc) in AVRO_DIR and fingerprints each one
itself (parsing canonical form, CRC-64-AVRO), then decodes every *.bin file
in MSG_DIR as an Avro single-object message: magic C3 01, the writer
schema's fingerprint (8 bytes, little-endian), the Avro binary body.

Prints one JSON line per message, in file-name order:

  {"file", "schema", "fingerprint", "record", "resolved", "dropped"}

or {"file", "error"} when the message cannot be decoded. "record" is the
body read with its writer schema. "resolved" is the same body read with a
different reader schema (see reader_schema below), to show Avro schema
resolution across libraries; "dropped" lists the fields that reader lacks.

Values are tagged with their Avro type ({"long": 5}, {"string": "a"},
{"double": "<IEEE-754 bits, 16 hex digits>"}, ...), and a union of named
types as {"<full name>": value}, so the other side can check types as well
as values, and doubles bit for bit (NaN and infinities included).
"""

import copy
import io
import json
import pathlib
import struct
import sys

import fastavro
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

MAGIC = b"\xc3\x01"
HEADER_LEN = 10
READER_ADDED = {"name": "reader_added", "type": "string", "default": "not in the writer"}


def load_schemas(avro_dir):
    """Maps fingerprint (the 8 header bytes) to (full name, writer schema)."""
    schemas = {}
    for path in sorted(pathlib.Path(avro_dir).glob("*.avsc")):
        schema = json.loads(path.read_text())
        canonical = to_parsing_canonical_form(schema)
        # fastavro gives the CRC-64-AVRO fingerprint as the hex of its
        # little-endian bytes: exactly the bytes a single-object header holds.
        fp = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
        name = schema.get("namespace", "") + "." + schema["name"]
        schemas[fp] = (name, schema)
    return schemas


def reader_schema(writer):
    """An older-and-newer reader in one: it lacks the writer's last top-level
    field and last observation property, and has a field the writer lacks,
    which resolution must fill from its default."""
    reader = copy.deepcopy(writer)
    fields = reader["fields"]
    dropped = []
    props = next((f for f in fields if f["name"] == "properties" and isinstance(f["type"], dict)), None)
    if props is not None and props["type"].get("type") == "record":
        dropped.append("properties." + props["type"]["fields"].pop()["name"])
    if len(fields) > 1:
        dropped.append(fields.pop()["name"])
    fields.append(READER_ADDED)
    return reader, dropped


def tagged(value):
    """A decoded value with its Avro type made explicit."""
    if value is None:
        return None
    if isinstance(value, bool):
        return {"boolean": value}
    if isinstance(value, int):
        return {"long": value}
    if isinstance(value, float):
        return {"double": struct.pack(">d", value).hex()}
    if isinstance(value, str):
        return {"string": value}
    if isinstance(value, list):
        return {"array": [tagged(v) for v in value]}
    if isinstance(value, tuple):  # a union of named types: (name, value)
        name, inner = value
        return {name: tagged(inner)}
    if isinstance(value, dict):
        return {k: tagged(v) for k, v in value.items()}
    raise TypeError(f"unexpected decoded type {type(value).__name__}")


def read(body, writer, reader=None):
    fo = io.BytesIO(body)
    record = fastavro.schemaless_reader(fo, writer, reader, return_record_name=True)
    left = len(body) - fo.tell()
    if left:
        raise ValueError(f"{left} bytes left over after the record")
    return record


def decode(message, schemas, parsed):
    if len(message) < HEADER_LEN:
        raise ValueError(f"{len(message)} bytes, shorter than the header")
    if message[:2] != MAGIC:
        raise ValueError(f"bad magic {message[:2].hex()}")
    fp = message[2:HEADER_LEN]
    # As a number, the way the infragraph.schemas topic keys it.
    fp_hex = f"{int.from_bytes(fp, 'little'):016x}"
    if fp not in schemas:
        raise ValueError(f"unknown fingerprint {fp_hex}")
    name, writer = schemas[fp]
    body = message[HEADER_LEN:]
    reader, dropped = reader_schema(writer)
    return {
        "schema": name,
        "fingerprint": fp_hex,
        "record": tagged(read(body, parsed[fp])),
        "resolved": tagged(read(body, parsed[fp], parse_schema(reader))),
        "dropped": dropped,
    }


def main(avro_dir, msg_dir):
    schemas = load_schemas(avro_dir)
    parsed = {fp: parse_schema(schema) for fp, (_, schema) in schemas.items()}
    for path in sorted(pathlib.Path(msg_dir).glob("*.bin")):
        try:
            out = decode(path.read_bytes(), schemas, parsed)
        except Exception as e:  # reported per message; the caller checks which fail
            out = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps({"file": path.name, **out}))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
