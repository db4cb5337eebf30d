//! KMS CiphertextForRecipient parsing: never panics, and whatever parses has the invariants
//! the decryptor relies on.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigil_recipient_cms::{MAX_INPUT_LEN, parse};

fuzz_target!(|data: &[u8]| {
    if let Ok(env) = parse(data) {
        assert!(data.len() <= MAX_INPUT_LEN);
        assert_eq!(env.iv().len(), 16);
        assert_eq!(env.subject_key_identifier().len(), 32);
        assert!(matches!(env.encrypted_key().len(), 256 | 384 | 512));
        let content = env.encrypted_content();
        assert!(!content.is_empty() && content.len() % 16 == 0);
        assert!(content.len() < data.len());
    }
});
