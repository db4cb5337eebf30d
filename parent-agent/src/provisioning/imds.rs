//! The EC2 instance role's credentials from IMDSv2, for the enclave's boot bundle.
//!
//! [`ImdsCredentials`] implements [`sigil_provisioning::CredentialSource`]: the provisioning
//! server asks it for short-lived AWS credentials each time the enclave fetches its boot
//! bundle, and it answers from a cache until [`ImdsSettings::refresh_before`] ahead of the
//! credentials' `Expiration`.
//!
//! The protocol (IMDSv2 only; there is no IMDSv1 fallback, ever):
//!
//! 1. `PUT /latest/api/token` with `X-aws-ec2-metadata-token-ttl-seconds` → a session token
//!    (kept for its TTL less a margin, and fetched anew whenever IMDS answers 401);
//! 2. `GET /latest/meta-data/iam/security-credentials/` with `X-aws-ec2-metadata-token` → the
//!    role name (skipped when [`ImdsSettings::role`] names it);
//! 3. `GET /latest/meta-data/iam/security-credentials/<role>` → JSON `{Code, AccessKeyId,
//!    SecretAccessKey, Token, Expiration, …}`. A `Code` other than `Success`, credentials that
//!    have already expired, or a missing field are refused with an [`ImdsError`] that says so.
//!
//! Every refresh is bounded by [`ImdsSettings::timeout`] as a whole (connect, token, role and
//! credentials together). If a refresh fails while the cached credentials are still valid for
//! at least [`MIN_REMAINING`], those are served and a warning is logged; otherwise the error is.
//!
//! Secrets: the secret access key, the session token and the IMDS token are held in
//! [`Zeroizing`] while cached and never appear in `Debug` output, a log line or an error
//! (JSON errors are reported by line and column only, never with the offending value). The
//! copies in hyper's read buffers and in the returned `pb::AwsCredentials` (a plain prost
//! message that the provisioning server sends to the enclave) are outside this module's reach.
//!
//! Why a small client over hyper-util rather than `aws-config`'s `imds` module (dependency
//! cost, and its opposite behaviour on expiry): docs/credentials.md, "Why not aws-config".

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde::Deserialize;
use sigil_provisioning::{CredentialSource, SourceError, pb};
use tokio::sync::Mutex;
use tracing::{info, warn};
use zeroize::Zeroizing;

/// The IMDS endpoint on every EC2 instance (IPv4).
pub const DEFAULT_ENDPOINT: &str = "http://169.254.169.254";
/// Path of the IMDSv2 session-token resource.
pub const TOKEN_PATH: &str = "/latest/api/token";
/// Path listing the instance profile's role (append the role name for its credentials).
pub const CREDENTIALS_PATH: &str = "/latest/meta-data/iam/security-credentials/";
/// Request header carrying the session token's requested lifetime, seconds.
pub const TOKEN_TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
/// Request header carrying the session token.
pub const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
/// Lifetime asked for a session token: IMDS's maximum, 6 hours.
pub const TOKEN_TTL: Duration = Duration::from_secs(21_600);
/// A session token is fetched anew this long before its TTL runs out.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);
/// After a failed refresh, cached credentials are still served if valid for at least this long.
pub const MIN_REMAINING: Duration = Duration::from_secs(60);
/// Largest IMDS answer read (a credentials document is about 1.5 KB).
const MAX_BODY: usize = 64 * 1024;

/// Where and how [`ImdsCredentials`] asks IMDS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImdsSettings {
    /// Base URL, `http://` only (default [`DEFAULT_ENDPOINT`]; tests point it at a local server).
    pub endpoint: String,
    /// The instance profile's role; `None` asks IMDS for it at every refresh.
    pub role: Option<String>,
    /// Bound on one refresh as a whole: connect, token, role and credentials (default 5 s).
    pub timeout: Duration,
    /// Refresh cached credentials this long before their `Expiration` (default 5 min).
    pub refresh_before: Duration,
}

impl Default for ImdsSettings {
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_ENDPOINT.to_owned(),
            role: None,
            timeout: Duration::from_secs(5),
            refresh_before: Duration::from_secs(5 * 60),
        }
    }
}

