//! SCTP system calls: the one place in the crate with `unsafe` code for SCTP.
//!
//! Neither std nor mio has SCTP sockets, so this module opens one-to-one
//! style sockets (`SOCK_STREAM`, `IPPROTO_SCTP`) through libc, binds and
//! connects them to several addresses at once (the `sctp_bindx` and
//! `sctp_connectx` socket options), and sends and receives whole messages
//! with `sendmsg`/`recvmsg` and the `SCTP_SNDINFO`/`SCTP_RCVINFO` ancillary
//! data (RFC 6458), which carry the stream number and the payload protocol
//! identifier.
//!
//! The kernel structures that libc does not define are declared here with
//! `#[repr(C)]` and the layout of the Linux UAPI header `linux/sctp.h`.
//! Socket addresses handed to or read from the kernel are encoded and
//! decoded byte by byte, without `unsafe`.
//!
//! Only Linux has the real implementation; elsewhere every constructor
//! returns an [`io::ErrorKind::Unsupported`] error.

// This module is the crate's one exception to its `deny(unsafe_code)`: each
// `unsafe` block states the invariants it relies on in a `SAFETY:` comment.
#![allow(unsafe_code)]
// Parts of this API (`set_path_params`, `local_addr`, ...) serve tests and
// diagnostics; the transport uses only what it needs.
#![allow(dead_code)]

use std::io;
use std::net::{IpAddr, SocketAddr};

#[cfg(target_os = "linux")]
pub(crate) use linux::SctpSocket;
#[cfg(not(target_os = "linux"))]
pub(crate) use other::SctpSocket;

/// Payload protocol identifier of Diameter over SCTP (RFC 6733 section 2.1,
/// IANA "SCTP Payload Protocol Identifiers": 46, "Diameter in a SCTP DATA
/// chunk").
pub(crate) const DIAMETER_PPID: u32 = 46;

/// Number of outbound streams asked for, and inbound streams accepted, when an
/// association is set up.
pub(crate) const STREAMS: u16 = 16;

/// What one `recvmsg` call returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecvInfo {
    /// Bytes written to the buffer. Zero, with no other flag, means the peer
    /// closed the association.
    pub len: usize,
    /// The bytes end a message (`MSG_EOR`); without it the rest of the message
    /// comes with the next call.
    pub eor: bool,
    /// The bytes are an SCTP event notification, not user data.
    pub notification: bool,
    /// Stream the message came on (from `SCTP_RCVINFO`).
    pub stream: Option<u16>,
    /// Payload protocol identifier of the message, in host byte order.
    pub ppid: Option<u32>,
}

/// The error every SCTP constructor returns when the kernel cannot open SCTP
/// sockets.
fn unsupported_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "the kernel has no SCTP support (socket(IPPROTO_SCTP): Protocol not supported); \
         load the sctp module (modprobe sctp)",
    )
}

/// Checks that the kernel can open SCTP sockets: `Ok(())` if it can, else an
/// error of kind [`io::ErrorKind::Unsupported`] that says so and how to fix
/// it, or the error `socket()` gave for another reason.
pub(crate) fn sctp_supported() -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        linux::probe()
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(unsupported_error())
    }
}

// Socket address encoding, shared by every platform (pure byte work).

/// Size of `struct sockaddr_in`.
const SOCKADDR_IN_LEN: usize = 16;
/// Size of `struct sockaddr_in6`.
const SOCKADDR_IN6_LEN: usize = 28;

/// Appends `addr` to `out` as a `struct sockaddr_in` (IPv4) or
/// `struct sockaddr_in6` (IPv6), the packed form `sctp_bindx` and
/// `sctp_connectx` take.
fn encode_sockaddr(addr: &SocketAddr, out: &mut Vec<u8>) {
    match addr {
        SocketAddr::V4(a) => {
            // sa_family_t is a native-endian u16; port and address are in
            // network byte order; 8 bytes of sin_zero.
            out.extend_from_slice(&(AF_INET as u16).to_ne_bytes());
            out.extend_from_slice(&a.port().to_be_bytes());
            out.extend_from_slice(&a.ip().octets());
            out.extend_from_slice(&[0u8; 8]);
        }
        SocketAddr::V6(a) => {
            out.extend_from_slice(&(AF_INET6 as u16).to_ne_bytes());
            out.extend_from_slice(&a.port().to_be_bytes());
            out.extend_from_slice(&a.flowinfo().to_be_bytes());
            out.extend_from_slice(&a.ip().octets());
            out.extend_from_slice(&a.scope_id().to_ne_bytes());
        }
    }
}

/// Decodes one socket address at the start of `bytes`; returns it with the
/// size of its `sockaddr` structure. IPv4-mapped IPv6 addresses (which an
/// IPv6 socket reports for IPv4 peers) come back as IPv4 addresses.
fn decode_sockaddr(bytes: &[u8]) -> io::Result<(SocketAddr, usize)> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "malformed socket address");
    let family = u16::from_ne_bytes([
        *bytes.first().ok_or_else(bad)?,
        *bytes.get(1).ok_or_else(bad)?,
    ]);
    match i32::from(family) {
        AF_INET => {
            let b = bytes.get(..SOCKADDR_IN_LEN).ok_or_else(bad)?;
            let port = u16::from_be_bytes([b[2], b[3]]);
            let ip = std::net::Ipv4Addr::new(b[4], b[5], b[6], b[7]);
            Ok((SocketAddr::from((ip, port)), SOCKADDR_IN_LEN))
        }
        AF_INET6 => {
            let b = bytes.get(..SOCKADDR_IN6_LEN).ok_or_else(bad)?;
            let port = u16::from_be_bytes([b[2], b[3]]);
            let flowinfo = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&b[8..24]);
            let scope_id = u32::from_ne_bytes([b[24], b[25], b[26], b[27]]);
            let ip = std::net::Ipv6Addr::from(octets);
            let addr = match ip.to_ipv4_mapped() {
                Some(v4) => SocketAddr::from((v4, port)),
                None => SocketAddr::V6(std::net::SocketAddrV6::new(ip, port, flowinfo, scope_id)),
            };
            Ok((addr, SOCKADDR_IN6_LEN))
        }
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected socket address family {family}"),
        )),
    }
}

