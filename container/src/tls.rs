//! [`TlsSettings`]: the TLS a store serves and how the harness checks it.
//! Its own file because every backend and the readiness check read it.

/// The TLS the store serves, and how the harness checks it.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The server's PEM certificate chain.
    pub cert: Vec<u8>,
    /// Its PEM private key.
    pub key: Vec<u8>,
    /// With mutual TLS: the PEM CA that client certificates must chain to.
    pub client_ca: Option<Vec<u8>>,
    /// The PEM root the harness trusts for the server's certificate
    /// (default: `client_ca`, else the server certificate itself).
    pub ca: Option<Vec<u8>>,
    /// The client certificate and key the harness presents under mutual
    /// TLS (default: the server's own, as the image's health probe does).
    pub client_identity: Option<(Vec<u8>, Vec<u8>)>,
    /// The name the server certificate is checked against (default
    /// `localhost`).
    pub domain: String,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("mutual", &self.client_ca.is_some())
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

impl TlsSettings {
    /// The root the harness trusts for the server's certificate.
    pub(crate) fn trust_root(&self) -> Vec<u8> {
        self.ca
            .clone()
            .or_else(|| self.client_ca.clone())
            .unwrap_or_else(|| self.cert.clone())
    }

    /// The certificate and key the harness presents, under mutual TLS.
    pub(crate) fn client_identity(&self) -> Option<(Vec<u8>, Vec<u8>)> {
        self.client_identity.clone().or_else(|| {
            self.client_ca
                .is_some()
                .then(|| (self.cert.clone(), self.key.clone()))
        })
    }
}
