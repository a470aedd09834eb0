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

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A child process, killed when dropped; its output goes to a log file shown on failure.
pub struct Process {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    pub fn spawn(name: &str, program: PathBuf, args: &[&str], env: &[(&str, String)], logs: &std::path::Path) -> Self {
        let log = logs.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let mut command = Command::new(program);
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", std::env::var("E2E_RUST_LOG").unwrap_or_else(|_| "info".to_owned()))
            .stdout(Stdio::from(file.try_clone().expect("log clone")))
            .stderr(Stdio::from(file));
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Self { name: name.to_owned(), child, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
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
pub struct Endpoints {
    pub scim: String,
    pub token: String,
    pub directory: String,
    pub tenant: String,
}

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

    /// A directory read: `kind` is "accounts" or "teams".
    pub async fn directory(&self, kind: &str, id: &str) -> (StatusCode, Value) {
        let url = format!("{}/v1/tenants/{}/{kind}/{id}", self.endpoints.directory, self.endpoints.tenant);
        let response = self.http.get(url).send().await.expect("directory request");
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

/// Waits until `url` answers 200.
pub async fn wait_ready(url: &str, processes: &[&Process]) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(response) = http.get(url).send().await
            && response.status() == StatusCode::OK
        {
            return;
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = processes.iter().map(|p| p.log()).collect();
            panic!("{url} never became ready:\n{}", logs.join("\n-----\n"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The three services as separate processes on PostgreSQL and Kafka.
pub struct Cluster {
    pub client: Client,
    pub topic: String,
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
        let logs = self.logs.path().join("rebuilt");
        std::fs::create_dir_all(&logs).expect("log dir");
        let directory = Process::spawn("directory-store", binary("directory-store"), &["serve"], &env, &logs);
        wait_ready(&format!("{}/readyz", self.client.endpoints.directory), &[&directory]).await;
        self.processes.push(directory);
        self.directory_database = database;
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
}

impl Cluster {
    pub async fn start() -> Self {
        let kafka = required_env("KAFKA_BOOTSTRAP_SERVERS");
        Self::start_with(ClusterOptions { kafka, create_topic: true, extra_kafka_properties: String::new() }).await
    }

    pub async fn start_with(options: ClusterOptions) -> Self {
        let logs = tempfile::tempdir().expect("log dir");
        let core_database = TestDatabase::create();
        let directory_database = TestDatabase::create();
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let topic = format!("scim-e2e-{suffix}");
        if options.create_topic {
            create_topic(&options.kafka, &topic).await;
        }
        let token = format!("scim_test_{suffix}");
        let tenant = "acme".to_owned();
        let (core_port, gateway_port, directory_http, directory_grpc) =
            (free_port(), free_port(), free_port(), free_port());

        let core_env = vec![
            ("DATABASE_URL", core_database.url.clone()),
            ("CORE_GRPC_ADDR", format!("127.0.0.1:{core_port}")),
            ("KAFKA_BOOTSTRAP_SERVERS", options.kafka.clone()),
            ("KAFKA_TOPIC", topic.clone()),
            ("KAFKA_MESSAGE_TIMEOUT_MS", "5000".to_owned()),
            ("BOOTSTRAP_TENANT", tenant.clone()),
            ("SCIM_BOOTSTRAP_TOKEN", token.clone()),
        ];
        let directory_env = vec![
            ("DATABASE_URL", directory_database.url.clone()),
            ("DIRECTORY_HTTP_ADDR", format!("127.0.0.1:{directory_http}")),
            ("DIRECTORY_GRPC_ADDR", format!("127.0.0.1:{directory_grpc}")),
            ("KAFKA_BOOTSTRAP_SERVERS", options.kafka.clone()),
            ("KAFKA_TOPIC", topic.clone()),
            ("KAFKA_GROUP_ID", format!("directory-{suffix}")),
            ("KAFKA_PROPERTIES", options.extra_kafka_properties.clone()),
        ];
        let gateway_env = vec![
            ("GATEWAY_HTTP_ADDR", format!("127.0.0.1:{gateway_port}")),
            ("CORE_GRPC_URL", format!("http://127.0.0.1:{core_port}")),
        ];
        Process::run_to_completion("provisioning-core migrate", binary("provisioning-core"), &["migrate"], &core_env);
        Process::run_to_completion("directory-store migrate", binary("directory-store"), &["migrate"], &directory_env);
        let directory_env_kept = directory_env.clone();
        let core = Process::spawn("provisioning-core", binary("provisioning-core"), &["serve"], &core_env, logs.path());
        let directory =
            Process::spawn("directory-store", binary("directory-store"), &["serve"], &directory_env, logs.path());
        let gateway = Process::spawn("gateway", binary("gateway"), &[], &gateway_env, logs.path());
        wait_ready(&format!("http://127.0.0.1:{gateway_port}/readyz"), &[&core, &gateway]).await;
        wait_ready(&format!("http://127.0.0.1:{directory_http}/readyz"), &[&directory]).await;
        let client = Client::new(Endpoints {
            scim: format!("http://127.0.0.1:{gateway_port}/scim/v2"),
            token,
            directory: format!("http://127.0.0.1:{directory_http}"),
            tenant,
        });
        Self {
            client,
            topic,
            core_database,
            directory_database,
            directory_env: directory_env_kept,
            processes: vec![gateway, core, directory],
            logs,
        }
    }
}

/// The embedded default: one `standalone` process on SQLite.
pub struct Standalone {
    pub client: Client,
    _process: Process,
    _data: tempfile::TempDir,
}

impl Standalone {
    pub async fn start() -> Self {
        let data = tempfile::tempdir().expect("data dir");
        let token = format!("scim_test_{}", uuid::Uuid::new_v4().simple());
        let (gateway_port, directory_http, directory_grpc) = (free_port(), free_port(), free_port());
        let env = vec![
            ("DATA_DIR", data.path().join("data").display().to_string()),
            ("GATEWAY_HTTP_ADDR", format!("127.0.0.1:{gateway_port}")),
            ("DIRECTORY_HTTP_ADDR", format!("127.0.0.1:{directory_http}")),
            ("DIRECTORY_GRPC_ADDR", format!("127.0.0.1:{directory_grpc}")),
            ("SCIM_BOOTSTRAP_TOKEN", token.clone()),
        ];
        let process = Process::spawn("standalone", binary("standalone"), &[], &env, data.path());
        wait_ready(&format!("http://127.0.0.1:{gateway_port}/readyz"), &[&process]).await;
        wait_ready(&format!("http://127.0.0.1:{directory_http}/readyz"), &[&process]).await;
        let client = Client::new(Endpoints {
            scim: format!("http://127.0.0.1:{gateway_port}/scim/v2"),
            token,
            directory: format!("http://127.0.0.1:{directory_http}"),
            tenant: "default".to_owned(),
        });
        Self { client, _process: process, _data: data }
    }
}
