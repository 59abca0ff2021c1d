#!/usr/bin/env bash
# kafka.sh: a throwaway single-node Apache Kafka 4.1 (KRaft, broker + controller
# in one JVM) on 127.0.0.1, for the tests that need a real broker. No Docker: the
# jars come from Maven Central through scripts/kafka/pom.xml and run on `java`.
#
# How tests use it:
#   BOOTSTRAP=$(scripts/kafka.sh start | tail -n1)   # idempotent; 127.0.0.1:<port>
#   scripts/kafka.sh topic events 4                  # create topic (if missing)
#   ... point rdkafka at $BOOTSTRAP ...
#   scripts/kafka.sh stop                            # kill broker, drop its data
#
# Subcommands:
#   start                 fetch jars if missing, start the broker, wait until it
#                         answers; prints the bootstrap address as the last line
#                         of stdout (progress goes to stderr)
#   stop                  stop the broker and delete its data (jars are kept)
#   halt                  stop the broker, keeping its data (for outage tests)
#   resume                start a halted broker again, on its data and its port
#   status                print the bootstrap address; exit 1 if not running
#   bootstrap             print the bootstrap address of the running broker
#   topic NAME PARTITIONS create a topic (replication 1) unless it exists
#   tool CLASS [ARGS...]  run a Kafka tool class on the jars, e.g.
#                         org.apache.kafka.tools.ConsoleProducer --bootstrap-server ...
#
# Environment:
#   KAFKA_RUN            where one broker's config and data live (default KAFKA_HOME/run):
#                        several brokers may share the jars, each with its own KAFKA_RUN
#   KAFKA_HOME           where jars and data live (default <repo>/target/kafka):
#                        libs/ = jars (cached), run/ = config, data, kafka.log,
#                        kafka.pid, bootstrap (deleted by stop; stop keeps the
#                        last broker log as kafka.last.log)
#   KAFKA_START_TIMEOUT  seconds start waits for the broker (default 90)
#   KAFKA_HEAP_OPTS      broker JVM heap (default -Xms1g -Xmx1g, as Kafka's own start script)
#   KAFKA_JVM_PERFORMANCE_OPTS
#                        broker GC settings (default: Kafka's own, G1 with 20 ms pauses, and
#                        16 MB regions, so that a 1 MB produce batch is not a humongous object)
#   JAVA                 java binary (default java)

set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(dirname "$SCRIPT_DIR")
KAFKA_HOME=${KAFKA_HOME:-$REPO_ROOT/target/kafka}
POM=$SCRIPT_DIR/kafka/pom.xml
LIBS=$KAFKA_HOME/libs
RUN=${KAFKA_RUN:-$KAFKA_HOME/run}
PID_FILE=$RUN/kafka.pid
BOOTSTRAP_FILE=$RUN/bootstrap
LOG=$RUN/kafka.log
JAVA=${JAVA:-java}
START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}
HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms1g -Xmx1g}
# Kafka's kafka-run-class.sh defaults, plus the region size: with 1 MB regions (G1's choice for a
# 1 GB heap) every 1 MB batch our clients send is humongous and starts a concurrent cycle; the
# broker then paused 1.6-2.1 s in 180-190 pauses of up to 300 ms per 40 s latency run, against
# 0.3 s in 26-28 pauses of at most 37 ms with these (README, "Ninth round").
GC_OPTS=${KAFKA_JVM_PERFORMANCE_OPTS:--XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:G1HeapRegionSize=16m -XX:+ExplicitGCInvokesConcurrent}

say() { echo "kafka.sh: $*" >&2; }
die() { say "$*"; exit 1; }

# Serialise start/stop of concurrent callers (e.g. parallel test binaries).
# The broker must not inherit fd 9, or it would hold the lock forever.
lock() {
    mkdir -p "$KAFKA_HOME"
    exec 9>"$KAFKA_HOME/.lock"
    flock -w 300 9 || die "could not lock $KAFKA_HOME/.lock"
}

# ---------------------------------------------------------------- jars

