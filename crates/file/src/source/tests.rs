use std::path::Path;

use portico_model::Object;

use super::*;

fn fixed_clock() -> Timestamp {
    Timestamp::from_second(1_700_000_000).expect("valid")
}

fn route(name: &str, host: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: {name}
spec:
  hostnames: [\"{host}\"]
"
    )
}

fn write(dir: &Path, file: &str, text: &str) {
    std::fs::write(dir.join(file), text).expect("write");
}

fn names(state: &DirState) -> Vec<String> {
    state
        .objects
        .iter()
        .map(|o| o.object.key().to_string())
        .collect()
}

fn find<'a>(state: &'a DirState, name: &str) -> &'a SourcedObject {
    state
        .objects
        .iter()
        .find(|o| o.object.name() == name)
        .unwrap_or_else(|| panic!("{name} not loaded: {:?} {:?}", names(state), state.errors))
}

fn stamp(state: &DirState, name: &str) -> Timestamp {
    find(state, name)
        .object
        .creation_timestamp()
        .expect("stamped")
        .0
}

#[test]
fn deleting_a_file_deletes_its_objects() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "a.yaml", &route("a", "a.example"));
    write(dir.path(), "b.yaml", &route("b", "b.example"));
    let mut source = DirSource::with_clock(dir.path(), fixed_clock);
    let first = source.reload();
    assert_eq!(first.revision, 1);
    assert_eq!(
        names(&first),
        ["HTTPRoute default/a", "HTTPRoute default/b"]
    );
    std::fs::remove_file(dir.path().join("a.yaml")).expect("rm");
    let second = source.reload();
    assert_eq!(second.revision, 2);
    assert_eq!(names(&second), ["HTTPRoute default/b"]);
    assert_eq!(second.files.len(), 1);
}

#[test]
fn unchanged_directory_keeps_revision() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "a.yaml", &route("a", "a.example"));
    let mut source = DirSource::with_clock(dir.path(), fixed_clock);
    let first = source.reload();
    let again = source.reload();
    assert!(Arc::ptr_eq(&first, &again));
    // Same text rewritten: still no change.
    write(dir.path(), "a.yaml", &route("a", "a.example"));
    assert_eq!(source.reload().revision, 1);
}

#[test]
fn syntax_error_keeps_last_good_objects() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "a.yaml", &route("a", "a.example"));
    let mut source = DirSource::with_clock(dir.path(), fixed_clock);
    source.reload();
    // A half-saved edit.
    write(
        dir.path(),
        "a.yaml",
        "apiVersion: gateway.networking.k8s.io/v1\nkind: [HTTPRoute\n",
    );
    let broken = source.reload();
    assert_eq!(broken.revision, 2);
    assert_eq!(
        names(&broken),
        ["HTTPRoute default/a"],
        "last good objects stay"
    );
    assert_eq!(broken.stale_files, [dir.path().join("a.yaml")]);
    assert_eq!(broken.errors.len(), 1);
    let err = broken.errors[0].to_string();
    assert!(err.contains("a.yaml:2:"), "{err}");
    // Fixed: the new version is served, the error is gone.
    write(dir.path(), "a.yaml", &route("a", "new.example"));
    let fixed = source.reload();
    assert!(fixed.errors.is_empty());
    assert!(fixed.stale_files.is_empty());
    let Object::HttpRoute(r) = &find(&fixed, "a").object else {
        panic!("route");
    };
    assert_eq!(
        r.spec.hostnames.as_deref(),
        Some(&["new.example".to_string()][..])
    );
}

#[test]
fn invalid_document_drops_only_itself() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "{}---\n{}",
        route("a", "a.example"),
        route("b", "b.example").replace("hostnames: [\"b.example\"]", "hostnames: 5")
    );
    write(dir.path(), "a.yaml", &text);
    let mut source = DirSource::with_clock(dir.path(), fixed_clock);
    let state = source.reload();
    assert_eq!(names(&state), ["HTTPRoute default/a"]);
    assert_eq!(state.errors.len(), 1);
    assert!(state.stale_files.is_empty());
    let location = state.errors[0].location().expect("located");
    assert_eq!(location.line, 13, "{}", state.errors[0]);
}

#[test]
fn duplicates_are_reported_with_both_locations() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "a.yaml", &route("r", "first.example"));
    write(
        dir.path(),
        "b.yaml",
        &format!("# comment\n{}", route("r", "second.example")),
    );
    let state = load_dir(dir.path()).expect("loads");
    assert_eq!(state.objects.len(), 1);
    let Object::HttpRoute(r) = &state.objects[0].object else {
        panic!("route");
    };
    assert_eq!(
        r.spec.hostnames.as_deref(),
        Some(&["second.example".to_string()][..]),
        "the later definition wins"
    );
    assert_eq!(state.errors.len(), 1);
    let Error::Duplicate(dup) = &state.errors[0] else {
        panic!("duplicate: {}", state.errors[0]);
    };
    let Duplicate { first, second, key } = dup.as_ref();
    assert_eq!(key.to_string(), "HTTPRoute default/r");
    assert_eq!(
        (first.file.as_path(), first.line),
        (dir.path().join("a.yaml").as_path(), 1)
    );
    assert_eq!(
        (second.file.as_path(), second.line),
        (dir.path().join("b.yaml").as_path(), 2)
    );
}

