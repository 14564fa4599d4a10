//! The FailManager alone under an address spray: nanoseconds per failure
//! and bytes per tracked id (see bench/spray.py for the whole daemon).
//!
//!     cargo run --release -p gaoler-ban --example fm_spray [ADDRESSES] [MAXTRACKED]

use std::time::Instant;

// The daemon's allocator (crates/gaoler).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use gaoler_addr::Addr;
use gaoler_ban::{FailManager, FieldValue};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let cap: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(0);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let addrs: Vec<Addr> = (0..n)
        .map(|i| {
            Addr::parse(&format!(
                "{}.{}.{}.{}",
                10 + (i >> 24),
                i >> 16 & 255,
                i >> 8 & 255,
                i & 255
            ))
        })
        .collect();
    let texts: Vec<String> = addrs.iter().map(Addr::to_string).collect();
    let lines: Vec<[String; 1]> = texts
        .iter()
        .enumerate()
        .map(|(i, ip)| {
            [format!(
                "2026-01-01 10:00:00.{:06} [WARNING] sofia_reg.c:1720 SIP auth failure (REGISTER) \
                 on sofia profile 'internal' for [1001@192.0.2.1] from ip {ip}",
                i % 1_000_000
            )]
        })
        .collect();
    for _ in 1..rounds {
        // Extra rounds for profilers: the inputs are built once.
        let mut fm = FailManager::new(1_000_000, 600.0, 1_000_000);
        fm.set_max_tracked(cap);
        for i in 0..n {
            let f = [("ip4", FieldValue::Str(&texts[i]))];
            fm.add(&addrs[i], 1000.0, 1, 1, &lines[i], f);
        }
    }
    let mut fm = FailManager::new(1_000_000, 600.0, 1_000_000);
    fm.set_max_tracked(cap);
    let t0 = Instant::now();
    for i in 0..n {
        fm.add(
            &addrs[i],
            1000.0 + i as f64 * 1e-6,
            1,
            1,
            &lines[i],
            [("ip4", FieldValue::Str(&texts[i]))],
        );
    }
    let dt = t0.elapsed();
    println!(
        "{n} failures: {:.0} ns each, {} tracked, {} bytes per tracked id, {} evicted",
        dt.as_nanos() as f64 / n as f64,
        fm.size(),
        fm.heap_bytes() / fm.size().max(1),
        fm.evicted_total()
    );
    let t0 = Instant::now();
    let gone = fm.cleanup(1e9);
    println!(
        "cleanup of {gone}: {:.1} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );
}
