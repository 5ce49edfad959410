//! The `Authorization: OAuth …` header as MAAS clients write it, split into
//! its decoded parameters. Verification (tokens, signatures, nonces) is the
//! region's `http::oauth`; this is only the text, kept here so the fuzzer
//! (`fuzz/`) reaches it without building the region.
//!
//! One pass over the value: pieces are split on `,` and on their first `=`,
//! so the cost is linear in the header's length.

use percent_encoding::percent_decode_str;

/// The decoded `oauth_*` parameters of one header value, in arrival order,
/// `realm` and empty names left out. `None` when the scheme is not OAuth.
/// Whitespace and double quotes around names and values are stripped; a
/// `+` in a value means a space (gomaasapi query-escapes values).
pub fn parse(value: &str) -> Option<Vec<(String, String)>> {
    let v = value.trim_start();
    let scheme = v.get(..5)?;
    if !scheme.eq_ignore_ascii_case("oauth") {
        return None;
    }
    let rest = &v[5..];
    let mut params = Vec::new();
    for piece in rest.split(',') {
        let Some((k, val)) = piece.split_once('=') else { continue };
        let k = k.trim().trim_matches('"');
        if k.eq_ignore_ascii_case("realm") || k.is_empty() {
            continue;
        }
        let val = val.trim().trim_matches('"');
        let decoded = percent_decode_str(&val.replace('+', "%20")).decode_utf8_lossy().into_owned();
        params.push((k.to_string(), decoded));
    }
    Some(params)
}

#[cfg(test)]
mod tests {
    #[test]
    fn gomaasapi_style_header() {
        let h = r#"OAuth realm="MAAS+API", oauth_signature="%26sec+ret", oauth_consumer_key="ck", oauth_nonce="n""#;
        let p = super::parse(h).unwrap();
        assert_eq!(p[0], ("oauth_signature".to_string(), "&sec ret".to_string()));
        assert_eq!(p.len(), 3);
        assert!(super::parse("Bearer x").is_none());
        // A multi-byte character where the scheme would end is not a panic.
        assert!(super::parse("OAut\u{e9}x").is_none());
    }
}
