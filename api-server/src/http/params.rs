//! Request parameters: the query string and the body, decoded into one multimap.
//!
//! MAAS clients send parameters every way there is (see `maas-api.md` §2): query
//! strings, `x-www-form-urlencoded`, multipart with base64-encoded parts and
//! quoted boundaries (python-libmaas, the MAAS CLI), plain multipart (Ansible),
//! JSON objects (early OpenAPI SDKs), or no body at all. Handlers see only
//! [`Params`] and never care which one arrived.

use ironpool_common::multipart::{Event, Parser, PartHead};

use crate::error::{Error, Result};
use crate::spool::{Spool, SpoolWriter, SpooledFile};

/// A file part of a multipart body.
#[derive(Debug, Clone)]
pub struct FilePart {
    pub name: String,
    pub filename: String,
    pub data: FileData,
}

/// Where a file part's content is: in memory (small bodies), or in a spool
/// file for actions that stream their uploads (`Action::streams_files`).
/// A spool file is shared by clones of the parameters (handlers clone them
/// into blocking closures) and removed when the last one goes.
#[derive(Debug, Clone)]
pub enum FileData {
    Memory(Vec<u8>),
    Spooled(std::sync::Arc<SpooledFile>),
}

impl FilePart {
    /// The content of a part held in memory: every action that does not
    /// stream its uploads gets its parts in memory (the dispatcher reads
    /// back any it spooled before it knew the action).
    pub fn in_memory(&self) -> Result<&[u8]> {
        match &self.data {
            FileData::Memory(v) => Ok(v),
            FileData::Spooled(_) => Err(Error::Internal(format!("file part '{}' was spooled", self.name))),
        }
    }

    /// The spool file of an action that streams its uploads (the
    /// dispatcher spools every file part of those).
    pub fn into_spooled(self) -> Result<SpooledFile> {
        match self.data {
            FileData::Spooled(f) => std::sync::Arc::try_unwrap(f)
                .map_err(|_| Error::Internal(format!("file part '{}' is still shared", self.name))),
            FileData::Memory(_) => Err(Error::Internal(format!("file part '{}' was not spooled", self.name))),
        }
    }
}

/// Decoded parameters in arrival order; repeated names form lists.
#[derive(Debug, Clone, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
    files: Vec<FilePart>,
}

pub use crate::engine::parse_bool;

/// Named request values as handlers read them while building typed inputs
/// (`FooInput::from_form` in `api/`): a form, whatever carried it (query
/// string, urlencoded or multipart body, JSON). The engine never sees one.
/// Absent means "leave unchanged" on updates; blank optional values count
/// as absent.
pub trait Form {
    /// The first value of `name`, if any (may be blank).
    fn value(&self, name: &str) -> Option<&str>;
    /// Every value of `name` (repeated keys, `name[]` lists).
    fn values(&self, name: &str) -> Vec<&str>;

    /// The first non-blank value, trimmed.
    fn text(&self, name: &str) -> Option<&str> {
        self.value(name).map(str::trim).filter(|v| !v.is_empty())
    }

    fn required_text(&self, name: &str) -> Result<&str> {
        self.text(name).ok_or_else(|| Error::required(name))
    }

    fn flag(&self, name: &str) -> Result<Option<bool>> {
        match self.value(name) {
            None => Ok(None),
            Some(v) => parse_bool(v)
                .map(Some)
                .ok_or_else(|| Error::field(name, format!("'{v}' is not a valid boolean; use true or false."))),
        }
    }

    fn int(&self, name: &str) -> Result<Option<i64>> {
        match self.text(name) {
            None => Ok(None),
            Some(v) => v.parse::<i64>().map(Some).map_err(|_| Error::field(name, "Enter a whole number.")),
        }
    }

