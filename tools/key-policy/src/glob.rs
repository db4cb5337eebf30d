//! IAM-style wildcard matching: `*` matches any run of characters (including none), `?`
//! matches exactly one character, and nothing else is special.
//!
//! The matcher is the iterative two-pointer algorithm that remembers only the most recent
//! `*`: its worst case is O(pattern × text) steps and it never recurses, so a pattern such
//! as `a*a*a*a*b` cannot cause exponential backtracking.

/// Case-sensitive wildcard match of `text` against `pattern`.
pub(crate) fn matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    matches_chars(&p, &t)
}

/// Case-insensitive (Unicode lower-case) wildcard match of `text` against `pattern`.
pub(crate) fn matches_ignore_case(pattern: &str, text: &str) -> bool {
    matches(&pattern.to_lowercase(), &text.to_lowercase())
}

fn matches_chars(pattern: &[char], text: &[char]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    // After the most recent `*`: (pattern index just past it, text index it is matched up to).
    let mut star: Option<(usize, usize)> = None;
    while let Some(&tc) = text.get(t) {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p + 1, t));
                p += 1;
            }
            Some(&pc) if pc == '?' || pc == tc => {
                p += 1;
                t += 1;
            }
            _ => match star {
                // Let the last `*` swallow one more character and retry from there.
                Some((sp, st)) => {
                    p = sp;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|&c| c == '*'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basics() {
        let cases = [
            ("", "", true),
            ("", "a", false),
            ("*", "", true),
            ("*", "anything", true),
            ("?", "", false),
            ("?", "x", true),
            ("?", "xy", false),
            ("kms:*", "kms:Decrypt", true),
            ("kms:Decrypt*", "kms:Decrypt", true),
            ("kms:Decrypt*", "kms:DecryptX", true),
            ("kms:Describe?ey", "kms:DescribeKey", true),
            ("kms:Describe?ey", "kms:DescribeKKey", false),
            ("a*b*c", "abc", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbYcZ", false),
            ("a*b*c*", "aXbYcZ", true),
            ("*c", "abcbc", true),
            ("*bc?", "abcbcd", true),
            ("**", "x", true),
            ("a", "A", false),
            ("é?", "éü", true),
        ];
        for (p, t, want) in cases {
            assert_eq!(matches(p, t), want, "{p:?} vs {t:?}");
        }
    }

    #[test]
    fn ignore_case() {
        assert!(matches_ignore_case("KMS:decrypt", "kms:Decrypt"));
        assert!(matches_ignore_case("kms:DESCRIBE*", "kms:DescribeKey"));
        assert!(!matches_ignore_case("kms:Encrypt", "kms:Decrypt"));
    }

    #[test]
    fn pathological_pattern_is_fast() {
        let pattern = format!("{}b", "a*".repeat(2_000));
        let text = "a".repeat(20_000);
        let start = std::time::Instant::now();
        assert!(!matches(&pattern, &text));
        assert!(matches(&pattern, &format!("{text}b")));
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }
}
