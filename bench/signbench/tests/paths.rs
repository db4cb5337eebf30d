//! Every benchmark path produces verified signatures and counts its bytes: Ed25519 and DKLs23 in
//! all four modes (two sessions at a time), cggmp24 ECDSA through the Unix socket path, and a
//! tampered signature fails the benchmark's verifier.

use sigil_signbench::{Bench, Mode, Scheme};

const PRIMES: &str = sigil_testkit::TEST_PRIMES;

#[test]
fn every_mode_signs_verifies_and_counts_bytes() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let bench = rt.block_on(Bench::start(PRIMES.as_ref(), 2)).unwrap();
    assert!(bench.bare_payload_bytes(Scheme::Ecdsa) > 10_000);
    assert!(bench.bare_payload_bytes(Scheme::Ed25519) > 100);

    for mode in [Mode::Bare, Mode::Engines, Mode::InProcess, Mode::Unix] {
        let p = bench
            .run_phase(&rt, mode, Scheme::Ed25519, 2, 5, "test")
            .unwrap();
        assert_eq!((p.signatures, p.latencies.len()), (5, 5), "{mode}");
        assert!(p.cpu > std::time::Duration::ZERO, "{mode}");
        match mode {
            Mode::Bare => assert!(p.wire_bytes.is_none()),
            Mode::Engines => {
                assert!(p.wire_bytes.is_none());
                assert!(p.payload_bytes > 5 * bench.bare_payload_bytes(Scheme::Ed25519));
            }
            // sigil frames each FROST message with its round and the session's execution id.
            _ => {
                assert!(p.payload_bytes > 5 * bench.bare_payload_bytes(Scheme::Ed25519));
                assert!(p.wire_bytes.unwrap() > p.payload_bytes, "{mode}");
            }
        }
    }

    // DKLs23: the same messages in every mode (the engine's encoding is the bare sizing's).
    let bare = bench.bare_payload_bytes(Scheme::Dkls23);
    assert!(bare > 10_000, "{bare}");
    for mode in [Mode::Bare, Mode::Engines, Mode::InProcess, Mode::Unix] {
        let p = bench
            .run_phase(&rt, mode, Scheme::Dkls23, 2, 3, "test")
            .unwrap();
        assert_eq!((p.signatures, p.latencies.len()), (3, 3), "{mode}");
        let per_signature = p.payload_bytes as f64 / 3.0;
        assert!(
            (per_signature - bare as f64).abs() < bare as f64 * 0.01,
            "{mode}: {per_signature} against {bare}"
        );
        assert_eq!(
            p.wire_bytes.is_some(),
            matches!(mode, Mode::InProcess | Mode::Unix),
            "{mode}"
        );
        if let Some(wire) = p.wire_bytes {
            assert!(wire > p.payload_bytes, "{mode}");
        }
    }

    let p = bench
        .run_phase(&rt, Mode::Unix, Scheme::Ecdsa, 1, 1, "test")
        .unwrap();
    assert_eq!(p.signatures, 1);
    let bare = bench.bare_payload_bytes(Scheme::Ecdsa) as f64;
    assert!(
        (p.payload_bytes as f64 - bare).abs() < bare * 0.01,
        "same messages, same encoding"
    );
    assert!(p.wire_bytes.unwrap() > p.payload_bytes);

    assert!(
        bench
            .fixture()
            .verify(Scheme::Ed25519, b"x", &[0; 64])
            .is_err()
    );
    for scheme in [Scheme::Ecdsa, Scheme::Dkls23] {
        assert!(bench.fixture().verify(scheme, b"x", &[1; 64]).is_err());
    }
    rt.block_on(bench.stop());
}
