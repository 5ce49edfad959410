//! The handler table: every MAAS handler, its URL template and its actions.
//!
//! This table is the single source of truth for routing *and* for `describe/`
//! (and later the OpenAPI document): a handler that is routed is described, and
//! one that is described is routed, by construction. Each `api::*` module
//! contributes its handlers through `api::handlers()`.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::future::LocalBoxFuture;
use serde_json::{json, Value};

use crate::error::Result;
use crate::http::reply::Reply;
use crate::http::Ctx;

/// The API prefix every MAAS 2.0 path lives under.
pub const API_PREFIX: &str = "/MAAS/api/2.0/";

/// The four HTTP methods MAAS handlers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }

    pub fn parse(s: &str) -> Option<Method> {
        Some(match s {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            _ => return None,
        })
    }
}

/// An async handler function: parse, authorize, call the engine, render.
pub type HandlerFn = fn(Ctx) -> LocalBoxFuture<'static, Result<Reply>>;

/// Wraps an `async fn(Ctx) -> Result<Reply>` as a [`HandlerFn`].
#[macro_export]
macro_rules! handler_fn {
    ($f:path) => {
        |ctx| Box::pin($f(ctx))
    };
}

/// One documented parameter of an action (becomes a `:param` line in `describe/`).
#[derive(Debug, Clone, Copy)]
pub struct ParamDoc {
    pub name: &'static str,
    pub required: bool,
    /// `String`, `Int`, `Boolean`, `Float`, or `File`.
    pub ty: &'static str,
    pub doc: &'static str,
}

pub const fn required(name: &'static str, ty: &'static str, doc: &'static str) -> ParamDoc {
    ParamDoc { name, required: true, ty, doc }
}

pub const fn optional(name: &'static str, ty: &'static str, doc: &'static str) -> ParamDoc {
    ParamDoc { name, required: false, ty, doc }
}

/// What a successful call returns, for the OpenAPI document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returns {
    /// A JSON object (200).
    Object,
    /// A JSON array of objects (200).
    List,
    /// A JSON array of strings (200; bulk release answers system_ids).
    Strings,
    /// Any JSON value (`get_config`, `is_registered`).
    AnyJson,
    /// A JSON object with another status (201 for key creation).
    ObjectStatus(u16),
    /// A text/plain body (`OK`, `Accepted`) with this status.
    Text(u16),
    /// Raw bytes of this content type.
    Bytes(&'static str),
    /// No body, with this status (204 deletes, 201 uploads, 200 set_zone).
    Nothing(u16),
}

/// One method/op pair of a handler.
#[derive(Clone)]
pub struct Action {
    pub method: Method,
    /// `None` for the CRUD actions read/create/update/delete.
    pub op: Option<&'static str>,
    pub title: &'static str,
    pub description: &'static str,
    pub params: Vec<ParamDoc>,
    pub run: HandlerFn,
    /// Body limit for this action; `None` uses the region default.
    pub max_body: Option<usize>,
    /// The handler pages its own results with `limit`/`cursor` (large
    /// collections, keyset pagination in SQL); otherwise list reads are paged
    /// generically by the dispatcher.
    pub pages_itself: bool,
    /// The success response, when it is not the default for the action's
    /// shape (see [`Handler::returns`]).
    pub returns: Option<Returns>,
    /// The action reads an `application/octet-stream` body itself, streaming
    /// (`Ctx::body`), instead of having it buffered and decoded.
    pub raw_body: bool,
    /// The action takes uploads as multipart file parts and gets them as
    /// spool files written while the body arrives
    /// (`params::FileData::Spooled`), never whole in memory.
    pub streams_files: bool,
    /// Further answers the action gives besides the errors every call can
    /// give (MAAS's `410 Gone` when a clear found nothing), for OpenAPI.
    pub also: Vec<(u16, &'static str)>,
}

impl Action {
    pub fn new(method: Method, op: Option<&'static str>, title: &'static str, run: HandlerFn) -> Action {
        Action {
            method,
            op,
            title,
            description: "",
            params: Vec::new(),
            run,
            max_body: None,
            pages_itself: false,
            returns: None,
            raw_body: false,
            streams_files: false,
            also: Vec::new(),
        }
    }

    /// Documents one more status this action can answer (text/plain).
    pub fn also(mut self, status: u16, what: &'static str) -> Self {
        self.also.push((status, what));
        self
    }

    pub fn describe(mut self, description: &'static str) -> Self {
        self.description = description;
        self
    }

    pub fn params(mut self, params: &[ParamDoc]) -> Self {
        self.params = params.to_vec();
        self
    }

