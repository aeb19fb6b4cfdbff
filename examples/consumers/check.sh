#!/usr/bin/env bash
# Runs both example consumers (python/, java/) against a real Kafka and checks
# what they print.
#
#   INFRAGRAPH_TEST_KAFKA=127.0.0.1:19092 examples/consumers/check.sh
#
# 1. fixture: fixture.py writes a known story of graph changes (two hosts, a
#    connection between them, a Delete, a writer schema found only on the
#    schemas topic) into a fresh topic namespace; each consumer must print
#    exactly the lines it expects, in order.
# 2. pipeline: real graph changes. With INFRAGRAPH_BIN (the infragraph
#    binary) this host is mapped into a fresh namespace (`collect procfs
#    --once`, then `normalize` until the sync's barrier is out); else the
#    changes already in INFRAGRAPH_CHECK_NAMESPACE (default infragraph) are
#    read. Both consumers read the same offsets; each must print at least one
#    LISTEN line, and both must print the same lines.
#
# Needs python3 (a venv with confluent-kafka and fastavro is made under
# $INFRAGRAPH_CACHE), Java 17 and Maven (Maven's repository is
# $INFRAGRAPH_CACHE/m2). Every step is bounded in time; it starts no server.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${INFRAGRAPH_CACHE:-$HOME/.cache/infragraph}"
KAFKA="${INFRAGRAPH_TEST_KAFKA:?set INFRAGRAPH_TEST_KAFKA to the Kafka bootstrap address (scripts/services prints it)}"
CONFLUENT_KAFKA_VERSION=2.16.1
FASTAVRO_VERSION=1.13.1
VENV="$CACHE/consumer-python-confluent-kafka-$CONFLUENT_KAFKA_VERSION-fastavro-$FASTAVRO_VERSION"
RUN_ID="$(date +%s)-$$"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/infragraph-consumers.XXXXXX")"
NORMALIZER_PID=""
CREATED_NAMESPACES=()
PASSED=0
FAILED=0

say() { printf '[consumers] %s\n' "$*" >&2; }
pass() { PASSED=$((PASSED + 1)); say "ok: $*"; }
fail() { FAILED=$((FAILED + 1)); say "FAILED: $*"; }

cleanup() {
  if [ -n "$NORMALIZER_PID" ]; then
    kill "$NORMALIZER_PID" 2>/dev/null || true
    wait "$NORMALIZER_PID" 2>/dev/null || true
  fi
  if [ "${#CREATED_NAMESPACES[@]}" -gt 0 ] && [ -x "$VENV/bin/python" ]; then
    "$VENV/bin/python" - "$KAFKA" "${CREATED_NAMESPACES[@]}" <<'EOF' || true
import sys
from confluent_kafka.admin import AdminClient
admin = AdminClient({"bootstrap.servers": sys.argv[1]})
prefixes = tuple(ns + "." for ns in sys.argv[2:])
topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefixes)]
for f in admin.delete_topics(topics, operation_timeout=10).values() if topics else ():
    try:
        f.result(timeout=15)
    except Exception:
        pass
EOF
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- the consumers -----------------------------------------------------------
if [ ! -f "$VENV/.complete" ]; then
  say "installing confluent-kafka $CONFLUENT_KAFKA_VERSION and fastavro $FASTAVRO_VERSION into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "confluent-kafka==$CONFLUENT_KAFKA_VERSION" "fastavro==$FASTAVRO_VERSION"
  touch "$VENV/.complete"
fi
PY="$VENV/bin/python"

JAR="$HERE/java/target/graph-changes-consumer.jar"
if [ ! -f "$JAR" ] || [ -n "$(find "$HERE/java/pom.xml" "$HERE/java/src" "$HERE/../../schemas/avro/graph-change.avsc" -newer "$JAR" -print -quit)" ]; then
  say "building the Java consumer"
  timeout 600 mvn -q -B -Dstyle.color=never -Dmaven.repo.local="$CACHE/m2" -f "$HERE/java/pom.xml" package >&2
fi

# run_python NAME ARGS... / run_java NAME ARGS...: a consumer's stdout to
# $WORK/NAME.out, its stderr to $WORK/NAME.err.
run_python() {
  local name="$1"; shift
  timeout 150 "$PY" "$HERE/python/graph_changes.py" --bootstrap-servers "$KAFKA" "$@" \
    >"$WORK/$name.out" 2>"$WORK/$name.err" || { say "$name exited $?; its stderr:"; tail -n 20 "$WORK/$name.err" >&2; return 1; }
}
run_java() {
  local name="$1"; shift
  timeout 150 java -cp "$JAR:$HERE/java/target/dependency/*" example.infragraph.GraphChangesConsumer \
    --bootstrap-servers "$KAFKA" "$@" \
    >"$WORK/$name.out" 2>"$WORK/$name.err" || { say "$name exited $?; its stderr:"; tail -n 20 "$WORK/$name.err" >&2; return 1; }
}

