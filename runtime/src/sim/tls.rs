//! Optional TLS for `odex-sim`: a CA and a server certificate for
//! 127.0.0.1 and localhost generated at start-up with rcgen; the CA is
//! written as PEM to a file for the client to trust (e.g. the runtime's
//! `net::client_config(Some(path))`), and [`SimStream`] wraps each accepted
//! socket in a rustls server session.

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection};

use super::server::SimError;

/// Generates the CA and server certificate, writes the CA PEM to `ca_out`
/// and returns the server configuration.
///
/// # Errors
/// [`SimError::Config`] when generation fails, [`SimError::Io`] when the file cannot be written.
pub fn self_signed(ca_out: &Path) -> Result<Arc<ServerConfig>, SimError> {
    let gen_err = |e: rcgen::Error| SimError::Config(format!("certificate generation: {e}"));
    let ca_key = rcgen::KeyPair::generate().map_err(gen_err)?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(gen_err)?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "odex-sim local CA");
    ca_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).map_err(gen_err)?;
    let leaf_key = rcgen::KeyPair::generate().map_err(gen_err)?;
    let leaf_params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).map_err(gen_err)?;
    let leaf = leaf_params.signed_by(&leaf_key, &ca).map_err(gen_err)?;
    std::fs::write(ca_out, ca.pem())?;
    let chain = vec![CertificateDer::from(leaf.der().to_vec()), ca.der().clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SimError::Config(format!("tls: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| SimError::Config(format!("tls: {e}")))?;
    Ok(Arc::new(config))
}

/// An accepted socket, plain or TLS; reads and writes plaintext.
#[derive(Debug)]
pub enum SimStream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(TcpStream, Box<ServerConnection>),
}

impl SimStream {
    /// The socket (for registration and shutdown).
    pub fn socket(&mut self) -> &mut TcpStream {
        match self {
            Self::Plain(s) | Self::Tls(s, _) => s,
        }
    }

    /// Reads plaintext; `Ok(0)` at the end, `WouldBlock` when nothing is ready.
    ///
    /// # Errors
    /// The socket's error, or `InvalidData` for a TLS failure.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf),
            Self::Tls(s, tls) => loop {
                match tls.reader().read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                let n = tls.read_tls(s)?;
                if n == 0 {
                    return Ok(0);
                }
                tls.process_new_packets().map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                write_tls(s, tls)?;
            },
        }
    }

    /// Writes plaintext (TLS: buffered into the session, then flushed as far as the socket takes).
    ///
    /// # Errors
    /// The socket's error.
    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.write(buf),
            Self::Tls(s, tls) => {
                write_tls(s, tls)?;
                if tls.wants_write() {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                let n = tls.writer().write(buf)?;
                write_tls(s, tls)?;
                Ok(n)
            }
        }
    }

    /// Pushes buffered TLS records out.
    ///
    /// # Errors
    /// The socket's error.
    pub fn flush_tls(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(_) => Ok(()),
            Self::Tls(s, tls) => write_tls(s, tls),
        }
    }

    /// True when TLS records are still waiting for the socket.
    pub fn tls_pending(&self) -> bool {
        matches!(self, Self::Tls(_, tls) if tls.wants_write())
    }
}

fn write_tls(s: &mut TcpStream, tls: &mut ServerConnection) -> io::Result<()> {
    while tls.wants_write() {
        match tls.write_tls(s) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
