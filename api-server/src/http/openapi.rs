//! The OpenAPI document, generated with utoipa from the same handler table
//! that routes requests and builds `describe/`, so the three never disagree.
//!
//! Follows MAAS's own `openapi.yaml` (`maas-api.md` §4.3): paths relative to
//! the API prefix, named operations as `…/op-<name>` paths, operation ids
//! `<Handler>_<action>`, form and multipart bodies. Beyond MAAS it declares the
//! OAuth security scheme and the error responses every call can give.

use std::collections::BTreeMap;

use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{AdditionalProperties, KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, LicenseBuilder, OpenApi, OpenApiBuilder, Paths, Ref, RefOr,
    Required, ServerBuilder,
};

use crate::http;
use crate::http::registry::{Access, Action, Handler, Method, ParamDoc, Registry, Returns, API_PREFIX};

const SECURITY: &str = "MAASOAuth";

fn scalar(ty: &str) -> ObjectBuilder {
    match ty {
        "Int" => ObjectBuilder::new().schema_type(Type::Integer),
        "Float" => ObjectBuilder::new().schema_type(Type::Number),
        "Boolean" => ObjectBuilder::new().schema_type(Type::Boolean),
        "File" => {
            ObjectBuilder::new().schema_type(Type::String).format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
        }
        _ => ObjectBuilder::new().schema_type(Type::String),
    }
}

/// Documented parameters with a fixed name (`{key}`-style free-form ones
/// become `additionalProperties`).
fn fixed(params: &[ParamDoc]) -> impl Iterator<Item = &ParamDoc> {
    params.iter().filter(|p| !p.name.contains('{'))
}

fn operation(h: &Handler, a: &Action) -> utoipa::openapi::path::Operation {
    let mut op = OperationBuilder::new()
        .operation_id(Some(format!("{}_{}", h.name.trim_start_matches("Anon"), a.name())))
        .tag(h.name.trim_start_matches("Anon").trim_end_matches("Handler"))
        .summary(Some(a.title))
        .description(Some(a.doc()));
    for p in h.placeholders() {
        op = op.parameter(
            ParameterBuilder::new()
                .name(p)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
        );
    }
    match a.method {
        Method::Get | Method::Delete => {
            for p in fixed(&a.params) {
                op = op.parameter(
                    ParameterBuilder::new()
                        .name(p.name)
                        .parameter_in(ParameterIn::Query)
                        .required(if p.required { Required::True } else { Required::False })
                        .description(Some(p.doc))
                        .schema(Some(scalar(p.ty))),
                );
            }
        }
        Method::Post | Method::Put => {
            let mut body = ObjectBuilder::new().schema_type(Type::Object);
            for p in fixed(&a.params) {
                body = body.property(p.name, scalar(p.ty).description(Some(p.doc)));
                if p.required {
                    body = body.required(p.name);
                }
            }
            if a.params.iter().any(|p| p.name.contains('{')) {
                body = body.additional_properties(Some(AdditionalProperties::RefOr(
                    ObjectBuilder::new().schema_type(Type::String).into(),
                )));
            }
            let body = body.build();
            op = op.request_body(Some(if a.raw_body {
                // Raw chunks (boot-resource uploads): the body is the bytes.
                let bytes = ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)));
                RequestBodyBuilder::new()
                    .content("application/octet-stream", ContentBuilder::new().schema(Some(bytes)).build())
                    .required(Some(utoipa::openapi::Required::True))
                    .build()
            } else {
                RequestBodyBuilder::new()
                    .content("multipart/form-data", ContentBuilder::new().schema(Some(body.clone())).build())
                    .content("application/x-www-form-urlencoded", ContentBuilder::new().schema(Some(body)).build())
                    .build()
            }));
        }
    }
    let json = |schema: ObjectBuilder| ContentBuilder::new().schema(Some(schema)).build();
    // The typed resource schema where there is one, else "an object".
    let typed = http::schemas::for_action(h, a);
    let object = || -> RefOr<Schema> {
        match typed {
            Some(name) => RefOr::Ref(Ref::from_schema_name(name)),
            None => ObjectBuilder::new().schema_type(Type::Object).into(),
        }
    };
    let (code, response) = match h.returns(a) {
        Returns::Object => (
            200,
            ResponseBuilder::new()
                .description(typed.map(|t| format!("A {t}.")).unwrap_or_else(|| "A JSON object.".into()))
                .content("application/json", ContentBuilder::new().schema(Some(object())).build())
                .build(),
        ),
        Returns::ObjectStatus(c) => (
            c,
            ResponseBuilder::new()
                .description(
                    typed.map(|t| format!("The created {t}.")).unwrap_or_else(|| "The created JSON object.".into()),
                )
                .content("application/json", ContentBuilder::new().schema(Some(object())).build())
                .build(),
        ),
        Returns::List => (
            200,
            ResponseBuilder::new()
                .description(typed.map(|t| format!("A JSON array of {t}.")).unwrap_or_else(|| "A JSON array.".into()))
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(utoipa::openapi::schema::ArrayBuilder::new().items(object()).build()))
                        .build(),
                )
                .build(),
        ),
        Returns::Strings => (
            200,
            ResponseBuilder::new()
                .description("A JSON array of strings.")
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(
                            utoipa::openapi::schema::ArrayBuilder::new()
                                .items(ObjectBuilder::new().schema_type(Type::String))
                                .build(),
                        ))
                        .build(),
                )
                .build(),
        ),
        Returns::AnyJson => (
            200,
            ResponseBuilder::new()
                .description("A JSON value.")
                .content(
                    "application/json",
                    json(ObjectBuilder::new().schema_type(utoipa::openapi::schema::SchemaType::AnyValue)),
                )
                .build(),
        ),
        Returns::Text(c) => (
            c,
            ResponseBuilder::new()
                .description("A short text.")
                .content("text/plain", json(ObjectBuilder::new().schema_type(Type::String)))
                .build(),
        ),
        Returns::Bytes(ct) => (
            200,
            ResponseBuilder::new()
                .description("Raw bytes.")
                .content(
                    ct,
                    json(
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary))),
                    ),
                )
                .build(),
        ),
        // Empty, but labelled `text/plain` as MAAS does (the CLI needs a type).
        Returns::Nothing(c) => (
            c,
            ResponseBuilder::new()
                .description("No body (Content-Type text/plain).")
                .content("text/plain", json(ObjectBuilder::new().schema_type(Type::String).max_length(Some(0))))
                .build(),
        ),
    };
    op = op.response(code.to_string(), response);
    let text = || ContentBuilder::new().schema(Some(ObjectBuilder::new().schema_type(Type::String))).build();
    for (code, what) in [
        ("400", "Bad request: a missing or invalid parameter (JSON field errors or text)."),
        ("401", "Missing or invalid OAuth credentials."),
        ("403", "Not permitted (administrators only, locked machine, ...)."),
        ("404", "No such object."),
        ("409", "Conflicts with the current state (illegal transition, nothing to allocate, ...)."),
    ] {
        op = op.response(code, ResponseBuilder::new().description(what).content("text/plain", text()).build());
    }
    for (code, what) in &a.also {
        op = op.response(
            code.to_string(),
            ResponseBuilder::new().description(*what).content("text/plain", text()).build(),
        );
    }
    if h.access == Access::Authenticated {
        op = op.security(SecurityRequirement::new(SECURITY, Vec::<String>::new()));
    }
    op.build()
}

