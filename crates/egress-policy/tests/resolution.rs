//! Policy decisions against a real DNS server on loopback: names pointing into special
//! ranges, explicit range entries, TTL caching, resolution failures.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use sigil_egress_policy::{
    AllowEntry, Allowlist, Decision, DenyReason, DnsConfig, HostPattern, Policy,
};
use sigil_testkit::TestDns;
use sigil_transport::Host;

fn entry(host: &str, port: u16) -> AllowEntry {
    AllowEntry {
        host: HostPattern::parse(host).unwrap(),
        port,
    }
}

fn policy(dns: &TestDns, entries: Vec<AllowEntry>) -> Policy {
    let cfg = DnsConfig {
        nameservers: vec![dns.addr()],
        timeout: Some(Duration::from_secs(2)),
        max_ttl: None,
    };
    Policy::new(Allowlist::new(entries), &cfg).unwrap()
}

fn name(n: &str) -> Host {
    Host::Name(n.into())
}

#[tokio::test]
async fn names_resolving_into_special_ranges_are_denied_by_default() {
    let dns = TestDns::start().await;
    dns.set("loop.test.example", &["127.0.0.1"], 60);
    dns.set("imds.test.example", &["169.254.169.254"], 60);
    dns.set("internal.test.example", &["10.0.0.1"], 60);
    dns.set("mixed.test.example", &["52.94.133.131", "10.0.0.1"], 60);
    dns.set("public.test.example", &["52.94.133.131"], 60);
    let p = policy(&dns, vec![entry("*.test.example", 443)]);
    for (host, addr, kind) in [
        ("loop.test.example", "127.0.0.1", "loopback"),
        ("imds.test.example", "169.254.169.254", "link-local"),
        ("internal.test.example", "10.0.0.1", "private"),
        ("mixed.test.example", "10.0.0.1", "private"),
    ] {
        assert_eq!(
            p.decide(&name(host), 443).await,
            Decision::Deny(DenyReason::SpecialRange {
                addr: addr.parse().unwrap(),
                kind
            }),
            "{host}"
        );
    }
    assert_eq!(
        p.decide(&name("public.test.example"), 443).await,
        Decision::Allow {
            entry: "*.test.example:443".into(),
            addrs: vec!["52.94.133.131:443".parse().unwrap()]
        }
    );
}

#[tokio::test]
async fn an_entry_naming_the_range_allows_it_on_its_port_only() {
    let dns = TestDns::start().await;
    dns.set("gw.test.example", &["10.0.3.7"], 60);
    let p = policy(
        &dns,
        vec![
            entry("gw.test.example", 8080),
            entry("gw.test.example", 9090),
            entry("10.0.0.0/16", 8080),
        ],
    );
    assert!(matches!(
        p.decide(&name("gw.test.example"), 8080).await,
        Decision::Allow { .. }
    ));
    assert!(matches!(
        p.decide(&name("gw.test.example"), 9090).await,
        Decision::Deny(DenyReason::SpecialRange { .. })
    ));
    // A broad public-looking entry does not open private ranges.
    let p = policy(&dns, vec![entry("0.0.0.0/0", 443)]);
    assert!(matches!(
        p.decide(&Host::Ip("10.0.0.1".parse().unwrap()), 443).await,
        Decision::Deny(DenyReason::SpecialRange { .. })
    ));
    assert!(matches!(
        p.decide(&Host::Ip("52.94.133.131".parse().unwrap()), 443)
            .await,
        Decision::Allow { .. }
    ));
}

#[tokio::test]
async fn answers_are_cached_for_their_ttl_then_refreshed() {
    let dns = TestDns::start().await;
    dns.set("ttl.test.example", &["52.94.133.131"], 1);
    dns.set("long.test.example", &["52.94.133.131"], 300);
    let p = policy(&dns, vec![entry("*.test.example", 443)]);
    let first = p.decide(&name("ttl.test.example"), 443).await;
    assert!(matches!(first, Decision::Allow { .. }));
    p.decide(&name("long.test.example"), 443).await;
    dns.set("ttl.test.example", &["10.9.9.9"], 1);
    dns.set("long.test.example", &["10.9.9.9"], 300);
    // Within the TTL: the cached answer.
    assert_eq!(p.decide(&name("ttl.test.example"), 443).await, first);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    // After the TTL: re-resolved, and the new private address is refused.
    assert!(matches!(
        p.decide(&name("ttl.test.example"), 443).await,
        Decision::Deny(DenyReason::SpecialRange { .. })
    ));
    // The long-TTL answer is still served from the cache: the old public address.
    assert_eq!(
        p.decide(&name("long.test.example"), 443).await,
        Decision::Allow {
            entry: "*.test.example:443".into(),
            addrs: vec!["52.94.133.131:443".parse().unwrap()]
        }
    );
}

#[tokio::test]
async fn denials_that_need_no_dns_and_resolution_failures() {
    let dns = TestDns::start().await;
    let p = policy(&dns, vec![entry("kms.eu-west-1.amazonaws.com", 443)]);
    assert_eq!(
        p.decide(&name("kms.eu-west-1.amazonaws.com"), 8443).await,
        Decision::Deny(DenyReason::PortNotAllowed { allowed: vec![443] })
    );
    assert_eq!(
        p.decide(&name("evil.example"), 443).await,
        Decision::Deny(DenyReason::NoMatchingEntry)
    );
    assert_eq!(
        dns.queries(),
        0,
        "no DNS traffic for names the allowlist refuses"
    );
    match p.decide(&name("kms.eu-west-1.amazonaws.com"), 443).await {
        Decision::Deny(DenyReason::ResolveFailed(_)) => {}
        other => panic!("{other:?}"),
    }
    let empty = policy(&dns, vec![]);
    assert_eq!(
        empty
            .decide(&Host::Ip("52.94.133.131".parse().unwrap()), 443)
            .await,
        Decision::Deny(DenyReason::NoMatchingEntry)
    );
}