    pub fn returns(mut self, r: Returns) -> Self {
        self.returns = Some(r);
        self
    }

    pub fn pages_itself(mut self) -> Self {
        self.pages_itself = true;
        self
    }

    pub fn raw_body(mut self) -> Self {
        self.raw_body = true;
        self
    }

    pub fn streams_files(mut self) -> Self {
        self.streams_files = true;
        self
    }

    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = Some(bytes);
        self
    }

    /// `read`/`create`/`update`/`delete` for CRUD, else the op name.
    pub fn name(&self) -> &'static str {
        match (self.op, self.method) {
            (Some(op), _) => op,
            (None, Method::Get) => "read",
            (None, Method::Post) => "create",
            (None, Method::Put) => "update",
            (None, Method::Delete) => "delete",
        }
    }

    /// The doc string in the layout the MAAS CLI parses: title, blank line, body,
    /// then `:param`/`:type` pairs (the CLI only takes `key=value` arguments for
    /// actions whose doc contains `:param`).
    pub fn doc(&self) -> String {
        let mut doc = format!("{}\n\n", self.title);
        if self.description.is_empty() {
            doc.push_str(self.title);
            doc.push('\n');
        } else {
            doc.push_str(self.description);
            doc.push('\n');
        }
        for p in &self.params {
            let req = if p.required { "Required" } else { "Optional" };
            doc.push_str(&format!("\n:param {}: {}. {}\n:type {}: {}\n", p.name, req, p.doc, p.name, p.ty));
        }
        doc
    }
}

/// Whether a handler serves anonymous or authenticated requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Anonymous,
    Authenticated,
}

/// A MAAS handler: one URL template, one class-style name, its actions.
#[derive(Clone)]
pub struct Handler {
    /// MAAS's class name (`UsersHandler`); clients bind objects by it.
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    /// Template relative to [`API_PREFIX`], e.g. `users/{username}/`.
    pub path: &'static str,
    pub access: Access,
    /// A placeholder whose value may contain `/` (file names, CIDRs).
    pub greedy: Option<&'static str>,
    pub actions: Vec<Action>,
    /// For anonymous handlers: the authenticated handler of the same resource,
    /// which `describe/` pairs it with. `None` for anonymous-only resources.
    pub auth_pair: Option<&'static str>,
}

impl Handler {
    pub fn new(name: &'static str, path: &'static str, access: Access, title: &'static str) -> Handler {
        Handler { name, title, description: "", path, access, greedy: None, actions: Vec::new(), auth_pair: None }
    }

    pub fn describe(mut self, description: &'static str) -> Self {
        self.description = description;
        self
    }

    pub fn action(mut self, a: Action) -> Self {
        self.actions.push(a);
        self
    }

    pub fn greedy(mut self, placeholder: &'static str) -> Self {
        self.greedy = Some(placeholder);
        self
    }

    pub fn paired_with(mut self, auth_handler: &'static str) -> Self {
        self.auth_pair = Some(auth_handler);
        self
    }

    /// An action's success response: as declared, else DELETE → 204, a
    /// collection's read → array, anything else → object.
    pub fn returns(&self, a: &Action) -> Returns {
        a.returns.unwrap_or(match (a.method, a.op) {
            (Method::Delete, None) => Returns::Nothing(204),
            (Method::Get, None) if !self.path.ends_with("}/") => Returns::List,
            _ => Returns::Object,
        })
    }