/// Why IMDS gave no usable credentials. No variant carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum ImdsError {
    /// The configured endpoint is not an `http://` URL.
    #[error("IMDS endpoint `{endpoint}` is not an http:// URL: {reason}")]
    Endpoint {
        /// The configured endpoint.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The connection failed (refused, unreachable, reset).
    #[error("IMDS at {endpoint} is unreachable ({what}): {reason}")]
    Unreachable {
        /// The configured endpoint.
        endpoint: String,
        /// The request that failed.
        what: &'static str,
        /// The transport error.
        reason: String,
    },
    /// The refresh did not finish within [`ImdsSettings::timeout`].
    #[error("IMDS at {endpoint} did not answer within {timeout:?} ({what})")]
    Timeout {
        /// The configured endpoint.
        endpoint: String,
        /// The request that was pending.
        what: &'static str,
        /// The configured bound.
        timeout: Duration,
    },
    /// IMDS answered with an unexpected HTTP status.
    #[error("IMDS answered HTTP {status} to {what}{hint}")]
    Status {
        /// The request.
        what: &'static str,
        /// The status code.
        status: u16,
        /// A hint for the usual causes, may be empty.
        hint: &'static str,
    },
    /// 404 on the role listing: no instance profile is attached.
    #[error(
        "IMDS lists no IAM role (HTTP 404 on {CREDENTIALS_PATH}): attach an instance profile to this instance"
    )]
    NoRole,
    /// 404 on the role's credentials: the configured role is not this instance's.
    #[error(
        "IMDS has no credentials for role `{role}` (HTTP 404): is it the instance profile's role?"
    )]
    UnknownRole {
        /// The role asked for.
        role: String,
    },
    /// IMDS answered with `Code` other than `Success`.
    #[error("IMDS refused credentials for role `{role}`: Code={code}{}", message_suffix(.message))]
    NotSuccess {
        /// The role asked for.
        role: String,
        /// IMDS's `Code`, e.g. `AssumeRoleUnauthorizedAccess`.
        code: String,
        /// IMDS's `Message`, if any.
        message: Option<String>,
    },
    /// The credentials' `Expiration` has already passed.
    #[error(
        "IMDS returned credentials for role `{role}` that expired at {expiration} (now {now}); refusing them (clock skew or a stale IMDS answer)"
    )]
    Expired {
        /// The role asked for.
        role: String,
        /// The `Expiration` IMDS gave.
        expiration: String,
        /// This host's clock, RFC 3339.
        now: String,
    },
    /// The answer is not what IMDS documents (bad JSON, a missing field, a bad role name).
    #[error("IMDS answered {what} with an unusable document: {reason}")]
    Malformed {
        /// The request.
        what: &'static str,
        /// What is wrong (never a value from the document).
        reason: String,
    },
}

fn message_suffix(m: &Option<String>) -> String {
    match m {
        Some(m) if !m.is_empty() => format!(" ({m})"),
        _ => String::new(),
    }
}

impl From<ImdsError> for SourceError {
    fn from(e: ImdsError) -> Self {
        SourceError(format!("instance-role credentials: {e}"))
    }
}

/// A session token and when to stop using it.
struct Token {
    value: Zeroizing<String>,
    renew_at: Instant,
}

/// Cached credentials. Not `Debug`: see the manual impl on [`ImdsCredentials`].
struct Cached {
    role: String,
    access_key_id: String,
    secret_access_key: Zeroizing<String>,
    session_token: Zeroizing<String>,
    expiration: SystemTime,
}

impl Cached {
    fn to_pb(&self) -> pb::AwsCredentials {
        pb::AwsCredentials {
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.as_str().to_owned(),
            session_token: self.session_token.as_str().to_owned(),
            expiration_unix_ms: sigil_std_ext::time::unix_ms(self.expiration),
        }
    }
}

#[derive(Default)]
struct State {
    token: Option<Token>,
    cached: Option<Cached>,
}

/// The credentials document IMDS serves; moved into [`Zeroizing`] fields at once. Not `Debug`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Document {
    code: Option<String>,
    message: Option<String>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    token: Option<String>,
    expiration: Option<String>,
}

