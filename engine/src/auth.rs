//! Optional username/password authentication (`authorization: Basic ...`),
//! shared by `eventstore-server` and `eventstore-mock`.
//!
//! Two modes: one username and password for everything
//! ([`BasicAuth::required`]), or a users file mapping each user to the
//! tenants they may use ([`BasicAuth::users`], format in [`UsersFile`]).
//! Missing and wrong credentials get the same `UNAUTHENTICATED` message, so
//! a caller learns nothing about which part was wrong; the comparison takes
//! the same time whatever the credentials sent (in the users mode it
//! compares against every user, so it depends only on how many there are).
//! An accepted call carries a [`Principal`] in its extensions, which a
//! service checks the request's tenant against with [`Principal::may_use`].

use base64::{Engine as _, engine::general_purpose::STANDARD};
use std::{collections::BTreeSet, path::Path, sync::Arc};
use tonic::{Request, Status, service::Interceptor};

/// The message of every refused call.
pub const REFUSED: &str = "missing or invalid credentials";

/// Checks the `authorization` metadata of each call (when configured).
#[derive(Clone, Default)]
pub struct BasicAuth {
    /// `None` lets every call in.
    users: Option<Arc<[User]>>,
}

#[derive(Clone)]
struct User {
    /// `user:password`, as a Basic token decodes.
    credentials: Vec<u8>,
    principal: Principal,
}

/// Who a call was accepted as: put in the request's extensions by
/// [`BasicAuth`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The username.
    pub username: String,
    /// The tenants this user may use; `None` for any.
    pub tenants: Option<Arc<BTreeSet<String>>>,
}

impl Principal {
    /// Whether this user may read and write `tenant_id`.
    pub fn may_use(&self, tenant_id: &str) -> bool {
        self.tenants.as_ref().is_none_or(|t| t.contains(tenant_id))
    }

    /// `Err(PERMISSION_DENIED)` naming the user and the tenant unless the
    /// principal in `extensions` (if any) may use `tenant_id`.
    pub fn check(extensions: &http::Extensions, tenant_id: &str) -> Result<(), Status> {
        match extensions.get::<Principal>() {
            Some(principal) if !principal.may_use(tenant_id) => {
                Err(Status::permission_denied(format!(
                    "user {:?} may not use tenant {tenant_id:?}",
                    principal.username
                )))
            }
            _ => Ok(()),
        }
    }
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuth")
            .field("enabled", &self.users.is_some())
            .field("users", &self.users.as_ref().map_or(0, |u| u.len()))
            .finish()
    }
}

impl BasicAuth {
    /// Requires `username:password`; that user may use every tenant.
    pub fn required(username: &str, password: &str) -> Self {
        Self {
            users: Some(Arc::from(vec![User {
                credentials: format!("{username}:{password}").into_bytes(),
                principal: Principal {
                    username: username.to_owned(),
                    tenants: None,
                },
            }])),
        }
    }

    /// Requires the credentials of one of `file`'s users; each may use only
    /// the tenants listed for it.
    pub fn users(file: &UsersFile) -> Self {
        Self {
            users: Some(
                file.users
                    .iter()
                    .map(|u| User {
                        credentials: format!("{}:{}", u.username, u.password).into_bytes(),
                        principal: Principal {
                            username: u.username.clone(),
                            tenants: u.tenants.clone().map(Arc::new),
                        },
                    })
                    .collect::<Vec<_>>()
                    .into(),
            ),
        }
    }

    /// Lets every call in.
    pub fn disabled() -> Self {
        Self::default()
    }

    /// Whether credentials are required.
    pub fn is_enabled(&self) -> bool {
        self.users.is_some()
    }

    /// `Ok(None)` when disabled, `Ok(Some(principal))` for valid
    /// credentials, `Err(())` otherwise.
    fn authenticate(&self, header: Option<&[u8]>) -> Result<Option<Principal>, ()> {
        let Some(users) = &self.users else {
            return Ok(None);
        };
        let sent = header
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
            .and_then(|(_, token)| STANDARD.decode(token.trim()).ok())
            .unwrap_or_default();
        // Every user is compared, so the time does not say which one matched.
        let mut found = None;
        for user in users.iter() {
            if constant_time_eq(&sent, &user.credentials) && found.is_none() {
                found = Some(&user.principal);
            }
        }
        found.cloned().map(Some).ok_or(())
    }

    #[cfg(test)]
    fn accepts(&self, header: Option<&[u8]>) -> bool {
        self.authenticate(header).is_ok()
    }
}

/// A users file: one user per line, `username:password:tenants`, where
/// `tenants` is a comma-separated list of tenant ids or `*` for every
/// tenant. The username may not contain `:`; the password is everything
/// between the first and the last `:` (so it may contain `:`); tenant ids
/// may not contain `,` or `:`. Blank lines and lines starting with `#` are
/// ignored. Example:
///
/// ```text
/// # user:password:tenants
/// alice:s3cret:acme,acme-staging
/// ops:0ps-pass:*
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsersFile {
    users: Vec<UserEntry>,
}

#[derive(Clone, PartialEq, Eq)]
struct UserEntry {
    username: String,
    password: String,
    tenants: Option<BTreeSet<String>>,
}

