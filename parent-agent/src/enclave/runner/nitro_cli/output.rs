//! nitro-cli's JSON output (`src/common/json_output.rs` of aws-nitro-enclaves-cli v1.5.0):
//! `run-enclave`, `describe-enclaves`, `terminate-enclave` and `describe-eif`, parsed as
//! untrusted input. Unknown fields are ignored; fields older nitro-cli versions do not print
//! (`EnclaveName` before 1.2, `Measurements` before 1.1) are optional.

use serde::Deserialize;

use super::errors::clean;

/// What `nitro-cli run-enclave` prints on stdout.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub(crate) struct RunOutput {
    #[serde(rename = "EnclaveName")]
    pub name: Option<String>,
    #[serde(rename = "EnclaveID")]
    pub id: String,
    #[serde(rename = "ProcessID")]
    pub process_id: Option<u64>,
    #[serde(rename = "EnclaveCID")]
    pub cid: u64,
    #[serde(rename = "NumberOfCPUs")]
    pub cpus: u64,
    #[serde(rename = "CPUIDs", default)]
    pub cpu_ids: Vec<u32>,
    #[serde(rename = "MemoryMiB")]
    pub memory_mib: u64,
}

/// The PCRs nitro-cli prints (`describe-enclaves` since 1.1, `describe-eif`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Measurements {
    /// `Sha384 { ... }`.
    #[serde(rename = "HashAlgorithm")]
    pub hash_algorithm: Option<String>,
    /// The enclave image.
    #[serde(rename = "PCR0")]
    pub pcr0: Option<String>,
    /// The kernel and bootstrap.
    #[serde(rename = "PCR1")]
    pub pcr1: Option<String>,
    /// The application.
    #[serde(rename = "PCR2")]
    pub pcr2: Option<String>,
    /// The signing certificate, for a signed EIF.
    #[serde(rename = "PCR8")]
    pub pcr8: Option<String>,
}

/// One element of `nitro-cli describe-enclaves`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct DescribedEnclave {
    /// `EnclaveName` (nitro-cli 1.2 and later).
    #[serde(rename = "EnclaveName")]
    pub name: Option<String>,
    /// `EnclaveID`.
    #[serde(rename = "EnclaveID")]
    pub id: String,
    /// `ProcessID` of nitro-cli's enclave process.
    #[serde(rename = "ProcessID")]
    pub process_id: Option<u64>,
    /// `EnclaveCID`.
    #[serde(rename = "EnclaveCID")]
    pub cid: u64,
    /// `NumberOfCPUs`.
    #[serde(rename = "NumberOfCPUs")]
    pub cpus: Option<u64>,
    /// `CPUIDs`.
    #[serde(rename = "CPUIDs", default)]
    pub cpu_ids: Vec<u32>,
    /// `MemoryMiB`.
    #[serde(rename = "MemoryMiB")]
    pub memory_mib: Option<u64>,
    /// `State`: `RUNNING`, `TERMINATING` or `EMPTY` (`EnclaveState` in nitro-cli).
    #[serde(rename = "State")]
    pub state: String,
    /// `Flags`: `DEBUG_MODE` or `NONE`.
    #[serde(rename = "Flags")]
    pub flags: Option<String>,
    /// The measured PCRs (in debug mode the attestation's PCRs are zeros all the same,
    /// nitro-cli #695).
    #[serde(rename = "Measurements")]
    pub measurements: Option<Measurements>,
}

impl DescribedEnclave {
    /// `State` is `RUNNING`.
    pub fn is_running(&self) -> bool {
        self.state.eq_ignore_ascii_case("RUNNING")
    }
}

/// What `nitro-cli terminate-enclave` prints on stdout.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub(crate) struct TerminateOutput {
    #[serde(rename = "EnclaveName")]
    pub name: Option<String>,
    #[serde(rename = "EnclaveID")]
    pub id: String,
    #[serde(rename = "Terminated")]
    pub terminated: bool,
}

/// What `nitro-cli describe-eif` prints: the parts parent-agent uses.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct EifDescription {
    /// `EifVersion`.
    #[serde(rename = "EifVersion")]
    pub version: Option<u64>,
    /// `Measurements` (PCR0, PCR1, PCR2, and PCR8 when signed).
    #[serde(rename = "Measurements")]
    pub measurements: Measurements,
    /// `IsSigned`.
    #[serde(rename = "IsSigned")]
    pub is_signed: Option<bool>,
    /// `ImageName`.
    #[serde(rename = "ImageName")]
    pub image_name: Option<String>,
    /// `ImageVersion`.
    #[serde(rename = "ImageVersion")]
    pub image_version: Option<String>,
}

/// Parses nitro-cli's stdout as one JSON value of type `T`. Lines before the first one that
/// starts with `{` or `[` (a stray progress line) are skipped; the error says what was wrong,
/// briefly.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    stdout: &str,
    what: &str,
) -> Result<T, String> {
    let mut offset = 0;
    let mut start = None;
    for line in stdout.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with('{') || trimmed.starts_with('[') {
            start = Some(offset + (line.len() - trimmed.len()));
            break;
        }
        offset += line.len();
    }
    let start = start.ok_or_else(|| {
        if stdout.trim().is_empty() {
            format!("stdout is empty; expected {what}")
        } else {
            format!(
                "no JSON on stdout ({:?}); expected {what}",
                clean(&stdout.chars().take(120).collect::<String>())
            )
        }
    })?;
    serde_json::from_str(&stdout[start..]).map_err(|e| clean(&format!("{what} is not valid: {e}")))
}

