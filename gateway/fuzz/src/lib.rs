//! The `request` fuzz target's harness: a whole SCIM request (method, path, query, the headers
//! the gateway reads, body) through the real gateway `App` in-process, against a fake
//! provisioning-core on a local port. One actix runtime, app and fake core live for the whole
//! run; every input is checked against what the gateway promises its clients (SCIM errors in
//! RFC 7644 §3.12 form, 5xx only when the core failed, opaque 5xx) and the core (see
//! `fake_core`).
#![forbid(unsafe_code)]

pub mod fake_core;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::LazyLock;
use std::time::Duration;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method as HttpMethod, StatusCode, Uri};
use actix_web::test::TestRequest;
use arbitrary::Arbitrary;
use serde_json::Value;

use fake_core::Answer;

const BASE_PATH: &str = "/scim/v2";
/// The gateway's `MAX_BODY_BYTES` here.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Bytes, shown as text with escapes (`cargo fuzz fmt request <input>`).
#[derive(Clone, Copy, Arbitrary)]
pub struct Bytes<'a>(pub &'a [u8]);

impl std::fmt::Debug for Bytes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}

#[derive(Debug, Arbitrary)]
pub enum Method<'a> {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
    Other(&'a str),
}

/// Where the path starts; `path` follows.
#[derive(Debug, Arbitrary)]
pub enum Endpoint {
    Users,
    Groups,
    Bulk,
    Search,
    Me,
    ServiceProviderConfig,
    ResourceTypes,
    Schemas,
    Base,
    Livez,
    Readyz,
    /// `path` alone.
    Raw,
}

impl Endpoint {
    fn prefix(&self) -> &'static str {
        match self {
            Endpoint::Users => "/scim/v2/Users",
            Endpoint::Groups => "/scim/v2/Groups",
            Endpoint::Bulk => "/scim/v2/Bulk",
            Endpoint::Search => "/scim/v2/.search",
            Endpoint::Me => "/scim/v2/Me",
            Endpoint::ServiceProviderConfig => "/scim/v2/ServiceProviderConfig",
            Endpoint::ResourceTypes => "/scim/v2/ResourceTypes",
            Endpoint::Schemas => "/scim/v2/Schemas",
            Endpoint::Base => BASE_PATH,
            Endpoint::Livez => "/livez",
            Endpoint::Readyz => "/readyz",
            Endpoint::Raw => "",
        }
    }
}

#[derive(Debug, Arbitrary)]
pub enum Authorization<'a> {
    /// `Bearer <the token of this region>`.
    Token,
    /// `Bearer` and a token of region `us`.
    OtherRegion,
    Raw(Bytes<'a>),
}

#[derive(Debug, Arbitrary)]
pub enum ContentType<'a> {
    Scim,
    Json,
    ScimUtf8,
    Raw(Bytes<'a>),
}

/// How the body travels.
#[derive(Debug, Arbitrary)]
pub enum Framing {
    /// With its `Content-Length`.
    Length,
    /// Chunked: no declared length.
    Chunked,
    /// A `Content-Length` over the gateway's limit (the body is not read).
    DeclaredTooLarge,
}

#[derive(Debug, Arbitrary)]
pub enum Traceparent<'a> {
    Valid,
    Raw(Bytes<'a>),
}

/// One request, and what the core answers to it.
#[derive(Debug, Arbitrary)]
pub struct Input<'a> {
    pub core: Answer,
    pub framing: Framing,
    pub method: Method<'a>,
    pub endpoint: Endpoint,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub authorization: Option<Authorization<'a>>,
    pub content_type: Option<ContentType<'a>>,
    pub if_match: Option<Bytes<'a>>,
    pub if_none_match: Option<Bytes<'a>>,
    pub traceparent: Option<Traceparent<'a>>,
    pub host: Option<Bytes<'a>>,
    pub forwarded: Option<Bytes<'a>>,
    /// The rest of the input.
    pub body: Bytes<'a>,
}

