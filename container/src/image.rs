//! The image: its defaults and building it locally from the embedded
//! static server (`embedded.rs`): FROM scratch, nothing pulled.

use crate::{
    embedded::{NOT_EMBEDDED, embedded_files, embedded_image_tag, embedded_server_binary},
    error::ContainerError,
    labels::{LABEL_KEY, LABEL_VALUE},
};
use bollard::{Docker, query_parameters::BuildImageOptions};
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap};

/// The name of the image built from the embedded server.
pub const IMAGE_NAME: &str = "eventstore-server";

/// The port the server listens on inside the image.
pub const CONTAINER_PORT: u16 = 50051;

/// What the server prints on stdout once it accepts requests (followed by
/// the address).
pub const READINESS_LINE: &str = "eventstore-server listening on";

/// The image's Dockerfile (`container/Dockerfile`): FROM scratch, the
/// static binary, an empty `/data` owned by 65532, `USER 65532:65532`,
/// listening on `0.0.0.0:50051`, durable in `/data`, an exec-form health
/// check (`eventstore-server --probe`).
pub const DOCKERFILE: &str = include_str!("../Dockerfile");

/// The event store image: name, tag and environment, with the defaults of
/// the image this crate builds (`eventstore-server:<content hash>`).
///
/// With the `testcontainers` feature (default) it implements
/// [`testcontainers::Image`], for testcontainers' own runners on engines
/// they support; [`crate::EventStoreContainer`] drives the engine itself
/// and adds gRPC health readiness, TLS, restart and the fallbacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventStoreImage {
    name: String,
    tag: String,
    env: BTreeMap<String, String>,
}

impl Default for EventStoreImage {
    /// `eventstore-server:<embedded tag>` (tag `unavailable` without an
    /// embedded binary).
    fn default() -> Self {
        Self::new(IMAGE_NAME, embedded_image_tag().unwrap_or("unavailable"))
    }
}

impl EventStoreImage {
    /// Any image that speaks the API (listening on [`CONTAINER_PORT`] and
    /// printing [`READINESS_LINE`]).
    pub fn new(name: impl Into<String>, tag: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            tag: tag.into(),
            env: BTreeMap::new(),
        }
    }

    /// Sets an environment variable of the container (`EVENTSTORE_*`
    /// configures the server).
    #[must_use]
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// The image name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The image tag.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// `name:tag`.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.name, self.tag)
    }

    /// The environment set on the container.
    pub fn env(&self) -> &BTreeMap<String, String> {
        &self.env
    }

    /// Whether this is the image built from the embedded server (which the
    /// harness builds when it is missing).
    pub fn is_embedded(&self) -> bool {
        self.name == IMAGE_NAME && embedded_image_tag() == Some(self.tag.as_str())
    }

    /// The gRPC endpoint (`127.0.0.1:<port>`) of a container of this image
    /// whose [`CONTAINER_PORT`] is published on `host_port`.
    pub fn endpoint(host_port: u16) -> String {
        format!("127.0.0.1:{host_port}")
    }

    /// The endpoint of a container started with testcontainers' runners.
    #[cfg(feature = "testcontainers")]
    pub async fn endpoint_of(
        container: &testcontainers::ContainerAsync<Self>,
    ) -> Result<String, testcontainers::TestcontainersError> {
        use testcontainers::core::IntoContainerPort;
        let port = container.get_host_port_ipv4(CONTAINER_PORT.tcp()).await?;
        Ok(Self::endpoint(port))
    }

    /// The embedded image as a testcontainers buildable image (the
    /// binary and an empty `data` directory are written to the temporary
    /// directory first). What [`crate::EventStoreContainer`] builds with.
    #[cfg(feature = "testcontainers")]
    pub fn buildable() -> Result<testcontainers::GenericBuildableImage, ContainerError> {
        let (_, tag) = embedded()?;
        let (binary, data) = embedded_files()?;
        Ok(testcontainers::GenericBuildableImage::new(IMAGE_NAME, tag)
            .with_dockerfile_string(DOCKERFILE)
            .with_file(binary, "eventstore-server")
            .with_file(data, "data"))
    }
}

#[cfg(feature = "testcontainers")]
impl testcontainers::Image for EventStoreImage {
    fn name(&self) -> &str {
        &self.name
    }

    fn tag(&self) -> &str {
        &self.tag
    }

    fn ready_conditions(&self) -> Vec<testcontainers::core::WaitFor> {
        vec![testcontainers::core::WaitFor::message_on_stdout(
            READINESS_LINE,
        )]
    }

