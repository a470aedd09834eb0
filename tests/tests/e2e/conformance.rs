//! Third-party conformance checkers against standalone: python-scim's scim2-tester must pass
//! every check, and scim-sanity's `probe` every check but those listed (with the RFC section
//! that allows our behaviour) in scripts/scim-sanity-allowed.txt. `scripts/conformance.sh`
//! runs both; it needs their virtualenv, which `scripts/test.sh` prepares beforehand
//! (`scripts/conformance.sh --install-only`), so this test does no network work.

use std::process::Command;

use crate::support::Standalone;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim2_tester_and_scim_sanity_pass() {
    // The embedded default's own rate limits (1000/s, bursts of 5000): the checkers fire
    // requests back to back and do not retry a 429, and are not throttled by them.
    let standalone = Standalone::start().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/conformance.sh");
    let url = standalone.client.endpoints.scim.clone();
    let token = standalone.client.endpoints.token.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("bash").arg(script).env("SCIM_URL", url).env("SCIM_TOKEN", token).output()
    })
    .await
    .expect("join")
    .unwrap_or_else(|e| panic!("running bash {script}: {e}"));
    let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    match output.status.code() {
        Some(0) => {}
        Some(2) => panic!(
            "{script} could not run the checkers (their virtualenv is made by `scripts/conformance.sh \
             --install-only`, which scripts/test.sh runs before the suite):\n{report}"
        ),
        status => panic!("the conformance checkers found failures ({status:?}):\n{report}"),
    }
}
