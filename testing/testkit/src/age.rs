//! The `age` and `age-keygen` command-line tools, as operators use them: fresh identities,
//! the recipient of an identity, and encryption to a recipient. Tests need both tools
//! installed (`apt-get install age`); a missing tool panics with a message.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// `age-keygen -o DIR/NAME`: (identity file text, recipient). The file is removed again.
pub fn age_keygen(dir: &Path, name: &str) -> (String, String) {
    let path = dir.join(name);
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&path)
        .output()
        .expect("run age-keygen (apt-get install age)");
    assert!(out.status.success(), "age-keygen: {out:?}");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("age-keygen wrote no `# public key:` line")
        .to_owned();
    (text, recipient)
}

/// The recipient of an age identity file's text: its `# public key:` comment, else
/// `age-keygen -y`.
pub fn age_recipient(identity_text: &str) -> String {
    if let Some(r) = identity_text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
    {
        return r.trim().to_owned();
    }
    let mut child = Command::new("age-keygen")
        .arg("-y")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run age-keygen (apt-get install age)");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(identity_text.as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "age-keygen -y: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// `age -r RECIPIENT` over `plaintext`.
pub fn age_encrypt(recipient: &str, plaintext: &[u8]) -> Vec<u8> {
    let mut child = Command::new("age")
        .args(["-r", recipient])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run age (apt-get install age)");
    let mut stdin = child.stdin.take().unwrap();
    let input = plaintext.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success());
    out.stdout
}
