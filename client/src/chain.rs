//! An error with its causes as one line a person reads: tonic's transport
//! errors say only "transport error" and keep the cause in their sources.
//! The connector's messages, the SDK's and the stores' (re-exported by
//! `eventstore_engine::assembly`) are written with these.

/// An error and its sources, `a: b: c`: tonic's transport error alone says
/// only "transport error", the cause is in its sources. A source whose text
/// the message already ends with (a wrapper that repeats its cause) is not
/// repeated.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    join_causes(&error.to_string(), error.source())
}

/// `message: cause: cause ...`, each text once: a cause whose text is
/// already in the message (a wrapper repeating its source, as tonic's and
/// hyper's do, "tcp connect error: transport error: tcp connect error")
/// is left out.
pub fn join_causes(message: &str, source: Option<&(dyn std::error::Error + 'static)>) -> String {
    let mut text = message.to_owned();
    let mut source = source;
    while let Some(cause) = source {
        let next = cause.to_string();
        if !next.is_empty() && !text.contains(&next) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}
