//! Fault profiles and the fault mix a run uses.
//!
//! Owns: named profiles (`calm`, `stormy`, `chaos`) and `swarm`, where the
//! seed draws the whole mix: which fault kinds are on, their rates, and the
//! topology size. Also the fault driver that partitions and heals links
//! during a run's fault window.
//!
//! FAULT-1: the mix is a pure function of (profile, seed), drawn from its own
//! "faults" stream before the run starts, so it can be printed in the banner
//! and turning one kind off never reshuffles the draws of the others (each
//! kind draws from its own stream).
//!
//! Explicit, shrinkable plans for property tests live in [`FaultPlan`] and
//! [`fault_plans`].

mod plan;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::{Rng, RngCore};

use crate::net::{Latency, Network, NetworkConfig};
use crate::random::stream_rng;

pub use plan::{Fault, FaultPlan, TimedFault, fault_plans};

/// A named fault level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Profile {
    /// No faults; 1 ms links.
    Calm,
    /// Jittery links, some duplication and loss, occasional partitions.
    Stormy,
    /// Long tails, heavy duplication and loss, frequent partitions.
    Chaos,
    /// The seed draws the mix (default for exploration).
    Swarm,
}

impl Profile {
    /// Every profile, in order.
    pub const ALL: [Profile; 4] = [
        Profile::Calm,
        Profile::Stormy,
        Profile::Chaos,
        Profile::Swarm,
    ];

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Calm => "calm",
            Profile::Stormy => "stormy",
            Profile::Chaos => "chaos",
            Profile::Swarm => "swarm",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown profile name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown profile {0:?}: expected one of calm, stormy, chaos, swarm")]
pub struct UnknownProfile(pub String);

impl FromStr for Profile {
    type Err = UnknownProfile;
    fn from_str(text: &str) -> Result<Self, UnknownProfile> {
        Profile::ALL
            .into_iter()
            .find(|profile| profile.name() == text)
            .ok_or_else(|| UnknownProfile(text.to_owned()))
    }
}

impl Profile {
    /// The profile a world config names (`calm` when it names none), or why
    /// the name is not a profile.
    pub fn named_or_calm(name: Option<&str>) -> Result<Profile, UnknownProfile> {
        name.map_or(Ok(Profile::Calm), str::parse)
    }
}

/// The faults one run injects.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultMix {
    /// The profile it came from.
    pub profile: Profile,
    /// Link behaviour.
    pub network: NetworkConfig,
    /// Mean time between partitions during the fault window (`None`: off).
    pub partition_every: Option<Duration>,
    /// How long a partition lasts at most.
    pub partition_for_max: Duration,
    /// Whether scenarios that can crash procs should.
    pub crashes: bool,
    /// How long faults are injected before the liveness phase heals everything.
    pub fault_window: Duration,
    /// Topology size hint for scenarios that scale (e.g. number of senders).
    pub size: u32,
}

impl FaultMix {
    /// The mix for `profile` and `seed` (FAULT-1).
    pub fn derive(profile: Profile, seed: u64) -> Self {
        let calm = FaultMix {
            profile,
            network: NetworkConfig::default(),
            partition_every: None,
            partition_for_max: Duration::ZERO,
            crashes: false,
            fault_window: Duration::from_secs(10),
            size: 3,
        };
        match profile {
            Profile::Calm => calm,
            Profile::Stormy => FaultMix {
                network: NetworkConfig {
                    latency: Latency::Uniform {
                        min: Duration::from_millis(1),
                        max: Duration::from_millis(50),
                    },
                    paths_per_link: 2,
                    duplicate_probability: 0.05,
                    frame_loss_probability: 0.05,
                    clock_skew_max: Duration::from_millis(50),
                    ..NetworkConfig::default()
                },
                partition_every: Some(Duration::from_secs(5)),
                partition_for_max: Duration::from_secs(2),
                crashes: true,
                size: 4,
                ..calm
            },
            Profile::Chaos => FaultMix {
                network: NetworkConfig {
                    latency: Latency::Exponential {
                        mean: Duration::from_millis(20),
                        max: Duration::from_secs(2),
                    },
                    paths_per_link: 3,
                    duplicate_probability: 0.2,
                    frame_loss_probability: 0.2,
                    clock_skew_max: Duration::from_secs(2),
                    ..NetworkConfig::default()
                },
                partition_every: Some(Duration::from_secs(1)),
                partition_for_max: Duration::from_secs(5),
                crashes: true,
                size: 6,
                ..calm
            },
            Profile::Swarm => Self::swarm(seed),
        }
    }

