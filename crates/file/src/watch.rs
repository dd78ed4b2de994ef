//! Watching a configuration directory.
//!
//! [`watch`] reads the directory once, then follows file system events
//! (`notify`, recursive). Events are debounced: a reload happens once no event
//! has arrived for `debounce`, or at the latest [`MAX_DELAY`] after the first
//! event of a burst, so a change is live within a second even while an editor
//! keeps writing. Every [`RESYNC`] the directory is read again without an event
//! (a safety net for lost events, e.g. an inotify queue overflow). A removed
//! directory keeps its last objects (reported as an error); its parent is
//! watched until it comes back. A new state is published
//! only when something changed; its revision is one higher.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, EventKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch as channel};
use tokio::time::Instant;

use crate::state::DirState;
use crate::{DirSource, Error};

/// A good default for `debounce`.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(200);

/// Longest a burst of events can hold a reload back.
pub const MAX_DELAY: Duration = Duration::from_millis(800);

/// Interval of reloads without an event.
pub const RESYNC: Duration = Duration::from_secs(10);

/// Events that can change what a file holds (not our own reads).
fn is_relevant(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// Reads `dir` and keeps reading it on change. The receiver holds the
/// current state at once (the first read happens before this returns, on
/// the calling task); every change publishes a new state, read on a blocking
/// thread. The watch stops when every receiver is dropped. Must be called
/// inside a tokio runtime. Fails when `dir` is not a readable directory or cannot be
/// watched; later problems (files, the directory disappearing) are reported
/// in [`DirState::errors`] while the last good objects stay.
pub async fn watch(
    dir: impl Into<PathBuf>,
    debounce: Duration,
) -> Result<channel::Receiver<Arc<DirState>>, Error> {
    let dir = dir.into();
    crate::scan::yaml_files(&dir, &mut Vec::new())?;
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let root = dir.clone();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let signal = match &res {
            Ok(event) if is_relevant(&event.kind) => Some(Signal {
                root_removed: matches!(event.kind, EventKind::Remove(_))
                    && event.paths.iter().any(|p| p == &root),
            }),
            Ok(_) => None,
            // An error (e.g. queue overflow): read everything again.
            Err(_) => Some(Signal::default()),
        };
        if let Some(signal) = signal {
            // The receiver is gone only when the watch task has ended.
            let _ = events_tx.send(signal);
        }
    })
    .map_err(|source| Error::Watch {
        path: dir.clone(),
        source,
    })?;
    watcher
        .watch(&dir, RecursiveMode::Recursive)
        .map_err(|source| Error::Watch {
            path: dir.clone(),
            source,
        })?;

    let mut source = DirSource::new(&dir);
    let state = source.reload();
    tracing::info!(
        dir = %dir.display(),
        revision = state.revision,
        objects = state.objects.len(),
        errors = state.errors.len(),
        "configuration loaded"
    );
    let (tx, rx) = channel::channel(state);
    tokio::spawn(run(Task {
        source,
        watcher,
        watching: true,
        watching_parent: false,
        events: events_rx,
        tx,
        debounce,
    }));
    Ok(rx)
}

/// One relevant file system event.
#[derive(Clone, Copy, Debug, Default)]
struct Signal {
    /// The watched directory itself was removed (its watch is gone).
    root_removed: bool,
}

struct Task {
    source: DirSource,
    watcher: RecommendedWatcher,
    /// Whether `watcher` currently watches the directory (it stops when the
    /// directory is removed).
    watching: bool,
    /// Whether the parent directory is watched (while the directory is gone).
    watching_parent: bool,
    events: mpsc::UnboundedReceiver<Signal>,
    tx: channel::Sender<Arc<DirState>>,
    debounce: Duration,
}

async fn run(mut task: Task) {
    loop {
        tokio::select! {
            () = task.tx.closed() => break,
            event = task.events.recv() => {
                let Some(signal) = event else { break };
                task.note(signal);
                task.settle().await;
            }
            () = tokio::time::sleep(RESYNC) => {}
        }
        let source = task.source;
        let joined = tokio::task::spawn_blocking(move || {
            let mut source = source;
            let state = source.reload();
            (source, state)
        })
        .await;
        let (source, state) = match joined {
            Ok(done) => done,
            Err(e) => {
                tracing::error!(error = %e, "configuration reload task failed; watch stopped");
                return;
            }
        };
        task.source = source;
        task.rewatch();
        if state.revision != task.tx.borrow().revision {
            tracing::info!(
                dir = %task.source.dir().display(),
                revision = state.revision,
                objects = state.objects.len(),
                errors = state.errors.len(),
                stale_files = state.stale_files.len(),
                "configuration reloaded"
            );
            task.tx.send_replace(state);
        }
    }
    tracing::debug!(dir = %task.source.dir().display(), "configuration watch stopped");
}

impl Task {
    fn note(&mut self, signal: Signal) {
        if signal.root_removed {
            self.watching = false;
        }
    }

    /// Waits until events stop for `debounce`, at most [`MAX_DELAY`].
    async fn settle(&mut self) {
        let deadline = Instant::now() + MAX_DELAY.max(self.debounce);
        loop {
            tokio::select! {
                event = self.events.recv() => {
                    let Some(signal) = event else { return };
                    self.note(signal);
                }
                () = tokio::time::sleep(self.debounce) => return,
                () = tokio::time::sleep_until(deadline) => return,
            }
        }
    }

    /// Follows the directory being removed and created again: while it is
    /// gone, its parent is watched (not recursively) to see it come back.
    fn rewatch(&mut self) {
        let dir = self.source.dir().to_path_buf();
        let parent = dir.parent().map(Path::to_path_buf);
        let exists = dir.is_dir();
        if exists && !self.watching {
            // A stale registration may linger; drop it before watching anew.
            let _ = self.watcher.unwatch(&dir);
            match self.watcher.watch(&dir, RecursiveMode::Recursive) {
                Ok(()) => {
                    self.watching = true;
                    tracing::info!(dir = %dir.display(), "watching configuration directory again");
                    if self.watching_parent
                        && let Some(parent) = &parent
                    {
                        let _ = self.watcher.unwatch(parent);
                        self.watching_parent = false;
                    }
                }
                Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "cannot watch"),
            }
        } else if !exists {
            if self.watching {
                // The kernel dropped the watch with the directory; forget ours.
                let _ = self.watcher.unwatch(&dir);
                self.watching = false;
            }
            if !self.watching_parent
                && let Some(parent) = &parent
                && self
                    .watcher
                    .watch(parent, RecursiveMode::NonRecursive)
                    .is_ok()
            {
                self.watching_parent = true;
            }
        }
    }
}
