//! An image on its way from the region to a disk: the checked download
//! (size and SHA-256 of what came, handed to a blocking consumer as it
//! arrives), decompression, and spoiling a disk whose install failed.
//!
//! Shared by the disk-image writer ([`crate::deploy`]), the root-image
//! installer ([`crate::installer`]) and URL packages ([`crate::packages`]),
//! so the writer and the installer need not reach into each other.

use std::io::{Read, Write};
use std::path::Path;

use ironpool_common::deploy::{Compression, DeployImage};
use sha2::{Digest, Sha256};

use crate::client::{AgentError, MetadataClient, Result};

fn err(msg: impl Into<String>) -> AgentError {
    AgentError::Protocol(msg.into())
}

/// `input` decompressed as `compression` says (also the runner's URL
/// packages: `crate::packages`).
pub fn decoder(input: impl std::io::BufRead + Send + 'static, compression: Compression) -> Box<dyn Read> {
    match compression {
        Compression::None => Box::new(input),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        Compression::Bzip2 => Box::new(bzip2_rs::DecoderReader::new(input)),
        Compression::Xz => Box::new(XzReader::new(input)),
    }
}

/// lzma-rs decodes xz from a reader into a writer in one call; this runs it
/// on a thread and exposes the output as a reader.
struct XzReader {
    rx: std::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>,
    buf: Vec<u8>,
    pos: usize,
}

impl XzReader {
    fn new(input: impl std::io::BufRead + Send + 'static) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel(4);
        std::thread::spawn(move || {
            struct Tx(std::sync::mpsc::SyncSender<std::io::Result<Vec<u8>>>);
            impl Write for Tx {
                fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                    self.0.send(Ok(b.to_vec())).map_err(|_| std::io::Error::other("reader gone"))?;
                    Ok(b.len())
                }
                fn flush(&mut self) -> std::io::Result<()> {
                    Ok(())
                }
            }
            let mut input = input;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, Tx(tx.clone()));
            let r = lzma_rs::xz_decompress(&mut input, &mut w).map_err(|e| std::io::Error::other(format!("xz: {e:?}")));
            let r = r.and_then(|_| w.flush());
            if let Err(e) = r {
                let _ = tx.send(Err(e));
            }
        });
        XzReader { rx, buf: Vec::new(), pos: 0 }
    }
}

impl Read for XzReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.buf.len() {
            match self.rx.recv() {
                Ok(Ok(b)) => {
                    self.buf = b;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Bytes arriving from the download task, as a blocking reader.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.buf.len() {
            match self.rx.blocking_recv() {
                Some(b) => {
                    self.buf = b;
                    self.pos = 0;
                }
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Downloads `image`, handing the bytes as they arrive to `consume` (on a
/// blocking thread) while hashing them; fails unless what came matches the
/// image's size and SHA-256, or when `consume` fails. Returns the bytes
/// downloaded and what `consume` returned.
pub async fn stream_image<T: Send + 'static>(
    md: &MetadataClient,
    image: &DeployImage,
    consume: impl FnOnce(Box<dyn Read + Send>) -> Result<T> + Send + 'static,
) -> Result<(u64, T)> {
    let mut resp = md.download(&image.url).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    let writer = tokio::task::spawn_blocking(move || consume(Box::new(ChannelReader { rx, buf: Vec::new(), pos: 0 })));
    let mut hash = Sha256::new();
    let mut got = 0u64;
    let mut download_error = None;
    loop {
        match resp.chunk().await {
            Ok(Some(b)) => {
                hash.update(&b);
                got += b.len() as u64;
                if tx.send(b.to_vec()).await.is_err() {
                    break; // the writer failed; its error says why
                }
            }
            Ok(None) => break,
            Err(e) => {
                download_error = Some(format!("the image download broke off after {got} bytes: {e}"));
                break;
            }
        }
    }
    drop(tx);
    let written = writer.await.map_err(|e| err(format!("the image writer crashed: {e}")))?;
    if let Some(e) = download_error {
        return Err(err(e));
    }
    let sha = hex::encode(hash.finalize());
    if got != image.size || sha != image.sha256 {
        return Err(err(format!(
            "the downloaded image does not match: {got} bytes with SHA-256 {sha}, expected {} bytes with {}",
            image.size, image.sha256
        )));
    }
    Ok((got, written?))
}

/// Overwrites the first MiB of `target`, so a disk whose install failed
/// half-way does not boot a half-written image.
pub fn spoil(target: &Path) {
    if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(target) {
        let _ = f.write_all(&vec![0u8; 1 << 20]);
        let _ = f.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Credentials;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-shot HTTP server on loopback answering every request with
    /// `body`; its URL.
    async fn serve(body: &'static [u8]) -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/images/x", l.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = l.accept().await {
                let mut req = vec![0u8; 4096];
                let _ = sock.read(&mut req).await;
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(body).await;
            }
        });
        url
    }

    fn client() -> MetadataClient {
        let creds = Credentials { consumer_key: "c".into(), token_key: "t".into(), token_secret: "s".into() };
        MetadataClient::new(crate::client::http_client(), "http://127.0.0.1:1/MAAS/metadata/", creds)
    }

    fn image(url: String, body: &[u8]) -> DeployImage {
        DeployImage {
            name: "custom/x".into(),
            filetype: "tgz".into(),
            url,
            sha256: hex::encode(Sha256::digest(body)),
            size: body.len() as u64,
        }
    }

    fn drain(mut r: Box<dyn Read + Send>) -> Result<u64> {
        std::io::copy(&mut r, &mut std::io::sink()).map_err(|e| err(e.to_string()))
    }

    #[tokio::test]
    async fn what_arrives_is_checked_against_size_and_sha256() {
        let body: &'static [u8] = b"the image as the region has it";
        let url = serve(body).await;
        let (got, kept) = stream_image(&client(), &image(url.clone(), body), |mut r| {
            let mut v = Vec::new();
            r.read_to_end(&mut v).map_err(|e| err(e.to_string()))?;
            Ok(v)
        })
        .await
        .unwrap();
        assert_eq!((got, kept.as_slice()), (body.len() as u64, body));

        // The same length with other bytes: a corrupted copy on the rack.
        let mut want = image(url, b"the image as the region had it");
        let e = stream_image(&client(), &want, drain).await.unwrap_err().to_string();
        assert!(e.contains("does not match") && e.contains(&want.sha256), "{e}");
        // Shorter than the document says: cut off.
        want.sha256 = hex::encode(Sha256::digest(body));
        want.size += 1;
        let e = stream_image(&client(), &want, drain).await.unwrap_err().to_string();
        assert!(e.contains(&format!("{} bytes", body.len())), "{e}");
    }
}
