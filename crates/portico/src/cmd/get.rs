//! `portico get KIND [NAME] [-n NS | -A] [-o yaml|json]`: objects with their
//! status from a running instance's admin API, printed like kubectl.

use std::process::ExitCode;
use std::time::SystemTime;

use portico_observe::ObjectQuery;
use serde_json::Value;

use super::AdminArg;
use crate::output::{self, Format};
use crate::{client, kinds};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Kind, by kubectl name or short name (gateways, gtw, httproutes, svc, ...).
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
    let Some(kind) = kinds::resolve(&args.kind) else {
        eprintln!(
            "error: the server doesn't have a resource type \"{}\"",
            args.kind
        );
        return Ok(ExitCode::FAILURE);
    };
    let all = args.all_namespaces && args.name.is_none();
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

    if let Some(name) = &args.name {
        let Some(item) = items.into_iter().next() else {
            let resource = if kind.group.is_empty() {
                kind.plural.to_string()
            } else {
                format!("{}.{}", kind.plural, kind.group)
            };
            eprintln!("Error from server (NotFound): {resource} \"{name}\" not found");
            return Ok(ExitCode::FAILURE);
        };
        match args.output {
            Some(format) => print!("{}", output::render(&item, &format)?),
            None => print!(
                "{}",
                output::table::render(kind, &[item], false, SystemTime::now())
            ),
        }
        return Ok(ExitCode::SUCCESS);
    }

    match args.output {
        Some(format) => print!("{}", output::render(&list, &format)?),
        None if items.is_empty() => {
            if kind.namespaced && !all {
                eprintln!("No resources found in {} namespace.", args.namespace);
            } else {
                eprintln!("No resources found");
            }
        }
        None => print!(
            "{}",
            output::table::render(kind, &items, all && kind.namespaced, SystemTime::now())
        ),
    }
    Ok(ExitCode::SUCCESS)
}
