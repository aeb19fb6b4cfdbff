# Real services for the test suite, on loopback: Apache Kafka (KRaft),
# Neo4j 5 Community (Bolt, authentication on) and an AWS API server (moto),
# a headless chromium for the browser test, and an OpenTelemetry Collector
# for the metrics test.
# Sourced by scripts/test, scripts/services and scripts/bench. Installs are
# cached under $INFRAGRAPH_CACHE and reused while the version matches;
# everything started is stopped on exit.
#
# The servers' jars come from Maven Central through the poms under
# tests/services/ (which hold their versions); tests/services/kafka.sh and
# neo4j.sh run them, here and in the tests that restart a server of their own.

export INFRAGRAPH_CACHE="${INFRAGRAPH_CACHE:-$HOME/.cache/infragraph}"
SERVICES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../tests/services" && pwd)"
MOTO_VERSION=5.2.5
FASTAVRO_VERSION=1.13.1

KAFKA_PORT="${INFRAGRAPH_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${INFRAGRAPH_KAFKA_CONTROLLER_PORT:-19093}"
BOLT_PORT="${INFRAGRAPH_BOLT_PORT:-17687}"
AWS_PORT="${INFRAGRAPH_AWS_PORT:-15000}"
NEO4J_PASSWORD=infragraph-test

SERVICES_RUN="$(mktemp -d "${TMPDIR:-/tmp}/infragraph-services.XXXXXX")"
SERVICES_PIDS=()

say() { printf '[services] %s\n' "$*" >&2; }

# pom_version NAME: the version the pom under tests/services/NAME pins.
pom_version() {
  sed -n "s:.*<$1.version>\(.*\)</$1.version>.*:\1:p" "$SERVICES_DIR/$1/pom.xml"
}

