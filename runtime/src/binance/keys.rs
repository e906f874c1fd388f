//! Loading API secrets: from an environment variable or a private file.
//!
//! Secrets never come from the command line (other users can read it in
//! `/proc`). A key file must not be accessible by group or others; odex
//! refuses it otherwise, naming the file and its mode. Secret bytes live in
//! [`Secret`], which zeroizes them on drop and prints as `<redacted>`.
//! Loading happens once at start-up (it allocates); signing does not.

use std::ffi::OsString;
use std::fmt;
use std::io::Read as _;
use std::os::unix::ffi::OsStringExt as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::sign::{Ed25519Signer, HmacSigner, SignatureKind, Signer};

/// Secret bytes, zeroized on drop, never printed.
pub struct Secret(Zeroizing<Vec<u8>>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Secret {
    /// Wraps bytes (they are zeroized when this value drops).
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The secret bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The bytes without surrounding ASCII whitespace (a trailing newline
    /// in a key file is not part of the key).
    pub fn trimmed(&self) -> &[u8] {
        self.0.trim_ascii()
    }
}

/// Where a secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The named environment variable.
    Env(String),
    /// A file readable only by its owner.
    File(PathBuf),
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(name) => write!(f, "environment variable {name}"),
            Self::File(path) => write!(f, "file {}", path.display()),
        }
    }
}

/// Why a key could not be loaded. Never contains key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The environment variable is not set.
    #[error("environment variable {0} is not set")]
    EnvMissing(String),
    /// The key file could not be opened or read.
    #[error("cannot read key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The key file's permissions let group or others at it.
    #[error(
        "refusing key file {path}: mode {mode:04o} gives group or others access; run `chmod 600 {path}`",
        path = .path.display()
    )]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The source held nothing but whitespace.
    #[error("{0} is empty")]
    Empty(String),
    /// The key could not be parsed.
    #[error("{source_name} does not hold a valid {kind:?} key: {reason}")]
    Invalid {
        /// Where it came from.
        source_name: String,
        /// The kind expected.
        kind: SignatureKind,
        /// What the parser said (no key material).
        reason: String,
    },
}

/// Reads a secret from its source.
///
/// # Errors
/// [`KeyError`] naming the variable or file and what is wrong with it.
pub fn read_secret(source: &KeySource) -> Result<Secret, KeyError> {
    let secret = match source {
        KeySource::Env(name) => {
            let value: OsString = std::env::var_os(name).ok_or_else(|| KeyError::EnvMissing(name.clone()))?;
            Secret::new(value.into_vec())
        }
        KeySource::File(path) => read_private_file(path)?,
    };
    if secret.trimmed().is_empty() {
        return Err(KeyError::Empty(source.to_string()));
    }
    Ok(secret)
}

/// Reads a file after checking, on the opened file, that only its owner
/// can access it.
///
/// # Errors
/// [`KeyError::Io`] or [`KeyError::TooOpen`].
pub fn read_private_file(path: &Path) -> Result<Secret, KeyError> {
    let io = |source| KeyError::Io { path: path.to_path_buf(), source };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyError::TooOpen { path: path.to_path_buf(), mode });
    }
    // sized up front so that growing the buffer leaves no stray copies
    let capacity = usize::try_from(meta.len()).unwrap_or(0).saturating_add(1);
    let mut bytes = Zeroizing::new(Vec::with_capacity(capacity));
    file.read_to_end(&mut bytes).map_err(io)?;
    Ok(Secret(bytes))
}

/// Builds a signer of `kind` from a secret: the API secret string for
/// HMAC, a PKCS#8 PEM private key for Ed25519.
///
/// # Errors
/// [`KeyError::Invalid`] naming the source.
pub fn signer_from_secret(kind: SignatureKind, secret: &Secret, source: &KeySource) -> Result<Signer, KeyError> {
    let invalid = |reason: String| KeyError::Invalid { source_name: source.to_string(), kind, reason };
    match kind {
        SignatureKind::Hmac => HmacSigner::new(secret.trimmed()).map(Signer::Hmac).map_err(|e| invalid(e.to_string())),
        SignatureKind::Ed25519 => {
            let pem = std::str::from_utf8(secret.trimmed()).map_err(|_| invalid("not UTF-8 text".into()))?;
            Ed25519Signer::from_pkcs8_pem(pem).map(Signer::Ed25519).map_err(invalid)
        }
    }
}

/// Reads a secret and builds its signer.
///
/// # Errors
/// As [`read_secret`] and [`signer_from_secret`].
pub fn load_signer(kind: SignatureKind, source: &KeySource) -> Result<Signer, KeyError> {
    let secret = read_secret(source)?;
    signer_from_secret(kind, &secret, source)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn temp_file(name: &str, mode: u32, body: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("odex-keys-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(body).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn refuses_a_group_readable_file_naming_it() {
        let path = temp_file("open.key", 0o640, b"secret\n");
        let e = read_secret(&KeySource::File(path.clone())).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("0640"), "{msg}");
        let path = temp_file("private.key", 0o600, b"secret\n");
        let s = read_secret(&KeySource::File(path)).unwrap();
        assert_eq!(s.trimmed(), b"secret");
        assert_eq!(format!("{s:?}"), "<redacted>");
    }

    #[test]
    fn empty_and_missing_sources() {
        let path = temp_file("empty.key", 0o600, b" \n");
        assert!(matches!(read_secret(&KeySource::File(path)), Err(KeyError::Empty(_))));
        let e = read_secret(&KeySource::Env("ODEX_TEST_SURELY_UNSET_VARIABLE".into())).unwrap_err();
        assert_eq!(e.to_string(), "environment variable ODEX_TEST_SURELY_UNSET_VARIABLE is not set");
    }

    #[test]
    fn bad_pem_names_the_source_without_the_key() {
        let path = temp_file("bad.pem", 0o600, b"not a pem SECRETSECRET");
        let e = load_signer(SignatureKind::Ed25519, &KeySource::File(path)).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("bad.pem") && !msg.contains("SECRETSECRET"), "{msg}");
    }
}
