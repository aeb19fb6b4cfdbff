#!/usr/bin/env bash
# Runs one Apache Kafka node in KRaft mode (broker and controller in one
# process) on loopback, in the foreground, keeping its log directory in DIR.
# The first run formats DIR; later runs reuse it, so a restart keeps every
# topic and offset. Used by scripts/services.sh and by the tests that stop
# and restart a broker of their own.
#
#   KAFKA_LIB=<jar dir> tests/services/kafka.sh DIR PORT CONTROLLER_PORT
#
# With KAFKA_SASL_USERS="user:password …" the client listener takes
# SASL_PLAINTEXT with the PLAIN mechanism and only those users, for the
# tests of refused credentials.
#
# Ready when its output says "Kafka Server started".
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: KAFKA_LIB=DIR $0 DIR PORT CONTROLLER_PORT" >&2; exit 2; }
: "${KAFKA_LIB:?KAFKA_LIB must name the broker jars (scripts/services.sh installs them)}"
dir="$1" port="$2" cport="$3"
mkdir -p "$dir/data"
dir="$(cd "$dir" && pwd)"

cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
# One node: every internal topic has one replica.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Tests create many small groups and topics: no rebalance delay, topics
# only through the admin API (as the stages do), small preallocated indexes.
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.index.size.max.bytes=1048576
PROPS

if [ -n "${KAFKA_SASL_USERS:-}" ]; then
  users=""
  for u in $KAFKA_SASL_USERS; do users+=" user_${u%%:*}=\"${u#*:}\""; done
  admin="${KAFKA_SASL_USERS%% *}"
  sed -i "s|PLAINTEXT://127.0.0.1:$port|SASL_PLAINTEXT://127.0.0.1:$port|g; s|^inter.broker.listener.name=.*|inter.broker.listener.name=SASL_PLAINTEXT|; s|^listener.security.protocol.map=.*|listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT|" "$dir/server.properties"
  cat >>"$dir/server.properties" <<PROPS
sasl.enabled.mechanisms=PLAIN
sasl.mechanism.inter.broker.protocol=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="${admin%%:*}" password="${admin#*:}"$users;
PROPS
fi

cat >"$dir/log4j2.properties" <<'PROPS'
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = warn
logger.apache.name = org.apache.kafka
logger.apache.level = warn
logger.state.name = state.change.logger
logger.state.level = warn
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = info
# Group joins, rebalances and expired members: what explains a stalled group.
logger.group.name = org.apache.kafka.coordinator.group
logger.group.level = info
PROPS

java_cmd=(java "-Xmx${INFRAGRAPH_KAFKA_HEAP:-1g}" -cp "$KAFKA_LIB/*" "-Dlog4j2.configurationFile=$dir/log4j2.properties")
if [ ! -f "$dir/data/meta.properties" ]; then
  cluster="$("${java_cmd[@]}" kafka.tools.StorageTool random-uuid)"
  "${java_cmd[@]}" kafka.tools.StorageTool format -t "$cluster" -c "$dir/server.properties" --standalone >/dev/null
fi
exec "${java_cmd[@]}" kafka.Kafka "$dir/server.properties"
