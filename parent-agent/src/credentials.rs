//! STUB until the IMDSv2 source lands.
use sigil_provisioning::{CredentialSource, SourceError, pb};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
pub struct ImdsSettings {
    pub endpoint: String,
    pub role: Option<String>,
    pub timeout: Duration,
    pub refresh_before: Duration,
}
impl Default for ImdsSettings {
    fn default() -> Self {
        Self {
            endpoint: "http://169.254.169.254".into(),
            role: None,
            timeout: Duration::from_secs(2),
            refresh_before: Duration::from_secs(300),
        }
    }
}
pub struct ImdsCredentials {
    _s: ImdsSettings,
}
impl ImdsCredentials {
    pub fn new(s: ImdsSettings) -> Self {
        Self { _s: s }
    }
}
impl CredentialSource for ImdsCredentials {
    fn credentials(
        &self,
    ) -> Pin<Box<dyn Future<Output = Result<pb::AwsCredentials, SourceError>> + Send + '_>> {
        Box::pin(async { Err(SourceError("stub".into())) })
    }
}
