//! API tokens: the credentials `create_authorisation_token` hands out, the
//! list `list_authorisation_tokens` shows, and a machine's metadata token.

use serde::Serialize;

use crate::db::metadata::NodeToken;
use crate::db::tokens::Token;

/// A new token's credentials (`account/?op=create_authorisation_token`).
#[derive(Serialize)]
pub struct Credentials<'a> {
    pub token_key: &'a str,
    pub token_secret: &'a str,
    pub consumer_key: &'a str,
    pub name: &'a str,
}

impl<'a> Credentials<'a> {
    pub fn of(t: &'a Token) -> Self {
        Credentials {
            token_key: &t.token_key,
            token_secret: &t.token_secret,
            consumer_key: &t.consumer_key,
            name: &t.name,
        }
    }
}

/// One entry of `list_authorisation_tokens`: the name and the whole key.
#[derive(Serialize)]
pub struct TokenEntry<'a> {
    pub name: &'a str,
    pub token: String,
}

impl<'a> TokenEntry<'a> {
    pub fn of(t: &'a Token) -> Self {
        TokenEntry { name: &t.name, token: t.api_key() }
    }
}

/// A machine's metadata credentials (`machines/{id}/?op=get_token`).
#[derive(Serialize)]
pub struct NodeCredentials<'a> {
    pub token_key: &'a str,
    pub token_secret: &'a str,
    pub consumer_key: &'a str,
}

impl<'a> NodeCredentials<'a> {
    pub fn of(t: &'a NodeToken) -> Self {
        NodeCredentials { token_key: &t.token_key, token_secret: &t.token_secret, consumer_key: &t.consumer_key }
    }
}
