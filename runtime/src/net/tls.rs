//! TLS client configuration: rustls with the ring provider, certificate
//! verification always on, Mozilla's roots (webpki-roots) plus an optional
//! extra CA file (to test against a local server with a private CA).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

use super::error::NetError;

/// Builds the shared client configuration.
///
/// # Errors
/// [`NetError::CaFile`] when the extra CA file cannot be read or holds no
/// valid certificate; [`NetError::Tls`] if rustls refuses the protocol set.
pub fn client_config(extra_ca_pem: Option<&Path>) -> Result<Arc<ClientConfig>, NetError> {
    let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(path) = extra_ca_pem {
        let ca_err = |reason: String| NetError::CaFile { path: path.display().to_string(), reason };
        let mut added = 0usize;
        for cert in CertificateDer::pem_file_iter(path).map_err(|e| ca_err(e.to_string()))? {
            let cert = cert.map_err(|e| ca_err(e.to_string()))?;
            roots.add(cert).map_err(|e| ca_err(e.to_string()))?;
            added += 1;
        }
        if added == 0 {
            return Err(ca_err("no CERTIFICATE block found".to_owned()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A client session for `host` (the SNI name and the name verified).
///
/// # Errors
/// [`NetError::Url`] for a host that is not a valid DNS name or IP address,
/// [`NetError::Tls`] if rustls refuses to start.
pub fn client_session(config: &Arc<ClientConfig>, host: &str) -> Result<ClientConnection, NetError> {
    let name = ServerName::try_from(host.to_owned())
        .map_err(|_| NetError::Url { url: host.to_owned(), reason: "host is not a valid TLS server name" })?;
    Ok(ClientConnection::new(Arc::clone(config), name)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_roots_load_and_bad_ca_files_are_named() {
        assert!(client_config(None).is_ok());
        let missing = client_config(Some(Path::new("/nonexistent/ca.pem")));
        assert!(matches!(missing, Err(NetError::CaFile { .. })));
        let dir = std::env::temp_dir().join(format!("odex-tls-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no pem here\n").unwrap();
        let err = client_config(Some(&empty)).unwrap_err().to_string();
        assert!(err.contains("empty.pem"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sessions_need_a_valid_name() {
        let config = client_config(None).unwrap();
        assert!(client_session(&config, "stream.binance.com").is_ok());
        assert!(client_session(&config, "127.0.0.1").is_ok());
        assert!(client_session(&config, "bad name!").is_err());
    }
}