    fn env_vars(
        &self,
    ) -> impl IntoIterator<
        Item = (
            impl Into<std::borrow::Cow<'_, str>>,
            impl Into<std::borrow::Cow<'_, str>>,
        ),
    > {
        self.env.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    fn expose_ports(&self) -> &[testcontainers::core::ContainerPort] {
        const PORTS: &[testcontainers::core::ContainerPort] =
            &[testcontainers::core::ContainerPort::Tcp(CONTAINER_PORT)];
        PORTS
    }
}

/// The embedded binary and its image tag, or the error saying why there is none.
fn embedded() -> Result<(&'static [u8], &'static str), ContainerError> {
    match (embedded_server_binary(), embedded_image_tag()) {
        (Some(binary), Some(tag)) => Ok((binary, tag)),
        _ => Err(ContainerError::Image {
            image: format!("{IMAGE_NAME}:<embedded>"),
            message: NOT_EMBEDDED.to_owned(),
        }),
    }
}

/// The build context of the embedded image: `Dockerfile`,
/// `eventstore-server` (mode 755) and an empty directory `data`.
pub fn build_context() -> Result<Vec<u8>, ContainerError> {
    let (binary, _) = embedded()?;
    let mut tar = TarWriter::default();
    tar.file("Dockerfile", DOCKERFILE.as_bytes(), 0o644, 0)?;
    tar.file("eventstore-server", binary, 0o755, 0)?;
    tar.dir("data", 0o755, 0)?;
    tar.finish()
}

/// Serializes builds of the embedded image within this process.
static BUILD_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Whether `reference` exists on the engine.
pub(crate) async fn image_exists(docker: &Docker, reference: &str) -> Result<bool, ContainerError> {
    match docker.inspect_image(reference).await {
        Ok(_) => Ok(true),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(false),
        Err(e) => Err(ContainerError::Image {
            image: reference.to_owned(),
            message: format!("cannot inspect it: {e}"),
        }),
    }
}

/// Makes sure `image` exists: the embedded image is built locally when
/// missing (never pulled); any other image is pulled when missing.
/// Returns whether it had to build.
pub(crate) async fn ensure_image(
    docker: &Docker,
    docker_host: Option<&str>,
    image: &EventStoreImage,
) -> Result<bool, ContainerError> {
    let reference = image.reference();
    if image_exists(docker, &reference).await? {
        return Ok(false);
    }
    if image.is_embedded() {
        return build_embedded(docker, docker_host).await.map(|()| true);
    }
    if image.name == IMAGE_NAME && embedded_image_tag().is_none() {
        return Err(ContainerError::Image {
            image: reference,
            message: NOT_EMBEDDED.to_owned(),
        });
    }
    pull(docker, image).await.map(|()| false)
}

/// Builds `eventstore-server:<embedded tag>` unless it exists: with
/// testcontainers' `GenericBuildableImage` (BuildKit), else (an engine
/// without BuildKit, or a `docker_host` testcontainers does not know) with
/// the engine's classic builder.
pub(crate) async fn build_embedded(
    docker: &Docker,
    docker_host: Option<&str>,
) -> Result<(), ContainerError> {
    let (_, tag) = embedded()?;
    let reference = format!("{IMAGE_NAME}:{tag}");
    let _guard = BUILD_LOCK.lock().await;
    if image_exists(docker, &reference).await? {
        return Ok(());
    }
    tracing::info!(image = %reference, "building the event store image from the embedded server");
    #[cfg(feature = "testcontainers")]
    let buildkit_error = if docker_host.is_none() {
        use testcontainers::{core::BuildImageOptions, runners::AsyncBuilder};
        let options = BuildImageOptions::new().with_skip_if_exists(true);
        match EventStoreImage::buildable()?
            .build_image_with(options)
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) => {
                tracing::info!("BuildKit build failed ({e}); trying the classic builder");
                format!("BuildKit (testcontainers): {e}; classic builder: ")
            }
        }
    } else {
        String::new()
    };
    #[cfg(not(feature = "testcontainers"))]
    let buildkit_error = {
        let _ = docker_host;
        String::new()
    };
    classic_build(docker, &reference)
        .await
        .map_err(|message| ContainerError::Image {
            image: reference.clone(),
            message: format!("{buildkit_error}{message}"),
        })
}

/// The engine's classic builder (no BuildKit session), for engines
/// without BuildKit.
async fn classic_build(docker: &Docker, reference: &str) -> Result<(), String> {
    let context = build_context().map_err(|e| e.to_string())?;
    let options = BuildImageOptions {
        t: Some(reference.to_owned()),
        rm: true,
        forcerm: true,
        labels: Some(HashMap::from([(
            format!("{LABEL_KEY}.image"),
            LABEL_VALUE.to_owned(),
        )])),
        ..Default::default()
    };
    let mut output = String::new();
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(detail) = info.error_detail {
                    return Err(format!(
                        "docker build failed: {}\n{output}",
                        detail.message.unwrap_or_default()
                    ));
                }
                if let Some(text) = info.stream {
                    output.push_str(&text);
                }
            }
            Err(e) => return Err(format!("docker build failed: {e}\n{output}")),
        }
    }
    if !image_exists(docker, reference)
        .await
        .map_err(|e| e.to_string())?
    {
        return Err(format!(
            "docker build finished but the image is not there:\n{output}"
        ));
    }
    Ok(())
}

