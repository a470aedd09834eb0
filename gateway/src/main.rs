//! The gateway binary: configuration, telemetry, run.

use anyhow::Context;
use gateway::app::Application;
use gateway::config::GatewayConfig;
use platform::config::Env;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::telemetry::init(&Env);
    let config = GatewayConfig::from_source(&Env).context("invalid configuration")?;
    Application::build(config)?.run(platform::shutdown::signal()).await
}
