//! `portico check DIR`: loads and translates a directory, prints every
//! problem with its location, exits 1 if any is an error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use portico_translate::Options;

use crate::pipeline;
use crate::problems::Severity;
use crate::state::State;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Directory of YAML files (searched recursively for *.yaml / *.yml).
    pub dir: PathBuf,
}

pub async fn main(args: Args) -> anyhow::Result<ExitCode> {
    let dir = portico_file::load_dir(&args.dir)
        .with_context(|| format!("loading {}", args.dir.display()))?;
    let translated = pipeline::translate(&dir, &Options::default());
    let objects = translated.objects.len();
    let state = State {
        generation: 1,
        objects: translated.objects,
        statuses: translated.output.statuses,
        ir: Arc::new(translated.output.ir),
        source_problems: translated.source_problems,
        skipped: translated.skipped,
    };
    let problems = state.problems();
    let errors = problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .count();
    let warnings = problems.len() - errors;
    for p in &problems {
        println!("{p}");
    }
    eprintln!(
        "{}: {} files, {objects} objects, {errors} errors, {warnings} warnings",
        args.dir.display(),
        dir.files.len(),
    );
    Ok(if errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
