//! Package repositories (MAAS's `PackageRepository`): the checks MAAS's
//! `PackageRepositoryForm` makes, the rule that the two seeded Ubuntu
//! archives stay (never deleted, never disabled), and the `apt`
//! configuration a deployment receives (MAAS's `get_archive_config`).
//!
//! As in MAAS's API forms, a field left out of an update keeps its value;
//! on create it takes MAAS's default (enabled, deb-src lines disabled,
//! amd64/i386).

use std::collections::BTreeMap;

use ironpool_common::deploy::{AptConfig, AptSource};

use crate::db;
use crate::db::package_repositories::PackageRepository;
use crate::db::DbConn;
use crate::error::{Error, FieldErrors, Result};

/// MAAS's `KNOWN_ARCHES`: main archive arches first, then the ports'.
pub const MAIN_ARCHES: [&str; 2] = ["amd64", "i386"];
pub const PORTS_ARCHES: [&str; 4] = ["armhf", "arm64", "ppc64el", "s390x"];
/// The pockets and components of the Ubuntu archive that can be disabled.
pub const POCKETS_TO_DISABLE: [&str; 3] = ["updates", "security", "backports"];
pub const COMPONENTS_TO_DISABLE: [&str; 3] = ["restricted", "universe", "multiverse"];
const KNOWN_COMPONENTS: [&str; 4] = ["main", "restricted", "universe", "multiverse"];
/// The model's `max_length` for names.
const NAME_MAX: usize = 41;

/// What a create or update sends; `None` is a field left out.
#[derive(Debug, Clone, Default)]
pub struct RepositoryInput {
    pub name: Option<String>,
    pub url: Option<String>,
    pub distributions: Option<Vec<String>>,
    pub disabled_pockets: Option<Vec<String>>,
    pub disabled_components: Option<Vec<String>>,
    pub components: Option<Vec<String>>,
    pub arches: Option<Vec<String>>,
    pub key: Option<String>,
    pub disable_sources: Option<bool>,
    pub enabled: Option<bool>,
}

/// `package-repositories/{id}/`: an id, or `name:<name>` / `id:<id>` /
/// a bare name (MAAS's specifiers); 404 otherwise.
pub fn get(c: &mut DbConn, spec: &str) -> Result<PackageRepository> {
    let found = if let Some(name) = spec.strip_prefix("name:") {
        db::package_repositories::by_name(c, name)?
    } else {
        let id = spec.strip_prefix("id:").unwrap_or(spec);
        match id.parse::<i64>() {
            Ok(id) => db::package_repositories::by_id(c, id)?,
            Err(_) => db::package_repositories::by_name(c, spec)?,
        }
    };
    found.ok_or(Error::NotFound("PackageRepository"))
}

pub fn create(c: &mut DbConn, input: &RepositoryInput) -> Result<PackageRepository> {
    let base = PackageRepository { enabled: true, disable_sources: true, ..Default::default() };
    let r = apply(&base, input, true)?;
    db::package_repositories::insert(c, &r)
}

pub fn update(c: &mut DbConn, spec: &str, input: &RepositoryInput) -> Result<PackageRepository> {
    let current = get(c, spec)?;
    let r = apply(&current, input, false)?;
    db::package_repositories::update(c, &r)?;
    get(c, &r.id.to_string())
}

/// MAAS refuses to delete the archives it seeded (a 400 in its words).
pub fn delete(c: &mut DbConn, spec: &str) -> Result<()> {
    let r = get(c, spec)?;
    if r.is_default {
        return Err(Error::BadRequest("Cannot delete default Ubuntu archives.".into()));
    }
    db::package_repositories::delete(c, r.id)
}

/// Splits list values on commas (MAAS's `clean_*` do), trimmed.
fn split(values: &[String]) -> Vec<String> {
    values.iter().flat_map(|v| v.split(',')).map(|s| s.trim().to_string()).collect()
}

/// The values MAAS takes as "clear this list".
fn is_reset(v: &[String]) -> bool {
    matches!(v, [one] if one.is_empty() || one == "None" || one == "[]")
}