# libs/.complete holds the sha256 of the pom the jars came from: a changed pom
# (e.g. another Kafka version) or an interrupted download means fetch again.
ensure_jars() {
    local want
    want=$(sha256sum "$POM" | cut -d' ' -f1)
    if [[ -f $LIBS/.complete && $(cat "$LIBS/.complete") == "$want" ]]; then
        return
    fi
    command -v mvn >/dev/null || die "mvn not found: needed once to fetch the Kafka jars"
    say "fetching Kafka jars into $LIBS (once)"
    rm -rf "$LIBS.tmp"
    if ! mvn -B -q -f "$POM" dependency:copy-dependencies \
            -DoutputDirectory="$LIBS.tmp" >"$KAFKA_HOME/mvn.log" 2>&1; then
        tail -n 30 "$KAFKA_HOME/mvn.log" >&2
        die "mvn failed (full log: $KAFKA_HOME/mvn.log)"
    fi
    echo "$want" >"$LIBS.tmp/.complete"
    rm -rf "$LIBS"
    mv "$LIBS.tmp" "$LIBS"
}

# ---------------------------------------------------------------- helpers

# Two distinct free TCP ports on 127.0.0.1 (both held open while choosing).
free_ports() {
    python3 - <<'EOF'
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
EOF
}

# A Kafka cluster id: 16 random bytes, base64url without padding (it may begin with `-`, so it is
# passed as --cluster-id=ID).
random_cluster_id() {
    python3 -c 'import base64, uuid; print(base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode())'
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Alive and not a zombie (a broker we started in this very script and killed
# stays a zombie until we exit).
alive() {
    local stat
    stat=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $stat && ${stat:0:1} != Z ]]
}

# The pid from the pid file, if that process is alive and is our broker.
broker_pid() {
    [[ -f $PID_FILE ]] || return 1
    local pid
    pid=$(cat "$PID_FILE")
    [[ -n $pid ]] && alive "$pid" || return 1
    [[ $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) == *' kafka.Kafka '* ]] || return 1
    echo "$pid"
}

running_bootstrap() {
    broker_pid >/dev/null && [[ -s $BOOTSTRAP_FILE ]] || return 1
    local addr
    addr=$(cat "$BOOTSTRAP_FILE")
    port_open "${addr##*:}" || return 1
    echo "$addr"
}

# Run a Kafka tool class with quiet logging (warnings to stderr).
run_tool() {
    local log_conf=$KAFKA_HOME/tools-log4j2.properties
    [[ -f $log_conf ]] || write_tools_log_config "$log_conf"
    "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
        -Dlog4j2.configurationFile="$log_conf" -cp "$LIBS/*" "$@"
}

# ---------------------------------------------------------------- config files

write_server_properties() {  # PORT CONTROLLER_PORT
    cat >"$RUN/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$2
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$1,CONTROLLER://127.0.0.1:$2
advertised.listeners=PLAINTEXT://127.0.0.1:$1
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$RUN/data
num.partitions=1
auto.create.topics.enable=false
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
# A bound on each partition (segments of 512 MB, the oldest deleted past 4 GB), so that a
# benchmark's hundreds of thousands of records per second cannot fill the disk.
log.segment.bytes=536870912
log.retention.bytes=4294967296
log.retention.check.interval.ms=10000
EOF
}

write_broker_log_config() {
    cat >"$RUN/log4j2.properties" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = warn
EOF
}

write_tools_log_config() {  # FILE
    cat >"$1" <<'EOF'
status = warn
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.err.ref = STDERR
EOF
}

# Admin client settings for TopicCommand: fail fast instead of retrying 60 s.
write_tools_properties() {
    cat >"$RUN/tools.properties" <<'EOF'
request.timeout.ms=5000
default.api.timeout.ms=10000
EOF
}

# ---------------------------------------------------------------- start / stop

launch_broker() {
    format_storage
    start_process
}

format_storage() {
    say "formatting storage"
    run_tool kafka.tools.StorageTool format --cluster-id="$(random_cluster_id)" \
        -c "$RUN/server.properties" >"$RUN/format.log" 2>&1 \
        || { cat "$RUN/format.log" >&2; die "storage format failed"; }
}

