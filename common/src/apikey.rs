//! The MAAS API key: `<consumer_key>:<token_key>:<token_secret>`.
//!
//! Every MAAS client stores credentials in this form (Juju's `maas-oauth`, the
//! CLI's profile, python-libmaas' `apikey=`), so both the region (which prints
//! it) and tools (which parse it) share one definition.

use std::fmt;
use std::str::FromStr;

/// A parsed API key. The consumer secret is always empty in MAAS, so it has no field.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub consumer_key: String,
    pub token_key: String,
    pub token_secret: String,
}

/// Why a string is not an API key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("an API key has the form consumer_key:token_key:token_secret (exactly two colons, no empty parts)")]
pub struct ApiKeyParseError;

impl FromStr for ApiKey {
    type Err = ApiKeyParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.trim().split(':').collect();
        match parts.as_slice() {
            [c, t, s] if !c.is_empty() && !t.is_empty() && !s.is_empty() => {
                Ok(ApiKey { consumer_key: c.to_string(), token_key: t.to_string(), token_secret: s.to_string() })
            }
            _ => Err(ApiKeyParseError),
        }
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.consumer_key, self.token_key, self.token_secret)
    }
}

// The secret must never reach logs through `{:?}`.
impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("consumer_key", &self.consumer_key)
            .field("token_key", &self.token_key)
            .field("token_secret", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let k: ApiKey = "a:b:c".parse().unwrap();
        assert_eq!(k.to_string(), "a:b:c");
        assert!(!format!("{k:?}").contains(":c"));
        assert!(!format!("{k:?}").contains("\"c\""));
    }

    #[test]
    fn rejects_wrong_shapes() {
        for bad in ["", "a:b", "a:b:c:d", "a::c", ":b:c"] {
            assert_eq!(bad.parse::<ApiKey>(), Err(ApiKeyParseError), "{bad}");
        }
    }
}
