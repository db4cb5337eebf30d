//! parent-agent's IMDSv2 credential source against a local server that implements IMDSv2 the
//! way AWS documents it (the session token is required: 401 without a valid one; the token
//! PUT requires the TTL header: 400 without it; 403 through a proxy), and against moto's server
//! mode when moto is installed (`pip install 'moto[server]'`; `SIGIL_REQUIRE_MOTO=1` turns a
//! missing moto into a failure instead of a skip).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashSet;
use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use parent_agent::provisioning::imds::{ImdsCredentials, ImdsError, ImdsSettings};
use sigil_provisioning::CredentialSource;
use tokio::net::TcpListener;

const ROLE: &str = "sigil-parent-role";

/// What the fake serves for the role's credentials; `n` counts credential GETs from 1.
type DocFn = Box<dyn Fn(u64) -> (StatusCode, String) + Send>;

struct ImdsState {
    tokens: HashSet<String>,
    issued: u64,
    token_status: Option<StatusCode>,
    document: DocFn,
    puts: u64,
    role_gets: u64,
    credential_gets: u64,
    unauthorized: u64,
    /// Requests that carried no token at all (an IMDSv1 attempt).
    tokenless_gets: u64,
}

struct FakeImds {
    addr: SocketAddr,
    state: Arc<Mutex<ImdsState>>,
}

/// A credentials document as IMDS serves it, with per-`n` values.
fn document(code: &str, expiration: SystemTime, n: u64) -> String {
    format!(
        r#"{{
  "Code" : "{code}",
  "LastUpdated" : "2026-11-22T10:00:00Z",
  "Type" : "AWS-HMAC",
  "AccessKeyId" : "ASIAFAKE{n}",
  "SecretAccessKey" : "{}",
  "Token" : "{}",
  "Expiration" : "{}"
}}"#,
        secret(n),
        session(n),
        humantime::format_rfc3339_seconds(expiration)
    )
}

fn secret(n: u64) -> String {
    format!("SECRETKEY{n}xxxxxxxxxxxxxxxxxxxxxxxxxxxx")
}

fn session(n: u64) -> String {
    format!("SESSIONTOKEN{n}yyyyyyyyyyyyyyyyyyyyyyyyyyyy")
}

fn in_(d: Duration) -> SystemTime {
    SystemTime::now() + d
}

impl FakeImds {
    async fn start(document: DocFn) -> FakeImds {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(ImdsState {
            tokens: HashSet::new(),
            issued: 0,
            token_status: None,
            document,
            puts: 0,
            role_gets: 0,
            credential_gets: 0,
            unauthorized: 0,
            tokenless_gets: 0,
        }));
        let st = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let st = st.clone();
                        async move { Ok::<_, Infallible>(handle(&st, req)) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        FakeImds { addr, state }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn settings(&self) -> ImdsSettings {
        ImdsSettings {
            endpoint: self.endpoint(),
            timeout: Duration::from_secs(5),
            ..ImdsSettings::default()
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut ImdsState) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }
}

fn reply(status: StatusCode, body: impl Into<String>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.into())));
    *r.status_mut() = status;
    r
}

/// IMDSv2 as documented in the EC2 user guide ("Use the Instance Metadata Service to access
/// instance metadata", IMDSv2 required).
fn handle(state: &Mutex<ImdsState>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let mut s = state.lock().unwrap();
    let path = req.uri().path().to_owned();
    if path == "/latest/api/token" {
        if req.method() != Method::PUT {
            return reply(StatusCode::METHOD_NOT_ALLOWED, "");
        }
        if req.headers().contains_key("x-forwarded-for") {
            return reply(StatusCode::FORBIDDEN, "Forbidden");
        }
        if let Some(status) = s.token_status {
            return reply(status, "");
        }
        let ttl = req
            .headers()
            .get("x-aws-ec2-metadata-token-ttl-seconds")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let Some(ttl) = ttl.filter(|t| (1..=21_600).contains(t)) else {
            return reply(StatusCode::BAD_REQUEST, "Bad Request");
        };
        s.puts += 1;
        s.issued += 1;
        let token = format!("AQAEA-token-{}-{:x}", s.issued, rand_u64());
        s.tokens.insert(token.clone());
        let mut r = reply(StatusCode::OK, token);
        r.headers_mut().insert(
            "x-aws-ec2-metadata-token-ttl-seconds",
            ttl.to_string().parse().unwrap(),
        );
        return r;
    }
    if !path.starts_with("/latest/meta-data/") {
        return reply(StatusCode::NOT_FOUND, "Not Found");
    }
    if req.method() != Method::GET {
        return reply(StatusCode::METHOD_NOT_ALLOWED, "");
    }
    let token = req
        .headers()
        .get("x-aws-ec2-metadata-token")
        .and_then(|v| v.to_str().ok());
    match token {
        None => {
            s.tokenless_gets += 1;
            s.unauthorized += 1;
            return reply(StatusCode::UNAUTHORIZED, "");
        }
        Some(t) if !s.tokens.contains(t) => {
            s.unauthorized += 1;
            return reply(StatusCode::UNAUTHORIZED, "");
        }
        Some(_) => {}
    }
    let prefix = "/latest/meta-data/iam/security-credentials/";
    if path == prefix {
        s.role_gets += 1;
        return reply(StatusCode::OK, ROLE);
    }
    if path.strip_prefix(prefix) == Some(ROLE) {
        s.credential_gets += 1;
        let n = s.credential_gets;
        let (status, body) = (s.document)(n);
        return reply(status, body);
    }
    reply(StatusCode::NOT_FOUND, "Not Found")
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(Instant::now())
}

