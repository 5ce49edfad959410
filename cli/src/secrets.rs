//! Secrets given to the `ironpool` command: from a file, the environment,
//! or (discouraged) a flag.
//!
//! A flag's value is in the process's argv, which every local user can read
//! with `ps` or `/proc/<pid>/cmdline` for as long as the command runs (the
//! rack runs for ever), so a flag still works but earns a warning; a file
//! (mode 0600) or an environment variable is private to the user.

use std::path::Path;

/// Whether `flag` (`--secret`) appears in this process's own arguments, as
/// opposed to its value coming from the environment through clap's `env`.
fn on_command_line(flag: &str) -> bool {
    let with_value = format!("{flag}=");
    std::env::args().any(|a| a == flag || a.starts_with(&with_value))
}

/// The secret from `file` if given, else from `value` (the flag or its
/// environment variable); `None` when neither is set. Warns on stderr when
/// the value came from `flag` on the command line. `has_file` says whether
/// the command has a `<flag>-file` option to suggest.
pub fn resolve(
    flag: &str,
    env: &str,
    value: Option<String>,
    file: Option<&Path>,
    has_file: bool,
) -> anyhow::Result<Option<String>> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{flag}-file: cannot read {}: {e}", path.display()))?;
        // Files written by `echo` or an editor end with a newline that is no part of the secret.
        let s = text.trim_end_matches(['\n', '\r']);
        if s.is_empty() {
            anyhow::bail!("{flag}-file: {} is empty", path.display());
        }
        return Ok(Some(s.to_string()));
    }
    if value.is_some() && on_command_line(flag) {
        let file_hint = if has_file { format!("{flag}-file FILE or ") } else { String::new() };
        eprintln!(
            "warning: {flag} puts the secret on the command line, where other users of this machine can read it \
             (ps, /proc); use {file_hint}the {env} environment variable instead"
        );
    }
    Ok(value.filter(|v| !v.is_empty()))
}
