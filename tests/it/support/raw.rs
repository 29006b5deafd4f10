//! A raw Diameter peer on a plain TCP socket: it writes whatever bytes a
//! test builds (malformed ones included) and reads framed messages back.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use diameter::message::constants::*;
use diameter::message::framer::Framer;
use diameter::message::{Avp, Message, MessageHeader};

/// A raw peer's connection.
pub struct RawPeer {
    /// The socket (5 s read timeout).
    pub stream: TcpStream,
    framer: Framer,
    /// Its Origin-Host.
    pub host: String,
    /// Its Origin-Realm.
    pub realm: String,
    hbh: u32,
}

/// A CER from `host` in `realm` for the auth applications `apps`, offering
/// these Inband-Security-Id values (none when empty).
pub fn cer(host: &str, realm: &str, apps: &[u32], inband: &[i32]) -> Message {
    let mut h = MessageHeader::new(CMD_CAPABILITIES_EXCHANGE, 0);
    h.set_request(true);
    h.hop_by_hop_identifier = 1;
    h.end_to_end_identifier = 1;
    let lo: IpAddr = "127.0.0.1".parse().unwrap();
    let mut avps = vec![
        Avp::new(AVP_ORIGIN_HOST, 0, host).unwrap(),
        Avp::new(AVP_ORIGIN_REALM, 0, realm).unwrap(),
        Avp::new(AVP_HOST_IP_ADDRESS, 0, lo).unwrap(),
        Avp::new(AVP_VENDOR_ID, 0, 99999u32).unwrap(),
        Avp::new(AVP_PRODUCT_NAME, 0, "raw").unwrap(),
    ];
    for app in apps {
        avps.push(Avp::new(AVP_AUTH_APPLICATION_ID, 0, *app).unwrap());
    }
    for id in inband {
        avps.push(Avp::new(AVP_INBAND_SECURITY_ID, 0, *id).unwrap());
    }
    Message::new(h, avps)
}

impl RawPeer {
    /// Connects to `addr` without sending anything.
    pub fn open(addr: SocketAddr, host: &str, realm: &str) -> RawPeer {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        RawPeer {
            stream,
            framer: Framer::new(),
            host: host.into(),
            realm: realm.into(),
            hbh: 100,
        }
    }

    /// Connects and exchanges CER/CEA (auth application 4); the CEA must
    /// say 2001.
    pub fn connect(addr: SocketAddr, host: &str, realm: &str) -> RawPeer {
        let mut raw = RawPeer::open(addr, host, realm);
        let cea = raw
            .exchange(&cer(host, realm, &[4], &[]).as_bytes().unwrap())
            .expect("CEA");
        assert_eq!(result_code(&cea), Some(2001), "{cea:?}");
        raw
    }

    /// A request from this peer: Origin-Host and Origin-Realm, then `avps`;
    /// a new hop-by-hop and end-to-end identifier each time.
    pub fn request(&mut self, code: u32, app: u32, mut avps: Vec<Avp>) -> Message {
        let mut h = MessageHeader::new(code, app);
        h.set_request(true);
        h.set_proxyable(true);
        self.hbh += 1;
        h.hop_by_hop_identifier = self.hbh;
        h.end_to_end_identifier = self.hbh;
        let mut all = vec![
            Avp::new(AVP_ORIGIN_HOST, 0, self.host.as_str()).unwrap(),
            Avp::new(AVP_ORIGIN_REALM, 0, self.realm.as_str()).unwrap(),
        ];
        all.append(&mut avps);
        Message::new(h, all)
    }

    /// Writes bytes as they are.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// The next message; `None` when the connection ends or the read times
    /// out.
    pub fn recv(&mut self) -> Option<Message> {
        self.recv_bytes()
            .map(|frame| Message::from_bytes(&frame).unwrap())
    }

