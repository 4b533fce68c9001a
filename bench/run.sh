#!/usr/bin/env bash
# mtlsgate vs nginx vs HAProxy vs bare Go, over mTLS, in one command:
#
#   bench/run.sh                 # full run: 3 reps x 10 s per cell (~15 min)
#   QUICK=1 bench/run.sh         # smoke test: 1 rep x 3 s
#
# Environment: REPS, DURATION, WARMUP (seconds), PEERS, WORKLOADS,
# KEEPALIVE_CONNS (64), HANDSHAKE_CONNS (32), IDLE_CONNS (10000, 0 = skip),
# IDLE_PEERS, MAX_REQUESTS, PEER_CPU (0), GEN_CPU (1), MAX_FOREIGN (10: a run
# in which other processes used more than this % of a core is repeated, up
# to NOISE_RETRIES (2) times), RESULTS_MD, KEEP=1 (keep the temp dir with
# configs, logs and per-run JSON).
# See bench/README.md for what is measured and how to read it.
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
# shellcheck source=bench/pki.sh
source "$BENCH/pki.sh"
# shellcheck source=bench/peers.sh
source "$BENCH/peers.sh"

# The command line as run, with the settings that were overridden.
CMD="bench/run.sh"
for v in IDLE_PEERS IDLE_CONNS HANDSHAKE_CONNS KEEPALIVE_CONNS WORKLOADS PEERS WARMUP DURATION REPS QUICK; do
	if [[ -n ${!v:-} ]]; then CMD="$v=\"${!v}\" $CMD"; fi
done

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
	REPS=${REPS:-1} DURATION=${DURATION:-3} WARMUP=${WARMUP:-1}
else
	REPS=${REPS:-3} DURATION=${DURATION:-10} WARMUP=${WARMUP:-2}
fi
PEERS=${PEERS:-"mtlsgate nginx haproxy go-bare"}
WORKLOADS=${WORKLOADS:-"keepalive-h1 keepalive-h2 handshake-tls13-ecdsa handshake-tls13-rsa handshake-tls12-ecdsa"}
KEEPALIVE_CONNS=${KEEPALIVE_CONNS:-64}
HANDSHAKE_CONNS=${HANDSHAKE_CONNS:-32}
IDLE_CONNS=${IDLE_CONNS:-10000}
IDLE_PEERS=${IDLE_PEERS:-$PEERS}
MAX_REQUESTS=${MAX_REQUESTS:-5000000}
PEER_CPU=${PEER_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
MAX_FOREIGN=${MAX_FOREIGN:-10}
NOISE_RETRIES=${NOISE_RETRIES:-2}
RESULTS_MD=${RESULTS_MD:-$BENCH/RESULTS.md}
KEEP=${KEEP:-0}

# workload -> "mode http tls certkind"
declare -A WL_SPEC=(
	[keepalive-h1]="keepalive 1.1 1.3 ecdsa"
	[keepalive-h2]="keepalive 2 1.3 ecdsa"
	[handshake-tls13-ecdsa]="handshake 1.1 1.3 ecdsa"
	[handshake-tls13-rsa]="handshake 1.1 1.3 rsa"
	[handshake-tls12-ecdsa]="handshake 1.1 1.2 ecdsa"
)

PIDS=()
POLICY_RC_CREATED=0
WORK=""

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
warn() { log "WARNING: $*"; }
die() {
	log "ERROR: $*"
	exit 1
}

# alive PID: running and not a zombie
alive() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ -n $st && $st != Z ]]
}

untrack() {
	local p keep=()
	for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}

