//! Verifying signed simplestreams documents (`.sjson`) with `gpgv`.
//!
//! A boot source's keyring (a file on the region, or the keyring bytes
//! stored with the source) decides which signers are trusted. Each signed
//! document is written to a private scratch directory and checked with
//! `gpgv --homedir <scratch> --keyring <keyring> --output - <document>`:
//! gpgv needs no network and no home directory of its own, and its default
//! keyring (`trustedkeys.kbx` in the home directory) is never consulted
//! because `--keyring` is given. Only what gpgv prints — the signed text,
//! with the armour and any unsigned text around it gone — is handed on, and
//! only when gpgv exits 0: on a BAD signature gpgv still prints the
//! (tampered) text, so its output is worthless without the exit status.
//!
//! gpgv rather than a Rust OpenPGP library: it is what MAAS and
//! python-simplestreams run, it is on every Debian and Ubuntu system, and it
//! keeps OpenPGP parsing of mirror data out of the region's process.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// How long one gpgv run may take; a products file of images.maas.io is a
/// few MB and verifies in well under a second.
const GPGV_TIMEOUT: Duration = Duration::from_secs(120);

/// The first bytes of an ASCII-armoured OpenPGP block. gpgv only reads
/// binary keyrings, so an armoured one is refused where it is given.
pub const ARMOR_HEADER: &[u8] = b"-----BEGIN PGP";

/// Removes the scratch directories under `scratch_parent` that a region
/// which died mid-import left behind (a keyring copy may sit in one). Call
/// at start, before any import of this data directory can run.
pub fn sweep(scratch_parent: &Path) {
    let Ok(entries) = std::fs::read_dir(scratch_parent) else { return };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with("gpgv-") && e.path().is_dir() {
            if let Err(err) = std::fs::remove_dir_all(e.path()) {
                tracing::warn!(path = %e.path().display(), error = %err, "cannot remove a leftover gpgv scratch directory");
            }
        }
    }
}

/// A keyring ready for gpgv, with the scratch directory gpgv runs in.
/// Dropping it removes the scratch directory (and a keyring written there).
pub struct Keyring {
    keyring: PathBuf,
    scratch: tempfile::TempDir,
}

impl Keyring {
    /// A keyring for one boot source: `filename` if it is set, else `data`
    /// written to a 0600 file in a fresh 0700 scratch directory under
    /// `scratch_parent` (inside the region's data dir, never `/tmp`).
    pub fn prepare(scratch_parent: &Path, filename: &str, data: &[u8]) -> Result<Keyring, String> {
        std::fs::create_dir_all(scratch_parent)
            .map_err(|e| format!("cannot create {}: {e}", scratch_parent.display()))?;
        // tempfile creates the directory 0700 and files 0600.
        let scratch = tempfile::Builder::new()
            .prefix("gpgv-")
            .tempdir_in(scratch_parent)
            .map_err(|e| format!("cannot create a scratch directory in {}: {e}", scratch_parent.display()))?;
        let keyring = if !filename.is_empty() {
            // gpgv looks a name without a slash up in its home directory:
            // only an absolute path means the file the administrator named.
            let p = PathBuf::from(filename);
            if !p.is_absolute() {
                return Err(format!("keyring_filename '{filename}' is not an absolute path"));
            }
            // stat, then open (never a FIFO, which would block the open).
            match std::fs::metadata(&p) {
                Ok(m) if m.is_file() => {}
                Ok(_) => return Err(format!("the keyring file {filename} is not a regular file")),
                Err(e) => return Err(format!("cannot read the keyring file {filename}: {e}")),
            }
            if let Err(e) = std::fs::File::open(&p) {
                return Err(format!("cannot read the keyring file {filename}: {e}"));
            }
            p
        } else if !data.is_empty() {
            let p = scratch.path().join("keyring.gpg");
            write_private(&p, data).map_err(|e| format!("cannot write the keyring to {}: {e}", p.display()))?;
            p
        } else {
            return Err("the boot source has no keyring".into());
        };
        Ok(Keyring { keyring, scratch })
    }

    /// Verifies a signed document and returns only the signed content.
    /// `what` names the document in messages. Err says why, always with the
    /// word "signature" and gpgv's own explanation.
    pub async fn verify(&self, signed: &[u8], what: &str) -> Result<Vec<u8>, String> {
        let doc = self.scratch.path().join("document.sjson");
        tokio::fs::write(&doc, signed).await.map_err(|e| format!("{what}: cannot write {}: {e}", doc.display()))?;
        let run = tokio::process::Command::new("gpgv")
            .arg("--homedir")
            .arg(self.scratch.path())
            .arg("--keyring")
            .arg(&self.keyring)
            .arg("--output")
            .arg("-")
            .arg(&doc)
            // English messages in the report; no agent or home of the caller.
            .env("LC_ALL", "C")
            .env_remove("GNUPGHOME")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output();
        let out = match tokio::time::timeout(GPGV_TIMEOUT, run).await {
            Err(_) => return Err(format!("{what}: signature verification timed out after {GPGV_TIMEOUT:?}")),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!(
                    "{what}: cannot verify the signature: gpgv is not installed (apt install gpgv), or set \
                     skip_keyring_verification on the boot source"
                ))
            }
            Ok(Err(e)) => return Err(format!("{what}: cannot run gpgv to verify the signature: {e}")),
            Ok(Ok(out)) => out,
        };
        let _ = tokio::fs::remove_file(&doc).await;
        if !out.status.success() {
            return Err(format!(
                "{what}: signature verification failed (keyring {}): {}",
                self.keyring.display(),
                gpgv_says(&out.stderr)
            ));
        }
        Ok(out.stdout)
    }
}

/// gpgv's explanation, on one line and cut short: the lines that say what
/// went wrong ("BAD signature", "No public key", "no valid OpenPGP data").
fn gpgv_says(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.trim_start_matches("gpgv:").trim())
        .filter(|l| !l.is_empty() && !l.starts_with("Signature made") && !l.starts_with("using "))
        .collect();
    let mut said = if lines.is_empty() { "gpgv refused it".to_string() } else { lines.join("; ") };
    if said.len() > 400 {
        let mut cut = 400;
        while !said.is_char_boundary(cut) {
            cut -= 1;
        }
        said.truncate(cut);
        said.push('…');
    }
    said
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpgv_explanation_keeps_the_reason() {
        let s = gpgv_says(
            b"gpgv: Signature made Wed Dec  2 08:16:54 2026 UTC\ngpgv:                using EDDSA key 92\n\
              gpgv: BAD signature from \"Ironpool test <t@example>\"\n",
        );
        assert_eq!(s, "BAD signature from \"Ironpool test <t@example>\"");
        assert_eq!(gpgv_says(b""), "gpgv refused it");
        assert!(gpgv_says("é".repeat(500).as_bytes()).ends_with('…'));
    }
}
