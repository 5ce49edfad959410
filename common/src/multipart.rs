//! A multipart/form-data parser for what MAAS clients send: quoted
//! boundaries, base64 parts with per-part MIME headers (python-libmaas, the
//! MAAS CLI), a headerless empty part, and bare `\n` line breaks.
//!
//! It is incremental ([`Parser`]): the body is pushed in pieces as it
//! arrives and the parser hands out each part's headers and then its bytes,
//! holding back only what might be the start of the next boundary. So an
//! upload can be written to disk while it is received, never held whole in
//! memory; [`split`] runs the same parser over a body already in memory.
//!
//! It lives here rather than in the region so that the fuzzer (`fuzz/`)
//! exercises it without building the region. It is linear in the body (no
//! byte is searched more than a bounded number of times, however the body
//! is cut into pieces) and capped in parts and header bytes, because the
//! region runs it on bodies from any authenticated caller.

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

/// A part's headers, interpreted: what [`Event::Begin`] hands out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartHead {
    /// `Content-Disposition`'s `name`; `None` for a headerless part.
    pub name: Option<String>,
    pub filename: Option<String>,
    /// `Content-Transfer-Encoding: base64` (the data is still encoded).
    pub base64: bool,
}

/// What the parser found next in the body.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A part starts; its data follows.
    Begin(PartHead),
    /// Some of the current part's data (in order; a part's data may come in
    /// any number of pieces, or none).
    Data(&'a [u8]),
    /// The current part ended.
    End,
}

/// Parts one multipart body may have. A bulk call that names every machine
/// of a large region as a repeated field stays far below it.
pub const MAX_PARTS: usize = 20_000;
/// Bytes of MIME headers one part may have.
pub const MAX_PART_HEADER_BYTES: usize = 8 * 1024;
/// RFC 2046 allows 70 characters; some clients are generous.
const MAX_BOUNDARY_LEN: usize = 200;

fn bad(why: &str) -> MultipartError {
    MultipartError(format!("Malformed multipart body: {why}."))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first delimiter (which may follow a preamble).
    Preamble,
    /// Just after a delimiter: the closing `--`, or padding and a line break.
    AfterDelimiter,
    /// Transport padding after a delimiter, then its line break.
    Padding,
    /// A part's headers (up to the first empty line).
    Head,
    /// A part's data.
    Body,
    /// After the closing delimiter: the epilogue is ignored.
    Done,
}

/// The incremental parser: [`Parser::push`] pieces of the body, take
/// [`Parser::next_event`] events until it answers `None`, and after the last
/// piece call [`Parser::finish`] and drain it again.
pub struct Parser {
    /// `--boundary`
    delim: Vec<u8>,
    /// `\n--boundary`: every delimiter after the first starts a line.
    finder: memchr::memmem::Finder<'static>,
    /// Unconsumed input is `buf[pos..]`.
    buf: Vec<u8>,
    pos: usize,
    /// Where the next delimiter search starts (absolute in `buf`), so that
    /// bytes already searched are not searched again.
    scan: usize,
    state: State,
    parts: usize,
    eof: bool,
}

impl Parser {
    pub fn new(boundary: &str) -> Result<Parser, MultipartError> {
        if boundary.is_empty() || boundary.len() > MAX_BOUNDARY_LEN {
            return Err(bad("the boundary is empty or too long"));
        }
        let delim = format!("--{boundary}").into_bytes();
        let finder = memchr::memmem::Finder::new(format!("\n--{boundary}").as_bytes()).into_owned();
        Ok(Parser { delim, finder, buf: Vec::new(), pos: 0, scan: 0, state: State::Preamble, parts: 0, eof: false })
    }

