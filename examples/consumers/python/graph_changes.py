#!/usr/bin/env python3
"""Follow infragraph's graph changes and print what appears on the network.

A downstream consumer of the `infragraph.graph.changes` topic, written from
the contract in schemas/README.md alone:

* every message value is Avro single-object encoding: magic C3 01, the
  CRC-64-AVRO fingerprint of the writer schema (8 bytes, little-endian),
  then the Avro binary body;
* the writer schema with that fingerprint is on the compacted
  `infragraph.schemas` topic (key: the fingerprint as 16 hex digits, value:
  the schema JSON), or in the release's .avsc files;
* the body is read with the writer schema and resolved to the GraphChange
  schema this consumer was written against (--reader-schema).

One tab-separated line per event on stdout:

  LISTEN   <endpoint id>  <host id>  <process id>  <process name>
  CONNECT  <client host>  <server host>  <endpoint id>  <client process>  <server process>
  SYNC     <source>  <scope>  <epoch>  <status>  <kind>          (with --barriers)

LISTEN: a process listens on an endpoint this consumer had not seen it
listen on (an EdgeUpsert of type LISTENS_ON; after a Delete of that edge, a
new upsert prints again). CONNECT: a process on one host dialled an endpoint
that a process on another host listens on: a CONNECTS_TO edge and a
LISTENS_ON edge meeting at one Endpoint node, printed when the second of the
two arrives. SYNC: a sync barrier.
"""

import argparse
import io
import json
import os
import pathlib
import signal
import sys
import time

import fastavro
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaException, TopicPartition
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

MAGIC = b"\xc3\x01"
HEADER = 10
HERE = pathlib.Path(__file__).resolve().parent
# The schema this consumer is written against; resolution maps older and
# newer writers onto it. Next to this file in an image, else the checkout's.
_CANDIDATES = [HERE / "graph-change.avsc"] + [d / "schemas" / "avro" / "graph-change.avsc" for d in HERE.parents[2:3]]
DEFAULT_READER = next((str(p) for p in _CANDIDATES if p.exists()), None)


def fingerprint_of(schema):
    """The 8 header bytes of a schema: CRC-64-AVRO of its Parsing Canonical
    Form, little-endian (fastavro's hex string is of exactly those bytes)."""
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))


class Schemas:
    """Writer schemas by fingerprint, from .avsc files and the schemas topic."""

    def __init__(self, conf, topic, schema_dir):
        self.conf, self.topic, self.by_fp, self.loaded_topic_at = conf, topic, {}, 0.0
        if schema_dir:
            for path in sorted(pathlib.Path(schema_dir).glob("*.avsc")):
                self.add(json.loads(path.read_text()))

    def add(self, schema):
        self.by_fp[fingerprint_of(schema)] = parse_schema(schema)

    def get(self, fp):
        # An unknown fingerprint: a writer newer than what we hold. Re-read
        # the schemas topic, at most every 10 s.
        if fp not in self.by_fp and time.monotonic() - self.loaded_topic_at > 10:
            self.load_topic()
        return self.by_fp.get(fp)

    def load_topic(self):
        """Reads the compacted schemas topic from its start to its end."""
        self.loaded_topic_at = time.monotonic()
        c = Consumer({**self.conf, "group.id": "infragraph-example-unused", "enable.auto.commit": False})
        try:
            meta = c.list_topics(self.topic, timeout=10).topics.get(self.topic)
            if meta is None or meta.error is not None:
                return
            ends = {}
            for p in meta.partitions:
                low, high = c.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10)
                if high > low:
                    ends[p] = high
            c.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in ends])
            deadline = time.monotonic() + 30
            while ends and time.monotonic() < deadline:
                msg = c.poll(0.5)
                if msg is None:
                    continue
                if msg.error():
                    raise KafkaException(msg.error())
                if msg.value():  # a null value is a compaction tombstone
                    try:
                        self.add(json.loads(msg.value()))
                    except Exception as e:
                        print(f"skipping schema {msg.key()!r}: {e}", file=sys.stderr)
                if msg.offset() + 1 >= ends.get(msg.partition(), 0):
                    ends.pop(msg.partition(), None)
        finally:
            c.close()


def decode(value, schemas, reader):
    """The GraphChange in a message value, resolved to `reader`. Unions of
    records come back as (full name, record) pairs."""
    if value is None or len(value) < HEADER or value[:2] != MAGIC:
        raise ValueError("not Avro single-object encoding (no C3 01 magic)")
    fp = value[2:HEADER]
    writer = schemas.get(fp)
    if writer is None:
        raise ValueError(f"unknown writer schema fingerprint {fp.hex()} (header bytes)")
    return fastavro.schemaless_reader(io.BytesIO(value[HEADER:]), writer, reader or writer, return_record_name=True)


