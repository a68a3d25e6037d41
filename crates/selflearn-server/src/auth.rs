//! Bearer tokens and roles. The configuration holds only each token's SHA-256 (a token is 32
//! random bytes, so a fast hash is enough: there is nothing to guess), and a presented token is
//! compared with every configured digest in constant time. A token may be bound to a *source*,
//! one assistant installation: the service stamps that source on what the token sends, and
//! personal rewrites answer only for that source's people.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Send turn events (`POST /v1/events`).
    Ingest,
    /// Ask for rewrites (`POST /v1/rewrite`).
    Rewrite,
    /// Everything, and the operator's actions (erasure).
    Admin,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Ingest => "ingest",
            Role::Rewrite => "rewrite",
            Role::Admin => "admin",
        })
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "ingest" => Ok(Role::Ingest),
            "rewrite" => Ok(Role::Rewrite),
            "admin" => Ok(Role::Admin),
            other => Err(format!("{other:?} is not a role: ingest, rewrite or admin")),
        }
    }
}

/// One configured token (`[[server.tokens]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// A name for logs and errors; never the secret.
    pub name: String,
    /// Lower-case hex SHA-256 of the token (`selflearn token` prints it).
    pub sha256: String,
    /// What it may do.
    pub roles: Vec<Role>,
    /// The assistant installation it speaks for, if bound to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl TokenConfig {
    /// A new token for `name` with `roles` (bound to `source` if given), checked as `serve`
    /// checks its configuration: the secret, shown once, and the entry that holds only its
    /// digest.
    pub fn issue(
        name: String,
        roles: Vec<Role>,
        source: Option<String>,
    ) -> Result<(String, TokenConfig), Box<dyn std::error::Error + Send + Sync>> {
        let token = new_token()?;
        let config = TokenConfig {
            name,
            sha256: token_digest(&token),
            roles,
            source,
        };
        Tokens::from_config(std::slice::from_ref(&config))?;
        Ok((token, config))
    }

    /// The `[[server.tokens]]` entry, as TOML. JSON's string escapes are a subset of TOML's
    /// basic strings, so each value is written as a JSON string.
    pub fn toml_entry(&self) -> String {
        let quoted = |s: &str| serde_json::Value::from(s).to_string();
        let roles: Vec<String> = self.roles.iter().map(|r| format!("\"{r}\"")).collect();
        let mut text = format!(
            "[[server.tokens]]\nname = {}\nsha256 = {}\nroles = [{}]\n",
            quoted(&self.name),
            quoted(&self.sha256),
            roles.join(", ")
        );
        if let Some(source) = &self.source {
            text.push_str(&format!("source = {}\n", quoted(source)));
        }
        text
    }
}

/// Why the token configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("server.tokens[{index}] ({name:?}): {reason}")]
pub struct TokenConfigError {
    /// Position in `server.tokens`.
    pub index: usize,
    /// Its name.
    pub name: String,
    /// What is wrong.
    pub reason: String,
}

/// Who is calling, as the handlers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's name; `None` when the service runs without tokens.
    pub name: Option<String>,
    /// Its roles (every role without tokens).
    pub roles: BTreeSet<Role>,
    /// The source it is bound to, if any.
    pub source: Option<String>,
}

impl Caller {
    /// The caller of a service with no tokens configured (loopback only, or explicitly open):
    /// every role, no source.
    pub fn open() -> Self {
        Self {
            name: None,
            roles: [Role::Ingest, Role::Rewrite, Role::Admin].into(),
            source: None,
        }
    }

    /// Whether it holds `role` (an admin holds every role).
    pub fn may(&self, role: Role) -> bool {
        self.roles.contains(&role) || self.roles.contains(&Role::Admin)
    }
}

#[derive(Clone)]
struct Entry {
    digest: [u8; 32],
    caller: Caller,
}

/// The configured tokens, ready to check presented ones.
#[derive(Clone, Default)]
pub struct Tokens {
    entries: Vec<Entry>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|e| &e.caller.name))
            .finish()
    }
}

