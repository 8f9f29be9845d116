#!/usr/bin/env bash
# Local Apache Kafka (KRaft, from Maven Central jars) and Redis (Debian's redis-server) on loopback.
# No Docker: the broker runs straight from its Maven classpath. Usage: services.sh up|down|clean|status
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
# A second listener, SASL_SSL (PLAIN over TLS with a self-signed CA), so that the secured client
# settings are tested against a real secured broker; its CA and credentials are in $KAFKA_DIR/tls.
KAFKA_SASL_PORT="${KAFKA_SASL_PORT:-$((KAFKA_PORT + 2))}"
KAFKA_SASL_USER="tagstream"
KAFKA_SASL_PASSWORD="local-sasl-secret"
REDIS_PORT="${REDIS_PORT:-6379}"
STATE="${TAGSTREAM_LOCAL_DIR:-$ROOT/.local}"
LIBS="$STATE/kafka-libs"
KAFKA_DIR="$STATE/kafka-$KAFKA_PORT"
REDIS_DIR="$STATE/redis-$REDIS_PORT"
POM="$ROOT/scripts/kafka/pom.xml"
START_TIMEOUT="${START_TIMEOUT:-90}"

say() { printf '[services] %s\n' "$*"; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

ensure_java() {
  command -v java >/dev/null || die "java not found: install a JDK 17 (apt-get install openjdk-17-jre-headless)"
  command -v mvn >/dev/null || die "mvn not found: install Maven (apt-get install maven)"
}

# The classpath is rebuilt only when the pom changes, so a warm `make up` never touches Maven.
ensure_kafka_jars() {
  local stamp="$LIBS/.pom.sha256" want
  want="$(sha256sum "$POM" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return; fi
  ensure_java
  say "fetching the Apache Kafka 4.0.1 broker classpath from Maven Central ..."
  rm -rf "$LIBS.tmp"
  mvn -B -q -Dstyle.color=never -f "$POM" dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$LIBS.tmp" || die "mvn could not gather the Kafka jars (see above)"
  rm -rf "$LIBS"; mv "$LIBS.tmp" "$LIBS"; echo "$want" > "$stamp"
  say "$(ls "$LIBS" | wc -l) jars in $LIBS"
}

ensure_redis_binary() {
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null && return
  say "installing Debian's redis-server ..."
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq >/dev/null || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >/dev/null \
    || die "apt-get install redis-server failed"
  # Debian starts a system-wide redis on 6379 after install; ours is started by this script.
  $sudo service redis-server stop >/dev/null 2>&1 || true
}

# A CA and a server certificate for 127.0.0.1/localhost, made once per broker directory.
ensure_tls() {
  local tls="$KAFKA_DIR/tls"
  [ -f "$tls/server-keystore.pem" ] && return
  command -v openssl >/dev/null || die "openssl not found (apt-get install openssl)"
  mkdir -p "$tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=tagstream local CA" \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" >/dev/null 2>&1 || die "openssl could not make the CA"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$tls/server.key" -out "$tls/server.csr" \
    >/dev/null 2>&1 || die "openssl could not make the server key"
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$tls/san.ext"
  openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial -days 3650 \
    -extfile "$tls/san.ext" -out "$tls/server.pem" >/dev/null 2>&1 || die "openssl could not sign the server certificate"
  openssl pkcs8 -topk8 -nocrypt -in "$tls/server.key" -out "$tls/server.pk8" || die "openssl pkcs8 failed"
  cat "$tls/server.pk8" "$tls/server.pem" "$tls/ca.pem" > "$tls/server-keystore.pem"
  printf 'username=%s\npassword=%s\n' "$KAFKA_SASL_USER" "$KAFKA_SASL_PASSWORD" > "$tls/credentials"
}

write_kafka_config() {
  mkdir -p "$KAFKA_DIR/data"
  ensure_tls
  cat > "$KAFKA_DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT,SASL_SSL://127.0.0.1:$KAFKA_SASL_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,SASL_SSL://127.0.0.1:$KAFKA_SASL_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL
listener.name.sasl_ssl.sasl.enabled.mechanisms=PLAIN
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$KAFKA_SASL_USER="$KAFKA_SASL_PASSWORD";
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$KAFKA_DIR/tls/server-keystore.pem
log.dirs=$KAFKA_DIR/data
auto.create.topics.enable=false
num.partitions=8
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=8
group.initial.rebalance.delay.ms=0
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
log.retention.hours=-1
log.segment.bytes=67108864
PROPS
}

kafka_java() {
  java -Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true \
    -Dkafka.logs.dir="$KAFKA_DIR" -Dlog4j2.configurationFile="$ROOT/scripts/kafka/log4j2.properties" \
    -cp "$LIBS/*" "$@"
}

broker_log_tail() {
  printf '%s\n' "----- last lines of $KAFKA_DIR/broker.log -----" >&2
  tail -n 40 "$KAFKA_DIR/broker.log" 2>/dev/null >&2 || true
  tail -n 20 "$KAFKA_DIR/stdout.log" 2>/dev/null >&2 || true
}

start_kafka() {
  if port_open "$KAFKA_PORT"; then say "Kafka already answering on 127.0.0.1:$KAFKA_PORT"; return; fi
  ensure_kafka_jars
  write_kafka_config
  if [ ! -f "$KAFKA_DIR/data/meta.properties" ]; then
    kafka_java kafka.tools.StorageTool format --standalone -t "tagstream-local-$KAFKA_PORT" \
      -c "$KAFKA_DIR/server.properties" >"$KAFKA_DIR/format.log" 2>&1 \
      || { cat "$KAFKA_DIR/format.log" >&2; die "kafka storage format failed"; }
  fi
  say "starting Kafka on 127.0.0.1:$KAFKA_PORT (controller :$KAFKA_CONTROLLER_PORT, data $KAFKA_DIR)"
  nohup bash -c "$(declare -f kafka_java); KAFKA_DIR='$KAFKA_DIR' ROOT='$ROOT' LIBS='$LIBS' kafka_java kafka.Kafka '$KAFKA_DIR/server.properties'" \
    >"$KAFKA_DIR/stdout.log" 2>&1 &
  echo $! > "$KAFKA_DIR/pid"
  local waited=0
  until port_open "$KAFKA_PORT" && grep -q "started (kafka.server.KafkaRaftServer)\|Kafka Server started" "$KAFKA_DIR/broker.log" 2>/dev/null; do
    pid_alive "$KAFKA_DIR/pid" || { broker_log_tail; die "Kafka exited during start"; }
    [ "$waited" -ge "$START_TIMEOUT" ] && { broker_log_tail; die "Kafka did not answer within ${START_TIMEOUT}s"; }
    sleep 1; waited=$((waited + 1))
  done
  say "Kafka up after ${waited}s"
}

start_redis() {
  if port_open "$REDIS_PORT"; then say "Redis already answering on 127.0.0.1:$REDIS_PORT"; return; fi
  ensure_redis_binary
  mkdir -p "$REDIS_DIR"
  say "starting Redis on 127.0.0.1:$REDIS_PORT (data $REDIS_DIR)"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$REDIS_DIR" --daemonize yes \
    --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" --save "" --appendonly yes \
    >/dev/null || die "redis-server would not start (see $REDIS_DIR/redis.log)"
  local waited=0
  until redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; do
    [ "$waited" -ge 30 ] && { tail -n 20 "$REDIS_DIR/redis.log" >&2; die "Redis did not answer within 30s"; }
    sleep 0.5; waited=$((waited + 1))
  done
  say "Redis up"
}

stop_pidfile() {
  local pidfile="$1" name="$2" pid
  pid_alive "$pidfile" || { rm -f "$pidfile"; return; }
  pid="$(cat "$pidfile")"
  say "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$pid" 2>/dev/null && { say "$name did not stop in 30s; killing"; kill -KILL "$pid" 2>/dev/null || true; }
  rm -f "$pidfile"
}

stop_all() {
  # Kafka is started through a bash wrapper; stop the JVM first so the broker shuts down cleanly.
  if [ -f "$KAFKA_DIR/pid" ]; then
    local jpid; jpid="$(pgrep -f "kafka.Kafka $KAFKA_DIR/server.properties" | head -n 1 || true)"
    [ -n "$jpid" ] && echo "$jpid" > "$KAFKA_DIR/jvm.pid" && stop_pidfile "$KAFKA_DIR/jvm.pid" "Kafka"
    stop_pidfile "$KAFKA_DIR/pid" "Kafka wrapper"
  fi
  stop_pidfile "$REDIS_DIR/redis.pid" "Redis"
}

case "${1:-}" in
  up) start_kafka; start_redis ;;
  down) stop_all ;;
  clean) stop_all; say "deleting $STATE/kafka-* $STATE/redis-* $STATE/worker"; rm -rf "$STATE"/kafka-[0-9]* "$STATE"/redis-* "$STATE/worker" ;;
  status)
    port_open "$KAFKA_PORT" && say "Kafka: answering on $KAFKA_PORT" || say "Kafka: down"
    port_open "$REDIS_PORT" && say "Redis: answering on $REDIS_PORT" || say "Redis: down" ;;
  broker-log) broker_log_tail ;;
  *) echo "usage: $0 up|down|clean|status|broker-log" >&2; exit 2 ;;
esac
