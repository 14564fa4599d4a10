//! Jail decisions against an injected clock: restore limits and expiry
//! without waiting for real bantimes.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{run, settle, stream, wait_for, Env};
use gaoler_server::{Clock, Server, ServerOptions, SystemClock};
use serde_json::json;

#[derive(Clone)]
struct ManualClock(Arc<Mutex<f64>>);

impl ManualClock {
    fn new(t: f64) -> Self {
        ManualClock(Arc::new(Mutex::new(t)))
    }
    fn set(&self, t: f64) {
        *self.0.lock().unwrap() = t;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> f64 {
        *self.0.lock().unwrap()
    }
}

fn server_at(env: &Env, clock: &ManualClock) -> Arc<Server> {
    Server::new(ServerOptions {
        loglevel: Some("DEBUG".into()),
        logtarget: Some(env.srvlog.to_string_lossy().into_owned()),
        clock: Some(Arc::new(clock.clone())),
        ..ServerOptions::default()
    })
    .unwrap()
}

#[test]
fn restore_honours_remaining_bantime() {
    let env = Env::new();
    let t0 = SystemClock.now();
    let clock = ManualClock::new(t0);
    let a = server_at(&env, &clock);
    stream(&a, env.stream("test", &[]));
    assert_eq!(
        run(&a, json!(["set", "test", "banip", "198.51.100.20"])),
        json!(1)
    );
    a.shutdown();
    drop(a);

    // 700 s later a 600 s ban is over: not restored.
    clock.set(t0 + 700.0);
    let b = server_at(&env, &clock);
    stream(&b, env.stream("test", &[]));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(run(&b, json!(["get", "test", "banip"])), json!([]));
    b.shutdown();
    drop(b);

    // 300 s later it is still running: restored.
    clock.set(t0 + 300.0);
    let c = server_at(&env, &clock);
    stream(&c, env.stream("test", &[]));
    assert!(wait_for(Duration::from_secs(5), || {
        run(&c, json!(["get", "test", "banip"])) == json!(["198.51.100.20"])
    }));
    assert!(env
        .server_log()
        .contains("[test] Restore Ban 198.51.100.20"));
    c.shutdown();
}

#[test]
fn expiry_follows_the_clock_within_two_seconds() {
    let env = Env::new();
    let t0 = SystemClock.now();
    let clock = ManualClock::new(t0);
    let srv = server_at(&env, &clock);
    stream(&srv, env.stream("test", &[]));
    run(&srv, json!(["set", "test", "banip", "198.51.100.21"]));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        run(&srv, json!(["get", "test", "banip"])),
        json!(["198.51.100.21"])
    );
    // The end of ban itself is not yet "after" it.
    clock.set(t0 + 600.0);
    std::thread::sleep(Duration::from_millis(2300));
    assert_eq!(
        run(&srv, json!(["get", "test", "banip"])),
        json!(["198.51.100.21"])
    );
    clock.set(t0 + 600.5);
    assert!(
        wait_for(Duration::from_millis(2500), || env
            .actions()
            .contains("unban 198.51.100.21")),
        "{}\n{}",
        env.actions(),
        env.server_log()
    );
    srv.shutdown();
}

#[test]
fn log_positions_survive_a_restart() {
    let env = Env::new();
    let a = env.server();
    stream(&a, env.stream("test", &[]));
    settle();
    env.fail("192.0.2.60");
    env.fail("192.0.2.60");
    assert!(wait_for(Duration::from_secs(5), || {
        run(&a, json!(["status", "test"]))[0][1][1][1] == json!(2)
    }));
    a.shutdown();
    drop(a);
    let b = env.server();
    stream(&b, env.stream("test", &[]));
    settle();
    env.fail("192.0.2.60");
    assert!(wait_for(Duration::from_secs(5), || {
        run(&b, json!(["status", "test"]))[0][1][1][1] == json!(1)
    }));
    std::thread::sleep(Duration::from_millis(200));
    // The two old lines were not read again, so no ban.
    assert_eq!(run(&b, json!(["get", "test", "banip"])), json!([]));
    let log = env.server_log();
    assert!(
        log.lines()
            .filter(|l| l.contains("Added logfile"))
            .any(|l| !l.contains("(pos = 0,")),
        "{log}"
    );
    b.shutdown();
}