/// Enclave IDs are passed back on nitro-cli's command line: only `[A-Za-z0-9-]`, not
/// starting with `-` (so it cannot read as an option), at most 128 characters.
/// Real ones look like `i-0584873aac8fea23b-enc17ad2edcbfdad4b`.
pub(crate) fn valid_enclave_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('-')
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/nitro-cli");

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{FIX}/{name}")).unwrap()
    }

    #[test]
    fn run_output_with_and_without_a_name() {
        let named: RunOutput = parse_json(&fixture("run-enclave.stdout"), "x").unwrap();
        assert_eq!(named.name.as_deref(), Some("nginx"));
        assert_eq!(named.id, "i-085fa5ca0e3bda2cb-enc199a65df9f4c82b");
        assert_eq!(named.process_id, Some(81699));
        assert_eq!((named.cid, named.cpus, named.memory_mib), (17, 2, 1024));
        assert_eq!(named.cpu_ids, vec![1, 3]);
        let old: RunOutput = parse_json(&fixture("run-enclave-1.1.stdout"), "x").unwrap();
        assert_eq!(old.name, None);
        assert_eq!(old.id, "i-04e1bfe628305b166-enc17aab64b3f7703d");
        assert_eq!((old.cid, old.cpus, old.memory_mib), (42, 8, 20000));
    }

    #[test]
    fn describe_output_old_and_new() {
        let list: Vec<DescribedEnclave> =
            parse_json(&fixture("describe-enclaves-running.stdout"), "x").unwrap();
        assert_eq!(list.len(), 1);
        let e = &list[0];
        assert!(e.is_running());
        assert_eq!(e.name.as_deref(), Some("nginx"));
        assert_eq!((e.cid, e.cpus, e.memory_mib), (17, Some(2), Some(1024)));
        assert_eq!(e.flags.as_deref(), Some("DEBUG_MODE"));
        let m = e.measurements.as_ref().unwrap();
        assert_eq!(m.hash_algorithm.as_deref(), Some("Sha384 { ... }"));
        assert_eq!(
            m.pcr0.as_deref(),
            Some(
                "d5182754070779a5909ce4b83b967f6173dec9a7a679bdd4fc5ecf2627bd8d9761eb7ccf518826bde8bb584ff4f62fae"
            )
        );
        assert_eq!(m.pcr8, None);
        let old: Vec<DescribedEnclave> =
            parse_json(&fixture("describe-enclaves-1.1.stdout"), "x").unwrap();
        assert_eq!(old[0].id, "i-0584873aac8fea23b-enc17ad2edcbfdad4b");
        assert_eq!(
            (old[0].name.as_deref(), old[0].measurements.as_ref()),
            (None, None)
        );
        let empty: Vec<DescribedEnclave> =
            parse_json(&fixture("describe-enclaves-empty.stdout"), "x").unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn terminate_and_describe_eif_outputs() {
        let t: TerminateOutput = parse_json(&fixture("terminate-enclave.stdout"), "x").unwrap();
        assert!(t.terminated);
        assert_eq!(t.name.as_deref(), Some("nginx"));
        assert_eq!(t.id, "i-085fa5ca0e3bda2cb-enc199a65df9f4c82b");
        let eif: EifDescription = parse_json(&fixture("describe-eif.stdout"), "x").unwrap();
        assert_eq!(eif.version, Some(4));
        assert_eq!(eif.is_signed, Some(false));
        assert_eq!(
            eif.measurements.pcr0.as_deref(),
            Some(
                "49ac0d9697faa9721bdeedfcf359692b77e1987055d47242cfd731cbce1511bb717127ba3ec7615e0d13fccda20020d5"
            )
        );
    }

    #[test]
    fn a_progress_line_before_the_json_is_skipped() {
        let text = format!(
            "{}{}",
            fixture("run-enclave.stderr"),
            fixture("run-enclave.stdout")
        );
        let out: RunOutput = parse_json(&text, "x").unwrap();
        assert_eq!(out.cid, 17);
    }

    #[test]
    fn malformed_output_says_what_is_wrong() {
        let e = parse_json::<RunOutput>("", "the run-enclave JSON object").unwrap_err();
        assert!(e.contains("stdout is empty"), "{e}");
        let e = parse_json::<RunOutput>("Start allocating memory...", "the object").unwrap_err();
        assert!(e.contains("no JSON"), "{e}");
        let e = parse_json::<RunOutput>(r#"{"EnclaveID": "i-1-enc2", "EnclaveCID": 16}"#, "it")
            .unwrap_err();
        assert!(e.contains("missing field `NumberOfCPUs`"), "{e}");
        let e = parse_json::<RunOutput>("{\"EnclaveID\": ", "it").unwrap_err();
        assert!(e.contains("EOF"), "{e}");
    }

    #[test]
    fn enclave_ids_are_checked_before_they_reach_a_command_line() {
        assert!(valid_enclave_id("i-0584873aac8fea23b-enc17ad2edcbfdad4b"));
        assert!(!valid_enclave_id("--all"));
        assert!(!valid_enclave_id(""));
        assert!(!valid_enclave_id("i-1 --all"));
        assert!(!valid_enclave_id(&"a".repeat(129)));
    }
}
