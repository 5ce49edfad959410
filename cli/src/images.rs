//! `ironpool images list|upload|import`: boot resources through a running
//! region's API, signed with an API key like any MAAS client.
//!
//! `upload` uses MAAS's chunked protocol (create with sha256 and size, then
//! PUT 4 MiB chunks to the file's `upload_uri`), so an image of any size
//! streams from disk to disk and never sits whole in memory on either side.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use ironpool_common::apikey::ApiKey;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

/// As python-libmaas and the MAAS CLI send them.
const CHUNK: usize = 4 * 1024 * 1024;

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// The region's MAAS URL.
    #[arg(long, env = "IRONPOOL_URL", default_value = "http://127.0.0.1:5240/MAAS/")]
    pub url: String,
    /// An administrator's API key (`ironpool apikey --username NAME`).
    #[arg(long, env = "IRONPOOL_APIKEY", hide_env_values = true)]
    pub apikey: String,
    #[command(subcommand)]
    pub command: ImagesCommand,
}

#[derive(Subcommand, Debug)]
pub enum ImagesCommand {
    /// List boot resources.
    List {
        /// synced, uploaded, generated or all.
        #[arg(long = "type", default_value = "all")]
        rtype: String,
    },
    /// Upload an image file (custom image or os/series).
    Upload {
        file: PathBuf,
        /// os/series or a custom name, e.g. custom/centos.
        #[arg(long)]
        name: String,
        /// arch/subarch.
        #[arg(long, default_value = "amd64/generic")]
        architecture: String,
        #[arg(long)]
        title: Option<String>,
        /// tgz, tbz, txz, ddtgz, ddtbz, ddtxz, ddtar, ddbz2, ddgz, ddxz or ddraw.
        #[arg(long, default_value = "tgz")]
        filetype: String,
        #[arg(long)]
        base_image: Option<String>,
    },
    /// Import from the boot sources (optionally adding one first) and wait.
    Import {
        /// Add this simplestreams mirror (URL or path) as a boot source.
        #[arg(long)]
        source: Option<String>,
        /// With --source: the binary GPG keyring (a path on the region) its
        /// signed streams are verified with, e.g.
        /// /usr/share/keyrings/ubuntu-cloudimage-keyring.gpg.
        #[arg(long, conflicts_with = "skip_keyring_verification")]
        keyring: Option<String>,
        /// With --source: import the mirror's unsigned streams without
        /// verifying signatures (a mirror you built yourself).
        #[arg(long)]
        skip_keyring_verification: bool,
        /// With --source: the os of the selection.
        #[arg(long, default_value = "ubuntu")]
        os: String,
        /// With --source: releases to select (repeat or comma-separate).
        #[arg(long, value_delimiter = ',')]
        release: Vec<String>,
        /// With --source: architectures to select.
        #[arg(long, value_delimiter = ',', default_value = "amd64")]
        arches: Vec<String>,
        /// Start the import and return at once.
        #[arg(long)]
        no_wait: bool,
    },
}

struct Api {
    base: String,
    key: ApiKey,
    http: reqwest::Client,
}

static NONCE: AtomicU64 = AtomicU64::new(0);

impl Api {
    fn auth(&self) -> String {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        format!(
            "OAuth oauth_version=\"1.0\", oauth_signature_method=\"PLAINTEXT\", oauth_consumer_key=\"{}\", \
             oauth_token=\"{}\", oauth_signature=\"&{}\", oauth_nonce=\"{}{}{}\", oauth_timestamp=\"{}\"",
            self.key.consumer_key,
            self.key.token_key,
            self.key.token_secret,
            now.as_nanos(),
            std::process::id(),
            NONCE.fetch_add(1, Ordering::SeqCst),
            now.as_secs()
        )
    }

    fn url(&self, rel: &str) -> String {
        if rel.starts_with('/') {
            // An absolute path from the API (upload_uri): join to our origin.
            match url::Url::parse(&self.base).and_then(|u| u.join(rel)) {
                Ok(u) => u.to_string(),
                Err(_) => rel.to_string(),
            }
        } else {
            format!("{}api/2.0/{rel}", self.base)
        }
    }

    async fn send(&self, rb: reqwest::RequestBuilder) -> anyhow::Result<String> {
        let r = rb.header(reqwest::header::AUTHORIZATION, self.auth()).send().await?;
        let status = r.status();
        let body = r.text().await?;
        if !status.is_success() {
            bail!("HTTP {status}: {body}");
        }
        Ok(body)
    }

    async fn get(&self, rel: &str) -> anyhow::Result<Value> {
        Ok(serde_json::from_str(&self.send(self.http.get(self.url(rel))).await?)?)
    }

    async fn post(&self, rel: &str, form: &[(&str, &str)]) -> anyhow::Result<String> {
        self.send(self.http.post(self.url(rel)).form(form)).await
    }
}

pub fn run(args: ImagesArgs) -> anyhow::Result<()> {
    let key: ApiKey = args.apikey.parse().context("--apikey")?;
    let mut base = args.url.clone();
    if !base.ends_with('/') {
        base.push('/');
    }
    url::Url::parse(&base).context("--url")?;
    let api = Api { base, key, http: reqwest::Client::new() };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move {
        match args.command {
            ImagesCommand::List { rtype } => list(&api, &rtype).await,
            ImagesCommand::Upload { file, name, architecture, title, filetype, base_image } => {
                upload(&api, file, &name, &architecture, title, &filetype, base_image).await
            }
            ImagesCommand::Import { source, keyring, skip_keyring_verification, os, release, arches, no_wait } => {
                let source = source.map(|url| SourceArg { url, keyring, skip_keyring_verification });
                import(&api, source, &os, &release, &arches, no_wait).await
            }
        }
    })
}

