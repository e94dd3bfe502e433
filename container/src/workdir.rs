//! The temporary directory a store outside Docker keeps: its data and the
//! TLS files the server reads. Removed with the store.

use crate::{error::ContainerError, tls::TlsSettings};
use std::path::{Path, PathBuf};

/// Files the store keeps: its data, and the TLS files it reads.
#[derive(Debug)]
pub(crate) struct Workdir {
    dir: tempfile::TempDir,
}

impl Workdir {
    pub(crate) fn new(tls: Option<&TlsSettings>) -> Result<Self, ContainerError> {
        let dir = tempfile::Builder::new()
            .prefix("eventstore-container-")
            .tempdir()
            .map_err(|e| ContainerError::Io(format!("cannot create a temporary directory: {e}")))?;
        let workdir = Self { dir };
        if let Some(tls) = tls {
            workdir.write("server.crt", &tls.cert)?;
            workdir.write("server.key", &tls.key)?;
            if let Some(ca) = &tls.client_ca {
                workdir.write("client-ca.crt", ca)?;
            }
        }
        Ok(workdir)
    }

    fn write(&self, name: &str, data: &[u8]) -> Result<(), ContainerError> {
        let path = self.dir.path().join(name);
        std::fs::write(&path, data)
            .map_err(|e| ContainerError::Io(format!("cannot write {}: {e}", path.display())))
    }

    pub(crate) fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The directory itself (the child process's working directory).
    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Where [`Workdir::new`] wrote the TLS files of `tls`.
    pub(crate) fn tls_files(&self, tls: Option<&TlsSettings>) -> Option<TlsFiles> {
        let tls = tls?;
        let path = |name: &str| self.dir.path().join(name);
        Some(TlsFiles {
            cert: path("server.crt"),
            key: path("server.key"),
            client_ca: tls.client_ca.as_ref().map(|_| path("client-ca.crt")),
        })
    }

    /// The server's TLS settings as `EVENTSTORE_*` variables (for a child
    /// process, which reads them from its environment).
    pub(crate) fn tls_env(&self, tls: Option<&TlsSettings>) -> Vec<(String, String)> {
        let Some(files) = self.tls_files(tls) else {
            return Vec::new();
        };
        let text = |p: &Path| p.display().to_string();
        let mut env = vec![
            ("EVENTSTORE_TLS_CERT".to_owned(), text(&files.cert)),
            ("EVENTSTORE_TLS_KEY".to_owned(), text(&files.key)),
        ];
        if let Some(ca) = &files.client_ca {
            env.push(("EVENTSTORE_TLS_CLIENT_CA".to_owned(), text(ca)));
        }
        env
    }
}

/// The TLS files in a [`Workdir`].
#[derive(Debug, Clone)]
pub(crate) struct TlsFiles {
    /// `--tls-cert`.
    pub(crate) cert: PathBuf,
    /// `--tls-key`.
    pub(crate) key: PathBuf,
    /// `--tls-client-ca`, for mutual TLS.
    pub(crate) client_ca: Option<PathBuf>,
}