    /// Values of a list field, accepting both `name` and `name[]`, repeated
    /// (gomaasclient sends `k=a&k=b`), and comma- or space-separated values
    /// within each (the maas CLI and MAAS's own forms).
    fn list(&self, name: &str) -> Vec<String> {
        let bracket = format!("{name}[]");
        let mut v: Vec<&str> = self.values(name);
        v.extend(self.values(&bracket));
        v.iter()
            .flat_map(|s| s.split(|c: char| c == ',' || c.is_whitespace()))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Every value of a text field that holds a separated list (addresses),
    /// joined with a space; `None` when the field is absent. MAAS reads
    /// these with `getlist` and splits each value, so `dns_servers=a&dns_servers=b`
    /// and `dns_servers=a b` mean the same; a lone blank value clears.
    fn joined(&self, name: &str) -> Option<String> {
        let v = self.values(name);
        (!v.is_empty()).then(|| v.join(" "))
    }
}

impl Form for Params {
    fn value(&self, name: &str) -> Option<&str> {
        self.get(name)
    }

    fn values(&self, name: &str) -> Vec<&str> {
        self.get_all(name)
    }
}

impl Params {
    pub fn push(&mut self, k: impl Into<String>, v: impl Into<String>) {
        self.pairs.push((k.into(), v.into()));
    }

    /// The first value of `name`, if any.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The first non-blank value of `name`: clients omit or blank optional values.
    pub fn get_nonempty(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    pub fn get_all(&self, name: &str) -> Vec<&str> {
        self.pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }

    /// A required, non-blank parameter; absent → `{"<name>": ["This field is required."]}`.
    pub fn required(&self, name: &str) -> Result<&str> {
        self.get_nonempty(name).ok_or_else(|| Error::required(name))
    }

    /// An optional boolean in any of the spellings clients use.
    pub fn bool(&self, name: &str) -> Result<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => parse_bool(v)
                .map(Some)
                .ok_or_else(|| Error::field(name, format!("'{v}' is not a valid boolean; use true or false."))),
        }
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.pairs.iter().map(|(k, _)| k.as_str())
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    pub fn files(&self) -> &[FilePart] {
        &self.files
    }

    /// Takes the file parts named `name` out (large uploads are moved, not copied).
    pub fn take_files(&mut self, name: &str) -> Vec<FilePart> {
        let (taken, kept) = std::mem::take(&mut self.files).into_iter().partition(|f| f.name == name);
        self.files = kept;
        taken
    }

    /// Renames a parameter (API 1.0's names for 2.0 ones).
    pub fn rename(&mut self, from: &str, to: &str) {
        for (k, _) in self.pairs.iter_mut() {
            if k == from {
                *k = to.to_string();
            }
        }
    }

    /// Removes every pair whose name satisfies `pred` (OAuth parameters, `op`).
    pub fn remove_where(&mut self, pred: impl Fn(&str) -> bool) {
        self.pairs.retain(|(k, _)| !pred(k));
    }

    /// Adds the pairs of a query string or `x-www-form-urlencoded` body.
    pub fn extend_urlencoded(&mut self, data: &[u8]) {
        for (k, v) in url::form_urlencoded::parse(data) {
            self.pairs.push((k.into_owned(), v.into_owned()));
        }
    }

    /// Adds the fields of a body according to its `Content-Type`.
    pub fn extend_body(&mut self, content_type: Option<&str>, body: &[u8]) -> Result<()> {
        let Some(ct) = content_type else {
            // The MAAS CLI sends bodiless POSTs with no Content-Type; anything
            // else without a type is not something we can interpret.
            return Ok(());
        };
        let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match mime.as_str() {
            "application/x-www-form-urlencoded" => {
                if std::str::from_utf8(body).is_err() {
                    return Err(Error::BadRequest("The form body is not valid UTF-8.".into()));
                }
                self.extend_urlencoded(body);
                Ok(())
            }
            "multipart/form-data" => {
                let boundary = content_type_param(ct, "boundary").ok_or_else(|| {
                    Error::BadRequest("multipart/form-data body without a boundary parameter.".into())
                })?;
                self.extend_multipart(&boundary, body)
            }
            "application/json" => self.extend_json(body),
            // Raw uploads (boot-resource chunks) are read by their handlers.
            _ => Ok(()),
        }
    }

