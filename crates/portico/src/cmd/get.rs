//! `portico get KIND [NAME] [-n NS | -A] [-o yaml|json]`: objects with their
//! status from a running instance's admin API, printed like kubectl.

use std::process::ExitCode;
use std::time::SystemTime;

use portico_observe::ObjectQuery;
use serde_json::{Value, json};

use super::AdminArg;
use crate::client;
use crate::kinds::{self, KindInfo};
use crate::output::{self, Format};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Kind(s), by kubectl name or short name (gateways, gtw, httproutes,
    /// svc, ...); several separated by commas (`gtw,httproutes`).
    pub kind: String,
    /// Only this object.
    pub name: Option<String>,
    /// Namespace of namespaced kinds.
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
    /// All namespaces.
    #[arg(short = 'A', long = "all-namespaces")]
    pub all_namespaces: bool,
    /// Print the objects instead of a table: yaml, json (a `List` for
    /// several), name, or jsonpath=TEMPLATE (e.g. `{.status.addresses[0].value}`).
    #[arg(short = 'o', long = "output", value_name = "FORMAT")]
    pub output: Option<Format>,
    #[command(flatten)]
    pub admin: AdminArg,
}

pub async fn main(args: Args) -> anyhow::Result<ExitCode> {
    let mut kinds: Vec<&'static KindInfo> = vec![];
    for name in args
        .kind
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        let Some(kind) = kinds::resolve(name) else {
            eprintln!("error: the server doesn't have a resource type \"{name}\"");
            return Ok(ExitCode::FAILURE);
        };
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    if kinds.is_empty() {
        eprintln!("error: no resource type given");
        return Ok(ExitCode::FAILURE);
    }
    let all = args.all_namespaces && args.name.is_none();
    let qualify = kinds.len() > 1;
    let now = SystemTime::now();

    let mut found: Vec<(&'static KindInfo, Vec<Value>)> = vec![];
    let mut missing = false;
    for kind in &kinds {
        let query = ObjectQuery {
            kind: kind.kind.to_string(),
            namespace: (kind.namespaced && !all).then(|| args.namespace.clone()),
            name: args.name.clone(),
        };
        let path = format!("/api/objects?{}", query.to_query_string());
        let list = client::get_json(args.admin.addr, &path).await?;
        let items: Vec<Value> = list
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Some(name) = &args.name
            && items.is_empty()
        {
            eprintln!(
                "Error from server (NotFound): {} \"{name}\" not found",
                kinds::resource_name(kind)
            );
            missing = true;
            continue;
        }
        found.push((kind, items));
    }

    match &args.output {
        Some(format) => {
            let mut items: Vec<Value> = found.into_iter().flat_map(|(_, items)| items).collect();
            // One named object prints as itself, anything else as a List.
            let value = if args.name.is_some() && items.len() == 1 {
                items.remove(0)
            } else if args.name.is_some() && items.is_empty() {
                return Ok(ExitCode::FAILURE);
            } else {
                json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": items})
            };
            out!("{}", output::render(&value, format)?);
        }
        None => {
            let tables: Vec<String> = found
                .iter()
                .filter(|(_, items)| !items.is_empty())
                .map(|(kind, items)| {
                    let with_namespace = all && kind.namespaced;
                    output::table::render(kind, items, with_namespace, qualify, now)
                })
                .collect();
            if tables.is_empty() && args.name.is_none() {
                if kinds.iter().any(|k| k.namespaced) && !all {
                    eprintln!("No resources found in {} namespace.", args.namespace);
                } else {
                    eprintln!("No resources found");
                }
            }
            out!("{}", tables.join("\n"));
        }
    }
    Ok(if missing {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