    /// The next message as received; `None` when the connection ends or
    /// the read times out.
    pub fn recv_bytes(&mut self) -> Option<Vec<u8>> {
        let mut buf = [0u8; 16384];
        loop {
            if let Ok(Some(frame)) = self.framer.next_frame() {
                return Some(frame.to_vec());
            }
            match self.stream.read(&mut buf) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.framer.feed(&buf[..n]),
            }
        }
    }

    /// Sends `bytes` and reads the next message.
    pub fn exchange(&mut self, bytes: &[u8]) -> Option<Message> {
        self.send(bytes);
        self.recv()
    }
}

/// The top-level Result-Code.
pub fn result_code(m: &Message) -> Option<u32> {
    m.find_avp(&[(AVP_RESULT_CODE, 0)]).and_then(Avp::as_u32)
}

/// Whether the other side closed `stream` (end of stream or a reset),
/// reading and discarding whatever comes first; a read that times out
/// means it is still open.
pub fn closed_by_peer(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) => {
                return matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
                )
            }
        }
    }
}

/// Sets the Message Length field after raw bytes were added.
pub fn fix_length(bytes: &mut [u8]) {
    let len = bytes.len() as u32;
    bytes[1..4].copy_from_slice(&len.to_be_bytes()[1..]);
}

/// A raw peer whose socket is read by a thread of its own, which answers
/// every DWR at once (so that the node's watchdog stays happy however long
/// the test looks elsewhere) and hands the other messages to the test. The
/// thread stops when the connection ends or the `Pumped` is dropped.
pub struct Pumped {
    writer: std::sync::Arc<std::sync::Mutex<TcpStream>>,
    received: std::sync::mpsc::Receiver<Message>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    peer: RawPeer,
}

impl RawPeer {
    /// Hands the connection to a reading thread (see [`Pumped`]).
    pub fn pump(self) -> Pumped {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Arc, Mutex};
        let mut reader = self.stream.try_clone().unwrap();
        reader
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let writer = Arc::new(Mutex::new(self.stream.try_clone().unwrap()));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, received) = std::sync::mpsc::channel();
        let (w, s) = (writer.clone(), stop.clone());
        let (host, realm) = (self.host.clone(), self.realm.clone());
        let thread = std::thread::spawn(move || {
            let mut framer = Framer::new();
            let mut buf = [0u8; 16384];
            while !s.load(Ordering::Relaxed) {
                while let Ok(Some(frame)) = framer.next_frame() {
                    let m = Message::from_bytes(frame).unwrap();
                    if m.header.command_code == CMD_DEVICE_WATCHDOG && m.header.is_request() {
                        let dwa = Message::new(
                            m.header.to_answer(),
                            vec![
                                Avp::new(AVP_RESULT_CODE, 0, 2001u32).unwrap(),
                                Avp::new(AVP_ORIGIN_HOST, 0, host.as_str()).unwrap(),
                                Avp::new(AVP_ORIGIN_REALM, 0, realm.as_str()).unwrap(),
                            ],
                        );
                        let _ = w.lock().unwrap().write_all(&dwa.as_bytes().unwrap());
                    } else if tx.send(m).is_err() {
                        return;
                    }
                }
                match reader.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => framer.feed(&buf[..n]),
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => return,
                }
            }
        });
        Pumped {
            writer,
            received,
            stop,
            thread: Some(thread),
            peer: self,
        }
    }
}

impl Pumped {
    /// A request from this peer, as [`RawPeer::request`] makes it.
    pub fn request(&mut self, code: u32, app: u32, avps: Vec<Avp>) -> Message {
        self.peer.request(code, app, avps)
    }

    /// Writes bytes as they are.
    pub fn send(&self, bytes: &[u8]) {
        self.writer.lock().unwrap().write_all(bytes).unwrap();
    }

    /// The next message other than a DWR, waiting at most `timeout`.
    pub fn recv(&self, timeout: Duration) -> Option<Message> {
        self.received.recv_timeout(timeout).ok()
    }
}

impl Drop for Pumped {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = self.peer.stream.shutdown(std::net::Shutdown::Both);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