/// Instance-role credentials from IMDSv2, cached until shortly before they expire.
pub struct ImdsCredentials {
    settings: ImdsSettings,
    client: Client<HttpConnector, Full<Bytes>>,
    /// One refresh at a time; concurrent callers wait for it and share its result.
    state: Mutex<State>,
}

impl fmt::Debug for ImdsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ImdsCredentials");
        d.field("settings", &self.settings);
        match self.state.try_lock() {
            Ok(s) => {
                d.field(
                    "cached",
                    &s.cached.as_ref().map(|c| {
                        format!(
                            "role {} until {}",
                            c.role,
                            humantime::format_rfc3339_seconds(c.expiration)
                        )
                    }),
                );
                d.field("token", &s.token.as_ref().map(|_| "<redacted>"));
            }
            Err(_) => {
                d.field("cached", &"<refreshing>");
            }
        }
        d.finish_non_exhaustive()
    }
}

/// Which request of the protocol, for errors and logs.
#[derive(Clone, Copy)]
enum Step {
    Token,
    Role,
    Credentials,
}

impl Step {
    fn what(self) -> &'static str {
        match self {
            Step::Token => "PUT /latest/api/token",
            Step::Role => "GET /latest/meta-data/iam/security-credentials/",
            Step::Credentials => "GET /latest/meta-data/iam/security-credentials/<role>",
        }
    }
}

impl ImdsCredentials {
    /// A source asking IMDS as `settings` say. Nothing is fetched until the first call.
    pub fn new(settings: ImdsSettings) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(settings.timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(1)
            .build(connector);
        Self {
            settings,
            client,
            state: Mutex::new(State::default()),
        }
    }

    /// The settings this source was made with.
    pub fn settings(&self) -> &ImdsSettings {
        &self.settings
    }

    /// Current credentials: the cached ones while they are valid for more than
    /// [`ImdsSettings::refresh_before`], otherwise freshly fetched ones.
    pub async fn fetch(&self) -> Result<pb::AwsCredentials, ImdsError> {
        let mut state = self.state.lock().await;
        let now = SystemTime::now();
        if let Some(c) = &state.cached
            && now
                .checked_add(self.settings.refresh_before)
                .is_some_and(|t| t < c.expiration)
        {
            return Ok(c.to_pb());
        }
        match self.refresh(&mut state).await {
            Ok(fresh) => {
                info!(
                    event = "imds_credentials_refreshed",
                    role = %fresh.role,
                    expiration = %humantime::format_rfc3339_seconds(fresh.expiration),
                );
                let out = fresh.to_pb();
                state.cached = Some(fresh);
                Ok(out)
            }
            Err(e) => match &state.cached {
                Some(c) if now + MIN_REMAINING < c.expiration => {
                    warn!(
                        event = "imds_refresh_failed",
                        error = %e,
                        serving = "cached credentials",
                        expiration = %humantime::format_rfc3339_seconds(c.expiration),
                    );
                    Ok(c.to_pb())
                }
                _ => {
                    warn!(event = "imds_refresh_failed", error = %e);
                    Err(e)
                }
            },
        }
    }

    async fn refresh(&self, state: &mut State) -> Result<Cached, ImdsError> {
        let base = self.base_uri()?;
        let now = Instant::now();
        let deadline = now
            .checked_add(self.settings.timeout)
            .unwrap_or(now + Duration::from_secs(365 * 24 * 3600));
        let role = match &self.settings.role {
            Some(r) => r.clone(),
            None => {
                let body = self
                    .get(state, &base, Step::Role, CREDENTIALS_PATH, deadline)
                    .await?;
                parse_role(&body)?
            }
        };
        check_role(&role, Step::Credentials)?;
        let path = format!("{CREDENTIALS_PATH}{role}");
        let body = self
            .get(state, &base, Step::Credentials, &path, deadline)
            .await
            .map_err(|e| match e {
                ImdsError::Status { status: 404, .. } => {
                    ImdsError::UnknownRole { role: role.clone() }
                }
                e => e,
            })?;
        parse_credentials(role, &body, SystemTime::now())
    }

