//! `portico observe`: flows from the Hubble-compatible observer API of a
//! running instance, with `hubble observe`'s most used flags.
//!
//! Filter flags are declared here for help and validation, but their
//! meaning depends on order (`--not` negates the next filter flag), so the
//! filters are built from the raw command line by
//! [`portico_observe::hubble::flags`], which applies Hubble's semantics.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use portico_observe::hubble::convert::timestamp;
use portico_observe::hubble::flags;
use portico_observe::hubble::print::{self, Output};
use portico_observe::hubble::proto::observer::GetFlowsRequest;
use portico_observe::hubble::{DEFAULT_ADDR, ObserverClient, convert};

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Hubble's default number of flows when neither following nor bounded.
const DEFAULT_LAST: u64 = 20;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputArg {
    Compact,
    Table,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Keep streaming new flows.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// The last N matching flows of the ring (default 20 unless following
    /// or --since is given).
    #[arg(long, value_name = "N")]
    pub last: Option<u64>,
    /// The first N matching flows of the ring.
    #[arg(long, value_name = "N", conflicts_with_all = ["last", "follow"])]
    pub first: Option<u64>,
    /// Flows since a duration ago (5m, 1h30m) or an RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Flows until a duration ago or an RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "compact")]
    pub output: OutputArg,
    /// Print the filters that would be sent (JSON) and exit.
    #[arg(long = "print-raw-filters")]
    pub print_raw_filters: bool,
    /// Hubble observer API address.
    #[arg(long = "hubble-addr", env = "PORTICO_HUBBLE_ADDR", value_name = "ADDR", default_value = DEFAULT_ADDR)]
    pub hubble_addr: SocketAddr,

    /// Filter flags (boxed: they are many).
    #[command(flatten)]
    pub filters: Box<FilterArgs>,
}

/// Hubble's filter flags. Order matters for `--not`, see the module docs.
#[derive(clap::Args, Debug)]
pub struct FilterArgs {
    /// Negate the next filter flag (its flows are excluded).
    #[arg(long, action = clap::ArgAction::Count)]
    pub not: u8,
    /// Flows from or to this IP or CIDR.
    #[arg(long, value_name = "IP")]
    pub ip: Vec<String>,
    /// Flows from this IP or CIDR.
    #[arg(long = "from-ip", value_name = "IP")]
    pub from_ip: Vec<String>,
    /// Flows to this IP or CIDR.
    #[arg(long = "to-ip", value_name = "IP")]
    pub to_ip: Vec<String>,
    /// Flows from or to pods with this name prefix ([namespace/]prefix).
    #[arg(long, value_name = "POD")]
    pub pod: Vec<String>,
    /// Flows from pods with this name prefix.
    #[arg(long = "from-pod", value_name = "POD")]
    pub from_pod: Vec<String>,
    /// Flows to pods with this name prefix.
    #[arg(long = "to-pod", value_name = "POD")]
    pub to_pod: Vec<String>,
    /// Flows from or to this namespace (also qualifies --pod/--service).
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Vec<String>,
    /// Flows from this namespace.
    #[arg(long = "from-namespace", value_name = "NS")]
    pub from_namespace: Vec<String>,
    /// Flows to this namespace.
    #[arg(long = "to-namespace", value_name = "NS")]
    pub to_namespace: Vec<String>,
    /// Flows from or to endpoints matching this label selector.
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub label: Vec<String>,
    /// Flows from endpoints matching this label selector.
    #[arg(long = "from-label", value_name = "SELECTOR")]
    pub from_label: Vec<String>,
    /// Flows to endpoints matching this label selector.
    #[arg(long = "to-label", value_name = "SELECTOR")]
    pub to_label: Vec<String>,
    /// Flows from or to this service ([namespace/]name prefix).
    #[arg(long, value_name = "SERVICE")]
    pub service: Vec<String>,
    /// Flows from this service.
    #[arg(long = "from-service", value_name = "SERVICE")]
    pub from_service: Vec<String>,
    /// Flows to this service.
    #[arg(long = "to-service", value_name = "SERVICE")]
    pub to_service: Vec<String>,
    /// Flows from or to this DNS name (`*` wildcards).
    #[arg(long, value_name = "NAME")]
    pub fqdn: Vec<String>,
    /// Flows from this DNS name.
    #[arg(long = "from-fqdn", value_name = "NAME")]
    pub from_fqdn: Vec<String>,
    /// Flows to this DNS name (e.g. the TLS server name or HTTP host).
    #[arg(long = "to-fqdn", value_name = "NAME")]
    pub to_fqdn: Vec<String>,
    /// Flows from or to this port.
    #[arg(long, value_name = "PORT")]
    pub port: Vec<String>,
    /// Flows from this port.
    #[arg(long = "from-port", value_name = "PORT")]
    pub from_port: Vec<String>,
    /// Flows to this port.
    #[arg(long = "to-port", value_name = "PORT")]
    pub to_port: Vec<String>,
    /// L4 or L7 protocol (tcp, udp, icmp, http, grpc, tls, ...).
    #[arg(long, value_name = "PROTO")]
    pub protocol: Vec<String>,
    /// Verdict (FORWARDED, DROPPED, ERROR, AUDIT, REDIRECTED, TRACED, TRANSLATED).
    #[arg(long, value_name = "VERDICT")]
    pub verdict: Vec<String>,
    /// Event type (l7, trace, drop, policy-verdict, trace:to-endpoint, ...).
    #[arg(short = 't', long = "type", value_name = "TYPE")]
    pub event_type: Vec<String>,
    /// HTTP status code or prefix range (404, 5+).
    #[arg(long = "http-status", value_name = "STATUS")]
    pub http_status: Vec<String>,
    /// HTTP method.
    #[arg(long = "http-method", value_name = "METHOD")]
    pub http_method: Vec<String>,
    /// Regular expression on the HTTP path.
    #[arg(long = "http-path", value_name = "REGEX")]
    pub http_path: Vec<String>,
    /// Node name pattern (`*` wildcards).
    #[arg(long = "node-name", value_name = "NAME")]
    pub node_name: Vec<String>,
    /// W3C trace id.
    #[arg(long = "trace-id", value_name = "ID")]
    pub trace_id: Vec<String>,
    /// Flow UUID.
    #[arg(long, value_name = "UUID")]
    pub uuid: Vec<String>,
    /// TCP flags that must all be set (SYN,ACK).
    #[arg(long = "tcp-flags", value_name = "FLAGS")]
    pub tcp_flags: Vec<String>,
}

