//! A script's `packages` (MAAS's `install_dependencies`), installed before
//! it runs: `apt` packages with apt-get, `snap` packages with snap, and
//! `url` downloads into the script's `DOWNLOAD_PATH`, where a tar archive
//! (plain, gzip, xz or bzip2) is unpacked, a `.deb` is installed with dpkg
//! and a `.snap` with snap.
//!
//! The region is told with `signal` INSTALLING while this runs; a failure
//! is reported the same way with the installer's exit status and output
//! (the region records Failed installing) and the script is not run.
//!
//! Off the machine (the runner in a test on a developer's or CI's host,
//! `scripts::Mode::Real`) nothing is installed into the host: apt, snap
//! and `.deb` packages fail with a message saying why; URL downloads into
//! the scratch directory still happen.
//!
//! Ironpool's own ephemeral environment is busybox without a package
//! manager: a script that needs apt or snap packages fails there with a
//! message saying so, rather than running without what it needs. `url`
//! packages work everywhere (the agent downloads them itself). Zip
//! archives are kept as downloaded, not unpacked.

use std::path::{Path, PathBuf};

use ironpool_common::deploy::Compression;
use serde_json::Value;

/// What installing ended with: `Err` carries the exit status and output of
/// the step that failed.
pub type Installed = std::result::Result<(), (i32, Vec<u8>)>;

/// The package names of one kind (`apt`, `snap`: strings, or snap's
/// `{name, channel, mode}`; `url`: strings).
fn list<'a>(packages: &'a Value, kind: &str) -> Vec<&'a Value> {
    match packages.get(kind) {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(v @ Value::String(_)) => vec![v],
        _ => Vec::new(),
    }
}

/// Whether `packages` asks for anything.
pub fn wanted(packages: &Value) -> bool {
    ["apt", "snap", "url"].iter().any(|k| !list(packages, k).is_empty())
}

fn on_path(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join(tool)).find(|f| f.is_file()))
        .unwrap_or(None)
}

/// Runs one installer command, appending its output to `log`.
async fn run(cmd: &[&str], log: &mut Vec<u8>) -> Installed {
    log.extend_from_slice(format!("$ {}\n", cmd.join(" ")).as_bytes());
    let out = tokio::process::Command::new(cmd[0])
        .args(&cmd[1..])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(std::process::Stdio::null())
        .output()
        .await;
    match out {
        Ok(o) => {
            log.extend_from_slice(&o.stdout);
            log.extend_from_slice(&o.stderr);
            if o.status.success() {
                Ok(())
            } else {
                Err((o.status.code().unwrap_or(1), std::mem::take(log)))
            }
        }
        Err(e) => {
            log.extend_from_slice(format!("cannot run {}: {e}\n", cmd[0]).as_bytes());
            Err((127, std::mem::take(log)))
        }
    }
}

/// A tool the packages need but this environment lacks.
fn missing(tool: &str, why: &str, log: &mut Vec<u8>) -> Installed {
    log.extend_from_slice(
        format!("{tool} is not available in this environment (Ironpool's ephemeral environment has no package manager): cannot install {why}\n")
            .as_bytes(),
    );
    Err((127, std::mem::take(log)))
}

/// Not this host's packages to change (see the module doc).
fn not_here(what: &str, log: &mut Vec<u8>) -> Installed {
    log.extend_from_slice(
        format!("not installing {what} into this host: the agent is not running on the machine being commissioned\n")
            .as_bytes(),
    );
    Err((1, std::mem::take(log)))
}

/// Installs `packages` (see the module doc), downloading `url` ones with
/// `http` into `downloads`. `system`: this is the machine, whose packages
/// may be installed.
pub async fn install(http: &reqwest::Client, packages: &Value, downloads: &Path, system: bool) -> Installed {
    let mut log = Vec::new();
    let apt: Vec<String> = list(packages, "apt").into_iter().filter_map(|v| v.as_str().map(str::to_string)).collect();
    if !apt.is_empty() {
        if !system {
            return not_here(&format!("apt packages {}", apt.join(", ")), &mut log);
        }
        if on_path("apt-get").is_none() {
            return missing("apt-get", &format!("apt packages {}", apt.join(", ")), &mut log);
        }
        if !Path::new("/var/cache/apt/pkgcache.bin").exists() {
            run(&["apt-get", "-qy", "update"], &mut log).await?;
        }
        let mut cmd = vec!["apt-get", "-qy", "--no-install-recommends", "install"];
        cmd.extend(apt.iter().map(String::as_str));
        run(&cmd, &mut log).await?;
    }
    for snap in list(packages, "snap") {
        let mut cmd = vec!["snap".to_string(), "install".to_string()];
        match snap {
            Value::String(name) => cmd.push(name.clone()),
            Value::Object(o) => {
                let Some(name) = o.get("name").and_then(Value::as_str) else { continue };
                cmd.push(name.to_string());
                if let Some(ch) = o.get("channel").and_then(Value::as_str) {
                    cmd.push(format!("--{ch}"));
                }
                match o.get("mode").and_then(Value::as_str) {
                    Some("classic") => cmd.push("--classic".into()),
                    Some(m) => cmd.push(format!("--{m}mode")),
                    None => {}
                }
            }
            _ => continue,
        }
        if !system {
            return not_here(&format!("snap package {}", cmd[2]), &mut log);
        }
        if on_path("snap").is_none() {
            return missing("snap", &format!("snap package {}", cmd[2]), &mut log);
        }
        let refs: Vec<&str> = cmd.iter().map(String::as_str).collect();
        run(&refs, &mut log).await?;
    }
    for url in list(packages, "url").into_iter().filter_map(Value::as_str) {
        let file = download(http, url, downloads, &mut log).await?;
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if (name.ends_with(".deb") || name.ends_with(".snap")) && !system {
            return not_here(&name, &mut log);
        }
        if name.ends_with(".deb") {
            if on_path("dpkg").is_none() {
                return missing("dpkg", &name, &mut log);
            }
            let path = file.to_string_lossy().into_owned();
            // dpkg may only lack dependencies: apt-get -f brings them.
            let _ = run(&["dpkg", "-i", &path], &mut log).await;
            if on_path("apt-get").is_none() {
                return missing("apt-get", &format!("the dependencies of {name}"), &mut log);
            }
            run(&["apt-get", "install", "-qyf", "--no-install-recommends"], &mut log).await?;
        } else if name.ends_with(".snap") {
            if on_path("snap").is_none() {
                return missing("snap", &name, &mut log);
            }
            run(&["snap", "install", "--dangerous", &file.to_string_lossy()], &mut log).await?;
        } else {
            unpack_if_tar(&file, downloads, &mut log)?;
        }
    }
    Ok(())
}

