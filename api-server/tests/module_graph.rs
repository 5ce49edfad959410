//! Dependencies between modules point one way: no module cycles in any crate
//! of the workspace.
//!
//! The graph is built from the source text: every path a module names
//! (`crate::…`, `super::…`, `self::…`, and bare paths through a module it
//! imported or declared) is resolved to the longest module it reaches, and
//! that is an edge. Comments, string literals and `#[cfg(test)]` items are
//! left out; a parent declaring `mod child;` is not an edge, a parent using
//! its child's items is. A strongly connected set of more than one module is
//! a cycle and fails the test, with the paths that make it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module: its path from the crate root (`["engine", "nodes", "state"]`).
type Module = Vec<String>;

/// One crate's modules and the edges between them, each with an example of
/// the path that made it.
struct Graph {
    modules: BTreeSet<Module>,
    edges: BTreeMap<Module, BTreeMap<Module, String>>,
}

/// Removes comments, string and char literals (paths in docs or messages are
/// not dependencies), keeping line structure.
fn strip(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &src[i..];
        if rest.starts_with("//") {
            let end = rest.find('\n').map_or(b.len(), |n| i + n);
            i = end;
        } else if rest.starts_with("/*") {
            let end = rest.find("*/").map_or(b.len(), |n| i + n + 2);
            out.extend(src[i..end].chars().filter(|c| *c == '\n'));
            i = end;
        } else if let Some(hashes) = raw_string_start(rest, i, b) {
            let open = 2 + hashes; // r, hashes, "
            let close = format!("\"{}", "#".repeat(hashes));
            let end = rest[open..].find(&close).map_or(b.len(), |n| i + open + n + close.len());
            out.push_str("\"\"");
            out.extend(src[i..end].chars().filter(|c| *c == '\n'));
            i = end;
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            out.push_str("\"\"");
            out.extend(src[i..j.min(b.len())].chars().filter(|c| *c == '\n'));
            i = j + 1;
        } else if b[i] == b'\'' && char_literal_len(rest) > 0 {
            out.push_str("' '");
            i += char_literal_len(rest);
        } else {
            let ch = rest.chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

fn raw_string_start(rest: &str, i: usize, b: &[u8]) -> Option<usize> {
    let after_ident = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
    let tail = rest.strip_prefix('r')?;
    if after_ident {
        return None;
    }
    let hashes = tail.bytes().take_while(|c| *c == b'#').count();
    tail[hashes..].starts_with('"').then_some(hashes)
}

/// Length of a char literal at the start of `rest` (`'a'`, `'\n'`,
/// `'\u{1F600}'`), or 0 for a lifetime.
fn char_literal_len(rest: &str) -> usize {
    let mut chars = rest.char_indices().skip(1);
    match chars.next() {
        Some((_, '\\')) => rest[2..].find('\'').map_or(0, |n| n + 3),
        Some((_, c)) => {
            let after = 1 + c.len_utf8();
            if rest[after..].starts_with('\'') {
                after + 1
            } else {
                0
            }
        }
        None => 0,
    }
}

/// Cuts `#[cfg(test)]` items (test modules may use anything).
fn without_tests(src: &str) -> String {
    let mut out = String::new();
    let mut rest = src;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let item = &rest[at..];
        let brace = item.find('{');
        let semi = item.find(';');
        let end = match (brace, semi) {
            (Some(bi), Some(si)) if si < bi => si + 1,
            (Some(bi), _) => {
                let mut depth = 0;
                let mut end = item.len();
                for (k, c) in item[bi..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = bi + k + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                end
            }
            (None, Some(si)) => si + 1,
            (None, None) => item.len(),
        };
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

fn ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The `a::b::c` paths in `code` (segments), with the text they came from.
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let starts = ident_char(chars[i]) && (i == 0 || !(ident_char(chars[i - 1]) || chars[i - 1] == ':'));
        if !starts {
            i += 1;
            continue;
        }
        let mut segs = Vec::new();
        let mut j = i;
        loop {
            let s = j;
            while j < chars.len() && ident_char(chars[j]) {
                j += 1;
            }
            segs.push(chars[s..j].iter().collect::<String>());
            if j + 2 < chars.len() && chars[j] == ':' && chars[j + 1] == ':' && ident_char(chars[j + 2]) {
                j += 2;
            } else {
                break;
            }
        }
        if segs.len() > 1 {
            out.push(segs);
        }
        i = j.max(i + 1);
    }
    out
}

/// Expands `use` trees into full paths: `a::{b, c::{d, self}}` gives
/// `a::b`, `a::c::d`, `a::c`. Returns (path, name it is bound to).
fn use_leaves(tree: &str) -> Vec<(Vec<String>, String)> {
    fn go(prefix: &[String], t: &str, out: &mut Vec<(Vec<String>, String)>) {
        let t = t.trim();
        if let Some(open) = t.find('{') {
            let head: Vec<String> = t[..open]
                .trim_end_matches("::")
                .split("::")
                .filter(|s| !s.is_empty())
                .map(|s| s.trim().into())
                .collect();
            let mut p = prefix.to_vec();
            p.extend(head);
            let inner = &t[open + 1..t.rfind('}').unwrap_or(t.len())];
            let mut depth = 0;
            let mut start = 0;
            for (k, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        go(&p, &inner[start..k], out);
                        start = k + 1;
                    }
                    _ => {}
                }
            }
            go(&p, &inner[start..], out);
        } else if !t.is_empty() {
            let (path, alias) = match t.split_once(" as ") {
                Some((p, a)) => (p.trim(), Some(a.trim().to_string())),
                None => (t, None),
            };
            let mut p = prefix.to_vec();
            p.extend(path.split("::").map(|s| s.trim().to_string()));
            if p.last().is_some_and(|l| l == "self") {
                p.pop();
            }
            let name = alias.unwrap_or_else(|| p.last().cloned().unwrap_or_default());
            out.push((p, name));
        }
    }
    let mut out = Vec::new();
    go(&[], tree, &mut out);
    out
}