    /// `scheme://authority` of the endpoint, checked.
    fn base_uri(&self) -> Result<String, ImdsError> {
        let endpoint = self.settings.endpoint.trim_end_matches('/');
        let bad = |reason: String| ImdsError::Endpoint {
            endpoint: self.settings.endpoint.clone(),
            reason,
        };
        let uri: Uri = endpoint.parse().map_err(|e| bad(format!("{e}")))?;
        if uri.scheme_str() != Some("http") {
            return Err(bad("the scheme must be http (IMDS has no TLS)".into()));
        }
        if uri.authority().is_none() {
            return Err(bad("no host".into()));
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(bad("give the base URL only, without a path".into()));
        }
        Ok(endpoint.to_owned())
    }

    /// A metadata GET with the session token; on 401, one retry with a new token.
    async fn get(
        &self,
        state: &mut State,
        base: &str,
        step: Step,
        path: &str,
        deadline: Instant,
    ) -> Result<Zeroizing<Vec<u8>>, ImdsError> {
        for attempt in 0..2 {
            let token = self.token(state, base, deadline).await?;
            let mut value = HeaderValue::from_str(token).map_err(|_| ImdsError::Malformed {
                what: Step::Token.what(),
                reason: "the token is not a valid header value".into(),
            })?;
            value.set_sensitive(true);
            let req = Request::builder()
                .method(Method::GET)
                .uri(format!("{base}{path}"))
                .header(TOKEN_HEADER, value)
                .body(Full::new(Bytes::new()));
            let (status, body) = self.send(step, req, deadline).await?;
            match status {
                StatusCode::OK => return Ok(body),
                StatusCode::UNAUTHORIZED if attempt == 0 => {
                    warn!(event = "imds_token_rejected", request = step.what());
                    state.token = None;
                }
                StatusCode::NOT_FOUND if matches!(step, Step::Role) => {
                    return Err(ImdsError::NoRole);
                }
                s => return Err(status_error(step, s)),
            }
        }
        Err(status_error(step, StatusCode::UNAUTHORIZED))
    }

    /// The cached session token, or a new one.
    async fn token<'s>(
        &self,
        state: &'s mut State,
        base: &str,
        deadline: Instant,
    ) -> Result<&'s str, ImdsError> {
        let fresh = matches!(&state.token, Some(t) if Instant::now() < t.renew_at);
        if !fresh {
            state.token = None;
            let req = Request::builder()
                .method(Method::PUT)
                .uri(format!("{base}{TOKEN_PATH}"))
                .header(TOKEN_TTL_HEADER, TOKEN_TTL.as_secs().to_string())
                .body(Full::new(Bytes::new()));
            let fetched_at = Instant::now();
            let (status, body) = self.send(Step::Token, req, deadline).await?;
            if status != StatusCode::OK {
                return Err(status_error(Step::Token, status));
            }
            let text = std::str::from_utf8(&body).map_err(|_| ImdsError::Malformed {
                what: Step::Token.what(),
                reason: "the token is not UTF-8".into(),
            })?;
            let value = Zeroizing::new(text.trim().to_owned());
            if value.is_empty() {
                return Err(ImdsError::Malformed {
                    what: Step::Token.what(),
                    reason: "empty token".into(),
                });
            }
            state.token = Some(Token {
                value,
                renew_at: fetched_at + TOKEN_TTL.saturating_sub(TOKEN_MARGIN),
            });
        }
        match &state.token {
            Some(t) => Ok(t.value.as_str()),
            None => Err(ImdsError::Malformed {
                what: Step::Token.what(),
                reason: "no token".into(),
            }),
        }
    }

    /// One request, bounded by `deadline`; reads at most [`MAX_BODY`] bytes of the answer.
    async fn send(
        &self,
        step: Step,
        req: Result<Request<Full<Bytes>>, http::Error>,
        deadline: Instant,
    ) -> Result<(StatusCode, Zeroizing<Vec<u8>>), ImdsError> {
        let req = req.map_err(|e| ImdsError::Endpoint {
            endpoint: self.settings.endpoint.clone(),
            reason: e.to_string(),
        })?;
        let timeout = || ImdsError::Timeout {
            endpoint: self.settings.endpoint.clone(),
            what: step.what(),
            timeout: self.settings.timeout,
        };
        let unreachable = |reason: String| ImdsError::Unreachable {
            endpoint: self.settings.endpoint.clone(),
            what: step.what(),
            reason,
        };
        let exchange = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| unreachable(sigil_std_ext::error_chain(&e)))?;
            let status = resp.status();
            // Pre-sized, so growing does not leave unwiped copies behind (a credentials
            // document is about 1.5 KB).
            let hint = hyper::body::Body::size_hint(resp.body());
            let capacity = hint.upper().unwrap_or(hint.lower()).max(8 * 1024);
            let capacity = usize::try_from(capacity).unwrap_or(MAX_BODY).min(MAX_BODY);
            let mut body = Zeroizing::new(Vec::with_capacity(capacity));
            let mut limited = Limited::new(resp.into_body(), MAX_BODY);
            while let Some(frame) = limited.frame().await {
                let frame = frame.map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        ImdsError::Malformed {
                            what: step.what(),
                            reason: format!("the answer exceeds {MAX_BODY} bytes"),
                        }
                    } else {
                        unreachable(format!("reading the answer: {e}"))
                    }
                })?;
                if let Ok(data) = frame.into_data() {
                    body.extend_from_slice(&data);
                }
            }
            Ok((status, body))
        };
        match tokio::time::timeout_at(deadline.into(), exchange).await {
            Ok(r) => r,
            Err(_) => Err(timeout()),
        }
    }
}