    fn extend_json(&mut self, body: &[u8]) -> Result<()> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| Error::BadRequest(format!("The JSON body is not valid JSON: {e}.")))?;
        let serde_json::Value::Object(map) = value else {
            return Err(Error::BadRequest("The JSON body must be an object of parameters.".into()));
        };
        for (k, v) in map {
            match v {
                serde_json::Value::Array(items) => {
                    for item in items {
                        self.pairs.push((k.clone(), json_scalar(&k, item)?));
                    }
                }
                other => {
                    let s = json_scalar(&k, other)?;
                    self.pairs.push((k, s));
                }
            }
        }
        Ok(())
    }

    fn extend_multipart(&mut self, boundary: &str, body: &[u8]) -> Result<()> {
        let mut parser = Parser::new(boundary).map_err(malformed)?;
        let mut parts = Collector::new(None, usize::MAX);
        parser.push(body);
        parser.finish();
        while let Some(ev) = parser.next_event().map_err(malformed)? {
            parts.event(ev)?;
        }
        parts.into_params(self);
        Ok(())
    }

    /// Reads back into memory the file parts spooled for a body whose
    /// action turned out (from an `op` inside the body) not to stream its
    /// uploads; its body limit, checked before, bounds them.
    pub async fn unspool(&mut self) -> Result<()> {
        for f in self.files.iter_mut() {
            if let FileData::Spooled(_) = &f.data {
                let FileData::Spooled(s) = std::mem::replace(&mut f.data, FileData::Memory(Vec::new())) else {
                    continue;
                };
                f.data = FileData::Memory(s.read().await?);
            }
        }
        Ok(())
    }
}

fn malformed(e: ironpool_common::multipart::MultipartError) -> Error {
    Error::BadRequest(e.to_string())
}

/// File parts one streamed body may spool: the uploads that stream take one.
pub const MAX_SPOOLED_FILES: usize = 16;

/// A multipart body parsed as it arrives (actions that stream their
/// uploads): text fields are kept (at most `fields_limit` bytes of them),
/// file parts are decoded into spool files as their bytes come, so memory
/// holds a network read and a header block at most, whatever the upload's
/// size. Dropping it (a failed request) removes what it spooled.
pub struct StreamedMultipart {
    parser: Parser,
    parts: Collector,
}

impl StreamedMultipart {
    pub fn new(content_type: &str, spool: Spool, fields_limit: usize) -> Result<StreamedMultipart> {
        let boundary = content_type_param(content_type, "boundary")
            .ok_or_else(|| Error::BadRequest("multipart/form-data body without a boundary parameter.".into()))?;
        Ok(StreamedMultipart {
            parser: Parser::new(&boundary).map_err(malformed)?,
            parts: Collector::new(Some(spool), fields_limit),
        })
    }

    /// Takes the next piece of the body.
    pub async fn push(&mut self, piece: &[u8]) -> Result<()> {
        self.parser.push(piece);
        self.drain().await
    }

    async fn drain(&mut self) -> Result<()> {
        while let Some(ev) = self.parser.next_event().map_err(malformed)? {
            self.parts.event(ev)?;
            self.parts.write_pending().await?;
        }
        Ok(())
    }

    /// The body ended: the fields and files go into `params`.
    pub async fn finish(mut self, params: &mut Params) -> Result<()> {
        self.parser.finish();
        self.drain().await?;
        self.parts.into_params(params);
        Ok(())
    }
}

/// Where the current part goes.
enum Sink {
    /// A part without a name (python-libmaas's degenerate empty body).
    Skip,
    Text(Vec<u8>),
    File(Vec<u8>),
    Spool(Box<SpoolWriter>),
}