class Topology:
    """Just enough of the graph to tell what is new: the listening and
    connecting edges, and each process's host and name."""

    def __init__(self):
        self.hosts = {}        # process id -> host id
        self.names = {}        # process id -> process name
        self.listeners = {}    # endpoint id -> {process id}
        self.clients = {}      # endpoint id -> {process id}
        self.printed = set()   # (client, endpoint, server host) of CONNECT lines

    @staticmethod
    def emit(*fields):
        print("\t".join(str(f) for f in fields), flush=True)

    def host(self, process):
        # The Process node's host_id property, or the target of its RUNS_ON
        # edge. A delta sync sends an edge without its unchanged process, so
        # when we started later than that node, use the id's host part.
        return self.hosts.get(process) or process.split("/", 1)[0]

    def node_upsert(self, node, props):
        if node["label"] == "Process":
            if props.get("host_id"):
                self.hosts[node["id"]] = props["host_id"]
            if props.get("name"):
                self.names[node["id"]] = props["name"]

    def edge_upsert(self, edge):
        rel, src, dst = edge["type"], edge["from"]["id"], edge["to"]["id"]
        if rel == "RUNS_ON":
            self.hosts[src] = dst
        elif rel == "LISTENS_ON":
            procs = self.listeners.setdefault(dst, set())
            if src not in procs:
                procs.add(src)
                self.emit("LISTEN", dst, self.host(src), src, self.names.get(src, ""))
                for client in sorted(self.clients.get(dst, ())):
                    self.connect(client, dst, src)
        elif rel == "CONNECTS_TO":
            procs = self.clients.setdefault(dst, set())
            if src not in procs:
                procs.add(src)
                for server in sorted(self.listeners.get(dst, ())):
                    self.connect(src, dst, server)

    def connect(self, client, endpoint, server):
        client_host, server_host = self.host(client), self.host(server)
        key = (client, endpoint, server_host)
        if client_host != server_host and key not in self.printed:
            self.printed.add(key)
            self.emit("CONNECT", client_host, server_host, endpoint, client, server)

    def delete(self, element):
        name, ref = element
        if not name.endswith("EdgeRef"):
            return
        rel, src, dst = ref["type"], ref["from"]["id"], ref["to"]["id"]
        if rel == "LISTENS_ON":
            self.listeners.get(dst, set()).discard(src)
            self.printed = {k for k in self.printed if k[1] != dst}
        elif rel == "CONNECTS_TO":
            self.clients.get(dst, set()).discard(src)
            self.printed = {k for k in self.printed if k[:2] != (src, dst)}


def assignment(consumer, topic, offset, since):
    """Every partition of `topic`, at the chosen start."""
    meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
    if meta is None or meta.error is not None or not meta.partitions:
        sys.exit(f"topic {topic} not found on the cluster")
    parts = sorted(meta.partitions)
    if since is not None:
        found = consumer.offsets_for_times([TopicPartition(topic, p, since) for p in parts], timeout=10)
        # -1: no message at or after `since` in that partition; start at its end.
        return [TopicPartition(topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_END) for tp in found]
    start = {"earliest": OFFSET_BEGINNING, "latest": OFFSET_END}.get(offset)
    return [TopicPartition(topic, p, start if start is not None else int(offset)) for p in parts]


