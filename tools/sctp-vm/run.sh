#!/usr/bin/env bash
# Runs programs inside a small QEMU virtual machine whose kernel has SCTP,
# for hosts (containers, CI runners) whose own kernel lacks it.
#
# Usage:
#   tools/sctp-vm/run.sh BINARY [ARGS...] [-- BINARY2 [ARGS...]]...
#
# Each BINARY (a path on the host; statically linked, or dynamically linked
# against libraries that are then copied in) runs inside one VM boot, in
# order, with its ARGS, working directory /, HOME=/tmp, PATH=/bin:/sbin
# (busybox applets, `ip` included) and DIAMETER_SCTP_VM=1 in its
# environment. A `--` starts the next binary; a binary's own ARGS therefore
# cannot contain a bare `--`. Their output is printed as it comes; the exit
# status is 0 if every binary exited 0, else the status of the first one
# that failed.
#
# Inside the VM: Debian's kernel with the sctp module and its dependencies
# loaded, loopback up (all of 127/8 is local), and sysctls that make SCTP
# detect path failures within about a second (see SYSCTLS below).
#
# Environment:
#   SCTP_VM_CACHE    cache directory (default: target/sctp-vm of the
#                    repository); the kernel package is unpacked there once.
#   SCTP_VM_TIMEOUT  seconds before the VM is killed (default 900).
#   SCTP_VM_MEMORY   guest memory in MiB (default 1024).
#   SCTP_VM_SMP      guest CPUs (default 2).
#   SCTP_VM_SYSCTLS  extra "name=value" sysctls, space separated.
#   SCTP_VM_VERBOSE  1 to show the whole console (kernel messages included).
#   SCTP_VM_EXTRA    more host paths (absolute, space separated; files or
#                    directories) copied into the VM at the same paths, with
#                    the shared libraries (and loader) of the executables and
#                    shared objects (*.so*, *.fdx) among them, e.g. a daemon
#                    to test against, its plugins and its data files.
#   RUST_BACKTRACE, RUST_LOG, RUST_TEST_THREADS, RUST_MIN_STACK,
#   INTEROP_ECHO and INTEROP_FREEDIAMETERD are passed to the guest when set.
#
# Missing host tools (qemu-system-x86, busybox-static, xz-utils, cpio) are
# installed with apt-get (needs root). The kernel is Debian's
# linux-image-amd64 of the host's apt sources, downloaded with
# `apt-get download` and unpacked with `dpkg-deb -x`: nothing is installed
# into the host's /boot or /lib/modules. Software emulation (TCG) is used,
# so no /dev/kvm is needed.

set -euo pipefail

die() {
    echo "sctp-vm: $*" >&2
    exit 2
}
say() { echo "sctp-vm: $*" >&2; }

[ $# -ge 1 ] || die "usage: $0 BINARY [ARGS...] [-- BINARY2 [ARGS...]]..."

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${SCTP_VM_CACHE:-$repo/target/sctp-vm}
timeout_s=${SCTP_VM_TIMEOUT:-900}
memory=${SCTP_VM_MEMORY:-1024}
smp=${SCTP_VM_SMP:-2}

# SCTP tuning for fast failover in multihoming tests (milliseconds and
# counts). path_max_retrans goes before pf_retrans, which must not exceed it.
SYSCTLS="net.sctp.rto_min=100 net.sctp.rto_initial=200 net.sctp.rto_max=500 \
net.sctp.hb_interval=200 net.sctp.path_max_retrans=2 net.sctp.pf_retrans=0 \
${SCTP_VM_SYSCTLS:-}"

# --- host tools -------------------------------------------------------------

ensure_tools() {
    local missing=()
    command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
    dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
    command -v xz >/dev/null || missing+=(xz-utils)
    command -v cpio >/dev/null || missing+=(cpio)
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing ${missing[*]}"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null || die "could not install ${missing[*]}"
    fi
}

# --- kernel -----------------------------------------------------------------

# Sets $kdir (the unpacked package), $kver and $vmlinuz.
ensure_kernel() {
    kdir=$cache/kernel
    if ! ls "$kdir"/boot/vmlinuz-* >/dev/null 2>&1; then
        local pkg
        pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
            sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n1) || true
        if [ -z "$pkg" ]; then
            apt-get update -qq >/dev/null
            pkg=$(apt-cache depends linux-image-amd64 |
                sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n1)
        fi
        [ -n "$pkg" ] || die "no linux-image-*-amd64 package found in the apt sources"
        say "downloading $pkg (once, into $cache)"
        mkdir -p "$cache"
        rm -rf "$kdir" "$cache"/linux-image-*.deb
        (cd "$cache" && apt-get download -qq -o APT::Sandbox::User=root "$pkg" >/dev/null) ||
            die "apt-get download $pkg failed"
        mkdir -p "$kdir.tmp"
        dpkg-deb -x "$cache"/linux-image-*.deb "$kdir.tmp"
        mv "$kdir.tmp" "$kdir"
        rm -f "$cache"/linux-image-*.deb
    fi
    vmlinuz=$(ls "$kdir"/boot/vmlinuz-* | head -n1)
    kver=${vmlinuz##*/vmlinuz-}
}

# Prints the modinfo field $2 of module file $1 (compressed or not).
modfield() {
    local f=$1 field=$2
    case $f in
        *.xz) xz -dc "$f" ;;
        *.zst) zstd -dcq "$f" ;;
        *.gz) gzip -dc "$f" ;;
        *) cat "$f" ;;
    esac | tr '\0' '\n' | sed -n "s/^$field=//p"
}

