//! License keys (MAAS's `LicenseKey`): which operating system releases take
//! one, and the checks MAAS's `LicenseKeyForm` makes before one is stored.
//!
//! MAAS offers only the releases of its installed operating-system drivers
//! that require a key; among MAAS's drivers only Windows has such releases,
//! and its keys must look like `XXXXX-XXXXX-XXXXX-XXXXX-XXXXX`. MAAS further
//! narrows the choice to releases with a synced boot image; Ironpool accepts
//! a key for any of them, so an operator can load keys before uploading the
//! image (docs/status.md).

use crate::db;
use crate::db::license_keys::LicenseKey;
use crate::db::DbConn;
use crate::error::{Error, FieldErrors, Result};

/// The operating systems that have releases needing a key: (name, title).
const OSYSTEMS: &[(&str, &str)] = &[("windows", "Windows")];

/// Windows releases that need a key, with MAAS's titles (which order the
/// choices MAAS lists in its error text).
const WINDOWS_RELEASES: &[(&str, &str)] = &[
    ("win2008r2", "Windows \"Server 2008 R2\""),
    ("win2012", "Windows \"Server 2012\""),
    ("win2012r2", "Windows \"Server 2012 R2\""),
    ("win2016", "Windows \"Server 2016\""),
    ("win2016nano", "Windows \"Nano Server 2016\""),
    ("win2016-core", "Windows \"Server 2016 Core\""),
    ("win2016dc", "Windows \"Server 2016 Datacenter\""),
    ("win2016dc-core", "Windows \"Server 2016 Datacenter Core\""),
    ("win2019", "Windows \"Server 2019\""),
    ("win2019-core", "Windows \"Server 2019 Core\""),
    ("win2019dc", "Windows \"Server 2019 Datacenter\""),
    ("win2019dc-core", "Windows \"Server 2019 Datecenter Core\""),
    ("win10ent", "Windows \"10 Enterprise\""),
];

/// What a create or update names. `None` is an absent field; values are
/// kept as sent (MAAS's choice fields do not strip them).
#[derive(Debug, Clone, Default)]
pub struct LicenseKeyInput {
    pub osystem: Option<String>,
    /// `os/series`, the form MAAS's choices take.
    pub distro_series: Option<String>,
    pub license_key: Option<String>,
}

/// The `osystem/series` choices, in MAAS's order (by title).
fn series_choices() -> Vec<String> {
    let mut releases: Vec<&(&str, &str)> = WINDOWS_RELEASES.iter().collect();
    releases.sort_by_key(|(_, title)| *title);
    releases.iter().map(|(name, _)| format!("windows/{name}")).collect()
}

/// MAAS's `compose_invalid_choice_text`.
fn invalid_choice(value: &str, what: &str, choices: &[String]) -> String {
    let listed: Vec<String> = choices.iter().map(|c| format!("'{c}'")).collect();
    format!("'{value}' is not a valid {what}.  It should be one of: {}.", listed.join(", "))
}

/// Windows product keys: five groups of five letters or digits.
fn valid_windows_key(key: &str) -> bool {
    let groups: Vec<&str> = key.split('-').collect();
    groups.len() == 5 && groups.iter().all(|g| g.len() == 5 && g.chars().all(|ch| ch.is_ascii_alphanumeric()))
}

