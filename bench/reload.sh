#!/usr/bin/env bash
# Reload under load: mtlsgate serves a keep-alive HTTP/1.1 load while it is
# sent SIGHUP every RELOAD_EVERY seconds (a full reload: config, certificates,
# trust bundles, policies, upstreams), and the run must end with 0 failed
# requests.
#
#   bench/reload.sh                      # 60 s, one reload per second
#   DURATION=20 bench/reload.sh          # shorter
#
# Same placement as bench/run.sh: mtlsgate on core 0 (GOMAXPROCS=1),
# generator and upstream on core 1; everything on 127.0.0.1, stopped by PID.
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
# shellcheck source=bench/pki.sh
source "$BENCH/pki.sh"
# shellcheck source=bench/peers.sh
source "$BENCH/peers.sh"

DURATION=${DURATION:-60}
RELOAD_EVERY=${RELOAD_EVERY:-1}
CONNS=${CONNS:-64}
WORK=$(mktemp -d /tmp/mtlsgate-reload.XXXXXX)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 12000))
		[[ -n $(ss -Htan "sport = :$p" 2>/dev/null) ]] || {
			echo "$p"
			return
		}
	done
	echo "no free port" >&2
	exit 1
}

wait_port() {
	for _ in $(seq 1 100); do
		[[ -z $(ss -Hltn "sport = :$1" 2>/dev/null) ]] || return 0
		sleep 0.1
	done
	echo "nothing listens on 127.0.0.1:$1" >&2
	exit 1
}

command -v taskset >/dev/null || {
	apt-get update -qq && apt-get install -y -qq util-linux >/dev/null
}
mkdir -p "$WORK/bin"
(cd "$ROOT" && go build -o "$WORK/bin/mtlsgate" ./cmd/mtlsgate &&
	go build -o "$WORK/bin/loadgen" ./bench/loadgen && go build -o "$WORK/bin/upstream" ./bench/upstream)
mint_pki "$WORK/pki" >/dev/null
PKI=$WORK/pki
UP_PORT=$(free_port)
GW_PORT=$(free_port)
taskset -c 1 env GOMAXPROCS=1 "$WORK/bin/upstream" --listen "127.0.0.1:$UP_PORT" \
	--cert "$PKI/upstream.pem" --key "$PKI/upstream.key" --client-ca "$PKI/ca.pem" 2>"$WORK/upstream.log" &
PIDS+=($!)
wait_port "$UP_PORT"
AD_PORT=$(free_port)
# The same gateway config as bench/run.sh, at info level to count reloads.
MTLSGATE_LOG_LEVEL=info conf_mtlsgate "$WORK" "$GW_PORT" "$AD_PORT" ec
taskset -c 0 env GOMAXPROCS=1 "$WORK/bin/mtlsgate" serve -c "$WORK/mtlsgate.yaml" --watch=false \
	>/dev/null 2>"$WORK/mtlsgate.log" &
GW_PID=$!
PIDS+=("$GW_PID")
wait_port "$GW_PORT"

taskset -c 1 "$WORK/bin/loadgen" --url "https://localhost:$GW_PORT/api/bench" --connect "127.0.0.1:$GW_PORT" \
	--cert "$PKI/client.pem" --key "$PKI/client.key" --ca "$PKI/ca.pem" --mode keepalive --http 1.1 --tls 1.3 \
	--conns "$CONNS" --duration "${DURATION}s" --warmup 1s --brief >"$WORK/loadgen.out" 2>&1 &
LG=$!
PIDS+=("$LG")
sleep 1
reloads=0
end=$((SECONDS + DURATION))
while ((SECONDS < end)) && kill -0 "$LG" 2>/dev/null; do
	sleep "$RELOAD_EVERY"
	kill -HUP "$GW_PID"
	reloads=$((reloads + 1))
done
wait "$LG" || true
ok=$(grep -c '"msg":"configuration reloaded"' "$WORK/mtlsgate.log" || true)
failed=$(grep -c 'reload failed' "$WORK/mtlsgate.log" || true)
echo "reload under load: ${DURATION}s keep-alive HTTP/1.1, $CONNS connections, SIGHUP every ${RELOAD_EVERY}s"
echo "reloads sent $reloads, succeeded $ok, failed $failed"
tail -n 1 "$WORK/loadgen.out"
if grep -q 'errors 0' "$WORK/loadgen.out" && [[ $failed == 0 ]]; then
	echo "result: 0 failed requests"
else
	echo "result: FAILED requests or reloads (see above)"
	exit 1
fi
