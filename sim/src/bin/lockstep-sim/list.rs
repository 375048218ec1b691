//! `lockstep-sim list`

use lockstep_sim::scenario;

pub fn run() -> Result<bool, String> {
    for scenario in scenario::builtin() {
        let demo = if scenario.is_demo() {
            " [demo: has a planted bug]"
        } else {
            ""
        };
        println!("{:<20} {}{demo}", scenario.name(), scenario.summary());
    }
    Ok(true)
}
