//! The one error type of the region.
//!
//! Engine and datastore code return [`Error`]; it describes *what* went wrong in
//! MAAS's terms (bad request, not found, conflict, ...) and carries the exact text
//! MAAS clients expect. Only `http::error` turns it into a status code and body,
//! so the mapping lives in one place.

use std::collections::BTreeMap;

/// Field name → messages, rendered by MAAS as a JSON object (`__all__` for
/// messages that belong to no single field).
pub type FieldErrors = BTreeMap<String, Vec<String>>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request that can never succeed as sent: missing or malformed parameter.
    #[error("{0}")]
    BadRequest(String),
    /// Form validation failures keyed by field, as Django forms report them.
    #[error("validation failed: {0:?}")]
    Validation(FieldErrors),
    /// No usable credentials on a resource that needs them.
    #[error("{0}")]
    Unauthorized(String),
    /// OAuth verification failed; rendered as `Authorization Error: <text>`.
    #[error("Authorization Error: {0}")]
    OAuth(String),
    /// The caller is known but may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The object named by the request does not exist. The string is the model
    /// name (`User`, `Machine`), rendered as `No <Model> matches the given query.`
    #[error("No {0} matches the given query.")]
    NotFound(&'static str),
    /// The request conflicts with the current state (illegal transition, ...).
    #[error("{0}")]
    Conflict(String),
    /// The feature existed in MAAS once and is gone.
    #[error("{0}")]
    Gone(String),
    /// A dependency (rack, BMC, external process) is unavailable right now.
    #[error("{0}")]
    Unavailable(String),
    /// Something the request names is missing, with the exact text to show
    /// (the metadata service's `Unknown metadata version: …`).
    #[error("{0}")]
    NotFoundText(String),
    /// A path under the API prefix that no handler serves.
    #[error("Unknown API endpoint: {0}.")]
    UnknownEndpoint(String),
    /// The handler exists but has no action for this method/op pair.
    #[error("Unrecognised signature: method={method} op={op}")]
    UnrecognisedSignature { method: String, op: String },
    /// The handler implements none of its actions with this HTTP method.
    #[error("method not allowed")]
    MethodNotAllowed { allow: Vec<&'static str> },
    /// The request body exceeds the limit for this endpoint.
    #[error("Request body too large: the limit for this endpoint is {limit} bytes.")]
    PayloadTooLarge { limit: usize },
    /// Too many attempts (password logins); the client may retry after
    /// `retry_after_secs` (sent as `Retry-After`).
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_secs: u64 },
    /// The region cannot serve this right now for a reason that passes (a
    /// busy or unreachable database): 503 with `Retry-After`, which
    /// gomaasapi and the maas CLI honour.
    #[error("{message}")]
    RetryLater { message: String, retry_after_secs: u64 },
    /// The request body did not keep the pace the region requires.
    #[error("The request body did not arrive in time.")]
    RequestTimeout,
    /// A bug or an unexpected failure of our own. The text is logged, and shown
    /// to the client without internal detail.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// A single-field validation error, `{"<field>": ["<message>"]}`.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut map = FieldErrors::new();
        map.insert(field.to_string(), vec![message.into()]);
        Error::Validation(map)
    }

    /// The error MAAS's forms give for a required parameter that is absent.
    pub fn required(field: &str) -> Self {
        Self::field(field, "This field is required.")
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        Error::Internal(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
