# shellcheck shell=bash
# Peer configurations for bench/run.sh (sourced). Every peer:
#   - listens on 127.0.0.1:$port with the server cert of the workload
#     (ECDSA P-256, or RSA-2048 for the RSA workload),
#   - requires and verifies a client certificate from ca.pem,
#   - (proxies) forwards the verified client certificate in Client-Cert and
#     calls the upstream over mTLS (gw.pem) on a kept-alive pool,
#   - runs one worker / one thread, access logging off.
# Functions write the config into $WORK/peers/NAME-KIND and print nothing.

# server_cert KIND -> "cert key combined" paths
server_cert() {
	if [[ $1 == rsa ]]; then
		echo "$PKI/rsa-server.pem $PKI/rsa-server.key $PKI/rsa-server-combined.pem"
	else
		echo "$PKI/server.pem $PKI/server.key $PKI/server-combined.pem"
	fi
}

# conf_mtlsgate DIR PORT ADMIN_PORT KIND [REVOCATION]  (MTLSGATE_LOG_LEVEL, default warn)
# With REVOCATION=1 the listener checks client certificates against
# $PKI/revoked.crl (made by mkcrl) and OCSP (prefer; the bench client
# certificates name no responder, so the CRL decides).
conf_mtlsgate() {
	local dir=$1 port=$2 admin=$3 crt key _c rev=""
	read -r crt key _c < <(server_cert "$4")
	if [[ ${5:-0} == 1 ]]; then
		rev=", revocation: {crl: [{file: $PKI/revoked.crl}], ocsp: prefer}"
	fi
	cat >"$dir/mtlsgate.yaml" <<YAML
listeners:
  - name: public
    address: 127.0.0.1:$port
    tls: {cert: $crt, key: $key, client_ca: $PKI/ca.pem, client_auth: require, min_version: "1.2"$rev}
admin: {address: 127.0.0.1:$admin}
upstreams:
  - name: up
    url: https://127.0.0.1:$UP_PORT
    tls: {cert: $PKI/gw.pem, key: $PKI/gw.key, ca: $PKI/ca.pem, server_name: localhost}
routes:
  - name: api
    match: {path_prefix: /}
    upstream: up
    client_cert: required
    allow: [{cn: "client-*"}, {o: "Bench Corp"}]
    forward: {format: rfc9440}
log: {level: ${MTLSGATE_LOG_LEVEL:-warn}, access: false}
YAML
}

# conf_nginx DIR PORT KIND
# nginx 1.22 (Debian 12) has no "http2 on;": http2 goes on the listen line.
# nginx cannot base64 the DER, so it forwards the URL-escaped PEM
# ($ssl_client_escaped_cert): same information, ~1.4x the bytes.
conf_nginx() {
	local dir=$1 port=$2 crt key _c
	read -r crt key _c < <(server_cert "$3")
	mkdir -p "$dir/tmp"
	cat >"$dir/nginx.conf" <<NGINX
user root;
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $LOGS/nginx-$3.log warn;
worker_rlimit_nofile $NOFILE;
events { worker_connections $((NOFILE - 100)); }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    keepalive_timeout 120s;
    keepalive_requests 100000000;
    upstream up {
        server 127.0.0.1:$UP_PORT;
        keepalive 256;
        keepalive_requests 100000000;
        keepalive_timeout 120s;
    }
    server {
        listen 127.0.0.1:$port ssl http2;
        ssl_certificate $crt;
        ssl_certificate_key $key;
        ssl_client_certificate $PKI/ca.pem;
        ssl_verify_client on;
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {
            proxy_pass https://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Client-Cert ":\$ssl_client_escaped_cert:";
            proxy_ssl_certificate $PKI/gw.pem;
            proxy_ssl_certificate_key $PKI/gw.key;
            proxy_ssl_trusted_certificate $PKI/ca.pem;
            proxy_ssl_verify on;
            proxy_ssl_name localhost;
            proxy_ssl_server_name on;
            proxy_ssl_session_reuse on;
        }
    }
}
NGINX
}

# haproxy_maxconn: what the open-file limit allows HAProxy
haproxy_maxconn() { echo $(((NOFILE - 100) / 2)); }

# conf_haproxy DIR PORT KIND
conf_haproxy() {
	local dir=$1 port=$2 _crt _key combined
	read -r _crt _key combined < <(server_cert "$3")
	cat >"$dir/haproxy.cfg" <<HAPROXY
global
    nbthread 1
    # HAProxy reserves two descriptors per connection (client + server).
    maxconn $(haproxy_maxconn)
    ssl-server-verify required
    # HAProxy prefers its own cipher order; make it pick AES-128 like the others.
    ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256

defaults
    mode http
    timeout connect 5s
    timeout client 120s
    timeout server 60s
    timeout http-request 10s
    timeout http-keep-alive 120s

frontend fe
    bind 127.0.0.1:$port ssl crt $combined ca-file $PKI/ca.pem verify required alpn h2,http/1.1 ssl-min-ver TLSv1.2
    http-request set-header Client-Cert :%[ssl_c_der,base64]:
    default_backend be

backend be
    http-reuse always
    server up 127.0.0.1:$UP_PORT ssl crt $PKI/gw-combined.pem ca-file $PKI/ca.pem verify required sni str(localhost) verifyhost localhost
HAPROXY
}

# start_peer NAME KIND PORT -> appends to PIDS, sets STARTED_PID
start_peer() {
	local name=$1 kind=$2 port=$3 dir=$WORK/peers/$1-$2
	mkdir -p "$dir"
	case $name in
	mtlsgate | mtlsgate-revocation)
		local admin
		pick_port admin
		conf_mtlsgate "$dir" "$port" "$admin" "$kind" "$([[ $name == mtlsgate-revocation ]] && echo 1 || echo 0)"
		taskset -c "$PEER_CPU" env GOMAXPROCS=1 "$BIN/mtlsgate" serve -c "$dir/mtlsgate.yaml" --watch=false \
			>/dev/null 2>"$LOGS/$name-$kind.log" &
		;;
	nginx)
		conf_nginx "$dir" "$port" "$kind"
		taskset -c "$PEER_CPU" nginx -p "$dir" -c "$dir/nginx.conf" -e "$LOGS/nginx-$kind.log" \
			>>"$LOGS/nginx-$kind.log" 2>&1 &
		;;
	haproxy)
		conf_haproxy "$dir" "$port" "$kind"
		taskset -c "$PEER_CPU" haproxy -db -f "$dir/haproxy.cfg" >"$LOGS/haproxy-$kind.log" 2>&1 &
		;;
	go-bare)
		local crt key _c
		read -r crt key _c < <(server_cert "$kind")
		taskset -c "$PEER_CPU" env GOMAXPROCS=1 "$BIN/gobare" --listen "127.0.0.1:$port" \
			--cert "$crt" --key "$key" --client-ca "$PKI/ca.pem" >/dev/null 2>"$LOGS/go-bare-$kind.log" &
		;;
	*) die "unknown peer $name" ;;
	esac
	STARTED_PID=$!
	PIDS+=("$STARTED_PID")
	wait_listen "$port" "$STARTED_PID" "$name" "$LOGS/$name-$kind.log"
}

# peer_pids PID -> the PID and its children (nginx: master + worker)
peer_pids() {
	local out=$1 c
	for c in $(cat "/proc/$1/task/"*/children 2>/dev/null); do out+=",$c"; done
	echo "$out"
}