impl FilterArgs {
    /// Filter flag values clap saw, to cross-check the ordered scan.
    fn filter_flag_count(&self) -> usize {
        [
            &self.ip,
            &self.from_ip,
            &self.to_ip,
            &self.pod,
            &self.from_pod,
            &self.to_pod,
            &self.namespace,
            &self.from_namespace,
            &self.to_namespace,
            &self.label,
            &self.from_label,
            &self.to_label,
            &self.service,
            &self.from_service,
            &self.to_service,
            &self.fqdn,
            &self.from_fqdn,
            &self.to_fqdn,
            &self.port,
            &self.from_port,
            &self.to_port,
            &self.protocol,
            &self.verdict,
            &self.event_type,
            &self.http_status,
            &self.http_method,
            &self.http_path,
            &self.node_name,
            &self.trace_id,
            &self.uuid,
            &self.tcp_flags,
        ]
        .iter()
        .map(|v| v.len())
        .sum()
    }
}

impl Args {
    /// The request these flags describe; `argv` is the raw command line.
    fn request(&self, argv: &[String], now: SystemTime) -> anyhow::Result<GetFlowsRequest> {
        let uses = flags::scan(argv)?;
        anyhow::ensure!(
            uses.len() == self.filters.filter_flag_count(),
            "could not read the filter flags in order (found {} of {}); write them as --flag VALUE",
            uses.len(),
            self.filters.filter_flag_count()
        );
        anyhow::ensure!(
            usize::from(self.filters.not) == uses.iter().filter(|u| u.negated).count(),
            "--not must be followed by a filter flag"
        );
        let ns = &self.filters.namespace;
        let namespace = (ns.len() == 1).then(|| ns[0].as_str());
        let (white, black) = flags::build(&uses, namespace)?;
        let since = self
            .since
            .as_deref()
            .map(|s| flags::parse_time("since", s, now))
            .transpose()?;
        let until = self
            .until
            .as_deref()
            .map(|s| flags::parse_time("until", s, now))
            .transpose()?;
        let (number, first) = match (self.first, self.last) {
            (Some(n), _) => (n, true),
            (None, Some(n)) => (n, false),
            (None, None) if self.follow || since.is_some() => (0, false),
            (None, None) => (DEFAULT_LAST, false),
        };
        Ok(GetFlowsRequest {
            number,
            first,
            follow: self.follow,
            whitelist: white.iter().map(convert::filter_to_proto).collect(),
            blacklist: black.iter().map(convert::filter_to_proto).collect(),
            since: since.map(timestamp),
            until: until.map(timestamp),
        })
    }
}

