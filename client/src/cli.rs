//! [`ConnectArgs`]: the connection options of every command line that
//! connects to a user's store (`eventstore-mock record`,
//! `eventstore-conformance check`), defined once and flattened into each,
//! with the same environment variables everywhere. The endpoint stays with
//! each command (`--from`, `--endpoint`), as its name differs.
//!
//! The timeouts (`--connect-timeout`, `--request-timeout`) are in seconds,
//! parsed by [`seconds`]: a positive, finite number.

use crate::connect::{CONNECT_TIMEOUT, ConnectOptions, MAX_TIMEOUT, Pem, REQUEST_TIMEOUT};
use std::{fmt, path::PathBuf, time::Duration};

/// A duration given in seconds on a command line (`--request-timeout 1.5`):
/// a positive, finite number. The error says what is wrong with the value;
/// clap puts the flag and the value before it.
pub fn seconds(text: &str) -> Result<Duration, String> {
    let number: f64 = text
        .trim()
        .parse()
        .map_err(|_| "not a number of seconds (e.g. 10 or 0.5)".to_owned())?;
    if !number.is_finite() || number <= 0.0 {
        return Err("must be a positive number of seconds (e.g. 10 or 0.5)".to_owned());
    }
    if number > MAX_TIMEOUT.as_secs_f64() {
        return Err(format!(
            "too large: at most {} seconds (99,999,999 hours, gRPC's longest deadline)",
            MAX_TIMEOUT.as_secs()
        ));
    }
    Ok(Duration::from_secs_f64(number))
}

/// TLS, credentials and timeouts. The Python keywords map one to one
/// ([`crate::connect::Opt::name`]): `--tls-ca` is
/// `tls={"ca_certificate": ...}`, `--tls-cert` `client_certificate`,
/// `--tls-key` `client_key`, `--tls-domain` `server_name`,
/// `--username`/`--password` `credentials=`, `--token` `token=`,
/// `--connect-timeout` `connection_timeout=`, `--request-timeout`
/// `request_timeout=`.
#[derive(Clone, clap::Args)]
#[command(next_help_heading = "Connection")]
pub struct ConnectArgs {
    /// PEM file of the CA that signed the store's certificate (turns TLS on).
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,

    /// PEM client certificate for mutual TLS (with --tls-key; turns TLS on).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// The name the store's certificate is checked against (default: the host).
    #[arg(long, value_name = "NAME")]
    pub tls_domain: Option<String>,

    /// Username for `authorization: Basic` (with --password).
    #[arg(long, value_name = "USER", requires = "password")]
    pub username: Option<String>,

    /// Password for --username.
    #[arg(
        long,
        value_name = "PASSWORD",
        env = "EVENTSTORE_PASSWORD",
        requires = "username",
        hide_env_values = true
    )]
    pub password: Option<String>,

    /// Bearer token, sent as `authorization: Bearer TOKEN` (instead of
    /// --username/--password).
    #[arg(
        long,
        env = "EVENTSTORE_TOKEN",
        value_name = "TOKEN",
        conflicts_with_all = ["username", "password"],
        hide_env_values = true
    )]
    pub token: Option<String>,

    /// Seconds connecting to the store may take before it is called
    /// unreachable (a positive number).
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = seconds, allow_negative_numbers = true)]
    pub connect_timeout: Duration,

    /// Seconds one call may take (e.g. one page of a read) before it is
    /// given up (a positive number).
    #[arg(long, value_name = "SECONDS", default_value = "60", value_parser = seconds, allow_negative_numbers = true)]
    pub request_timeout: Duration,
}

impl Default for ConnectArgs {
    /// No TLS, no credentials; the tools' timeouts ([`CONNECT_TIMEOUT`],
    /// [`REQUEST_TIMEOUT`]), as the command line's defaults.
    fn default() -> Self {
        Self {
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
            tls_domain: None,
            username: None,
            password: None,
            token: None,
            connect_timeout: CONNECT_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
        }
    }
}

impl fmt::Debug for ConnectArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectArgs")
            .field("tls_ca", &self.tls_ca)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("tls_domain", &self.tls_domain)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("token", &self.token.as_ref().map(|_| "<hidden>"))
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