/// `python_list(["a", "b"])` → `['a', 'b']`: MAAS's texts print the allowed
/// values as a Python list.
fn python_list(v: &[&str]) -> String {
    format!("[{}]", v.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", "))
}

/// Django's URLField with `assume_scheme="http"`, or a PPA (`ppa:owner/name`).
fn clean_url(v: &str) -> std::result::Result<String, String> {
    const INVALID: &str = "Enter a valid repository URL or PPA location.";
    let v = v.trim();
    if let Some(ppa) = v.strip_prefix("ppa:") {
        let ok = |part: &str| {
            !part.is_empty() && part.chars().all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '.' | '_'))
        };
        return match ppa.split_once('/') {
            Some((owner, name)) if ok(owner) && ok(name) => Ok(v.to_string()),
            _ => Err(INVALID.into()),
        };
    }
    let full = if v.contains("://") { v.to_string() } else { format!("http://{v}") };
    match url::Url::parse(&full) {
        Ok(u)
            if matches!(u.scheme(), "http" | "https" | "ftp" | "ftps")
                && u.host_str().is_some_and(|h| !h.is_empty()) =>
        {
            Ok(full)
        }
        _ => Err(INVALID.into()),
    }
}

/// The form's cleaning: `input` over `base`, every field's errors at once,
/// keyed as MAAS keys them.
fn apply(base: &PackageRepository, input: &RepositoryInput, creating: bool) -> Result<PackageRepository> {
    let mut r = base.clone();
    let mut errors = FieldErrors::new();
    let mut err = |field: &str, msg: String| errors.entry(field.to_string()).or_default().push(msg);
    match (&input.name, creating) {
        (Some(n), _) if !n.trim().is_empty() => {
            let n = n.trim();
            if n.chars().count() > NAME_MAX {
                err(
                    "name",
                    format!("Ensure this value has at most {NAME_MAX} characters (it has {}).", n.chars().count()),
                );
            }
            r.name = n.to_string();
        }
        (Some(_), _) | (None, true) => err("name", "This field is required.".into()),
        (None, false) => {}
    }
    match (&input.url, creating) {
        (Some(u), _) if !u.trim().is_empty() => match clean_url(u) {
            Ok(u) => r.url = u,
            Err(e) => err("url", e),
        },
        (Some(_), _) | (None, true) => err("url", "This field is required.".into()),
        (None, false) => {}
    }
    if let Some(v) = &input.distributions {
        r.distributions = split(v).into_iter().filter(|s| !s.is_empty()).collect();
    }
    if let Some(v) = &input.disabled_pockets {
        let v = split(v);
        if is_reset(&v) {
            r.disabled_pockets = Vec::new();
        } else if let Some(bad) = v.iter().find(|p| !POCKETS_TO_DISABLE.contains(&p.as_str())) {
            err(
                "disabled_pockets",
                format!(
                    "'{bad}' is not a valid Ubuntu archive pocket. You can only disable {}.",
                    python_list(&POCKETS_TO_DISABLE)
                ),
            );
        } else {
            r.disabled_pockets = v;
        }
    }
    if let Some(v) = &input.disabled_components {
        let v = split(v);
        if is_reset(&v) {
            r.disabled_components = Vec::new();
        } else if !base.is_default && !v.is_empty() {
            err("disabled_components", "This is a custom repository. Please update 'components' instead.".into());
        } else if let Some(bad) = v.iter().find(|p| !COMPONENTS_TO_DISABLE.contains(&p.as_str())) {
            err(
                "disabled_components",
                format!(
                    "'{bad}' is not a valid Ubuntu archive component. You can only disable {}.",
                    python_list(&COMPONENTS_TO_DISABLE)
                ),
            );
        } else {
            r.disabled_components = v;
        }
    }
    if let Some(v) = &input.components {
        let v: Vec<String> = split(v).into_iter().filter(|s| !s.is_empty()).collect();
        if base.is_default && !v.is_empty() {
            err(
                "components",
                "This is a default Ubuntu repository. Please update 'disabled_components' instead.".into(),
            );
        } else {
            r.components = v;
        }
    }
    if input.arches.is_some() || creating {
        let v: Vec<String> =
            split(input.arches.as_deref().unwrap_or_default()).into_iter().filter(|s| !s.is_empty()).collect();
        let mut known: Vec<&str> = MAIN_ARCHES.iter().chain(PORTS_ARCHES.iter()).copied().collect();
        known.sort_unstable();
        if let Some(bad) = v.iter().find(|a| !known.contains(&a.as_str())) {
            err("arches", format!("'{bad}' is not a valid architecture. Known architectures: {}", known.join(", ")));
        } else if v.is_empty() {
            let default: &[&str] = if r.name == "ports_archive" { &PORTS_ARCHES } else { &MAIN_ARCHES };
            r.arches = default.iter().map(|s| s.to_string()).collect();
        } else {
            r.arches = v;
        }
    }
    if let Some(k) = &input.key {
        r.key = k.clone();
    }
    if let Some(b) = input.disable_sources {
        r.disable_sources = b;
    }
    if let Some(b) = input.enabled {
        r.enabled = b;
    }
    if r.is_default && !r.enabled {
        err("__all__", "Default repositories may not be disabled.".into());
    }
    if errors.is_empty() {
        Ok(r)
    } else {
        Err(Error::Validation(errors))
    }
}