start_process() {
    say "starting broker"
    # setsid + all fds redirected: the broker outlives this script and holds
    # none of the caller's pipes (so `$(kafka.sh start)` returns).
    # shellcheck disable=SC2086
    setsid nohup "$JAVA" $HEAP_OPTS $GC_OPTS -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$RUN/log4j2.properties" \
        -cp "$LIBS/*" kafka.Kafka "$RUN/server.properties" \
        </dev/null >"$LOG" 2>&1 9>&- &
    echo $! >"$PID_FILE"
}

# Ready = the broker lists topics through its PLAINTEXT listener.
wait_ready() {  # BOOTSTRAP
    local deadline=$((SECONDS + START_TIMEOUT))
    while ((SECONDS < deadline)); do
        # Alive, not yet `broker_pid`: until the launched shell has exec'd java, its command
        # line is this script's (a busy machine makes that window long).
        alive "$(cat "$PID_FILE")" || { say "broker exited during startup"; return 1; }
        if port_open "${1##*:}" && run_tool org.apache.kafka.tools.TopicCommand \
                --bootstrap-server "$1" --command-config "$RUN/tools.properties" \
                --list >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.5
    done
    say "broker not ready after ${START_TIMEOUT}s"
    return 1
}

kill_broker() {
    local pid i
    pid=$(broker_pid) || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 40; i++)); do   # 20 s
        alive "$pid" || return 0
        sleep 0.5
    done
    say "broker $pid ignored SIGTERM for 20 s, killing it"
    kill -KILL "$pid" 2>/dev/null || true
    while alive "$pid"; do sleep 0.1; done
}

cmd_start() {
    lock
    local addr
    if addr=$(running_bootstrap); then
        echo "$addr"
        return
    fi
    kill_broker          # a half-alive leftover, if any
    rm -rf "$RUN"
    ensure_jars
    mkdir -p "$RUN"
    local ports port cport
    ports=$(free_ports)
    read -r port cport <<<"$ports"
    addr=127.0.0.1:$port
    write_server_properties "$port" "$cport"
    write_broker_log_config
    write_tools_properties
    launch_broker
    if ! wait_ready "$addr"; then
        say "last lines of $LOG:"
        tail -n 40 "$LOG" >&2 || true
        kill_broker
        exit 1
    fi
    echo "$addr" >"$BOOTSTRAP_FILE"
    say "broker ready on $addr (log: $LOG)"
    echo "$addr"
}

# Keeps a copy of the last broker log as KAFKA_HOME/kafka.last.log.
cmd_stop() {
    lock
    kill_broker
    [[ -f $LOG ]] && cp "$LOG" "$KAFKA_HOME/kafka.last.log"
    rm -rf "$RUN"
}

cmd_halt() {
    lock
    kill_broker
}

cmd_resume() {
    lock
    local addr
    if addr=$(running_bootstrap); then
        echo "$addr"
        return
    fi
    [[ -f $RUN/server.properties && -f $BOOTSTRAP_FILE ]] || die "no halted broker in $RUN"
    addr=$(cat "$BOOTSTRAP_FILE")
    start_process
    wait_ready "$addr" || { tail -n 40 "$LOG" >&2 || true; kill_broker; exit 1; }
    say "broker ready again on $addr"
    echo "$addr"
}

cmd_status() {
    local addr
    addr=$(running_bootstrap) || { say "not running"; exit 1; }
    echo "$addr"
}

cmd_topic() {  # NAME PARTITIONS
    [[ $# -eq 2 && $2 =~ ^[0-9]+$ ]] || die "usage: kafka.sh topic NAME PARTITIONS"
    local addr
    addr=$(running_bootstrap) || die "broker not running (kafka.sh start)"
    run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$addr" \
        --command-config "$RUN/tools.properties" \
        --create --if-not-exists --topic "$1" --partitions "$2" --replication-factor 1
}

cmd_tool() {
    [[ $# -ge 1 ]] || die "usage: kafka.sh tool CLASS [ARGS...]"
    [[ -f $LIBS/.complete ]] || die "no jars yet (kafka.sh start fetches them)"
    run_tool "$@"
}

usage() {
    sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
    exit 2
}

main() {
    local cmd=${1:-}
    shift || true
    case $cmd in
        start) cmd_start ;;
        stop) cmd_stop ;;
        halt) cmd_halt ;;
        resume) cmd_resume ;;
        status) cmd_status ;;
        bootstrap) cmd_status ;;
        topic) cmd_topic "$@" ;;
        tool) cmd_tool "$@" ;;
        *) usage ;;
    esac
}

main "$@"