struct Current {
    name: String,
    filename: Option<String>,
    base64: Option<Base64>,
    sink: Sink,
    ended: bool,
}

/// Turns parser events into fields and file parts.
struct Collector {
    spool: Option<Spool>,
    /// Bytes of text fields still allowed (a streamed body's fields stay
    /// small; its bulk is files).
    fields_left: usize,
    fields_limit: usize,
    current: Option<Current>,
    /// Decoded bytes for the current spool file, written by `write_pending`.
    pending: Vec<u8>,
    spooled: usize,
    pairs: Vec<(String, String)>,
    files: Vec<FilePart>,
}

impl Collector {
    fn new(spool: Option<Spool>, fields_limit: usize) -> Collector {
        Collector {
            spool,
            fields_left: fields_limit,
            fields_limit,
            current: None,
            pending: Vec::new(),
            spooled: 0,
            pairs: Vec::new(),
            files: Vec::new(),
        }
    }

    fn event(&mut self, ev: Event<'_>) -> Result<()> {
        match ev {
            Event::Begin(head) => self.begin(head),
            Event::Data(d) => self.data(d),
            Event::End => self.end(),
        }
    }

    fn begin(&mut self, head: PartHead) -> Result<()> {
        let PartHead { name, filename, base64 } = head;
        let (name, sink) = match (name, &filename, &self.spool) {
            (None, _, _) => (String::new(), Sink::Skip),
            (Some(n), None, _) => (n, Sink::Text(Vec::new())),
            (Some(n), Some(_), None) => (n, Sink::File(Vec::new())),
            (Some(n), Some(_), Some(spool)) => {
                if self.spooled == MAX_SPOOLED_FILES {
                    return Err(Error::BadRequest(format!(
                        "Too many file parts: an upload takes at most {MAX_SPOOLED_FILES}."
                    )));
                }
                self.spooled += 1;
                (n, Sink::Spool(Box::new(spool.create()?)))
            }
        };
        let base64 = base64.then(Base64::default);
        self.current = Some(Current { name, filename, base64, sink, ended: false });
        Ok(())
    }

    fn data(&mut self, raw: &[u8]) -> Result<()> {
        let Some(cur) = self.current.as_mut() else { return Ok(()) };
        let out = match &mut cur.sink {
            Sink::Skip => return Ok(()),
            Sink::Text(v) => {
                let len = v.len();
                decode_into(cur.base64.as_mut(), &cur.name, raw, v)?;
                let grew = v.len() - len;
                if grew > self.fields_left {
                    return Err(Error::BadRequest(format!(
                        "The fields of this upload are longer than {} bytes; send large values as file parts.",
                        self.fields_limit
                    )));
                }
                self.fields_left -= grew;
                return Ok(());
            }
            Sink::File(v) => v,
            Sink::Spool(_) => &mut self.pending,
        };
        decode_into(cur.base64.as_mut(), &cur.name, raw, out)
    }

    fn end(&mut self) -> Result<()> {
        let Some(cur) = self.current.as_mut() else { return Ok(()) };
        if let Some(b64) = cur.base64.take() {
            let out = match &mut cur.sink {
                Sink::Skip => None,
                Sink::Text(v) | Sink::File(v) => Some(v),
                Sink::Spool(_) => Some(&mut self.pending),
            };
            if let Some(out) = out {
                b64.finish(out).map_err(|()| invalid_base64(&cur.name))?;
            }
        }
        cur.ended = true;
        if matches!(cur.sink, Sink::Spool(_)) {
            return Ok(()); // write_pending finishes it
        }
        let Some(cur) = self.current.take() else { return Ok(()) };
        match cur.sink {
            Sink::Text(v) => {
                let value = String::from_utf8(v)
                    .map_err(|_| Error::BadRequest(format!("Field '{}' is not valid UTF-8 text.", cur.name)))?;
                self.pairs.push((cur.name, value));
            }
            Sink::File(v) => self.files.push(FilePart {
                name: cur.name,
                filename: cur.filename.unwrap_or_default(),
                data: FileData::Memory(v),
            }),
            Sink::Skip | Sink::Spool(_) => {}
        }
        Ok(())
    }

