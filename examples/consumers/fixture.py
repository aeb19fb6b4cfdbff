#!/usr/bin/env python3
"""Writes a small, known story of graph changes for check.sh.

Usage: fixture.py BOOTSTRAP NAMESPACE

Creates NAMESPACE.graph.changes (2 partitions) and NAMESPACE.schemas
(compacted), then publishes, in the wire format of schemas/README.md, two
hosts whose processes listen and connect, with a duplicate upsert, a Touch,
a Delete and a re-listen, and a sync barrier. The story is written in
partition 0 so its order is fixed; partition 1 gets one message of another
writer. Prints the lines a consumer must print for it, in order.

The story's messages are written with a writer schema that differs from the
release's (`props_at` dropped, a field added to EdgeUpsert), published only
on the schemas topic: a consumer reads it only if it looks writer schemas
up there and resolves them to its own.
"""

import copy
import io
import json
import pathlib
import sys

import fastavro
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

RELEASE = pathlib.Path(__file__).resolve().parents[2] / "schemas" / "avro" / "graph-change.avsc"


def other_writer(release):
    """The release's GraphChange as another writer might have it."""
    s = copy.deepcopy(release)
    for branch in s["fields"][0]["type"]:
        if isinstance(branch, dict) and branch.get("type") == "record":
            branch["fields"] = [f for f in branch["fields"] if f["name"] != "props_at"]
            if branch["name"] == "EdgeUpsert":
                branch["fields"].append({"name": "written_by", "type": "string", "default": ""})
    return s


def header(schema):
    return b"\xc3\x01" + bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))


def encode(schema, parsed, record):
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parsed, record)
    return header(schema) + buf.getvalue()


def node(label, id_):
    return {"label": label, "id": id_}


def edge(rel, src_label, src, dst_label, dst):
    return {"type": rel, "from": node(src_label, src), "to": node(dst_label, dst)}


SCOPE = {"source": "fixture", "scope": "host:host-a", "epoch": 1000}


def node_upsert(id_, **props):
    return ("infragraph.NodeUpsert", {"node": node("Process", id_), **SCOPE, "observed_at": 1001, "properties": props})


def edge_upsert(rel, src, dst_label, dst):
    return ("infragraph.EdgeUpsert", {"edge": edge(rel, "Process", src, dst_label, dst), **SCOPE, "observed_at": 1001,
                                      "properties": {}, "written_by": "fixture"})


def element_change(kind, rel, src, dst):
    return (f"infragraph.{kind}", {"element": ("infragraph.EdgeRef", edge(rel, "Process", src, "Endpoint", dst)), **SCOPE})


A, A_CLIENT, A_OTHER, B = "host-a/100/1000", "host-a/101/1000", "host-a/102/1000", "host-b/200/2000"
PG, WEB = "tcp://10.0.0.5:5432", "tcp://10.0.0.5:8080"

STORY = [
    node_upsert(B, host_id="host-b", name="api"),
    edge_upsert("CONNECTS_TO", B, "Endpoint", PG),         # its listener is not known yet
    node_upsert(A, host_id="host-a", name="postgres"),
    edge_upsert("RUNS_ON", A, "Host", "host-a"),
    edge_upsert("LISTENS_ON", A, "Endpoint", PG),          # LISTEN, then the CONNECT waiting for it
    edge_upsert("LISTENS_ON", A, "Endpoint", PG),          # seen: nothing
    element_change("Touch", "LISTENS_ON", A, PG),          # unchanged: nothing
    node_upsert(A_CLIENT, host_id="host-a", name="psql"),
    edge_upsert("CONNECTS_TO", A_CLIENT, "Endpoint", PG),  # same host: not a connection between hosts
    edge_upsert("LISTENS_ON", A_OTHER, "Endpoint", WEB),   # LISTEN (no node: host from the id, no name)
    element_change("Delete", "LISTENS_ON", A_OTHER, WEB),
    edge_upsert("CONNECTS_TO", B, "Endpoint", WEB),        # nobody listens now: nothing
    edge_upsert("LISTENS_ON", A_OTHER, "Endpoint", WEB),   # new again: LISTEN and CONNECT
    ("infragraph.SyncBarrier", {**SCOPE, "status": "COMPLETED", "reason": None, "kind": "DELTA"}),
]

EXPECTED = [
    ["LISTEN", PG, "host-a", A, "postgres"],
    ["CONNECT", "host-b", "host-a", PG, B, A],
    ["LISTEN", WEB, "host-a", A_OTHER, ""],
    ["LISTEN", WEB, "host-a", A_OTHER, ""],
    ["CONNECT", "host-b", "host-a", WEB, B, A_OTHER],
    ["SYNC", "fixture", "host:host-a", "1000", "COMPLETED", "DELTA"],
]


def key_of(change):
    """The topic's key (schemas/README.md): the node id, or a relationship's start node id."""
    body = change[1]
    if "node" in body:
        return body["node"]["id"]
    if "edge" in body:
        return body["edge"]["from"]["id"]
    if "element" in body:
        ref = body["element"][1]
        return ref["from"]["id"] if "from" in ref else ref["id"]
    return f"{body['source']}/{body['scope']}"


def main():
    bootstrap, ns = sys.argv[1], sys.argv[2]
    release = json.loads(RELEASE.read_text())
    writer = other_writer(release)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([
        NewTopic(f"{ns}.graph.changes", num_partitions=2, replication_factor=1),
        NewTopic(f"{ns}.schemas", num_partitions=1, replication_factor=1, config={"cleanup.policy": "compact"}),
    ])
    for f in futures.values():
        f.result(timeout=30)
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for schema in (writer, release):
        p.produce(f"{ns}.schemas", key=fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"),
                  value=json.dumps(schema))
    parsed_writer = parse_schema(writer)
    for change in STORY:
        key = key_of(change)
        p.produce(f"{ns}.graph.changes", partition=0, key=key, value=encode(writer, parsed_writer, {"change": change}))
    # Another writer, the release's, in the other partition: a Host node.
    host = ("infragraph.NodeUpsert", {"node": node("Host", "host-a"), **SCOPE, "observed_at": 1001,
                                      "properties": {"hostname": "a"}, "props_at": None})
    p.produce(f"{ns}.graph.changes", partition=1, key="host-a", value=encode(release, parse_schema(release), {"change": host}))
    if p.flush(30):
        sys.exit("could not deliver every fixture message")
    for line in EXPECTED:
        print("\t".join(line))


if __name__ == "__main__":
    main()
