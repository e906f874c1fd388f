//! Request signatures: HMAC-SHA256 (lowercase hex) and Ed25519 (base64).
//!
//! An [`HmacSigner`] keys the HMAC once and clones the keyed state for each
//! message, so the per-order cost is the SHA-256 compressions over the
//! payload and no key schedule. Given the API key
//! ([`Signer::for_api_key`]), it also absorbs the first 64 bytes every
//! signed payload starts with (`apiKey=<64 characters>&...`, parameters
//! being sorted) once, saving one compression, about 40 ns, per order.
//! Ed25519 costs about 20 us per signature; with an Ed25519 key,
//! `session.logon` once and send orders unsigned.
//! Signatures are written into caller-provided buffers; nothing allocates.
//! `Debug` never shows key material.

use core::fmt;

use base64::Engine as _;
use ed25519_dalek::Signer as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Longest signature text any signer writes (Ed25519, base64: 88 bytes).
pub const MAX_SIGNATURE_LEN: usize = 88;

/// Which algorithm a key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureKind {
    /// HMAC-SHA256 with the API secret; hex signatures.
    Hmac,
    /// Ed25519 with a PKCS#8 private key; base64 signatures.
    Ed25519,
}

/// Why a signature could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The key was refused by the algorithm.
    #[error("invalid key")]
    InvalidKey,
    /// The output buffer is shorter than the signature text.
    #[error("signature buffer too small: need {need} bytes, have {have}")]
    BufferTooSmall {
        /// Bytes the signature needs.
        need: usize,
        /// Bytes available.
        have: usize,
    },
}

/// SHA-256's block size: what one compression absorbs.
const BLOCK: usize = 64;

/// HMAC-SHA256 keyed once with the API secret.
#[derive(Clone)]
pub struct HmacSigner {
    keyed: Hmac<Sha256>,
    // boxed: a second keyed state would double the size of every `Signer`
    prefix: Option<Box<Prefix>>,
}

/// The keyed state after absorbing whole blocks of a known payload start.
#[derive(Clone)]
struct Prefix {
    state: Hmac<Sha256>,
    bytes: [u8; BLOCK],
}

impl fmt::Debug for HmacSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacSigner(<redacted>)")
    }
}

impl HmacSigner {
    /// Keys the HMAC with the secret's bytes (Binance uses the secret
    /// string's ASCII bytes as the key).
    ///
    /// # Errors
    /// [`SignError::InvalidKey`] if the MAC refuses the key (HMAC accepts
    /// keys of any length, so this does not happen in practice).
    pub fn new(secret: &[u8]) -> Result<Self, SignError> {
        let keyed = <Hmac<Sha256> as Mac>::new_from_slice(secret).map_err(|_| SignError::InvalidKey)?;
        Ok(Self { keyed, prefix: None })
    }

    /// Absorbs the first 64 bytes of `prefix` once, for every later payload
    /// that starts with them (a shorter prefix changes nothing). Payloads
    /// that start otherwise are signed from the keyed state as before.
    #[must_use]
    pub fn with_payload_prefix(mut self, prefix: &[u8]) -> Self {
        self.prefix = prefix.first_chunk::<BLOCK>().map(|bytes| {
            let mut state = self.keyed.clone();
            state.update(bytes);
            Box::new(Prefix { state, bytes: *bytes })
        });
        self
    }

    /// The raw 32-byte MAC of `payload`.
    #[inline]
    pub fn mac(&self, payload: &[u8]) -> [u8; 32] {
        let m = match (&self.prefix, payload.split_first_chunk::<BLOCK>()) {
            (Some(p), Some((head, rest))) if *head == p.bytes => {
                let mut m = p.state.clone();
                m.update(rest);
                m
            }
            _ => {
                let mut m = self.keyed.clone();
                m.update(payload);
                m
            }
        };
        m.finalize().into_bytes().into()
    }

    /// Writes the lowercase hex MAC of `payload` (64 bytes).
    #[inline]
    pub fn sign_hex(&self, payload: &[u8]) -> [u8; 64] {
        // arithmetic, not a table lookup per nibble, so the compiler can
        // turn the 32 bytes into 64 digits with vector instructions
        #[inline(always)]
        const fn digit(n: u8) -> u8 {
            n + b'0' + (n > 9) as u8 * (b'a' - b'0' - 10)
        }
        let mac = self.mac(payload);
        let mut out = [0u8; 64];
        for (pair, byte) in out.as_chunks_mut::<2>().0.iter_mut().zip(mac) {
            *pair = [digit(byte >> 4), digit(byte & 0x0f)];
        }
        out
    }
}

/// An Ed25519 private key (zeroized on drop by `ed25519-dalek`).
pub struct Ed25519Signer {
    key: ed25519_dalek::SigningKey,
}

impl fmt::Debug for Ed25519Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ed25519Signer(<redacted>)")
    }
}