    /// Writes the decoded bytes of the current spooled part, and finishes
    /// its spool file once the part has ended.
    async fn write_pending(&mut self) -> Result<()> {
        let Some(Current { sink: Sink::Spool(w), ended, .. }) = self.current.as_mut() else { return Ok(()) };
        if !self.pending.is_empty() {
            w.write(&self.pending).await?;
            self.pending.clear();
        }
        if !*ended {
            return Ok(());
        }
        if let Some(Current { name, filename, sink: Sink::Spool(w), .. }) = self.current.take() {
            let file = (*w).finish().await?;
            self.files.push(FilePart {
                name,
                filename: filename.unwrap_or_default(),
                data: FileData::Spooled(std::sync::Arc::new(file)),
            });
        }
        Ok(())
    }

    fn into_params(self, params: &mut Params) {
        params.pairs.extend(self.pairs);
        params.files.extend(self.files);
    }
}

fn invalid_base64(name: &str) -> Error {
    Error::BadRequest(format!("Part '{name}' claims base64 transfer encoding but is not valid base64."))
}

fn decode_into(b64: Option<&mut Base64>, name: &str, raw: &[u8], out: &mut Vec<u8>) -> Result<()> {
    match b64 {
        Some(d) => d.feed(raw, out).map_err(|()| invalid_base64(name)),
        None => {
            out.extend_from_slice(raw);
            Ok(())
        }
    }
}

/// Base64 as MIME writes it (wrapped lines, possibly missing padding),
/// decoded as it arrives: whitespace is skipped, whole quads are decoded at
/// once, and only a quad's remainder (or a padded last quad) is held.
#[derive(Default)]
struct Base64 {
    held: Vec<u8>,
}

impl Base64 {
    fn engine() -> base64::engine::GeneralPurpose {
        base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
        )
    }

    fn feed(&mut self, data: &[u8], out: &mut Vec<u8>) -> std::result::Result<(), ()> {
        use base64::Engine as _;
        self.held.extend(data.iter().copied().filter(|b| !b.is_ascii_whitespace()));
        // Padding ends the data: decode up to its quad and hold that quad,
        // after which nothing may follow.
        let whole = match memchr::memchr(b'=', &self.held) {
            Some(p) => p / 4 * 4,
            None => self.held.len() / 4 * 4,
        };
        if whole > 0 {
            Self::engine().decode_vec(&self.held[..whole], out).map_err(|_| ())?;
            self.held.drain(..whole);
        }
        if self.held.contains(&b'=') && self.held.len() > 4 {
            return Err(());
        }
        Ok(())
    }

    fn finish(self, out: &mut Vec<u8>) -> std::result::Result<(), ()> {
        use base64::Engine as _;
        if self.held.is_empty() {
            return Ok(());
        }
        Self::engine().decode_vec(&self.held, out).map(|_| ()).map_err(|_| ())
    }
}

fn json_scalar(key: &str, v: serde_json::Value) -> Result<String> {
    use serde_json::Value;
    Ok(match v {
        Value::String(s) => s,
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null => String::new(),
        _ => {
            return Err(Error::BadRequest(format!(
                "JSON parameter '{key}' must be a string, number, boolean or a list of those."
            )))
        }
    })
}

/// A parameter of a header value like `multipart/form-data; boundary="x"`.
pub fn content_type_param(header: &str, param: &str) -> Option<String> {
    header.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if k.trim().eq_ignore_ascii_case(param) {
            Some(v.trim().trim_matches('"').to_string())
        } else {
            None
        }
    })
}

