#!/usr/bin/env bash
# Regenerates platform/image/testkeys: the TEST-ONLY signing chains pild's
# tests, demo and benchmarks sign images with, one RSA-2048 and one
# EC P-384 (root -> CA -> attestation key). The keys are public; a device
# that trusts their root is not secure. Regenerating changes the root hashes
# the sim trusts by default (platform/sim), so do it only on purpose.
set -euo pipefail
out="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/platform/image/testkeys"
mkdir -p "$out"
cd "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
ca_ext="$work/ca.ext"
printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\nsubjectKeyIdentifier=hash\n' >"$ca_ext"

make_chain() {  # kind keyopts digest
  local kind=$1 digest=$3
  local -a keyopts=($2)
  openssl genpkey "${keyopts[@]}" -out "$kind-root.key" 2>/dev/null
  openssl req -x509 -new -key "$kind-root.key" -"$digest" -days 7300 -set_serial 1 \
    -subj "/C=US/O=pild/OU=TEST ONLY - publicly known key/CN=pild test root ($kind)" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign \
    -out "$kind-root.crt"
  openssl genpkey "${keyopts[@]}" -out "$kind-ca.key" 2>/dev/null
  openssl req -new -key "$kind-ca.key" -"$digest" \
    -subj "/C=US/O=pild/OU=TEST ONLY - publicly known key/CN=pild test attestation CA ($kind)" \
    -out "$work/ca.csr"
  openssl x509 -req -in "$work/ca.csr" -CA "$kind-root.crt" -CAkey "$kind-root.key" \
    -set_serial 2 -days 7300 -"$digest" -extfile "$ca_ext" -out "$kind-ca.crt" 2>/dev/null
  openssl genpkey "${keyopts[@]}" -out "$kind-attestation.key" 2>/dev/null
}

make_chain rsa "-algorithm RSA -pkeyopt rsa_keygen_bits:2048" sha256
make_chain ec "-algorithm EC -pkeyopt ec_paramgen_curve:P-384" sha384
for kind in rsa ec; do
  printf '%s  %s-root.crt\n' \
    "$(openssl x509 -in "$kind-root.crt" -outform DER | sha256sum | cut -d' ' -f1)" "$kind"
done >ROOT_SHA256
cat ROOT_SHA256