# stop_pid PID: SIGTERM, up to 5 s grace, then SIGKILL it and its children.
stop_pid() {
	local pid=$1 kids k i
	kids=$(cat /proc/"$pid"/task/*/children 2>/dev/null || true)
	if alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			alive "$pid" || break
			sleep 0.1
		done
		if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
	fi
	for k in $kids; do
		if alive "$k"; then kill -KILL "$k" 2>/dev/null || true; fi
	done
	wait "$pid" 2>/dev/null || true
	untrack "$pid"
}

cleanup() {
	local rc=$? i
	trap - EXIT INT TERM
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[i]}"; done
	if [[ $POLICY_RC_CREATED == 1 ]]; then rm -f /usr/sbin/policy-rc.d; fi
	if [[ -n $WORK && -d $WORK ]]; then
		if [[ $KEEP == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

declare -A TAKEN=()
# pick_port VAR: a free 127.0.0.1 port below the ephemeral range
pick_port() {
	local p i
	for ((i = 0; i < 2000; i++)); do
		p=$((20000 + RANDOM % 12000))
		[[ -z ${TAKEN[$p]:-} ]] || continue
		if [[ -z $(ss -Htan "sport = :$p" 2>/dev/null) ]]; then
			TAKEN[$p]=1
			printf -v "$1" '%s' "$p"
			return 0
		fi
	done
	die "no free port found"
}

# wait_listen PORT PID NAME LOG
# start_ocsp_responder: openssl ocsp on $OCSP_PORT (generator core) that
# knows the bench client certificate as good; mtlsgate-revocation asks it
# once per certificate and then answers from its cache.
start_ocsp_responder() {
	local serial end
	serial=$(openssl x509 -in "$PKI/client.pem" -noout -serial | cut -d= -f2)
	end=$(date -u -d "$(openssl x509 -in "$PKI/client.pem" -noout -enddate | cut -d= -f2)" '+%y%m%d%H%M%SZ')
	printf 'V\t%s\t\t%s\tunknown\t/CN=client-1/O=Bench Corp\n' "$end" "$serial" >"$PKI/index.txt"
	taskset -c "$GEN_CPU" openssl ocsp -index "$PKI/index.txt" -port "$OCSP_PORT" -rsigner "$PKI/ca.pem" \
		-rkey "$PKI/ca.key" -CA "$PKI/ca.pem" -nmin 120 >"$LOGS/ocsp.log" 2>&1 &
	PIDS+=("$!")
	local i
	for ((i = 0; i < 100; i++)); do
		grep -q "waiting for OCSP client connections" "$LOGS/ocsp.log" 2>/dev/null && return 0
		sleep 0.1
	done
	die "openssl ocsp did not start: $(tail -n 5 "$LOGS/ocsp.log")"
}

wait_listen() {
	local i
	for ((i = 0; i < 100; i++)); do
		alive "$2" || die "$3 exited during start-up: $(tail -n 5 "$4" 2>/dev/null)"
		[[ -z $(ss -Hltn "sport = :$1" 2>/dev/null) ]] || return 0
		sleep 0.1
	done
	die "$3 did not listen on 127.0.0.1:$1 within 10 s: $(tail -n 5 "$4" 2>/dev/null)"
}

# bounded SECONDS CMD...: run in the background (so signals reach our traps
# at once), tracked for cleanup, killed by timeout(1) if it overruns.
bounded() {
	local secs=$1 pid rc=0
	shift
	timeout -k 5 "$secs" "$@" &
	pid=$!
	PIDS+=("$pid")
	wait "$pid" || rc=$?
	untrack "$pid"
	return "$rc"
}

install_deps() {
	local need=()
	command -v nginx >/dev/null || need+=(nginx)
	command -v haproxy >/dev/null || need+=(haproxy)
	command -v taskset >/dev/null || need+=(util-linux)
	command -v openssl >/dev/null || need+=(openssl)
	command -v curl >/dev/null || need+=(curl)
	command -v ss >/dev/null || need+=(iproute2)
	command -v timeout >/dev/null || need+=(coreutils)
	((${#need[@]})) || return 0
	[[ $EUID == 0 ]] || die "missing ${need[*]}; run as root (apt-get install) or install them"
	command -v apt-get >/dev/null || die "missing ${need[*]} and no apt-get"
	# Debian starts nginx/haproxy on install (on 0.0.0.0:80); a policy-rc.d
	# that answers 101 stops that. Ours goes away again in cleanup.
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		POLICY_RC_CREATED=1
	fi
	log "installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	if [[ $POLICY_RC_CREATED == 1 ]]; then
		rm -f /usr/sbin/policy-rc.d
		POLICY_RC_CREATED=0
	fi
}

build() {
	local ver p
	ver="bench-$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
	git -C "$ROOT" diff --quiet HEAD 2>/dev/null || ver+="-dirty"
	log "building mtlsgate ($ver), loadgen, upstream, gobare, report"
	(
		cd "$ROOT"
		go build -trimpath -ldflags "-X main.version=$ver" -o "$BIN/mtlsgate" ./cmd/mtlsgate
		for p in loadgen upstream gobare report mkcrl; do go build -trimpath -o "$BIN/$p" "./bench/$p"; done
	)
}

# sanity NAME PORT KIND: 200 with the client cert, the cert forwarded
# upstream, h2 offered, and no 200 without a client cert.
sanity() {
	local name=$1 port=$2 kind=$3 ca=$PKI/ca.pem out code body want
	[[ $kind == rsa ]] && ca=$PKI/rsa-ca.pem
	local c=(curl -sS --max-time 5 --cacert "$ca" --resolve "localhost:$port:127.0.0.1")
	local auth=(--cert "$PKI/client.pem" --key "$PKI/client.key")
	out=$("${c[@]}" "${auth[@]}" -w '\n%{http_code}' "https://localhost:$port/__bench/echo") ||
		die "$name: request with a client certificate failed"
	code=${out##*$'\n'} body=${out%$'\n'*}
	body=${body%$'\n'}
	[[ $code == 200 ]] || die "$name: HTTP $code with a valid client certificate: $body"
	want=":$(openssl x509 -in "$PKI/client.pem" -outform DER | base64 -w0):"
	case $name in
	mtlsgate | haproxy) [[ $body == "$want" ]] || die "$name: upstream got Client-Cert '${body:0:60}', want the client's DER" ;;
	nginx) [[ $body == :-----BEGIN%20CERTIFICATE-----* ]] || die "nginx: upstream got Client-Cert '${body:0:60}'" ;;
	esac
	code=$("${c[@]}" "${auth[@]}" --http2 -o /dev/null -w '%{http_version}' "https://localhost:$port/") || true
	[[ $code == 2 ]] || die "$name: HTTP/2 not negotiated (got '$code')"
	code=$("${c[@]}" -o /dev/null -w '%{http_code}' "https://localhost:$port/" 2>/dev/null) || true
	[[ $code != 200 ]] || die "$name: answered 200 without a client certificate"
}

# run_load WORKLOAD PEER REP PORT PEER_PID
run_load() {
	local wl=$1 peer=$2 rep=$3 port=$4 known mode http tls kind conns ca=$PKI/ca.pem attempt rc
	known="$(peer_pids "$5"),$UP_PID"
	read -r mode http tls kind <<<"${WL_SPEC[$wl]}"
	conns=$KEEPALIVE_CONNS
	[[ $mode == keepalive ]] || conns=$HANDSHAKE_CONNS
	[[ $kind == rsa ]] && ca=$PKI/rsa-ca.pem
	for ((attempt = 0; ; attempt++)); do
		rc=0
		bounded $((WARMUP + DURATION + 30)) taskset -c "$GEN_CPU" env GOMAXPROCS=1 "$BIN/loadgen" \
			--url "https://localhost:$port/api/bench" --connect "127.0.0.1:$port" \
			--cert "$PKI/client.pem" --key "$PKI/client.key" --ca "$ca" \
			--mode "$mode" --http "$http" --tls "$tls" --conns "$conns" \
			--duration "${DURATION}s" --warmup "${WARMUP}s" --max-requests "$MAX_REQUESTS" \
			--known-pids "$known" --max-foreign "$MAX_FOREIGN" \
			--label "$wl/$peer/$rep" --json-out "$RES/$wl.$peer.$rep.json" --brief || rc=$?
		if ((rc == 3 && attempt < NOISE_RETRIES)); then
			warn "other processes used > $MAX_FOREIGN% of a core during $wl/$peer/$rep; repeating it"
			sleep 3
			continue
		fi
		((rc == 0 || rc == 3)) || warn "loadgen exit status $rc for $wl/$peer/$rep"
		return 0
	done
}

run_workload() {
	local wl=$1 mode http tls kind peer rep i n port
	[[ -n ${WL_SPEC[$wl]:-} ]] || die "unknown workload $wl (known: ${!WL_SPEC[*]})"
	read -r mode http tls kind <<<"${WL_SPEC[$wl]}"
	log "== $wl: $mode, HTTP/$http, TLS $tls, $kind server certificate"
	local -A port_of=() pid_of=()
	for peer in "${PEER_LIST[@]}"; do
		pick_port port
		start_peer "$peer" "$kind" "$port"
		port_of[$peer]=$port pid_of[$peer]=$STARTED_PID
		sanity "$peer" "$port" "$kind"
	done
	n=${#PEER_LIST[@]}
	for ((rep = 1; rep <= REPS; rep++)); do
		# Rotate the order each repetition so no peer always runs first.
		for ((i = 0; i < n; i++)); do
			peer=${PEER_LIST[(i + rep - 1) % n]}
			run_load "$wl" "$peer" "$rep" "${port_of[$peer]}" "${pid_of[$peer]}"
			sleep 1
		done
	done
	for peer in "${PEER_LIST[@]}"; do stop_pid "${pid_of[$peer]}"; done
}

run_idle() {
	local peer port pids conns
	log "== idle: $IDLE_CONNS idle mTLS connections per peer, resident memory"
	for peer in $IDLE_PEERS; do
		conns=$IDLE_CONNS
		if [[ $peer == haproxy ]] && ((conns > $(haproxy_maxconn) - 50)); then
			conns=$(($(haproxy_maxconn) - 50))
			warn "haproxy: maxconn is $(haproxy_maxconn) under the open-file limit $NOFILE; opening $conns"
		fi
		pick_port port
		start_peer "$peer" ecdsa "$port"
		sleep 1 # nginx: let the master fork its worker
		pids=$(peer_pids "$STARTED_PID")
		bounded 300 taskset -c "$GEN_CPU" env GOMAXPROCS=1 "$BIN/loadgen" \
			--url "https://localhost:$port/api/bench" --connect "127.0.0.1:$port" \
			--cert "$PKI/client.pem" --key "$PKI/client.key" --ca "$PKI/ca.pem" \
			--mode idle --conns "$conns" --duration 180s --timeout 20s --settle 3s \
			--max-requests "$MAX_REQUESTS" --rss-pid "$pids" \
			--label "idle/$peer" --json-out "$RES/idle.$peer.json" --brief ||
			warn "idle loadgen exit status $? for $peer"
		stop_pid "$STARTED_PID"
	done
}

write_versions() {
	{
		echo "date:     $DATE"
		echo "mtlsgate: $("$BIN/mtlsgate" version)"
		echo "go:       $(go version)"
		echo "nginx:    $(nginx -v 2>&1)"
		echo "haproxy:  $(haproxy -v | head -n 1)"
		echo "openssl:  $(openssl version)"
		echo "curl:     $(curl --version | head -n 1)"
		echo "kernel:   $(uname -sr)"
		echo "cpu:      $(nproc) x $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
	} >"$WORK/versions.txt"
}

main() {
	(($(nproc) >= 2)) || die "needs 2 cores (peer on core $PEER_CPU, generator on core $GEN_CPU)"
	install_deps
	# 10,000 idle connections need the descriptors, on both ends.
	ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
	NOFILE=$(ulimit -n)
	if ((IDLE_CONNS + 1000 > NOFILE)); then
		warn "open-file limit $NOFILE is too low for $IDLE_CONNS idle connections; using $((NOFILE - 1000))"
		IDLE_CONNS=$((NOFILE - 1000))
	fi
	WORK=$(mktemp -d /tmp/mtlsgate-bench.XXXXXX)
	BIN=$WORK/bin PKI=$WORK/pki LOGS=$WORK/logs RES=$WORK/results
	mkdir -p "$BIN" "$LOGS" "$RES" "$WORK/peers"
	DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
	read -r -a PEER_LIST <<<"$PEERS"
	build
	log "minting certificates in $PKI"
	REVOCATION=0
	if [[ " $PEERS " == *" mtlsgate-revocation "* ]]; then
		REVOCATION=1
		pick_port OCSP_PORT
		export OCSP_URL="http://127.0.0.1:$OCSP_PORT"
	fi
	mint_pki "$PKI"
	if [[ $REVOCATION == 1 ]]; then
		log "signing a CRL with ${CRL_ENTRIES:-1000000} entries for mtlsgate-revocation"
		"$BIN/mkcrl" --ca "$PKI/ca.pem" --key "$PKI/ca.key" --n "${CRL_ENTRIES:-1000000}" --out "$PKI/revoked.crl"
		start_ocsp_responder
	fi
	write_versions
	sed 's/^/  /' "$WORK/versions.txt" >&2

	pick_port UP_PORT
	taskset -c "$GEN_CPU" env GOMAXPROCS=1 "$BIN/upstream" --listen "127.0.0.1:$UP_PORT" \
		--cert "$PKI/upstream.pem" --key "$PKI/upstream.key" --client-ca "$PKI/ca.pem" \
		2>"$LOGS/upstream.log" &
	UP_PID=$!
	PIDS+=("$UP_PID")
	wait_listen "$UP_PORT" "$UP_PID" upstream "$LOGS/upstream.log"
	log "upstream on 127.0.0.1:$UP_PORT (core $GEN_CPU); peers on core $PEER_CPU; $REPS x ${DURATION}s (+${WARMUP}s warm-up) per cell"

	local wl
	for wl in $WORKLOADS; do run_workload "$wl"; done
	if ((IDLE_CONNS > 0)); then run_idle; fi

	local settings="REPS=$REPS, DURATION=${DURATION}s, WARMUP=${WARMUP}s, connections: keepalive $KEEPALIVE_CONNS, handshake $HANDSHAKE_CONNS, idle $IDLE_CONNS; access logs off on every peer; runs with > $MAX_FOREIGN% of a core used by other processes repeated up to $NOISE_RETRIES times"
	[[ $QUICK == 1 ]] && settings="QUICK smoke run: $settings"
	log "results:"
	echo
	"$BIN/report" --results "$RES" --versions "$WORK/versions.txt" --command "$CMD" \
		--settings "$settings" --date "$DATE" --peers "$PEERS" --workloads "$WORKLOADS" \
		--peer-cpu "cpu$PEER_CPU" --gen-cpu "cpu$GEN_CPU" --out "$RESULTS_MD"
	log "wrote $RESULTS_MD"
}

main "$@"