def main():
    ap = argparse.ArgumentParser(description="Print new listening endpoints and cross-host connections from infragraph.graph.changes.")
    ap.add_argument("--bootstrap-servers", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092"),
                    help="Kafka bootstrap servers (env KAFKA_BOOTSTRAP_SERVERS; default localhost:9092)")
    ap.add_argument("--topic-namespace", default=os.environ.get("INFRAGRAPH_TOPIC_NAMESPACE", "infragraph"),
                    help="infragraph's topic prefix (env INFRAGRAPH_TOPIC_NAMESPACE; default infragraph)")
    ap.add_argument("--offset", default=os.environ.get("START_OFFSET", "earliest"),
                    help="where to start in every partition: earliest (default), latest, or an offset number")
    ap.add_argument("--since", type=int, help="start at the first message at or after this Unix time in ms")
    ap.add_argument("--group", default=os.environ.get("CONSUMER_GROUP"),
                    help="join this consumer group and resume from its committed offsets (--offset earliest or "
                    "latest applies while it has none); default: no group, nothing committed")
    ap.add_argument("--schema-dir", help="also read writer schemas from the .avsc files in this directory")
    ap.add_argument("--reader-schema", default=DEFAULT_READER, help=f"the GraphChange schema to resolve to (default {DEFAULT_READER})")
    ap.add_argument("--barriers", action="store_true", help="also print a SYNC line per sync barrier")
    ap.add_argument("--exit-at-end", action="store_true", help="stop once every partition is read up to where it ended at start")
    ap.add_argument("--end-offsets", metavar="P=O,...",
                    help="stop once each partition P is read up to offset O (exclusive); "
                    "partitions not named are not read. For runs that must see the same messages")
    ap.add_argument("--timeout", type=float, help="stop after this many seconds")
    ap.add_argument("-X", action="append", default=[], metavar="KEY=VALUE", help="a librdkafka setting, repeatable")
    args = ap.parse_args()
    if args.group and (args.exit_at_end or args.end_offsets or args.since is not None or args.offset not in ("earliest", "latest")):
        ap.error("with --group the group's offsets decide where to start: use --offset earliest|latest only")

    conf = {"bootstrap.servers": args.bootstrap_servers}
    for kv in args.X:
        key, _, value = kv.partition("=")
        conf[key] = value
    topic = f"{args.topic_namespace}.graph.changes"
    schemas = Schemas(conf, f"{args.topic_namespace}.schemas", args.schema_dir)
    reader = parse_schema(json.loads(pathlib.Path(args.reader_schema).read_text())) if args.reader_schema else None

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    consumer = Consumer({
        **conf,
        "group.id": args.group or "infragraph-example-unused",
        "enable.auto.commit": bool(args.group),
        "auto.offset.reset": args.offset if args.offset in ("earliest", "latest") else "earliest",
    })
    limits = {}  # partition -> offset to stop before, for --exit-at-end and --end-offsets
    pending = set()  # partitions not yet read up to their limit
    if args.group:
        consumer.subscribe([topic])
    else:
        parts = assignment(consumer, topic, args.offset, args.since)
        given = None
        if args.end_offsets:
            given = {int(p): int(o) for p, o in (kv.split("=") for kv in args.end_offsets.split(","))}
            parts = [tp for tp in parts if tp.partition in given]
            args.exit_at_end = True
        consumer.assign(parts)
        for tp in parts:
            low, high = consumer.get_watermark_offsets(tp, timeout=10)
            if given is not None:
                high = given[tp.partition]
            start = {OFFSET_BEGINNING: low, OFFSET_END: high}.get(tp.offset, tp.offset)
            limits[tp.partition] = high
            if high > start:
                pending.add(tp.partition)

    topo = Topology()
    deadline = time.monotonic() + args.timeout if args.timeout else None
    read = bad = 0
    try:
        while not stopping and not (args.exit_at_end and not pending) and not (deadline and time.monotonic() > deadline):
            msg = consumer.poll(0.5)
            if msg is None:
                # A partition whose last offsets hold no message we get
                # (transaction markers) is done once its position passes them.
                for tp in consumer.position([TopicPartition(topic, p) for p in pending]):
                    if tp.offset >= limits[tp.partition]:
                        pending.discard(tp.partition)
                continue
            if msg.error():
                raise KafkaException(msg.error())
            limit = limits.get(msg.partition()) if args.exit_at_end else None
            if limit is not None and msg.offset() >= limit:
                continue  # past its limit, while other partitions are still read
            if limit is not None and msg.offset() + 1 >= limit:
                pending.discard(msg.partition())
            read += 1
            try:
                name, change = decode(msg.value(), schemas, reader)["change"]
            except Exception as e:  # report a message we cannot read, and go on
                bad += 1
                print(f"{msg.topic()}[{msg.partition()}]@{msg.offset()}: {e}", file=sys.stderr)
                continue
            kind = name.rsplit(".", 1)[-1]
            if kind == "NodeUpsert":
                topo.node_upsert(change["node"], change["properties"])
            elif kind == "EdgeUpsert":
                topo.edge_upsert(change["edge"])
            elif kind == "Delete":
                topo.delete(change["element"])
            elif kind == "SyncBarrier" and args.barriers:
                topo.emit("SYNC", change["source"], change["scope"], change["epoch"], change["status"], change.get("kind", ""))
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    print(f"read {read} graph changes, {bad} undecodable", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
