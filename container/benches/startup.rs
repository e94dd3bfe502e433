//! How long an `EventStoreContainer` takes to become ready, and how long
//! the image takes to build.
//!
//! `cargo bench -p eventstore-container --bench startup [-- STARTS]`
//!
//! Prints, for each mode that can run here: start-to-ready (readiness line
//! and gRPC health SERVING) and stop-to-removed, as p50/p90/max over
//! STARTS starts (default 20); and the image build time, uncached (the
//! image removed first, when no container uses it) and cached (the
//! existence check only). The target is a median start under one second.

use eventstore_container::{EventStoreContainer, IMAGE_NAME, Mode, embedded_image_tag};
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{what:<34} p50 {:>8.1} ms   p90 {:>8.1} ms   max {:>8.1} ms   (n={})",
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.9).as_secs_f64() * 1e3,
        samples.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        samples.len()
    );
}

async fn measure(mode: Mode, starts: usize) {
    let mut ready = Vec::with_capacity(starts);
    let mut stopped = Vec::with_capacity(starts);
    for _ in 0..starts {
        let started = Instant::now();
        let mut store = match EventStoreContainer::builder().mode(mode).start().await {
            Ok(store) => store,
            Err(e) => {
                println!("{mode:?}: cannot start: {e}");
                return;
            }
        };
        ready.push(started.elapsed());
        let stopping = Instant::now();
        if let Err(e) = store.stop().await {
            println!("{mode:?}: cannot stop: {e}");
            return;
        }
        stopped.push(stopping.elapsed());
    }
    report(&format!("{mode:?} start-to-ready"), ready);
    report(&format!("{mode:?} stop (and remove)"), stopped);
}

async fn image_build_times() {
    let Some(tag) = embedded_image_tag() else {
        println!("image build: no embedded server (EVENTSTORE_EMBED_SERVER=0)");
        return;
    };
    let reference = format!("{IMAGE_NAME}:{tag}");
    let removed = std::process::Command::new("docker")
        .args(["rmi", &reference])
        .output()
        .is_ok_and(|o| o.status.success());
    let started = Instant::now();
    match EventStoreContainer::build_image().await {
        Ok((_, built)) => {
            let took = started.elapsed();
            if removed && built {
                println!(
                    "image build, uncached              {:>8.1} ms",
                    took.as_secs_f64() * 1e3
                );
            } else {
                println!("image build, uncached              skipped (the image is in use)");
            }
        }
        Err(e) => {
            println!("image build failed: {e}");
            return;
        }
    }
    let started = Instant::now();
    match EventStoreContainer::build_image().await {
        Ok((_, built)) => println!(
            "image build, cached (exists check)  {:>8.1} ms{}",
            started.elapsed().as_secs_f64() * 1e3,
            if built { " (rebuilt?!)" } else { "" }
        ),
        Err(e) => println!("image build failed: {e}"),
    }
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; a bare number is the number of starts.
    let starts = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(20)
        .max(1);
    if EventStoreContainer::docker_available().await {
        image_build_times().await;
        // One start first, so caches are warm.
        if let Ok(mut store) = EventStoreContainer::builder()
            .mode(Mode::Docker)
            .start()
            .await
        {
            let _ = store.stop().await;
        }
        measure(Mode::Docker, starts).await;
    } else {
        println!("no Docker engine: Docker mode not measured");
    }
    measure(Mode::Process, starts).await;
    measure(Mode::InProcess, starts).await;
}