/// `text` with the bytes a URI cannot hold percent-encoded, as an HTTP client sends them; a `%`
/// stays, so malformed escapes reach the gateway too.
fn encode(text: &str, query: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        let kept = byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&byte) || (query && byte == b'?');
        if kept {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl Input<'_> {
    fn uri(&self) -> Option<String> {
        let mut uri = format!("{}{}", self.endpoint.prefix(), encode(self.path, false));
        if !uri.starts_with('/') {
            uri.insert(0, '/');
        }
        if let Some(query) = self.query {
            uri.push('?');
            uri.push_str(&encode(query, true));
        }
        // What no client could send (the h1 codec refuses it) is not a request.
        uri.parse::<Uri>().ok().map(|_| uri)
    }

    fn method(&self) -> Option<HttpMethod> {
        Some(match &self.method {
            Method::Get => HttpMethod::GET,
            Method::Post => HttpMethod::POST,
            Method::Put => HttpMethod::PUT,
            Method::Patch => HttpMethod::PATCH,
            Method::Delete => HttpMethod::DELETE,
            Method::Head => HttpMethod::HEAD,
            Method::Options => HttpMethod::OPTIONS,
            Method::Other(name) => HttpMethod::from_bytes(name.as_bytes()).ok()?,
        })
    }

    fn headers(&self) -> Vec<(HeaderName, Vec<u8>)> {
        let mut headers = Vec::new();
        match &self.authorization {
            Some(Authorization::Token) => {
                headers.push((header::AUTHORIZATION, format!("Bearer {}", fake_core::TOKEN).into_bytes()));
            }
            Some(Authorization::OtherRegion) => {
                headers.push((header::AUTHORIZATION, b"Bearer scim_us_fuzz0token".to_vec()));
            }
            Some(Authorization::Raw(value)) => headers.push((header::AUTHORIZATION, value.0.to_vec())),
            None => {}
        }
        match &self.content_type {
            Some(ContentType::Scim) => headers.push((header::CONTENT_TYPE, b"application/scim+json".to_vec())),
            Some(ContentType::Json) => headers.push((header::CONTENT_TYPE, b"application/json".to_vec())),
            Some(ContentType::ScimUtf8) => {
                headers.push((header::CONTENT_TYPE, b"application/scim+json; charset=utf-8".to_vec()));
            }
            Some(ContentType::Raw(value)) => headers.push((header::CONTENT_TYPE, value.0.to_vec())),
            None => {}
        }
        let traceparent = match &self.traceparent {
            Some(Traceparent::Valid) => Some(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec()),
            Some(Traceparent::Raw(value)) => Some(value.0.to_vec()),
            None => None,
        };
        let named = [
            (header::IF_MATCH, self.if_match.map(|b| b.0.to_vec())),
            (header::IF_NONE_MATCH, self.if_none_match.map(|b| b.0.to_vec())),
            (HeaderName::from_static("traceparent"), traceparent),
            (header::HOST, self.host.map(|b| b.0.to_vec())),
            (header::FORWARDED, self.forwarded.map(|b| b.0.to_vec())),
        ];
        headers.extend(named.into_iter().filter_map(|(name, value)| Some((name, value?))));
        headers
    }

    /// The request, or `None` when no HTTP client could send it.
    fn request(&self) -> Option<actix_http::Request> {
        let mut request = TestRequest::default().method(self.method()?).uri(&self.uri()?);
        for (name, value) in self.headers() {
            // A value with CR, LF or NUL cannot be sent: the header is left out.
            if let Ok(value) = HeaderValue::from_bytes(&value) {
                request = request.append_header((name, value));
            }
        }
        let mut request = request.set_payload(self.body.0.to_vec()).to_request();
        match self.framing {
            Framing::Length => {}
            Framing::Chunked => {
                request.headers_mut().remove(header::CONTENT_LENGTH);
                request.headers_mut().insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
            }
            Framing::DeclaredTooLarge => {
                let declared = HeaderValue::from(MAX_BODY_BYTES + 1);
                request.headers_mut().insert(header::CONTENT_LENGTH, declared);
            }
        }
        Some(request)
    }
}