fn success_for(d: Duration) -> DocFn {
    Box::new(move |n| (StatusCode::OK, document("Success", in_(d), n)))
}

fn assert_no_secret(text: &str) {
    assert!(
        !text.contains("SECRETKEY") && !text.contains("SESSIONTOKEN") && !text.contains("AQAEA"),
        "a secret leaked: {text}"
    );
}

#[tokio::test]
async fn discovers_the_role_and_returns_its_credentials() {
    let imds = FakeImds::start(success_for(Duration::from_secs(6 * 3600))).await;
    let src = ImdsCredentials::new(imds.settings());
    let c = src.fetch().await.unwrap();
    assert_eq!(c.access_key_id, "ASIAFAKE1");
    assert_eq!(c.secret_access_key, secret(1));
    assert_eq!(c.session_token, session(1));
    let expected = in_(Duration::from_secs(6 * 3600))
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(c.expiration_unix_ms.abs_diff(expected) < 5_000);
    imds.with(|s| {
        assert_eq!((s.puts, s.role_gets, s.credential_gets), (1, 1, 1));
        assert_eq!(s.tokenless_gets, 0, "never IMDSv1");
    });
    // The same through the provisioning trait.
    let via_trait = CredentialSource::credentials(&src).await.unwrap();
    assert_eq!(via_trait.access_key_id, "ASIAFAKE1");
}

#[tokio::test]
async fn a_configured_role_skips_discovery_and_a_wrong_one_is_named() {
    let imds = FakeImds::start(success_for(Duration::from_secs(3600))).await;
    let src = ImdsCredentials::new(ImdsSettings {
        role: Some(ROLE.into()),
        ..imds.settings()
    });
    src.fetch().await.unwrap();
    imds.with(|s| assert_eq!((s.role_gets, s.credential_gets), (0, 1)));

    let wrong = ImdsCredentials::new(ImdsSettings {
        role: Some("not-my-role".into()),
        ..imds.settings()
    });
    let e = wrong.fetch().await.unwrap_err();
    assert!(matches!(e, ImdsError::UnknownRole { .. }), "{e}");
    assert!(e.to_string().contains("not-my-role"), "{e}");

    let bad = ImdsCredentials::new(ImdsSettings {
        role: Some("../../api/token".into()),
        ..imds.settings()
    });
    let e = bad.fetch().await.unwrap_err();
    assert!(e.to_string().contains("not an IAM role name"), "{e}");
}

#[tokio::test]
async fn cached_until_refresh_before_then_refreshed() {
    // Valid for an hour: the second call is served from the cache.
    let imds = FakeImds::start(success_for(Duration::from_secs(3600))).await;
    let src = ImdsCredentials::new(imds.settings());
    let a = src.fetch().await.unwrap();
    let b = src.fetch().await.unwrap();
    assert_eq!(a.access_key_id, b.access_key_id);
    imds.with(|s| assert_eq!((s.puts, s.credential_gets), (1, 1)));

    // Expiring in 4 minutes, inside the default 5-minute window: every call refreshes,
    // reusing the session token.
    let imds = FakeImds::start(success_for(Duration::from_secs(240))).await;
    let src = ImdsCredentials::new(imds.settings());
    assert_eq!(src.fetch().await.unwrap().access_key_id, "ASIAFAKE1");
    assert_eq!(src.fetch().await.unwrap().access_key_id, "ASIAFAKE2");
    imds.with(|s| assert_eq!((s.puts, s.credential_gets), (1, 2)));

    // A wider refresh_before makes hour-long credentials "near expiry" too.
    let imds = FakeImds::start(success_for(Duration::from_secs(3600))).await;
    let src = ImdsCredentials::new(ImdsSettings {
        refresh_before: Duration::from_secs(2 * 3600),
        ..imds.settings()
    });
    src.fetch().await.unwrap();
    src.fetch().await.unwrap();
    imds.with(|s| assert_eq!(s.credential_gets, 2));
}

