//! A browser-less web UI client: keeps the cookies a browser would, and
//! reads the CSRF token out of pages, so tests can drive `/MAAS/r/` over
//! real HTTP.

use std::collections::BTreeMap;

use super::{ApiKey, TestServer};

pub struct UiClient {
    pub origin: String,
    http: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
}

/// One response: status, `Location`, `Set-Cookie` lines, body.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub content_type: String,
    pub body: String,
}

/// A user made on `s` (an administrator or not) and logged in to the UI
/// with their password: their API key, and the client holding the session.
pub async fn logged_in(s: &TestServer, name: &str, admin: bool) -> (ApiKey, UiClient) {
    let key = s.user(name, admin).await;
    let mut ui = UiClient::new(&s.origin);
    ui.login(name, &format!("{name}-password")).await;
    (key, ui)
}

impl Page {
    /// The body with maud's escapes undone, to compare with the API's words.
    pub fn text(&self) -> String {
        self.body
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&")
    }

    /// Whether the page says `words` (apostrophes and quotes may be escaped).
    pub fn says(&self, words: &str) -> bool {
        self.body.replace("&#39;", "'").replace("&quot;", "\"").contains(words)
    }

    /// The value of the first hidden `csrfmiddlewaretoken` field.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrfmiddlewaretoken\" value=\"";
        let at = self.body.find(marker).unwrap_or_else(|| panic!("no CSRF field in: {}", self.body)) + marker.len();
        self.body[at..].split('"').next().unwrap().to_string()
    }
}

impl UiClient {
    pub fn new(origin: &str) -> UiClient {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        UiClient { origin: origin.to_string(), http, cookies: BTreeMap::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn read(&mut self, r: reqwest::Response) -> Page {
        let status = r.status().as_u16();
        let location = r.headers().get("location").map(|v| v.to_str().unwrap().to_string());
        let content_type = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        let set_cookies: Vec<String> =
            r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
        for c in &set_cookies {
            let first = c.split(';').next().unwrap();
            let (k, v) = first.split_once('=').unwrap();
            if v.is_empty() || c.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), v.to_string());
            }
        }
        let body = r.text().await.unwrap();
        Page { status, location, set_cookies, content_type, body }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let r = self
            .http
            .get(format!("{}{path}", self.origin))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.read(r).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let r = self
            .http
            .post(format!("{}{path}", self.origin))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.read(r).await
    }

    /// Logs in through the form (as a browser would); panics unless it works.
    pub async fn login(&mut self, username: &str, password: &str) {
        let form = self.get("/MAAS/r/login").await;
        assert_eq!(form.status, 200, "{}", form.body);
        let token = form.csrf();
        let r = self
            .post("/MAAS/r/login", &[("username", username), ("password", password), ("csrfmiddlewaretoken", &token)])
            .await;
        assert_eq!(r.status, 303, "login as {username}: {}", r.body);
        assert!(self.cookies.contains_key("sessionid"));
    }

    /// Streams `path` (server-sent events) with this client's cookies.
    pub async fn stream(&self, path: &str) -> reqwest::Response {
        self.http.get(format!("{}{path}", self.origin)).header("cookie", self.cookie_header()).send().await.unwrap()
    }
}
