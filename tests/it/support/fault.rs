//! Faults a process does not show on demand, on a raw socket: a Diameter
//! server (auth application 4) that answers CER, DWR and requests until it
//! is told to hang (it then reads and drops everything, as a stopped
//! process whose kernel still takes the bytes), to ignore DWRs, or to leave
//! the CERs of new connections unanswered.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use diameter::message::constants::*;
use diameter::message::framer::Framer;
use diameter::message::{Avp, Message};

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    hung: AtomicBool,
    ignore_dwr: AtomicBool,
    ceas_left: AtomicUsize,
    accepted: AtomicUsize,
    dwrs: AtomicUsize,
    answered: AtomicUsize,
    streams: Mutex<Vec<TcpStream>>,
}

/// A raw Diameter server on 127.0.0.1; stops (and closes its connections)
/// when dropped.
pub struct FaultServer {
    /// Where it listens.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl FaultServer {
    /// Listens on a free port as `host` of `realm`, answering everything.
    pub fn start(host: &str, realm: &str) -> FaultServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            ceas_left: AtomicUsize::new(usize::MAX),
            ..Default::default()
        });
        let (host, realm) = (host.to_string(), realm.to_string());
        let s = shared.clone();
        let accept = std::thread::spawn(move || {
            let mut served = Vec::new();
            // blocking: Drop wakes it with a connection of its own
            while !s.stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) if s.stop.load(Ordering::Relaxed) => drop(stream),
                    Ok((stream, _)) => {
                        s.accepted.fetch_add(1, Ordering::Relaxed);
                        if let Ok(clone) = stream.try_clone() {
                            s.streams.lock().unwrap().push(clone);
                        }
                        let (s, host, realm) = (s.clone(), host.clone(), realm.clone());
                        served.push(std::thread::spawn(move || serve(stream, &s, &host, &realm)));
                    }
                    Err(_) => {}
                }
            }
            for t in served {
                let _ = t.join();
            }
        });
        FaultServer {
            addr,
            shared,
            threads: vec![accept],
        }
    }

    /// From now on, reads and drops everything, answering nothing.
    pub fn hang(&self) {
        self.shared.hung.store(true, Ordering::Relaxed);
    }

    /// From now on, answers again.
    pub fn resume(&self) {
        self.shared.hung.store(false, Ordering::Relaxed);
    }

    /// DWRs are counted but not answered.
    pub fn ignore_dwr(&self) {
        self.shared.ignore_dwr.store(true, Ordering::Relaxed);
    }

    /// Only the next `n` CERs are answered; later ones never are.
    pub fn answer_cers(&self, n: usize) {
        self.shared.ceas_left.store(n, Ordering::Relaxed);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// DWRs received so far.
    pub fn dwrs(&self) -> usize {
        self.shared.dwrs.load(Ordering::Relaxed)
    }

    /// Requests (other than CER, DWR, DPR) answered so far.
    pub fn answered(&self) -> usize {
        self.shared.answered.load(Ordering::Relaxed)
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // wakes the accept loop, which sees the stop
        let _ = TcpStream::connect(self.addr);
        for s in self.shared.streams.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn serve(mut stream: TcpStream, s: &Shared, host: &str, realm: &str) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let mut framer = Framer::new();
    let mut buf = [0u8; 16384];
    while !s.stop.load(Ordering::Relaxed) {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => framer.feed(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => return,
        }
        while let Ok(Some(frame)) = framer.next_frame() {
            let Ok(msg) = Message::from_bytes(frame) else {
                continue;
            };
            if s.hung.load(Ordering::Relaxed) || !msg.header.is_request() {
                continue;
            }
            let code = msg.header.command_code;
            let answer = match code {
                CMD_CAPABILITIES_EXCHANGE => {
                    let left = s.ceas_left.load(Ordering::Relaxed);
                    if left == 0 {
                        continue;
                    }
                    s.ceas_left.store(left.saturating_sub(1), Ordering::Relaxed);
                    let lo: IpAddr = "127.0.0.1".parse().unwrap();
                    answer(&msg, host, realm, false, |a| {
                        a.append_avp(Avp::new(AVP_HOST_IP_ADDRESS, 0, lo).unwrap());
                        a.append_avp(Avp::new(AVP_VENDOR_ID, 0, 99999u32).unwrap());
                        a.append_avp(Avp::new(AVP_PRODUCT_NAME, 0, "fault").unwrap());
                        a.append_avp(Avp::new(AVP_AUTH_APPLICATION_ID, 0, 4u32).unwrap());
                    })
                }
                CMD_DEVICE_WATCHDOG => {
                    s.dwrs.fetch_add(1, Ordering::Relaxed);
                    if s.ignore_dwr.load(Ordering::Relaxed) {
                        continue;
                    }
                    answer(&msg, host, realm, false, |_| {})
                }
                CMD_DISCONNECT_PEER => answer(&msg, host, realm, false, |_| {}),
                _ => {
                    s.answered.fetch_add(1, Ordering::Relaxed);
                    answer(&msg, host, realm, true, |a| {
                        a.append_avp(Avp::new(AVP_AUTH_APPLICATION_ID, 0, 4u32).unwrap());
                        for code in [AVP_CC_REQUEST_TYPE, AVP_CC_REQUEST_NUMBER] {
                            if let Some(v) = msg.find_avp(&[(code, 0)]) {
                                a.append_avp(v.clone());
                            }
                        }
                    })
                }
            };
            if stream.write_all(&answer).is_err() {
                return;
            }
        }
    }
}

/// A 2001 answer to `req` from `host`: Session-Id first when `session`,
/// then Result-Code, Origin-Host, Origin-Realm and what `more` adds.
fn answer(
    req: &Message,
    host: &str,
    realm: &str,
    session: bool,
    more: impl FnOnce(&mut Message),
) -> Vec<u8> {
    let mut a = req.to_answer();
    if session {
        if let Some(id) = req.find_avp(&[(AVP_SESSION_ID, 0)]) {
            a.append_avp(id.clone());
        }
    }
    a.append_avp(Avp::new(AVP_RESULT_CODE, 0, E_RESULT_CODE_DIAMETER_SUCCESS).unwrap());
    a.append_avp(Avp::new(AVP_ORIGIN_HOST, 0, host).unwrap());
    a.append_avp(Avp::new(AVP_ORIGIN_REALM, 0, realm).unwrap());
    more(&mut a);
    a.as_bytes().unwrap()
}
