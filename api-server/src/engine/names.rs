//! Identifiers MAAS clients expect: `system_id`s from MAAS's alphabet,
//! petname-style hostnames, normalised MAC addresses, architectures.

use rand::seq::SliceRandom;
use rand::Rng;

use crate::error::{Error, Result};

/// MAAS draws system ids from this alphabet (no vowels but `a`/`e`, no look-alikes).
const SYSTEM_ID_ALPHABET: &[u8] = b"34678abcdefghkmnpqrstwxy";

pub fn new_system_id() -> String {
    let mut rng = rand::rngs::OsRng;
    (0..6).map(|_| SYSTEM_ID_ALPHABET[rng.gen_range(0..SYSTEM_ID_ALPHABET.len())] as char).collect()
}

const ADJECTIVES: &[&str] = &[
    "able", "agile", "amber", "apt", "awake", "bold", "brave", "brisk", "calm", "clear", "clever", "cosmic", "crisp",
    "daring", "deft", "eager", "easy", "epic", "fair", "fast", "fine", "firm", "fleet", "fresh", "frank", "glad",
    "golden", "grand", "happy", "hardy", "honest", "ideal", "jolly", "keen", "kind", "lively", "loyal", "lucid",
    "lucky", "mellow", "merry", "mighty", "modest", "neat", "noble", "open", "polite", "proud", "quick", "quiet",
    "rapid", "ready", "robust", "sharp", "shiny", "smart", "solid", "steady", "sunny", "swift", "tidy", "vivid",
    "warm", "wise",
];

const ANIMALS: &[&str] = &[
    "badger", "beaver", "bison", "bobcat", "condor", "cougar", "coyote", "crane", "dingo", "dolphin", "eagle", "egret",
    "falcon", "ferret", "finch", "gecko", "gibbon", "gopher", "heron", "hornet", "ibex", "iguana", "impala", "jackal",
    "jaguar", "koala", "lemur", "lion", "llama", "lynx", "marten", "mink", "moose", "newt", "ocelot", "orca", "osprey",
    "otter", "panda", "parrot", "pelican", "puffin", "python", "quail", "rabbit", "raven", "salmon", "seal", "shark",
    "sloth", "stork", "swan", "tapir", "tiger", "toucan", "trout", "turtle", "viper", "walrus", "weasel", "whale",
    "wolf", "wombat", "yak",
];

/// A hostname like `brave-otter` (4,096 combinations; callers retry on clashes).
pub fn petname() -> String {
    let mut rng = rand::rngs::OsRng;
    let adjective = ADJECTIVES.choose(&mut rng).copied().unwrap_or("brave");
    let animal = ANIMALS.choose(&mut rng).copied().unwrap_or("otter");
    format!("{adjective}-{animal}")
}

/// Validates a host name (one DNS label for nodes: MAAS appends the domain).
pub fn validate_hostname(h: &str) -> Result<()> {
    let ok = !h.is_empty()
        && h.len() <= 63
        && h.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !h.starts_with('-')
        && !h.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::field(
            "hostname",
            format!(
                "Invalid hostname '{h}': use 1-63 letters, digits and hyphens, not starting or ending with a hyphen."
            ),
        ))
    }
}

/// Normalises a MAC to lower-case colon form; accepts `-` and `.`-grouped forms.
pub fn normalise_mac(mac: &str) -> Option<String> {
    let hex: String = mac.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    let seps_ok = mac.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '-' || c == '.');
    if hex.len() != 12 || !seps_ok {
        return None;
    }
    let lower = hex.to_ascii_lowercase();
    let pairs: Vec<String> = lower.as_bytes().chunks(2).map(|p| p.iter().map(|b| char::from(*b)).collect()).collect();
    Some(pairs.join(":"))
}

/// Primary architectures Ironpool knows; `arm` is MAAS's alias for `armhf`.
pub const ARCHES: &[&str] = &["amd64", "arm64", "armhf", "i386", "ppc64el", "s390x", "riscv64"];

/// Resolves `amd64`, `amd64/generic`, `amd64/hwe-22.04` to `arch/subarch`.
pub fn normalise_arch(a: &str) -> Option<String> {
    let a = a.trim();
    let (primary, sub) = a.split_once('/').unwrap_or((a, "generic"));
    let primary = if primary == "arm" { "armhf" } else { primary };
    if !ARCHES.contains(&primary)
        || sub.is_empty()
        || !sub.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return None;
    }
    Some(format!("{primary}/{sub}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_ids_and_names() {
        let id = new_system_id();
        assert_eq!(id.len(), 6);
        assert!(id.bytes().all(|b| SYSTEM_ID_ALPHABET.contains(&b)));
        assert!(validate_hostname(&petname()).is_ok());
        assert!(validate_hostname("bad_name").is_err());
        assert!(validate_hostname("-x").is_err());
    }

    #[test]
    fn macs() {
        assert_eq!(normalise_mac("52:54:00:A1:B2:C3").as_deref(), Some("52:54:00:a1:b2:c3"));
        assert_eq!(normalise_mac("52-54-00-a1-b2-c3").as_deref(), Some("52:54:00:a1:b2:c3"));
        assert_eq!(normalise_mac("5254.00a1.b2c3").as_deref(), Some("52:54:00:a1:b2:c3"));
        assert_eq!(normalise_mac("52:54:00:a1:b2"), None);
        assert_eq!(normalise_mac("zz:54:00:a1:b2:c3"), None);
    }

    #[test]
    fn arches() {
        assert_eq!(normalise_arch("amd64").as_deref(), Some("amd64/generic"));
        assert_eq!(normalise_arch("arm/generic").as_deref(), Some("armhf/generic"));
        assert_eq!(normalise_arch("amd64/hwe-22.04").as_deref(), Some("amd64/hwe-22.04"));
        assert_eq!(normalise_arch("sparc"), None);
    }
}
