//! The simulated NSM: AWS's document format and NSM semantics, signed from a dev root.
//!
//! PCR0 and PCR2 measure the image the simulation is told to run (the enclave binary or a
//! declared image file): `SHA384(0^48 ‖ SHA384(image))`, so a rebuilt binary no longer
//! matches a key policy made for the old one. PCR1 measures a fixed "simulated kernel"
//! string, PCR3 the parent's role ARN (if given) and PCR4 its instance id, with AWS's
//! formulas. PCRs 0–15 are locked at boot; 16–31 start at zero and can be extended and
//! locked. Field and request size limits are the device's.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_nitro_enclaves_nsm_api::api::{AttestationDoc, Digest};
use coset::{CborSerializable, CoseSign1Builder, HeaderBuilder, iana};
use p384::ecdsa::Signature;
use p384::ecdsa::signature::Signer;
use sha2::{Digest as _, Sha384};

use crate::devpki::{DevRoot, Issued};
use crate::{
    AttestationRequest, BOOT_LOCKED_PCRS, Nsm, NsmError, PCR_COUNT, RANDOM_BYTES, check_request,
    extend,
};

const ZERO: [u8; 48] = [0u8; 48];
const SIMULATED_KERNEL: &[u8] = b"sigil simulated Nitro kernel, cmdline and bootstrap ramdisk";

/// The PCR0/1/2 values of an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageMeasurement {
    /// PCR0: the whole image.
    pub pcr0: Vec<u8>,
    /// PCR1: kernel and bootstrap (a fixed value in simulation).
    pub pcr1: Vec<u8>,
    /// PCR2: the application.
    pub pcr2: Vec<u8>,
}

impl ImageMeasurement {
    /// Measures image bytes.
    pub fn of_bytes(image: &[u8]) -> Self {
        Self::from_digest(&Sha384::digest(image))
    }

    /// Measures an image file (streamed; binaries can be large).
    pub fn of_file(path: &Path) -> std::io::Result<Self> {
        let mut f = std::fs::File::open(path)?;
        let mut h = Sha384::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        Ok(Self::from_digest(&h.finalize()))
    }

    fn from_digest(image_digest: &[u8]) -> Self {
        let app = extend(&ZERO, image_digest);
        ImageMeasurement {
            pcr0: app.clone(),
            pcr1: extend(&ZERO, &Sha384::digest(SIMULATED_KERNEL)),
            pcr2: app,
        }
    }

    /// PCR0 as lowercase hex: the value of `kms:RecipientAttestation:ImageSha384`.
    pub fn pcr0_hex(&self) -> String {
        hex::encode(&self.pcr0)
    }
}

struct Pcr {
    locked: bool,
    value: Vec<u8>,
}

struct State {
    intermediates: Vec<Issued>,
    leaf: Issued,
    leaf_until: SystemTime,
    pcrs: Vec<Pcr>,
}

/// A simulated NSM. Thread-safe.
pub struct SimulatedNsm {
    root: DevRoot,
    instance_id: String,
    module_id: String,
    state: Mutex<State>,
}

impl std::fmt::Debug for SimulatedNsm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatedNsm")
            .field("module_id", &self.module_id)
            .finish_non_exhaustive()
    }
}

const LEAF_LIFETIME: Duration = Duration::from_secs(3 * 3600);

impl SimulatedNsm {
    /// An NSM for `image`, on a parent with `instance_id` and optionally `role_arn`.
    pub fn new(
        root: DevRoot,
        image: &ImageMeasurement,
        instance_id: &str,
        role_arn: Option<&str>,
    ) -> Result<Self, NsmError> {
        let now = SystemTime::now();
        let mut suffix = [0u8; 8];
        getrandom::fill(&mut suffix).map_err(|e| NsmError::Internal(e.to_string()))?;
        let module_id = format!("{instance_id}-enc{}", hex::encode(suffix));
        let intermediates = root.issue_intermediates(instance_id, now)?;
        let leaf = DevRoot::issue_leaf(
            intermediates
                .last()
                .ok_or_else(|| NsmError::Internal("empty chain".into()))?,
            &module_id,
            now,
        )?;
        let mut pcrs: Vec<Pcr> = (0..PCR_COUNT)
            .map(|i| Pcr {
                locked: i < BOOT_LOCKED_PCRS,
                value: ZERO.to_vec(),
            })
            .collect();
        pcrs[0].value = image.pcr0.clone();
        pcrs[1].value = image.pcr1.clone();
        pcrs[2].value = image.pcr2.clone();
        if let Some(arn) = role_arn {
            pcrs[3].value = extend(&ZERO, arn.as_bytes());
        }
        pcrs[4].value = extend(&ZERO, instance_id.as_bytes());
        Ok(SimulatedNsm {
            root,
            instance_id: instance_id.to_owned(),
            module_id,
            state: Mutex::new(State {
                intermediates,
                leaf,
                leaf_until: now + LEAF_LIFETIME,
                pcrs,
            }),
        })
    }

