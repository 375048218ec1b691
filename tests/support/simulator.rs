//! Runs a test body under the simulator, over several seeds.
use std::future::Future;

use lockstep_sim::{CheckConfig, check};

pub fn run<F, Fut>(test: F)
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + 'static,
{
    // The test harness names each test's thread after the test.
    let name = std::thread::current()
        .name()
        .unwrap_or("unnamed-test")
        .to_owned();
    let config = CheckConfig::new(name)
        .seeds(super::SIM_SEEDS_DEFAULT)
        .package("lockstep");
    check(config, |_world| test());
}
