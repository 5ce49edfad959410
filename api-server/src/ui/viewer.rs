//! Who is looking: the logged-in user of a request and their session, and
//! the CSRF check every state-changing form goes through.

use crate::db::ui_sessions::Session;
use crate::db::users::User;
use crate::engine;
use crate::error::{Error, Result};
use crate::http::params::Params;

/// The form field carrying the CSRF token (Django's name, as MAAS's forms).
pub const CSRF_FIELD: &str = "csrfmiddlewaretoken";
/// Django's answer to a POST without a valid token.
pub const CSRF_FAILED: &str = "CSRF verification failed. Request aborted.";

/// The logged-in user of a request and their session.
pub struct Viewer {
    pub user: User,
    pub session: Session,
    /// The client's address (what the API's per-source limits count).
    pub peer: Option<std::net::IpAddr>,
    /// `scheme://host` as the browser addressed us.
    pub origin: String,
}

impl Viewer {
    pub fn is_admin(&self) -> bool {
        self.user.is_superuser
    }

    pub fn csrf(&self) -> &str {
        &self.session.csrf_token
    }

    /// Refuses a POST whose form lacks this session's CSRF token (403).
    pub fn check_csrf(&self, form: &Params) -> Result<()> {
        match form.get(CSRF_FIELD) {
            Some(t) if engine::sessions::csrf_matches(&self.session, t) => Ok(()),
            _ => Err(Error::Forbidden(CSRF_FAILED.into())),
        }
    }
}
