//! The HTTP client for one cloud, with TLS as openstacksdk sets it up: the system's
//! roots plus the cloud's `cacert` (a campus CA), a client certificate when one is
//! given, and `verify: false` honoured (and warned about by the caller, never
//! silently).

use std::time::Duration;

use super::clouds::CloudConfig;

/// Why the client could not be built: a file named by the configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{origin}: {what} {path}: {detail}")]
    File {
        origin: String,
        what: &'static str,
        path: String,
        detail: String,
    },
    #[error("HTTP client: {0}")]
    Build(String),
}

pub fn http_client(cloud: &CloudConfig, timeout: Duration) -> Result<reqwest::Client, TlsError> {
    // reqwest is built without a crypto provider (see Cargo.toml); an error here only
    // means one is already installed, which is as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let read = |what: &'static str, p: &std::path::Path| {
        std::fs::read(p).map_err(|e| TlsError::File {
            origin: cloud.origin.clone(),
            what,
            path: p.display().to_string(),
            detail: e.to_string(),
        })
    };
    let mut b = reqwest::Client::builder()
        .user_agent(concat!("virtbench/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(5).min(timeout))
        .timeout(timeout);
    if let Some(ca) = &cloud.tls.cacert {
        let pem = read("cacert", ca)?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| TlsError::File {
            origin: cloud.origin.clone(),
            what: "cacert",
            path: ca.display().to_string(),
            detail: format!("not a PEM certificate bundle: {e}"),
        })?;
        if certs.is_empty() {
            return Err(TlsError::File {
                origin: cloud.origin.clone(),
                what: "cacert",
                path: ca.display().to_string(),
                detail: "holds no certificate".into(),
            });
        }
        // Added to the system's roots, not instead of them (openstacksdk's `cacert`
        // is a bundle requests verifies with; a campus CA file plus the public roots
        // is what a user expects).
        b = b.tls_certs_merge(certs);
    }
    if let Some(cert) = &cloud.tls.cert {
        let mut pem = read("cert", cert)?;
        if let Some(key) = &cloud.tls.key {
            pem.push(b'\n');
            pem.extend(read("key", key)?);
        }
        let id = reqwest::Identity::from_pem(&pem).map_err(|e| TlsError::File {
            origin: cloud.origin.clone(),
            what: "cert",
            path: cert.display().to_string(),
            detail: format!("not a PEM certificate and key: {e}"),
        })?;
        b = b.identity(id);
    }
    if !cloud.tls.verify {
        b = b.tls_danger_accept_invalid_certs(true);
    }
    b.build().map_err(|e| TlsError::Build(e.to_string()))
}

/// A hint for a TLS failure, appended to the transport error: the most common one on a
/// campus cloud is a certificate from the campus's own CA.
pub fn hint(detail: &str, cloud: &CloudConfig) -> Option<String> {
    let d = detail.to_ascii_lowercase();
    if d.contains("unknownissuer")
        || d.contains("unknown issuer")
        || d.contains("invalid peer certificate")
    {
        Some(match &cloud.tls.cacert {
            Some(ca) => format!(
                "the cloud's certificate does not verify against the system's roots plus {}",
                ca.display()
            ),
            None => "the cloud's certificate is signed by a CA this host does not trust: \
                     give its CA file as `cacert: /path/ca.pem` in the clouds.yaml entry \
                     (or OS_CACERT)"
                .into(),
        })
    } else {
        None
    }
}
