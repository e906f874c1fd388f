//! A bounded HTTP/1.1 request-head parser and response writer: just what
//! REST GETs and the websocket upgrade need. Bodies are not read (the
//! simulator serves no POST endpoint); a request head longer than
//! [`MAX_HEAD`] or not HTTP/1.x is malformed (answered 400, then closed).

/// Longest request head accepted.
pub const MAX_HEAD: usize = 16 * 1024;

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Query parameters, percent-decoded, in order.
    pub query: Vec<(String, String)>,
    /// Headers with lower-case names.
    pub headers: Vec<(String, String)>,
    /// Length of the head including the blank line.
    pub head_len: usize,
    /// The query string as sent (still percent-encoded), for REST signatures.
    pub raw_query: String,
    /// The body as sent (set by the server once `Content-Length` bytes arrived).
    pub body: String,
}

impl Request {
    /// A header's value (name in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// A query parameter's value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// True for a websocket upgrade request.
    pub fn is_upgrade(&self) -> bool {
        self.header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
            && self.header("connection").is_some_and(|v| v.to_ascii_lowercase().contains("upgrade"))
    }

    /// The declared body length (0 when absent or unparsable).
    pub fn content_length(&self) -> usize {
        self.header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// Form-encoded body parameters (`a=1&b=2`), percent-decoded.
    ///
    /// # Errors
    /// [`HttpError::Malformed`] for a bad escape.
    pub fn form(&self) -> Result<Vec<(String, String)>, HttpError> {
        parse_pairs(&self.body)
    }

    /// True when the client asked to close after the response.
    pub fn wants_close(&self) -> bool {
        self.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// Why a request head is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// Over [`MAX_HEAD`] bytes.
    #[error("request head too long")]
    TooLong,
    /// Not a well-formed HTTP/1.x request head.
    #[error("malformed request")]
    Malformed,
}

/// Parses a request head from `buf`; `Ok(None)` when more bytes are needed.
///
/// # Errors
/// [`HttpError`] for a head that is too long or malformed.
pub fn parse(buf: &[u8]) -> Result<Option<Request>, HttpError> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() > MAX_HEAD { Err(HttpError::TooLong) } else { Ok(None) };
    };
    if end > MAX_HEAD {
        return Err(HttpError::TooLong);
    }
    let head = std::str::from_utf8(buf.get(..end).ok_or(HttpError::Malformed)?).map_err(|_| HttpError::Malformed)?;
    let mut lines = head.split("\r\n");
    let first = lines.next().ok_or(HttpError::Malformed)?;
    let mut parts = first.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HttpError::Malformed);
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || !target.starts_with('/') {
        return Err(HttpError::Malformed);
    }
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':').ok_or(HttpError::Malformed)?;
        if name.is_empty() || name.contains(' ') {
            return Err(HttpError::Malformed);
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = parse_pairs(query)?;
    Ok(Some(Request {
        method: method.to_string(),
        path: percent_decode(path)?,
        query,
        headers,
        head_len: end + 4,
        raw_query: target.split_once('?').map_or("", |(_, q)| q).to_string(),
        body: String::new(),
    }))
}

/// Splits `a=1&b=2` into decoded pairs.
fn parse_pairs(text: &str) -> Result<Vec<(String, String)>, HttpError> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Ok((percent_decode(k)?, percent_decode(v)?))
        })
        .collect()
}

/// Decodes `%XX` escapes and `+` (as a space).
fn percent_decode(s: &str) -> Result<String, HttpError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or(HttpError::Malformed)?;
                let hex = std::str::from_utf8(hex).map_err(|_| HttpError::Malformed)?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| HttpError::Malformed)?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| HttpError::Malformed)
}

/// The reason phrase of the statuses the simulator sends.
fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        401 => "Unauthorized",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// A complete response with a JSON body and extra headers.
pub fn response(status: u16, extra_headers: &[(&str, String)], body: &str, close: bool) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json;charset=UTF-8\r\nContent-Length: {}\r\n",
        reason(status),
        body.len()
    );
    for (name, value) in extra_headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

/// The `101 Switching Protocols` answer to an upgrade with `key`.
pub fn upgrade_response(key: &str) -> Vec<u8> {
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_heads_and_rejects_garbage() {
        let head = b"GET /api/v3/klines?symbol=ETHUSDT&limit=5&x=a%20b HTTP/1.1\r\nHost: x\r\n\r\n";
        let r = parse(&[&head[..], b"rest"].concat()).unwrap().unwrap();
        assert_eq!(r.path, "/api/v3/klines");
        assert_eq!(r.param("limit"), Some("5"));
        assert_eq!(r.param("x"), Some("a b"));
        assert_eq!(r.head_len, head.len());
        assert_eq!(parse(b"GET / HTTP/1.1\r\nHost"), Ok(None));
        assert_eq!(parse(b"garbage\r\n\r\n"), Err(HttpError::Malformed));
        assert_eq!(parse(b"GET / HTTP/1.1\r\nno colon\r\n\r\n"), Err(HttpError::Malformed));
        assert_eq!(parse(&vec![b'a'; MAX_HEAD + 1]), Err(HttpError::TooLong));
    }

    #[test]
    fn accept_key_matches_rfc_example() {
        let r = String::from_utf8(upgrade_response("dGhlIHNhbXBsZSBub25jZQ==")).unwrap();
        assert!(r.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{r}");
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use crate::net::{WsCodec, WsEvent};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig {
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x73696d),
            cases: 1024,
            ..ProptestConfig::default()
        })]

        /// Whatever a client sends, the request parser and the server-role
        /// websocket codec answer with a value or an error, never a panic.
        #[test]
        fn bytes_from_clients_never_panic(
            head in proptest::collection::vec(any::<u8>(), 0..600),
            frames in proptest::collection::vec(any::<u8>(), 0..600),
        ) {
            let mut framed = b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n".to_vec();
            framed.extend_from_slice(&head);
            framed.extend_from_slice(b"\r\n\r\n");
            let _ = parse(&head);
            let _ = parse(&framed);
            let mut ws = WsCodec::new_server(1024, 256, 4096);
            let space = ws.rx_space();
            let n = frames.len().min(space.len());
            space[..n].copy_from_slice(&frames[..n]);
            ws.rx_filled(n);
            for _ in 0..64 {
                match ws.next_event(false, 0) {
                    Ok(None) | Err(_) => break,
                    Ok(Some(WsEvent::Message(..) | WsEvent::Ping | WsEvent::Pong | WsEvent::Close(_) | WsEvent::Held)) => {}
                }
            }
        }
    }
}