/// Decodes `count` packed socket addresses (the `addrs` of a
/// `struct sctp_getaddrs`).
fn decode_sockaddrs(mut bytes: &[u8], count: usize) -> io::Result<Vec<SocketAddr>> {
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let (addr, len) = decode_sockaddr(bytes)?;
        out.push(addr);
        bytes = bytes.get(len..).unwrap_or(&[]);
    }
    Ok(out)
}

/// The address family a socket needs to reach all of `addrs`: IPv6 (which
/// also carries IPv4 addresses) as soon as one of them is IPv6.
fn family_for(addrs: impl IntoIterator<Item = IpAddr>) -> i32 {
    if addrs.into_iter().any(|a| a.is_ipv6()) {
        AF_INET6
    } else {
        AF_INET
    }
}

const AF_INET: i32 = libc::AF_INET;
const AF_INET6: i32 = libc::AF_INET6;

#[cfg(target_os = "linux")]
mod linux {
    //! The Linux implementation.

    use super::{
        decode_sockaddr, decode_sockaddrs, encode_sockaddr, family_for, unsupported_error,
    };
    use super::{RecvInfo, STREAMS};
    use std::io;
    use std::mem;
    use std::net::{IpAddr, SocketAddr};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

    // Constants of linux/sctp.h (libc does not carry all of them).

    /// `IPPROTO_SCTP`, also the `SOL_SCTP` socket option level and the
    /// `cmsg_level` of SCTP ancillary data.
    const IPPROTO_SCTP: libc::c_int = 132;
    const SOL_SCTP: libc::c_int = IPPROTO_SCTP;
    const SCTP_INITMSG: libc::c_int = 2;
    const SCTP_NODELAY: libc::c_int = 3;
    const SCTP_PEER_ADDR_PARAMS: libc::c_int = 9;
    const SCTP_STATUS: libc::c_int = 14;
    const SCTP_RECVRCVINFO: libc::c_int = 32;
    const SCTP_SOCKOPT_BINDX_ADD: libc::c_int = 100;
    const SCTP_GET_PEER_ADDRS: libc::c_int = 108;
    const SCTP_GET_LOCAL_ADDRS: libc::c_int = 109;
    const SCTP_SOCKOPT_CONNECTX: libc::c_int = 110;
    /// `cmsg_type` of `struct sctp_sndinfo` (enum sctp_cmsg_type).
    const SCTP_SNDINFO: libc::c_int = 2;
    /// `cmsg_type` of `struct sctp_rcvinfo`.
    const SCTP_RCVINFO: libc::c_int = 3;
    /// `msg_flags` bit of a notification (enum sctp_msg_flags).
    const MSG_NOTIFICATION: libc::c_int = 0x8000;
    /// `spp_flags` bit enabling heartbeats.
    const SPP_HB_ENABLE: u32 = 1;

    /// `struct sctp_initmsg`.
    #[repr(C)]
    struct SctpInitmsg {
        sinit_num_ostreams: u16,
        sinit_max_instreams: u16,
        sinit_max_attempts: u16,
        sinit_max_init_timeo: u16,
    }

    /// `struct sctp_sndinfo` (16 bytes).
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct SctpSndinfo {
        snd_sid: u16,
        snd_flags: u16,
        /// Network byte order.
        snd_ppid: u32,
        snd_context: u32,
        snd_assoc_id: i32,
    }

    /// `struct sctp_rcvinfo` (28 bytes; two bytes of padding after
    /// `rcv_flags`, as in C).
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct SctpRcvinfo {
        rcv_sid: u16,
        rcv_ssn: u16,
        rcv_flags: u16,
        /// Network byte order.
        rcv_ppid: u32,
        rcv_tsn: u32,
        rcv_cumtsn: u32,
        rcv_context: u32,
        rcv_assoc_id: i32,
    }

    /// `struct sctp_status` with its trailing `struct sctp_paddrinfo` (which
    /// is `packed, aligned(4)`, 152 bytes) kept as opaque words: 176 bytes in
    /// all, 4-aligned, as the kernel expects.
    #[repr(C)]
    struct SctpStatus {
        sstat_assoc_id: i32,
        sstat_state: i32,
        sstat_rwnd: u32,
        sstat_unackdata: u16,
        sstat_penddata: u16,
        sstat_instrms: u16,
        sstat_outstrms: u16,
        sstat_fragmentation_point: u32,
        sstat_primary: [u32; 38],
    }

    /// The fields of `struct sctp_paddrparams`, which C declares
    /// `packed, aligned(4)`: `spp_pathmtu` sits at the unaligned offset 138.
    #[repr(C, packed)]
    struct SctpPaddrparamsPacked {
        spp_assoc_id: i32,
        spp_address: [u8; 128],
        spp_hbinterval: u32,
        spp_pathmaxrxt: u16,
        spp_pathmtu: u32,
        spp_sackdelay: u32,
        spp_flags: u32,
        spp_ipv6_flowlabel: u32,
        spp_dscp: u8,
    }

    /// `struct sctp_paddrparams`: the packed fields padded to a multiple of 4
    /// (156 bytes).
    #[repr(C, align(4))]
    struct SctpPaddrparams(SctpPaddrparamsPacked);