impl Ed25519Signer {
    /// From the 32-byte secret seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self { key: ed25519_dalek::SigningKey::from_bytes(seed) }
    }

    /// From a PKCS#8 PEM document (`-----BEGIN PRIVATE KEY-----`), the
    /// format Binance's key generator writes.
    ///
    /// # Errors
    /// The text of the PKCS#8 decoding error (no key material in it).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, String> {
        use ed25519_dalek::pkcs8::DecodePrivateKey as _;
        ed25519_dalek::SigningKey::from_pkcs8_pem(pem).map(|key| Self { key }).map_err(|e| e.to_string())
    }

    /// The public key, for operators to compare with the one registered.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The raw 64-byte signature of `payload`.
    pub fn sign_raw(&self, payload: &[u8]) -> [u8; 64] {
        self.key.sign(payload).to_bytes()
    }

    /// Writes the base64 signature of `payload` (88 bytes).
    pub fn sign_base64(&self, payload: &[u8]) -> [u8; 88] {
        let sig = self.sign_raw(payload);
        let mut out = [0u8; 88];
        // 64 bytes always encode to exactly 88 with padding
        let _ = base64::engine::general_purpose::STANDARD.encode_slice(sig, &mut out);
        out
    }
}

/// A request signer of either kind.
#[derive(Debug)]
pub enum Signer {
    /// HMAC-SHA256.
    Hmac(HmacSigner),
    /// Ed25519.
    Ed25519(Ed25519Signer),
}

impl Signer {
    /// Which algorithm this signer uses.
    pub const fn kind(&self) -> SignatureKind {
        match self {
            Self::Hmac(_) => SignatureKind::Hmac,
            Self::Ed25519(_) => SignatureKind::Ed25519,
        }
    }

    /// Prepares the signer for requests that carry `api_key` (see the
    /// module doc): HMAC signers absorb `apiKey=<api_key>&` once; Ed25519
    /// signatures hash the whole message anyway.
    #[must_use]
    pub fn for_api_key(self, api_key: &str) -> Self {
        match self {
            Self::Hmac(h) => {
                let mut head = [0u8; BLOCK];
                let mut len = 0;
                for (dst, &b) in head.iter_mut().zip(b"apiKey=".iter().chain(api_key.as_bytes()).chain(b"&")) {
                    *dst = b;
                    len += 1;
                }
                Self::Hmac(h.with_payload_prefix(head.get(..len).unwrap_or(&[])))
            }
            Self::Ed25519(e) => Self::Ed25519(e),
        }
    }

    /// Length of the signature text this signer writes.
    pub const fn signature_len(&self) -> usize {
        match self {
            Self::Hmac(_) => 64,
            Self::Ed25519(_) => 88,
        }
    }

    /// Signs `payload` and writes the signature text (hex or base64) into
    /// `out`, returning its length.
    ///
    /// # Errors
    /// [`SignError::BufferTooSmall`].
    #[inline]
    pub fn sign_into(&self, payload: &[u8], out: &mut [u8]) -> Result<usize, SignError> {
        let need = self.signature_len();
        let have = out.len();
        let dst = out.get_mut(..need).ok_or(SignError::BufferTooSmall { need, have })?;
        match self {
            Self::Hmac(h) => dst.copy_from_slice(&h.sign_hex(payload)),
            Self::Ed25519(e) => dst.copy_from_slice(&e.sign_base64(payload)),
        }
        Ok(need)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_the_rest_doc_vector() {
        let s = HmacSigner::new(b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j").unwrap();
        let payload = b"symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
        assert_eq!(&s.sign_hex(payload), b"c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71");
        // the keyed state is reused, not consumed
        assert_eq!(s.sign_hex(payload), s.sign_hex(payload));
        assert_eq!(format!("{s:?}"), "HmacSigner(<redacted>)");
    }

    #[test]
    fn a_known_payload_start_changes_no_signature() {
        let secret = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
        let key = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
        let plain = Signer::Hmac(HmacSigner::new(secret).unwrap());
        let fast = Signer::Hmac(HmacSigner::new(secret).unwrap()).for_api_key(key);
        let Signer::Hmac(h) = &fast else { unreachable!() };
        assert!(h.prefix.is_some(), "a 64-character key fills the first block");
        let order = format!(
            "apiKey={key}&newClientOrderId=odex-1-2&price=52000.00&quantity=0.01000&recvWindow=5000&side=SELL&symbol=BTCUSDT&timeInForce=GTC&timestamp=1700000000000&type=LIMIT"
        );
        let mut payloads: Vec<Vec<u8>> = vec![order.clone().into_bytes(), b"".to_vec(), b"symbol=BTCUSDT".to_vec()];
        // exactly the prefix block, one byte either side of it, another key
        payloads.push(order.as_bytes()[..64].to_vec());
        payloads.push(order.as_bytes()[..63].to_vec());
        payloads.push(order.as_bytes()[..65].to_vec());
        payloads.push(order.replace("apiKey=v", "apiKey=w").into_bytes());
        for p in &payloads {
            let (mut a, mut b) = ([0u8; 64], [0u8; 64]);
            plain.sign_into(p, &mut a).unwrap();
            fast.sign_into(p, &mut b).unwrap();
            assert_eq!(a, b, "payload {:?}", String::from_utf8_lossy(p));
        }
        // a key too short to fill a block: no prefix, same signatures
        let short = Signer::Hmac(HmacSigner::new(secret).unwrap()).for_api_key("KEY");
        let Signer::Hmac(h) = &short else { unreachable!() };
        assert!(h.prefix.is_none());
    }

    #[test]
    fn signer_checks_the_buffer() {
        let s = Signer::Hmac(HmacSigner::new(b"k").unwrap());
        let mut small = [0u8; 10];
        assert_eq!(s.sign_into(b"x", &mut small), Err(SignError::BufferTooSmall { need: 64, have: 10 }));
        let mut out = [0u8; MAX_SIGNATURE_LEN];
        assert_eq!(s.sign_into(b"x", &mut out), Ok(64));
    }
}