// ---- the deployment's apt configuration ------------------------------------

/// Ubuntu series before 24.04, whose archive is written as one-line `deb`
/// entries; later ones (and unknown newer ones) get deb822, as MAAS does
/// from 24.04 on (LP: #2093303).
const PRE_DEB822_SERIES: &[&str] =
    &["trusty", "xenial", "bionic", "focal", "groovy", "hirsute", "impish", "jammy", "kinetic", "lunar", "mantic"];

/// The archive components left enabled (main is never disabled).
fn archive_components(a: &PackageRepository) -> Vec<&'static str> {
    KNOWN_COMPONENTS
        .iter()
        .copied()
        .filter(|c| !(a.disabled_components.iter().any(|d| d == c) && COMPONENTS_TO_DISABLE.contains(c)))
        .collect()
}

fn enabled_pockets(a: &PackageRepository) -> Vec<&'static str> {
    POCKETS_TO_DISABLE.iter().copied().filter(|p| !a.disabled_pockets.iter().any(|d| d == p)).collect()
}

/// MAAS's `generate_urls_for_sources_list`.
fn one_line_sources(a: &PackageRepository) -> String {
    let comps = archive_components(a).join(" ");
    let src = if a.disable_sources { "# " } else { "" };
    let mut out = format!("deb {url} $RELEASE {comps}\n{src}deb-src {url} $RELEASE {comps}\n", url = a.url);
    for p in enabled_pockets(a) {
        out.push_str(&format!(
            "deb {url} $RELEASE-{p} {comps}\n{src}deb-src {url} $RELEASE-{p} {comps}\n",
            url = a.url
        ));
    }
    out
}

/// MAAS's `generate_deb822_for_sources`.
fn deb822_sources(a: &PackageRepository) -> String {
    let types = if a.disable_sources { "deb" } else { "deb deb-src" };
    let mut suites = vec!["$RELEASE".to_string()];
    suites.extend(enabled_pockets(a).into_iter().map(|p| format!("$RELEASE-{p}")));
    let mut out = format!(
        "Types: {types}\nURIs: {}\nSuites: {}\nComponents: {}\n",
        a.url,
        suites.join(" "),
        archive_components(a).join(" ")
    );
    if a.key.is_empty() {
        out.push_str("Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg\n");
    }
    out
}

/// MAAS's `make_clean_repo_name`: the apt list's file name.
fn clean_repo_name(r: &PackageRepository) -> String {
    let name: String = r.name.chars().filter(|ch| !"'!@#$[]{}".contains(*ch)).collect();
    format!("{name}_{}", r.id).trim().replace(' ', "_").to_lowercase()
}