    const _: () = assert!(mem::size_of::<SctpInitmsg>() == 8);
    const _: () = assert!(mem::size_of::<SctpSndinfo>() == 16);
    const _: () = assert!(mem::size_of::<SctpRcvinfo>() == 28);
    const _: () = assert!(mem::size_of::<SctpStatus>() == 176);
    const _: () = assert!(mem::size_of::<SctpPaddrparams>() == 156);

    /// A buffer for ancillary data, aligned like `struct cmsghdr`.
    #[repr(C, align(8))]
    struct CmsgBuf([u8; 128]);

    /// A buffer for a socket address, aligned like `struct sockaddr_storage`.
    #[repr(C, align(8))]
    struct SockaddrBuf([u8; 128]);

    const _: () =
        assert!(mem::size_of::<SockaddrBuf>() >= mem::size_of::<libc::sockaddr_storage>());

    /// Turns a libc return value into an `io::Result`.
    fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
        if ret < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(ret)
        }
    }

    /// Whether `err` is the kernel saying it has no SCTP.
    fn is_no_sctp(err: &io::Error) -> bool {
        matches!(
            err.raw_os_error(),
            Some(libc::EPROTONOSUPPORT) | Some(libc::ESOCKTNOSUPPORT)
        )
    }

    /// Opens an SCTP socket of `family`, mapping "protocol not supported" to
    /// the clear [`unsupported_error`].
    fn raw_socket(family: libc::c_int) -> io::Result<OwnedFd> {
        // SAFETY: socket() takes plain integers and returns a new descriptor
        // or -1; no memory is shared with the kernel.
        let fd = unsafe {
            libc::socket(
                family,
                libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                IPPROTO_SCTP,
            )
        };
        match cvt(fd) {
            // SAFETY: `fd` is a freshly opened descriptor that nothing else
            // owns; the OwnedFd closes it exactly once.
            Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd) }),
            Err(e) if is_no_sctp(&e) => Err(unsupported_error()),
            Err(e) => Err(e),
        }
    }

    /// See [`super::sctp_supported`].
    pub(super) fn probe() -> io::Result<()> {
        raw_socket(libc::AF_INET).map(drop)
    }

    /// Sets a socket option from the bytes of `value`.
    fn setsockopt_raw(
        fd: RawFd,
        level: libc::c_int,
        name: libc::c_int,
        value: *const libc::c_void,
        len: usize,
    ) -> io::Result<libc::c_int> {
        let len = libc::socklen_t::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "socket option too long"))?;
        // SAFETY: every caller passes a pointer to `len` readable bytes (a
        // live value or slice it borrows for the duration of the call); the
        // kernel only reads them.
        cvt(unsafe { libc::setsockopt(fd, level, name, value, len) })
    }

    /// Sets a socket option whose value is the plain-data struct `value`.
    fn setsockopt<T>(
        fd: RawFd,
        level: libc::c_int,
        name: libc::c_int,
        value: &T,
    ) -> io::Result<()> {
        setsockopt_raw(
            fd,
            level,
            name,
            (value as *const T).cast(),
            mem::size_of::<T>(),
        )
        .map(drop)
    }

    /// Reads a socket option into `buf`; returns the length the kernel
    /// reported.
    ///
    /// # Safety
    ///
    /// `buf` must point to `len` writable bytes of a value for which every
    /// bit pattern is valid (plain integers or bytes).
    unsafe fn getsockopt_raw(
        fd: RawFd,
        level: libc::c_int,
        name: libc::c_int,
        buf: *mut libc::c_void,
        len: usize,
    ) -> io::Result<usize> {
        let mut optlen = libc::socklen_t::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "socket option too long"))?;
        // SAFETY: the caller guarantees `buf` holds `len` writable bytes; the
        // kernel writes at most `optlen` (= len) bytes and updates `optlen`.
        cvt(unsafe { libc::getsockopt(fd, level, name, buf, &mut optlen) })?;
        Ok(optlen as usize)
    }

    /// `struct sctp_getaddrs` header size (assoc_id, addr_num).
    const GETADDRS_HEADER: usize = 8;

    /// An SCTP socket of the one-to-one style (`SOCK_STREAM`): one
    /// association per socket. Non-blocking and close-on-exec; every socket
    /// this type creates or accepts has `SCTP_NODELAY` and `SCTP_RECVRCVINFO`
    /// on.
    #[derive(Debug)]
    pub(crate) struct SctpSocket {
        fd: OwnedFd,
    }

    impl SctpSocket {
        /// Opens a socket able to reach all of `addrs` and sets the options
        /// every socket gets: 16 streams each way, no Nagle delay, and the
        /// `SCTP_RCVINFO` ancillary data on reception.
        fn new(family: libc::c_int) -> io::Result<SctpSocket> {
            let sock = SctpSocket {
                fd: raw_socket(family)?,
            };
            let init = SctpInitmsg {
                sinit_num_ostreams: STREAMS,
                sinit_max_instreams: STREAMS,
                sinit_max_attempts: 0,
                sinit_max_init_timeo: 0,
            };
            setsockopt(sock.raw(), SOL_SCTP, SCTP_INITMSG, &init)?;
            sock.set_common_options()?;
            Ok(sock)
        }

        /// Options set on created and accepted sockets alike.
        fn set_common_options(&self) -> io::Result<()> {
            let on: libc::c_int = 1;
            setsockopt(self.raw(), SOL_SCTP, SCTP_NODELAY, &on)?;
            setsockopt(self.raw(), SOL_SCTP, SCTP_RECVRCVINFO, &on)?;
            Ok(())
        }

        fn raw(&self) -> RawFd {
            self.fd.as_raw_fd()
        }

        /// Binds the socket to all of `addrs` at once (`sctp_bindx` with
        /// `SCTP_BINDX_ADD_ADDR`).
        fn bindx(&self, addrs: &[SocketAddr]) -> io::Result<()> {
            let mut packed = Vec::with_capacity(addrs.len() * super::SOCKADDR_IN6_LEN);
            for a in addrs {
                encode_sockaddr(a, &mut packed);
            }
            setsockopt_raw(
                self.raw(),
                SOL_SCTP,
                SCTP_SOCKOPT_BINDX_ADD,
                packed.as_ptr().cast(),
                packed.len(),
            )
            .map(drop)
        }

        /// A listening socket bound to every address of `addrs` (a multihomed
        /// endpoint). All addresses share one port: give them the same port,
        /// or port 0 for all to let the kernel pick one. IPv4 and IPv6
        /// addresses may be mixed (the socket is then IPv6).
        pub(crate) fn listen(addrs: &[SocketAddr], backlog: i32) -> io::Result<SctpSocket> {
            if addrs.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "SCTP listen needs at least one address",
                ));
            }
            let sock = SctpSocket::new(family_for(addrs.iter().map(|a| a.ip())))?;
            let on: libc::c_int = 1;
            setsockopt(sock.raw(), libc::SOL_SOCKET, libc::SO_REUSEADDR, &on)?;
            sock.bindx(addrs)?;
            // SAFETY: listen() takes plain integers on a descriptor we own.
            cvt(unsafe { libc::listen(sock.raw(), backlog) })?;
            Ok(sock)
        }

        /// Starts connecting to a peer reachable at all of `remote` (its
        /// addresses; one association). If `local` is not empty, the socket is
        /// first bound to those addresses (with a kernel-chosen port) so that
        /// only they are offered to the peer. The connection completes later:
        /// wait for writability, then check [`SctpSocket::take_error`].
        pub(crate) fn connect(local: &[IpAddr], remote: &[SocketAddr]) -> io::Result<SctpSocket> {
            if remote.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "SCTP connect needs at least one peer address",
                ));
            }
            let family = family_for(local.iter().copied().chain(remote.iter().map(|a| a.ip())));
            let sock = SctpSocket::new(family)?;
            if !local.is_empty() {
                let locals: Vec<SocketAddr> =
                    local.iter().map(|ip| SocketAddr::new(*ip, 0)).collect();
                sock.bindx(&locals)?;
            }
            let mut packed = Vec::with_capacity(remote.len() * super::SOCKADDR_IN6_LEN);
            for a in remote {
                encode_sockaddr(a, &mut packed);
            }
            match setsockopt_raw(
                sock.raw(),
                SOL_SCTP,
                SCTP_SOCKOPT_CONNECTX,
                packed.as_ptr().cast(),
                packed.len(),
            ) {
                Ok(_) => Ok(sock),
                Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(sock),
                Err(e) => Err(e),
            }
        }

        /// Accepts one association from a listening socket; the new socket
        /// is non-blocking. `WouldBlock` when none is pending.
        pub(crate) fn accept(&self) -> io::Result<(SctpSocket, SocketAddr)> {
            let mut storage = SockaddrBuf([0; 128]);
            let mut len = mem::size_of::<SockaddrBuf>() as libc::socklen_t;
            // SAFETY: `storage` is 128 writable bytes, aligned for a
            // sockaddr_storage, and `len` says so; the kernel writes at most
            // that many bytes and stores the real length in `len`.
            let fd = cvt(unsafe {
                libc::accept4(
                    self.raw(),
                    storage.0.as_mut_ptr().cast(),
                    &mut len,
                    libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                )
            })?;
            // SAFETY: accept4 returned a new descriptor nothing else owns.
            let sock = SctpSocket {
                fd: unsafe { OwnedFd::from_raw_fd(fd) },
            };
            sock.set_common_options()?;
            let (addr, _) = decode_sockaddr(&storage.0[..(len as usize).min(128)])?;
            Ok((sock, addr))
        }

        /// Sends `data` as one message on `stream` with payload protocol
        /// identifier `ppid` (host byte order). SCTP takes the whole message or
        /// nothing (`WouldBlock` when the send buffer is full); returns the
        /// bytes sent.
        pub(crate) fn send(&self, stream: u16, ppid: u32, data: &[u8]) -> io::Result<usize> {
            let info = SctpSndinfo {
                snd_sid: stream,
                snd_flags: 0,
                snd_ppid: ppid.to_be(),
                snd_context: 0,
                snd_assoc_id: 0,
            };
            let mut cmsg = CmsgBuf([0; 128]);
            let info_len = mem::size_of::<SctpSndinfo>() as libc::c_uint;
            // SAFETY: CMSG_SPACE is pure arithmetic on its argument.
            let space = unsafe { libc::CMSG_SPACE(info_len) } as usize;
            let mut iov = libc::iovec {
                iov_base: data.as_ptr() as *mut libc::c_void,
                iov_len: data.len(),
            };
            // SAFETY: msghdr is plain data; all-zero is a valid value (null
            // pointers, zero lengths), filled in just below.
            let mut msg: libc::msghdr = unsafe { mem::zeroed() };
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = cmsg.0.as_mut_ptr().cast();
            msg.msg_controllen = space;
            // SAFETY: `msg` points at `cmsg`, 128 bytes aligned for cmsghdr,
            // of which `space` (32) are declared, enough for one header and
            // an sctp_sndinfo; CMSG_FIRSTHDR therefore returns a non-null,
            // aligned pointer inside `cmsg`, and CMSG_DATA points
            // CMSG_LEN(0) bytes further, with `info_len` bytes of room left.
            // The data pointer may be unaligned for SctpSndinfo, hence
            // write_unaligned.
            unsafe {
                let hdr = libc::CMSG_FIRSTHDR(&msg);
                (*hdr).cmsg_level = IPPROTO_SCTP;
                (*hdr).cmsg_type = SCTP_SNDINFO;
                (*hdr).cmsg_len = libc::CMSG_LEN(info_len) as usize;
                std::ptr::write_unaligned(libc::CMSG_DATA(hdr).cast::<SctpSndinfo>(), info);
            }
            // SAFETY: `msg` refers to `iov` (which points at `data`, only
            // read by the kernel) and `cmsg`, all alive for the call.
            let sent = unsafe { libc::sendmsg(self.raw(), &msg, libc::MSG_NOSIGNAL) };
            if sent < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(sent as usize)
            }
        }

        /// Receives (part of) one message into `buf`. A message longer than
        /// `buf` comes in several calls, the last with `eor`.
        pub(crate) fn recv(&self, buf: &mut [u8]) -> io::Result<RecvInfo> {
            let mut cmsg = CmsgBuf([0; 128]);
            let mut iov = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            // SAFETY: msghdr is plain data; all-zero is a valid value.
            let mut msg: libc::msghdr = unsafe { mem::zeroed() };
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = cmsg.0.as_mut_ptr().cast();
            msg.msg_controllen = cmsg.0.len();
            // SAFETY: `msg` refers to `iov` (pointing at `buf`, `buf.len()`
            // writable bytes) and `cmsg` (128 writable bytes), both alive for
            // the call; the kernel writes within those lengths.
            let n = unsafe { libc::recvmsg(self.raw(), &mut msg, 0) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let mut info = RecvInfo {
                len: n as usize,
                eor: msg.msg_flags & libc::MSG_EOR != 0,
                notification: msg.msg_flags & MSG_NOTIFICATION != 0,
                stream: None,
                ppid: None,
            };
            // SAFETY: after recvmsg, `msg.msg_control`/`msg_controllen`
            // describe the ancillary data the kernel wrote into `cmsg`; the
            // CMSG_* macros walk only headers inside that range (returning
            // null at its end). A header of type SCTP_RCVINFO is followed by
            // a struct sctp_rcvinfo, checked via cmsg_len before reading;
            // the read is unaligned-safe.
            unsafe {
                let mut hdr = libc::CMSG_FIRSTHDR(&msg);
                while !hdr.is_null() {
                    if (*hdr).cmsg_level == IPPROTO_SCTP
                        && (*hdr).cmsg_type == SCTP_RCVINFO
                        && (*hdr).cmsg_len
                            >= libc::CMSG_LEN(mem::size_of::<SctpRcvinfo>() as libc::c_uint)
                                as usize
                    {
                        let rcv: SctpRcvinfo =
                            std::ptr::read_unaligned(libc::CMSG_DATA(hdr).cast::<SctpRcvinfo>());
                        info.stream = Some(rcv.rcv_sid);
                        info.ppid = Some(u32::from_be(rcv.rcv_ppid));
                    }
                    hdr = libc::CMSG_NXTHDR(&msg, hdr);
                }
            }
            Ok(info)
        }

        /// The pending socket error (`SO_ERROR`), cleared by reading it; after
        /// a non-blocking connect, `None` once writable means connected.
        pub(crate) fn take_error(&self) -> io::Result<Option<io::Error>> {
            let mut err: libc::c_int = 0;
            // SAFETY: `err` is a c_int, 4 writable bytes, any value valid.
            unsafe {
                getsockopt_raw(
                    self.raw(),
                    libc::SOL_SOCKET,
                    libc::SO_ERROR,
                    (&mut err as *mut libc::c_int).cast(),
                    mem::size_of::<libc::c_int>(),
                )?;
            }
            Ok((err != 0).then(|| io::Error::from_raw_os_error(err)))
        }

        /// Reads one address with `getpeername` or `getsockname`.
        fn name(&self, peer: bool) -> io::Result<SocketAddr> {
            let mut storage = SockaddrBuf([0; 128]);
            let mut len = mem::size_of::<SockaddrBuf>() as libc::socklen_t;
            // SAFETY: `storage` is 128 writable bytes aligned for a
            // sockaddr_storage, as `len` says; the kernel writes at most that
            // many and updates `len`.
            cvt(unsafe {
                if peer {
                    libc::getpeername(self.raw(), storage.0.as_mut_ptr().cast(), &mut len)
                } else {
                    libc::getsockname(self.raw(), storage.0.as_mut_ptr().cast(), &mut len)
                }
            })?;
            decode_sockaddr(&storage.0[..(len as usize).min(128)]).map(|(a, _)| a)
        }

        /// The peer's primary address.
        pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
            self.name(true)
        }

        /// One local address of the socket (the first bound one).
        pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
            self.name(false)
        }

        /// Reads a `struct sctp_getaddrs` option (association 0: on a
        /// one-to-one socket, its association, or for local addresses the
        /// socket's bound addresses), growing the buffer until it fits.
        fn getaddrs(&self, name: libc::c_int) -> io::Result<Vec<SocketAddr>> {
            let mut cap = GETADDRS_HEADER + 32 * super::SOCKADDR_IN6_LEN;
            loop {
                // u32 words keep the header fields aligned.
                let mut buf = vec![0u32; cap.div_ceil(4)];
                let bytes_len = buf.len() * 4;
                // SAFETY: `buf` is `bytes_len` writable bytes of plain u32;
                // the first word (assoc_id = 0) is the input the kernel reads.
                let res = unsafe {
                    getsockopt_raw(
                        self.raw(),
                        SOL_SCTP,
                        name,
                        buf.as_mut_ptr().cast(),
                        bytes_len,
                    )
                };
                match res {
                    Ok(_) => {
                        let count = buf[1] as usize;
                        let bytes: Vec<u8> =
                            buf[2..].iter().flat_map(|w| w.to_ne_bytes()).collect();
                        return decode_sockaddrs(&bytes, count);
                    }
                    Err(e) if e.raw_os_error() == Some(libc::ENOMEM) && cap < (1 << 20) => cap *= 4,
                    Err(e) => return Err(e),
                }
            }
        }

        /// All addresses of the peer (`SCTP_GET_PEER_ADDRS`).
        pub(crate) fn peer_addrs(&self) -> io::Result<Vec<SocketAddr>> {
            self.getaddrs(SCTP_GET_PEER_ADDRS)
        }

        /// All local addresses of the socket (`SCTP_GET_LOCAL_ADDRS`): every
        /// bound address, or every address of the host when bound to the
        /// wildcard.
        pub(crate) fn local_addrs(&self) -> io::Result<Vec<SocketAddr>> {
            self.getaddrs(SCTP_GET_LOCAL_ADDRS)
        }

        /// The number of outbound streams the association got (`SCTP_STATUS`);
        /// an error until the association is up.
        pub(crate) fn out_streams(&self) -> io::Result<u16> {
            let mut status = SctpStatus {
                sstat_assoc_id: 0,
                sstat_state: 0,
                sstat_rwnd: 0,
                sstat_unackdata: 0,
                sstat_penddata: 0,
                sstat_instrms: 0,
                sstat_outstrms: 0,
                sstat_fragmentation_point: 0,
                sstat_primary: [0; 38],
            };
            // SAFETY: `status` is a repr(C) struct of integers (any bit
            // pattern valid), of exactly the kernel's struct sctp_status size.
            unsafe {
                getsockopt_raw(
                    self.raw(),
                    SOL_SCTP,
                    SCTP_STATUS,
                    (&mut status as *mut SctpStatus).cast(),
                    mem::size_of::<SctpStatus>(),
                )?;
            }
            Ok(status.sstat_outstrms)
        }

        /// Sets the heartbeat interval (milliseconds; 0 leaves it) and the
        /// retransmissions before a path is declared down (0 leaves it) for
        /// all paths of the association, or on a listener the defaults of
        /// future associations.
        pub(crate) fn set_path_params(
            &self,
            hb_interval_ms: u32,
            path_max_retrans: u16,
        ) -> io::Result<()> {
            let params = SctpPaddrparams(SctpPaddrparamsPacked {
                spp_assoc_id: 0,
                spp_address: [0; 128],
                spp_hbinterval: hb_interval_ms,
                spp_pathmaxrxt: path_max_retrans,
                spp_pathmtu: 0,
                spp_sackdelay: 0,
                spp_flags: if hb_interval_ms > 0 { SPP_HB_ENABLE } else { 0 },
                spp_ipv6_flowlabel: 0,
                spp_dscp: 0,
            });
            setsockopt(self.raw(), SOL_SCTP, SCTP_PEER_ADDR_PARAMS, &params)
        }

        /// Asks for a send buffer of `bytes` (Linux bounds one SCTP message by
        /// the send buffer: "API 7.1.7"): `SO_SNDBUFFORCE` where the process
        /// may (CAP_NET_ADMIN), else `SO_SNDBUF`, which `net.core.wmem_max`
        /// caps. Returns the send buffer obtained, the largest message this
        /// socket can send.
        pub(crate) fn set_send_buffer(&self, bytes: usize) -> io::Result<usize> {
            let want = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
            if setsockopt(self.raw(), libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, &want).is_err() {
                setsockopt(self.raw(), libc::SOL_SOCKET, libc::SO_SNDBUF, &want)?;
            }
            let mut got: libc::c_int = 0;
            // SAFETY: `got` is a live c_int, `size_of::<c_int>()` writable bytes.
            unsafe {
                getsockopt_raw(
                    self.raw(),
                    libc::SOL_SOCKET,
                    libc::SO_SNDBUF,
                    (&mut got as *mut libc::c_int).cast(),
                    mem::size_of::<libc::c_int>(),
                )?;
            }
            Ok(usize::try_from(got).unwrap_or(0))
        }

        /// Shuts the association down in both directions (`SHUT_RDWR`: SCTP
        /// sends SHUTDOWN after the queued data).
        pub(crate) fn shutdown(&self) -> io::Result<()> {
            // SAFETY: shutdown() takes plain integers on a descriptor we own.
            cvt(unsafe { libc::shutdown(self.raw(), libc::SHUT_RDWR) }).map(drop)
        }
    }

    impl AsRawFd for SctpSocket {
        fn as_raw_fd(&self) -> RawFd {
            self.raw()
        }
    }

    impl mio::event::Source for SctpSocket {
        fn register(
            &mut self,
            registry: &mio::Registry,
            token: mio::Token,
            interests: mio::Interest,
        ) -> io::Result<()> {
            mio::unix::SourceFd(&self.raw()).register(registry, token, interests)
        }

        fn reregister(
            &mut self,
            registry: &mio::Registry,
            token: mio::Token,
            interests: mio::Interest,
        ) -> io::Result<()> {
            mio::unix::SourceFd(&self.raw()).reregister(registry, token, interests)
        }

        fn deregister(&mut self, registry: &mio::Registry) -> io::Result<()> {
            mio::unix::SourceFd(&self.raw()).deregister(registry)
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod other {
    //! Systems without the implementation: no value of [`SctpSocket`] can
    //! exist, as every constructor fails.

    use super::{unsupported_error, RecvInfo};
    use std::convert::Infallible;
    use std::io;
    use std::net::{IpAddr, SocketAddr};

    /// An SCTP socket; on this system it cannot be created.
    #[derive(Debug)]
    pub(crate) struct SctpSocket {
        never: Infallible,
    }

    impl SctpSocket {
        /// Always fails: no SCTP here.
        pub(crate) fn listen(_addrs: &[SocketAddr], _backlog: i32) -> io::Result<SctpSocket> {
            Err(unsupported_error())
        }
        /// Always fails: no SCTP here.
        pub(crate) fn connect(_local: &[IpAddr], _remote: &[SocketAddr]) -> io::Result<SctpSocket> {
            Err(unsupported_error())
        }
        /// Unreachable: no socket exists.
        pub(crate) fn accept(&self) -> io::Result<(SctpSocket, SocketAddr)> {
            match self.never {}
        }
        /// Unreachable: no socket exists.
        pub(crate) fn send(&self, _stream: u16, _ppid: u32, _data: &[u8]) -> io::Result<usize> {
            match self.never {}
        }
        /// Unreachable: no socket exists.
        pub(crate) fn recv(&self, _buf: &mut [u8]) -> io::Result<RecvInfo> {
            match self.never {}
        }
        /// Unreachable: no socket exists.
        pub(crate) fn take_error(&self) -> io::Result<Option<io::Error>> {
            match self.never {}
        }
        /// Unreachable: no socket exists.
        pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
            match self.never {}
        }
        /// Unreachable: no socket exists.
        pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
            match self.never {}
        }
        /// Unreachable: no socket exists.
        pub(crate) fn peer_addrs(&self) -> io::Result<Vec<SocketAddr>> {
            match self.never {}
        }
        /// Unreachable: no socket exists.
        pub(crate) fn local_addrs(&self) -> io::Result<Vec<SocketAddr>> {
            match self.never {}
        }
        /// Unreachable: no socket exists.
        pub(crate) fn out_streams(&self) -> io::Result<u16> {
            match self.never {}
        }
        /// Unreachable: no socket exists.
        pub(crate) fn set_path_params(
            &self,
            _hb_interval_ms: u32,
            _path_max_retrans: u16,
        ) -> io::Result<()> {
            match self.never {}
        }
        /// Unreachable: no socket exists.
        pub(crate) fn set_send_buffer(&self, _bytes: usize) -> io::Result<usize> {
            match self.never {}
        }
        /// Unreachable: no socket exists.
        pub(crate) fn shutdown(&self) -> io::Result<()> {
            match self.never {}
        }
    }

    impl mio::event::Source for SctpSocket {
        fn register(
            &mut self,
            _: &mio::Registry,
            _: mio::Token,
            _: mio::Interest,
        ) -> io::Result<()> {
            match self.never {}
        }
        fn reregister(
            &mut self,
            _: &mio::Registry,
            _: mio::Token,
            _: mio::Interest,
        ) -> io::Result<()> {
            match self.never {}
        }
        fn deregister(&mut self, _: &mio::Registry) -> io::Result<()> {
            match self.never {}
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Whether the kernel has SCTP; if not, says the test is skipped and why
    /// (in the SCTP VM, a kernel without SCTP fails the test).
    pub(crate) fn sctp_or_skip() -> bool {
        match sctp_supported() {
            Ok(()) => true,
            Err(e) => {
                // the VM of tools/sctp-vm exists to run these tests
                assert!(
                    std::env::var("DIAMETER_SCTP_VM").as_deref() != Ok("1"),
                    "no SCTP in the SCTP VM: {e}"
                );
                eprintln!("skipped: {e}");
                false
            }
        }
    }

    /// Retries `f` every 10 ms while it would block (or the association is
    /// not up yet), for at most 5 seconds.
    fn retry<T>(what: &str, mut f: impl FnMut() -> io::Result<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match f() {
                Ok(v) => return v,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::NotConnected
                            | io::ErrorKind::InvalidInput
                    ) && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => panic!("{what}: {e}"),
            }
        }
    }

    /// A connected (client, server) pair over loopback.
    fn pair(
        listen_on: &[SocketAddr],
        connect_to: &[SocketAddr],
    ) -> (SctpSocket, SctpSocket, SctpSocket) {
        let listener = SctpSocket::listen(listen_on, 16).unwrap();
        let port = listener.local_addr().unwrap().port();
        let remote: Vec<SocketAddr> = connect_to
            .iter()
            .map(|a| SocketAddr::new(a.ip(), port))
            .collect();
        let client = SctpSocket::connect(&[], &remote).unwrap();
        let (server, _) = retry("accept", || listener.accept());
        // Connected once the association reports its streams.
        retry("client status", || client.out_streams());
        assert!(client.take_error().unwrap().is_none());
        (listener, client, server)
    }

    fn loopback(host: &str) -> SocketAddr {
        SocketAddr::new(host.parse().unwrap(), 0)
    }

    #[test]
    fn sctp_sockaddr_round_trip() {
        for a in ["127.0.0.1:3868", "[2001:db8::1]:3868", "[fe80::1%2]:1"] {
            let addr: SocketAddr = a.parse().unwrap();
            let mut bytes = Vec::new();
            encode_sockaddr(&addr, &mut bytes);
            let expected_len = if addr.is_ipv4() {
                SOCKADDR_IN_LEN
            } else {
                SOCKADDR_IN6_LEN
            };
            assert_eq!(bytes.len(), expected_len);
            assert_eq!(decode_sockaddr(&bytes).unwrap(), (addr, expected_len));
        }
        // An IPv4-mapped IPv6 address reads as IPv4.
        let mapped: SocketAddr = "[::ffff:10.0.0.1]:5".parse().unwrap();
        let mut bytes = Vec::new();
        encode_sockaddr(&mapped, &mut bytes);
        assert_eq!(
            decode_sockaddr(&bytes).unwrap().0,
            "10.0.0.1:5".parse::<SocketAddr>().unwrap()
        );
        assert!(decode_sockaddr(&[0u8; 3]).is_err());
    }

    #[test]
    fn sctp_unsupported_message_is_clear() {
        let e = unsupported_error();
        assert_eq!(e.kind(), io::ErrorKind::Unsupported);
        assert!(e.to_string().contains("modprobe sctp"));
    }

    #[test]
    fn sctp_send_and_receive_on_streams() {
        if !sctp_or_skip() {
            return;
        }
        let (_listener, client, server) = pair(&[loopback("127.0.0.1")], &[loopback("127.0.0.1")]);
        assert_eq!(client.out_streams().unwrap(), STREAMS);
        assert_eq!(retry("server status", || server.out_streams()), STREAMS);
        assert_eq!(client.peer_addr().unwrap(), server.local_addr().unwrap());

        assert_eq!(
            client.send(0, DIAMETER_PPID, b"on stream zero").unwrap(),
            14
        );
        assert_eq!(client.send(3, DIAMETER_PPID, b"three").unwrap(), 5);
        let mut buf = [0u8; 1024];
        let first = retry("recv", || server.recv(&mut buf));
        assert_eq!(
            first,
            RecvInfo {
                len: 14,
                eor: true,
                notification: false,
                stream: Some(0),
                ppid: Some(DIAMETER_PPID)
            }
        );
        assert_eq!(&buf[..14], b"on stream zero");
        let second = retry("recv", || server.recv(&mut buf));
        assert_eq!(
            second,
            RecvInfo {
                len: 5,
                eor: true,
                notification: false,
                stream: Some(3),
                ppid: Some(DIAMETER_PPID)
            }
        );
        assert_eq!(&buf[..5], b"three");

        // And back, with another PPID.
        server.send(1, 7, b"reply").unwrap();
        let back = retry("recv", || client.recv(&mut buf));
        assert_eq!(
            (back.len, back.eor, back.stream, back.ppid),
            (5, true, Some(1), Some(7))
        );
    }

    #[test]
    fn sctp_multihomed_addresses() {
        if !sctp_or_skip() {
            return;
        }
        let both = [loopback("127.0.0.1"), loopback("127.0.0.2")];
        let (listener, client, server) = pair(&both, &both);
        let port = listener.local_addr().unwrap().port();
        let mut local = listener.local_addrs().unwrap();
        local.sort();
        let expected: Vec<SocketAddr> =
            both.iter().map(|a| SocketAddr::new(a.ip(), port)).collect();
        assert_eq!(local, expected);
        let mut peers = client.peer_addrs().unwrap();
        peers.sort();
        assert_eq!(peers, expected);
        // The server sees the client's address it connected from.
        let client_addr = client.local_addr().unwrap();
        assert!(server.peer_addrs().unwrap().contains(&client_addr));
    }

    #[test]
    fn sctp_large_message_in_two_reads() {
        if !sctp_or_skip() {
            return;
        }
        let (_listener, client, server) = pair(&[loopback("127.0.0.1")], &[loopback("127.0.0.1")]);
        let msg: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(client.send(2, DIAMETER_PPID, &msg).unwrap(), msg.len());
        let mut buf = vec![0u8; 2000];
        let first = retry("recv", || server.recv(&mut buf));
        assert_eq!(first.len, 2000);
        assert!(!first.eor);
        let mut got = buf[..first.len].to_vec();
        let second = retry("recv", || server.recv(&mut buf));
        assert!(second.eor);
        assert_eq!(second.len, 1000);
        got.extend_from_slice(&buf[..second.len]);
        assert_eq!(got, msg);
        assert_eq!(second.stream, Some(2));
    }

    #[test]
    fn sctp_close_reads_as_end_of_stream() {
        if !sctp_or_skip() {
            return;
        }
        let (_listener, client, server) = pair(&[loopback("127.0.0.1")], &[loopback("127.0.0.1")]);
        client.send(0, DIAMETER_PPID, b"last words").unwrap();
        client.shutdown().unwrap();
        drop(client);
        let mut buf = [0u8; 64];
        let info = retry("recv", || server.recv(&mut buf));
        assert_eq!(&buf[..info.len], b"last words");
        let end = retry("recv", || server.recv(&mut buf));
        assert_eq!(
            end,
            RecvInfo {
                len: 0,
                eor: false,
                notification: false,
                stream: None,
                ppid: None
            }
        );
    }

    #[test]
    fn sctp_mio_reports_readable() {
        if !sctp_or_skip() {
            return;
        }
        let (_listener, client, mut server) =
            pair(&[loopback("127.0.0.1")], &[loopback("127.0.0.1")]);
        let mut poll = mio::Poll::new().unwrap();
        poll.registry()
            .register(&mut server, mio::Token(1), mio::Interest::READABLE)
            .unwrap();
        client.send(0, DIAMETER_PPID, b"ping").unwrap();
        let mut events = mio::Events::with_capacity(4);
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut readable = false;
        while !readable && Instant::now() < deadline {
            poll.poll(&mut events, Some(Duration::from_millis(100)))
                .unwrap();
            readable = events
                .iter()
                .any(|e| e.token() == mio::Token(1) && e.is_readable());
        }
        assert!(readable);
        let mut buf = [0u8; 16];
        assert_eq!(server.recv(&mut buf).unwrap().len, 4);
        poll.registry().deregister(&mut server).unwrap();
    }
}