    /// Adds the next piece of the body.
    pub fn push(&mut self, piece: &[u8]) {
        if self.state == State::Done {
            return; // the epilogue is not kept
        }
        if self.pos > 0 {
            // What is left is at most a held-back tail and a header block.
            self.buf.drain(..self.pos);
            self.scan = self.scan.saturating_sub(self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(piece);
    }

    /// The body has no more pieces.
    pub fn finish(&mut self) {
        self.eof = true;
    }

    /// Whether the closing delimiter was seen.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Parts begun so far.
    pub fn parts(&self) -> usize {
        self.parts
    }

    /// `\n--boundary`'s length: bytes that may start the next delimiter,
    /// with the `\r` before it.
    fn held_back(&self) -> usize {
        self.delim.len() + 1
    }

    /// The next line-starting delimiter at or after `pos` (absolute index
    /// of its `\n`).
    fn find_delimiter(&mut self) -> Option<usize> {
        let from = self.scan.max(self.pos);
        match self.finder.find(&self.buf[from..]) {
            Some(i) => {
                self.scan = from + i;
                Some(from + i)
            }
            None => {
                // A delimiter that starts in the last bytes may complete later.
                self.scan = self.buf.len().saturating_sub(self.delim.len()).max(from);
                None
            }
        }
    }

    /// The next event, `Ok(None)` when more input is needed (or, after
    /// [`Parser::finish`], when the body was complete).
    pub fn next_event(&mut self) -> Result<Option<Event<'_>>, MultipartError> {
        loop {
            let rest = &self.buf[self.pos..];
            match self.state {
                State::Done => return Ok(None),
                State::Preamble => match memchr::memmem::find(rest, &self.delim) {
                    Some(i) => {
                        self.pos += i + self.delim.len();
                        self.state = State::AfterDelimiter;
                    }
                    None if self.eof => return Err(bad("the boundary never appears")),
                    None => {
                        self.pos = self.buf.len().saturating_sub(self.delim.len() - 1).max(self.pos);
                        return Ok(None);
                    }
                },
                State::AfterDelimiter => {
                    if rest.len() < 2 && !self.eof {
                        return Ok(None);
                    }
                    if rest.starts_with(b"--") {
                        self.state = State::Done;
                        self.buf = Vec::new();
                        self.pos = 0;
                        self.scan = 0;
                        return Ok(None);
                    }
                    self.state = State::Padding;
                }
                State::Padding => {
                    let pad = rest.iter().take_while(|b| **b == b' ' || **b == b'\t').count();
                    self.pos += pad;
                    let rest = &self.buf[self.pos..];
                    if rest.len() < 2 && !self.eof && !rest.starts_with(b"\n") {
                        return Ok(None);
                    }
                    if rest.starts_with(b"\r\n") {
                        self.pos += 2;
                    } else if rest.starts_with(b"\n") {
                        self.pos += 1;
                    } else {
                        return Err(bad("a boundary is not followed by a line break"));
                    }
                    if self.parts == MAX_PARTS {
                        return Err(MultipartError(format!(
                            "Too many parts in the multipart body: at most {MAX_PARTS}."
                        )));
                    }
                    self.parts += 1;
                    self.scan = self.pos;
                    self.state = State::Head;
                }
                State::Head => {
                    // The part's raw bytes as far as they are known: all of
                    // them when its delimiter is here, else those before
                    // what might start the delimiter.
                    let (raw_end, complete) = match self.find_delimiter() {
                        Some(f) => (self.part_end(f), true),
                        None => (self.buf.len().saturating_sub(self.held_back()).max(self.pos), false),
                    };
                    let raw = &self.buf[self.pos..raw_end];
                    let Some((head_len, body_at)) = split_head(raw, complete)? else {
                        if self.eof {
                            return Err(bad("a part is not terminated by the boundary"));
                        }
                        return Ok(None);
                    };
                    let head = parse_head(&raw[..head_len])?;
                    self.pos += body_at;
                    self.state = State::Body;
                    return Ok(Some(Event::Begin(head)));
                }
                State::Body => {
                    let (end, found) = match self.find_delimiter() {
                        Some(f) => (self.part_end(f), Some(f)),
                        None => {
                            let safe = self.buf.len().saturating_sub(self.held_back());
                            if safe > self.pos {
                                (safe, None)
                            } else if self.eof {
                                return Err(bad("a part is not terminated by the boundary"));
                            } else {
                                return Ok(None);
                            }
                        }
                    };
                    if end > self.pos {
                        let start = self.pos;
                        self.pos = end;
                        return Ok(Some(Event::Data(&self.buf[start..end])));
                    }
                    if let Some(f) = found {
                        self.pos = f + 1 + self.delim.len();
                        self.state = State::AfterDelimiter;
                        return Ok(Some(Event::End));
                    }
                }
            }
        }
    }

    /// Where a part's data ends, given the `\n` of its closing delimiter:
    /// a `\r` before it belongs to the line break. (A `\r` already handed
    /// out cannot be that one: the bytes before a possible delimiter are
    /// held back.)
    fn part_end(&self, found: usize) -> usize {
        if found > self.pos && self.buf[found - 1] == b'\r' {
            found - 1
        } else {
            found
        }
    }
}

/// Splits a whole multipart body into parts with the incremental parser.
pub fn split(boundary: &str, body: &[u8]) -> Result<Vec<Part>, MultipartError> {
    let mut p = Parser::new(boundary)?;
    p.push(body);
    p.finish();
    let mut parts: Vec<Part> = Vec::new();
    while let Some(ev) = p.next_event()? {
        match ev {
            Event::Begin(h) => {
                parts.push(Part { name: h.name, filename: h.filename, base64: h.base64, body: Vec::new() })
            }
            Event::Data(d) => {
                if let Some(last) = parts.last_mut() {
                    last.body.extend_from_slice(d);
                }
            }
            Event::End => {}
        }
    }
    Ok(parts)
}

/// A part's header block and where its data starts, from the part's first
/// bytes (`complete`: all of them; else `None` while they do not decide
/// it). The headers end at the first empty line; a part that starts with
/// one, or is empty, has no headers. Returns (header length without its
/// line break, offset of the data).
fn split_head(raw: &[u8], complete: bool) -> Result<Option<(usize, usize)>, MultipartError> {
    if raw.starts_with(b"\r\n") {
        return Ok(Some((0, 2)));
    }
    if raw.starts_with(b"\n") {
        return Ok(Some((0, 1)));
    }
    if !complete && raw.len() < 2 {
        return Ok(None);
    }
    if raw.is_empty() {
        return Ok(Some((0, 0)));
    }
    let window = &raw[..raw.len().min(MAX_PART_HEADER_BYTES)];
    for i in memchr::memchr_iter(b'\n', window) {
        if !complete && i + 3 > raw.len() {
            return Ok(None); // the bytes after this line are not all here
        }
        let rest = &raw[i + 1..];
        let blank = if rest.starts_with(b"\r\n") {
            2
        } else if rest.starts_with(b"\n") {
            1
        } else {
            continue;
        };
        let head = if i > 0 && raw[i - 1] == b'\r' { i - 1 } else { i };
        return Ok(Some((head, i + 1 + blank)));
    }
    if raw.len() > MAX_PART_HEADER_BYTES {
        Err(bad(&format!("a part's headers are longer than {MAX_PART_HEADER_BYTES} bytes")))
    } else if complete {
        Err(bad("a part has headers but no blank line before its body"))
    } else {
        Ok(None)
    }
}

fn parse_head(head: &[u8]) -> Result<PartHead, MultipartError> {
    let head = std::str::from_utf8(head).map_err(|_| bad("part headers are not UTF-8"))?;
    let mut part = PartHead::default();
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The parts, or the error, of `body` pushed in pieces of `piece` bytes.
    fn in_pieces(boundary: &str, body: &[u8], piece: usize) -> Result<Vec<Part>, MultipartError> {
        let mut p = Parser::new(boundary)?;
        let mut parts: Vec<Part> = Vec::new();
        let mut take = |p: &mut Parser| -> Result<(), MultipartError> {
            while let Some(ev) = p.next_event()? {
                match ev {
                    Event::Begin(h) => {
                        parts.push(Part { name: h.name, filename: h.filename, base64: h.base64, body: Vec::new() })
                    }
                    Event::Data(d) => parts.last_mut().unwrap().body.extend_from_slice(d),
                    Event::End => {}
                }
            }
            Ok(())
        };
        for chunk in body.chunks(piece.max(1)) {
            p.push(chunk);
            take(&mut p)?;
        }
        p.finish();
        take(&mut p)?;
        Ok(parts)
    }

    /// However a body is cut into pieces, the parser finds the same parts
    /// (or the same error) as with the body whole.
    #[test]
    fn pieces_do_not_change_the_result() {
        let long_head = format!("--b\r\nX: {}\r\n\r\nv\r\n--b--", "y".repeat(MAX_PART_HEADER_BYTES));
        let near =
            format!("--bb\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n{}\r\n--bb--", "x\r\n--b\r".repeat(50));
        let bodies: Vec<(&str, Vec<u8>)> = vec![
            ("===============42==", b"--===============42==\r\nContent-Disposition: form-data; name=\"key\"\r\nContent-Transfer-Encoding: base64\r\n\r\naGVs\r\nbG8=\r\n--===============42==\r\nContent-Disposition: form-data; name=\"file\"; filename=\"file\"\r\n\r\nAAEC\r\n--===============42==--\r\n".to_vec()),
            ("XX", b"--XX\r\n\r\n--XX--\r\n".to_vec()),
            ("b", b"preamble\r\n--b  \nContent-Disposition: form-data; name=\"a\"\n\none\n--b\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\ntwo\r\nlines\r\n--b--\r\nepilogue".to_vec()),
            ("bb", b"--bb\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--b\r\n--bb--".to_vec()),
            ("b", b"--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n\r\r\n\r\n--b--".to_vec()),
            ("bb", near.into_bytes()),
            ("b", long_head.into_bytes()),
            ("b", b"garbage".to_vec()),
            ("b", b"--b\r\nX: y\r\nv\r\n--b--".to_vec()),
            ("b", b"--b\r\n\r\nunterminated".to_vec()),
            ("b", b"--b".to_vec()),
            ("b", b"--b-".to_vec()),
            ("b", b"--bx\r\n".to_vec()),
            ("b", "--b\n\n\n".repeat(MAX_PARTS + 1).into_bytes()),
        ];
        for (boundary, body) in &bodies {
            let whole = split(boundary, body);
            for piece in [1, 2, 3, 7, 64, 1000, 9000] {
                assert_eq!(in_pieces(boundary, body, piece), whole, "boundary {boundary:?}, pieces of {piece}");
            }
        }
        assert_eq!(split("b", b"--b\r\nX: y\r\n\r\nv\r\n--b--").unwrap()[0].body, b"v");
    }

    /// A large part comes out in pieces as it arrives: the parser holds
    /// back only a boundary's length, not the part.
    #[test]
    fn a_large_part_is_not_held() {
        let mut p = Parser::new("b").unwrap();
        p.push(b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"f\"\r\n\r\nzzzz");
        assert!(matches!(p.next_event().unwrap(), Some(Event::Begin(h)) if h.filename.as_deref() == Some("f")));
        let mut out = 0;
        for _ in 0..100 {
            p.push(&[b'z'; 10_000]);
            while let Some(ev) = p.next_event().unwrap() {
                match ev {
                    Event::Data(d) => out += d.len(),
                    other => panic!("{other:?}"),
                }
            }
            assert!(p.buf.len() - p.pos <= 4, "held {}", p.buf.len() - p.pos);
        }
        assert_eq!(out, 1_000_000);
        p.push(b"\r\n--b--");
        p.finish();
        assert_eq!(p.next_event().unwrap(), Some(Event::Data(&[b'z'; 4][..])));
        assert_eq!(p.next_event().unwrap(), Some(Event::End));
        assert_eq!(p.next_event().unwrap(), None);
        assert!(p.is_done());
    }
}
