//! The rules for the ids a session names, in one place: the account id (also the key-share
//! file's and key-gen's) and the session id. Every caller checks through these functions.

use thiserror::Error;

/// Longest account id.
pub const MAX_ACCOUNT_ID_LEN: usize = 128;
/// Longest session id.
pub const MAX_SESSION_ID_LEN: usize = 128;

/// Why an id was refused. The message names the rule, never the id itself.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum IdError {
    /// An account id is empty or too long.
    #[error("account id must be 1 to {MAX_ACCOUNT_ID_LEN} characters")]
    AccountIdLength,
    /// An account id holds a character outside its alphabet.
    #[error("account id may contain only A-Z a-z 0-9 . _ - : @ /")]
    AccountIdCharacters,
    /// A session id is empty, too long, or not printable ASCII without spaces.
    #[error(
        "session_id must be 1 to {MAX_SESSION_ID_LEN} printable ASCII characters without spaces"
    )]
    SessionId,
}

/// Checks an account id: 1 to 128 characters of `A-Z a-z 0-9 . _ - : @ /`.
pub fn account_id(id: &str) -> Result<(), IdError> {
    if id.is_empty() || id.len() > MAX_ACCOUNT_ID_LEN {
        return Err(IdError::AccountIdLength);
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-:@/".contains(&b))
    {
        return Err(IdError::AccountIdCharacters);
    }
    Ok(())
}

/// Checks a session id: 1 to 128 printable ASCII characters, no spaces.
pub fn session_id(id: &str) -> Result<(), IdError> {
    if id.is_empty() || id.len() > MAX_SESSION_ID_LEN || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(IdError::SessionId);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids() {
        assert_eq!(account_id("eth-main:1@acme/x_y.z"), Ok(()));
        assert_eq!(account_id(""), Err(IdError::AccountIdLength));
        assert_eq!(account_id(&"a".repeat(129)), Err(IdError::AccountIdLength));
        assert_eq!(account_id(&"a".repeat(128)), Ok(()));
        assert_eq!(account_id("a b"), Err(IdError::AccountIdCharacters));
        assert_eq!(account_id("é"), Err(IdError::AccountIdCharacters));
    }

    #[test]
    fn session_ids() {
        assert_eq!(session_id("s-1!{x}"), Ok(()));
        assert_eq!(session_id(""), Err(IdError::SessionId));
        assert_eq!(session_id("a b"), Err(IdError::SessionId));
        assert_eq!(session_id("tab\t"), Err(IdError::SessionId));
        assert_eq!(session_id(&"s".repeat(128)), Ok(()));
        assert_eq!(session_id(&"s".repeat(129)), Err(IdError::SessionId));
    }
}