impl Graph {
    /// Reads every `.rs` file under `src` (one crate).
    fn of_crate(src: &Path) -> Graph {
        let mut files = Vec::new();
        collect(src, &mut files);
        let mut by_module = BTreeMap::new();
        for f in files {
            let rel = f.strip_prefix(src).unwrap_or(&f).with_extension("");
            let mut m: Module = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
            if matches!(m.last().map(String::as_str), Some("mod" | "lib" | "main")) {
                m.pop();
            }
            if m.first().is_some_and(|s| s == "bin") {
                continue; // binaries are crates of their own
            }
            by_module.insert(m, std::fs::read_to_string(&f).unwrap_or_default());
        }
        Graph::of_sources(by_module)
    }

    fn of_sources(sources: BTreeMap<Module, String>) -> Graph {
        let modules: BTreeSet<Module> = sources.keys().cloned().collect();
        let mut edges: BTreeMap<Module, BTreeMap<Module, String>> = BTreeMap::new();
        for (m, src) in &sources {
            let code = without_tests(&strip(src));
            let resolve_abs = |p: &[String]| -> Option<Module> {
                (1..=p.len()).rev().map(|n| p[..n].to_vec()).find(|c| modules.contains(c))
            };
            // Relative to this module: `crate`, `super`, `self`.
            let absolute = |p: &[String]| -> Option<Vec<String>> {
                match p.first().map(String::as_str) {
                    Some("crate") => Some(p[1..].to_vec()),
                    Some("self") => Some(m.iter().cloned().chain(p[1..].iter().cloned()).collect()),
                    Some("super") => {
                        let ups = p.iter().take_while(|s| *s == "super").count();
                        let base = m.len().checked_sub(ups)?;
                        Some(m[..base].iter().cloned().chain(p[ups..].iter().cloned()).collect())
                    }
                    _ => None,
                }
            };
            // Names bound by `use` to modules, and child modules declared here.
            let mut aliases: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for child in modules.iter().filter(|c| c.len() == m.len() + 1 && c.starts_with(m)) {
                aliases.insert(child[m.len()].clone(), child.clone());
            }
            let mut out: BTreeMap<Module, String> = BTreeMap::new();
            let mut add = |target: Option<Module>, text: String| {
                if let Some(t) = target {
                    if &t != m {
                        out.entry(t).or_insert(text);
                    }
                }
            };
            let mut rest = code.as_str();
            let mut body = String::new();
            while let Some(at) = find_use(rest) {
                body.push_str(&rest[..at]);
                let stmt = &rest[at..];
                let end = stmt.find(';').map_or(stmt.len(), |n| n + 1);
                let tree = stmt[..end].trim_end_matches(';');
                let tree = tree[tree.find("use ").map_or(0, |n| n + 4)..].trim();
                let is_reexport = stmt.starts_with("pub");
                for (path, name) in use_leaves(tree) {
                    let Some(abs) = absolute(&path).or_else(|| {
                        aliases.get(&path[0]).map(|a| a.iter().cloned().chain(path[1..].iter().cloned()).collect())
                    }) else {
                        continue; // another crate
                    };
                    if modules.contains(&abs) {
                        // Importing a module's name is not yet a use of it.
                        aliases.insert(name, abs);
                    } else if !is_reexport {
                        // A re-export (`pub use child::Thing`) shapes the
                        // crate's public names; it is no dependency of this
                        // module's code.
                        add(resolve_abs(&abs), format!("use {}", path.join("::")));
                    }
                }
                rest = &stmt[end..];
            }
            body.push_str(rest);
            for p in paths(&body) {
                let abs = absolute(&p)
                    .or_else(|| aliases.get(&p[0]).map(|a| a.iter().cloned().chain(p[1..].iter().cloned()).collect()));
                if let Some(abs) = abs {
                    add(resolve_abs(&abs), p.join("::"));
                }
            }
            edges.insert(m.clone(), out);
        }
        Graph { modules, edges }
    }

