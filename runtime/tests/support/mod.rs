//! Test-only websocket servers (std threads, tungstenite server side, rustls
//! server side) bound to 127.0.0.1, and a recording sink.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use odex_runtime::clock::{Clock, SystemClock};
use odex_runtime::net::{ConnEvent, ConnId, EventLoop, FrameSink, MessageKind, NetConfig};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use tungstenite::WebSocket;

/// Either a plain or a TLS server stream.
pub enum ServerStream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl ServerStream {
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Self::Plain(s) => s,
            Self::Tls(s) => &s.sock,
        }
    }
}

impl Read for ServerStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf),
            Self::Tls(s) => s.read(buf),
        }
    }
}

impl Write for ServerStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(s) => s.write(buf),
            Self::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Plain(s) => s.flush(),
            Self::Tls(s) => s.flush(),
        }
    }
}

/// A test CA and a server certificate for 127.0.0.1 and localhost, made by rcgen.
pub struct TestPki {
    pub server_config: Arc<ServerConfig>,
    pub ca_file: PathBuf,
}

impl TestPki {
    pub fn new(tag: &str) -> Self {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "odex test CA");
        ca_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();

        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf_params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        let leaf = leaf_params.signed_by(&leaf_key, &ca).unwrap();

        let dir = std::env::temp_dir().join(format!("odex-net-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();

        let chain = vec![CertificateDer::from(leaf.der().to_vec()), ca.der().clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server_config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        Self { server_config: Arc::new(server_config), ca_file }
    }
}

/// Accepts one TCP connection and performs the server websocket handshake.
pub fn accept(listener: &TcpListener, tls: Option<&Arc<ServerConfig>>) -> WebSocket<ServerStream> {
    let (sock, _) = listener.accept().unwrap();
    sock.set_nodelay(true).unwrap();
    let stream = match tls {
        Some(cfg) => {
            let conn = ServerConnection::new(Arc::clone(cfg)).unwrap();
            ServerStream::Tls(Box::new(StreamOwned::new(conn, sock)))
        }
        None => ServerStream::Plain(sock),
    };
    tungstenite::accept(stream).unwrap()
}

/// Binds the only address tests ever use.
pub fn listener() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

/// Fast timeouts so tests finish quickly.
pub fn fast_config() -> NetConfig {
    const MS: u64 = 1_000_000;
    NetConfig {
        max_message: 64 * 1024,
        allow_plain_loopback: true,
        backoff_base: odex_shared::market::Nanos(10 * MS),
        backoff_max: odex_shared::market::Nanos(50 * MS),
        connect_timeout: odex_shared::market::Nanos(3_000 * MS),
        stale_after: odex_shared::market::Nanos(3_000 * MS),
        close_timeout: odex_shared::market::Nanos(500 * MS),
        rotation_overlap: odex_shared::market::Nanos(20 * MS),
        ..NetConfig::default()
    }
}

/// Everything the client saw.
#[derive(Default)]
pub struct Recorder {
    pub messages: Vec<(ConnId, MessageKind, Vec<u8>)>,
    pub events: Vec<(ConnId, ConnEvent)>,
}

impl FrameSink for Recorder {
    fn on_message(&mut self, conn: ConnId, kind: MessageKind, payload: &[u8]) {
        self.messages.push((conn, kind, payload.to_vec()));
    }
    fn on_event(&mut self, conn: ConnId, event: ConnEvent) {
        self.events.push((conn, event));
    }
}

impl Recorder {
    pub fn texts(&self) -> Vec<String> {
        self.messages.iter().map(|m| String::from_utf8_lossy(&m.2).into_owned()).collect()
    }
}

/// Polls until `done` or `secs` of wall time pass; panics on timeout.
pub fn run_until<S: FrameSink>(
    net: &mut EventLoop,
    clock: &SystemClock,
    sink: &mut S,
    secs: u64,
    mut done: impl FnMut(&EventLoop, &S) -> bool,
) {
    let end = clock.monotonic().0 + secs * 1_000_000_000;
    while !done(net, sink) {
        assert!(clock.monotonic().0 < end, "timed out");
        net.poll_once(clock, sink, Some(Duration::from_millis(5))).unwrap();
    }
}