pub async fn main(args: Args) -> anyhow::Result<ExitCode> {
    let argv: Vec<String> = std::env::args().collect();
    let request = match args.request(&argv, SystemTime::now()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    if args.print_raw_filters {
        let raw = serde_json::json!({
            "allowlist": request.whitelist.iter().map(print::filter_json).collect::<Vec<_>>(),
            "denylist": request.blacklist.iter().map(print::filter_json).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&raw)?);
        return Ok(ExitCode::SUCCESS);
    }
    let output = match args.output {
        OutputArg::Compact => Output::Compact,
        OutputArg::Table => Output::Table,
        OutputArg::Json => Output::Json,
    };
    let addr = args.hubble_addr;
    let mut client = tokio::time::timeout(
        CONNECT_TIMEOUT,
        ObserverClient::connect(format!("http://{addr}")),
    )
    .await
    .with_context(|| format!("Hubble API at {addr} did not answer within {CONNECT_TIMEOUT:?}"))?
    .with_context(|| {
        format!("cannot reach the Hubble API at {addr} (is `portico run` running? set --hubble-addr or PORTICO_HUBBLE_ADDR)")
    })?;
    let mut stream = match client.get_flows(request).await {
        Ok(r) => r.into_inner(),
        Err(status) => {
            eprintln!("error: {}", status.message());
            return Ok(ExitCode::FAILURE);
        }
    };
    let stdout = std::io::stdout();
    if output == Output::Table && writeln!(stdout.lock(), "{}", print::table_header()).is_err() {
        return Ok(ExitCode::SUCCESS);
    }
    loop {
        let next = tokio::select! {
            msg = stream.message() => msg,
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
        };
        match next {
            Ok(Some(resp)) => {
                if let Some(line) = print::render(&resp, output) {
                    // A closed pipe (`| head`) ends the command quietly.
                    if writeln!(stdout.lock(), "{line}").is_err() {
                        return Ok(ExitCode::SUCCESS);
                    }
                }
            }
            Ok(None) => return Ok(ExitCode::SUCCESS),
            Err(status) => {
                eprintln!("error: {}", status.message());
                return Ok(ExitCode::FAILURE);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn request(line: &str) -> anyhow::Result<GetFlowsRequest> {
        let argv: Vec<String> = std::iter::once("observe")
            .chain(line.split_whitespace())
            .map(str::to_owned)
            .collect();
        let cli = Cli::try_parse_from(&argv)?;
        cli.args.request(&argv, SystemTime::now())
    }

    #[test]
    fn defaults_to_last_20() {
        let r = request("").expect("valid");
        assert_eq!((r.number, r.first, r.follow), (20, false, false));
        assert!(r.whitelist.is_empty() && r.blacklist.is_empty());
    }

    #[test]
    fn follow_and_filters() {
        let r = request("-f --from-ip 10.0.0.1 --not --http-status 2+ --verdict forwarded")
            .expect("valid");
        assert_eq!((r.number, r.follow), (0, true));
        assert_eq!(r.whitelist.len(), 1);
        assert_eq!(r.whitelist[0].source_ip, vec!["10.0.0.1"]);
        assert_eq!(r.whitelist[0].verdict, vec![1]);
        assert_eq!(r.blacklist.len(), 1);
        assert_eq!(r.blacklist[0].http_status_code, vec!["2+"]);
    }

    #[test]
    fn clustered_short_flags() {
        let r = request("-fn shop -o json").expect("valid");
        assert!(r.follow);
        assert_eq!(r.whitelist.len(), 2, "namespace matches either side");
        assert_eq!(r.whitelist[0].source_pod, vec!["shop/"]);
        assert_eq!(r.whitelist[1].destination_pod, vec!["shop/"]);
    }

    #[test]
    fn bad_filters_fail_before_connecting() {
        for bad in [
            "--verdict ALLOWED",
            "--from-ip 10.0.0.0/77",
            "--http-path (",
            "--since sometime",
        ] {
            let err = request(bad).expect_err(bad);
            assert!(!format!("{err:#}").is_empty());
        }
        assert!(
            request("--first 3 -f").is_err(),
            "clap rejects --first with --follow"
        );
    }
}
