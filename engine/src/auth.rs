//! Optional authentication, shared by `eventstore-server` and
//! `eventstore-mock`: username and password (`authorization: Basic ...`)
//! and bearer tokens (`authorization: Bearer <token>`, as the reference's
//! clients send through its gateway).
//!
//! Two modes: one username and password and/or one token for everything
//! ([`BasicAuth::required`], [`BasicAuth::with_token`]), or a users file
//! mapping each user (its password, its token, or both) to the tenants they
//! may use ([`BasicAuth::users`], format in [`UsersFile`]). The header
//! values a client sends ([`basic_header`], [`bearer_header`]) and the
//! token rule ([`check_token`]) are the client crate's
//! (`eventstore_client::auth`), re-exported here, so both sides agree on
//! them.
//! Missing and wrong credentials get the same `UNAUTHENTICATED` message, so
//! a caller learns nothing about which part was wrong; the comparison takes
//! the same time whatever the credentials sent (in the users mode it
//! compares against every user, so it depends only on how many there are).
//! An accepted call carries a [`Principal`] in its extensions, which a
//! service checks the request's tenant against with [`Principal::may_use`].

use base64::{Engine as _, engine::general_purpose::STANDARD};
pub use eventstore_client::auth::{
    MAX_CREDENTIALS_BYTES, TokenError, basic_header, bearer_header, check_token,
};
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
    /// `user:password`, as a Basic token decodes; `None` for a user with
    /// only a token.
    credentials: Option<Vec<u8>>,
    /// The bearer token; `None` for a user with only a password.
    token: Option<Vec<u8>>,
    principal: Principal,
}

