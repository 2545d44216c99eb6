//! `vault-bench`: what sealing costs per event, as `SealingStore` pays it (parse the
//! payload, seal or open each personal field, write the payload back), for the two
//! payloads the service seals most: a created customer (name and three free fields) and
//! a follow-up note. Prints `metric value unit` lines; `--quick` runs fewer rounds.

use std::time::Instant;

use poolkeeper_vault::{DataKey, open_payload, seal_payload};
use serde_json::{Value, json};
use uuid::Uuid;

fn created(customer: Uuid) -> (&'static str, String) {
    let payload = json!({
        "customer_id": customer, "pool_id": Uuid::from_u128(2), "name": "上海某某贸易有限公司",
        "source": "referral", "created_by": Uuid::from_u128(3), "owner": null,
        "fields": {"phone": "138-0000-0000", "region": "华东", "contact": "王经理"},
    });
    ("customer.created", payload.to_string())
}

fn follow_up(customer: Uuid) -> (&'static str, String) {
    let payload = json!({
        "customer_id": customer, "follow_up_id": Uuid::from_u128(4), "author": Uuid::from_u128(5),
        "kind": "call", "note": "电话沟通，客户有意向，下周拜访",
    });
    ("customer.follow_up_logged", payload.to_string())
}

/// Microseconds per call of `work`, the best of five runs of `rounds`.
fn micros_per(rounds: u32, mut work: impl FnMut()) -> f64 {
    (0..5)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..rounds {
                work();
            }
            started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds)
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 2_000 } else { 50_000 };
    let customer = Uuid::from_u128(1);
    let key = DataKey::generate();
    for (label, (event_type, plain)) in [
        ("created", created(customer)),
        ("follow_up", follow_up(customer)),
    ] {
        let seal = micros_per(rounds, || {
            let mut payload: Value = serde_json::from_str(&plain).unwrap();
            seal_payload(event_type, &mut payload, customer, Some(&key));
            std::hint::black_box(payload.to_string());
        });
        let mut payload: Value = serde_json::from_str(&plain).unwrap();
        seal_payload(event_type, &mut payload, customer, Some(&key));
        let sealed = payload.to_string();
        let open = micros_per(rounds, || {
            let mut payload: Value = serde_json::from_str(&sealed).unwrap();
            open_payload(event_type, &mut payload, customer, Some(&key)).unwrap();
            std::hint::black_box(payload.to_string());
        });
        let parse_only = micros_per(rounds, || {
            let payload: Value = serde_json::from_str(&plain).unwrap();
            std::hint::black_box(payload);
        });
        println!("seal_{label} {seal:.2} us");
        println!("open_{label} {open:.2} us");
        println!("parse_only_{label} {parse_only:.2} us");
        println!(
            "sealed_bytes_{label} {} bytes (plaintext {})",
            sealed.len(),
            plain.len()
        );
    }
}
