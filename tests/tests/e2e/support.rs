//! Starting the real processes and talking to them.

use std::future::Future;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use platform::testing::PostgresDatabase as TestDatabase;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use reqwest::StatusCode;
use serde_json::Value;

/// A setting the test script exports; missing means the suite was not started by it.
pub fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run the suite with scripts/test.sh"))
}

/// A binary of the workspace, built next to this test binary (target/<profile>/<name>).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` (scripts/test.sh does)",
        path.display()
    );
    path
}

/// provisioning-core's credential at the directory in every system the suites start
/// (`DIRECTORY_INTERNAL_TOKEN` there, `DIRECTORY_TOKEN` in the core): global, read.
pub const INTERNAL_DIRECTORY_TOKEN: &str = "dirsvc_e2e_internal_credential_of_provisioning_core";
/// The suites' own directory credential, registered at every start: global, write.
pub const DIRECTORY_TOKEN: &str = "dirsvc_e2e_write_credential_of_every_tenant";

/// Registers [`DIRECTORY_TOKEN`] with a directory's command line (`program args…`).
pub fn register_directory_token(program: PathBuf, args: &[&str], env: &[(&str, String)]) {
    let mut env = env.to_vec();
    env.push(("E2E_DIRECTORY_TOKEN", DIRECTORY_TOKEN.to_owned()));
    let mut args = args.to_vec();
    args.extend(["issue", "e2e", "--scope", "write", "--token-env", "E2E_DIRECTORY_TOKEN"]);
    Process::run_to_completion("registering the suite's directory credential", program, &args, &env);
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A child process, killed when dropped; its output goes to a log file shown on failure.
pub struct Process {
    name: String,
    child: Child,
    log: PathBuf,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    cwd: Option<PathBuf>,
}

impl Process {
    pub fn spawn(name: &str, program: PathBuf, args: &[&str], env: &[(&str, String)], logs: &std::path::Path) -> Self {
        Self::spawn_in(name, program, args, env, logs, None)
    }

    /// As [`Process::spawn`], in the working directory `cwd` when given.
    pub fn spawn_in(
        name: &str,
        program: PathBuf,
        args: &[&str],
        env: &[(&str, String)],
        logs: &std::path::Path,
        cwd: Option<PathBuf>,
    ) -> Self {
        let log = logs.join(format!("{name}.log"));
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
        let child = Self::start(name, &program, &args, &env, &log, cwd.as_deref());
        Self { name: name.to_owned(), child, log, program, args, env, cwd }
    }

    fn start(
        name: &str,
        program: &std::path::Path,
        args: &[String],
        env: &[(String, String)],
        log: &std::path::Path,
        cwd: Option<&std::path::Path>,
    ) -> Child {
        // Appended: a restarted process keeps its earlier output in the same log.
        let file = std::fs::File::options().create(true).append(true).open(log).expect("log file");
        let mut command = Command::new(program);
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", std::env::var("E2E_RUST_LOG").unwrap_or_else(|_| "info".to_owned()))
            .stdout(Stdio::from(file.try_clone().expect("log clone")))
            .stderr(Stdio::from(file));
        command.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if let Some(cwd) = cwd {
            command.current_dir(cwd);
        }
        command.spawn().unwrap_or_else(|e| panic!("starting {name}: {e}"))
    }

    /// `kill -9`: the process stops at once, whatever it was doing.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the process again, with the same program, arguments and settings.
    pub fn respawn(&mut self) {
        self.kill();
        self.child = Self::start(&self.name, &self.program, &self.args, &self.env, &self.log, self.cwd.as_deref());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM (as Kubernetes stops a pod) without waiting for the process to exit.
    pub fn sigterm(&self) {
        let sent = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("kill");
        assert!(sent.success(), "sending SIGTERM to {}", self.name);
    }

    /// True once the process has stopped.
    pub fn has_exited(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_some()
    }

    /// Stops the process as Kubernetes does (SIGTERM) and waits for it to exit by itself.
    pub fn terminate(mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        assert!(sent.success(), "sending SIGTERM to {}", self.name);
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().expect("wait").is_none() {
            assert!(Instant::now() < deadline, "{} did not stop within 20 s of SIGTERM:\n{}", self.name, self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs a command to completion (e.g. `migrate`), failing the test with its output if it fails.
    pub fn run_to_completion(name: &str, program: PathBuf, args: &[&str], env: &[(&str, String)]) {
        let output = Command::new(program)
            .args(args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .unwrap_or_else(|e| panic!("running {name}: {e}"));
        assert!(
            output.status.success(),
            "{name} failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("----- {} log -----\n{}", self.name, self.log());
        }
    }
}

pub async fn create_topic(bootstrap: &str, topic: &str) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("admin client");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin
        .create_topics(&[NewTopic::new(topic, 3, TopicReplication::Fixed(1))], &options)
        .await
        .expect("create topic");
    for result in results {
        result.unwrap_or_else(|(name, error)| panic!("creating topic {name}: {error}"));
    }
}

/// Polls `probe` until it yields a value (an event observable from outside, such as a record
/// reaching the directory), failing after 30 s.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What a running system offers to the tests: a SCIM tenant URL and token, and the directory.
#[derive(Clone)]
pub struct Endpoints {
    pub scim: String,
    pub token: String,
    pub directory: String,
    pub tenant: String,
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    pub endpoints: Endpoints,
}

impl Client {
    pub fn new(endpoints: Endpoints) -> Self {
        Self { http: reqwest::Client::new(), endpoints }
    }

    /// A SCIM request with the tenant's token; returns the status and the JSON body (Null when empty).
    pub async fn scim(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request =
            self.http.request(method, format!("{}{path}", self.endpoints.scim)).bearer_auth(&self.endpoints.token);
        if let Some(body) = body {
            request = request.header("Content-Type", "application/scim+json").body(body.to_string());
        }
        let response = request.send().await.expect("SCIM request");
        let status = response.status();
        if status != StatusCode::NO_CONTENT {
            assert_eq!(
                response.headers().get("content-type").and_then(|v| v.to_str().ok()),
                Some("application/scim+json"),
                "every SCIM response with a body, errors included, is application/scim+json ({status})"
            );
        }
        let text = response.text().await.expect("body");
        let json = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("JSON body") };
        (status, json)
    }

    /// `PATCH /Users/{id}` setting `active`, as Entra deactivates (and reactivates) a user.
    pub async fn set_active(&self, id: &str, active: bool) -> StatusCode {
        let body = serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                      "Operations": [{"op": "replace", "path": "active", "value": active}]});
        self.scim(reqwest::Method::PATCH, &format!("/Users/{id}"), Some(body)).await.0
    }

    /// A directory read: `kind` is "accounts" or "teams".
    pub async fn directory(&self, kind: &str, id: &str) -> (StatusCode, Value) {
        let url = format!("{}/v1/tenants/{}/{kind}/{id}", self.endpoints.directory, self.endpoints.tenant);
        let response = self.http.get(url).bearer_auth(DIRECTORY_TOKEN).send().await.expect("directory request");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Waits until the directory's record satisfies `check`.
    pub async fn directory_until(
        &self,
        kind: &str,
        id: &str,
        what: &str,
        check: impl Fn(StatusCode, &Value) -> bool,
    ) -> Value {
        eventually(what, || async {
            let (status, body) = self.directory(kind, id).await;
            check(status, &body).then_some(body)
        })
        .await
    }
}

/// The operators' admin API of a running system.
#[derive(Clone)]
pub struct Admin {
    http: reqwest::Client,
    /// e.g. `http://127.0.0.1:8081`
    pub url: String,
    pub token: String,
}

impl Admin {
    pub fn new(url: String, token: String) -> Self {
        Self { http: reqwest::Client::new(), url, token }
    }

    /// An admin request (`path` below the admin URL) with the admin token.
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_as(&self.token, method, path, body).await
    }

    /// An admin request with another bearer token.
    pub async fn call_as(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method.clone(), format!("{}{path}", self.url)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        json_reply(&method, path, request).await
    }

    /// Creates a tenant and issues it a token; returns a SCIM client for it on `scim_url`.
    pub async fn tenant_client(&self, slug: &str, scim_url: &str, directory_url: &str) -> Client {
        let (status, body) =
            self.call(reqwest::Method::POST, "/admin/v1/tenants", Some(serde_json::json!({ "slug": slug }))).await;
        assert_eq!(status, StatusCode::CREATED, "creating tenant {slug}: {body}");
        let (status, issued) =
            self.call(reqwest::Method::POST, &format!("/admin/v1/tenants/{slug}/tokens"), None).await;
        assert_eq!(status, StatusCode::CREATED, "issuing a token for {slug}: {issued}");
        Client::new(Endpoints {
            scim: scim_url.to_owned(),
            token: issued["token"].as_str().expect("the token is shown once").to_owned(),
            directory: directory_url.to_owned(),
            tenant: slug.to_owned(),
        })
    }
}

/// A response as an IdP sees it, with the request that produced it (for failure messages).
pub struct Reply {
    pub request: String,
    pub status: StatusCode,
    pub content_type: Option<String>,
    pub location: Option<String>,
    pub text: String,
    /// The JSON body; Null when the body is empty.
    pub body: Value,
}

impl Reply {
    fn new(request: String, status: StatusCode, headers: &[(String, String)], text: String) -> Self {
        let header = |name: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{request}\n→ {status}: the body is not JSON ({e}): {text}"))
        };
        Self { content_type: header("content-type"), location: header("location"), request, status, text, body }
    }

    /// Asserts the status and, when there is a body, the SCIM media type; returns the body.
    #[track_caller]
    pub fn expect(&self, status: StatusCode) -> &Value {
        assert_eq!(self.status, status, "{}\n→ expected {status}, got {}: {}", self.request, self.status, self.text);
        if self.status != StatusCode::NO_CONTENT || !self.text.is_empty() {
            let media_type = self.content_type.as_deref().and_then(|c| c.split(';').next()).map(str::trim);
            assert_eq!(
                media_type,
                Some("application/scim+json"),
                "{}\n→ {status} with Content-Type {:?}: every SCIM response is application/scim+json",
                self.request,
                self.content_type
            );
        }
        &self.body
    }

    /// Asserts a SCIM error with this status (RFC 7644 §3.12: the Error schema, `status` a
    /// string, a detail); returns the body.
    #[track_caller]
    pub fn expect_error(&self, status: StatusCode) -> &Value {
        let body = self.expect(status);
        assert_eq!(
            body["schemas"],
            serde_json::json!(["urn:ietf:params:scim:api:messages:2.0:Error"]),
            "{}",
            self.request
        );
        assert_eq!(body["status"], status.as_u16().to_string(), "{}: status is a JSON string", self.request);
        assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{}: an error says why: {body}", self.request);
        body
    }
}

impl Client {
    /// A SCIM request with the tenant's token and exactly these headers (reqwest adds
    /// `Accept: */*` when none is given); the body is sent as is.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        let url = format!("{}{path}", self.endpoints.scim);
        let mut request = self.http.request(method.clone(), &url).bearer_auth(&self.endpoints.token);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.body(body.to_owned());
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        let text = response.text().await.expect("body");
        Reply::new(format!("{method} {path} {}", body.unwrap_or_default()), status, &headers, text)
    }

    /// A GET over a bare socket, without any Accept header (reqwest always sends one): what
    /// Entra's Test Connection sends.
    pub async fn get_without_accept(&self, path: &str) -> Reply {
        use std::io::{Read, Write};
        let rest = self.endpoints.scim.strip_prefix("http://").expect("an http:// tenant URL");
        let (host, base) = rest.split_once('/').map_or((rest, String::new()), |(h, b)| (h, format!("/{b}")));
        let (host, target, token) = (host.to_owned(), format!("{base}{path}"), self.endpoints.token.clone());
        let raw = tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(&host).expect("connect");
            stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
            let request = format!(
                "GET {target} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
            );
            stream.write_all(request.as_bytes()).expect("write");
            let mut raw = Vec::new();
            stream.read_to_end(&mut raw).expect("read");
            raw
        })
        .await
        .expect("join");
        let raw = String::from_utf8(raw).expect("UTF-8 response");
        let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let code: u16 = status_line.split(' ').nth(1).and_then(|c| c.parse().ok()).expect("a status code");
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let chunked = headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked"));
        let body = if chunked { dechunk(body) } else { body.to_owned() };
        Reply::new(
            format!("GET {path} (no Accept header)"),
            StatusCode::from_u16(code).expect("status"),
            &headers,
            body,
        )
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// Waits until `url` answers 200.
pub async fn wait_ready(url: &str, processes: &mut [&mut Process]) -> Result<(), String> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let logs = |processes: &[&mut Process]| processes.iter().map(|p| p.log()).collect::<Vec<_>>().join("\n-----\n");
    loop {
        if let Ok(response) = http.get(url).send().await
            && response.status() == StatusCode::OK
        {
            return Ok(());
        }
        if processes.iter_mut().any(|p| p.has_exited()) || Instant::now() > deadline {
            return Err(format!("{url} never became ready:\n{}", logs(processes)));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A free port is only free until someone else takes it: a start that lost that race (the
/// log says the address is in use) is tried again on other ports.
fn lost_port_race(failure: &str) -> bool {
    failure.contains("Address already in use")
}

const START_ATTEMPTS: usize = 3;

/// The three services as separate processes on PostgreSQL and Kafka.
pub struct Cluster {
    pub client: Client,
    /// The tenant URL of each gateway replica (the first is `client`'s).
    pub gateways: Vec<String>,
    /// Each gateway's management listener (`/metrics`), e.g. `http://127.0.0.1:9090`.
    pub gateway_management: Vec<String>,
    pub admin: Admin,
    /// The core's self-serve portal listener, e.g. `http://127.0.0.1:8082` (page at `/portal/`).
    pub portal: String,
    pub topic: String,
    /// The gRPC listeners of the core and of the directory, `127.0.0.1:<port>`.
    pub core_grpc: String,
    pub directory_grpc: String,
    /// The admin listener of the second core replica, when there is one.
    pub second_core_admin: Option<String>,
    pub core_database: TestDatabase,
    directory_database: TestDatabase,
    directory_env: Vec<(&'static str, String)>,
    processes: Vec<Process>,
    logs: tempfile::TempDir,
}

impl Cluster {
    /// Replaces the directory store with a new one on an empty database, in the same consumer
    /// group: the directory as a projection that can be dropped and rebuilt from the topic.
    pub async fn rebuild_directory(&mut self) {
        // A graceful stop: the consumer leaves its group, so the new one is assigned at once.
        if let Some(index) = self.processes.iter().position(|p| p.name == "directory-store") {
            self.processes.remove(index).terminate();
        }
        let database = TestDatabase::create();
        let mut env = self.directory_env.clone();
        for (key, value) in &mut env {
            if *key == "DATABASE_URL" {
                value.clone_from(&database.url);
            }
        }
        Process::run_to_completion("directory-store migrate", binary("directory-store"), &["migrate"], &env);
        register_directory_token(binary("directory-store"), &["credentials"], &env);
        let logs = self.logs.path().join("rebuilt");
        std::fs::create_dir_all(&logs).expect("log dir");
        let mut directory = Process::spawn("directory-store", binary("directory-store"), &["serve"], &env, &logs);
        wait_ready(&format!("{}/readyz", self.client.endpoints.directory), &mut [&mut directory])
            .await
            .unwrap_or_else(|failure| panic!("{failure}"));
        self.processes.push(directory);
        self.directory_database = database;
    }

    /// The directory store's database (to break it on purpose, as a lost event would).
    pub fn directory_database_url(&self) -> &str {
        &self.directory_database.url
    }

    /// One of the processes ("gateway", "provisioning-core", "directory-store"), to kill and
    /// restart it.
    pub fn process(&mut self, name: &str) -> &mut Process {
        self.processes.iter_mut().find(|p| p.name == name).unwrap_or_else(|| panic!("no process {name}"))
    }

    /// One of the processes, to signal it (see [`Process::sigterm`]).
    pub fn process_ref(&self, name: &str) -> &Process {
        self.processes.iter().find(|p| p.name == name).unwrap_or_else(|| panic!("no process {name}"))
    }

    /// What a process has logged so far ("gateway", "provisioning-core", "directory-store").
    pub fn log(&self, name: &str) -> String {
        self.processes.iter().find(|p| p.name == name).map(Process::log).unwrap_or_default()
    }
}

pub struct ClusterOptions {
    pub kafka: String,
    pub create_topic: bool,
    pub extra_kafka_properties: String,
    /// How many gateway replicas (all in front of the one core).
    pub gateways: usize,
    /// Extra settings of provisioning-core and of every gateway (e.g. `REGION`).
    pub core_env: Vec<(&'static str, String)>,
    pub gateway_env: Vec<(&'static str, String)>,
    pub directory_env: Vec<(&'static str, String)>,
    /// The PostgreSQL server (an admin URL) of both services' databases; the suite's shared
    /// server (`TEST_DATABASE_URL`) when unset.
    pub database_server: Option<String>,
    /// TLS (mutual) on both gRPC hops, gateway → core and core → directory, with these files.
    pub grpc_tls: Option<TestPki>,
    /// A second provisioning-core replica ("provisioning-core-2") on the same database, and the
    /// gateways balancing over both (`CORE_GRPC_URL` names the two).
    pub second_core: bool,
}

/// A certificate authority made for one test, a server certificate for 127.0.0.1 and
/// `localhost`, and a client certificate, as PEM files (rcgen).
pub struct TestPki {
    pub dir: tempfile::TempDir,
}

impl TestPki {
    pub fn generate() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
        let dir = tempfile::tempdir().expect("a directory for the certificates");
        let ca_key = KeyPair::generate().expect("a CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).expect("the CA certificate");
        let issuer = Issuer::new(ca_params, ca_key);
        let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).expect("writing a PEM file");
        write("ca.pem", ca.pem());
        for (name, sans) in [("server", vec!["localhost".to_owned()]), ("client", vec!["gateway.test".to_owned()])] {
            let key = KeyPair::generate().expect("a key");
            let mut params = CertificateParams::new(sans).expect("parameters");
            if name == "server" {
                params.subject_alt_names.push(SanType::IpAddress("127.0.0.1".parse().expect("an address")));
            }
            let cert = params.signed_by(&key, &issuer).expect("a certificate");
            write(&format!("{name}.pem"), cert.pem());
            write(&format!("{name}-key.pem"), key.serialize_pem());
        }
        Self { dir }
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    /// The settings of a gRPC listener that requires client certificates of this CA.
    pub fn server_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("GRPC_TLS_CERT_FILE", self.path("server.pem")),
            ("GRPC_TLS_KEY_FILE", self.path("server-key.pem")),
            ("GRPC_TLS_CLIENT_CA_FILE", self.path("ca.pem")),
        ]
    }

    /// The settings of a client trusting this CA (`ca_setting`) with its client certificate.
    pub fn client_env(&self, ca_setting: &'static str) -> Vec<(&'static str, String)> {
        vec![
            (ca_setting, self.path("ca.pem")),
            ("GRPC_TLS_CLIENT_CERT_FILE", self.path("client.pem")),
            ("GRPC_TLS_CLIENT_KEY_FILE", self.path("client-key.pem")),
        ]
    }
}

impl ClusterOptions {
    pub fn new(kafka: String) -> Self {
        Self {
            kafka,
            create_topic: true,
            extra_kafka_properties: String::new(),
            gateways: 1,
            core_env: Vec::new(),
            gateway_env: Vec::new(),
            directory_env: Vec::new(),
            database_server: None,
            grpc_tls: None,
            second_core: false,
        }
    }
}

/// The region tests run in unless they set `REGION` (the default of the services).
pub const TEST_REGION: &str = "local";

impl Cluster {
    pub async fn start() -> Self {
        Self::start_with(ClusterOptions::new(required_env("KAFKA_BOOTSTRAP_SERVERS"))).await
    }

    pub async fn start_with(options: ClusterOptions) -> Self {
        let logs = tempfile::tempdir().expect("log dir");
        let database = || options.database_server.as_deref().map_or_else(TestDatabase::create, TestDatabase::create_on);
        let (core_database, directory_database) = (database(), database());
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let topic = format!("scim-e2e-{suffix}");
        if options.create_topic {
            create_topic(&options.kafka, &topic).await;
        }
        let region = options
            .core_env
            .iter()
            .find(|(key, _)| *key == "REGION")
            .map_or_else(|| TEST_REGION.to_owned(), |(_, region)| region.clone());
        let token = format!("scim_{region}_{suffix}");
        let admin_token = format!("admin_{}", uuid::Uuid::new_v4().simple());
        let tenant = "acme".to_owned();
        let mut attempt = 0;
        let (gateway_ports, management_ports, admin_port, portal_port, directory_http, directory_env, processes, grpc) = loop {
            attempt += 1;
            let (core_port, admin_port, directory_http, directory_grpc) =
                (free_port(), free_port(), free_port(), free_port());
            let portal_port = free_port();
            let (core2_port, admin2_port) = (free_port(), free_port());
            let scheme = if options.grpc_tls.is_some() { "https" } else { "http" };
            let gateway_ports: Vec<u16> = (0..options.gateways.max(1)).map(|_| free_port()).collect();
            let management_ports: Vec<u16> = gateway_ports.iter().map(|_| free_port()).collect();
            let mut core_env = vec![
                ("ADMIN_HTTP_ADDR", format!("127.0.0.1:{admin_port}")),
                ("PORTAL_HTTP_ADDR", format!("127.0.0.1:{portal_port}")),
                // The tenant URL the admin API and the portal name: the first gateway's.
                ("REGION_TENANT_URLS", format!("{region}=http://127.0.0.1:{}/scim/v2", gateway_ports[0])),
                ("ADMIN_TOKEN", admin_token.clone()),
                ("DIRECTORY_GRPC_URL", format!("{scheme}://127.0.0.1:{directory_grpc}")),
                ("DIRECTORY_TOKEN", INTERNAL_DIRECTORY_TOKEN.to_owned()),
                ("DATABASE_URL", core_database.url.clone()),
                ("CORE_GRPC_ADDR", format!("127.0.0.1:{core_port}")),
                ("KAFKA_BOOTSTRAP_SERVERS", options.kafka.clone()),
                ("KAFKA_TOPIC", topic.clone()),
                ("KAFKA_MESSAGE_TIMEOUT_MS", "5000".to_owned()),
                ("BOOTSTRAP_TENANT", tenant.clone()),
                ("SCIM_BOOTSTRAP_TOKEN", token.clone()),
            ];
            if let Some(pki) = &options.grpc_tls {
                core_env.extend(pki.server_env());
                core_env.extend(pki.client_env("DIRECTORY_GRPC_CA_FILE"));
            }
            core_env.extend(options.core_env.iter().cloned());
            let mut directory_env = vec![
                ("DATABASE_URL", directory_database.url.clone()),
                ("DIRECTORY_HTTP_ADDR", format!("127.0.0.1:{directory_http}")),
                ("DIRECTORY_GRPC_ADDR", format!("127.0.0.1:{directory_grpc}")),
                ("DIRECTORY_INTERNAL_TOKEN", INTERNAL_DIRECTORY_TOKEN.to_owned()),
                ("KAFKA_BOOTSTRAP_SERVERS", options.kafka.clone()),
                ("KAFKA_TOPIC", topic.clone()),
                ("KAFKA_GROUP_ID", format!("directory-{suffix}")),
                ("KAFKA_PROPERTIES", options.extra_kafka_properties.clone()),
            ];
            if let Some(pki) = &options.grpc_tls {
                directory_env.extend(pki.server_env());
            }
            directory_env.extend(options.directory_env.iter().cloned());
            let gateway_env = |port: u16, management: u16| {
                let mut env = vec![
                    ("GATEWAY_HTTP_ADDR", format!("127.0.0.1:{port}")),
                    ("MANAGEMENT_HTTP_ADDR", format!("127.0.0.1:{management}")),
                    (
                        "CORE_GRPC_URL",
                        if options.second_core {
                            format!("{scheme}://127.0.0.1:{core_port},{scheme}://127.0.0.1:{core2_port}")
                        } else {
                            format!("{scheme}://127.0.0.1:{core_port}")
                        },
                    ),
                ];
                if let Some(pki) = &options.grpc_tls {
                    env.extend(pki.client_env("CORE_GRPC_CA_FILE"));
                }
                env.extend(options.gateway_env.iter().cloned());
                env
            };
            if attempt == 1 {
                Process::run_to_completion(
                    "provisioning-core migrate",
                    binary("provisioning-core"),
                    &["migrate"],
                    &core_env,
                );
                Process::run_to_completion(
                    "directory-store migrate",
                    binary("directory-store"),
                    &["migrate"],
                    &directory_env,
                );
                register_directory_token(binary("directory-store"), &["credentials"], &directory_env);
            }
            let run = logs.path().join(format!("attempt-{attempt}"));
            std::fs::create_dir_all(&run).expect("log dir");
            let mut core =
                Process::spawn("provisioning-core", binary("provisioning-core"), &["serve"], &core_env, &run);
            let mut directory =
                Process::spawn("directory-store", binary("directory-store"), &["serve"], &directory_env, &run);
            let mut second_core = options.second_core.then(|| {
                let env: Vec<(&str, String)> = core_env
                    .iter()
                    .filter(|(key, _)| !matches!(*key, "CORE_GRPC_ADDR" | "ADMIN_HTTP_ADDR" | "PORTAL_HTTP_ADDR"))
                    .cloned()
                    .chain([
                        ("CORE_GRPC_ADDR", format!("127.0.0.1:{core2_port}")),
                        ("ADMIN_HTTP_ADDR", format!("127.0.0.1:{admin2_port}")),
                    ])
                    .collect();
                Process::spawn("provisioning-core-2", binary("provisioning-core"), &["serve"], &env, &run)
            });
            let mut gateways: Vec<Process> = gateway_ports
                .iter()
                .zip(&management_ports)
                .enumerate()
                .map(|(index, (port, management))| {
                    let name = if index == 0 { "gateway".to_owned() } else { format!("gateway-{}", index + 1) };
                    Process::spawn(&name, binary("gateway"), &[], &gateway_env(*port, *management), &run)
                })
                .collect();
            let mut ready = Ok(());
            for (port, gateway) in gateway_ports.iter().zip(gateways.iter_mut()) {
                if ready.is_ok() {
                    ready = wait_ready(&format!("http://127.0.0.1:{port}/readyz"), &mut [&mut core, gateway]).await;
                }
            }
            if ready.is_ok() {
                ready = wait_ready(&format!("http://127.0.0.1:{admin_port}/livez"), &mut [&mut core]).await;
            }
            if let (true, Some(second)) = (ready.is_ok(), second_core.as_mut()) {
                ready = wait_ready(&format!("http://127.0.0.1:{admin2_port}/livez"), &mut [second]).await;
            }
            if ready.is_ok() {
                ready = wait_ready(&format!("http://127.0.0.1:{directory_http}/readyz"), &mut [&mut directory]).await;
            }
            match ready {
                Ok(()) => {
                    gateways.extend([core, directory]);
                    gateways.extend(second_core);
                    break (
                        gateway_ports,
                        management_ports,
                        admin_port,
                        portal_port,
                        directory_http,
                        directory_env,
                        gateways,
                        (core_port, directory_grpc, admin2_port),
                    );
                }
                Err(failure) if lost_port_race(&failure) && attempt < START_ATTEMPTS => continue,
                Err(failure) => panic!("{failure}"),
            }
        };
        let gateways: Vec<String> =
            gateway_ports.iter().map(|port| format!("http://127.0.0.1:{port}/scim/v2")).collect();
        let client = Client::new(Endpoints {
            scim: gateways[0].clone(),
            token,
            directory: format!("http://127.0.0.1:{directory_http}"),
            tenant,
        });
        let admin = Admin::new(format!("http://127.0.0.1:{admin_port}"), admin_token);
        let gateway_management = management_ports.iter().map(|port| format!("http://127.0.0.1:{port}")).collect();
        Self {
            client,
            gateways,
            gateway_management,
            admin,
            portal: format!("http://127.0.0.1:{portal_port}"),
            topic,
            core_grpc: format!("127.0.0.1:{}", grpc.0),
            second_core_admin: options.second_core.then(|| format!("http://127.0.0.1:{}", grpc.2)),
            directory_grpc: format!("127.0.0.1:{}", grpc.1),
            core_database,
            directory_database,
            directory_env,
            processes,
            logs,
        }
    }
}

/// The embedded default: one `standalone` process on SQLite.
pub struct Standalone {
    pub client: Client,
    pub admin: Admin,
    /// The self-serve portal listener (page at `/portal/`).
    pub portal: String,
    /// The directory's gRPC listener, e.g. `http://127.0.0.1:50052`.
    pub directory_grpc: String,
    process: Process,
    data: tempfile::TempDir,
}

impl Standalone {
    pub async fn start() -> Self {
        Self::start_with(Vec::new()).await
    }

    /// With extra settings (e.g. a low rate limit).
    pub async fn start_with(extra: Vec<(&'static str, String)>) -> Self {
        let data = tempfile::tempdir().expect("data dir");
        let token = format!("scim_{TEST_REGION}_{}", uuid::Uuid::new_v4().simple());
        let admin_token = format!("admin_{}", uuid::Uuid::new_v4().simple());
        let mut attempt = 0;
        let (gateway_port, directory_http, directory_grpc, admin_port, portal_port, process) = loop {
            attempt += 1;
            let (gateway_port, directory_http, directory_grpc, admin_port) =
                (free_port(), free_port(), free_port(), free_port());
            let portal_port = free_port();
            let env = vec![
                ("DATA_DIR", data.path().join("data").display().to_string()),
                ("ADMIN_HTTP_ADDR", format!("127.0.0.1:{admin_port}")),
                ("PORTAL_HTTP_ADDR", format!("127.0.0.1:{portal_port}")),
                ("ADMIN_TOKEN", admin_token.clone()),
                ("GATEWAY_HTTP_ADDR", format!("127.0.0.1:{gateway_port}")),
                ("DIRECTORY_HTTP_ADDR", format!("127.0.0.1:{directory_http}")),
                ("DIRECTORY_GRPC_ADDR", format!("127.0.0.1:{directory_grpc}")),
                ("DIRECTORY_INTERNAL_TOKEN", INTERNAL_DIRECTORY_TOKEN.to_owned()),
                ("SCIM_BOOTSTRAP_TOKEN", token.clone()),
            ];
            // A test may leave ADMIN_TOKEN unset ("" in `extra`) to see standalone generate one.
            let env: Vec<(&str, String)> = env
                .into_iter()
                .filter(|(key, _)| !extra.iter().any(|(k, _)| k == key))
                .chain(extra.iter().cloned())
                .collect();
            if attempt == 1 {
                register_directory_token(binary("standalone"), &["directory-credentials"], &env);
            }
            let mut process = Process::spawn("standalone", binary("standalone"), &[], &env, data.path());
            let mut ready = wait_ready(&format!("http://127.0.0.1:{gateway_port}/readyz"), &mut [&mut process]).await;
            if ready.is_ok() {
                ready = wait_ready(&format!("http://127.0.0.1:{directory_http}/readyz"), &mut [&mut process]).await;
            }
            if ready.is_ok() {
                ready = wait_ready(&format!("http://127.0.0.1:{admin_port}/livez"), &mut [&mut process]).await;
            }
            match ready {
                Ok(()) => break (gateway_port, directory_http, directory_grpc, admin_port, portal_port, process),
                Err(failure) if lost_port_race(&failure) && attempt < START_ATTEMPTS => continue,
                Err(failure) => panic!("{failure}"),
            }
        };
        let client = Client::new(Endpoints {
            scim: format!("http://127.0.0.1:{gateway_port}/scim/v2"),
            token,
            directory: format!("http://127.0.0.1:{directory_http}"),
            tenant: "default".to_owned(),
        });
        let admin_token = extra.iter().find(|(k, _)| *k == "ADMIN_TOKEN").map_or(admin_token, |(_, t)| t.clone());
        let admin = Admin::new(format!("http://127.0.0.1:{admin_port}"), admin_token);
        Self {
            client,
            admin,
            portal: format!("http://127.0.0.1:{portal_port}"),
            directory_grpc: format!("http://127.0.0.1:{directory_grpc}"),
            process,
            data,
        }
    }

    /// `standalone directory-credentials <args>` against this instance's data; its JSON answer.
    pub fn directory_credentials(&self, args: &[&str]) -> Value {
        let output = Command::new(binary("standalone"))
            .arg("directory-credentials")
            .args(args)
            .env_clear()
            .env("DATA_DIR", self.data.path().join("data"))
            .output()
            .expect("running standalone directory-credentials");
        assert!(output.status.success(), "directory-credentials {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).expect("a JSON answer")
    }

    /// What the process has logged so far.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// The core's SQLite database file.
    pub fn core_database(&self) -> PathBuf {
        self.data.path().join("data").join("core.db")
    }

    /// Every file the process keeps (its SQLite databases and their journals), as bytes.
    pub fn stored_bytes(&self) -> Vec<(PathBuf, Vec<u8>)> {
        fn walk(dir: &std::path::Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
            for entry in std::fs::read_dir(dir).expect("read data dir").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else if let Ok(bytes) = std::fs::read(&path) {
                    out.push((path, bytes));
                }
            }
        }
        let mut files = Vec::new();
        walk(&self.data.path().join("data"), &mut files);
        files
    }
}

/// The `id` of a SCIM resource.
#[track_caller]
pub fn id_of(resource: &Value) -> String {
    resource["id"].as_str().unwrap_or_else(|| panic!("a resource with an id: {resource}")).to_owned()
}

/// The strings of a JSON array (or the `value`s of its objects), sorted: to compare sets.
pub fn sorted(values: &Value) -> Vec<String> {
    let mut strings: Vec<String> = values
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().or_else(|| item["value"].as_str()).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    strings.sort();
    strings
}

/// `ids` sorted, for comparison with [`sorted`].
pub fn set_of(ids: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|id| (*id).to_owned()).collect();
    ids.sort();
    ids
}

/// The self-serve portal API (`/portal/v1`) with one portal session, as the page calls it.
pub struct Portal {
    http: reqwest::Client,
    /// e.g. `http://127.0.0.1:8082`
    pub url: String,
    pub session: String,
}

impl Portal {
    /// Issues a portal session of `tenant` through the admin API (as the product's backend
    /// does); returns it with the admin API's answer (its `url` is the link for the browser).
    pub async fn open(admin: &Admin, portal_url: &str, tenant: &str) -> (Self, Value) {
        let (status, issued) = admin
            .call(
                reqwest::Method::POST,
                &format!("/admin/v1/tenants/{tenant}/portal-sessions"),
                Some(serde_json::json!({"label": "it-admin@customer.example"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "a portal session of {tenant}: {issued}");
        let session = issued["token"].as_str().expect("the session's secret").to_owned();
        (Self { http: reqwest::Client::new(), url: portal_url.to_owned(), session }, issued)
    }

    /// A portal API request (`path` below `/portal/v1`) with this session.
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_as(Some(&self.session), method, path, body).await
    }

    /// A portal API request with another credential, or none.
    pub async fn call_as(
        &self,
        credential: Option<&str>,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method.clone(), format!("{}/portal/v1{path}", self.url));
        if let Some(credential) = credential {
            request = request.bearer_auth(credential);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        json_reply(&method, path, request).await
    }

    /// A GET of any path of the portal listener (the page and its files).
    pub async fn get_raw(&self, path: &str) -> reqwest::Response {
        self.http.get(format!("{}{path}", self.url)).send().await.unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }
}

/// Sends a JSON API request; its status and JSON body (Null when empty).
async fn json_reply(method: &reqwest::Method, path: &str, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = response.status();
    let text = response.text().await.expect("body");
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path} → {status}: not JSON ({e}): {text}"))
    };
    (status, json)
}

/// A SCIM request as Microsoft Entra ID sends it (its User-Agent), with `token`: its status and
/// JSON body (Null when empty).
pub async fn entra(
    scim_url: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{scim_url}{path}"))
        .bearer_auth(token)
        .header("User-Agent", ENTRA_USER_AGENT);
    if let Some(body) = body {
        request = request.header("Content-Type", "application/scim+json").body(body.to_string());
    }
    let response = request.send().await.expect("SCIM request");
    let status = response.status();
    let text = response.text().await.expect("body");
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("JSON") })
}

/// The User-Agent Entra ID's provisioning service sends.
pub const ENTRA_USER_AGENT: &str = "Azure Active Directory SCIM Client";
