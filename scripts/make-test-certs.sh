#!/usr/bin/env bash
# Makes the certificates of the wss:// tests (jrpc-testsuite/tls/): a test certificate authority
# and a certificate for localhost and 127.0.0.1 signed by it, both valid for 100 years, in DER
# (and the authority in PEM too).
# Test-only keys: they protect nothing. Run again only to replace them.
set -euo pipefail
out="$(cd "$(dirname "$0")/.." && pwd)/jrpc-testsuite/tls"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${ec[@]}" -days 36500 -subj "/CN=jrpc test CA" -keyout ca.key -out ca.pem \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
openssl req "${ec[@]}" -subj "/CN=localhost" -keyout leaf.key -out leaf.csr
cat > leaf.ext <<'EXT'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
EXT
openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 36500 \
  -extfile leaf.ext -out leaf.pem
openssl x509 -in ca.pem -outform DER -out "$out/ca.der"
cp ca.pem "$out/ca.pem"
openssl x509 -in leaf.pem -outform DER -out "$out/localhost.der"
openssl pkcs8 -topk8 -nocrypt -in leaf.key -outform DER -out "$out/localhost.key.der"
echo "written to $out"
