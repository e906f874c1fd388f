//! The websocket opening handshake (RFC 6455 §4) as an HTTP/1.1 upgrade.
//!
//! We write the request and check the answer ourselves. The key is 16 bytes
//! from the connection's seeded generator (as tungstenite's `generate_key`
//! makes it, but reproducible); the expected `Sec-WebSocket-Accept` comes
//! from tungstenite's public [`derive_accept_key`]. The answer is parsed in
//! the link's receive buffer and only its header is consumed: frames the
//! server sent in the same packet stay there for the framing layer
//! (`WebSocket::into_inner()` would lose them). Runs once per link, so
//! allocating a key string here is fine.

use base64::Engine as _;
use tungstenite::handshake::derive_accept_key;

use super::config::Endpoint;
use super::error::ProtocolError;
use super::rng::SeededRng;

/// Largest HTTP answer header accepted.
const MAX_RESPONSE_HEADER: usize = 8 * 1024;

/// The upgrade request for `endpoint` and the `Sec-WebSocket-Accept` value
/// the server must answer with.
pub fn request(endpoint: &Endpoint, rng: &mut SeededRng) -> (String, String) {
    let mut raw = [0u8; 16];
    raw[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
    raw[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
    let key = base64::engine::general_purpose::STANDARD.encode(raw);
    let accept = derive_accept_key(key.as_bytes());
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nUser-Agent: odex\r\n\r\n",
        endpoint.path,
        endpoint.host_header(),
    );
    (req, accept)
}

/// Checks the server's answer at the front of `buf`.
///
/// Returns `Ok(None)` while the header is incomplete, `Ok(Some(n))` with the
/// header length once it is a valid `101` answer (bytes after `n` are frames).
///
/// # Errors
/// [`ProtocolError::Upgrade`] for any other status, a wrong accept key, an
/// extension we did not ask for, or an oversized header.
pub fn parse_response(buf: &[u8], expected_accept: &str) -> Result<Option<usize>, ProtocolError> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() > MAX_RESPONSE_HEADER { Err(ProtocolError::Upgrade) } else { Ok(None) };
    };
    let header = buf.get(..end).ok_or(ProtocolError::Upgrade)?;
    let header = std::str::from_utf8(header).map_err(|_| ProtocolError::Upgrade)?;
    let mut lines = header.split("\r\n");
    let status = lines.next().unwrap_or("");
    let mut parts = status.splitn(3, ' ');
    let (version, code) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !version.starts_with("HTTP/1.") || code != "101" {
        return Err(ProtocolError::Upgrade);
    }
    let (mut upgrade, mut connection, mut accept) = (false, false, false);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { return Err(ProtocolError::Upgrade) };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("upgrade") {
            upgrade = value.eq_ignore_ascii_case("websocket");
        } else if name.eq_ignore_ascii_case("connection") {
            connection = value.split(',').any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
        } else if name.eq_ignore_ascii_case("sec-websocket-accept") {
            accept = value == expected_accept;
        } else if name.eq_ignore_ascii_case("sec-websocket-extensions")
            || name.eq_ignore_ascii_case("sec-websocket-protocol")
        {
            // we asked for neither; accepting one would change the framing
            return Err(ProtocolError::Upgrade);
        }
    }
    if upgrade && connection && accept { Ok(Some(end + 4)) } else { Err(ProtocolError::Upgrade) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> Endpoint {
        Endpoint::parse("wss://stream.binance.com:9443/ws/btcusdt@bookTicker", false).unwrap()
    }

    #[test]
    fn request_names_host_path_and_key() {
        let (req, accept) = request(&endpoint(), &mut SeededRng::new(1));
        assert!(req.starts_with("GET /ws/btcusdt@bookTicker HTTP/1.1\r\nHost: stream.binance.com:9443\r\n"));
        let key = req.lines().find_map(|l| l.strip_prefix("Sec-WebSocket-Key: ")).unwrap();
        assert_eq!(derive_accept_key(key.as_bytes()), accept);
        assert!(req.ends_with("\r\n\r\n"));
    }

    #[test]
    fn keeps_bytes_after_the_header() {
        // the RFC's example key and accept
        let accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
        let mut answer = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n".to_vec();
        let n = answer.len();
        answer.extend_from_slice(&[0x81, 0x02, b'h', b'i']);
        assert_eq!(parse_response(&answer[..n - 1], accept), Ok(None));
        assert_eq!(parse_response(&answer, accept), Ok(Some(n)));
        assert_eq!(&answer[n..], &[0x81, 0x02, b'h', b'i']);
    }

    #[test]
    fn refuses_bad_answers() {
        let accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
        for bad in [
            "HTTP/1.1 200 OK\r\n\r\n",
            "HTTP/1.1 101 X\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: wrong\r\n\r\n",
            "HTTP/1.1 101 X\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
            "HTTP/1.1 101 X\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
            "HTTP/1.1 101 X\r\nbroken line\r\n\r\n",
        ] {
            assert_eq!(parse_response(bad.as_bytes(), accept), Err(ProtocolError::Upgrade), "{bad}");
        }
        assert_eq!(parse_response(&[b'x'; MAX_RESPONSE_HEADER + 1], accept), Err(ProtocolError::Upgrade));
    }
}