#[tokio::test]
async fn a_failed_refresh_serves_still_valid_cached_credentials_only() {
    // First answer: valid 4 minutes (inside the refresh window). Then IMDS fails.
    let imds = FakeImds::start(Box::new(|n| {
        if n == 1 {
            (
                StatusCode::OK,
                document("Success", in_(Duration::from_secs(240)), n),
            )
        } else {
            (StatusCode::INTERNAL_SERVER_ERROR, String::new())
        }
    }))
    .await;
    let src = ImdsCredentials::new(imds.settings());
    assert_eq!(src.fetch().await.unwrap().access_key_id, "ASIAFAKE1");
    assert_eq!(src.fetch().await.unwrap().access_key_id, "ASIAFAKE1");
    imds.with(|s| assert_eq!(s.credential_gets, 2));

    // Without a cache the same failure is an error naming the status.
    let imds = FakeImds::start(Box::new(|_| {
        (StatusCode::INTERNAL_SERVER_ERROR, String::new())
    }))
    .await;
    let e = ImdsCredentials::new(imds.settings())
        .fetch()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("HTTP 500"), "{e}");
}

#[tokio::test]
async fn expired_credentials_are_refused() {
    let imds = FakeImds::start(Box::new(|n| {
        (
            StatusCode::OK,
            document("Success", SystemTime::now() - Duration::from_secs(60), n),
        )
    }))
    .await;
    let src = ImdsCredentials::new(imds.settings());
    let e = src.fetch().await.unwrap_err();
    assert!(matches!(e, ImdsError::Expired { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("expired at") && msg.contains("refusing"),
        "{msg}"
    );
    assert_no_secret(&msg);
    assert_no_secret(&format!("{e:?}"));
}

#[tokio::test]
async fn a_code_other_than_success_is_refused() {
    let imds = FakeImds::start(Box::new(|n| {
        let doc = document(
            "AssumeRoleUnauthorizedAccess",
            in_(Duration::from_secs(3600)),
            n,
        )
        .replacen(
            "\"Type\"",
            "\"Message\" : \"EC2 cannot assume the role\",\n  \"Type\"",
            1,
        );
        (StatusCode::OK, doc)
    }))
    .await;
    let src = ImdsCredentials::new(imds.settings());
    let e = src.fetch().await.unwrap_err();
    assert!(matches!(e, ImdsError::NotSuccess { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("AssumeRoleUnauthorizedAccess") && msg.contains("cannot assume"),
        "{msg}"
    );
    assert_no_secret(&msg);
    assert_no_secret(&format!("{e:?}"));
    // Through the provisioning trait the error stays clear and secret-free.
    let e = CredentialSource::credentials(&src).await.unwrap_err();
    assert!(e.0.starts_with("instance-role credentials: "), "{}", e.0);
    assert_no_secret(&e.0);
}

#[tokio::test]
async fn a_server_that_is_down_fails_fast_and_a_silent_one_within_the_timeout() {
    // Down: nothing listens on the port.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let src = ImdsCredentials::new(ImdsSettings {
        endpoint: format!("http://127.0.0.1:{port}"),
        timeout: Duration::from_secs(2),
        ..ImdsSettings::default()
    });
    let t = Instant::now();
    let e = src.fetch().await.unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert!(matches!(e, ImdsError::Unreachable { .. }), "{e}");
    assert!(e.to_string().contains("unreachable"), "{e}");

    // Silent: accepts connections, never answers (a black-holed 169.254.169.254).
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            open.push(s);
        }
    });
    let timeout = Duration::from_millis(700);
    let src = ImdsCredentials::new(ImdsSettings {
        endpoint: format!("http://{addr}"),
        timeout,
        ..ImdsSettings::default()
    });
    let t = Instant::now();
    let e = src.fetch().await.unwrap_err();
    let took = t.elapsed();
    assert!(
        took >= timeout && took < timeout + Duration::from_secs(2),
        "{took:?}"
    );
    assert!(matches!(e, ImdsError::Timeout { .. }), "{e}");
    assert!(e.to_string().contains("did not answer within"), "{e}");
    hold.abort();
}