impl CredentialSource for ImdsCredentials {
    fn credentials(
        &self,
    ) -> Pin<Box<dyn Future<Output = Result<pb::AwsCredentials, SourceError>> + Send + '_>> {
        Box::pin(async move { self.fetch().await.map_err(SourceError::from) })
    }
}

fn status_error(step: Step, status: StatusCode) -> ImdsError {
    let hint = match (step, status.as_u16()) {
        (Step::Token, 403) => {
            ": IMDS is disabled on this instance, or the request went through a proxy (X-Forwarded-For)"
        }
        (Step::Token, 400) => ": IMDS refused the token TTL header",
        (Step::Token, _) => "",
        (_, 401) => ": the session token was refused twice",
        (_, 403) => ": IMDS access is forbidden on this instance",
        _ => "",
    };
    ImdsError::Status {
        what: step.what(),
        status: status.as_u16(),
        hint,
    }
}

/// The role name from the listing: its first non-empty line.
fn parse_role(body: &[u8]) -> Result<String, ImdsError> {
    let text = std::str::from_utf8(body).map_err(|_| ImdsError::Malformed {
        what: Step::Role.what(),
        reason: "the role listing is not UTF-8".into(),
    })?;
    let role = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .ok_or(ImdsError::NoRole)?;
    check_role(role, Step::Role)?;
    Ok(role.to_owned())
}

/// IAM role names: 1 to 64 of `[A-Za-z0-9+=,.@_-]`; anything else would change the URL.
fn check_role(role: &str, step: Step) -> Result<(), ImdsError> {
    let ok = !role.is_empty()
        && role.len() <= 64
        && role
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ImdsError::Malformed {
            what: step.what(),
            reason: format!("`{}` is not an IAM role name", role.escape_debug()),
        })
    }
}

