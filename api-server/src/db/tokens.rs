//! Queries of API tokens (MAAS's OAuth consumer + token pairs).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{api_tokens, users};
use crate::db::secrets::{Sealed, TokenSecret};
use crate::db::users::User;
use crate::db::{from_diesel, DbConn};
use crate::error::Result;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_tokens)]
pub struct Token {
    pub id: i64,
    pub user_id: i64,
    /// The consumer's name (`MAAS consumer`, `cli`, `alice@laptop`).
    pub name: String,
    pub consumer_key: String,
    pub token_key: String,
    /// Stored encrypted (`db::secrets`); plaintext here.
    #[diesel(deserialize_as = Sealed<TokenSecret>)]
    pub token_secret: String,
    pub created_at: NaiveDateTime,
}

impl Token {
    /// `consumer_key:token_key:token_secret`.
    pub fn api_key(&self) -> String {
        format!("{}:{}:{}", self.consumer_key, self.token_key, self.token_secret)
    }
}

#[derive(Insertable)]
#[diesel(table_name = api_tokens)]
pub struct NewToken<'a> {
    pub user_id: i64,
    pub name: &'a str,
    pub consumer_key: &'a str,
    pub token_key: &'a str,
    pub token_secret: &'a str,
    pub created_at: NaiveDateTime,
}

/// Inserts a token; its secret is stored encrypted.
pub fn insert(c: &mut DbConn, new: &NewToken<'_>) -> Result<Token> {
    let sealed = crate::db::secrets::seal(crate::db::secrets::TOKEN_SECRET, new.token_secret)?;
    diesel::insert_into(api_tokens::table)
        .values(&NewToken { token_secret: &sealed, ..*new })
        .returning(api_tokens::all_columns)
        .get_result::<Token>(c)
        .map_err(from_diesel)
}

/// A user's tokens, oldest first.
pub fn for_user(c: &mut DbConn, user_id: i64) -> Result<Vec<Token>> {
    api_tokens::table
        .filter(api_tokens::user_id.eq(user_id))
        .order(api_tokens::id)
        .select(Token::as_select())
        .load(c)
        .map_err(from_diesel)
}

pub fn by_token_key(c: &mut DbConn, user_id: i64, token_key: &str) -> Result<Option<Token>> {
    api_tokens::table
        .filter(api_tokens::user_id.eq(user_id))
        .filter(api_tokens::token_key.eq(token_key))
        .select(Token::as_select())
        .first(c)
        .optional()
        .map_err(from_diesel)
}

pub fn delete(c: &mut DbConn, id: i64) -> Result<()> {
    diesel::delete(api_tokens::table.find(id)).execute(c).map_err(from_diesel)?;
    super::wake::mark(super::wake::Wake::Auth);
    Ok(())
}

pub fn rename(c: &mut DbConn, id: i64, name: &str) -> Result<()> {
    diesel::update(api_tokens::table.find(id)).set(api_tokens::name.eq(name)).execute(c).map_err(from_diesel)?;
    super::wake::mark(super::wake::Wake::Auth);
    Ok(())
}

/// What the OAuth guard learns from one lookup.
pub enum AuthLookup {
    UnknownConsumer,
    UnknownToken,
    Found(Box<(Token, User)>),
}

/// Finds the token and its user in one query; on a miss, tells whether the
/// consumer key exists so the client gets MAAS's distinct messages.
pub fn lookup_for_auth(c: &mut DbConn, consumer_key: &str, token_key: &str) -> Result<AuthLookup> {
    let found = api_tokens::table
        .inner_join(users::table)
        .filter(api_tokens::token_key.eq(token_key))
        .filter(api_tokens::consumer_key.eq(consumer_key))
        .select((Token::as_select(), User::as_select()))
        .first::<(Token, User)>(c)
        .optional()
        .map_err(from_diesel)?;
    if let Some((t, u)) = found {
        return Ok(AuthLookup::Found(Box::new((t, u))));
    }
    let consumer_exists: i64 = api_tokens::table
        .filter(api_tokens::consumer_key.eq(consumer_key))
        .count()
        .get_result(c)
        .map_err(from_diesel)?;
    Ok(if consumer_exists == 0 { AuthLookup::UnknownConsumer } else { AuthLookup::UnknownToken })
}
