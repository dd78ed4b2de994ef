//! `portico version`.

use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub async fn main(_args: Args) -> anyhow::Result<ExitCode> {
    outln!("portico {}", env!("CARGO_PKG_VERSION"));
    outln!("gateway-api v1.6.1 (standard + experimental)");
    outln!("controller {}", portico_translate::CONTROLLER_NAME);
    Ok(ExitCode::SUCCESS)
}
