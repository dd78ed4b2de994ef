//! `portico`: the Portico gateway binary (CLI and wiring only).
//!
//! Each subcommand lives in `cmd/<name>.rs` with its `Args` and an async
//! `main`; adding one is one variant of [`Command`] and one match arm.

#![forbid(unsafe_code)]

#[macro_use]
mod out;

mod client;
mod cmd;
mod feedback;
mod kinds;
mod logging;
mod objects;
mod output;
mod pipeline;
mod problems;
mod proxy_metrics;
mod reload;
mod runtime;
mod stamp;
mod state;
mod telemetry;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Portico: a Kubernetes Gateway API implementation.
#[derive(Parser, Debug)]
#[command(name = "portico", version, about, propagate_version = true)]
struct Cli {
    /// Log format on stderr (filter with RUST_LOG, default `info`).
    #[arg(long, global = true, value_enum, default_value_t = logging::LogFormat::Text)]
    log_format: logging::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the Gateway API objects of a directory of YAML files (watched).
    Run(cmd::run::Args),
    /// Print objects with their status from a running instance, like kubectl.
    Get(cmd::get::Args),
    /// Validate a directory: print every problem with its location.
    Check(cmd::check::Args),
    /// Run echo backends (HTTP, gRPC, TCP, UDP) for examples and tests.
    Echo(cmd::echo::Args),
    /// Show flows from the Hubble-compatible observer API (like `hubble observe`).
    Observe(cmd::observe::Args),
    /// Summarise the running instance: gateways, listeners, routes, flows.
    Status(cmd::status::Args),
    /// Print the version.
    Version(cmd::version::Args),
    /// Print Portico's own CRDs (`portico crds | kubectl apply -f -`).
    Crds(cmd::crds::Args),
    /// Run the eBPF service load balancer (kube-proxy replacement) for a directory.
    Agent(cmd::agent::Args),
    /// Inspect the eBPF maps (`portico bpf services`).
    Bpf(cmd::bpf::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    // One process-wide TLS crypto provider (aws-lc-rs); Err means one is
    // already installed, which is fine.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let workers = match &cli.command {
        Command::Run(args) => args.workers.map(usize::from),
        _ => None,
    };
    let runtime = match runtime::build(workers) {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Run(args) => cmd::run::main(args).await,
        Command::Get(args) => cmd::get::main(args).await,
        Command::Check(args) => cmd::check::main(args).await,
        Command::Echo(args) => cmd::echo::main(args).await,
        Command::Observe(args) => cmd::observe::main(args).await,
        Command::Status(args) => cmd::status::main(args).await,
        Command::Version(args) => cmd::version::main(args).await,
        Command::Crds(args) => cmd::crds::main(args).await,
        Command::Agent(args) => cmd::agent::main(args).await,
        Command::Bpf(args) => cmd::bpf::main(args).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
