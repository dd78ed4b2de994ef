//! One module per subcommand, each with its `Args` and an async `main`.

pub mod agent;
pub mod bpf;
pub mod check;
pub mod crds;
pub mod echo;
pub mod get;
pub mod observe;
pub mod run;
pub mod run_kubernetes;
pub mod status;
pub mod version;

use std::net::SocketAddr;

/// The admin API address, shared by `run` and every client subcommand.
#[derive(clap::Args, Debug, Clone)]
pub struct AdminArg {
    /// Admin API address (loopback by default).
    #[arg(long = "admin", env = "PORTICO_ADMIN", value_name = "ADDR", default_value = portico_observe::admin::DEFAULT_ADDR)]
    pub addr: SocketAddr,
}
