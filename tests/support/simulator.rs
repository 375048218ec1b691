//! Runs a test body under the simulator (filled in when lockstep-sim lands).
use std::future::Future;

pub fn run<F, Fut>(_test: F)
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + 'static,
{
}
