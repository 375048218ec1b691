//! The trace: user events, JSON lines, and buggify's record of its decisions.

use lockstep_sim::trace::{self, Value};
use lockstep_sim::{BuggifyConfig, Config, World};

// Goal: code inside a world appends events stamped with time and task; JSON
// lines carry them with escaping.
// Method: record from a named task after a sleep, export, inspect.
#[test]
fn record_from_inside_a_world() {
    let mut world = World::new(Config::with_seed(1));
    world
        .run(async {
            lockstep::rt::spawn("recorder", async {
                lockstep::time::sleep(std::time::Duration::from_millis(3)).await;
                assert!(trace::record(
                    "deliver",
                    [("seq", 3u64.into()), ("note", "a \"quoted\"\nline".into())]
                ));
            })
            .await
            .unwrap();
        })
        .unwrap();
    let trace = world.trace();
    let event = trace
        .events()
        .find(|event| event.kind == "deliver")
        .unwrap();
    assert_eq!(event.task.as_deref(), Some("recorder"));
    assert_eq!(event.time.as_millis(), 3);
    assert_eq!(event.field("seq"), Some(&Value::U64(3)));
    let json = trace.to_json_lines();
    let line = json
        .lines()
        .find(|line| line.contains("\"deliver\""))
        .unwrap();
    assert_eq!(
        line,
        r#"{"time_ns":3000000,"step":3,"kind":"deliver","task":"recorder","fields":{"seq":3,"note":"a \"quoted\"\nline"}}"#
    );
}

fn buggify_fires(config: BuggifyConfig, seed: u64) -> (u64, Vec<bool>) {
    let mut world = World::new(Config::with_seed(seed).buggify(config));
    let fires = world
        .run(async {
            let mut fires = Vec::new();
            for _ in 0..40 {
                fires.push(lockstep::buggify!());
            }
            for _ in 0..40 {
                fires.push(lockstep::buggify!());
            }
            fires
        })
        .unwrap();
    let user = world.run(async { lockstep::random::u64() }).unwrap();
    (user, fires)
}

// Goal: BUGGIFY-1..3, off means never; on, sites activate per run and fire
// sometimes; buggify draws never disturb the user stream (RAND-1).
// Method: evaluate two sites 40 times each over many seeds, on and off.
#[test]
fn buggify_sites() {
    let mut sites_active = 0;
    for seed in 0..32 {
        let (user_off, off) = buggify_fires(BuggifyConfig::disabled(), seed);
        assert!(off.iter().all(|fired| !fired));
        let config = BuggifyConfig {
            enabled: true,
            activate_probability: 0.5,
            fire_probability: 0.5,
        };
        let (user_on, on) = buggify_fires(config, seed);
        assert_eq!(
            user_off, user_on,
            "RAND-1: buggify does not touch the user stream"
        );
        for site in on.chunks(40) {
            let fired = site.iter().filter(|fired| **fired).count();
            if fired > 0 {
                sites_active += 1;
                assert!(fired < 40, "an active site fires with p = 0.5, not always");
            }
        }
    }
    // 64 sites at p_activate = 0.5: expect ~32 active; allow a wide margin.
    assert!(
        (16..=48).contains(&sites_active),
        "{sites_active} active sites"
    );
}