impl std::fmt::Debug for UserEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserEntry")
            .field("username", &self.username)
            .field("tenants", &self.tenants)
            .finish_non_exhaustive()
    }
}

/// A users file that cannot be used; the message names the file and the line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UsersFileError {
    /// The file cannot be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A line is not `username:password:tenants`.
    #[error(
        "{path}: line {line}: {reason} (expected `username:password:tenant1,tenant2` or `username:password:*`)"
    )]
    Line {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong (never quotes the password).
        reason: String,
    },
    /// The file lists no user (every call would be refused).
    #[error("{path}: no users")]
    Empty {
        /// The file.
        path: String,
    },
}

impl UsersFile {
    /// Reads and checks `path`.
    pub fn read(path: &Path) -> Result<Self, UsersFileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| UsersFileError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::parse(&shown, &text)
    }

    /// Parses the text of a users file; `path` names it in errors.
    pub fn parse(path: &str, text: &str) -> Result<Self, UsersFileError> {
        let mut users: Vec<UserEntry> = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |reason: String| UsersFileError::Line {
                path: path.to_owned(),
                line: index + 1,
                reason,
            };
            let (username, rest) = line
                .split_once(':')
                .ok_or_else(|| bad("no `:` after the username".to_owned()))?;
            let (password, tenants) = rest
                .rsplit_once(':')
                .ok_or_else(|| bad("no `:` before the tenants".to_owned()))?;
            if username.is_empty() {
                return Err(bad("empty username".to_owned()));
            }
            if password.is_empty() {
                return Err(bad(format!("empty password for user {username:?}")));
            }
            if users.iter().any(|u| u.username == username) {
                return Err(bad(format!("user {username:?} is listed twice")));
            }
            let tenants = match tenants.trim() {
                "*" => None,
                list => {
                    let set: BTreeSet<String> = list
                        .split(',')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(str::to_owned)
                        .collect();
                    if set.is_empty() {
                        return Err(bad(format!(
                            "no tenants for user {username:?} (use `*` for every tenant)"
                        )));
                    }
                    Some(set)
                }
            };
            users.push(UserEntry {
                username: username.to_owned(),
                password: password.to_owned(),
                tenants,
            });
        }
        if users.is_empty() {
            return Err(UsersFileError::Empty {
                path: path.to_owned(),
            });
        }
        Ok(Self { users })
    }

    /// How many users the file lists.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether the file lists no user (never true for a parsed file).
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// Equal contents, in time that depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

impl Interceptor for BasicAuth {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .map(|v| v.as_bytes());
        match self.authenticate(header) {
            Ok(None) => Ok(request),
            Ok(Some(principal)) => {
                let mut request = request;
                request.extensions_mut().insert(principal);
                Ok(request)
            }
            Err(()) => Err(Status::unauthenticated(REFUSED)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn header(user_pass: &str) -> Vec<u8> {
        format!("Basic {}", STANDARD.encode(user_pass)).into_bytes()
    }

    #[test]
    fn accepts_only_the_configured_credentials() {
        let auth = BasicAuth::required("admin", "s3cret");
        assert!(auth.accepts(Some(&header("admin:s3cret"))));
        assert!(auth.accepts(Some(
            format!("basic {}", STANDARD.encode("admin:s3cret")).as_bytes()
        )));
        assert!(!auth.accepts(Some(&header("admin:wrong"))));
        assert!(!auth.accepts(Some(&header("other:s3cret"))));
        assert!(!auth.accepts(Some(&header("admin:s3cret2"))));
        assert!(!auth.accepts(Some(b"Bearer abc")));
        assert!(!auth.accepts(Some(b"Basic !!!")));
        assert!(!auth.accepts(None));
        assert!(BasicAuth::disabled().accepts(None));
    }

    #[test]
    fn users_file_maps_each_user_to_its_tenants() {
        let file =
            UsersFile::parse("users", "# comment\n\nalice:pa:ss:acme, beta\nops:x:*\n").unwrap();
        let auth = BasicAuth::users(&file);
        let alice = auth
            .authenticate(Some(&header("alice:pa:ss")))
            .unwrap()
            .unwrap();
        assert!(alice.may_use("acme") && alice.may_use("beta") && !alice.may_use("other"));
        let ops = auth.authenticate(Some(&header("ops:x"))).unwrap().unwrap();
        assert!(ops.may_use("anything"));
        assert!(!auth.accepts(Some(&header("alice:x"))));
        assert!(!auth.accepts(None));
    }

    #[test]
    fn users_file_errors_name_the_line_and_not_the_password() {
        for (text, line, reason) in [
            ("alice", 1, "no `:` after the username"),
            ("\nalice:secret", 2, "no `:` before the tenants"),
            ("alice:secret:", 1, "no tenants for user \"alice\""),
            ("a:b:t\na:c:t", 2, "listed twice"),
        ] {
            let error = UsersFile::parse("f", text).unwrap_err().to_string();
            assert!(error.starts_with(&format!("f: line {line}: ")), "{error}");
            assert!(error.contains(reason), "{error}");
            assert!(!error.contains("secret"), "{error}");
        }
        assert_eq!(
            UsersFile::parse("f", "# nobody\n").unwrap_err().to_string(),
            "f: no users"
        );
    }
}