/// Parts one multipart body may have, and bytes of MIME headers per part
/// (the splitter lives in `ironpool_common::multipart`, where the fuzzer
/// reaches it without building the region).
pub use ironpool_common::multipart::{MAX_PARTS, MAX_PART_HEADER_BYTES};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libmaas_style_base64_multipart() {
        let body = "--===============42==\r\nContent-Disposition: form-data; name=\"key\"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=\"utf-8\"\r\nContent-Transfer-Encoding: base64\r\n\r\naGVs\r\nbG8=\r\n--===============42==\r\nContent-Disposition: form-data; name=\"file\"; filename=\"file\"\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--===============42==--\r\n";
        let mut p = Params::default();
        p.extend_body(Some("multipart/form-data; boundary=\"===============42==\""), body.as_bytes()).unwrap();
        assert_eq!(p.get("key"), Some("hello"));
        assert_eq!(p.files()[0].in_memory().unwrap(), [0, 1, 2]);
    }

    #[test]
    fn degenerate_empty_multipart() {
        let body = "--XX\r\n\r\n--XX--\r\n";
        let mut p = Params::default();
        p.extend_body(Some("multipart/form-data; boundary=XX"), body.as_bytes()).unwrap();
        assert!(p.pairs().is_empty());
    }

    #[test]
    fn plain_multipart_with_repeats() {
        let body = "--b\r\nContent-Disposition: form-data; name=\"t\"\r\n\r\na\r\n--b\r\nContent-Disposition: form-data; name=\"t\"\r\n\r\nb\r\n--b--";
        let mut p = Params::default();
        p.extend_body(Some("multipart/form-data; boundary=b"), body.as_bytes()).unwrap();
        assert_eq!(p.get_all("t"), vec!["a", "b"]);
    }

    #[test]
    fn malformed_multipart_is_a_bad_request() {
        let mut p = Params::default();
        let err = p.extend_body(Some("multipart/form-data; boundary=b"), b"garbage").unwrap_err();
        assert!(matches!(err, Error::BadRequest(_)));
        let err = p.extend_body(Some("multipart/form-data"), b"x").unwrap_err();
        assert!(matches!(err, Error::BadRequest(_)));
    }

    #[test]
    fn lf_and_crlf_boundaries_preambles_and_padding() {
        let body = "preamble\r\n--b  \nContent-Disposition: form-data; name=\"a\"\n\none\n--b\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\ntwo\r\nlines\r\n--b--\r\nepilogue";
        let mut p = Params::default();
        p.extend_body(Some("multipart/form-data; boundary=b"), body.as_bytes()).unwrap();
        assert_eq!(p.get("a"), Some("one"));
        assert_eq!(p.get("b"), Some("two\r\nlines"));
        // A line inside a value that starts like the boundary but is not it.
        let body = "--bb\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--b\r\n--bb--";
        let mut p = Params::default();
        p.extend_body(Some("multipart/form-data; boundary=bb"), body.as_bytes()).unwrap();
        assert_eq!(p.get("a"), Some("x\r\n--b"));
    }

    #[test]
    fn multipart_parts_and_headers_are_capped() {
        let mut body = "--b\n\n\n".repeat(MAX_PARTS + 1);
        body.push_str("--b--");
        let err = Params::default().extend_body(Some("multipart/form-data; boundary=b"), body.as_bytes()).unwrap_err();
        assert!(matches!(&err, Error::BadRequest(m) if m.contains("Too many parts")), "{err:?}");
        let mut body = "--b\n\n\n".repeat(MAX_PARTS);
        body.push_str("--b--");
        Params::default().extend_body(Some("multipart/form-data; boundary=b"), body.as_bytes()).unwrap();

        let long = format!("--b\r\nX: {}\r\n\r\nv\r\n--b--", "y".repeat(MAX_PART_HEADER_BYTES));
        let err = Params::default().extend_body(Some("multipart/form-data; boundary=b"), long.as_bytes()).unwrap_err();
        assert!(matches!(&err, Error::BadRequest(m) if m.contains("headers are longer")), "{err:?}");
        let huge_boundary = format!("multipart/form-data; boundary={}", "q".repeat(500));
        assert!(Params::default().extend_body(Some(&huge_boundary), b"x").is_err());
    }

    /// Bodies shaped to make a naive parser rescan: bare-`\n` boundaries
    /// (the old parser searched for `\r\n--b` to the end of the body for
    /// every part), small parts, and one part full of near-boundaries.
    fn adversarial(shape: usize, len: usize) -> Vec<u8> {
        // Parts of ~600 bytes: 10 MB stays under MAX_PARTS.
        let value = "v".repeat(540);
        let lf_part = format!("--b\nContent-Disposition: form-data; name=\"k\"\n\n{value}\n").into_bytes();
        let crlf_part = format!("--b\r\nContent-Disposition: form-data; name=\"k\"\r\n\r\n{value}\r\n").into_bytes();
        let mut b = Vec::with_capacity(len + 64);
        match shape {
            0 => {
                while b.len() < len {
                    b.extend_from_slice(&lf_part);
                }
            }
            1 => {
                while b.len() < len {
                    b.extend_from_slice(&crlf_part);
                }
            }
            _ => {
                b.extend_from_slice(
                    b"--bbbbbbbb\r\nContent-Disposition: form-data; name=\"f\"; filename=\"f\"\r\n\r\n",
                );
                while b.len() < len {
                    b.extend_from_slice(b"\n--bbbbbbb\r\n--bbbbbbbX");
                }
                b.extend_from_slice(b"\r\n");
            }
        }
        b.extend_from_slice(if shape == 2 { b"--bbbbbbbb--\r\n" } else { b"--b--\r\n" });
        b
    }

    fn parse_time(shape: usize, len: usize) -> std::time::Duration {
        let body = adversarial(shape, len);
        let ct = if shape == 2 { "multipart/form-data; boundary=bbbbbbbb" } else { "multipart/form-data; boundary=b" };
        // The fastest of a few runs: robust against a busy machine.
        (0..5)
            .map(|_| {
                let start = std::time::Instant::now();
                let mut p = Params::default();
                p.extend_body(Some(ct), &body).unwrap();
                assert!(!p.pairs().is_empty() || !p.files().is_empty());
                start.elapsed()
            })
            .min()
            .unwrap_or_default()
    }

    #[test]
    fn multipart_parsing_is_linear() {
        const N: usize = 100_000;
        for shape in 0..3 {
            let t1 = parse_time(shape, N);
            let t10 = parse_time(shape, 10 * N);
            let t100 = parse_time(shape, 100 * N);
            eprintln!("shape {shape}: 100 kB {t1:?}, 1 MB {t10:?}, 10 MB {t100:?}");
            // Quadratic would be 100x per step; allow 40x for noise.
            let floor = std::time::Duration::from_micros(200);
            assert!(t10 < 40 * t1.max(floor), "shape {shape}: {t1:?} -> {t10:?}");
            assert!(t100 < 40 * t10.max(floor), "shape {shape}: {t10:?} -> {t100:?}");
        }
    }

    #[test]
    fn json_objects_become_fields() {
        let mut p = Params::default();
        p.extend_body(Some("application/json"), br#"{"a": "x", "b": [1, true], "c": null}"#).unwrap();
        assert_eq!(p.get("a"), Some("x"));
        assert_eq!(p.get_all("b"), vec!["1", "true"]);
        assert!(p.extend_body(Some("application/json"), b"[1]").is_err());
    }

    #[test]
    fn booleans_in_every_spelling() {
        for t in ["true", "True", "1", "yes", "on", "t", "Y"] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["false", "False", "0", "no", "off", "f", "N"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        assert_eq!(parse_bool("maybe"), None);
    }
}