/// The SHA-256 of a token, as lower-case hex: what the configuration stores.
pub fn token_digest(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A new token: 32 bytes from the operating system's random source, hex, with a prefix that
/// secret scanners and people recognise.
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!(
        "slt_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

fn parse_digest(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

impl Tokens {
    /// Checks and loads the configured tokens: each needs a name, a 64-hex-digit digest and at
    /// least one role; names and digests are unique; a source is a valid id.
    pub fn from_config(tokens: &[TokenConfig]) -> Result<Self, TokenConfigError> {
        let mut entries: Vec<Entry> = Vec::with_capacity(tokens.len());
        for (index, token) in tokens.iter().enumerate() {
            let refuse = |reason: &str| TokenConfigError {
                index,
                name: token.name.clone(),
                reason: reason.to_owned(),
            };
            if token.name.trim().is_empty() {
                return Err(refuse("needs a name"));
            }
            let digest = parse_digest(&token.sha256.to_ascii_lowercase())
                .ok_or_else(|| refuse("sha256 must be 64 hex digits (see `selflearn token`)"))?;
            if token.roles.is_empty() {
                return Err(refuse("needs at least one role: ingest, rewrite or admin"));
            }
            if let Some(source) = &token.source
                && (source.trim().is_empty() || source.chars().any(char::is_control))
            {
                return Err(refuse(
                    "source must be a non-empty id without control characters",
                ));
            }
            if entries
                .iter()
                .any(|e| e.caller.name.as_deref() == Some(token.name.as_str()))
            {
                return Err(refuse("another token has this name"));
            }
            if entries.iter().any(|e| e.digest == digest) {
                return Err(refuse("another token has this digest"));
            }
            entries.push(Entry {
                digest,
                caller: Caller {
                    name: Some(token.name.clone()),
                    roles: token.roles.iter().copied().collect(),
                    source: token.source.clone(),
                },
            });
        }
        Ok(Self { entries })
    }

    /// Whether no token is configured (the service is then open).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The caller a presented token stands for. Every configured digest is compared, each in
    /// constant time, so the time taken says nothing of which (or whether one) matched.
    pub fn caller(&self, presented: &str) -> Option<&Caller> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for entry in &self.entries {
            if bool::from(entry.digest.ct_eq(&digest)) {
                found = Some(&entry.caller);
            }
        }
        found
    }
}

/// The caller of a request to a route that needs `role`, from its `Authorization` header.
pub fn authorize(
    tokens: &Tokens,
    role: Role,
    headers: &axum::http::HeaderMap,
) -> Result<Caller, ApiError> {
    if tokens.is_empty() {
        return Ok(Caller::open());
    }
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or(ApiError::Unauthorized("no bearer token"))?;
    let caller = tokens
        .caller(presented)
        .ok_or(ApiError::Unauthorized("unknown token"))?;
    if !caller.may(role) {
        return Err(ApiError::Forbidden {
            token: caller.name.clone().unwrap_or_default(),
            role,
        });
    }
    Ok(caller.clone())
}

/// Middleware of a route that needs `role`: refuses with 401 or 403 in the API's error shape,
/// or hands the handlers the [`Caller`] as a request extension.
pub async fn require(
    tokens: std::sync::Arc<Tokens>,
    role: Role,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match authorize(&tokens, role, request.headers()) {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(error) => crate::limit::refused_unread(&request, error.into_response()),
    }
}

/// The source a record from `caller` is stored with: the token's own when it is bound (a
/// record may omit it or repeat it, never name another), else the record's.
pub fn stamped_source(
    caller: &Caller,
    given: Option<String>,
    index: usize,
) -> Result<Option<String>, ApiError> {
    match (&caller.source, given) {
        (None, given) => Ok(given),
        (Some(bound), Some(given)) if &given != bound => Err(ApiError::OtherSource {
            index,
            given,
            bound: bound.clone(),
        }),
        (Some(bound), _) => Ok(Some(bound.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(name: &str, token: &str, roles: &[Role], source: Option<&str>) -> TokenConfig {
        TokenConfig {
            name: name.into(),
            sha256: token_digest(token),
            roles: roles.to_vec(),
            source: source.map(str::to_owned),
        }
    }

    #[test]
    fn a_presented_token_finds_its_caller_and_no_other_does() {
        let tokens = Tokens::from_config(&[
            config("kitchen", "secret-a", &[Role::Ingest], Some("home-1")),
            config("ops", "secret-b", &[Role::Admin], None),
        ])
        .unwrap();
        let kitchen = tokens.caller("secret-a").unwrap();
        assert_eq!(kitchen.name.as_deref(), Some("kitchen"));
        assert_eq!(kitchen.source.as_deref(), Some("home-1"));
        assert!(kitchen.may(Role::Ingest) && !kitchen.may(Role::Rewrite));
        let ops = tokens.caller("secret-b").unwrap();
        assert!(ops.may(Role::Ingest) && ops.may(Role::Rewrite) && ops.may(Role::Admin));
        for wrong in [
            "",
            "secret-",
            "secret-a ",
            "SECRET-A",
            &token_digest("secret-a"),
        ] {
            assert!(tokens.caller(wrong).is_none(), "{wrong:?}");
        }
        assert!(!tokens.is_empty() && Tokens::default().is_empty());
    }

    #[test]
    fn a_bad_token_configuration_is_refused_naming_the_entry() {
        let good = config("a", "x", &[Role::Ingest], None);
        let cases = [
            (
                TokenConfig {
                    sha256: "abc".into(),
                    ..good.clone()
                },
                "64 hex digits",
            ),
            (
                TokenConfig {
                    roles: vec![],
                    ..good.clone()
                },
                "at least one role",
            ),
            (
                TokenConfig {
                    name: " ".into(),
                    ..good.clone()
                },
                "needs a name",
            ),
            (
                TokenConfig {
                    source: Some("home\n1".into()),
                    ..good.clone()
                },
                "source",
            ),
            (
                TokenConfig {
                    sha256: good.sha256.clone(),
                    ..config("b", "y", &[Role::Rewrite], None)
                },
                "digest",
            ),
            (config("a", "z", &[Role::Rewrite], None), "name"),
        ];
        for (second, reason) in cases {
            let err = Tokens::from_config(&[good.clone(), second]).unwrap_err();
            assert_eq!(err.index, 1);
            assert!(err.reason.contains(reason), "{err} lacks {reason:?}");
            assert!(err.to_string().starts_with("server.tokens[1]"), "{err}");
        }
        // An upper-case digest is the same digest.
        let upper = TokenConfig {
            sha256: good.sha256.to_ascii_uppercase(),
            ..good.clone()
        };
        assert!(Tokens::from_config(&[upper]).unwrap().caller("x").is_some());
    }

    #[test]
    fn new_tokens_are_long_distinct_and_hash_to_their_digest() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 64);
        assert_eq!(token_digest(&a).len(), 64);
        let tokens = Tokens::from_config(&[config("a", &a, &[Role::Rewrite], None)]).unwrap();
        assert!(tokens.caller(&a).is_some() && tokens.caller(&b).is_none());
    }
}