    pub fn placeholders(&self) -> Vec<&'static str> {
        self.path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).collect()
    }

    pub fn doc(&self) -> String {
        if self.description.is_empty() {
            format!("{}\n\n{}", self.title, self.title)
        } else {
            format!("{}\n\n{}", self.title, self.description)
        }
    }

    /// Matches a path relative to the prefix; returns the placeholder values
    /// (percent-decoded) and the number of literal segments (for ranking).
    fn matches(&self, segments: &[&str]) -> Option<(Vec<(String, String)>, usize)> {
        let tmpl: Vec<&str> = self.path.split('/').collect();
        let greedy_at = self
            .greedy
            .and_then(|g| tmpl.iter().position(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) == Some(g)));
        let mut values = Vec::new();
        let mut literals = 0;
        let mut match_one = |t: &str, s: &str, values: &mut Vec<(String, String)>| -> bool {
            if let Some(name) = t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                if s.is_empty() {
                    return false;
                }
                values.push((name.to_string(), decode(s)));
                true
            } else {
                literals += 1;
                t == s
            }
        };
        match greedy_at {
            None => {
                if tmpl.len() != segments.len() {
                    return None;
                }
                for (t, s) in tmpl.iter().zip(segments) {
                    if !match_one(t, s, &mut values) {
                        return None;
                    }
                }
            }
            Some(g) => {
                let tail = tmpl.len() - g - 1;
                if segments.len() < tmpl.len() {
                    return None;
                }
                for (t, s) in tmpl[..g].iter().zip(&segments[..g]) {
                    if !match_one(t, s, &mut values) {
                        return None;
                    }
                }
                let rest_start = segments.len() - tail;
                for (t, s) in tmpl[g + 1..].iter().zip(&segments[rest_start..]) {
                    if !match_one(t, s, &mut values) {
                        return None;
                    }
                }
                let joined = segments[g..rest_start].join("/");
                if joined.is_empty() {
                    return None;
                }
                let name = &tmpl[g][1..tmpl[g].len() - 1];
                values.push((name.to_string(), decode(&joined)));
            }
        }
        Some((values, literals))
    }

    fn json(&self, base: &str, with_uri: bool) -> Value {
        let mut actions: Vec<&Action> = self.actions.iter().collect();
        actions.sort_by_key(|a| a.name());
        let actions: Vec<Value> = actions
            .iter()
            .map(|a| {
                json!({
                    "name": a.name(),
                    "method": a.method.as_str(),
                    "op": a.op,
                    "restful": a.op.is_none(),
                    "doc": a.doc(),
                })
            })
            .collect();
        let path = format!("{API_PREFIX}{}", self.path);
        let mut v = json!({
            "name": self.name,
            "doc": self.doc(),
            "params": self.placeholders(),
            "path": path,
            "actions": actions,
        });
        if with_uri {
            v["uri"] = json!(format!("{base}{path}"));
        }
        v
    }
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// What routing found for a path: the handlers of each access kind that serve it.
pub struct Route<'r> {
    pub auth: Option<&'r Handler>,
    pub anon: Option<&'r Handler>,
    pub path_params: Vec<(String, String)>,
    /// The op named by an `…/op-<name>` path suffix.
    pub path_op: Option<String>,
}

/// All handlers, indexed for routing and rendered for `describe/`.
pub struct Registry {
    handlers: Vec<Handler>,
    /// SHA-1 of the host-independent description, sent as `X-MAAS-API-Hash`.
    pub api_hash: String,
}

impl Registry {
    /// Builds the table. Handlers declared more than once (same name, URL and
    /// access) are one handler: later declarations add their actions to the
    /// first, so a module can add an action to another module's handler
    /// (`set_storage_layout` on `MachineHandler`) without either importing
    /// the other.
    pub fn new(declared: Vec<Handler>) -> Arc<Registry> {
        let mut handlers: Vec<Handler> = Vec::with_capacity(declared.len());
        for h in declared {
            match handlers.iter_mut().find(|m| m.name == h.name && m.path == h.path && m.access == h.access) {
                Some(first) => first.actions.extend(h.actions),
                None => handlers.push(h),
            }
        }
        let mut reg = Registry { handlers, api_hash: String::new() };
        // A `Value`'s text form cannot fail to write.
        let canonical = reg.describe_value("", false).to_string();
        use sha1::Digest;
        reg.api_hash = hex(&sha1::Sha1::digest(&canonical));
        Arc::new(reg)
    }

    pub fn handlers(&self) -> &[Handler] {
        &self.handlers
    }

