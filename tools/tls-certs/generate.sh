#!/bin/sh
# Generates the TLS test certificates in tests/data/tls/ (the committed files
# are what the tests use; CI does not run this script).
#
#   ca.pem / ca.key              test CA ("Diameter Test CA")
#   other-ca.pem / other-ca.key  a second, unrelated CA
#   <name>.pem / <name>.key      leaf certificates signed by ca.pem, for
#                                node1.example.test, node2.example.test,
#                                fd.example.test (freeDiameter) and
#                                py.example.test
#   other-node1.example.test.pem / .key
#                                a leaf for node1.example.test signed by
#                                other-ca.pem (a certificate from a wrong CA)
#
# Keys are EC P-256 in PKCS#8 PEM, unencrypted. Leaves are X.509 v3 with
# CN=<name>, subjectAltName DNS:<name>, basicConstraints CA:FALSE, keyUsage
# digitalSignature and extendedKeyUsage serverAuth, clientAuth; each
# <name>.pem holds the leaf only. Everything is valid for 100 years, from
# 2025-01-01 to 2125-01-01: fixed dates (`openssl ca -startdate -enddate`),
# so the files do not depend on the clock of the machine that made them.
#
# Rerunning the script replaces every file with new keys (names, serial
# numbers and dates stay the same).
# Usage: tools/tls-certs/generate.sh [OUTPUT_DIR]
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$here/../../tests/data/tls"}
mkdir -p "$out"
out=$(cd "$out" && pwd)
start=20250101000000Z
end=21250101000000Z
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

cat >"$work/ca.cnf" <<EOF
[ca]
default_ca = test_ca
[test_ca]
database = $work/db/index.txt
serial = $work/db/serial
new_certs_dir = $work/db
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
email_in_dn = no
[any]
organizationName = optional
commonName = supplied
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[leaf_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:\$ENV::LEAF_NAME
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF

# new_key FILE: an EC P-256 private key, PKCS#8 PEM.
new_key() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -pkeyopt ec_param_enc:named_curve -out "$1"
    chmod 644 "$1"
}

# sign CSR CERT ISSUER_STEM SERIAL_HEX EXTENSIONS_SECTION [selfsign]
sign() {
    rm -rf "$work/db"
    mkdir "$work/db"
    : >"$work/db/index.txt"
    printf '%s\n' "$4" >"$work/db/serial"
    if [ "${6:-}" = selfsign ]; then
        set -- "$1" "$2" "$3" "$4" "$5" -selfsign
    else
        set -- "$1" "$2" "$3" "$4" "$5" -cert "$out/$3.pem"
    fi
    csr=$1 cert=$2 issuer=$3 section=$5
    shift 5
    if ! openssl ca -batch -notext -config "$work/ca.cnf" "$@" \
        -keyfile "$out/$issuer.key" -startdate "$start" -enddate "$end" \
        -extensions "$section" -in "$csr" -out "$cert" 2>"$work/ca.log"; then
        cat "$work/ca.log" >&2
        exit 1
    fi
}

# make_ca STEM SUBJECT
make_ca() {
    new_key "$out/$1.key"
    openssl req -new -key "$out/$1.key" -subj "$2" -config /dev/null \
        -out "$work/$1.csr"
    LEAF_NAME=unused sign "$work/$1.csr" "$out/$1.pem" "$1" 01 ca_ext selfsign
}

# make_leaf STEM DNS_NAME CA_STEM SERIAL_HEX
make_leaf() {
    new_key "$out/$1.key"
    openssl req -new -key "$out/$1.key" -subj "/O=Diameter Test/CN=$2" \
        -config /dev/null -out "$work/$1.csr"
    LEAF_NAME=$2 sign "$work/$1.csr" "$out/$1.pem" "$3" "$4" leaf_ext
    openssl verify -x509_strict -purpose sslserver -CAfile "$out/$3.pem" "$out/$1.pem"
    openssl verify -x509_strict -purpose sslclient -CAfile "$out/$3.pem" "$out/$1.pem"
}

make_ca ca "/O=Diameter Test/CN=Diameter Test CA"
make_ca other-ca "/O=Other Test/CN=Other Diameter Test CA"

make_leaf node1.example.test node1.example.test ca 65
make_leaf node2.example.test node2.example.test ca 66
make_leaf fd.example.test fd.example.test ca 67
make_leaf py.example.test py.example.test ca 68
make_leaf other-node1.example.test node1.example.test other-ca C8

# A leaf from the other CA must not verify against ca.pem.
if openssl verify -CAfile "$out/ca.pem" "$out/other-node1.example.test.pem" >/dev/null 2>&1; then
    echo "error: other-node1.example.test.pem verifies against ca.pem" >&2
    exit 1
fi
echo "certificates written to $out"