# install_jars NAME: the jars of tests/services/NAME/pom.xml, copied once
# into $INFRAGRAPH_CACHE/NAME-<version>/lib; prints that directory. Maven's
# own repository lives in the cache too, so nothing lands outside it.
install_jars() {
  local name="$1" dir
  dir="$INFRAGRAPH_CACHE/$name-$(pom_version "$name")"
  if [ ! -f "$dir/.complete" ]; then
    say "installing $name $(pom_version "$name") from Maven Central into $dir"
    rm -rf "$dir"
    mvn -q -B -Dstyle.color=never -f "$SERVICES_DIR/$name/pom.xml" -Dmaven.repo.local="$INFRAGRAPH_CACHE/m2" \
      dependency:copy-dependencies -DoutputDirectory="$dir/lib" >&2 \
      && touch "$dir/.complete" || { say "could not install $name (is Maven Central reachable?)"; return 1; }
  fi
  printf '%s\n' "$dir/lib"
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

# The browser test's needs: Debian's chromium (installed with apt-get when
# missing and we are root) and playwright-core from tests/browser's lock
# file, installed once per lock file under $INFRAGRAPH_CACHE. No browser
# download: playwright-core drives /usr/bin/chromium.
install_browser() {
  if ! command -v chromium >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      say "installing chromium (apt-get)"
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >&2 \
        || { say "could not install chromium"; return 1; }
    else
      say "the browser test needs chromium: apt-get install chromium"; return 1
    fi
  fi
  command -v npm >/dev/null || { say "the browser test needs node and npm"; return 1; }
  local lock dir
  lock="$SERVICES_DIR/../browser/package-lock.json"
  dir="$INFRAGRAPH_CACHE/browser-$(sha256sum "$lock" | cut -c1-12)"
  if [ ! -f "$dir/.complete" ]; then
    say "installing playwright-core into $dir"
    rm -rf "$dir" && mkdir -p "$dir" && cp "$lock" "$SERVICES_DIR/../browser/package.json" "$dir/" \
      && (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2) && touch "$dir/.complete" \
      || { say "could not install playwright-core (is the npm registry reachable?)"; return 1; }
  fi
  export INFRAGRAPH_TEST_BROWSER_MODULES="$dir/node_modules"
  export INFRAGRAPH_TEST_CHROMIUM="$(command -v chromium)"
}

# The OpenTelemetry Collector the stack's config (deploy/otel-collector.yaml)
# is tested on: tests/otelcol, built from the Go module proxy once per
# go.sum and main.go, with Go's module and build caches in $INFRAGRAPH_CACHE.
install_otelcol() {
  command -v go >/dev/null || { say "the metrics test needs go (to build an OpenTelemetry Collector)"; return 1; }
  local src dir
  src="$SERVICES_DIR/../otelcol"
  dir="$INFRAGRAPH_CACHE/otelcol-$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-12)"
  if [ ! -f "$dir/.complete" ]; then
    say "building an OpenTelemetry Collector (tests/otelcol) into $dir"
    rm -rf "$dir" && mkdir -p "$dir" \
      && (cd "$src" && GOMODCACHE="$INFRAGRAPH_CACHE/go/mod" GOCACHE="$INFRAGRAPH_CACHE/go/build" GOFLAGS=-mod=readonly \
        go build -trimpath -o "$dir/otelcol" . >&2) && touch "$dir/.complete" \
      || { say "could not build the OpenTelemetry Collector (is the Go module proxy reachable?)"; return 1; }
  fi
  export INFRAGRAPH_TEST_OTELCOL="$dir/otelcol"
}

install_services() {
  mkdir -p "$INFRAGRAPH_CACHE"
  install_browser
  install_otelcol
  command -v java >/dev/null && command -v mvn >/dev/null \
    || { say "Kafka and Neo4j need java (17) and mvn on PATH"; return 1; }
  KAFKA_LIB="$(install_jars kafka)"
  NEO4J_LIB="$(install_jars neo4j)"
  CYPHER_SHELL_LIB="$(install_jars cypher-shell)"
  MOTO_VENV="$INFRAGRAPH_CACHE/moto-$MOTO_VERSION-fastavro-$FASTAVRO_VERSION"
  install_venv "$MOTO_VENV" "moto==$MOTO_VERSION" flask flask-cors "fastavro==$FASTAVRO_VERSION"
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

kafka_ready() { grep -q "Kafka Server started" "$SERVICES_RUN/kafka.log" && port_open "$KAFKA_PORT"; }
# Bolt listens before the default database is open; "Started." follows it.
neo4j_ready() { grep -q "Started\." "$SERVICES_RUN/neo4j/logs/neo4j.log" 2>/dev/null && port_open "$BOLT_PORT"; }

start_services() {
  start kafka "$KAFKA_PORT" env KAFKA_LIB="$KAFKA_LIB" "$SERVICES_DIR/kafka.sh" \
    "$SERVICES_RUN/kafka" "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"
  start neo4j "$BOLT_PORT" env NEO4J_LIB="$NEO4J_LIB" "$SERVICES_DIR/neo4j.sh" \
    "$SERVICES_RUN/neo4j" "$BOLT_PORT" "$NEO4J_PASSWORD"
  start aws "$AWS_PORT" "$MOTO_VENV/bin/python" -m moto.server -H 127.0.0.1 -p "$AWS_PORT"

  wait_for kafka 90 kafka_ready
  wait_for neo4j 120 neo4j_ready
  wait_for aws 60 curl -sf -o /dev/null "http://127.0.0.1:$AWS_PORT/moto-api/"

  export INFRAGRAPH_TEST_KAFKA="127.0.0.1:$KAFKA_PORT"
  export INFRAGRAPH_TEST_BOLT="bolt://127.0.0.1:$BOLT_PORT"
  export INFRAGRAPH_TEST_BOLT_AUTH="neo4j:$NEO4J_PASSWORD"
  export INFRAGRAPH_TEST_BOLT_DATABASE=neo4j
  export INFRAGRAPH_TEST_AWS="http://127.0.0.1:$AWS_PORT"
  export INFRAGRAPH_TEST_PYTHON="$MOTO_VENV/bin/python"
  # For tests that run a server of their own (restarts) or cypher-shell.
  export INFRAGRAPH_TEST_SERVICES="$SERVICES_DIR"
  export INFRAGRAPH_TEST_KAFKA_LIB="$KAFKA_LIB"
  export INFRAGRAPH_TEST_NEO4J_LIB="$NEO4J_LIB"
  export INFRAGRAPH_TEST_CYPHER_SHELL_LIB="$CYPHER_SHELL_LIB"
  say "kafka $INFRAGRAPH_TEST_KAFKA, neo4j $INFRAGRAPH_TEST_BOLT, aws $INFRAGRAPH_TEST_AWS (logs in $SERVICES_RUN)"
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
