//! Request bodies that can neither pin nor flood a server: every body keeps
//! a [`Pace`] (else the read fails with a time-out the server answers 408),
//! is read under a byte limit ([`read_limited`], 413 past it), and a
//! response that leaves part of its request's body unread closes the
//! connection instead of draining the rest. The region and the rack's HTTP
//! server both install [`paced_bodies`].

use std::cell::RefCell;
use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{HeaderMap, CONTENT_LENGTH, TRANSFER_ENCODING};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::HttpMessage;
use futures_util::{Stream, StreamExt};
use tokio::time::{Instant, Sleep};

/// How fast a request body must arrive. A body may pause at most
/// `timeout` between bytes, and may take at most `timeout` longer than its
/// size needs at `min_rate`; a slower one is cut off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    pub timeout: Duration,
    /// Bytes per second a long body must average; 0 leaves only the pause limit.
    pub min_rate: u64,
}

impl Default for Pace {
    /// 30 s, and 64 KiB/s for long bodies (a 1 GiB upload may take 4.5 hours).
    fn default() -> Self {
        Pace { timeout: Duration::from_secs(30), min_rate: 64 * 1024 }
    }
}

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// More than `limit` bytes (413).
    TooLarge { limit: usize },
    /// The body did not keep its [`Pace`] (408).
    TimedOut,
    /// The connection failed or the framing was invalid (400).
    Broken(String),
}

impl ReadError {
    pub fn of(e: &PayloadError) -> ReadError {
        match e {
            PayloadError::Io(io) if io.kind() == io::ErrorKind::TimedOut => ReadError::TimedOut,
            PayloadError::Overflow => ReadError::Broken("the body is larger than it declared".into()),
            other => ReadError::Broken(other.to_string()),
        }
    }
}

/// The length a request declares for its body, when it declares one.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok())
}

/// Whether a request carries a body at all (a length above 0, or chunked).
pub fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(TRANSFER_ENCODING) || declared_length(headers).is_some_and(|n| n > 0)
}

/// Reads a whole body, refusing more than `limit` bytes: at once when the
/// declared length is over it, else as soon as the bytes that arrived are.
pub async fn read_limited<S>(headers: &HeaderMap, payload: &mut S, limit: usize) -> Result<Vec<u8>, ReadError>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    let declared = declared_length(headers);
    let mut pieces = Limited::new(headers, payload, limit)?;
    let mut body = Vec::with_capacity(declared.map_or(0, |n| n as usize));
    while let Some(piece) = pieces.next().await {
        body.extend_from_slice(&piece?);
    }
    Ok(body)
}

/// A body read piece by piece under a byte limit, for a reader that does
/// not keep it whole (an upload parsed and written to disk as it arrives):
/// refused at once when the declared length is over the limit, else as
/// soon as the bytes that arrived are.
pub struct Limited<'a, S> {
    payload: &'a mut S,
    limit: usize,
    read: usize,
}

impl<'a, S> Limited<'a, S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    pub fn new(headers: &HeaderMap, payload: &'a mut S, limit: usize) -> Result<Self, ReadError> {
        if declared_length(headers).is_some_and(|n| n > limit as u64) {
            return Err(ReadError::TooLarge { limit });
        }
        Ok(Limited { payload, limit, read: 0 })
    }

    /// The next piece; `None` at the end of the body.
    pub async fn next(&mut self) -> Option<Result<Bytes, ReadError>> {
        let piece = match self.payload.next().await? {
            Ok(p) => p,
            Err(e) => return Some(Err(ReadError::of(&e))),
        };
        if self.read + piece.len() > self.limit {
            return Some(Err(ReadError::TooLarge { limit: self.limit }));
        }
        self.read += piece.len();
        Some(Ok(piece))
    }

    /// Bytes read so far.
    pub fn read(&self) -> usize {
        self.read
    }
}

/// The request payload, shared between the paced stream handlers read and
/// the guard that keeps it open until the response is sent.
struct Shared {
    payload: Payload,
    finished: bool,
}

/// A payload that fails with `io::ErrorKind::TimedOut` when the body falls
/// behind its [`Pace`].
struct Paced {
    shared: Rc<RefCell<Shared>>,
    pace: Pace,
    started: Instant,
    last: Instant,
    received: u64,
    /// Sleeps until a deadline at or before the current one; re-armed
    /// lazily when it fires, so chunks do not each reset a timer.
    sleep: Pin<Box<Sleep>>,
    failed: bool,
}

impl Paced {
    fn deadline(&self) -> Instant {
        let idle = later(self.last, self.pace.timeout);
        if self.pace.min_rate == 0 {
            return idle;
        }
        let allowance =
            Duration::try_from_secs_f64(self.received as f64 / self.pace.min_rate as f64).unwrap_or(Duration::MAX);
        idle.min(later(self.started, self.pace.timeout.saturating_add(allowance)))
    }
}

/// `t + d`, saturating at a century (a configured "forever").
fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d.min(Duration::from_secs(100 * 365 * 86_400))).unwrap_or(t)
}

fn timed_out() -> PayloadError {
    PayloadError::Io(io::Error::new(io::ErrorKind::TimedOut, "the request body did not arrive in time"))
}

impl Stream for Paced {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(None);
        }
        let polled = {
            let mut shared = this.shared.borrow_mut();
            if shared.finished {
                return Poll::Ready(None);
            }
            let polled = shared.payload.poll_next_unpin(cx);
            if matches!(polled, Poll::Ready(None)) {
                shared.finished = true;
            }
            polled
        };
        match polled {
            Poll::Ready(Some(Ok(chunk))) => {
                this.received += chunk.len() as u64;
                this.last = Instant::now();
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.failed = true;
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => loop {
                match this.sleep.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(()) => {
                        let deadline = this.deadline();
                        if Instant::now() >= deadline {
                            this.failed = true;
                            return Poll::Ready(Some(Err(timed_out())));
                        }
                        this.sleep.as_mut().reset(deadline);
                    }
                }
            },
        }
    }
}

/// A response body that holds its request's unread payload until it is
/// sent; see [`paced_bodies`].
struct Holding {
    body: BoxBody,
    _unread: Rc<RefCell<Shared>>,
}

impl MessageBody for Holding {
    type Error = Box<dyn StdError>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_next(cx)
    }
}

/// Middleware (`from_fn(paced_bodies)`): every request body keeps the
/// [`Pace`] found in the app data (the default if none), and a response
/// sent before its request's body was read to the end (a 401 before an
/// upload, a 413, a 408) carries the payload with it, so that the server
/// closes the connection after it rather than draining what the client
/// still sends.
pub async fn paced_bodies(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if !has_body(req.headers()) {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let pace = req.app_data::<Pace>().copied().unwrap_or_default();
    let now = Instant::now();
    let shared = Rc::new(RefCell::new(Shared { payload: req.take_payload(), finished: false }));
    let paced = Paced {
        shared: shared.clone(),
        pace,
        started: now,
        last: now,
        received: 0,
        sleep: Box::pin(tokio::time::sleep_until(later(now, pace.timeout))),
        failed: false,
    };
    let boxed: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> = Box::pin(paced);
    req.set_payload(Payload::from(boxed));
    let res = next.call(req).await?;
    if shared.borrow().finished {
        return Ok(res.map_into_boxed_body());
    }
    Ok(res.map_body(|_, body| BoxBody::new(Holding { body: BoxBody::new(body), _unread: shared })))
}