    /// Swarm testing: each fault kind on or off, and its rate, by the seed;
    /// each kind draws from its own stream (FAULT-1).
    fn swarm(seed: u64) -> Self {
        let mut kinds = stream_rng(seed, "faults.kinds");
        let mut latency = stream_rng(seed, "faults.latency");
        // One rate stream per kind (FAULT-1): a kind switched off draws
        // nothing, and leaves every other kind's rate as it was.
        let mut path_rates = stream_rng(seed, "faults.rates.paths");
        let mut duplicate_rates = stream_rng(seed, "faults.rates.duplicate");
        let mut loss_rates = stream_rng(seed, "faults.rates.loss");
        let mut partition_rates = stream_rng(seed, "faults.rates.partitions");
        let mut shape = stream_rng(seed, "faults.shape");
        // Its own streams: adding clock skew did not reshuffle the others (FAULT-1).
        let mut skews = stream_rng(seed, "faults.skew");
        let skew = skews.next_u32() % 2 == 0;
        let on = |rng: &mut rand_chacha::ChaCha8Rng| rng.next_u32() % 2 == 0;
        let latency = match latency.random_range(0..3) {
            0 => Latency::Fixed(Duration::from_micros(latency.random_range(0..5_000))),
            1 => Latency::Uniform {
                min: Duration::from_micros(latency.random_range(0..1_000)),
                max: Duration::from_micros(latency.random_range(1_000..100_000)),
            },
            _ => Latency::Exponential {
                mean: Duration::from_micros(latency.random_range(100..50_000)),
                max: Duration::from_secs(latency.random_range(1..5)),
            },
        };
        let duplicate = on(&mut kinds);
        let loss = on(&mut kinds);
        let reorder = on(&mut kinds);
        let partitions = on(&mut kinds);
        let crashes = on(&mut kinds);
        FaultMix {
            profile: Profile::Swarm,
            network: NetworkConfig {
                latency,
                paths_per_link: if reorder {
                    path_rates.random_range(2..=4)
                } else {
                    1
                },
                duplicate_probability: if duplicate {
                    duplicate_rates.random_range(0.01..0.3)
                } else {
                    0.0
                },
                frame_loss_probability: if loss {
                    loss_rates.random_range(0.01..0.3)
                } else {
                    0.0
                },
                clock_skew_max: if skew {
                    Duration::from_millis(skews.random_range(1..3_000))
                } else {
                    Duration::ZERO
                },
                ..NetworkConfig::default()
            },
            partition_every: partitions
                .then(|| Duration::from_millis(partition_rates.random_range(200..5_000))),
            partition_for_max: Duration::from_millis(partition_rates.random_range(100..5_000)),
            crashes,
            fault_window: Duration::from_secs(shape.random_range(2..20)),
            size: shape.random_range(2..=6),
        }
    }
}

impl fmt::Display for FaultMix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let network = &self.network;
        write!(
            f,
            "profile={} latency=[{}] paths={} dup={:.2} loss={:.2} partitions={} crashes={} window={:?} size={}",
            self.profile,
            network.latency,
            network.paths_per_link,
            network.duplicate_probability,
            network.frame_loss_probability,
            match self.partition_every {
                Some(every) => format!("every~{every:?} for<={:?}", self.partition_for_max),
                None => "off".into(),
            },
            if self.crashes { "on" } else { "off" },
            self.fault_window,
            self.size,
        )?;
        // Only when not the default, so existing banners stay as they were.
        if !network.clock_skew_max.is_zero() {
            write!(f, " skew<={:?}", network.clock_skew_max)?;
        }
        if network.transport != crate::net::NetworkTransport::Modelled {
            write!(f, " transport={}", network.transport)?;
        }
        Ok(())
    }
}

/// The stream the fault driver draws from while the run goes.
pub const FAULT_DRIVER: lockstep::rt::RandomStream = lockstep::rt::RandomStream("faults.driver");

/// During the fault window, cut random directions between `procs` and heal
/// them later; at the end of the window, heal everything (the liveness phase
/// starts). Spawned by the scenario runner.
pub async fn drive_partitions(network: Network, procs: Vec<String>, mix: FaultMix) {
    use lockstep::rt::random;
    let Some(every) = mix.partition_every else {
        return;
    };
    if procs.len() < 2 {
        return;
    }
    let start = lockstep::time::now();
    loop {
        let mean = every.as_secs_f64();
        let gap = -(1.0 - random::unit_f64(FAULT_DRIVER)).ln() * mean;
        lockstep::time::sleep(Duration::from_secs_f64(gap.min(mean * 10.0))).await;
        if lockstep::time::now().duration_since(start) >= mix.fault_window {
            break;
        }
        let from = random::below(FAULT_DRIVER, procs.len() as u64) as usize;
        let mut to = random::below(FAULT_DRIVER, procs.len() as u64 - 1) as usize;
        if to >= from {
            to += 1;
        }
        let (from, to) = (procs[from].clone(), procs[to].clone());
        network.partition(&from, &to);
        let span = mix.partition_for_max.as_millis().max(1) as u64;
        let duration = Duration::from_millis(random::below(FAULT_DRIVER, span) + 1);
        let healer = network.clone();
        drop(lockstep::rt::spawn("faults:heal", async move {
            lockstep::time::sleep(duration).await;
            healer.heal(&from, &to);
        }));
    }
    network.heal_all();
}
