# Real services for the test suite, on loopback: a Kafka-protocol broker
# (nisshi), a Bolt graph database (ArcadeDB) and an AWS API server (moto).
# Sourced by scripts/test. Installs are cached under $INFRAGRAPH_CACHE and
# reused while the version matches; everything started is stopped on exit.

export INFRAGRAPH_CACHE="${INFRAGRAPH_CACHE:-$HOME/.cache/infragraph}"
NISSHI_VERSION=0.8.1
ARCADEDB_VERSION=26.10.2.post1
MOTO_VERSION=5.2.5
FASTAVRO_VERSION=1.13.1

KAFKA_PORT="${INFRAGRAPH_KAFKA_PORT:-19092}"
BOLT_PORT="${INFRAGRAPH_BOLT_PORT:-17687}"
ARCADEDB_HTTP_PORT="${INFRAGRAPH_ARCADEDB_HTTP_PORT:-12480}"
AWS_PORT="${INFRAGRAPH_AWS_PORT:-15000}"
BOLT_PASSWORD=infragraph-test

SERVICES_RUN="$(mktemp -d "${TMPDIR:-/tmp}/infragraph-services.XXXXXX")"
SERVICES_PIDS=()

say() { printf '[services] %s\n' "$*" >&2; }

install_nisshi() {
  local root="$INFRAGRAPH_CACHE/nisshi-$NISSHI_VERSION"
  if [ ! -x "$root/bin/nisshi" ]; then
    say "building nisshi $NISSHI_VERSION (once; about 12 minutes on 2 cores)"
    cargo install nisshi --version "$NISSHI_VERSION" --locked --ignore-rust-version \
      --no-default-features --features dynostore --root "$root" >"$SERVICES_RUN/nisshi-build.log" 2>&1 \
      || { tail -n 30 "$SERVICES_RUN/nisshi-build.log"; return 1; }
  fi
  NISSHI="$root/bin/nisshi"
}

# A virtualenv per package version, so a version bump installs afresh.
install_venv() {
  local dir="$1"; shift
  if [ ! -f "$dir/.complete" ]; then
    say "installing $* into $dir"
    rm -rf "$dir"
    python3 -m venv "$dir" && "$dir/bin/pip" install -q "$@" && touch "$dir/.complete"
  fi
}

install_services() {
  mkdir -p "$INFRAGRAPH_CACHE"
  install_nisshi
  install_venv "$INFRAGRAPH_CACHE/arcadedb-$ARCADEDB_VERSION" "arcadedb-embedded==$ARCADEDB_VERSION"
  install_venv "$INFRAGRAPH_CACHE/moto-$MOTO_VERSION-fastavro-$FASTAVRO_VERSION" "moto==$MOTO_VERSION" flask flask-cors "fastavro==$FASTAVRO_VERSION"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_for NAME SECONDS CHECK...: polls CHECK until it succeeds.
wait_for() {
  local name="$1" secs="$2"; shift 2
  local i
  for ((i = 0; i < secs * 10; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  say "$name did not become ready in ${secs}s; its log:"
  tail -n 40 "$SERVICES_RUN/$name.log" >&2
  return 1
}

start() {
  local name="$1" port="$2"; shift 2
  if port_open "$port"; then
    say "port $port for $name is taken; set INFRAGRAPH_*_PORT to another"
    return 1
  fi
  # Run inside the scratch dir: some services write files into their cwd.
  (cd "$SERVICES_RUN" && exec "$@") >"$SERVICES_RUN/$name.log" 2>&1 &
  SERVICES_PIDS+=($!)
}

arcadedb_ready() {
  grep -q "Exception in thread" "$SERVICES_RUN/arcadedb.log" && return 1
  grep -q "ArcadeDB Server started" "$SERVICES_RUN/arcadedb.log" && port_open "$BOLT_PORT"
}

start_services() {
  start kafka "$KAFKA_PORT" "$NISSHI" broker \
    --listener-url "tcp://127.0.0.1:$KAFKA_PORT" --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
    --storage-engine memory://nisshi/ --group-initial-rebalance-delay 0s
  local venv="$INFRAGRAPH_CACHE/arcadedb-$ARCADEDB_VERSION"
  local pkg
  pkg="$("$venv/bin/python" -c 'import arcadedb_embedded, os; print(os.path.dirname(arcadedb_embedded.__file__))')"
  start arcadedb "$BOLT_PORT" "$pkg/jre/bin/java" -Xmx1g --add-modules jdk.incubator.vector \
    -Darcadedb.server.rootPath="$SERVICES_RUN/arcadedb" \
    -Darcadedb.server.databaseDirectory="$SERVICES_RUN/arcadedb/databases" \
    -Darcadedb.server.rootPassword="$BOLT_PASSWORD" \
    -Darcadedb.server.defaultDatabases='graph[root]' \
    -Darcadedb.server.httpIncomingHost=127.0.0.1 -Darcadedb.server.httpIncomingPort="$ARCADEDB_HTTP_PORT" \
    -Darcadedb.server.plugins=Bolt:com.arcadedb.bolt.BoltProtocolPlugin \
    -Darcadedb.bolt.host=127.0.0.1 -Darcadedb.bolt.port="$BOLT_PORT" \
    -cp "$pkg/jars/*" com.arcadedb.server.ArcadeDBServer
  local moto="$INFRAGRAPH_CACHE/moto-$MOTO_VERSION-fastavro-$FASTAVRO_VERSION"
  start aws "$AWS_PORT" "$moto/bin/python" -m moto.server -H 127.0.0.1 -p "$AWS_PORT"

  wait_for kafka 30 port_open "$KAFKA_PORT"
  wait_for arcadedb 90 arcadedb_ready
  wait_for aws 60 curl -sf -o /dev/null "http://127.0.0.1:$AWS_PORT/moto-api/"

  export INFRAGRAPH_TEST_KAFKA="127.0.0.1:$KAFKA_PORT"
  export INFRAGRAPH_TEST_BOLT="bolt://127.0.0.1:$BOLT_PORT"
  export INFRAGRAPH_TEST_BOLT_AUTH="root:$BOLT_PASSWORD"
  export INFRAGRAPH_TEST_AWS="http://127.0.0.1:$AWS_PORT"
  export INFRAGRAPH_TEST_PYTHON="$moto/bin/python"
  say "kafka $INFRAGRAPH_TEST_KAFKA, bolt $INFRAGRAPH_TEST_BOLT, aws $INFRAGRAPH_TEST_AWS (logs in $SERVICES_RUN)"
}

stop_services() {
  local pid
  for pid in "${SERVICES_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${SERVICES_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  SERVICES_PIDS=()
  rm -rf "$SERVICES_RUN"
}
