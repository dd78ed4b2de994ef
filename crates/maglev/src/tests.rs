use proptest::prelude::*;

use super::*;

fn keys(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("10.{}.{}.{}:8080", i / 65536, (i / 256) % 256, i % 256))
        .collect()
}

fn backends(keys: &[String], weights: &[u32]) -> Vec<Backend<'static>> {
    keys.iter()
        .zip(weights)
        .map(|(k, &w)| Backend {
            key: k.clone().leak().as_bytes(),
            weight: w,
        })
        .collect()
}

#[test]
fn sizes_must_be_prime() {
    for s in TableSize::STANDARD {
        assert!(TableSize::new(s).is_ok(), "{s}");
    }
    assert_eq!(TableSize::new(16380), Err(Error::NotPrime(16380)));
    assert_eq!(TableSize::new(1), Err(Error::NotPrime(1)));
    assert_eq!(TableSize::DEFAULT.get(), 16381);
    assert_eq!(TableSize::LARGE.get(), 65521);
}

#[test]
fn empty_table_has_no_backend() {
    let t = Table::build(&[], TableSize::DEFAULT).unwrap();
    assert!(t.is_empty());
    assert_eq!(t.lookup(7), None);
    let zero = [Backend::new("a", 0)];
    assert!(Table::build(&zero, TableSize::DEFAULT).unwrap().is_empty());
}

#[test]
fn too_many_backends_is_an_error() {
    let k = keys(300);
    let b = backends(&k, &[1; 300]);
    let size = TableSize::new(251).unwrap();
    assert!(matches!(
        Table::build(&b, size),
        Err(Error::TooManyBackends { .. })
    ));
}

/// The table is a pure function of the backend keys and weights: this digest
/// was produced once and must never change (the C programs and every node
/// rely on it).
#[test]
fn stable_across_processes_and_releases() {
    let b = [
        Backend::new("10.0.0.1:80", 1),
        Backend::new("10.0.0.2:80", 1),
        Backend::new("10.0.0.3:80", 2),
    ];
    let t = Table::build(&b, TableSize::new(251).unwrap()).unwrap();
    let bytes: Vec<u8> = t.slots().iter().map(|&s| s as u8).collect();
    assert_eq!(xxh64(&bytes, 0), GOLDEN_251);
    assert_eq!(&t.slots()[..12], GOLDEN_PREFIX);
}

const GOLDEN_251: u64 = 0xcad8_13a4_8bb0_ba48;
const GOLDEN_PREFIX: &[u32] = &[2, 2, 2, 2, 0, 0, 1, 1, 0, 2, 2, 0];

#[test]
fn zero_weight_backend_gets_nothing() {
    let b = [
        Backend::new("a", 1),
        Backend::new("b", 0),
        Backend::new("c", 1),
    ];
    let t = Table::build(&b, TableSize::DEFAULT).unwrap();
    let shares = t.shares(3);
    assert_eq!(shares[1], 0);
    assert_eq!(shares[0] + shares[2], 16381);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_slot_filled_and_shares_follow_weights(
        weights in prop::collection::vec(1u32..=5, 1..40),
    ) {
        let k = keys(weights.len());
        let b = backends(&k, &weights);
        let t = Table::build(&b, TableSize::DEFAULT).unwrap();
        prop_assert_eq!(t.slots().len(), 16381);
        prop_assert!(t.slots().iter().all(|&s| (s as usize) < b.len()));
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        for (i, &share) in t.shares(b.len()).iter().enumerate() {
            let expected = 16381.0 * f64::from(weights[i]) / total as f64;
            // Maglev is near-uniform, not exact: within 10 % or 20 slots.
            let tolerance = (expected * 0.10).max(20.0);
            prop_assert!(
                (share as f64 - expected).abs() <= tolerance,
                "backend {} weight {} got {} expected {:.1}", i, weights[i], share, expected
            );
        }
    }

    #[test]
    fn deterministic(n in 1usize..50) {
        let k = keys(n);
        let b = backends(&k, &vec![1; n]);
        let t1 = Table::build(&b, TableSize::DEFAULT).unwrap();
        let t2 = Table::build(&b, TableSize::DEFAULT).unwrap();
        prop_assert_eq!(t1, t2);
    }

    #[test]
    fn removing_one_backend_moves_few_other_slots(n in 3usize..60, removed in 0usize..60) {
        let removed = removed % n;
        let k = keys(n);
        let before = backends(&k, &vec![1; n]);
        let after_keys: Vec<String> =
            k.iter().enumerate().filter(|&(i, _)| i != removed).map(|(_, s)| s.clone()).collect();
        let after = backends(&after_keys, &vec![1; n - 1]);
        let size = TableSize::DEFAULT;
        let t1 = Table::build(&before, size).unwrap();
        let t2 = Table::build(&after, size).unwrap();
        let mut moved_other = 0usize;
        for (&a, &b) in t1.slots().iter().zip(t2.slots()) {
            let a = a as usize;
            if a == removed {
                continue;
            }
            // Map the old index to the new list (indices after `removed` shift).
            let a_new = if a > removed { a - 1 } else { a };
            if a_new != b as usize {
                moved_other += 1;
            }
        }
        let per_backend = 16381 / n;
        // The removed backend's slots always move; of the others only a small
        // fraction may (Maglev's disruption bound, far below the 1/N a modulo
        // hash would reshuffle everything by).
        prop_assert!(
            moved_other <= per_backend,
            "n={} moved {} other slots (one backend holds ~{})", n, moved_other, per_backend
        );
    }
}
