//! The gateway binary: configuration, telemetry, run.

use anyhow::Context;
use gateway::app::Application;
use gateway::config::GatewayConfig;
use platform::config::Env;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = platform::telemetry::init(&Env, "gateway");
    let config = GatewayConfig::from_source(&Env).context("invalid configuration")?;
    Application::build(config)?.run(platform::shutdown::signal()).await
}
