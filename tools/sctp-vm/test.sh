#!/usr/bin/env bash
# Builds the crate's SCTP tests as static binaries and runs them in one boot
# of the SCTP VM (run.sh):
#   - the library's unit tests whose name contains "sctp",
#   - the integration tests (tests/it) of the module sctp (tests/it/sctp.rs),
#   - those of interop_sctp (tests/it/interop_sctp.rs, freeDiameter over
#     SCTP), when freeDiameterd ($INTEROP_FREEDIAMETERD, else from PATH) and
#     its extensions are installed; they go into the VM with the certificates
#     of tests/data/tls that its configuration names (SCTP_VM_EXTRA of run.sh).
#
# Usage:
#   tools/sctp-vm/test.sh [CARGO_ARGS...] [-- TEST_ARGS...]
#
# CARGO_ARGS go to `cargo test --no-run` (e.g. `--features tls`, `--release`);
# TEST_ARGS are appended to both test binaries' arguments (e.g. `--nocapture`;
# a name filter adds to the binary's own, as libtest runs the tests matching
# any filter). Tests run one at a time (--test-threads=1).
#
# The static build lives in target/static (or $SCTP_VM_TARGET_DIR), apart
# from the normal build, which it therefore does not invalidate; debug info
# is left out to keep the VM image small. The exit status is the tests'.

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"

cargo_args=()
test_args=()
while [ $# -gt 0 ]; do
    if [ "$1" = -- ]; then
        shift
        test_args=("$@")
        break
    fi
    cargo_args+=("$1")
    shift
done

triple=x86_64-unknown-linux-gnu
export CARGO_TARGET_DIR=${SCTP_VM_TARGET_DIR:-$repo/target/static}
# --target keeps the static linking away from build scripts and proc-macros.
export RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static"
export CARGO_PROFILE_DEV_DEBUG=0 CARGO_PROFILE_TEST_DEBUG=0 \
    CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_BENCH_DEBUG=0

# Builds one test target ($@ selects it) and prints its executable's path.
build() {
    cargo test -q --target "$triple" --no-run --message-format=json-render-diagnostics \
        ${cargo_args[@]+"${cargo_args[@]}"} "$@" |
        sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n1
}

echo "sctp-vm: building static test binaries in $CARGO_TARGET_DIR" >&2
lib_bin=$(build --lib) || lib_bin=""
[ -n "$lib_bin" ] || {
    echo "sctp-vm: building the library tests failed" >&2
    exit 2
}
cmd=("$lib_bin" sctp --test-threads=1 ${test_args[@]+"${test_args[@]}"})
it_bin=$(build --test it) || it_bin=""
[ -n "$it_bin" ] || {
    echo "sctp-vm: building the integration tests (tests/it) failed" >&2
    exit 2
}
# the modules sctp and interop_sctp (a filter matches anywhere in a name)
it_filters=(sctp::)

# without freeDiameter the interop tests are skipped, except in CI
skip_interop() {
    echo "sctp-vm: $1, skipping tests/it/interop_sctp.rs" >&2
    it_filters+=(--skip interop_sctp::)
    if [ -n "${CI:-}" ]; then
        echo "sctp-vm: CI is set: freeDiameter must be installed" >&2
        exit 1
    fi
}

# freeDiameter interop over SCTP: freeDiameterd, its extensions and the test
# certificates go into the VM at their host paths (SCTP_VM_EXTRA).
extra=()
fdd=${INTEROP_FREEDIAMETERD:-$(command -v freeDiameterd || true)}
if [ -n "$fdd" ] && [ -x "$fdd" ]; then
    fdd=$(readlink -f "$fdd")
    # the extensions directory: from the Debian package, else next to the
    # binary's lib directory
    ext=$(dpkg -L freediameter-extensions 2>/dev/null | grep -m1 '/acl_wl\.fdx$' || true)
    ext=${ext%/*}
    if [ -z "$ext" ]; then
        for d in "$(dirname "$(dirname "$fdd")")"/lib/freeDiameter \
            "$(dirname "$(dirname "$fdd")")"/lib/*/freeDiameter; do
            if [ -f "$d/acl_wl.fdx" ]; then ext=$d && break; fi
        done
    fi
    if [ -z "$ext" ]; then
        skip_interop "freeDiameterd found but not its extensions (acl_wl.fdx)"
    else
        extra=("$fdd" "$ext")
        for f in fd.example.test.pem fd.example.test.key ca.pem; do
            extra+=("$repo/tests/data/tls/$f")
        done
        export INTEROP_FREEDIAMETERD=$fdd
    fi
else
    skip_interop "no freeDiameterd on this host"
fi
cmd+=(-- "$it_bin" "${it_filters[@]}" --test-threads=1 ${test_args[@]+"${test_args[@]}"})
export SCTP_VM_EXTRA="${SCTP_VM_EXTRA:-} ${extra[*]+"${extra[*]}"}"

exec "$here/run.sh" "${cmd[@]}"