#[tokio::test]
async fn a_401_mid_way_fetches_a_new_token_and_retries() {
    // Credentials inside the refresh window, so the second call goes back to IMDS.
    let imds = FakeImds::start(success_for(Duration::from_secs(240))).await;
    let src = ImdsCredentials::new(imds.settings());
    src.fetch().await.unwrap();
    // IMDS forgets every session token (expiry, instance stop/start).
    imds.with(|s| s.tokens.clear());
    let c = src.fetch().await.unwrap();
    assert_eq!(c.access_key_id, "ASIAFAKE2");
    imds.with(|s| {
        assert_eq!(s.puts, 2, "one new token");
        assert_eq!(s.unauthorized, 1, "one 401, then success");
        assert_eq!(s.tokenless_gets, 0, "never IMDSv1");
    });
}

#[tokio::test]
async fn no_imdsv1_fallback_when_the_token_is_refused() {
    let imds = FakeImds::start(success_for(Duration::from_secs(3600))).await;
    imds.with(|s| s.token_status = Some(StatusCode::FORBIDDEN));
    let e = ImdsCredentials::new(imds.settings())
        .fetch()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("HTTP 403"), "{e}");
    imds.with(|s| {
        assert_eq!(s.role_gets + s.credential_gets + s.tokenless_gets, 0);
        assert_eq!(s.unauthorized, 0, "no metadata GET without a token");
    });
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn secrets_stay_out_of_debug_logs_and_errors() {
    let logs = Captured::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    // A refresh, a 401 with a token refresh, then a failed refresh served from the cache.
    let imds = FakeImds::start(Box::new(|n| match n {
        1 | 2 => (
            StatusCode::OK,
            document("Success", in_(Duration::from_secs(240)), n),
        ),
        _ => (StatusCode::SERVICE_UNAVAILABLE, String::new()),
    }))
    .await;
    let src = ImdsCredentials::new(imds.settings());
    src.fetch().await.unwrap();
    imds.with(|s| s.tokens.clear());
    src.fetch().await.unwrap();
    src.fetch().await.unwrap();
    let debug = format!("{src:?}");
    assert!(
        debug.contains("ImdsCredentials") && debug.contains(ROLE),
        "{debug}"
    );
    assert_no_secret(&debug);
    assert_no_secret(&format!("{:?}", imds.settings()));

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("imds_credentials_refreshed"), "{text}");
    assert!(text.contains("imds_token_rejected"), "{text}");
    assert!(text.contains("imds_refresh_failed"), "{text}");
    assert_no_secret(&text);
}

/// moto's server mode serves IMDS under /latest/ (moto/instance_metadata/responses.py):
/// `PUT /latest/api/token` → a fixed token; `GET .../security-credentials/` → `default-role`;
/// `GET .../security-credentials/default-role` → AccessKeyId `test-key`, SecretAccessKey
/// `test-secret-key`, Token `test-session-token`, Expiration tomorrow, and no `Code` field
/// (which this client tolerates, as aws-config does). moto does not enforce the token.
#[tokio::test]
async fn against_moto_server_when_installed() {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import moto.server, flask, flask_cors"])
        .output();
    let installed = matches!(&probe, Ok(o) if o.status.success());
    if !installed {
        let why = match &probe {
            Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_owned(),
            Err(e) => format!("python3: {e}"),
        };
        if std::env::var("SIGIL_REQUIRE_MOTO").as_deref() == Ok("1") {
            panic!(
                "SIGIL_REQUIRE_MOTO=1 but moto's server mode is missing ({why}); pip install 'moto[server]'"
            );
        }
        eprintln!(
            "SKIPPED against_moto_server_when_installed: moto's server mode is not installed ({why}); pip install 'moto[server]' (set SIGIL_REQUIRE_MOTO=1 to make this a failure)"
        );
        return;
    }
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = std::process::Command::new("python3")
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start moto_server");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _moto = Kill(child);
    let ready = Instant::now() + Duration::from_secs(60);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < ready,
            "moto_server did not listen within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let src = ImdsCredentials::new(ImdsSettings {
        endpoint: format!("http://127.0.0.1:{port}"),
        timeout: Duration::from_secs(10),
        ..ImdsSettings::default()
    });
    let c = src.fetch().await.unwrap();
    assert_eq!(c.access_key_id, "test-key");
    assert_eq!(c.secret_access_key, "test-secret-key");
    assert_eq!(c.session_token, "test-session-token");
    let now_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        c.expiration_unix_ms > now_ms + 3_600_000,
        "moto expires tomorrow"
    );
    assert!(format!("{src:?}").contains("default-role"));
}
