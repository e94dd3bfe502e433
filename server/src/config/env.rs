//! [`Config::from_env_map`]: the server's configuration from a map of its
//! `EVENTSTORE_*` variables, for callers that run the server in their own
//! process. The variables go through the server's own command line (its
//! types, defaults and the rules between flags), never through a second
//! parser; refusals name the variables, not the flags.

use super::Config;
use clap::{
    CommandFactory, FromArgMatches,
    error::{ContextKind, ContextValue, ErrorKind},
};
use std::{
    collections::BTreeMap,
    ffi::{OsStr, OsString},
};

/// The prefix of every variable the server reads.
pub const ENV_PREFIX: &str = "EVENTSTORE_";

/// Why [`Config::from_env_map`] refused its variables. The messages name
/// the variables, not the flags: the caller set variables.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    /// An `EVENTSTORE_*` variable that no flag reads (a typo, or a setting
    /// of another program).
    #[error("{key}={value:?} is not a setting of eventstore-server")]
    NotASetting {
        /// The variable.
        key: String,
        /// Its value.
        value: OsString,
    },
    /// The command line refused the values (a bad number, a setting
    /// without the one it needs, two that exclude each other).
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// The configuration the server binary would read from an environment
    /// holding exactly `vars` (the variables without the `EVENTSTORE_`
    /// prefix are skipped, as the binary skips them; of a variable given
    /// twice the last wins), without reading the process's environment or
    /// command line. Each variable becomes its flag's `--flag=value` and
    /// goes through this command line, so the types, defaults and the rules
    /// between flags (`requires`, `conflicts_with`) have one owner: the
    /// declarations on [`Config`].
    pub fn from_env_map<K, V>(vars: impl IntoIterator<Item = (K, V)>) -> Result<Self, EnvError>
    where
        K: AsRef<str>,
        V: AsRef<OsStr>,
    {
        let settings = EnvSettings::new();
        let vars: BTreeMap<String, OsString> = vars
            .into_iter()
            .filter(|(key, _)| key.as_ref().starts_with(ENV_PREFIX))
            .map(|(key, value)| (key.as_ref().to_owned(), value.as_ref().to_owned()))
            .collect();
        let mut args = Vec::with_capacity(vars.len());
        for (key, value) in &vars {
            args.extend(settings.arg(key, value)?);
        }
        let explain = |e: clap::Error| EnvError::Invalid(settings.explain(&e, &args));
        let matches = settings
            .parse(args.iter().map(|arg| &arg.arg))
            .map_err(explain)?;
        Self::from_arg_matches(&matches).map_err(explain)
    }
}

/// The server's command line seen from its environment variables: which
/// flag reads which variable, and a command that reads no environment.
struct EnvSettings {
    /// The command, every `env` removed: the values come from the map only,
    /// never from the process (whose own `EVENTSTORE_*` variables, in a test
    /// process, belong to something else).
    command: clap::Command,
    /// Variable -> its flag.
    by_env: BTreeMap<String, EnvFlag>,
}

/// The flag that reads one variable.
struct EnvFlag {
    long: String,
    /// `false` for a switch (`--probe`-like): present or not, no value.
    takes_value: bool,
    /// A secret (`--password`, `--token`): never quoted in a message.
    hide_value: bool,
}

/// One variable as a command-line argument.
struct EnvArg<'a> {
    key: &'a str,
    value: &'a OsStr,
    arg: OsString,
}

impl EnvSettings {
    fn new() -> Self {
        let command = Config::command();
        let by_env = command
            .get_arguments()
            .filter_map(|arg| {
                let env = arg.get_env()?.to_str()?.to_owned();
                let flag = EnvFlag {
                    long: arg.get_long()?.to_owned(),
                    takes_value: arg.get_action().takes_values(),
                    hide_value: arg.is_hide_env_values_set(),
                };
                Some((env, flag))
            })
            .collect();
        let command = command.mut_args(|arg| arg.env(None));
        Self { command, by_env }
    }

