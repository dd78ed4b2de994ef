//! Runs the ported upstream Gateway API conformance tests against the real
//! `portico` binary (built by cargo alongside this test). Fails if any test
//! of a feature the GatewayClass advertises fails.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_api_conformance() {
    let tests = portico_conformance::tests::all();
    let summary = portico_conformance::run_suite(&tests)
        .await
        .unwrap_or_else(|e| panic!("conformance set-up failed: {e}"));
    println!("{}", summary.line());
    assert!(summary.passed() > 0, "no conformance test ran");
    assert_eq!(
        summary.failed(),
        0,
        "conformance failures: {}",
        summary.line()
    );
}
