//! The watched directory follows file edits: create, modify, break, fix,
//! delete. Every wait has a deadline; no test sleeps.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use portico_file::{DEFAULT_DEBOUNCE, DirState, watch};
use tokio::sync::watch::Receiver;

/// Generous: a failure deadline, not a timing assertion.
const DEADLINE: Duration = Duration::from_secs(20);

fn service(name: &str, port: u16) -> String {
    format!(
        "apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
  ports:
  - port: {port}
"
    )
}

fn write(dir: &Path, file: &str, text: &str) {
    // Write beside, then rename: the way editors and `kubectl cp` replace files.
    let tmp = dir.join(format!(".{file}.tmp"));
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, dir.join(file)).expect("rename");
}

fn port_of(state: &DirState, name: &str) -> Option<i32> {
    state
        .snapshot()
        .services
        .iter()
        .find(|s| s.metadata.name.as_deref() == Some(name))
        .and_then(|s| s.spec.as_ref()?.ports.as_ref()?.first().map(|p| p.port))
}

/// Waits for a state that satisfies `pred`.
async fn until(
    rx: &mut Receiver<Arc<DirState>>,
    what: &str,
    pred: impl Fn(&DirState) -> bool,
) -> Arc<DirState> {
    let wait = async {
        loop {
            {
                let state = rx.borrow_and_update();
                if pred(&state) {
                    return Arc::clone(&state);
                }
            }
            rx.changed().await.expect("watch task alive");
        }
    };
    match tokio::time::timeout(DEADLINE, wait).await {
        Ok(state) => state,
        Err(_) => {
            let state = rx.borrow();
            panic!(
                "timed out waiting for {what}; revision {} objects {:?} errors {:?}",
                state.revision,
                state
                    .objects
                    .iter()
                    .map(|o| o.object.key().to_string())
                    .collect::<Vec<_>>(),
                state
                    .errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
            )
        }
    }
}

#[tokio::test]
async fn follows_create_modify_break_fix_delete() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "a.yaml", &service("a", 80));
    let mut rx = watch(dir.path(), DEFAULT_DEBOUNCE).await.expect("watch");
    let initial = until(&mut rx, "initial load", |s| port_of(s, "a") == Some(80)).await;
    assert_eq!(initial.revision, 1);

    // A new file in a new subdirectory.
    std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
    write(&dir.path().join("sub"), "b.yaml", &service("b", 81));
    let created = until(&mut rx, "b created", |s| port_of(s, "b") == Some(81)).await;
    assert!(created.revision > initial.revision);

    // Modified in place.
    std::fs::write(dir.path().join("a.yaml"), service("a", 8080)).expect("write");
    let modified = until(&mut rx, "a modified", |s| port_of(s, "a") == Some(8080)).await;
    let a = modified
        .objects
        .iter()
        .find(|o| o.object.name() == "a")
        .expect("a");
    assert_eq!(
        a.object.generation(),
        Some(2),
        "spec change bumps generation"
    );

    // Broken: the last good version stays, the error is reported.
    write(
        dir.path(),
        "a.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: [\n",
    );
    let broken = until(&mut rx, "syntax error reported", |s| !s.errors.is_empty()).await;
    assert_eq!(port_of(&broken, "a"), Some(8080));
    assert_eq!(broken.stale_files, [dir.path().join("a.yaml")]);

    // Fixed.
    write(dir.path(), "a.yaml", &service("a", 9090));
    let fixed = until(&mut rx, "a fixed", |s| port_of(s, "a") == Some(9090)).await;
    assert!(fixed.errors.is_empty());

    // Deleted: its objects go.
    std::fs::remove_file(dir.path().join("a.yaml")).expect("rm");
    let deleted = until(&mut rx, "a deleted", |s| port_of(s, "a").is_none()).await;
    assert_eq!(port_of(&deleted, "b"), Some(81));
}

#[tokio::test]
async fn watch_fails_for_a_missing_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = watch(dir.path().join("missing"), DEFAULT_DEBOUNCE)
        .await
        .expect_err("missing dir");
    assert!(err.to_string().contains("missing"), "{err}");
}

#[tokio::test]
async fn edits_arrive_while_any_receiver_lives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rx = watch(dir.path(), DEFAULT_DEBOUNCE).await.expect("watch");
    let mut probe = rx.clone();
    drop(rx);
    // The task is alive while any receiver is; an edit still arrives.
    write(dir.path(), "a.yaml", &service("a", 80));
    until(&mut probe, "a created", |s| port_of(s, "a") == Some(80)).await;
}

#[tokio::test]
async fn directory_removed_and_created_again() {
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = parent.path().join("conf");
    std::fs::create_dir(&dir).expect("mkdir");
    write(&dir, "a.yaml", &service("a", 80));
    let mut rx = watch(&dir, DEFAULT_DEBOUNCE).await.expect("watch");
    until(&mut rx, "initial load", |s| port_of(s, "a") == Some(80)).await;

    std::fs::remove_dir_all(&dir).expect("rm -r");
    let gone = until(&mut rx, "directory error", |s| !s.errors.is_empty()).await;
    assert_eq!(port_of(&gone, "a"), Some(80), "last objects stay");

    // Built beside, then moved into place (as a deploy tool would).
    let staging = parent.path().join("staging");
    std::fs::create_dir(&staging).expect("mkdir");
    write(&staging, "b.yaml", &service("b", 81));
    std::fs::rename(&staging, &dir).expect("mv");
    let back = until(&mut rx, "directory back", |s| {
        s.errors.is_empty() && port_of(s, "b") == Some(81)
    })
    .await;
    assert_eq!(port_of(&back, "a"), None);

    // And it is watched again.
    write(&dir, "c.yaml", &service("c", 82));
    until(&mut rx, "c created", |s| port_of(s, "c") == Some(82)).await;
}
