//! Which NSM the enclave talks to, and opening it: the Nitro device, or in simulation an NSM
//! issued from the development root that measures this binary (or a declared image) as PCR0,
//! so a rebuilt binary no longer matches a key policy made for the old one.

use std::path::PathBuf;
use std::sync::Arc;

use sigil_nsm::{DevRoot, DeviceNsm, ImageMeasurement, Nsm, NsmError, SimulatedNsm};
use tracing::info;

/// The NSM to open, as the command line chose it.
#[derive(Clone, Debug)]
pub enum NsmChoice {
    /// `/dev/nsm`, the Nitro Security Module.
    Device,
    /// A simulated NSM (`--simulate`).
    Simulated {
        /// The development root (`nsm-sim init-root`); `None` is refused when opening.
        dev_root: Option<PathBuf>,
        /// The image PCR0 measures; `None` is this binary.
        image: Option<PathBuf>,
        /// The parent instance id in the attestation document.
        instance_id: String,
    },
}

/// Why the NSM could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenNsmError {
    /// The device is missing or refused.
    #[error("NSM: {0}")]
    Device(NsmError),
    /// Simulation without a development root.
    #[error("NSM: --simulate needs --sim-dev-root (the development root, nsm-sim init-root)")]
    NoDevRoot,
    /// The development root could not be loaded.
    #[error("NSM: loading the development root: {0}")]
    DevRoot(NsmError),
    /// This binary could not be located to be measured.
    #[error("NSM: locating this binary to measure it: {0}")]
    CurrentExe(std::io::Error),
    /// The image could not be measured.
    #[error("NSM: measuring {}: {source}", path.display())]
    Measure {
        /// The image.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The simulated NSM could not be built.
    #[error("NSM: {0}")]
    Simulated(NsmError),
}

impl NsmChoice {
    /// Opens the chosen NSM.
    pub fn open(&self) -> Result<Arc<dyn Nsm>, OpenNsmError> {
        let (dev_root, image, instance_id) = match self {
            NsmChoice::Device => {
                return Ok(Arc::new(DeviceNsm::open().map_err(OpenNsmError::Device)?));
            }
            NsmChoice::Simulated {
                dev_root,
                image,
                instance_id,
            } => (dev_root, image, instance_id),
        };
        let dir = dev_root.as_ref().ok_or(OpenNsmError::NoDevRoot)?;
        let root = DevRoot::load(dir).map_err(OpenNsmError::DevRoot)?;
        let image = match image {
            Some(p) => p.clone(),
            None => std::env::current_exe().map_err(OpenNsmError::CurrentExe)?,
        };
        let measurement =
            ImageMeasurement::of_file(&image).map_err(|source| OpenNsmError::Measure {
                path: image.clone(),
                source,
            })?;
        info!(event = "simulated_nsm", pcr0 = %measurement.pcr0_hex());
        let nsm = SimulatedNsm::new(root, &measurement, instance_id, None)
            .map_err(OpenNsmError::Simulated)?;
        Ok(Arc::new(nsm))
    }
}