type Answering = Pin<Box<dyn Future<Output = ServiceResponse>>>;

/// The runtime, the gateway app and the fake core, kept across inputs.
struct Harness {
    system: actix_web::rt::SystemRunner,
    app: Rc<dyn Fn(actix_http::Request) -> Answering>,
}

impl Harness {
    fn start() -> Self {
        let system = actix_web::rt::System::new();
        let app = system.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding the fake core");
            let address = listener.local_addr().expect("the fake core's address");
            let core = proto::provisioning_server::ProvisioningServer::new(fake_core::FakeCore)
                .max_decoding_message_size(proto::MAX_MESSAGE_BYTES)
                .max_encoding_message_size(proto::MAX_MESSAGE_BYTES);
            actix_web::rt::spawn(
                tonic::transport::Server::builder()
                    .add_service(core)
                    .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
            );
            let settings: HashMap<String, String> = [
                ("CORE_GRPC_URL", format!("http://{address}")),
                ("MAX_BODY_BYTES", MAX_BODY_BYTES.to_string()),
                ("REGION_TENANT_URLS", "us=https://us.example.com/scim/v2".to_owned()),
            ]
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect();
            let config = gateway::config::GatewayConfig::from_source(&settings).expect("the gateway's settings");
            let gateway = gateway::app::connect_lazily(config).expect("the gateway's core client");
            let app = Rc::new(actix_web::test::init_service(gateway::app::scim_app(gateway)).await);
            let call: Rc<dyn Fn(actix_http::Request) -> Answering> = Rc::new(move |request: actix_http::Request| {
                let app = app.clone();
                Box::pin(async move {
                    match app.call(request).await {
                        Ok(response) => response.map_into_boxed_body(),
                        // Handlers and extractors answer their errors; one that escapes the
                        // app would be answered by the HTTP dispatcher, without a SCIM body.
                        Err(error) => {
                            panic!(
                                "the app failed instead of answering: {error:?} ({})",
                                error.error_response().status()
                            )
                        }
                    }
                })
            });
            call
        });
        Self { system, app }
    }
}

thread_local! {
    // Leaked: never dropped at exit, when the runtime's own thread-locals are already gone.
    static HARNESS: &'static Harness = Box::leak(Box::new(Harness::start()));
}

/// Builds the app and starts the fake core, before the first input: that input's time and
/// allocations are then its own (the router leaks its capture names on purpose when the app is
/// built; `lsan.supp`).
pub fn start() {
    HARNESS.with(|_| ());
}

