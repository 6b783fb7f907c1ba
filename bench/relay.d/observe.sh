# Sourced by bench/relay: what the run watches besides wrk. Its own nats-server (started and
# stopped per measurement, its stream's message count from the monitoring endpoint), the
# outbox backlog sampled every second, and with BENCH_WAITS=1 what PostgreSQL's sessions
# wait on. Uses bench/relay's globals (OUT, DB_URL, NATS_SERVER, STREAM, WAITS) and helpers
# (log, die, stop_pid, psql_db).
# shellcheck shell=bash

NATS_STARTS=0
NATS_URL=""
NATS_MONITOR=""
# A nats-server with JetStream on free ports (it picks them and writes them to its ports
# file, as crates/events/src/testing.rs starts it), with a new store directory.
start_nats() {
    NATS_STARTS=$((NATS_STARTS + 1))
    local dir="$OUT/nats-$NATS_STARTS"
    mkdir -p "$dir/ports"
    "$NATS_SERVER" -js -a 127.0.0.1 -p -1 -m -1 -sd "$dir/store" --ports_file_dir "$dir/ports" \
        >"$OUT/raw/nats-$NATS_STARTS.log" 2>&1 &
    NATS_PID=$!
    local ports=""
    for _ in $(seq 1 100); do
        kill -0 "$NATS_PID" 2>/dev/null || { tail -n 20 "$OUT/raw/nats-$NATS_STARTS.log" >&2; die "nats-server exited"; }
        ports=$(cat "$dir"/ports/*.ports 2>/dev/null || true)
        [[ -n $ports ]] && jq -e '.nats[0] and .monitoring[0]' <<<"$ports" >/dev/null 2>&1 && break
        ports=""
        sleep 0.1
    done
    [[ -n $ports ]] || die "nats-server did not report its ports in 10 s"
    NATS_URL=$(jq -r '.nats[0]' <<<"$ports")
    NATS_MONITOR=$(jq -r '.monitoring[0]' <<<"$ports")
    log "nats-server -js at $NATS_URL (monitoring $NATS_MONITOR)"
}

stop_nats() {
    [[ -n $NATS_PID ]] && stop_pid "$NATS_PID" "nats-server"
    NATS_PID=""
}

# The number of messages in the events' stream (empty while the stream does not exist).
stream_messages() {
    curl -fsS "$NATS_MONITOR/jsz?streams=true" 2>/dev/null |
        jq -r --arg s "$STREAM" '[.account_details[]?.stream_detail[]? | select(.name == $s) | .state.messages] | first // empty' || true
}

backlog() { psql_db -Atc "SELECT count(*) FROM outbox WHERE published_at IS NULL"; }

# Samples the backlog (unpublished outbox rows) every second into FILE: "epoch count" lines.
start_sampler() {
    local file=$1
    : >"$file"
    (
        trap 'exit 0' TERM
        while :; do
            psql -X -q -At -F ' ' "$DB_URL" -c \
                "SELECT extract(epoch FROM clock_timestamp()), count(*) FROM outbox WHERE published_at IS NULL" \
                >>"$file" 2>/dev/null || true
            sleep 1
        done
    ) &
    SAMPLER_PID=$!
}

stop_sampler() {
    [[ -n $SAMPLER_PID ]] && stop_pid "$SAMPLER_PID" "the backlog sampler"
    SAMPLER_PID=""
}

# With BENCH_WAITS=1: what the benchmark database's active sessions wait on, every 0.1 s, into
# FILE ("wait|statement|sessions" lines, "#" after each snapshot), then FILE's summary (the
# average number of sessions per wait and statement) into FILE with .txt replaced by
# -summary.txt.
WAITS_SQL="SELECT coalesce(wait_event_type, 'CPU') || ': ' || coalesce(wait_event, '-'),
    left(regexp_replace(query, '\s+', ' ', 'g'), 60), count(*)
    FROM pg_stat_activity WHERE datname = current_database() AND state = 'active'
    AND pid <> pg_backend_pid() GROUP BY 1, 2"
start_waits() {
    [[ $WAITS == 1 ]] || return 0
    local file=$1
    : >"$file"
    (
        trap 'exit 0' TERM
        while :; do
            psql -X -q -At "$DB_URL" -c "$WAITS_SQL" >>"$file" 2>/dev/null || true
            echo '#' >>"$file"
            sleep 0.1
        done
    ) &
    WAITS_PID=$!
}

stop_waits() {
    [[ -n $WAITS_PID ]] || return 0
    stop_pid "$WAITS_PID" "the wait sampler"
    WAITS_PID=""
    local file=$1
    local snapshots
    snapshots=$(grep -c '^#$' "$file" || true)
    {
        echo "# $snapshots snapshots; per wait and statement: sessions on average, session-samples"
        awk -F'|' -v s="$snapshots" 'NF == 3 { n[$1 " | " $2] += $3 }
            END { for (k in n) printf "%6.2f %6d | %s\n", (s > 0) ? n[k] / s : 0, n[k], k }' "$file" |
            sort -k1,1 -rn
    } >"${file%.txt}-summary.txt"
}

# backlog_summary FILE -> "first last max trend": trend is the least-squares slope of the
# samples in rows per second (0 for a flat backlog; the write rate when nothing publishes).
backlog_summary() {
    awk 'NF == 2 {
            n++; t[n] = $1; v[n] = $2; st += $1; sv += $2; if ($2 > max) max = $2
        } END {
            if (n == 0) { print "n/a n/a n/a n/a"; exit }
            mt = st / n; mv = sv / n
            for (i = 1; i <= n; i++) { num += (t[i] - mt) * (v[i] - mv); den += (t[i] - mt) ^ 2 }
            printf "%d %d %d %.1f\n", v[1], v[n], max, (den > 0) ? num / den : 0
        }' "$1"
}
