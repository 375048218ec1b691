//! The README's demo session reproduces as written: the seed it shows fails
//! with the message it shows and the trace hash it shows.

use lockstep_sim::fault::Profile;
use lockstep_sim::scenario::{find, run_one};

/// Goal: keep the README honest; if the runtime's trace changes, this test
/// names the new hash to paste.
#[test]
fn readme_demo_session_reproduces_as_written() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let hash_line = readme
        .lines()
        .find(|line| line.starts_with("trace-hash: "))
        .expect("the README shows a trace hash");
    let verdict_line = readme
        .lines()
        .find(|line| line.starts_with("verdict: fail: lost update"))
        .expect("the README shows the verdict");
    let report = run_one(
        find("demo-lost-update").unwrap().as_ref(),
        7,
        Profile::Swarm,
    );
    assert_eq!(
        hash_line,
        format!("trace-hash: {:016x}", report.trace_hash()),
        "update the README's demo session"
    );
    assert_eq!(verdict_line, format!("verdict: {}", report.verdict));
}