    /// Strongly connected sets of more than one module (Tarjan).
    fn cycles(&self) -> Vec<Vec<Module>> {
        struct State<'g> {
            g: &'g Graph,
            index: BTreeMap<&'g Module, usize>,
            low: BTreeMap<&'g Module, usize>,
            stack: Vec<&'g Module>,
            on_stack: BTreeSet<&'g Module>,
            next: usize,
            found: Vec<Vec<Module>>,
        }
        fn visit<'g>(s: &mut State<'g>, v: &'g Module) {
            s.index.insert(v, s.next);
            s.low.insert(v, s.next);
            s.next += 1;
            s.stack.push(v);
            s.on_stack.insert(v);
            let g = s.g;
            for w in g.edges.get(v).into_iter().flat_map(|e| e.keys()) {
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let lw = s.low[w];
                    let lv = s.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if s.on_stack.contains(w) {
                    let iw = s.index[w];
                    let lv = s.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
            if s.low[v] == s.index[v] {
                let mut comp = Vec::new();
                while let Some(w) = s.stack.pop() {
                    s.on_stack.remove(w);
                    comp.push(w.clone());
                    if w == v {
                        break;
                    }
                }
                if comp.len() > 1 {
                    comp.sort();
                    s.found.push(comp);
                }
            }
        }
        let mut s = State {
            g: self,
            index: BTreeMap::new(),
            low: BTreeMap::new(),
            stack: Vec::new(),
            on_stack: BTreeSet::new(),
            next: 0,
            found: Vec::new(),
        };
        for m in &self.modules {
            if !s.index.contains_key(m) {
                visit(&mut s, m);
            }
        }
        s.found
    }

    /// A readable report of the cycles: each module and what it names in the set.
    fn report(&self, krate: &str) -> String {
        let mut text = String::new();
        for comp in self.cycles() {
            let set: BTreeSet<&Module> = comp.iter().collect();
            text.push_str(&format!("\n{krate}: a cycle through {} modules:\n", comp.len()));
            for m in &comp {
                for (to, example) in self.edges.get(m).into_iter().flatten().filter(|(t, _)| set.contains(t)) {
                    text.push_str(&format!("  {} -> {}   ({example})\n", name(m), name(to)));
                }
            }
        }
        text
    }
}

fn name(m: &Module) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

