//! `portico bpf services`: the service frontends and backends as the kernel
//! maps hold them (like `cilium-dbg service list`), read from the maps the
//! agent pinned; no program is loaded.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use portico_ebpf::DEFAULT_PIN_DIR;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: BpfCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum BpfCommand {
    /// List load-balanced services and their backends.
    Services(ServicesArgs),
}

#[derive(clap::Args, Debug)]
pub struct ServicesArgs {
    /// bpffs directory of the pinned service maps.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_PIN_DIR)]
    pub bpf_pin_dir: PathBuf,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

pub async fn main(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        BpfCommand::Services(args) => services(args),
    }
}

fn services(args: ServicesArgs) -> anyhow::Result<ExitCode> {
    let services = portico_ebpf::list_pinned(&args.bpf_pin_dir)
        .with_context(|| format!("reading the eBPF maps under {}", args.bpf_pin_dir.display()))?;
    match args.output {
        Format::Table => out!("{}", portico_ebpf::view::Table(&services)),
        Format::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&services).context("encoding services")?
        ),
    }
    Ok(ExitCode::SUCCESS)
}