fn http_method(m: Method) -> HttpMethod {
    match m {
        Method::Get => HttpMethod::Get,
        Method::Post => HttpMethod::Post,
        Method::Put => HttpMethod::Put,
        Method::Delete => HttpMethod::Delete,
    }
}

/// Builds the document. Anonymous and authenticated handlers of one URL share
/// its path entries; the authenticated one wins where both have an action.
pub fn document(registry: &Registry) -> OpenApi {
    let mut entries: BTreeMap<(String, u8), (HttpMethod, utoipa::openapi::path::Operation)> = BTreeMap::new();
    let mut handlers: Vec<&Handler> = registry.handlers().iter().collect();
    // Anonymous first, so authenticated operations overwrite them.
    handlers.sort_by_key(|h| h.access == Access::Authenticated);
    for h in handlers {
        for a in &h.actions {
            let path = match a.op {
                Some(op) => format!("/{}op-{op}", h.path),
                None => format!("/{}", h.path),
            };
            entries.insert((path, a.method as u8), (http_method(a.method), operation(h, a)));
        }
    }
    let mut paths = Paths::new();
    for ((path, _), (method, op)) in entries {
        let existing = paths.paths.remove(&path);
        let item = match existing {
            Some(mut item) => {
                item.merge_operations(PathItem::new(method, op));
                item
            }
            None => PathItem::new(method, op),
        };
        paths.paths.insert(path, item);
    }
    let scheme = SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
        "Authorization",
        "OAuth 1.0, PLAINTEXT (or HMAC-SHA1): `OAuth oauth_consumer_key=\"<c>\", oauth_token=\"<t>\", \
         oauth_signature_method=\"PLAINTEXT\", oauth_signature=\"%26<token_secret>\", oauth_nonce=\"<n>\", \
         oauth_timestamp=\"<unix>\"` from an API key `<c>:<t>:<token_secret>`.",
    )));
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("MAAS HTTP API")
                .version("2.0.0")
                .description(Some("The MAAS REST API 2.0 as served by Ironpool."))
                .license(Some(LicenseBuilder::new().name("AGPL-3.0").build()))
                .build(),
        )
        .servers(Some([ServerBuilder::new().url(API_PREFIX).description(Some("Ironpool region API")).build()]))
        .paths(paths)
        .components(Some(
            ComponentsBuilder::new()
                .security_scheme(SECURITY, scheme)
                .schemas_from_iter(http::schemas::components())
                .build(),
        ))
        .build()
}

/// The document as YAML, the form checked in at `openapi/openapi.yaml`.
pub fn yaml(registry: &Registry) -> crate::error::Result<String> {
    document(registry).to_yaml().map_err(crate::error::Error::internal)
}

pub fn json(registry: &Registry) -> crate::error::Result<String> {
    document(registry).to_pretty_json().map_err(crate::error::Error::internal)
}