/// The next `use` statement at the start of a line (`use`/`pub use`/`pub(crate) use`).
fn find_use(s: &str) -> Option<usize> {
    let mut offset = 0;
    for line in s.split_inclusive('\n') {
        let t = line.trim_start();
        let lead = line.len() - t.len();
        let after_vis = t
            .strip_prefix("pub(crate) ")
            .or_else(|| t.strip_prefix("pub(super) "))
            .or_else(|| t.strip_prefix("pub "))
            .unwrap_or(t);
        if after_vis.starts_with("use ") {
            return Some(offset + lead);
        }
        offset += line.len();
    }
    None
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

const CRATES: &[&str] = &["api-server", "rack-controller", "power", "common", "agent", "cli"];

#[test]
fn no_module_cycles_in_any_crate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut report = String::new();
    let mut seen = 0;
    for krate in CRATES {
        let src = root.join(krate).join("src");
        if !src.is_dir() {
            continue;
        }
        let g = Graph::of_crate(&src);
        assert!(g.modules.len() > 1 || *krate != "api-server", "no modules read under {}", src.display());
        seen += g.modules.len();
        report.push_str(&g.report(krate));
    }
    assert!(seen > 50, "the module graph found only {seen} modules; is the source layout readable?");
    assert!(report.is_empty(), "module dependencies must point one way; cycles found:{report}");
}

fn graph(files: &[(&str, &str)]) -> Graph {
    Graph::of_sources(
        files
            .iter()
            .map(|(m, s)| (m.split("::").filter(|x| !x.is_empty()).map(String::from).collect(), s.to_string()))
            .collect(),
    )
}

#[test]
fn the_checker_sees_cycles_through_each_kind_of_path() {
    // crate:: paths in code.
    let g = graph(&[
        ("", "pub mod a; pub mod b;"),
        ("a", "fn f() { crate::b::g() }"),
        ("b", "pub fn g() { crate::a::f() }"),
    ]);
    assert_eq!(g.cycles().len(), 1, "{}", g.report("t"));
    // use trees, super::, and a module imported by name then used.
    let g = graph(&[
        ("", ""),
        ("x", "pub mod y; pub mod z;"),
        ("x::y", "use super::z::{self, Thing};\nfn f(_: Thing) {}"),
        ("x::z", "use crate::x::y;\npub struct Thing;\nfn h() { y::f }"),
    ]);
    assert_eq!(g.cycles().len(), 1, "{}", g.report("t"));
    // A parent using a child that uses the parent.
    let g =
        graph(&[("", ""), ("p", "pub mod c;\npub fn top() { c::leaf() }"), ("p::c", "pub fn leaf() { super::top() }")]);
    assert_eq!(g.cycles().len(), 1, "{}", g.report("t"));
}

#[test]
fn the_checker_ignores_what_is_not_a_dependency() {
    let g = graph(&[
        ("", ""),
        (
            "a",
            "//! See crate::b::g.\nfn f() { let _ = \"crate::b::g\"; }\n#[cfg(test)]\nmod tests { use crate::b::g; }",
        ),
        ("b", "pub fn g() { crate::a::f() }\n/* crate::a */"),
        // A parent declaring a child that uses it is not a cycle.
        ("p", "pub mod c;\npub fn top() {}"),
        ("p::c", "pub fn leaf() { super::top() }"),
        // Lifetimes are not char literals.
        ("l", "fn f<'a>(x: &'a str) -> &'a str { x }"),
    ]);
    assert!(g.cycles().is_empty(), "{}", g.report("t"));
}

/// Words that mean the HTTP layer: none of them belongs in the rules or the
/// datastore, which must work the same behind any front end (and the job
/// worker spawns with tokio, not actix's runtime).
const HTTP_WORDS: &[&str] = &["actix", "HttpRequest", "HttpResponse", "StatusCode", "crate::http", "crate::api"];

#[test]
fn engine_and_db_know_nothing_of_http() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for layer in ["engine", "db"] {
        let mut files = Vec::new();
        collect(&src.join(layer), &mut files);
        let root = src.join(format!("{layer}.rs"));
        if root.exists() {
            files.push(root);
        }
        assert!(!files.is_empty(), "no sources under {layer}/");
        for f in files {
            let code = without_tests(&strip(&std::fs::read_to_string(&f).unwrap_or_default()));
            for w in HTTP_WORDS {
                if code.contains(w) {
                    found.push(format!("{} names `{w}`", f.strip_prefix(&src).unwrap_or(&f).display()));
                }
            }
        }
    }
    assert!(found.is_empty(), "engine/ and db/ must not depend on HTTP:\n{}", found.join("\n"));
}
