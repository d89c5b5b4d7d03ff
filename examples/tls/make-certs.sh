#!/bin/sh
# A throw-away CA and a certificate for nginx.example.com (and a client certificate for the MUTUAL server), for this
# example only: `sh examples/tls/make-certs.sh` writes them to examples/tls/certs/ (or to $CERTS_DIR).
set -eu
dir="${CERTS_DIR:-$(dirname "$0")/certs}"
mkdir -p "$dir"
cd "$dir"
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
openssl req -x509 $ec -keyout ca.key -out ca.crt -days 365 -subj /CN=shadowgate-example-ca 2>/dev/null
issue() {
  openssl req $ec -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
  printf '%s\n' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days 365 -extfile "$1.ext" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
issue nginx nginx.example.com "subjectAltName=DNS:nginx.example.com"
issue admin admin.example.com "subjectAltName=DNS:admin.example.com"
issue client example-client "extendedKeyUsage=clientAuth"
echo "certificates in $dir"