/// Downloads `url` into `dir` under the name its path ends with
/// (`index.html` when it names none, as wget does).
async fn download(http: &reqwest::Client, url: &str, dir: &Path, log: &mut Vec<u8>) -> Result<PathBuf, (i32, Vec<u8>)> {
    let fail = |log: &mut Vec<u8>, why: String| {
        log.extend_from_slice(format!("cannot download {url}: {why}\n").as_bytes());
        Err((1, std::mem::take(log)))
    };
    let parsed = match reqwest::Url::parse(url) {
        Ok(u) => u,
        Err(e) => return fail(log, e.to_string()),
    };
    let name = parsed
        .path_segments()
        .and_then(|mut s| s.next_back().map(str::to_string))
        .filter(|n| !n.is_empty() && n != "." && n != "..")
        .unwrap_or_else(|| "index.html".into());
    let body = match http.get(parsed).send().await {
        Ok(r) if r.status().is_success() => match r.bytes().await {
            Ok(b) => b,
            Err(e) => return fail(log, e.to_string()),
        },
        Ok(r) => return fail(log, format!("the server answered {}", r.status())),
        Err(e) => return fail(log, e.to_string()),
    };
    if let Err(e) = std::fs::create_dir_all(dir) {
        return fail(log, e.to_string());
    }
    let path = dir.join(&name);
    if let Err(e) = std::fs::write(&path, &body) {
        return fail(log, format!("cannot write {}: {e}", path.display()));
    }
    log.extend_from_slice(format!("Saving to: '{}' ({} bytes)\n", path.display(), body.len()).as_bytes());
    Ok(path)
}

/// Unpacks `file` into `dir` when it is a tar archive, plain or compressed
/// (known by its first bytes, not its name); anything else stays as it is.
fn unpack_if_tar(file: &Path, dir: &Path, log: &mut Vec<u8>) -> Installed {
    let data = std::fs::read(file).map_err(|e| (1, format!("cannot read {}: {e}\n", file.display()).into_bytes()))?;
    let compression = match data.as_slice() {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Compression::Xz,
        [b'B', b'Z', b'h', ..] => Compression::Bzip2,
        _ => Compression::None,
    };
    let mut plain = Vec::new();
    let mut reader = crate::image::decoder(std::io::Cursor::new(data), compression);
    if let Err(e) = std::io::Read::read_to_end(&mut reader, &mut plain) {
        // A compressed file that is not a tar (or is damaged): kept as is.
        log.extend_from_slice(
            format!("{} is not an archive this runner unpacks ({e}); kept\n", file.display()).as_bytes(),
        );
        return Ok(());
    }
    if plain.get(257..262) != Some(b"ustar") {
        return Ok(());
    }
    tar::Archive::new(std::io::Cursor::new(plain)).unpack(dir).map_err(|e| {
        log.extend_from_slice(format!("cannot unpack {}: {e}\n", file.display()).as_bytes());
        (1, std::mem::take(log))
    })?;
    log.extend_from_slice(format!("unpacked {} into {}\n", file.display(), dir.display()).as_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn what_is_wanted() {
        assert!(!wanted(&json!({})));
        assert!(!wanted(&json!({"apt": []})));
        assert!(wanted(&json!({"apt": ["fio"]})));
        assert!(wanted(&json!({"snap": [{"name": "x", "channel": "edge"}]})));
        assert!(wanted(&json!({"url": "http://x/y.tgz"})));
    }

    #[test]
    fn compressed_tars_are_unpacked_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        h.set_cksum();
        t.append_data(&mut h, "tool/run.sh", &b"hi\n"[..]).unwrap();
        let raw = t.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &raw).unwrap();
        let f = dir.path().join("download.bin");
        std::fs::write(&f, gz.finish().unwrap()).unwrap();
        let mut log = Vec::new();
        unpack_if_tar(&f, dir.path(), &mut log).unwrap();
        assert_eq!(std::fs::read(dir.path().join("tool/run.sh")).unwrap(), b"hi\n");
        // Not an archive: left alone.
        let g = dir.path().join("notes.txt");
        std::fs::write(&g, b"plain text").unwrap();
        unpack_if_tar(&g, dir.path(), &mut log).unwrap();
        assert_eq!(std::fs::read(&g).unwrap(), b"plain text");
    }
}
