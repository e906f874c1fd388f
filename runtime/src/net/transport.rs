//! The byte stream under a websocket: a non-blocking `mio` TCP socket, plain
//! or wrapped in a rustls client session.
//!
//! Driven by readiness: [`Transport::read`] and [`Transport::write`] return
//! `WouldBlock` when the socket has nothing more, and the caller waits for
//! the next mio event (edge-triggered, so it always drains to `WouldBlock`).
//! TLS records are read into rustls and decrypted into the caller's buffer;
//! what rustls itself allocates per record is measured in `NET-NOTES.md`.

use std::io::{self, Read as _, Write as _};

use mio::net::TcpStream;
use rustls::ClientConnection;

/// A connected (or connecting) socket, plain or TLS.
#[derive(Debug)]
pub enum Transport {
    /// `ws://` to loopback only.
    Plain(TcpStream),
    /// `wss://`.
    Tls {
        /// The socket.
        sock: TcpStream,
        /// The rustls session (boxed: it is large and moves with the link).
        tls: Box<ClientConnection>,
    },
}

impl Transport {
    /// The socket, to register with mio or query.
    pub fn socket(&mut self) -> &mut TcpStream {
        match self {
            Self::Plain(s) | Self::Tls { sock: s, .. } => s,
        }
    }

    /// Advances the TLS handshake; `Ok(true)` once it is done (always for plain).
    ///
    /// # Errors
    /// Socket errors, TLS errors (as `InvalidData`), or `UnexpectedEof`.
    pub fn drive_handshake(&mut self) -> io::Result<bool> {
        let Self::Tls { sock, tls } = self else { return Ok(true) };
        loop {
            flush_tls(sock, tls)?;
            if !tls.is_handshaking() {
                return Ok(true);
            }
            if tls.wants_write() {
                // flush_tls stopped on WouldBlock
                return Ok(false);
            }
            match tls.read_tls(sock) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => {
                    tls.process_new_packets().map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether a [`read`](Self::read) that returned `n` of `offered` bytes
    /// left the socket's receive queue empty: a short plain TCP read. A TLS
    /// read says nothing about the socket (rustls reads it in records of
    /// its own size), so it is never taken as emptied.
    pub const fn read_emptied(&self, n: usize, offered: usize) -> bool {
        matches!(self, Self::Plain(_)) && n < offered
    }

    /// Reads plaintext into `buf`: `Ok(0)` is end of stream, `WouldBlock`
    /// means wait for readiness.
    ///
    /// # Errors
    /// Socket errors, TLS errors (as `InvalidData`).
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(sock) => loop {
                match sock.read(buf) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    other => return other,
                }
            },
            Self::Tls { sock, tls } => loop {
                match tls.reader().read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                    Err(e) => return Err(e),
                }
                match tls.read_tls(sock) {
                    Ok(0) => {
                        // peer closed: let rustls report clean or unclean end next turn
                        tls.process_new_packets().map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                        return match tls.reader().read(buf) {
                            Ok(n) => Ok(n),
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
                            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                            Err(e) => Err(e),
                        };
                    }
                    Ok(_) => {
                        tls.process_new_packets().map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                        // key updates and alerts may want to go out
                        flush_tls(sock, tls)?;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            },
        }
    }

    /// Writes some of `buf`; for TLS it is encrypted and flushed as far as
    /// the socket takes it (the rest stays queued in rustls, see [`flush`](Self::flush)).
    ///
    /// # Errors
    /// Socket errors; `WouldBlock` when nothing could be taken.
    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(sock) => loop {
                match sock.write(buf) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    other => return other,
                }
            },
            Self::Tls { sock, tls } => {
                let n = tls.writer().write(buf)?;
                flush_tls(sock, tls)?;
                if n == 0 && !buf.is_empty() {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                Ok(n)
            }
        }
    }

    /// Pushes encrypted bytes queued in rustls to the socket.
    ///
    /// # Errors
    /// Socket errors other than `WouldBlock`.
    pub fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(_) => Ok(()),
            Self::Tls { sock, tls } => flush_tls(sock, tls),
        }
    }

    /// Sends TLS `close_notify` (plain: nothing); best effort.
    pub fn close_notify(&mut self) {
        if let Self::Tls { sock, tls } = self {
            tls.send_close_notify();
            let _ = flush_tls(sock, tls);
        }
    }
}

/// Writes queued TLS records until done or the socket would block.
fn flush_tls(sock: &mut TcpStream, tls: &mut ClientConnection) -> io::Result<()> {
    while tls.wants_write() {
        match tls.write_tls(sock) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