/// The name a token configured alone (not in a users file) is accepted as.
pub const TOKEN_PRINCIPAL: &str = "bearer-token";

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
            // The guard runs before the request's own checks, so the tenant
            // id is as the client sent it: quoted with the length rule of
            // every other message (a huge id must not make the status
            // message so large that clients see a metadata-size error).
            Some(principal) if !principal.may_use(tenant_id) => {
                Err(Status::permission_denied(format!(
                    "user {:?} may not use tenant {}",
                    principal.username,
                    crate::validate::quote(tenant_id)
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
                credentials: Some(format!("{username}:{password}").into_bytes()),
                token: None,
                principal: Principal {
                    username: username.to_owned(),
                    tenants: None,
                },
            }])),
        }
    }

    /// Also accepts `authorization: Bearer <token>`, for every tenant (as
    /// [`TOKEN_PRINCIPAL`]); on a disabled `BasicAuth`, the token becomes
    /// the only way in.
    pub fn with_token(self, token: &str) -> Result<Self, TokenError> {
        check_token(token)?;
        let mut users: Vec<User> = self.users.as_deref().unwrap_or_default().to_vec();
        users.push(User {
            credentials: None,
            token: Some(token.as_bytes().to_vec()),
            principal: Principal {
                username: TOKEN_PRINCIPAL.to_owned(),
                tenants: None,
            },
        });
        Ok(Self {
            users: Some(users.into()),
        })
    }

    /// Requires the credentials of one of `file`'s users; each may use only
    /// the tenants listed for it.
    pub fn users(file: &UsersFile) -> Self {
        Self {
            users: Some(
                file.users
                    .iter()
                    .map(|u| User {
                        credentials: u
                            .password
                            .as_ref()
                            .map(|p| format!("{}:{p}", u.username).into_bytes()),
                        token: u.token.as_ref().map(|t| t.as_bytes().to_vec()),
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
        let Some((scheme, value)) = header
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| h.split_once(' '))
        else {
            return Err(());
        };
        let value = value.trim();
        let (sent, bearer) = if scheme.eq_ignore_ascii_case("basic") {
            (STANDARD.decode(value).map_err(|_| ())?, false)
        } else if scheme.eq_ignore_ascii_case("bearer") {
            (value.as_bytes().to_vec(), true)
        } else {
            return Err(());
        };
        // Every user is compared, so the time does not say which one matched
        // (only whether users have a password or a token, which is no secret).
        let mut found = None;
        for user in users.iter() {
            let secret = if bearer {
                &user.token
            } else {
                &user.credentials
            };
            if secret
                .as_deref()
                .is_some_and(|s| constant_time_eq(&sent, s))
                && found.is_none()
            {
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
/// tenant, optionally followed by `:token=TOKEN`, the user's bearer token
/// (RFC 6750 `b64token` characters, so it holds no `:`). The username may
/// not contain `:`; the password is everything between the first `:` and
/// the `:` before the tenants (so it may contain `:`), and may be empty
/// only for a user with a token (who then logs in only with the token);
/// tenant ids may not contain `,` or `:`, and `*` stands alone. Names and
/// passwords are taken exactly as written (a username with spaces around
/// it is refused, as a likely typo); `username:password` and a token are at
/// most [`MAX_CREDENTIALS_BYTES`]. Blank lines, lines starting with `#` and
/// a leading byte-order mark are ignored. Example:
///
/// ```text
/// # user:password:tenants[:token=TOKEN]
/// alice:s3cret:acme,acme-staging
/// ops:0ps-pass:*:token=b3BzLXRva2Vu
/// ci-bot::acme:token=Y2ktYm90LXRva2Vu
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsersFile {
    users: Vec<UserEntry>,
}

#[derive(Clone, PartialEq, Eq)]
struct UserEntry {
    username: String,
    password: Option<String>,
    token: Option<String>,
    tenants: Option<BTreeSet<String>>,
}

impl std::fmt::Debug for UserEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserEntry")
            .field("username", &self.username)
            .field("tenants", &self.tenants)
            .field("password", &self.password.is_some())
            .field("token", &self.token.is_some())
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
        "{path}: line {line}: {reason} (expected `username:password:tenant1,tenant2` or `username:password:*`, optionally followed by `:token=TOKEN`)"
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
        // A byte-order mark (editors on Windows write one) is not part of the
        // first line: left in, it turned a `# comment` into an account.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
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
            // An optional last field `token=TOKEN`: tokens hold no `:`.
            let (line, token) = match line.rsplit_once(':') {
                Some((rest, last)) if last.trim_start().starts_with("token=") => {
                    let token = last.trim_start().trim_start_matches("token=").trim();
                    check_token(token).map_err(|e| bad(format!("bad token: {e}")))?;
                    (rest, Some(token.to_owned()))
                }
                _ => (line, None),
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
            if username.trim() != username {
                return Err(bad(format!(
                    "username {username:?} has spaces around it (names and passwords are taken exactly as written; remove the spaces around `:`)"
                )));
            }
            if username.len() + 1 + password.len() > MAX_CREDENTIALS_BYTES {
                return Err(bad(format!(
                    "the password of user {username:?} is {} bytes: with the username it must stay within {MAX_CREDENTIALS_BYTES} bytes, or its Basic header is larger than HTTP/2 clients and servers accept and the user could never log in",
                    password.len()
                )));
            }
            if password.is_empty() && token.is_none() {
                return Err(bad(format!(
                    "empty password for user {username:?} (give a password, or a token with `:token=TOKEN`)"
                )));
            }
            if users.iter().any(|u| u.username == username) {
                return Err(bad(format!("user {username:?} is listed twice")));
            }
            if let Some(token) = &token
                && users.iter().any(|u| u.token.as_ref() == Some(token))
            {
                return Err(bad(format!(
                    "user {username:?} has the token of another user (each token names one user)"
                )));
            }
            let tenants = match tenants.trim() {
                "*" => None,
                list => {
                    if list.split(',').any(|t| t.trim() == "*") {
                        return Err(bad(format!(
                            "`*` inside the tenant list of user {username:?}: `*` (every tenant) stands alone"
                        )));
                    }
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
                password: (!password.is_empty()).then(|| password.to_owned()),
                token,
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
        assert!(!auth.accepts(Some(b"Bearer ")));
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
    fn a_token_is_accepted_as_bearer_beside_or_instead_of_basic() {
        let auth = BasicAuth::disabled().with_token("t0k.en-1_~+/==").unwrap();
        assert!(auth.accepts(Some(b"Bearer t0k.en-1_~+/==")));
        assert!(auth.accepts(Some(b"bearer t0k.en-1_~+/==")));
        assert!(!auth.accepts(Some(b"Bearer t0k.en-1_~+/=")));
        assert!(!auth.accepts(Some(b"Bearer t0k.en-1_~+/==x")));
        assert!(!auth.accepts(Some(b"Bearer ")));
        assert!(!auth.accepts(Some(&header("t0k.en-1_~+/==:"))));
        assert!(!auth.accepts(None));
        // Basic and a token together: either gets in, as itself.
        let both = BasicAuth::required("admin", "s3cret")
            .with_token("abc")
            .unwrap();
        assert!(both.accepts(Some(&header("admin:s3cret"))));
        assert!(both.accepts(Some(b"Bearer abc")));
        assert!(!both.accepts(Some(b"Bearer s3cret")));
        assert!(!both.accepts(Some(format!("Basic {}", STANDARD.encode("abc")).as_bytes())));
        let who = both.authenticate(Some(b"Bearer abc")).unwrap().unwrap();
        assert_eq!(who.username, TOKEN_PRINCIPAL);
    }

    #[test]
    fn bad_tokens_are_refused_without_being_quoted() {
        for token in ["", "==", "has space", "a:b", "t\u{e9}", "a=b"] {
            let error = check_token(token).unwrap_err().to_string();
            assert!(token.len() < 3 || !error.contains(token), "{error}");
            assert!(BasicAuth::disabled().with_token(token).is_err());
            assert!(bearer_header(token).is_err());
        }
        assert_eq!(bearer_header("abc=").unwrap(), "Bearer abc=");
        assert_eq!(
            basic_header("u", "p:q"),
            format!("Basic {}", STANDARD.encode("u:p:q"))
        );
    }

    #[test]
    fn users_file_tokens_belong_to_their_user_and_its_tenants() {
        let file = UsersFile::parse(
            "users",
            "alice:pa:ss:acme:token=alice-t0ken\nci::beta : token=ci.t0ken\nops:x:*\n",
        )
        .unwrap();
        let auth = BasicAuth::users(&file);
        let alice = auth
            .authenticate(Some(b"Bearer alice-t0ken"))
            .unwrap()
            .unwrap();
        assert_eq!(alice.username, "alice");
        assert!(alice.may_use("acme") && !alice.may_use("beta"));
        // Alice's password still works; the password is "pa:ss".
        assert!(auth.accepts(Some(&header("alice:pa:ss"))));
        let ci = auth
            .authenticate(Some(b"Bearer ci.t0ken"))
            .unwrap()
            .unwrap();
        assert_eq!(ci.username, "ci");
        assert!(ci.may_use("beta") && !ci.may_use("acme"));
        // A user with only a token has no password: an empty one is refused.
        assert!(!auth.accepts(Some(&header("ci:"))));
        assert!(!auth.accepts(Some(b"Bearer x")));
    }

    #[test]
    fn permission_denied_clips_a_huge_tenant_id() {
        let principal = Principal {
            username: "bob".into(),
            tenants: Some(Arc::new(["acme".to_owned()].into())),
        };
        let mut extensions = http::Extensions::new();
        extensions.insert(principal);
        let huge = "x".repeat(100_000);
        let status = Principal::check(&extensions, &huge).unwrap_err();
        assert_eq!(status.code(), tonic::Code::PermissionDenied);
        assert!(status.message().len() < 200, "{}", status.message().len());
        assert!(
            status.message().contains("(100000 bytes)"),
            "{}",
            status.message()
        );
        let status = Principal::check(&extensions, "globex").unwrap_err();
        assert_eq!(
            status.message(),
            "user \"bob\" may not use tenant \"globex\""
        );
        assert!(Principal::check(&extensions, "acme").is_ok());
    }

    #[test]
    fn a_byte_order_mark_does_not_turn_the_comment_into_an_account() {
        let file =
            UsersFile::parse("f", "\u{feff}# user:password:tenants\nalice:s3cret:acme\n").unwrap();
        assert_eq!(file.len(), 1);
        let auth = BasicAuth::users(&file);
        assert!(!auth.accepts(Some(&header("\u{feff}# user:password"))));
        assert!(auth.accepts(Some(&header("alice:s3cret"))));
        // A BOM before a real user no longer renames it.
        let file = UsersFile::parse("f", "\u{feff}alice:s3cret:acme\n").unwrap();
        assert!(BasicAuth::users(&file).accepts(Some(&header("alice:s3cret"))));
    }

    #[test]
    fn users_file_errors_name_the_line_and_not_the_password() {
        let long_password = format!("alice:{}secret:acme", "p".repeat(9_000));
        for (text, line, reason) in [
            ("alice", 1, "no `:` after the username"),
            ("\nalice:secret", 2, "no `:` before the tenants"),
            ("alice:secret:", 1, "no tenants for user \"alice\""),
            ("a:b:t\na:c:t", 2, "listed twice"),
            ("alice::acme", 1, "empty password for user \"alice\""),
            ("alice:secret:acme,*", 1, "`*` inside the tenant list"),
            ("alice :secret:acme", 1, "spaces around it"),
            (long_password.as_str(), 1, "within 8192 bytes"),
            ("alice:secret:acme:token=a b", 1, "bad token"),
            (
                "a:b:t:token=secret\nc:d:t:token=secret",
                2,
                "the token of another user",
            ),
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