    /// The module id documents carry.
    pub fn module_id(&self) -> &str {
        &self.module_id
    }

    fn state(&self) -> Result<std::sync::MutexGuard<'_, State>, NsmError> {
        self.state
            .lock()
            .map_err(|_| NsmError::Internal("state lock poisoned".into()))
    }

    fn pcr_index(index: u16) -> Result<usize, NsmError> {
        if index >= PCR_COUNT {
            Err(NsmError::InvalidIndex(index))
        } else {
            Ok(usize::from(index))
        }
    }
}

impl Nsm for SimulatedNsm {
    fn attestation(&self, req: &AttestationRequest) -> Result<Vec<u8>, NsmError> {
        check_request(req)?;
        let now = SystemTime::now();
        let mut st = self.state()?;
        // Like the NSM's, the leaf is short-lived; renew it before it runs out.
        if now + Duration::from_secs(300) > st.leaf_until {
            st.intermediates = self.root.issue_intermediates(&self.instance_id, now)?;
            let parent = st
                .intermediates
                .last()
                .ok_or_else(|| NsmError::Internal("empty chain".into()))?;
            st.leaf = DevRoot::issue_leaf(parent, &self.module_id, now)?;
            st.leaf_until = now + LEAF_LIFETIME;
        }
        let pcrs: BTreeMap<usize, Vec<u8>> = st
            .pcrs
            .iter()
            .enumerate()
            .filter(|(_, p)| p.locked)
            .map(|(i, p)| (i, p.value.clone()))
            .collect();
        let mut cabundle = vec![self.root.cert_der().to_vec()];
        cabundle.extend(st.intermediates.iter().map(|i| i.der.clone()));
        let timestamp = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_err(|e| NsmError::Internal(e.to_string()))?
            .as_millis() as u64;
        let payload = AttestationDoc::new(
            self.module_id.clone(),
            Digest::SHA384,
            timestamp,
            pcrs,
            st.leaf.der.clone(),
            cabundle,
            req.user_data.clone(),
            req.nonce.clone(),
            req.public_key.clone(),
        )
        .to_binary();
        let key = &st.leaf.key;
        let sign1 = CoseSign1Builder::new()
            .protected(
                HeaderBuilder::new()
                    .algorithm(iana::Algorithm::ES384)
                    .build(),
            )
            .payload(payload)
            .create_signature(b"", |tbs| {
                let sig: Signature = key.sign(tbs);
                sig.to_bytes().to_vec()
            })
            .build();
        sign1
            .to_vec()
            .map_err(|e| NsmError::Internal(format!("COSE encoding: {e}")))
    }

    fn describe_pcr(&self, index: u16) -> Result<(bool, Vec<u8>), NsmError> {
        let i = Self::pcr_index(index)?;
        let st = self.state()?;
        Ok((st.pcrs[i].locked, st.pcrs[i].value.clone()))
    }

    fn extend_pcr(&self, index: u16, data: &[u8]) -> Result<Vec<u8>, NsmError> {
        let i = Self::pcr_index(index)?;
        if data.len() > crate::MAX_REQUEST_BYTES - 64 {
            return Err(NsmError::InputTooLarge);
        }
        let mut st = self.state()?;
        let pcr = &mut st.pcrs[i];
        if pcr.locked {
            return Err(NsmError::ReadOnlyIndex(index));
        }
        pcr.value = extend(&pcr.value, data);
        Ok(pcr.value.clone())
    }

    fn lock_pcr(&self, index: u16) -> Result<(), NsmError> {
        let i = Self::pcr_index(index)?;
        let mut st = self.state()?;
        if st.pcrs[i].locked {
            return Err(NsmError::ReadOnlyIndex(index));
        }
        st.pcrs[i].locked = true;
        Ok(())
    }

    fn get_random(&self) -> Result<Vec<u8>, NsmError> {
        let mut b = vec![0u8; RANDOM_BYTES];
        getrandom::fill(&mut b).map_err(|e| NsmError::Internal(e.to_string()))?;
        Ok(b)
    }

    fn is_simulated(&self) -> bool {
        true
    }
}
