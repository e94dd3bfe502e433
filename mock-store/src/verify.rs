//! Verification: are all expectations met? If not, a report a person can act
//! on: each unmet expectation, what it wanted, and the nearest calls that
//! were received with a field-by-field diff.

use crate::{
    journal::CallRecord, matchers::CallView, pattern::Mismatch, state::Mounted, wire::Rpc,
};
use std::fmt::Write as _;

/// How many near misses a report shows per expectation.
const NEAREST: usize = 3;
/// How many received calls a report lists at the end.
const LISTED_CALLS: usize = 20;

/// Unmet expectations; `Display` is the full report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{report}")]
pub struct VerificationError {
    /// The report, as printed.
    pub report: String,
    /// How many problems it lists.
    pub problems: usize,
}

/// The calls `m` matched.
fn hits<'a>(m: &Mounted, calls: &'a [CallRecord]) -> Vec<&'a CallRecord> {
    calls.iter().filter(|c| c.matched.contains(&m.id)).collect()
}

/// Where the expectations whose count is not met were mounted (those
/// mounted by [`crate::Mock::mount`]; JSON ones have no place in code).
pub(crate) fn unmet_mount_sites(mounted: &[Mounted], calls: &[CallRecord]) -> Vec<String> {
    mounted
        .iter()
        .filter(|m| !m.mock.times.contains(hits(m, calls).len() as u64))
        .filter_map(|m| m.mock.mounted_at.map(ToString::to_string))
        .collect()
}