# Finds the file of module $1 (names compare with - and _ alike); empty if
# the module is built in or unknown.
modfile() {
    local name=${1//-/_} mdir=$kdir/lib/modules/$kver
    if grep -qE "/${name//_/[-_]}\.ko$" "$mdir/modules.builtin" 2>/dev/null; then
        return 0
    fi
    find "$mdir/kernel" -regextype posix-extended \
        -regex ".*/${name//_/[-_]}\.ko(\.xz|\.zst|\.gz)?" | head -n1
}

# Appends to $load_order the files of module $1 after its dependencies
# (modinfo `depends=`; a `softdep=pre:` alias such as crc32c resolves to its
# generic C implementation, which works on any emulated CPU).
declare -a load_order=()
declare -A seen=()
resolve() {
    local name=$1 f dep deps soft
    [ -z "${seen[$name]:-}" ] || return 0
    seen[$name]=1
    f=$(modfile "$name")
    if [ -z "$f" ]; then
        if [ "$name" = sctp ]; then die "sctp is neither a module nor built into $kver"; fi
        return 0 # built in (or an alias with no module of that name)
    fi
    soft=$(modfield "$f" softdep | sed -n 's/^pre: *//p')
    for dep in $soft; do
        if [ -n "$(modfile "${dep}_generic")" ]; then resolve "${dep}_generic"; else resolve "$dep"; fi
    done
    deps=$(modfield "$f" depends)
    for dep in ${deps//,/ }; do resolve "$dep"; done
    load_order+=("$f")
}

# --- initramfs --------------------------------------------------------------

# Prints $1 quoted for a POSIX shell.
shq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

# Copies the shared libraries of the dynamically linked file $1 (an
# executable or a shared object), the loader included, as `ldd` lists them,
# into the tree $2 at their paths. Nothing for a static or non-ELF file.
add_libs() {
    local src=$1 root=$2 lib
    if ldd "$src" >/dev/null 2>&1; then
        for lib in $(ldd "$src" | grep -oE '/[^ ]+'); do
            [ -e "$root$lib" ] && continue
            mkdir -p "$root$(dirname "$lib")"
            cp -L "$lib" "$root$lib"
            # glibc loads libgcc_s at run time (pthread_cancel, unwinding):
            # ldd cannot see it, so it goes along with libc.
            case $lib in
                */libc.so.6)
                    if [ -e "$(dirname "$lib")/libgcc_s.so.1" ]; then
                        cp -L "$(dirname "$lib")/libgcc_s.so.1" "$root$(dirname "$lib")/"
                    fi
                    ;;
            esac
        done
    fi
}

# Copies the binary $1 (and, if dynamic, its loader and libraries) into the
# tree $2 as /run/bin/$3/<its name> (so that argv[0] keeps its name).
add_binary() {
    local src=$1 root=$2 n=$3
    [ -f "$src" ] && [ -x "$src" ] || die "not an executable file: $src"
    mkdir -p "$root/run/bin/$n"
    cp "$src" "$root/run/bin/$n/"
    add_libs "$src" "$root"
}

# Copies the host path $1 (a file or a directory, symbolic links followed)
# into the tree $2 at the same (absolute) path, with the libraries of every
# executable and shared object (*.so*, *.fdx) in it.
add_extra() {
    local src=$1 root=$2 f
    case $src in
        /*) ;;
        *) die "SCTP_VM_EXTRA: not an absolute path: $src" ;;
    esac
    [ -e "$src" ] || die "SCTP_VM_EXTRA: no such file or directory: $src"
    mkdir -p "$root$(dirname "$src")"
    cp -rL "$src" "$root$src"
    while IFS= read -r -d '' f; do
        case $f in
            *.so | *.so.* | *.fdx) add_libs "$f" "$root" ;;
            *) if [ -x "$f" ]; then add_libs "$f" "$root"; fi ;;
        esac
    done < <(find "$src" -follow -type f -print0)
}

build_initramfs() {
    local root=$1 out=$2 busybox f base i
    shift 2
    busybox=/bin/busybox
    [ -x "$busybox" ] || die "busybox-static is not installed ($busybox missing)"
    mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,etc,run/bin,lib/modules}
    cp "$busybox" "$root/bin/busybox"
    printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"
    printf 'hosts: files\n' >"$root/etc/nsswitch.conf"

    # Modules, decompressed, in load order.
    i=0
    for f in "${load_order[@]}"; do
        base=$(basename "$f")
        base=${base%.xz}
        base=${base%.zst}
        base=${base%.gz}
        case $f in
            *.xz) xz -dc "$f" ;;
            *.zst) zstd -dcq "$f" ;;
            *.gz) gzip -dc "$f" ;;
            *) cat "$f" ;;
        esac >"$root/lib/modules/$(printf '%02d' $i)-$base"
        i=$((i + 1))
    done

    # The programs and the script that runs them.
    local cmds=$root/run/commands.sh env_lines="" v
    for v in RUST_BACKTRACE RUST_LOG RUST_TEST_THREADS RUST_MIN_STACK \
        INTEROP_ECHO INTEROP_FREEDIAMETERD; do
        if [ -n "${!v:-}" ]; then env_lines+="export $v=$(shq "${!v}")"$'\n'; fi
    done
    printf '%s' "$env_lines" >"$cmds"
    i=0
    local args=() a
    flush() {
        [ ${#args[@]} -gt 0 ] || die "empty command between --"
        add_binary "${args[0]}" "$root" $i
        {
            printf 'run %s' "$(shq "/run/bin/$i/$(basename "${args[0]}")")"
            for a in "${args[@]:1}"; do printf ' %s' "$(shq "$a")"; done
            printf '\n'
        } >>"$cmds"
        i=$((i + 1))
        args=()
    }
    for a in "$@"; do
        if [ "$a" = -- ]; then flush; else args+=("$a"); fi
    done
    flush

    for a in ${SCTP_VM_EXTRA:-}; do add_extra "$a" "$root"; done

    cp "$here/init" "$root/init"
    chmod 755 "$root/init" "$root/bin/busybox"
    printf '%s\n' $SYSCTLS >"$root/etc/sctp-sysctls"

    # Uncompressed: the guest would spend longer decompressing (emulated)
    # than reading the larger image.
    (cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) >"$out"
}

# --- run --------------------------------------------------------------------

ensure_tools
ensure_kernel
resolve sctp

work=$(mktemp -d "${TMPDIR:-/tmp}/sctp-vm.XXXXXX")
trap 'rm -rf "$work"' EXIT
build_initramfs "$work/root" "$work/initramfs.cpio" "$@"
rm -rf "$work/root"

say "booting $kver ($(du -m "$work/initramfs.cpio" | cut -f1) MiB initramfs, TCG, ${smp} CPU)"
start=$(date +%s)
status=""
verbose=${SCTP_VM_VERBOSE:-0}
# The console (the guest's ttyS0) is filtered: only what the programs print,
# between the BEGIN and EXIT markers of the guest's init, reaches stdout.
while IFS= read -r line || [ -n "$line" ]; do
    line=${line%$'\r'}
    case $line in
        SCTP-VM-EXIT=*)
            status=${line#SCTP-VM-EXIT=}
            [ "$verbose" = 1 ] && echo "$line"
            ;;
        SCTP-VM-BEGIN)
            in_run=1
            [ "$verbose" = 1 ] && echo "$line"
            ;;
        *)
            if [ "$verbose" = 1 ] || { [ -n "${in_run:-}" ] && [ -z "$status" ]; }; then
                printf '%s\n' "$line"
            fi
            ;;
    esac
done < <(timeout --kill-after=10 "$timeout_s" qemu-system-x86_64 \
    -accel tcg -m "$memory" -smp "$smp" \
    -nodefaults -no-user-config -display none -serial stdio -no-reboot \
    -kernel "$vmlinuz" -initrd "$work/initramfs.cpio" \
    -append "console=ttyS0 panic=-1 quiet loglevel=1" </dev/null 2>&1 || true)

elapsed=$(($(date +%s) - start))
if [ -z "$status" ]; then
    die "the VM ended after ${elapsed}s without reporting an exit status (timeout ${timeout_s}s, or a crash: rerun with SCTP_VM_VERBOSE=1)"
fi
say "VM finished in ${elapsed}s, exit status $status"
exit "$status"