    /// Finds the handlers serving `rel` (the path after [`API_PREFIX`]).
    pub fn route(&self, rel: &str) -> Option<Route<'_>> {
        let segments: Vec<&str> = rel.split('/').collect();
        if let Some(found) = self.route_segments(&segments, None) {
            return Some(found);
        }
        // `…/op-<name>`: the op as a path suffix (MAAS 3.3+, used by OpenAPI SDKs).
        let (last, init) = segments.split_last()?;
        let op = last.strip_prefix("op-").filter(|op| !op.is_empty())?;
        let mut with_slash: Vec<&str> = init.to_vec();
        with_slash.push("");
        self.route_segments(&with_slash, Some(op.to_string()))
    }

    fn route_segments(&self, segments: &[&str], path_op: Option<String>) -> Option<Route<'_>> {
        // Best match per access kind: (handler, placeholder values, literal segments).
        type Candidate<'h> = Option<(&'h Handler, Vec<(String, String)>, usize)>;
        let mut best: [Candidate<'_>; 2] = [None, None];
        for h in &self.handlers {
            if let Some((vals, lits)) = h.matches(segments) {
                let slot = &mut best[(h.access == Access::Anonymous) as usize];
                if slot.as_ref().is_none_or(|(_, _, l)| lits > *l) {
                    *slot = Some((h, vals, lits));
                }
            }
        }
        let [auth, anon] = best;
        if auth.is_none() && anon.is_none() {
            return None;
        }
        let path_params = auth.as_ref().or(anon.as_ref()).map(|(_, v, _)| v.clone()).unwrap_or_default();
        Some(Route { auth: auth.map(|a| a.0), anon: anon.map(|a| a.0), path_params, path_op })
    }

    /// The `describe/` document. `base` is `scheme://host` for absolute `uri`s.
    pub fn describe(&self, base: &str) -> Value {
        let mut v = self.describe_value(base, true);
        v["hash"] = json!(self.api_hash);
        v
    }

    fn describe_value(&self, base: &str, with_uri: bool) -> Value {
        let by_name: BTreeMap<&str, &Handler> = self.handlers.iter().map(|h| (h.name, h)).collect();
        // A resource is an authenticated handler plus the anonymous handler
        // paired with it, or an anonymous handler standing alone.
        let mut resources: Vec<(String, Value, Value)> = Vec::new();
        for h in &self.handlers {
            match h.access {
                Access::Authenticated => {
                    let anon = self
                        .handlers
                        .iter()
                        .find(|a| a.access == Access::Anonymous && a.auth_pair == Some(h.name))
                        .map(|a| a.json(base, with_uri))
                        .unwrap_or(Value::Null);
                    resources.push((h.name.to_string(), anon, h.json(base, with_uri)));
                }
                Access::Anonymous => {
                    let paired = h.auth_pair.is_some_and(|p| by_name.contains_key(p));
                    if !paired {
                        resources.push((h.name.to_string(), h.json(base, with_uri), Value::Null));
                    }
                }
            }
        }
        resources.sort_by(|a, b| a.0.cmp(&b.0));
        let mut flat: Vec<Value> = resources.iter().filter(|r| !r.1.is_null()).map(|r| r.1.clone()).collect();
        flat.extend(resources.iter().filter(|r| !r.2.is_null()).map(|r| r.2.clone()));
        let resources: Vec<Value> =
            resources.into_iter().map(|(name, anon, auth)| json!({"name": name, "anon": anon, "auth": auth})).collect();
        json!({"doc": "MAAS API", "resources": resources, "handlers": flat})
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn nothing(_: Ctx) -> Result<Reply> {
        Ok(Reply::NoContent)
    }

    fn reg() -> Arc<Registry> {
        Registry::new(vec![
            Handler::new("UsersHandler", "users/", Access::Authenticated, "Users").action(Action::new(
                Method::Get,
                None,
                "List",
                handler_fn!(nothing),
            )),
            Handler::new("UserHandler", "users/{username}/", Access::Authenticated, "User").action(Action::new(
                Method::Get,
                None,
                "Read",
                handler_fn!(nothing),
            )),
            Handler::new("FileHandler", "files/{filename}/", Access::Authenticated, "File")
                .greedy("filename")
                .action(Action::new(Method::Get, None, "Read", handler_fn!(nothing))),
            Handler::new("VersionHandler", "version/", Access::Anonymous, "Version").action(Action::new(
                Method::Get,
                None,
                "Read",
                handler_fn!(nothing),
            )),
        ])
    }

    #[test]
    fn routes_literals_params_and_op_paths() {
        let r = reg();
        assert_eq!(r.route("users/").unwrap().auth.unwrap().name, "UsersHandler");
        let u = r.route("users/al%20ice/").unwrap();
        assert_eq!(u.auth.unwrap().name, "UserHandler");
        assert_eq!(u.path_params, vec![("username".to_string(), "al ice".to_string())]);
        let op = r.route("users/op-whoami").unwrap();
        assert_eq!(op.auth.unwrap().name, "UsersHandler");
        assert_eq!(op.path_op.as_deref(), Some("whoami"));
        assert!(r.route("users").is_none(), "missing trailing slash is a 404");
        assert!(r.route("nope/").is_none());
        let f = r.route("files/a/b/c/").unwrap();
        assert_eq!(f.path_params[0].1, "a/b/c");
        assert!(r.route("version/").unwrap().anon.is_some());
    }

    #[test]
    fn describe_is_sorted_and_hashed() {
        let r = reg();
        let d = r.describe("http://h:1");
        let names: Vec<&str> = d["resources"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert_eq!(d["hash"].as_str().unwrap().len(), 40);
        assert_eq!(d["resources"][1]["auth"]["uri"], "http://h:1/MAAS/api/2.0/users/{username}/");
    }
}
