//! KMS API errors: the `__type` code, the HTTP status and the message sent back.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::json;

/// An error answered to the client as `{"__type":"<code>","message":"…"}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// The KMS error code, e.g. `NotFoundException`.
    pub code: &'static str,
    /// The human-readable message.
    pub message: String,
    /// HTTP status code.
    pub status: u16,
}

impl ApiError {
    /// A client (HTTP 400) error.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            status: 400,
        }
    }

    /// `NotFoundException`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new("NotFoundException", message)
    }

    /// `ValidationException`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", message)
    }

    /// `SerializationException` (the body is not the JSON the operation expects).
    pub fn serialization(message: impl Into<String>) -> Self {
        Self::new("SerializationException", message)
    }

    /// `InvalidCiphertextException`, with KMS's empty-ish message.
    pub fn invalid_ciphertext() -> Self {
        Self::new(
            "InvalidCiphertextException",
            "The ciphertext is invalid or the encryption context does not match.",
        )
    }

    /// `AccessDeniedException`.
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new("AccessDeniedException", message)
    }

    /// `KMSInternalException` (HTTP 500): a fault of the simulator itself.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError {
            code: "KMSInternalException",
            message: message.into(),
            status: 500,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        json!({ "__type": self.code, "message": self.message }).to_string()
    }
}

/// The KMS constraint-violation message for a number out of range (`field` in camelCase).
pub fn range_violation(field: &str, value: i64, min: i64, max: i64) -> ApiError {
    let constraint = if value < min {
        format!("greater than or equal to {min}")
    } else {
        format!("less than or equal to {max}")
    };
    ApiError::validation(format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must have value {constraint}"
    ))
}

/// The KMS constraint-violation message for a blob or string of the wrong length.
pub fn length_violation(field: &str, len: usize, min: usize, max: usize) -> ApiError {
    let constraint = if len < min {
        format!("greater than or equal to {min}")
    } else {
        format!("less than or equal to {max}")
    };
    ApiError::validation(format!(
        "1 validation error detected: Value at '{field}' failed to satisfy constraint: Member must have length {constraint}"
    ))
}

/// Decodes a base64 blob field; bad base64 is a `SerializationException`, as in AWS.
pub fn b64_decode(value: &str, field: &str) -> Result<Vec<u8>, ApiError> {
    B64.decode(value)
        .map_err(|_| ApiError::serialization(format!("{field} is not valid base64.")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_message_matches_kms() {
        assert_eq!(
            range_violation("numberOfBytes", 2000, 1, 1024).message,
            "1 validation error detected: Value '2000' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024"
        );
        assert!(
            ApiError::not_found("x")
                .body()
                .contains("\"__type\":\"NotFoundException\"")
        );
    }
}