# --- 1. the fixture ----------------------------------------------------------
NS="consumers-fixture-$RUN_ID"
CREATED_NAMESPACES+=("$NS")
"$PY" "$HERE/fixture.py" "$KAFKA" "$NS" >"$WORK/fixture.expected"
for lang in python java; do
  if "run_$lang" "fixture-$lang" --topic-namespace "$NS" --barriers --exit-at-end --timeout 60 \
    && diff -u "$WORK/fixture.expected" "$WORK/fixture-$lang.out" >"$WORK/fixture-$lang.diff"; then
    pass "$lang consumer prints the fixture's $(wc -l <"$WORK/fixture.expected") lines, in order"
  else
    fail "$lang consumer on the fixture (expected, then printed):"
    cat "$WORK/fixture-$lang.diff" >&2 || true
  fi
done

# --- 2. real graph changes ---------------------------------------------------
if [ -n "${INFRAGRAPH_BIN:-}" ]; then
  NS="consumers-pipeline-$RUN_ID"
  CREATED_NAMESPACES+=("$NS")
  say "mapping this host into topic namespace $NS with $INFRAGRAPH_BIN"
  timeout 120 "$INFRAGRAPH_BIN" collect procfs --once --kafka-brokers "$KAFKA" --topic-namespace "$NS" \
    --topic-partitions 3 2>"$WORK/collect.err" || { tail -n 20 "$WORK/collect.err" >&2; fail "collect procfs --once"; }
  "$INFRAGRAPH_BIN" normalize --kafka-brokers "$KAFKA" --topic-namespace "$NS" --topic-partitions 3 \
    --normalizer-group "$NS-normalizer" 2>"$WORK/normalize.err" &
  NORMALIZER_PID=$!
  barrier=""
  for _ in $(seq 1 30); do
    if "$PY" "$HERE/python/graph_changes.py" --bootstrap-servers "$KAFKA" --topic-namespace "$NS" \
      --barriers --exit-at-end --timeout 20 2>/dev/null | grep -q $'^SYNC\tprocfs\t.*\tCOMPLETED\t'; then
      barrier=yes
      break
    fi
    sleep 2
  done
  kill "$NORMALIZER_PID" 2>/dev/null || true
  wait "$NORMALIZER_PID" 2>/dev/null || true
  NORMALIZER_PID=""
  if [ -n "$barrier" ]; then
    pass "the pipeline's sync barrier reached $NS.graph.changes"
  else
    fail "no COMPLETED procfs barrier on $NS.graph.changes within a minute; the normalizer said:"
    tail -n 20 "$WORK/normalize.err" >&2
  fi
else
  NS="${INFRAGRAPH_CHECK_NAMESPACE:-infragraph}"
  say "reading the graph changes already in $NS.graph.changes (set INFRAGRAPH_BIN to make fresh ones)"
fi

# Both consumers read exactly the offsets there are now, even if more arrive.
ENDS="$("$PY" - "$KAFKA" "$NS.graph.changes" <<'EOF'
import sys
from confluent_kafka import Consumer, TopicPartition
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": "unused"})
meta = c.list_topics(sys.argv[2], timeout=10).topics.get(sys.argv[2])
if meta is None or meta.error is not None:
    sys.exit(f"no topic {sys.argv[2]}")
print(",".join(f"{p}={c.get_watermark_offsets(TopicPartition(sys.argv[2], p), timeout=10)[1]}" for p in sorted(meta.partitions)))
c.close()
EOF
)"
say "reading $NS.graph.changes up to $ENDS"
ok_py=""; ok_java=""
run_python "pipeline-python" --topic-namespace "$NS" --barriers --end-offsets "$ENDS" --timeout 120 && ok_py=yes
run_java "pipeline-java" --topic-namespace "$NS" --barriers --end-offsets "$ENDS" --timeout 120 && ok_java=yes
for lang in python java; do
  n="$(grep -c '^LISTEN' "$WORK/pipeline-$lang.out" || true)"
  if [ "$n" -ge 1 ]; then
    pass "$lang consumer prints $n listening endpoints from real graph changes ($(tail -n 1 "$WORK/pipeline-$lang.err"))"
  else
    fail "$lang consumer printed no LISTEN line from $NS.graph.changes"
  fi
done
if [ -n "$ok_py" ] && [ -n "$ok_java" ] && diff <(sort "$WORK/pipeline-python.out") <(sort "$WORK/pipeline-java.out") >"$WORK/pipeline.diff"; then
  pass "both consumers print the same $(wc -l <"$WORK/pipeline-python.out") lines (LISTEN $(grep -c '^LISTEN' "$WORK/pipeline-python.out" || true), CONNECT $(grep -c '^CONNECT' "$WORK/pipeline-python.out" || true), SYNC $(grep -c '^SYNC' "$WORK/pipeline-python.out" || true))"
else
  fail "the consumers disagree on $NS.graph.changes (python <, java >):"
  cat "$WORK/pipeline.diff" >&2 || true
fi

echo "consumers: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