/// The `apt` section for a deployment of `osystem`/`series` on `arch`
/// (`amd64`, `arm64`…): the enabled default archive for that architecture
/// as `sources_list` (with its key as `archive_key`), and every other
/// enabled repository for it as a source, with its key.
pub fn apt_config(c: &mut DbConn, arch: &str, osystem: &str, series: &str) -> Result<AptConfig> {
    let repos: Vec<PackageRepository> = db::package_repositories::all(c)?
        .into_iter()
        .filter(|r| r.enabled && r.arches.iter().any(|a| a == arch))
        .collect();
    // MAAS would point apt at its own proxy when none is set; Ironpool runs
    // none, so only a configured one is used.
    let proxy = match (
        crate::engine::config::value_in(c, "enable_http_proxy")?.as_bool(),
        crate::engine::config::value_in(c, "http_proxy")?.as_str().map(str::to_string),
    ) {
        (Some(true), Some(p)) if !p.is_empty() => Some(p),
        _ => None,
    };
    let mut apt =
        AptConfig { preserve_sources_list: false, sources_list: String::new(), sources: BTreeMap::new(), proxy };
    if let Some(archive) = repos.iter().find(|r| r.is_default) {
        let deb822 = osystem == "ubuntu" && !PRE_DEB822_SERIES.contains(&series);
        apt.sources_list = if deb822 { deb822_sources(archive) } else { one_line_sources(archive) };
        if !archive.key.is_empty() {
            apt.sources.insert("archive_key".into(), AptSource { source: None, key: Some(archive.key.clone()) });
        }
    }
    for r in repos.iter().filter(|r| !r.is_default) {
        let source = if r.url.starts_with("ppa:") {
            r.url.clone()
        } else if r.url.contains("ppa.launchpad.net") {
            format!("deb {} $RELEASE main", r.url)
        } else {
            let comps = if r.components.is_empty() { "main".to_string() } else { r.components.join(" ") };
            if r.distributions.is_empty() {
                format!("deb {} $RELEASE {comps}", r.url)
            } else {
                r.distributions.iter().map(|d| format!("deb {} {d} {comps}", r.url)).collect::<Vec<_>>().join("\n")
            }
        };
        let key = (!r.key.is_empty()).then(|| r.key.clone());
        apt.sources.insert(clean_repo_name(r), AptSource { source: Some(source), key });
    }
    Ok(apt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_ppas_and_lists() {
        assert_eq!(clean_url("archive.example.com/ubuntu").unwrap(), "http://archive.example.com/ubuntu");
        assert_eq!(clean_url("ppa:maas/stable").unwrap(), "ppa:maas/stable");
        assert!(clean_url("not a url").is_err());
        assert!(clean_url("ppa:nothing").is_err());
        assert!(clean_url("gopher://x/").is_err());
        assert!(is_reset(&split(&["".into()])));
        assert_eq!(split(&["a, b".into(), "c".into()]), vec!["a", "b", "c"]);
        assert_eq!(python_list(&POCKETS_TO_DISABLE), "['updates', 'security', 'backports']");
        let r = PackageRepository { id: 7, name: "My [PPA]!".into(), ..Default::default() };
        assert_eq!(clean_repo_name(&r), "my_ppa_7");
    }

    #[test]
    fn archive_lines() {
        let mut a = PackageRepository {
            url: "http://m/ubuntu".into(),
            disable_sources: true,
            disabled_pockets: vec!["security".into(), "backports".into()],
            disabled_components: vec!["universe".into()],
            ..Default::default()
        };
        assert_eq!(
            deb822_sources(&a),
            "Types: deb\nURIs: http://m/ubuntu\nSuites: $RELEASE $RELEASE-updates\n\
             Components: main restricted multiverse\nSigned-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg\n"
        );
        a.disable_sources = false;
        a.key = "K".into();
        assert!(deb822_sources(&a).starts_with("Types: deb deb-src\n"));
        assert!(!deb822_sources(&a).contains("Signed-By"), "a keyed archive is signed by its own key");
        assert_eq!(
            one_line_sources(&a),
            "deb http://m/ubuntu $RELEASE main restricted multiverse\n\
             deb-src http://m/ubuntu $RELEASE main restricted multiverse\n\
             deb http://m/ubuntu $RELEASE-updates main restricted multiverse\n\
             deb-src http://m/ubuntu $RELEASE-updates main restricted multiverse\n"
        );
    }
}