/// Checks `mounted` against the journal `calls`; a call that strict mode
/// refused is a problem too.
pub(crate) fn verify(mounted: &[Mounted], calls: &[CallRecord]) -> Result<(), VerificationError> {
    let mut problems: Vec<String> = Vec::new();
    for m in mounted {
        let hits = hits(m, calls);
        let count = hits.len() as u64;
        if m.mock.times.contains(count) {
            continue;
        }
        let mut text = format!(
            "{}\n   expected {}, received {count}.",
            m.mock.describe(),
            m.mock.times
        );
        if count < min_of(m) {
            near_misses(m, calls, &mut text);
        } else {
            let seqs: Vec<String> = hits.iter().map(|c| format!("#{}", c.seq)).collect();
            let _ = write!(text, "\n   Matching calls: {}", seqs.join(", "));
            if let Some(hint) = up_to_hint(m, count) {
                let _ = write!(text, "\n   {hint}");
            }
        }
        problems.push(text);
    }
    problems.extend(sequence_problems(mounted, calls));
    {
        let unmatched: Vec<&CallRecord> =
            calls.iter().filter(|c| c.rejected_by_strict_mode).collect();
        if !unmatched.is_empty() {
            let mut text = format!(
                "strict mode: {} call{} matched no expectation (and failed with FAILED_PRECONDITION):",
                unmatched.len(),
                if unmatched.len() == 1 { "" } else { "s" }
            );
            for call in unmatched {
                let _ = write!(text, "\n   - {}", call.summary());
            }
            problems.push(text);
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let mut report = format!(
        "MockEventStore verification failed: {} problem{}.\n",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for (i, p) in problems.iter().enumerate() {
        let _ = write!(report, "\n{}. {p}\n", i + 1);
    }
    let _ = write!(report, "\nReceived calls ({}):", calls.len());
    for call in calls.iter().take(LISTED_CALLS) {
        let _ = write!(report, "\n   {}", call.summary());
    }
    if calls.len() > LISTED_CALLS {
        let _ = write!(report, "\n   ... and {} more", calls.len() - LISTED_CALLS);
    }
    if calls.is_empty() {
        report.push_str(" none");
    }
    report.push('\n');
    Err(VerificationError {
        report,
        problems: problems.len(),
    })
}

fn min_of(m: &Mounted) -> u64 {
    use crate::expectation::Times;
    match m.mock.times {
        Times::Exactly(n) | Times::AtLeast(n) | Times::Between(n, _) => n,
        Times::Any | Times::AtMost(_) => 0,
    }
}

/// The most calls `m` allows (`None`: no upper bound).
fn max_of(m: &Mounted) -> Option<u64> {
    use crate::expectation::Times;
    match m.mock.times {
        Times::Exactly(n) | Times::AtMost(n) | Times::Between(_, n) => Some(n),
        Times::Any | Times::AtLeast(_) => None,
    }
}

/// For an expectation that fails the calls it matches, had more calls than
/// it allows, and has neither `up_to` nor `nth`: it failed every one of them,
/// which is rarely what was meant ("fail once, then work" is `up_to`).
fn up_to_hint(m: &Mounted, count: u64) -> Option<String> {
    use crate::expectation::Reply;
    let n = max_of(m)?;
    if count <= n || n == 0 || m.mock.up_to.is_some() || m.mock.nth.is_some() {
        return None;
    }
    let fails = m.mock.respond.as_ref().is_some_and(|r| {
        matches!(
            r.reply,
            Reply::Status { .. }
                | Reply::Conflict(_)
                | Reply::ConflictAtHead { .. }
                | Reply::DropConnection
        )
    });
    fails.then(|| {
        format!(
            "(a fail_with expectation answers every matching call; to fail only the first {n} and \
             then pass through to the store, give up_to={n} (Rust: .up_to_n_times({n}); JSON: \
             \"up_to\": {n}))"
        )
    })
}

/// Lists the calls closest to matching `m`, each with its mismatches.
fn near_misses(m: &Mounted, calls: &[CallRecord], text: &mut String) {
    let rpc: Option<Rpc> = m.mock.matchers.iter().find_map(|x| x.rpc());
    let mut scored: Vec<(Vec<Mismatch>, &CallRecord)> = calls
        .iter()
        .filter(|c| !c.matched.contains(&m.id))
        .filter(|c| rpc.is_none_or(|r| c.rpc() == r))
        .map(|c| {
            let view = CallView {
                request: &c.request,
                json: &c.request_json,
                metadata: &c.metadata,
            };
            let mut diffs = Vec::new();
            for matcher in &m.mock.matchers {
                matcher.diff(&view, &mut diffs);
            }
            (diffs, c)
        })
        .collect();
    if scored.is_empty() {
        let what = rpc.map_or("call".to_owned(), |r| format!("{r} call"));
        // "other" only when some calls did match (too few of them).
        let other = if calls.iter().any(|c| c.matched.contains(&m.id)) {
            "other "
        } else {
            ""
        };
        let _ = write!(text, "\n   No {other}{what} was received.");
        return;
    }
    scored.sort_by_key(|(diffs, c)| (diffs.len(), c.seq));
    let _ = write!(text, "\n   Nearest calls:");
    for (diffs, call) in scored.iter().take(NEAREST) {
        let _ = write!(text, "\n   - {}", call.summary());
        for d in diffs {
            let _ = write!(text, "\n       {d}");
        }
    }
}

/// Order violations inside each sequence.
fn sequence_problems(mounted: &[Mounted], calls: &[CallRecord]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut sequences: Vec<(u64, &str, Vec<&Mounted>)> = Vec::new();
    for m in mounted {
        let Some(seq) = &m.mock.sequence else {
            continue;
        };
        match sequences.iter_mut().find(|(id, _, _)| *id == seq.id) {
            Some((_, _, members)) => members.push(m),
            None => sequences.push((seq.id, &seq.name, vec![m])),
        }
    }
    for (_, name, members) in sequences {
        // The latest call matched by any earlier member, and that member: a
        // member with no calls must not hide an order violation around it.
        let mut latest: Option<(u64, &Mounted)> = None;
        for after in members {
            let seqs = || {
                calls
                    .iter()
                    .filter(|c| c.matched.contains(&after.id))
                    .map(|c| c.seq)
            };
            if let (Some(a), Some((b, before))) = (seqs().min(), latest)
                && a < b
            {
                problems.push(format!(
                    "sequence {name:?} out of order: call #{a} matched {}\n   but came before call #{b}, which matched the earlier {}",
                    after.mock.describe(),
                    before.mock.describe()
                ));
            }
            if let Some(last) = seqs().max()
                && latest.is_none_or(|(b, _)| last > b)
            {
                latest = Some((last, after));
            }
        }
    }
    problems
}
