//! The `eventstore-server` binary this crate carries (built and embedded
//! by `build.rs`), and the files written from it: the binary a child
//! process runs (`Mode::Process`) and the image's build context on disk.
//! The image (`image.rs`) and the child process (`child_process.rs`) both
//! take the binary from here.

use crate::error::ContainerError;
use std::{path::PathBuf, sync::Mutex};

#[cfg(eventstore_embedded_server)]
static EMBEDDED_SERVER: &[u8] = include_bytes!(env!("EVENTSTORE_EMBEDDED_SERVER"));
#[cfg(not(eventstore_embedded_server))]
static EMBEDDED_SERVER: &[u8] = &[];

/// The statically linked `eventstore-server` this crate carries (built by
/// its build script), or `None` when it was built with
/// `EVENTSTORE_EMBED_SERVER=0` or on a host that is not Linux.
pub fn embedded_server_binary() -> Option<&'static [u8]> {
    (!EMBEDDED_SERVER.is_empty()).then_some(EMBEDDED_SERVER)
}

/// The tag of the image built from the embedded server: the first 16 hex
/// digits of sha256(binary ++ Dockerfile), as `container/build-image`
/// computes it. `None` without an embedded binary.
pub fn embedded_image_tag() -> Option<&'static str> {
    let tag = env!("EVENTSTORE_EMBEDDED_IMAGE_TAG");
    (!tag.is_empty()).then_some(tag)
}

/// Why the embedded binary is missing, for errors.
pub(crate) const NOT_EMBEDDED: &str = "this build of eventstore-container carries no server binary \
     (it was built with EVENTSTORE_EMBED_SERVER=0, or on a host that is not *-unknown-linux-gnu): \
     build the image with container/build-image and use it as the image (name:tag), \
     or set EVENTSTORE_SERVER_BIN and use the `process` mode";

/// The `eventstore-server` binary: `$EVENTSTORE_SERVER_BIN`, else the
/// embedded static one, written once to the temporary directory.
pub(crate) fn server_binary() -> Result<PathBuf, ContainerError> {
    if let Some(path) = std::env::var_os("EVENTSTORE_SERVER_BIN") {
        let path = PathBuf::from(path);
        if !path.is_file() {
            return Err(ContainerError::Config(format!(
                "EVENTSTORE_SERVER_BIN={} is not a file",
                path.display()
            )));
        }
        return Ok(path);
    }
    embedded_files().map(|(binary, _)| binary)
}

/// The embedded server written once (per content hash) to
/// `$TMPDIR/eventstore-server-<tag>/eventstore-server` (mode 755), next to
/// an empty directory `data`: the image's build context on disk.
pub(crate) fn embedded_files() -> Result<(PathBuf, PathBuf), ContainerError> {
    let (Some(binary), Some(tag)) = (embedded_server_binary(), embedded_image_tag()) else {
        return Err(ContainerError::Config(NOT_EMBEDDED.to_owned()));
    };
    static WRITING: Mutex<()> = Mutex::new(());
    let _guard = WRITING.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::temp_dir().join(format!("eventstore-server-{tag}"));
    let path = dir.join("eventstore-server");
    let data = dir.join("data");
    let io = |e: std::io::Error| {
        ContainerError::Io(format!(
            "cannot write the embedded server to {}: {e}",
            dir.display()
        ))
    };
    if !std::fs::metadata(&path).is_ok_and(|m| m.len() == binary.len() as u64) {
        std::fs::create_dir_all(&dir).map_err(io)?;
        // Written under another name and renamed, so no one runs half a file.
        let partial = dir.join(format!(
            "eventstore-server.{}.{}.partial",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::write(&partial, binary).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o755))
                .map_err(io)?;
        }
        std::fs::rename(&partial, &path).map_err(io)?;
    }
    std::fs::create_dir_all(&data).map_err(io)?;
    Ok((path, data))
}
