//! Zeroization, measured: while the enclave's unwrap-and-unseal path runs — the attested KMS
//! Decrypt through the simulated vsock route, the CMS envelope, age-decrypting the shares and
//! building the account map — two inspecting allocator layers look at every heap block freed
//! (or left behind by a reallocation) for 16-byte pieces of the age identity (its text and
//! its raw X25519 scalar) and of every key share (the hex in the JSON and the raw scalar):
//!
//! * as the program frees it: no piece of the identity may be there (our code wipes it);
//! * as the enclave's wipe-on-free allocator returns it to the system: nothing secret at all.

#![allow(unsafe_code, clippy::unwrap_used, missing_docs)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use enclave_app::unseal::{Sealed, unseal};
use sigil_fake_parent::Appliance;
use sigil_fixtures::share_secrets;
use sigil_nsm::{ImageMeasurement, SimulatedNsm};
use sigil_provisioning::IDENTITY_FILE;
use sigil_transport::Transport;

/// 16-byte pieces of every secret, and whether each is a piece of the age identity.
static NEEDLES: OnceLock<Vec<(String, bool, [u8; 16])>> = OnceLock::new();
static TRACKING: AtomicBool = AtomicBool::new(false);
static INSPECTED: AtomicUsize = AtomicUsize::new(0);
/// Needles found in blocks as the program freed them (before the allocator wiped them).
static FREED_BY_CODE: [AtomicBool; 512] = [const { AtomicBool::new(false) }; 512];
/// Needles found in blocks as the enclave's allocator hands them back to the system.
static RETURNED_TO_SYSTEM: [AtomicBool; 512] = [const { AtomicBool::new(false) }; 512];

fn inspect(ptr: *mut u8, size: usize, hits: &[AtomicBool; 512]) {
    if !TRACKING.load(Ordering::Relaxed) || size < 16 {
        return;
    }
    let Some(needles) = NEEDLES.get() else {
        return;
    };
    // SAFETY: called from `dealloc` with a block that is still allocated and `size` bytes long.
    let block = unsafe { std::slice::from_raw_parts(ptr, size) };
    for (i, (_, _, n)) in needles.iter().enumerate().take(hits.len()) {
        if block.windows(16).any(|w| w == n) {
            hits[i].store(true, Ordering::SeqCst);
        }
    }
}

/// Outermost layer: sees every block as the program frees it.
struct BeforeWipe;
/// Innermost layer: sees every block as the enclave's allocator returns it to the system.
struct AfterWipe;

unsafe impl GlobalAlloc for BeforeWipe {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { WIPE.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        INSPECTED.fetch_add(1, Ordering::Relaxed);
        inspect(ptr, layout.size(), &FREED_BY_CODE);
        unsafe { WIPE.dealloc(ptr, layout) }
    }
    // `realloc` is the trait's default (alloc, copy, dealloc), so a block a reallocation
    // leaves behind is inspected like any other.
}