    /// The argument that sets `key` to `value`: `--flag=value` (with `=`,
    /// so a value starting with `-` stays a value), or for a switch
    /// `--flag` when `true` and nothing when `false` (what clap accepts in
    /// a switch's variable).
    fn arg<'a>(&self, key: &'a str, value: &'a OsStr) -> Result<Option<EnvArg<'a>>, EnvError> {
        let Some(flag) = self.by_env.get(key) else {
            return Err(EnvError::NotASetting {
                key: key.to_owned(),
                value: value.to_owned(),
            });
        };
        let mut arg = OsString::from(format!("--{}", flag.long));
        if flag.takes_value {
            arg.push("=");
            arg.push(value);
            return Ok(Some(EnvArg { key, value, arg }));
        }
        match value.to_str() {
            Some("true") => Ok(Some(EnvArg { key, value, arg })),
            Some("false") => Ok(None),
            _ => Err(EnvError::Invalid(format!(
                "{key}={value:?} is not valid: expected true or false"
            ))),
        }
    }

    fn parse<'a>(
        &self,
        args: impl IntoIterator<Item = &'a OsString>,
    ) -> Result<clap::ArgMatches, clap::Error> {
        let program = OsString::from(self.command.get_name());
        let args = args.into_iter().cloned();
        self.command
            .clone()
            .try_get_matches_from(std::iter::once(program).chain(args))
    }

    /// clap's error about `args` in the caller's words: the variables
    /// instead of the flags.
    fn explain(&self, error: &clap::Error, args: &[EnvArg<'_>]) -> String {
        let named = |kind| self.variables(error.get(kind));
        match error.kind() {
            ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
                let key = named(ContextKind::InvalidArg).join(", ");
                let why = std::error::Error::source(error)
                    .map_or_else(|| "not a value it takes".to_owned(), ToString::to_string);
                let secret = self.by_env.get(&key).is_none_or(|flag| flag.hide_value);
                match args.iter().find(|arg| arg.key == key) {
                    Some(arg) if !secret => format!("{key}={:?} is not valid: {why}", arg.value),
                    _ => format!("{key} is not valid: {why}"),
                }
            }
            ErrorKind::MissingRequiredArgument => {
                let missing = named(ContextKind::InvalidArg);
                let needing: Vec<&str> = args
                    .iter()
                    .filter(|arg| self.needs_any(&arg.arg, &missing))
                    .map(|arg| arg.key)
                    .collect();
                if needing.is_empty() {
                    return format!("{} not set: the server needs it", is_are(&missing));
                }
                let together = if needing.len() + missing.len() == 2 {
                    "both"
                } else {
                    "them together"
                };
                format!(
                    "{} set but {} not: the server needs {together}",
                    is_are(&needing),
                    is_are(&missing)
                )
            }
            ErrorKind::ArgumentConflict => {
                let mut both = named(ContextKind::InvalidArg);
                both.extend(named(ContextKind::PriorArg));
                format!(
                    "{} are both set: the server takes one or the other",
                    both.join(" and ")
                )
            }
            _ => {
                let text = error.render().to_string();
                let first = text.lines().next().unwrap_or_default();
                let first = first.strip_prefix("error: ").unwrap_or(first);
                format!("the server refused its settings: {first}")
            }
        }
    }

    /// Whether `arg` alone makes clap ask for one of `missing` (so that the
    /// message can say which setting needs them: clap's `requires` has no
    /// getter, and this keeps clap the only owner of the rule).
    fn needs_any(&self, arg: &OsString, missing: &[String]) -> bool {
        self.parse([arg]).is_err_and(|e| {
            e.kind() == ErrorKind::MissingRequiredArgument
                && self
                    .variables(e.get(ContextKind::InvalidArg))
                    .iter()
                    .any(|name| missing.contains(name))
        })
    }

    /// The variables of the flags clap names in a context value (`--max-page-size
    /// <MAX_PAGE_SIZE>`); what is not a flag of a variable stays as clap wrote it.
    fn variables(&self, value: Option<&ContextValue>) -> Vec<String> {
        let shown: Vec<&str> = match value {
            Some(ContextValue::String(one)) => vec![one.as_str()],
            Some(ContextValue::Strings(many)) => many.iter().map(String::as_str).collect(),
            _ => Vec::new(),
        };
        shown
            .into_iter()
            .map(|shown| {
                let long = shown
                    .trim_start_matches('-')
                    .split([' ', '=', '<'])
                    .next()
                    .unwrap_or_default();
                self.by_env
                    .iter()
                    .find(|(_, flag)| flag.long == long)
                    .map_or_else(|| shown.to_owned(), |(env, _)| env.clone())
            })
            .collect()
    }
}

