//! TLS on the gRPC hops that can cross a network, with certificates made in the test (rcgen):
//! the gateway reaches the core and the core reaches the directory over mutual TLS (each listener
//! requires a client certificate of the test's CA), and a client that speaks plaintext, trusts
//! another CA or has no client certificate is refused.

use reqwest::{Method, StatusCode};
use serde_json::json;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::support::{Cluster, ClusterOptions, TestPki, required_env};

/// A health check on `address` through `endpoint`: Ok when the TLS handshake and the call succeed.
async fn health(endpoint: tonic::transport::Endpoint) -> Result<(), String> {
    let channel = endpoint.connect().await.map_err(|e| format!("connect: {e:?}"))?;
    HealthClient::new(channel)
        .check(HealthCheckRequest { service: String::new() })
        .await
        .map(|_| ())
        .map_err(|status| format!("call: {status:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_grpc_hops_speak_mutual_tls_with_certificates_made_in_the_test() {
    let pki = TestPki::generate();
    let (ca, client_cert, client_key) = (
        std::fs::read(pki.path("ca.pem")).unwrap(),
        std::fs::read(pki.path("client.pem")).unwrap(),
        std::fs::read(pki.path("client-key.pem")).unwrap(),
    );
    let mut options = ClusterOptions::new(required_env("KAFKA_BOOTSTRAP_SERVERS"));
    options.grpc_tls = Some(pki);
    let cluster = Cluster::start_with(options).await;

    // Gateway → core (every SCIM request), core → directory (the lookup before a user with an
    // email is created: it answers 503 when the directory cannot be asked).
    let (status, created) = cluster
        .client
        .scim(
            Method::POST,
            "/Users",
            Some(json!({"userName": "tls@example.com", "emails": [{"value": "tls@example.com"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    cluster
        .client
        .directory_until("accounts", &id, "the account in the directory", |status, _| status == StatusCode::OK)
        .await;

    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
    for address in [&cluster.core_grpc, &cluster.directory_grpc] {
        let https = format!("https://{address}");
        let trusted = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&ca));
        let with_certificate = Endpoint::from_shared(https.clone())
            .unwrap()
            .tls_config(trusted.clone().identity(Identity::from_pem(&client_cert, &client_key)))
            .unwrap();
        health(with_certificate).await.unwrap_or_else(|e| panic!("{address}: a client of the CA is served: {e}"));

        let without_certificate = Endpoint::from_shared(https.clone()).unwrap().tls_config(trusted).unwrap();
        assert!(health(without_certificate).await.is_err(), "{address}: no client certificate, refused");
        let other_ca = TestPki::generate();
        let untrusting = Endpoint::from_shared(https)
            .unwrap()
            .tls_config(
                ClientTlsConfig::new()
                    .ca_certificate(Certificate::from_pem(std::fs::read(other_ca.path("ca.pem")).unwrap()))
                    .identity(Identity::from_pem(&client_cert, &client_key)),
            )
            .unwrap();
        assert!(health(untrusting).await.is_err(), "{address}: a server certificate of another CA is not trusted");
        let plaintext = Endpoint::from_shared(format!("http://{address}")).unwrap();
        assert!(health(plaintext).await.is_err(), "{address}: plaintext is refused");
    }
}

/// The admin CLI against an `https://` `ADMIN_URL` (here a TLS stand-in for the admin API behind
/// an Ingress, Python's `http.server` with the test's server certificate): served when
/// `ADMIN_CA_FILE` names the test's CA, refused (the certificate is not trusted) without it.
#[test]
fn the_admin_cli_speaks_https_and_checks_the_certificate() {
    let pki = TestPki::generate();
    let port = crate::support::free_port();
    let script = r#"
import http.server, ssl, sys
class Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"tenants": [{"slug": "over-tls"}]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Answer)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[2], sys.argv[3])
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
"#;
    let mut server = std::process::Command::new("python3")
        .args(["-c", script, &port.to_string(), &pki.path("server.pem"), &pki.path("server-key.pem")])
        .spawn()
        .expect("the TLS stand-in");
    let cli = |ca: Option<String>| {
        let mut command = std::process::Command::new(crate::support::binary("provisioning-core"));
        command
            .args(["admin", "tenants", "list"])
            .env("ADMIN_URL", format!("https://127.0.0.1:{port}"))
            .env("ADMIN_TOKEN", "admin_test");
        if let Some(ca) = ca {
            command.env("ADMIN_CA_FILE", ca);
        }
        command.output().expect("the admin CLI")
    };
    let served = (0..50)
        .map(|_| {
            let output = cli(Some(pki.path("ca.pem")));
            if !output.status.success() {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            output
        })
        .find(|output| output.status.success());
    let refused = cli(None);
    server.kill().ok();
    server.wait().ok();
    let served = served.expect("the CLI is served over TLS with ADMIN_CA_FILE");
    assert!(String::from_utf8_lossy(&served.stdout).contains("over-tls"), "{served:?}");
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("certificate"), "without the CA the server is not trusted: {said}");
}
