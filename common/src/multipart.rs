//! A multipart/form-data splitter for what MAAS clients send: quoted
//! boundaries, base64 parts with per-part MIME headers (python-libmaas, the
//! MAAS CLI), a headerless empty part, and bare `\n` line breaks.
//!
//! It lives here rather than in the region so that the fuzzer (`fuzz/`)
//! exercises it without building the region. It is linear in the body and
//! capped in parts and header bytes, because the region runs it on bodies
//! from any authenticated caller.

use std::fmt;

/// Why a body is not acceptable multipart; the text is the client's 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartError(pub String);

impl fmt::Display for MultipartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MultipartError {}

/// One part of a multipart body, its headers interpreted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// `Content-Disposition`'s `name`; `None` for a headerless part.
    pub name: Option<String>,
    pub filename: Option<String>,
    /// `Content-Transfer-Encoding: base64` (the body is still encoded).
    pub base64: bool,
    pub body: Vec<u8>,
}

/// Parts one multipart body may have. A bulk call that names every machine
/// of a large region as a repeated field stays far below it.
pub const MAX_PARTS: usize = 20_000;
/// Bytes of MIME headers one part may have.
pub const MAX_PART_HEADER_BYTES: usize = 8 * 1024;
/// RFC 2046 allows 70 characters; some clients are generous.
const MAX_BOUNDARY_LEN: usize = 200;

/// Splits a multipart body into parts, in one pass over it (linear time:
/// each search starts where the previous one ended). Written by hand
/// because generic parsers reject or mangle what MAAS clients send: quoted
/// boundaries, base64 parts with per-part MIME headers, a headerless empty
/// part, and bare `\n` line breaks.
pub fn split(boundary: &str, body: &[u8]) -> Result<Vec<Part>, MultipartError> {
    let bad = |why: &str| MultipartError(format!("Malformed multipart body: {why}."));
    if boundary.is_empty() || boundary.len() > MAX_BOUNDARY_LEN {
        return Err(bad("the boundary is empty or too long"));
    }
    let delim = format!("--{boundary}");
    let delim = delim.as_bytes();
    // The first delimiter may follow a preamble; every later one starts a
    // line (`\r\n--boundary` or `\n--boundary`).
    let next_delim = format!("\n--{boundary}");
    let next_delim = memchr::memmem::Finder::new(next_delim.as_bytes());
    let mut pos = memchr::memmem::find(body, delim).ok_or_else(|| bad("the boundary never appears"))? + delim.len();
    let mut parts = Vec::new();
    loop {
        if body[pos..].starts_with(b"--") {
            return Ok(parts); // closing delimiter
        }
        // Skip transport padding and the line break after the delimiter.
        while pos < body.len() && (body[pos] == b' ' || body[pos] == b'\t') {
            pos += 1;
        }
        if body[pos..].starts_with(b"\r\n") {
            pos += 2;
        } else if body[pos..].starts_with(b"\n") {
            pos += 1;
        } else {
            return Err(bad("a boundary is not followed by a line break"));
        }
        let found = next_delim
            .find(&body[pos..])
            .map(|i| i + pos)
            .ok_or_else(|| bad("a part is not terminated by the boundary"))?;
        let end = if found > pos && body[found - 1] == b'\r' { found - 1 } else { found };
        if parts.len() == MAX_PARTS {
            return Err(MultipartError(format!("Too many parts in the multipart body: at most {MAX_PARTS}.")));
        }
        parts.push(parse_part(&body[pos..end]).map_err(|w| bad(&w))?);
        pos = found + 1 + delim.len();
    }
}

/// A part's header block and body: the headers end at the first empty line
/// (a part that starts with one, or is empty, has no headers).
fn split_head(raw: &[u8]) -> std::result::Result<(&[u8], &[u8]), String> {
    if raw.is_empty() {
        return Ok((raw, raw));
    }
    if let Some(rest) = raw.strip_prefix(b"\r\n").or_else(|| raw.strip_prefix(b"\n")) {
        return Ok((&raw[..0], rest));
    }
    let window = &raw[..raw.len().min(MAX_PART_HEADER_BYTES)];
    for i in memchr::memchr_iter(b'\n', window) {
        let rest = &raw[i + 1..];
        if let Some(body) = rest.strip_prefix(b"\r\n").or_else(|| rest.strip_prefix(b"\n")) {
            let head = &raw[..i];
            return Ok((head.strip_suffix(b"\r").unwrap_or(head), body));
        }
    }
    if raw.len() > MAX_PART_HEADER_BYTES {
        Err(format!("a part's headers are longer than {MAX_PART_HEADER_BYTES} bytes"))
    } else {
        Err("a part has headers but no blank line before its body".into())
    }
}

fn parse_part(raw: &[u8]) -> std::result::Result<Part, String> {
    let (head, body) = split_head(raw)?;
    let head = std::str::from_utf8(head).map_err(|_| "part headers are not UTF-8".to_string())?;
    let mut part = Part { name: None, filename: None, base64: false, body: body.to_vec() };
    for line in head.lines() {
        let Some((k, v)) = line.split_once(':') else { continue };
        let k = k.trim();
        if k.eq_ignore_ascii_case("content-disposition") {
            part.name = disposition_param(v, "name");
            part.filename = disposition_param(v, "filename");
        } else if k.eq_ignore_ascii_case("content-transfer-encoding") {
            part.base64 = v.trim().eq_ignore_ascii_case("base64");
        }
    }
    Ok(part)
}

fn disposition_param(v: &str, name: &str) -> Option<String> {
    v.split(';').skip(1).find_map(|p| {
        let (k, val) = p.split_once('=')?;
        if k.trim().eq_ignore_ascii_case(name) {
            Some(val.trim().trim_matches('"').to_string())
        } else {
            None
        }
    })
}