/// MAAS's `LicenseKeyForm` validation: each field on its own first (all
/// their errors together), then the pair and the key. Returns the osystem,
/// the bare series and the key.
fn validate(input: &LicenseKeyInput) -> Result<(String, String, String)> {
    let mut errors = FieldErrors::new();
    let mut required = |name: &str, v: &Option<String>| match v.as_deref() {
        Some(v) if !v.is_empty() => Some(v.to_string()),
        _ => {
            errors.insert(name.to_string(), vec!["This field is required.".to_string()]);
            None
        }
    };
    let osystem = required("osystem", &input.osystem);
    let series = required("distro_series", &input.distro_series);
    let key = required("license_key", &input.license_key.as_ref().map(|k| k.trim().to_string()));
    let os_choices: Vec<String> = OSYSTEMS.iter().map(|(name, _)| name.to_string()).collect();
    let osystem = osystem.filter(|os| {
        let ok = os_choices.contains(os);
        if !ok {
            errors.insert("osystem".into(), vec![invalid_choice(os, "osystem", &os_choices)]);
        }
        ok
    });
    let choices = series_choices();
    let series = series.filter(|s| {
        let ok = choices.contains(s);
        if !ok {
            errors.insert("distro_series".into(), vec![invalid_choice(s, "distro_series", &choices)]);
        }
        ok
    });
    let (Some(osystem), Some(series), Some(key)) = (osystem, series, key) else {
        return Err(Error::Validation(errors));
    };
    let (series_os, release) = series.split_once('/').unwrap_or(("", series.as_str()));
    if series_os != osystem {
        return Err(Error::field(
            "__all__",
            format!("{release} in distro_series does not match with operating system {osystem}"),
        ));
    }
    if !valid_windows_key(&key) {
        return Err(Error::field("__all__", "Invalid license key."));
    }
    Ok((osystem, release.to_string(), key))
}

pub fn get(c: &mut DbConn, osystem: &str, distro_series: &str) -> Result<LicenseKey> {
    db::license_keys::get(c, osystem, distro_series)?.ok_or(Error::NotFound("LicenseKey"))
}

pub fn create(c: &mut DbConn, input: &LicenseKeyInput) -> Result<LicenseKey> {
    let (osystem, series, key) = validate(input)?;
    // Checked first so PostgreSQL's transaction is not aborted by the
    // constraint; the primary key still settles a race.
    if db::license_keys::get(c, &osystem, &series)?.is_some() {
        return Err(Error::field("__all__", db::license_keys::DUPLICATE));
    }
    db::license_keys::insert(c, &osystem, &series, &key)?;
    get(c, &osystem, &series)
}

/// Updates the key of `osystem/distro_series`; fields left out keep their
/// value (the series as `os/series`, MAAS's initial value for the form).
pub fn update(c: &mut DbConn, osystem: &str, distro_series: &str, input: &LicenseKeyInput) -> Result<LicenseKey> {
    let old = get(c, osystem, distro_series)?;
    let merged = LicenseKeyInput {
        osystem: input.osystem.clone().or_else(|| Some(old.osystem.clone())),
        distro_series: input.distro_series.clone().or_else(|| Some(format!("{}/{}", old.osystem, old.distro_series))),
        license_key: input.license_key.clone().or_else(|| Some(old.license_key.clone())),
    };
    let (new_os, new_series, key) = validate(&merged)?;
    let moved = (new_os.as_str(), new_series.as_str()) != (osystem, distro_series);
    if moved && db::license_keys::get(c, &new_os, &new_series)?.is_some() {
        return Err(Error::field("__all__", db::license_keys::DUPLICATE));
    }
    db::license_keys::update(c, (osystem, distro_series), (&new_os, &new_series), &key)?;
    get(c, &new_os, &new_series)
}

pub fn delete(c: &mut DbConn, osystem: &str, distro_series: &str) -> Result<()> {
    db::license_keys::delete(c, osystem, distro_series)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_keys() {
        assert!(valid_windows_key("ABCDE-12345-fghij-67890-KLMNO"));
        assert!(!valid_windows_key("ABCDE-12345-fghij-67890"));
        assert!(!valid_windows_key("ABCDE-12345-fghij-67890-KLMN!"));
        assert!(!valid_windows_key("ABCDE-12345-fghij-67890-KLMNOP"));
    }

    #[test]
    fn choices_follow_maas_titles() {
        let c = series_choices();
        assert_eq!(c.first().map(String::as_str), Some("windows/win10ent"));
        assert_eq!(c.len(), WINDOWS_RELEASES.len());
        let e = invalid_choice("x", "osystem", &["windows".to_string()]);
        assert_eq!(e, "'x' is not a valid osystem.  It should be one of: 'windows'.");
    }
}
