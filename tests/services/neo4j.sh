#!/usr/bin/env bash
# Runs one Neo4j 5 Community server on loopback, in the foreground, with
# Bolt only (no HTTP) and authentication on, keeping its files in DIR. The
# first run sets the password of the `neo4j` user; later runs reuse DIR, so
# a restart keeps the graph. Used by scripts/services.sh and by the tests
# that stop and restart a database of their own.
#
#   NEO4J_LIB=<jar dir> tests/services/neo4j.sh DIR BOLT_PORT PASSWORD
#
# Ready when DIR/logs/neo4j.log says "Started." (once more than before).
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: NEO4J_LIB=DIR $0 DIR BOLT_PORT PASSWORD" >&2; exit 2; }
: "${NEO4J_LIB:?NEO4J_LIB must name the server jars (scripts/services.sh installs them)}"
dir="$1" port="$2" password="$3"
mkdir -p "$dir/conf" "$dir/data" "$dir/logs" "$dir/run" "$dir/plugins"
dir="$(cd "$dir" && pwd)"

# Unknown keys stop the server (strict validation), so every key is real.
cat >"$dir/conf/neo4j.conf" <<CONF
server.default_listen_address=127.0.0.1
server.bolt.enabled=true
server.bolt.listen_address=127.0.0.1:$port
server.bolt.advertised_address=127.0.0.1:$port
server.http.enabled=false
server.https.enabled=false
server.directories.data=$dir/data
server.directories.logs=$dir/logs
server.directories.run=$dir/run
server.directories.plugins=$dir/plugins
server.memory.pagecache.size=${INFRAGRAPH_NEO4J_PAGECACHE:-512m}
dbms.security.auth_enabled=true
dbms.usage_report.enabled=false
CONF

export NEO4J_HOME="$dir" NEO4J_CONF="$dir/conf"
# Neo4j's own launcher passes these to the JVM (server.jvm.additional).
jvm=(java "-Xmx${INFRAGRAPH_NEO4J_HEAP:-1g}"
  --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/java.io=ALL-UNNAMED
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED -Dio.netty.tryReflectionSetAccessible=true
  -cp "$NEO4J_LIB/*")
if [ ! -f "$dir/data/dbms/auth.ini" ]; then
  "${jvm[@]}" org.neo4j.server.startup.Neo4jAdminCommand dbms set-initial-password "$password" >/dev/null
fi
exec "${jvm[@]}" org.neo4j.server.CommunityEntryPoint --home-dir="$dir" --config-dir="$dir/conf"