impl ConnectArgs {
    /// The options of a connection to `endpoint`, with the tools' timeouts.
    pub fn options(&self, endpoint: &str) -> ConnectOptions {
        ConnectOptions {
            endpoint: endpoint.to_owned(),
            tls_ca: self.tls_ca.clone().map(Pem::File),
            tls_cert: self.tls_cert.clone().map(Pem::File),
            tls_key: self.tls_key.clone().map(Pem::File),
            tls_domain: self.tls_domain.clone(),
            username: self.username.clone(),
            password: self.password.clone(),
            token: self.token.clone(),
            connect_timeout: Some(self.connect_timeout),
            request_timeout: Some(self.request_timeout),
            ..ConnectOptions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[arg(long)]
        endpoint: String,
        #[command(flatten)]
        connect: ConnectArgs,
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(["tool", "--endpoint", "x:1"].iter().chain(args))
    }

    #[test]
    fn the_pairs_and_the_token_rule_are_the_parser_s() {
        for (args, missing) in [
            (&["--tls-cert", "c.pem"][..], "--tls-key"),
            (&["--tls-key", "k.pem"][..], "--tls-cert"),
            (&["--username", "u"][..], "--password"),
        ] {
            let error = parse(args).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(
                error.contains("required") && error.contains(missing),
                "{args:?}: {error}"
            );
        }
        let error = parse(&["--username", "u", "--password", "p", "--token", "t"])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("cannot be used with"), "{error}");
    }

    #[test]
    fn options_carry_every_flag() {
        let cli = parse(&[
            "--tls-ca",
            "ca.pem",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
            "--tls-domain",
            "store.internal",
            "--token",
            "t0ken",
        ])
        .expect("parses");
        let options = cli.connect.options(&cli.endpoint);
        assert_eq!(options.endpoint, "x:1");
        assert_eq!(options.tls_ca, Some(Pem::File("ca.pem".into())));
        assert_eq!(options.tls_cert, Some(Pem::File("c.pem".into())));
        assert_eq!(options.tls_key, Some(Pem::File("k.pem".into())));
        assert_eq!(options.tls_domain.as_deref(), Some("store.internal"));
        assert_eq!(options.token.as_deref(), Some("t0ken"));
        assert!(!format!("{:?}", cli.connect).contains("t0ken"));
        assert_eq!(options.connect_timeout, Some(CONNECT_TIMEOUT));
        assert_eq!(options.request_timeout, Some(REQUEST_TIMEOUT));
    }

    #[test]
    fn the_timeouts_are_positive_seconds() {
        let cli = parse(&["--request-timeout", "1", "--connect-timeout", "0.25"]).expect("parses");
        let options = cli.connect.options(&cli.endpoint);
        assert_eq!(options.request_timeout, Some(Duration::from_secs(1)));
        assert_eq!(options.connect_timeout, Some(Duration::from_millis(250)));
        // The parser's defaults are the Default's (the library's constants).
        let defaults = parse(&[]).expect("parses").connect;
        let default = ConnectArgs::default();
        assert_eq!(defaults.request_timeout, default.request_timeout);
        assert_eq!(defaults.connect_timeout, default.connect_timeout);
        for flag in ["--request-timeout", "--connect-timeout"] {
            for value in ["0", "-1", "NaN", "inf", "ten", "1e30"] {
                let error = parse(&[flag, value])
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                assert!(
                    error.contains(flag) && error.contains(&format!("'{value}'")),
                    "{flag} {value}: {error}"
                );
                assert!(error.contains("seconds"), "{flag} {value}: {error}");
            }
            // Beyond gRPC's longest deadline: refused here, where tonic
            // would panic on the request's `grpc-timeout`.
            let error = parse(&[flag, "1e12"])
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                error.contains("at most 359999996400 seconds (99,999,999 hours"),
                "{flag}: {error}"
            );
        }
        assert!(parse(&["--request-timeout", "359999996400"]).is_ok());
    }

    #[test]
    fn a_request_never_carries_a_deadline_beyond_grpcs_longest() {
        let request = crate::request((), None, Some(Duration::MAX));
        assert_eq!(
            request
                .metadata()
                .get("grpc-timeout")
                .map(|v| v.to_str().ok()),
            Some(Some("99999999H"))
        );
    }
}