/// The base path itself or a path below it (`/scim/v2x` is neither).
fn below_base(path: &str) -> bool {
    path.strip_prefix(BASE_PATH).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Whether the gateway reports this response to the provisioning log (`gateway::report`): its
/// own error, not a 401, below the base path, with a credential of this region.
fn reported(response: &ServiceResponse) -> bool {
    if response.response().extensions().get::<gateway::error::Rejection>().is_none()
        || response.status() == StatusCode::UNAUTHORIZED
        || !below_base(response.request().path())
    {
        return false;
    }
    let Some(Ok(value)) = response.request().headers().get(header::AUTHORIZATION).map(|v| v.to_str()) else {
        return false;
    };
    let Some(token) = proto::credential::bearer_token(value) else { return false };
    platform::config::token_region(token, "scim").is_none_or(|region| region == "local")
        && tonic::metadata::AsciiMetadataValue::try_from(format!("Bearer {token}")).is_ok()
}

/// `GATEWAY_FUZZ_TRACE=1`: each request and its answer on stderr.
static TRACE: LazyLock<bool> = LazyLock::new(|| std::env::var_os("GATEWAY_FUZZ_TRACE").is_some());

/// Runs one input and checks every promise; a broken one panics.
pub fn run(input: &Input<'_>) {
    let Some(request) = input.request() else { return };
    fake_core::answer_with(input.core);
    HARNESS.with(|harness| {
        let (status, headers, body, pattern) = harness.system.block_on(async {
            let reports = fake_core::rejections();
            let response = (harness.app)(request).await;
            if reported(&response) {
                let waited = tokio::time::timeout(Duration::from_secs(10), fake_core::rejection_after(reports)).await;
                assert!(waited.is_ok(), "a rejection ({}) was not reported to the provisioning log", response.status());
            }
            let status = response.status();
            let headers = response.headers().clone();
            let pattern = response.request().match_pattern();
            let body = actix_web::body::to_bytes(response.into_body()).await.map_err(|_| ()).expect("the body");
            (status, headers, body, pattern)
        });
        if *TRACE {
            let (method, uri) = (input.method(), input.uri());
            eprintln!("{method:?} {uri:?} (core: {:?}) -> {status} {}", input.core, String::from_utf8_lossy(&body));
        }
        let broken = fake_core::broken_promises();
        assert!(broken.is_empty(), "the gateway broke its promises to the core: {broken:#?}");
        check(input, status, &headers, &body, pattern.as_deref());
    });
}

fn check(input: &Input<'_>, status: StatusCode, headers: &HeaderMap, body: &[u8], pattern: Option<&str>) {
    let text = String::from_utf8_lossy(body);
    assert!(!text.contains(fake_core::INTERNAL_SECRET), "{status}: the core's internal cause leaked: {text}");
    if matches!(pattern, Some("/livez" | "/readyz")) {
        return;
    }
    let status_code = status.as_u16();
    if status.is_server_error() {
        let me = pattern.is_some_and(|p| p.starts_with("/scim/v2/Me")) && status_code == 501;
        assert!(me || input.core.is_server_error(), "{status} though the core answered {:?}: {text}", input.core);
    }
    if status_code == 412 {
        assert_eq!(input.core, Answer::VersionMismatch, "412 without the core's version mismatch: {text}");
    }
    if status_code == 304 {
        assert!(input.if_none_match.is_some(), "304 without If-None-Match");
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    if status.is_client_error() || status.is_server_error() {
        assert_eq!(content_type, Some(gateway::error::SCIM_CONTENT_TYPE), "{status} {pattern:?}: {text:?}");
        let error: Value =
            serde_json::from_slice(body).unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {text:?}"));
        let schemas = error["schemas"].as_array().map(Vec::as_slice).unwrap_or_default();
        assert!(schemas.iter().any(|s| s == scim::error::ERROR_SCHEMA), "{status}: no Error schema in {error}");
        assert_eq!(error["status"], Value::String(status_code.to_string()), "{status}: {error}");
        assert!(error["detail"].is_string(), "{status}: no detail in {error}");
        if let Some(scim_type) = error.get("scimType") {
            assert!(scim_type.is_string(), "{status}: scimType {scim_type}");
        }
        if status_code == 401 {
            assert!(headers.contains_key(header::WWW_AUTHENTICATE), "401 without WWW-Authenticate");
        }
        return;
    }
    if status.is_success() && status != StatusCode::NO_CONTENT {
        assert_eq!(content_type, Some(gateway::error::SCIM_CONTENT_TYPE), "{status} {pattern:?}: {text:?}");
        let answer: Value =
            serde_json::from_slice(body).unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {text:?}"));
        assert!(answer["schemas"].is_array(), "{status}: no schemas in {answer}");
        if status == StatusCode::CREATED {
            let location = headers.get(header::LOCATION).and_then(|v| v.to_str().ok());
            assert!(location.is_some(), "201 without Location: {answer}");
            assert_eq!(location, answer["meta"]["location"].as_str(), "201's Location and meta.location differ");
        }
    }
}
