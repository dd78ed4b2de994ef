//! `portico check DIR`: loads and translates a directory, prints every
//! problem with its location, exits 1 if any is an error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use portico_file::{DirState, SourcedObject};
use portico_translate::Options;

use crate::pipeline;
use crate::problems::Severity;
use crate::state::State;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Directory of YAML files (searched recursively for *.yaml / *.yml),
    /// or a single YAML file.
    pub dir: PathBuf,
}

pub async fn main(args: Args) -> anyhow::Result<ExitCode> {
    let dir = if args.dir.is_file() {
        load_file(&args.dir)?
    } else {
        portico_file::load_dir(&args.dir)
            .with_context(|| format!("loading {}", args.dir.display()))?
    };
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
        outln!("{p}");
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

/// One file as the directory source would read it.
fn load_file(path: &Path) -> anyhow::Result<DirState> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let loaded = portico_model::load_str(path, &text);
    Ok(DirState {
        dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        revision: 1,
        files: vec![path.to_path_buf()],
        objects: loaded
            .documents
            .into_iter()
            .map(|d| SourcedObject {
                object: d.object,
                location: d.location,
            })
            .collect(),
        errors: loaded
            .errors
            .into_iter()
            .map(portico_file::Error::Load)
            .collect(),
        warnings: loaded.warnings,
        skipped: loaded.skipped,
        ..DirState::default()
    })
}
