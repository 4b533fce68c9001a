#!/usr/bin/env bash
# Mint the benchmark's throw-away PKI with openssl:  bench/pki.sh DIR
# (also sourced by bench/run.sh, which calls mint_pki).
#
#   ca.pem/.key            ECDSA P-256 CA: issues everything below except rsa-server
#   server.pem/.key        ECDSA P-256 server cert, SAN DNS:localhost IP:127.0.0.1
#   client.pem/.key        ECDSA P-256 client cert, CN=client-1, O=Bench Corp
#   gw.pem/.key            ECDSA P-256 client cert the peers present to the upstream
#   upstream.pem/.key      ECDSA P-256 server cert of the upstream (localhost)
#   rsa-ca.pem/.key        RSA-2048 CA
#   rsa-server.pem/.key    RSA-2048 server cert (the RSA handshake workload)
#   *-combined.pem         cert + key in one file, for HAProxy's crt
#   With OCSP_URL set, client certificates name it as their OCSP responder.
set -euo pipefail

_ec_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
_rsa_key() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null; }

# _ca NAME KEYTYPE SUBJECT
_ca() {
	"_$2_key" "$1.key"
	openssl req -x509 -new -key "$1.key" -subj "$3" -days 3 -sha256 -out "$1.pem" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

# _leaf NAME KEYTYPE CA SUBJECT server|client
_leaf() {
	local name=$1 kt=$2 ca=$3 subj=$4 kind=$5 ext
	"_${kt}_key" "$name.key"
	ext=$name.ext
	{
		echo "basicConstraints=critical,CA:FALSE"
		if [[ $kind == server ]]; then
			echo "keyUsage=critical,digitalSignature,keyEncipherment"
			echo "extendedKeyUsage=serverAuth"
			echo "subjectAltName=DNS:localhost,IP:127.0.0.1"
		else
			echo "keyUsage=critical,digitalSignature"
			echo "extendedKeyUsage=clientAuth"
			# The revocation-on row asks an OCSP responder about clients.
			if [[ -n ${OCSP_URL:-} ]]; then echo "authorityInfoAccess=OCSP;URI:$OCSP_URL"; fi
		fi
	} >"$ext"
	openssl req -new -key "$name.key" -subj "$subj" -out "$name.csr" 2>/dev/null
	openssl x509 -req -in "$name.csr" -CA "$ca.pem" -CAkey "$ca.key" \
		-set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" \
		-days 3 -sha256 -extfile "$ext" -out "$name.pem" 2>/dev/null
	rm -f "$name.csr" "$ext"
	cat "$name.pem" "$name.key" >"$name-combined.pem"
}

# mint_pki DIR
mint_pki() {
	mkdir -p "$1"
	(
		cd "$1"
		umask 077
		_ca ca ec "/CN=Bench CA/O=Bench Corp"
		_ca rsa-ca rsa "/CN=Bench RSA CA/O=Bench Corp"
		_leaf server ec ca "/CN=localhost/O=Bench Corp" server
		_leaf upstream ec ca "/CN=localhost/O=Bench Upstream" server
		_leaf rsa-server rsa rsa-ca "/CN=localhost/O=Bench Corp" server
		_leaf client ec ca "/CN=client-1/O=Bench Corp" client
		_leaf gw ec ca "/CN=gateway/O=Bench Corp" client
		openssl verify -CAfile ca.pem server.pem upstream.pem client.pem gw.pem >/dev/null
		openssl verify -CAfile rsa-ca.pem rsa-server.pem >/dev/null
	)
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	[[ $# == 1 ]] || {
		echo "usage: $0 DIR" >&2
		exit 2
	}
	mint_pki "$1"
	echo "PKI written to $1"
fi