#[test]
fn creation_stamps_follow_first_seen_order_and_stay() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "b.yaml", &route("z-first", "a.example"));
    let mut source = DirSource::with_clock(dir.path(), fixed_clock);
    let first = source.reload();
    let z = stamp(&first, "z-first");
    assert_eq!(z, fixed_clock());
    // A later object sorts earlier by file and name but is younger.
    write(dir.path(), "a.yaml", &route("a-second", "b.example"));
    let second = source.reload();
    assert_eq!(stamp(&second, "z-first"), z, "kept across reloads");
    assert!(stamp(&second, "a-second") > z, "first-seen order");
    // A change to the object does not move its stamp.
    write(dir.path(), "b.yaml", &route("z-first", "changed.example"));
    let third = source.reload();
    assert_eq!(stamp(&third, "z-first"), z);
    // Gone and back: a new object.
    std::fs::remove_file(dir.path().join("b.yaml")).expect("rm");
    source.reload();
    write(dir.path(), "b.yaml", &route("z-first", "a.example"));
    let back = source.reload();
    assert!(stamp(&back, "z-first") > stamp(&back, "a-second"));
}

#[test]
fn explicit_creation_timestamp_is_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = route("a", "a.example").replace(
        "  name: a\n",
        "  name: a\n  creationTimestamp: \"2020-01-02T03:04:05Z\"\n",
    );
    write(dir.path(), "a.yaml", &text);
    let state = load_dir(dir.path()).expect("loads");
    assert_eq!(stamp(&state, "a").to_string(), "2020-01-02T03:04:05Z");
}

#[test]
fn generation_moves_with_spec_changes_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "a.yaml", &route("a", "a.example"));
    let mut source = DirSource::with_clock(dir.path(), fixed_clock);
    let generation = |s: &DirState| find(s, "a").object.generation();
    assert_eq!(generation(&source.reload()), Some(1));
    write(dir.path(), "a.yaml", &route("a", "b.example"));
    assert_eq!(generation(&source.reload()), Some(2));
    // A label is metadata: no new generation.
    let labelled =
        route("a", "b.example").replace("  name: a\n", "  name: a\n  labels: {app: web}\n");
    write(dir.path(), "a.yaml", &labelled);
    let state = source.reload();
    assert_eq!(state.revision, 3, "the object changed");
    assert_eq!(generation(&state), Some(2));
    // An explicit generation wins.
    let explicit = route("a", "c.example").replace("  name: a\n", "  name: a\n  generation: 9\n");
    write(dir.path(), "a.yaml", &explicit);
    assert_eq!(generation(&source.reload()), Some(9));
}

#[test]
fn missing_directory_keeps_last_objects() {
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = parent.path().join("conf");
    std::fs::create_dir(&dir).expect("mkdir");
    write(&dir, "a.yaml", &route("a", "a.example"));
    let mut source = DirSource::with_clock(&dir, fixed_clock);
    source.reload();
    std::fs::rename(&dir, parent.path().join("moved")).expect("mv");
    let state = source.reload();
    assert_eq!(names(&state), ["HTTPRoute default/a"]);
    assert!(matches!(state.errors[..], [Error::NotADirectory { .. }]));
    assert!(load_dir(&dir).is_err());
}

#[test]
fn skipped_kinds_are_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n";
    write(dir.path(), "a.yaml", &format!("{deploy}---\n{deploy}"));
    let state = load_dir(dir.path()).expect("loads");
    assert!(state.is_clean());
    assert_eq!(state.skipped_kinds().get("Deployment"), Some(&2));
    assert!(state.snapshot().is_empty());
}

#[test]
fn warnings_of_served_objects_are_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tcp = "apiVersion: gateway.networking.k8s.io/v1alpha2\nkind: TCPRoute\nmetadata:\n  name: t\nspec:\n  rules:\n  - backendRefs:\n    - {name: s, port: 9}\n";
    write(dir.path(), "a.yaml", tcp);
    let state = load_dir(dir.path()).expect("loads");
    assert!(state.is_clean(), "{:?}", state.errors);
    assert_eq!(state.objects.len(), 1);
    assert_eq!(state.warnings.len(), 1);
    assert!(state.warnings[0].message.contains("deprecated"));
}
