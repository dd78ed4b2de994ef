//! `portico status`: a summary of the running instance — gateways,
//! listeners and routes with their status (from the admin API) and the
//! flow ring (from the Hubble observer API).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use portico_observe::ObjectQuery;
use portico_observe::hubble::proto::observer::ServerStatusRequest;
use portico_observe::hubble::{DEFAULT_ADDR, ObserverClient, flags};
use serde_json::Value;

use super::AdminArg;
use crate::client;

/// How long the Hubble API may take to answer.
const HUBBLE_TIMEOUT: Duration = Duration::from_secs(5);

/// Route kinds counted by the summary.
const ROUTE_KINDS: [&str; 5] = ["HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute"];

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub admin: AdminArg,
    /// Hubble observer API address.
    #[arg(long = "hubble-addr", env = "PORTICO_HUBBLE_ADDR", value_name = "ADDR", default_value = DEFAULT_ADDR)]
    pub hubble_addr: SocketAddr,
}

fn condition_true(obj: &Value, kind: &str) -> bool {
    obj.get("conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some(kind)
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

fn items(list: &Value) -> &[Value] {
    list.get("items")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Counts from the Gateways list.
#[derive(Debug, Default, PartialEq, Eq)]
struct GatewayCounts {
    gateways: usize,
    programmed: usize,
    listeners: usize,
    listeners_programmed: usize,
    attached_routes: u64,
}

fn count_gateways(list: &Value) -> GatewayCounts {
    let mut c = GatewayCounts::default();
    for gw in items(list) {
        c.gateways += 1;
        let status = gw.get("status").unwrap_or(&Value::Null);
        if condition_true(status, "Programmed") {
            c.programmed += 1;
        }
        let spec_listeners = gw
            .pointer("/spec/listeners")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let status_listeners = status
            .get("listeners")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        c.listeners += spec_listeners.max(status_listeners.len());
        for l in status_listeners {
            if condition_true(l, "Programmed") {
                c.listeners_programmed += 1;
            }
            c.attached_routes += l.get("attachedRoutes").and_then(Value::as_u64).unwrap_or(0);
        }
    }
    c
}

/// (routes, routes accepted by at least one parent).
fn count_routes(list: &Value) -> (usize, usize) {
    let routes = items(list);
    let accepted = routes
        .iter()
        .filter(|r| {
            r.pointer("/status/parents")
                .and_then(Value::as_array)
                .is_some_and(|ps| ps.iter().any(|p| condition_true(p, "Accepted")))
        })
        .count();
    (routes.len(), accepted)
}

/// Sum of `hubble_lost_events_total` samples in a Prometheus text body.
fn lost_from_metrics(text: &str) -> Option<u64> {
    // A registered family without samples yet still has its TYPE line.
    let mut found = text
        .lines()
        .any(|l| l.starts_with("# TYPE hubble_lost_events "));
    let mut total = 0u64;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("hubble_lost_events_total") {
            let value = rest.rsplit(' ').next().unwrap_or("");
            if let Ok(v) = value.parse::<f64>() {
                found = true;
                // Counter samples are non-negative integers.
                total = total.saturating_add(v as u64);
            }
        }
    }
    found.then_some(total)
}

async fn objects(admin: SocketAddr, kind: &str) -> anyhow::Result<Value> {
    let query = ObjectQuery {
        kind: kind.to_string(),
        namespace: None,
        name: None,
    };
    client::get_json(admin, &format!("/api/objects?{}", query.to_query_string())).await
}

async fn hubble_line(addr: SocketAddr, lost: Option<u64>) -> String {
    let status = tokio::time::timeout(HUBBLE_TIMEOUT, async {
        let mut c = ObserverClient::connect(format!("http://{addr}"))
            .await
            .ok()?;
        c.server_status(ServerStatusRequest {}).await.ok()
    })
    .await
    .ok()
    .flatten();
    match status {
        Some(s) => {
            let s = s.into_inner();
            let up = Duration::from_secs(s.uptime_ns / 1_000_000_000);
            let lost = lost.map_or_else(String::new, |n| format!(", {n} lost"));
            format!(
                "{} / {} in ring, {} seen{lost} (Hubble API {addr}, up {})",
                s.num_flows,
                s.max_flows,
                s.seen_flows,
                flags::format_duration(up)
            )
        }
        None => format!("Hubble API at {addr} not reachable"),
    }
}

pub async fn main(args: Args) -> anyhow::Result<ExitCode> {
    let admin = args.admin.addr;
    let (ready_status, _) = client::get(admin, "/readyz").await?;
    let gateways = count_gateways(&objects(admin, "Gateway").await?);
    let mut routes_total = 0;
    let mut routes_accepted = 0;
    let mut by_kind = Vec::new();
    for kind in ROUTE_KINDS {
        // A kind the instance does not serve is simply not counted.
        let Ok(list) = objects(admin, kind).await else {
            continue;
        };
        let (n, accepted) = count_routes(&list);
        routes_total += n;
        routes_accepted += accepted;
        if n > 0 {
            by_kind.push(format!("{kind} {n}"));
        }
    }
    let lost = match client::get(admin, "/metrics").await {
        Ok((_, body)) => lost_from_metrics(&String::from_utf8_lossy(&body)),
        Err(_) => None,
    };
    let ready = if ready_status.is_success() {
        "ready"
    } else {
        "not ready"
    };
    outln!("Admin API:  {admin} ({ready})");
    outln!(
        "Gateways:   {} ({} programmed)",
        gateways.gateways,
        gateways.programmed
    );
    outln!(
        "Listeners:  {} ({} programmed, {} attached routes)",
        gateways.listeners,
        gateways.listeners_programmed,
        gateways.attached_routes
    );
    let kinds = if by_kind.is_empty() {
        String::new()
    } else {
        format!(": {}", by_kind.join(", "))
    };
    outln!("Routes:     {routes_total} ({routes_accepted} accepted){kinds}");
    outln!("Flows:      {}", hubble_line(args.hubble_addr, lost).await);
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn counts_gateways_listeners_and_attached_routes() {
        let list = json!({"items": [
            {"spec": {"listeners": [{"name": "a"}, {"name": "b"}]},
             "status": {
                "conditions": [{"type": "Programmed", "status": "True"}],
                "listeners": [
                    {"name": "a", "attachedRoutes": 2, "conditions": [{"type": "Programmed", "status": "True"}]},
                    {"name": "b", "attachedRoutes": 1, "conditions": [{"type": "Programmed", "status": "False"}]}
                ]}},
            {"spec": {"listeners": [{"name": "c"}]},
             "status": {"conditions": [{"type": "Programmed", "status": "False"}]}}
        ]});
        assert_eq!(
            count_gateways(&list),
            GatewayCounts {
                gateways: 2,
                programmed: 1,
                listeners: 3,
                listeners_programmed: 1,
                attached_routes: 3,
            }
        );
        assert_eq!(count_gateways(&json!({})), GatewayCounts::default());
    }

    #[test]
    fn counts_accepted_routes() {
        let list = json!({"items": [
            {"status": {"parents": [{"conditions": [{"type": "Accepted", "status": "True"}]}]}},
            {"status": {"parents": [{"conditions": [{"type": "Accepted", "status": "False"}]}]}},
            {}
        ]});
        assert_eq!(count_routes(&list), (3, 1));
    }

    #[test]
    fn lost_events_from_metrics_text() {
        let text = "# TYPE hubble_lost_events counter\n\
                    hubble_lost_events_total{source=\"HUBBLE_RING_BUFFER\"} 7\n\
                    hubble_flows_processed_total{type=\"L7\"} 9\n";
        assert_eq!(lost_from_metrics(text), Some(7));
        assert_eq!(lost_from_metrics("portico_config_reloads_total 1\n"), None);
        assert_eq!(
            lost_from_metrics("# TYPE hubble_lost_events counter\n# EOF\n"),
            Some(0)
        );
    }
}
