//! `version/` (anonymous): what gomaasapi, python-libmaas and Juju probe first.

use crate::error::Result;
use crate::handler_fn;
use crate::http::registry::{Access, Action, Handler, Method, Returns};
use crate::http::reply::Reply;
use crate::http::Ctx;

pub fn handlers() -> Vec<Handler> {
    vec![Handler::new("VersionHandler", "version/", Access::Anonymous, "Information about this MAAS")
        .describe("The version of the region and the capabilities it offers.")
        .action(
            Action::new(Method::Get, None, "Read version and capabilities", handler_fn!(read))
                .returns(Returns::Object)
                .describe(
                    "Returns the MAAS version Ironpool is compatible with, a subversion and the capability list.",
                ),
        )]
}

async fn read(_ctx: Ctx) -> Result<Reply> {
    Ok(Reply::json(crate::api::views::version::current()))
}