fn parse_credentials(role: String, body: &[u8], now: SystemTime) -> Result<Cached, ImdsError> {
    let what = Step::Credentials.what();
    let doc: Document = serde_json::from_slice(body).map_err(|e| ImdsError::Malformed {
        what,
        // serde_json's message may quote a value; report only where and what kind of error.
        reason: format!(
            "not the JSON IMDS documents ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        ),
    })?;
    let Document {
        code,
        message,
        access_key_id,
        secret_access_key,
        token,
        expiration,
    } = doc;
    let secret_access_key = secret_access_key.map(Zeroizing::new);
    let token = token.map(Zeroizing::new);
    // AWS always sends `Code`; tolerate its absence (as aws-config does) but refuse any other.
    if let Some(code) = code
        && code != "Success"
    {
        return Err(ImdsError::NotSuccess {
            role,
            code,
            message,
        });
    }
    let missing = |field: &str| ImdsError::Malformed {
        what,
        reason: format!("`{field}` is missing or empty"),
    };
    let access_key_id = access_key_id
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing("AccessKeyId"))?;
    let secret_access_key = secret_access_key
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing("SecretAccessKey"))?;
    let session_token = token
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing("Token"))?;
    let expiration_text = expiration
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing("Expiration"))?;
    let expiration =
        humantime::parse_rfc3339(&expiration_text).map_err(|e| ImdsError::Malformed {
            what,
            reason: format!("`Expiration` `{expiration_text}` is not an RFC 3339 UTC time: {e}"),
        })?;
    if expiration <= now {
        return Err(ImdsError::Expired {
            role,
            expiration: expiration_text,
            now: humantime::format_rfc3339_seconds(now).to_string(),
        });
    }
    Ok(Cached {
        role,
        access_key_id,
        secret_access_key,
        session_token,
        expiration,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"{"Code":"Success","LastUpdated":"2026-11-22T10:00:00Z","Type":"AWS-HMAC",
        "AccessKeyId":"ASIAEXAMPLE","SecretAccessKey":"s3cr3t-value","Token":"t0k3n-value",
        "Expiration":"2099-01-01T00:00:00Z"}"#;

    #[test]
    fn parses_the_documented_document() {
        let c = parse_credentials("r".into(), DOC.as_bytes(), SystemTime::now())
            .expect("valid document");
        let p = c.to_pb();
        assert_eq!(p.access_key_id, "ASIAEXAMPLE");
        assert_eq!(p.secret_access_key, "s3cr3t-value");
        assert_eq!(p.session_token, "t0k3n-value");
        assert_eq!(p.expiration_unix_ms, 4_070_908_800_000);
    }

    #[test]
    fn malformed_json_errors_quote_no_value() {
        // A value of the wrong type: serde_json would quote it; our error must not.
        let bad = r#"{"Code":"Success","SecretAccessKey":"s3cr3t-value","Token":["t0k3n-value"]}"#;
        let e = parse_credentials("r".into(), bad.as_bytes(), SystemTime::now())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("line 1"), "{e}");
        assert!(!e.contains("s3cr3t") && !e.contains("t0k3n"), "{e}");
    }

    #[test]
    fn missing_fields_and_bad_expiration_are_named() {
        let doc = r#"{"Code":"Success","AccessKeyId":"A","SecretAccessKey":"s","Token":"t"}"#;
        let e = parse_credentials("r".into(), doc.as_bytes(), SystemTime::now())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("`Expiration` is missing"), "{e}");
        let doc = r#"{"Code":"Success","AccessKeyId":"A","SecretAccessKey":"s","Token":"t","Expiration":"tomorrow"}"#;
        let e = parse_credentials("r".into(), doc.as_bytes(), SystemTime::now())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("not an RFC 3339"), "{e}");
    }

    #[test]
    fn role_names_are_checked() {
        assert_eq!(
            parse_role(b"\nmy-role.1@x\n").ok().as_deref(),
            Some("my-role.1@x")
        );
        assert!(matches!(parse_role(b"  \n"), Err(ImdsError::NoRole)));
        for bad in ["../token", "a/b", "a b", "a?b", &"x".repeat(65)] {
            assert!(check_role(bad, Step::Role).is_err(), "{bad}");
        }
    }

    #[test]
    fn endpoints_must_be_plain_http_base_urls() {
        for (endpoint, ok) in [
            ("http://169.254.169.254", true),
            ("http://169.254.169.254/", true),
            ("http://[fd00:ec2::254]", true),
            ("http://127.0.0.1:8080", true),
            ("https://169.254.169.254", false),
            ("169.254.169.254", false),
            ("http://169.254.169.254/latest", false),
        ] {
            let c = ImdsCredentials::new(ImdsSettings {
                endpoint: endpoint.into(),
                ..ImdsSettings::default()
            });
            assert_eq!(c.base_uri().is_ok(), ok, "{endpoint}");
        }
    }

    #[test]
    fn defaults() {
        let s = ImdsSettings::default();
        assert_eq!(s.endpoint, "http://169.254.169.254");
        assert_eq!(s.role, None);
        assert_eq!(s.refresh_before, Duration::from_secs(300));
        assert!(s.timeout <= Duration::from_secs(10));
    }
}
