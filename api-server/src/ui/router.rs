//! Routes `/MAAS/r/…` to its page: the assets and the login form for
//! anyone, everything else for a logged-in viewer only.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::error::Error;
use crate::http::AppState;
use crate::ui::layout::error_page;
use crate::ui::places::Kind;
use crate::ui::respond::{redirect, PREFIX};
use crate::ui::{
    account, controllers, domain, domains, images, layout, live, machine, machine_add, machine_results, machines,
    networks, places, session, settings, subnet, tags, users, vlan,
};

/// The path of a request relative to [`PREFIX`], split on `/`.
fn segments(rest: &str) -> Vec<&str> {
    rest.split('/').filter(|s| !s.is_empty()).collect()
}

/// Routes one UI request. `rest` is the path after [`PREFIX`].
pub async fn route(req: HttpRequest, payload: web::Payload, state: Arc<AppState>, rest: String) -> HttpResponse {
    let method = req.method().as_str().to_string();
    let segs = segments(&rest);
    // Pages anyone may fetch: the assets and the login form.
    match (method.as_str(), segs.as_slice()) {
        ("GET", ["static", name]) => return layout::asset(name),
        (_, ["login"]) => return session::login(&req, payload, &state, &method).await,
        _ => {}
    }
    let viewer = match session::viewer(&req, &state).await {
        Ok(Some(v)) => v,
        Ok(None) => return session::to_login(&req),
        Err(e) => return error_page(None, &e),
    };
    let result = match (method.as_str(), segs.as_slice()) {
        ("GET", []) => Ok(redirect(StatusCode::FOUND, "/MAAS/r/machines")),
        ("POST", ["logout"]) => session::logout(&req, payload, &state, &viewer).await,
        ("GET", ["machines"]) => machines::list(&req, &state, &viewer).await,
        ("POST", ["machines", "action"]) => machines::action(&req, payload, &state, &viewer).await,
        ("GET", ["machines", "add"]) => machine_add::machine_page(&state, &viewer).await,
        ("POST", ["machines", "add"]) => machine_add::machine_post(&req, payload, &state, &viewer).await,
        ("GET", ["machines", "add-chassis"]) => machine_add::chassis_page(&state, &viewer).await,
        ("POST", ["machines", "add-chassis"]) => machine_add::chassis_post(&req, payload, &state, &viewer).await,
        ("GET", ["machine", sid]) => machine::page(&req, &state, &viewer, sid).await,
        ("POST", ["machine", sid, what]) => machine::change(&req, payload, &state, &viewer, sid, what).await,
        ("GET", ["machine", sid, "result", set, result]) => {
            machine_results::output(&req, &state, &viewer, sid, set, result).await
        }
        ("GET", ["live"]) => live::stream(&req, &state, &viewer).await,
        ("GET", ["account", "prefs"]) => account::page(&req, &state, &viewer, None).await,
        ("POST", ["account", "prefs", what]) => account::change(&req, payload, &state, &viewer, what).await,
        ("GET", ["zones"]) => places::list(&state, &viewer, Kind::Zone, None).await,
        ("POST", ["zones", what]) => places::change(&req, payload, &state, &viewer, Kind::Zone, what).await,
        ("GET", ["pools"]) => places::list(&state, &viewer, Kind::Pool, None).await,
        ("POST", ["pools", what]) => places::change(&req, payload, &state, &viewer, Kind::Pool, what).await,
        ("GET", ["tags"]) => tags::list(&state, &viewer, None).await,
        ("POST", ["tags", what]) => tags::change(&req, payload, &state, &viewer, what).await,
        ("GET", ["tag", name]) => tags::page(&state, &viewer, name).await,
        ("GET", ["domains"]) => domains::list(&state, &viewer, None).await,
        ("POST", ["domains", what]) => domains::change(&req, payload, &state, &viewer, what).await,
        ("GET", ["controllers"]) => controllers::list(&state, &viewer, controllers::Which::Controllers).await,
        ("GET", ["devices"]) => controllers::list(&state, &viewer, controllers::Which::Devices).await,
        ("GET", ["networks"]) => networks::list(&state, &viewer, None).await,
        ("POST", ["networks", kind, what]) => networks::change(&req, payload, &state, &viewer, kind, what).await,
        ("GET", ["subnet", id]) => subnet::page(&state, &viewer, id, None).await,
        ("POST", ["subnet", id, what]) => subnet::change(&req, payload, &state, &viewer, id, what).await,
        ("GET", ["vlan", id]) => vlan::page(&state, &viewer, id, None).await,
        ("POST", ["vlan", id, what]) => vlan::change(&req, payload, &state, &viewer, id, what).await,
        ("GET", ["settings"]) => settings::page(&state, &viewer, None).await,
        ("POST", ["settings"]) => settings::save(&req, payload, &state, &viewer).await,
        ("GET", ["images"]) => images::page(&state, &viewer, None).await,
        ("POST", ["images", "upload"]) => images::upload(&req, payload, &state, &viewer).await,
        ("POST", ["images", what]) => images::change(&req, payload, &state, &viewer, what).await,
        ("GET", ["domain", id]) => domain::page(&state, &viewer, id, None).await,
        ("POST", ["domain", id, what]) => domain::change(&req, payload, &state, &viewer, id, what).await,
        ("GET", ["settings", "users"]) => users::list(&state, &viewer, None).await,
        ("POST", ["settings", "users", what]) => users::change(&req, payload, &state, &viewer, what).await,
        (
            _,
            ["logout"]
            | ["machines", "action"]
            | ["machine", _, _]
            | ["account", "prefs", _]
            | ["zones" | "pools" | "tags" | "domains", _]
            | ["networks" | "subnet" | "vlan", _, _]
            | ["images", _]
            | ["domain", _, _]
            | ["settings", "users", _],
        ) => Err(Error::MethodNotAllowed { allow: vec!["POST"] }),
        (
            _,
            ["machines"]
            | ["machine", _]
            | ["machine", _, "result", _, _]
            | ["live"]
            | ["account", "prefs"]
            | ["zones" | "pools" | "tags" | "domains" | "controllers" | "devices" | "networks"]
            | ["tag" | "subnet" | "vlan", _]
            | ["images"]
            | ["domain", _]
            | ["settings", "users"],
        ) => Err(Error::MethodNotAllowed { allow: vec!["GET"] }),
        (_, ["settings"] | ["machines", "add" | "add-chassis"]) => {
            Err(Error::MethodNotAllowed { allow: vec!["GET", "POST"] })
        }
        _ => Err(Error::NotFoundText(format!("There is no page at {PREFIX}{rest}."))),
    };
    result.unwrap_or_else(|e| error_page(Some(&viewer), &e))
}
