//! `portico version`.

use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub async fn main(_args: Args) -> anyhow::Result<ExitCode> {
    println!("portico {}", env!("CARGO_PKG_VERSION"));
    println!("gateway-api v1.6.1 (standard + experimental)");
    println!("controller {}", portico_translate::CONTROLLER_NAME);
    Ok(ExitCode::SUCCESS)
}