async fn list(api: &Api, rtype: &str) -> anyhow::Result<()> {
    let all = api.get(&format!("boot-resources/?type={rtype}")).await?;
    println!("{:<6} {:<10} {:<28} {:<20} TITLE", "ID", "TYPE", "NAME", "ARCHITECTURE");
    for r in all.as_array().into_iter().flatten() {
        println!(
            "{:<6} {:<10} {:<28} {:<20} {}",
            r["id"].to_string(),
            r["type"].as_str().unwrap_or(""),
            r["name"].as_str().unwrap_or(""),
            r["architecture"].as_str().unwrap_or(""),
            r["title"].as_str().unwrap_or("")
        );
    }
    Ok(())
}

fn bytes_bar(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

async fn upload(
    api: &Api,
    file: PathBuf,
    name: &str,
    architecture: &str,
    title: Option<String>,
    filetype: &str,
    base_image: Option<String>,
) -> anyhow::Result<()> {
    let size = tokio::fs::metadata(&file).await.with_context(|| file.display().to_string())?.len();
    // Hash first: the region checks the content against it.
    let pb = bytes_bar(size, "hashing");
    let mut f = tokio::fs::File::open(&file).await?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = f.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        pb.inc(n as u64);
    }
    pb.finish_and_clear();
    let sha: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let size_s = size.to_string();
    let mut form = vec![
        ("name", name),
        ("architecture", architecture),
        ("filetype", filetype),
        ("sha256", sha.as_str()),
        ("size", size_s.as_str()),
    ];
    if let Some(t) = &title {
        form.push(("title", t));
    }
    if let Some(b) = &base_image {
        form.push(("base_image", b));
    }
    let created: Value = serde_json::from_str(&api.post("boot-resources/", &form).await?)?;
    let sets = created["sets"].as_object().context("no sets in the response")?;
    let newest = sets.keys().max().context("no set in the response")?;
    let fobj = sets[newest]["files"].as_object().and_then(|m| m.values().next()).context("no file in the set")?;
    if fobj["complete"] == Value::Bool(true) {
        println!("Uploaded {name} ({architecture}): the region already had this content.");
        return Ok(());
    }
    let uri = fobj["upload_uri"].as_str().context("no upload_uri")?.to_string();
    let pb = bytes_bar(size, "uploading");
    let mut f = tokio::fs::File::open(&file).await?;
    loop {
        let mut chunk = Vec::with_capacity(CHUNK);
        (&mut f).take(CHUNK as u64).read_to_end(&mut chunk).await?;
        if chunk.is_empty() {
            break;
        }
        let n = chunk.len() as u64;
        api.send(
            api.http.put(api.url(&uri)).header(reqwest::header::CONTENT_TYPE, "application/octet-stream").body(chunk),
        )
        .await
        .context("uploading a chunk")?;
        pb.inc(n);
    }
    pb.finish_and_clear();
    println!("Uploaded {name} ({architecture}), {size} bytes, sha256 {sha}.");
    Ok(())
}

/// `--source` with how its signatures are checked.
struct SourceArg {
    url: String,
    keyring: Option<String>,
    skip_keyring_verification: bool,
}

async fn import(
    api: &Api,
    source: Option<SourceArg>,
    os: &str,
    releases: &[String],
    arches: &[String],
    no_wait: bool,
) -> anyhow::Result<()> {
    if let Some(source) = source {
        let url = source.url.clone();
        let existing = api.get("boot-sources/").await?;
        let id = match existing.as_array().into_iter().flatten().find(|s| s["url"] == url.as_str()) {
            Some(s) => s["id"].as_i64().unwrap_or_default(),
            None => {
                let mut form = vec![("url", url.as_str())];
                match (&source.keyring, source.skip_keyring_verification) {
                    (Some(k), _) => form.push(("keyring_filename", k.as_str())),
                    (None, true) => form.push(("skip_keyring_verification", "true")),
                    (None, false) => bail!(
                        "a boot source needs --keyring PATH (a binary GPG keyring on the region) to verify the \
                         mirror's signatures, or --skip-keyring-verification for an unsigned mirror"
                    ),
                }
                let v: Value = serde_json::from_str(&api.post("boot-sources/", &form).await?)?;
                v["id"].as_i64().context("no id for the new boot source")?
            }
        };
        let sels = api.get(&format!("boot-sources/{id}/selections/")).await?;
        for release in releases {
            let have = sels.as_array().into_iter().flatten().any(|s| s["os"] == os && s["release"] == release.as_str());
            if !have {
                let mut form = vec![("os", os), ("release", release.as_str())];
                form.extend(arches.iter().map(|a| ("arches", a.as_str())));
                api.post(&format!("boot-sources/{id}/selections/"), &form).await?;
            }
        }
    }
    println!("{}", api.post("boot-resources/?op=import", &[]).await?);
    if no_wait {
        return Ok(());
    }
    let pb = ProgressBar::new_spinner();
    pb.set_message("importing");
    pb.enable_steady_tick(Duration::from_millis(120));
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if api.get("boot-resources/?op=is_importing").await? == Value::Bool(false) {
            break;
        }
    }
    pb.finish_and_clear();
    // Failures reach administrators as notifications.
    let notes = api.get("notifications/").await.unwrap_or(Value::Null);
    for n in notes.as_array().into_iter().flatten() {
        if let Some(m) = n["message"].as_str().filter(|m| m.starts_with("Failed to import boot resources")) {
            eprintln!("{m}");
        }
    }
    list(api, "synced").await
}
