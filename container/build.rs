//! Builds the statically linked `eventstore-server` that this crate embeds
//! (and turns into the image `eventstore-server:<tag>` on demand).
//!
//! A nested `cargo build --release --locked -p eventstore-server --target
//! <host> ` with `-C target-feature=+crt-static`, in its own target
//! directory (`<target>/embedded-server`) so it never waits for the outer
//! build's lock. The binary's path and the image tag (the first 16 hex
//! digits of sha256(binary ++ Dockerfile)) are handed to the crate as
//! `EVENTSTORE_EMBEDDED_SERVER` and `EVENTSTORE_EMBEDDED_IMAGE_TAG`.
//!
//! `EVENTSTORE_EMBEDDED_SERVER_TARGET_DIR` (absolute, or relative to the
//! workspace) replaces `<target>/embedded-server`.
//!
//! `EVENTSTORE_EMBED_SERVER=0` skips it (quick checks only): the crate then
//! embeds nothing, and whatever needs the embedded binary fails with an
//! error saying so.

use sha2::{Digest, Sha256};
use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

/// Environment variables a build script inherits from the outer cargo that
/// must not leak into the nested build: its flags (the outer ones may be
/// clippy's or maturin's), its wrappers, its per-crate variables.
const LEAKY_VARS: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTDOCFLAGS",
    "CARGO_ENCODED_RUSTDOCFLAGS",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_RUSTC_WRAPPER",
    "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
    "CLIPPY_ARGS",
    "CLIPPY_CONF_DIR",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_BUILD_BUILD_DIR",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_MANIFEST_LINKS",
    "CARGO_CRATE_NAME",
    "OUT_DIR",
    "TARGET",
    "HOST",
    "PROFILE",
    "OPT_LEVEL",
    "DEBUG",
    "NUM_JOBS",
    "RUSTC_LINKER",
    "__CARGO_FIX_PLZ",
];

/// Prefixes of per-crate variables cargo sets for build scripts, and of
/// cargo-zigbuild's (maturin `--zig`) own.
const LEAKY_PREFIXES: &[&str] = &[
    "CARGO_CFG_",
    "CARGO_FEATURE_",
    "CARGO_PKG_",
    "DEP_",
    "CARGO_ZIGBUILD_",
];

/// The outer build's C toolchain and linker for the host triple, removed
/// with the suffix `<host>` (as `x86_64_unknown_linux_gnu` and
/// `x86_64-unknown-linux-gnu`) or, for the linker, `<HOST>`. `maturin --zig`
/// (the wheel's build, `scripts/build-wheel`) points them at `zig cc` for
/// glibc 2.17; the static server links glibc statically with the host's
/// own toolchain instead (zig ships no static glibc), and it is a separate
/// binary carried as bytes, so the wheel's glibc floor does not apply to it.
const LEAKY_TOOLCHAIN_PREFIXES: &[&str] = &[
    "CC_",
    "CXX_",
    "AR_",
    "RANLIB_",
    "CFLAGS_",
    "CXXFLAGS_",
    "CMAKE_TOOLCHAIN_FILE_",
    "BINDGEN_EXTRA_CLANG_ARGS_",
];

/// cargo-zigbuild's switches that would make the nested build apply the
/// outer target's linker settings to its build scripts too.
const LEAKY_ZIG_VARS: &[&str] = &[
    "CARGO_TARGET_APPLIES_TO_HOST",
    "CARGO_UNSTABLE_TARGET_APPLIES_TO_HOST",
    "ZIG_COMMAND",
];