async fn pull(docker: &Docker, image: &EventStoreImage) -> Result<(), ContainerError> {
    let options = bollard::query_parameters::CreateImageOptions {
        from_image: Some(image.name.clone()),
        tag: Some(image.tag.clone()),
        ..Default::default()
    };
    let mut stream = docker.create_image(Some(options), None, None);
    while let Some(item) = stream.next().await {
        if let Err(e) = item {
            return Err(ContainerError::Image {
                image: image.reference(),
                message: format!("not found locally, and pulling it failed: {e}"),
            });
        }
    }
    Ok(())
}

/// A minimal in-memory tar writer (what the engine's build and copy
/// endpoints take).
pub(crate) struct TarWriter {
    builder: tar::Builder<Vec<u8>>,
}

impl Default for TarWriter {
    fn default() -> Self {
        Self {
            builder: tar::Builder::new(Vec::new()),
        }
    }
}

impl TarWriter {
    /// Adds a regular file owned by `owner:owner`.
    pub(crate) fn file(
        &mut self,
        path: &str,
        data: &[u8],
        mode: u32,
        owner: u64,
    ) -> Result<(), ContainerError> {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_uid(owner);
        header.set_gid(owner);
        header.set_mtime(0);
        self.builder
            .append_data(&mut header, path, data)
            .map_err(|e| ContainerError::Io(format!("cannot archive {path}: {e}")))
    }

    /// Adds a directory owned by `owner:owner`.
    pub(crate) fn dir(&mut self, path: &str, mode: u32, owner: u64) -> Result<(), ContainerError> {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_size(0);
        header.set_mode(mode);
        header.set_uid(owner);
        header.set_gid(owner);
        header.set_mtime(0);
        self.builder
            .append_data(&mut header, format!("{path}/"), std::io::empty())
            .map_err(|e| ContainerError::Io(format!("cannot archive {path}/: {e}")))
    }

    /// The archive.
    pub(crate) fn finish(self) -> Result<Vec<u8>, ContainerError> {
        self.builder
            .into_inner()
            .map_err(|e| ContainerError::Io(format!("cannot finish the archive: {e}")))
    }
}

impl std::fmt::Debug for TarWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TarWriter").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_name_the_embedded_image() {
        let image = EventStoreImage::default();
        assert_eq!(image.name(), IMAGE_NAME);
        assert_eq!(image.is_embedded(), embedded_image_tag().is_some());
        assert_eq!(EventStoreImage::endpoint(1234), "127.0.0.1:1234");
        let custom = EventStoreImage::new("registry.local/es", "v1").with_env("A", "b");
        assert_eq!(custom.reference(), "registry.local/es:v1");
        assert!(!custom.is_embedded());
        assert_eq!(custom.env().get("A").map(String::as_str), Some("b"));
    }

    #[cfg(feature = "testcontainers")]
    #[test]
    fn is_a_testcontainers_image() {
        use testcontainers::{Image, core::ContainerPort};
        let image = EventStoreImage::new("es", "t").with_env("EVENTSTORE_MAX_PAGE_SIZE", "5");
        assert_eq!(Image::name(&image), "es");
        assert_eq!(Image::tag(&image), "t");
        assert_eq!(image.expose_ports(), &[ContainerPort::Tcp(CONTAINER_PORT)]);
        assert_eq!(image.ready_conditions().len(), 1);
        let env: Vec<(String, String)> = image
            .env_vars()
            .into_iter()
            .map(|(k, v)| (k.into().into_owned(), v.into().into_owned()))
            .collect();
        assert_eq!(
            env,
            [("EVENTSTORE_MAX_PAGE_SIZE".to_owned(), "5".to_owned())]
        );
    }

    #[test]
    fn build_context_holds_dockerfile_binary_and_empty_data_dir() {
        if embedded_server_binary().is_none() {
            return;
        }
        let context = build_context().expect("context");
        let mut archive = tar::Archive::new(context.as_slice());
        let mut entries: Vec<(String, u32, bool)> = archive
            .entries()
            .expect("entries")
            .map(|e| {
                let e = e.expect("entry");
                let header = e.header();
                (
                    e.path().expect("path").display().to_string(),
                    header.mode().expect("mode"),
                    header.entry_type().is_dir(),
                )
            })
            .collect();
        entries.sort();
        assert_eq!(
            entries,
            [
                ("Dockerfile".to_owned(), 0o644, false),
                ("data/".to_owned(), 0o755, true),
                ("eventstore-server".to_owned(), 0o755, false),
            ]
        );
    }
}