/// `A is`, `A and B are`, `A, B and C are`.
fn is_are<S: AsRef<str>>(names: &[S]) -> String {
    match names {
        [] => String::new(),
        [one] => format!("{} is", one.as_ref()),
        [init @ .., last] => {
            let init: Vec<&str> = init.iter().map(AsRef::as_ref).collect();
            format!("{} and {} are", init.join(", "), last.as_ref())
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::config::{LimitFlags, TransportFlags};
    use eventstore_engine::{Limits, transport::TransportSettings};
    use std::{net::SocketAddr, path::PathBuf};

    fn refused(vars: &[(&str, &str)]) -> String {
        Config::from_env_map(vars.iter().copied())
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn every_variable_reaches_its_flag() {
        let config = Config::from_env_map([
            ("EVENTSTORE_MAX_PAGE_SIZE", "7"),
            ("EVENTSTORE_TOKEN", "-starts-with-a-dash"),
            ("EVENTSTORE_DATA_DIR", "/data"),
            ("EVENTSTORE_MAX_PAGE_SIZE", "8"),
            ("PATH", "/bin"),
        ])
        .unwrap();
        assert_eq!(config.limits.max_page_size, 8, "the last one wins");
        assert_eq!(
            config.admission.token.as_deref(),
            Some("-starts-with-a-dash")
        );
        assert_eq!(config.data_dir, Some(PathBuf::from("/data")));
        let defaults = Config::from_env_map::<&str, &str>([]).unwrap();
        assert_eq!(defaults.listen, SocketAddr::from(([127, 0, 0, 1], 50051)));
        assert_eq!(*defaults.limits, LimitFlags::from(&Limits::default()));
        assert_eq!(
            defaults.admission.transport,
            TransportFlags::from(&TransportSettings::default())
        );
    }

    #[test]
    fn an_unknown_variable_is_named() {
        let error = Config::from_env_map([("EVENTSTORE_MAX_PAGES", "3")]).unwrap_err();
        assert_eq!(
            error,
            EnvError::NotASetting {
                key: "EVENTSTORE_MAX_PAGES".to_owned(),
                value: "3".into()
            }
        );
    }

    #[test]
    fn clap_refusals_name_the_variables() {
        assert_eq!(
            refused(&[("EVENTSTORE_MAX_PAGE_SIZE", "many")]),
            "EVENTSTORE_MAX_PAGE_SIZE=\"many\" is not valid: invalid digit found in string"
        );
        assert_eq!(
            refused(&[("EVENTSTORE_USERNAME", "admin")]),
            "EVENTSTORE_USERNAME is set but EVENTSTORE_PASSWORD is not: the server needs both"
        );
        assert_eq!(
            refused(&[("EVENTSTORE_TLS_CLIENT_CA", "/ca.pem")]),
            "EVENTSTORE_TLS_CLIENT_CA is set but EVENTSTORE_TLS_KEY and EVENTSTORE_TLS_CERT \
             are not: the server needs them together"
        );
        let text = refused(&[
            ("EVENTSTORE_TOKEN", "secret"),
            ("EVENTSTORE_USERS_FILE", "/users"),
        ]);
        assert!(
            text.contains("EVENTSTORE_TOKEN") && text.contains("EVENTSTORE_USERS_FILE"),
            "{text}"
        );
        assert!(!text.contains("secret"), "{text}");
    }
}