unsafe impl GlobalAlloc for AfterWipe {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        inspect(ptr, layout.size(), &RETURNED_TO_SYSTEM);
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// The enclave binary's allocator, over the inspecting backend.
static WIPE: enclave_app::WipeOnFree<AfterWipe> = enclave_app::WipeOnFree::new(AfterWipe);

#[global_allocator]
static ALLOCATOR: BeforeWipe = BeforeWipe;

fn pieces(name: &str, identity: bool, bytes: &[u8], out: &mut Vec<(String, bool, [u8; 16])>) {
    for (k, chunk) in bytes.chunks_exact(16).enumerate() {
        out.push((format!("{name}[{k}]"), identity, chunk.try_into().unwrap()));
    }
}

const CONTROL: &[u8; 16] = b"control-16-bytes";

fn needles(a: &Appliance) -> Vec<(String, bool, [u8; 16])> {
    let mut out = vec![("control".to_owned(), false, *CONTROL)];
    let key = a
        .identity
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .unwrap();
    pieces("identity text", true, key.as_bytes(), &mut out);
    pieces(
        "identity text (lowercase)",
        true,
        key.to_lowercase().as_bytes(),
        &mut out,
    );
    let (_, scalar) = bech32::decode(key).unwrap();
    assert_eq!(scalar.len(), 32);
    pieces("identity scalar", true, &scalar, &mut out);
    for (i, s) in share_secrets(&a.shares_plaintext).iter().enumerate() {
        pieces(
            &format!("share secret {i} (hex)"),
            false,
            s.as_bytes(),
            &mut out,
        );
        if let Ok(raw) = hex::decode(s) {
            pieces(&format!("share secret {i} (raw)"), false, &raw, &mut out);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_freed_block_holds_the_identity_or_a_share_after_unwrap_and_unseal() {
    let a =
        Appliance::with_demo_shares(std::path::Path::new(env!("CARGO_BIN_EXE_enclave-app"))).await;
    NEEDLES.set(needles(&a)).unwrap();

    // The enclave's side, in this process: only the simulated vsock route to the parent.
    let nsm = SimulatedNsm::new(
        sigil_nsm::DevRoot::load(&a.root_dir).unwrap(),
        &ImageMeasurement::of_file(std::path::Path::new(env!("CARGO_BIN_EXE_enclave-app")))
            .unwrap(),
        "i-0123456789abcdef0",
        None,
    )
    .unwrap();
    let runtime = enclave_app::runtime::runtime(Some(a.config.clone()), true).unwrap();
    let credentials = enclave_app::runtime::credentials(Some(a.credentials.clone())).unwrap();
    let client = sigil_kms_client::KmsClient::new(
        &runtime.kms,
        Transport::simulated(&a.sim_dir, 16),
        credentials,
    )
    .unwrap();
    let identity_ct = std::fs::read(a.bundle_dir.join(IDENTITY_FILE)).unwrap();
    let shares_ct = a.shares_ciphertext();
    let context: HashMap<String, String> = runtime.encryption_context.clone();

    TRACKING.store(true, Ordering::SeqCst);
    let decrypted = client
        .attested_decrypt(&nsm, runtime.kms_key_id.as_deref(), &identity_ct, &context)
        .await
        .unwrap();
    let unsealed = unseal(
        decrypted.plaintext,
        &Sealed {
            key_shares_age: &shares_ct,
            tls_bundle_age: &[],
        },
    )
    .unwrap();
    // Positive control: an unwiped copy freed by code is seen by the first layer only.
    drop(std::hint::black_box(CONTROL.to_vec()));
    tokio::time::sleep(Duration::from_millis(100)).await;
    TRACKING.store(false, Ordering::SeqCst);
    assert!(
        FREED_BY_CODE[0].load(Ordering::SeqCst),
        "the inspection works"
    );
    assert!(
        !RETURNED_TO_SYSTEM[0].load(Ordering::SeqCst),
        "the allocator wipes"
    );
    FREED_BY_CODE[0].store(false, Ordering::SeqCst);

    assert_eq!(unsealed.keys.len(), 3);
    let inspected = INSPECTED.load(Ordering::SeqCst);
    assert!(inspected > 1000, "only {inspected} frees inspected");
    let needles = NEEDLES.get().unwrap();
    assert!(needles.len() <= FREED_BY_CODE.len());
    let found = |hits: &[AtomicBool; 512], identity_only: bool| -> Vec<&str> {
        needles
            .iter()
            .zip(hits)
            .filter(|((_, identity, _), h)| {
                h.load(Ordering::SeqCst) && (*identity || !identity_only)
            })
            .map(|((name, _, _), _)| name.as_str())
            .collect()
    };
    // Our own code wipes the identity: no freed block held any of it, even before the
    // allocator's wipe.
    let by_code = found(&FREED_BY_CODE, true);
    assert!(
        by_code.is_empty(),
        "blocks freed by the code still held {by_code:?} ({inspected} frees inspected)"
    );
    // Library deserializers (serde buffering inside cggmp24 / frost) free copies of share
    // strings; the enclave's allocator wipes them: nothing secret reaches the system's heap.
    let library = found(&FREED_BY_CODE, false);
    eprintln!("copies wiped only by the allocator: {library:?}");
    let returned = found(&RETURNED_TO_SYSTEM, false);
    assert!(
        returned.is_empty(),
        "blocks returned to the system still held {returned:?} ({inspected} frees inspected)"
    );
}