fn main() {
    println!("cargo::rustc-check-cfg=cfg(eventstore_embedded_server)");
    println!("cargo::rerun-if-env-changed=EVENTSTORE_EMBED_SERVER");
    println!("cargo::rerun-if-changed=Dockerfile");
    println!("cargo::rerun-if-changed=build.rs");

    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let dockerfile =
        std::fs::read(manifest_dir.join("Dockerfile")).expect("container/Dockerfile is readable");

    if env::var("EVENTSTORE_EMBED_SERVER").is_ok_and(|v| v == "0") {
        println!(
            "cargo::warning=EVENTSTORE_EMBED_SERVER=0: no server binary embedded; \
             the default image and Mode::Process without EVENTSTORE_SERVER_BIN will not work"
        );
        return skip();
    }

    let root = manifest_dir
        .parent()
        .expect("the crate lives in the workspace")
        .to_path_buf();
    if !root.join("server/Cargo.toml").exists() {
        println!(
            "cargo::warning=server sources not found next to {}: no server binary embedded",
            manifest_dir.display()
        );
        return skip();
    }
    for watched in [
        "Cargo.lock",
        "Cargo.toml",
        "server/src",
        "server/Cargo.toml",
        "client/src",
        "client/Cargo.toml",
        "engine/src",
        "engine/Cargo.toml",
        "proto/src",
        "proto/proto",
        "proto/build.rs",
        "proto/Cargo.toml",
    ] {
        println!("cargo::rerun-if-changed={}", root.join(watched).display());
    }

    let host = env::var("HOST").expect("HOST");
    if !host.ends_with("-unknown-linux-gnu") {
        println!(
            "cargo::warning=host {host} is not *-unknown-linux-gnu: no static server binary \
             embedded (build the image with container/build-image on Linux)"
        );
        return skip();
    }

    // `scripts/build-wheel` builds the wheel in a target directory of its
    // own but points this at the dev build's `target/embedded-server`: the
    // same nested build (the flags above are the same whatever the outer
    // build is), so the server the dev build compiled is reused.
    println!("cargo::rerun-if-env-changed=EVENTSTORE_EMBEDDED_SERVER_TARGET_DIR");
    let target_dir = match env::var_os("EVENTSTORE_EMBEDDED_SERVER_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => outer_target_dir(&root).join("embedded-server"),
    };
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    command
        .args(["build", "--release", "--locked", "-p", "eventstore-server"])
        .args(["--bin", "eventstore-server", "--target", &host])
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .current_dir(&root);
    let host_suffixes = [host.replace('-', "_"), host.clone()];
    let host_linker = format!(
        "CARGO_TARGET_{}_LINKER",
        host.replace('-', "_").to_uppercase()
    );
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let host_toolchain = key == host_linker
            || LEAKY_TOOLCHAIN_PREFIXES.iter().any(|p| {
                key.strip_prefix(p)
                    .is_some_and(|rest| host_suffixes.iter().any(|h| rest == h))
            });
        if LEAKY_VARS.contains(&key)
            || LEAKY_ZIG_VARS.contains(&key)
            || LEAKY_PREFIXES.iter().any(|p| key.starts_with(p))
            || host_toolchain
        {
            command.env_remove(key);
        }
    }
    command
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env("CARGO_TARGET_DIR", &target_dir)
        // The image and the wheel carry this binary: no debug info.
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "symbols");
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", Path::new(&cargo).display()));
    if !output.status.success() {
        panic!(
            "the nested build of the static eventstore-server failed ({}):\n{}\n\
             (set EVENTSTORE_EMBED_SERVER=0 to skip embedding it)",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }

    let binary = target_dir
        .join(&host)
        .join("release")
        .join("eventstore-server");
    let bytes =
        std::fs::read(&binary).unwrap_or_else(|e| panic!("cannot read {}: {e}", binary.display()));
    println!(
        "cargo::rustc-env=EVENTSTORE_EMBEDDED_SERVER={}",
        binary.display()
    );
    println!(
        "cargo::rustc-env=EVENTSTORE_EMBEDDED_IMAGE_TAG={}",
        image_tag(&bytes, &dockerfile)
    );
    println!("cargo::rustc-cfg=eventstore_embedded_server");
}

/// No binary: the tag is empty and the cfg unset.
fn skip() {
    println!("cargo::rustc-env=EVENTSTORE_EMBEDDED_IMAGE_TAG=");
}

/// The first 16 hex digits of sha256(binary ++ Dockerfile), as
/// `container/build-image` computes it.
fn image_tag(binary: &[u8], dockerfile: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(binary);
    hasher.update(dockerfile);
    hasher
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The outer build's target directory: the nearest ancestor of OUT_DIR
/// holding cargo's CACHEDIR.TAG, else CARGO_TARGET_DIR, else `<root>/target`.
fn outer_target_dir(root: &Path) -> PathBuf {
    if let Some(out_dir) = env::var_os("OUT_DIR") {
        let out_dir = PathBuf::from(out_dir);
        if let Some(dir) = out_dir
            .ancestors()
            .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        {
            return dir.to_path_buf();
        }
    }
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}
