//! The real NSM, `/dev/nsm`, through AWS's driver crate.

use aws_nitro_enclaves_nsm_api::api::{ErrorCode, Request, Response};
use aws_nitro_enclaves_nsm_api::driver;

use crate::{AttestationRequest, Nsm, NsmError, check_request};

/// An open `/dev/nsm`.
#[derive(Debug)]
pub struct DeviceNsm {
    fd: i32,
}

impl DeviceNsm {
    /// Opens the device; fails outside a Nitro Enclave.
    pub fn open() -> Result<Self, NsmError> {
        let fd = driver::nsm_init();
        if fd < 0 {
            return Err(NsmError::Unavailable(
                "cannot open /dev/nsm (not inside a Nitro Enclave?)".into(),
            ));
        }
        Ok(DeviceNsm { fd })
    }

    fn call(&self, req: Request) -> Result<Response, NsmError> {
        match driver::nsm_process_request(self.fd, req) {
            Response::Error(code) => Err(map_error(code)),
            r => Ok(r),
        }
    }
}

impl Drop for DeviceNsm {
    fn drop(&mut self) {
        driver::nsm_exit(self.fd);
    }
}

fn map_error(code: ErrorCode) -> NsmError {
    match code {
        ErrorCode::InvalidArgument => NsmError::InvalidArgument("rejected by the NSM".into()),
        ErrorCode::InvalidIndex => NsmError::InvalidIndex(u16::MAX),
        ErrorCode::ReadOnlyIndex => NsmError::ReadOnlyIndex(u16::MAX),
        ErrorCode::InputTooLarge => NsmError::InputTooLarge,
        other => NsmError::Internal(format!("{other:?}")),
    }
}

fn unexpected(r: Response) -> NsmError {
    NsmError::Internal(format!("unexpected NSM response {r:?}"))
}

impl Nsm for DeviceNsm {
    fn attestation(&self, req: &AttestationRequest) -> Result<Vec<u8>, NsmError> {
        check_request(req)?;
        match self.call(Request::Attestation {
            user_data: req.user_data.clone().map(Into::into),
            nonce: req.nonce.clone().map(Into::into),
            public_key: req.public_key.clone().map(Into::into),
        })? {
            Response::Attestation { document } => Ok(document),
            r => Err(unexpected(r)),
        }
    }

    fn describe_pcr(&self, index: u16) -> Result<(bool, Vec<u8>), NsmError> {
        match self.call(Request::DescribePCR { index })? {
            Response::DescribePCR { lock, data } => Ok((lock, data)),
            r => Err(unexpected(r)),
        }
    }

    fn extend_pcr(&self, index: u16, data: &[u8]) -> Result<Vec<u8>, NsmError> {
        match self.call(Request::ExtendPCR {
            index,
            data: data.to_vec(),
        })? {
            Response::ExtendPCR { data } => Ok(data),
            r => Err(unexpected(r)),
        }
    }

    fn lock_pcr(&self, index: u16) -> Result<(), NsmError> {
        match self.call(Request::LockPCR { index })? {
            Response::LockPCR => Ok(()),
            r => Err(unexpected(r)),
        }
    }

    fn get_random(&self) -> Result<Vec<u8>, NsmError> {
        match self.call(Request::GetRandom)? {
            Response::GetRandom { random } => Ok(random),
            r => Err(unexpected(r)),
        }
    }

    fn is_simulated(&self) -> bool {
        false
    }
}
