//! Logging in and out. The session is the caller's own token (with the `query` or
//! `audit` scope), the organization it reads and, optionally, the user it reads as, each
//! kept in an HTTP-only, SameSite=Strict cookie: the console holds no state of its own,
//! and every page is read with exactly the token's visibility.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::Deserialize;

use super::Console;
use super::html::{esc, page, respond};

const TOKEN: &str = "pk_token";
const ORGANIZATION: &str = "pk_organization";
const USER: &str = "pk_user";

/// Who is looking, from the request's cookies.
#[derive(Clone, Debug)]
pub struct Session {
    /// The bearer token.
    pub token: String,
    /// The organization read (`default` when none was given).
    pub organization: String,
    /// The user read as (`users/{uuid}`); the whole organization, for an auditor, when
    /// absent.
    pub user: Option<String>,
}

impl Session {
    /// The session the cookies carry, if any.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let cookies = cookies(headers);
        let find = |name: &str| {
            cookies
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
                .filter(|value| !value.is_empty())
        };
        Some(Self {
            token: find(TOKEN)?,
            organization: find(ORGANIZATION).unwrap_or_else(|| "default".into()),
            user: find(USER),
        })
    }

    /// How the navigation names the session.
    pub fn describe(&self) -> String {
        let who = self
            .user
            .as_deref()
            .unwrap_or("auditor (whole organization)");
        format!("{who} · organizations/{}", self.organization)
    }
}

/// The `name=value` pairs of the Cookie headers, percent-decoded.
fn cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            let value = percent_decode_str(value).decode_utf8_lossy().into_owned();
            Some((key.to_owned(), value))
        })
        .collect()
}

/// A Set-Cookie header: HTTP-only, SameSite=Strict, for the whole console; expired at
/// once when `value` is empty.
fn set_cookie(name: &str, value: &str) -> HeaderValue {
    let age = if value.is_empty() { "; Max-Age=0" } else { "" };
    let cookie = format!(
        "{name}={}; Path=/; HttpOnly; SameSite=Strict{age}",
        utf8_percent_encode(value, NON_ALPHANUMERIC)
    );
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// The login form, with `error` above it.
fn login_page(error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\" id=\"login-error\">{}</p>", esc(e)))
        .unwrap_or_default();
    page(
        "Log in",
        None,
        &format!(
            "{error}<p>Log in with a token that has the <b>audit</b> scope (the whole \
             organization) or the <b>query</b> scope (as one user). Nothing here can change \
             ownership.</p>\
             <form method=\"post\" action=\"/login\">\
             <p><label>Token <input type=\"password\" name=\"token\" id=\"token\" size=\"48\" required></label></p>\
             <p><label>Organization <input name=\"organization\" id=\"organization\" value=\"default\"></label></p>\
             <p><label>Read as user <input name=\"user\" id=\"user\" placeholder=\"users/… (query scope)\" size=\"48\"></label></p>\
             <p><button id=\"login\">Log in</button></p></form>"
        ),
    )
}

/// GET /login.
pub async fn login_form() -> Response {
    respond(StatusCode::OK, login_page(None))
}

/// What the login form posts.
#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
    #[serde(default)]
    organization: String,
    #[serde(default)]
    user: String,
}

/// POST /login: checks the token (and the organization and user) as a read would, then
/// sets the cookies.
pub async fn login(State(console): State<Console>, Form(form): Form<LoginForm>) -> Response {
    let organization = match form.organization.trim() {
        "" => "default".to_owned(),
        text => text.trim_start_matches("organizations/").to_owned(),
    };
    let user = form.user.trim();
    let session = Session {
        token: form.token.trim().to_owned(),
        organization,
        user: (!user.is_empty()).then(|| user.to_owned()),
    };
    if let Err(status) = console.check_login(&session).await {
        let message = format!("Not logged in: {}", status.message());
        return respond(StatusCode::UNAUTHORIZED, login_page(Some(&message)));
    }
    let mut response = Redirect::to("/customers").into_response();
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, set_cookie(TOKEN, &session.token));
    headers.append(
        header::SET_COOKIE,
        set_cookie(ORGANIZATION, &session.organization),
    );
    headers.append(
        header::SET_COOKIE,
        set_cookie(USER, session.user.as_deref().unwrap_or("")),
    );
    response
}

/// POST /logout: forgets the cookies.
pub async fn logout() -> Response {
    let mut response = Redirect::to("/login").into_response();
    for name in [TOKEN, ORGANIZATION, USER] {
        response
            .headers_mut()
            .append(header::SET_COOKIE, set_cookie(name, ""));
    }
    response
}

/// Where a page without a valid session goes.
pub fn to_login() -> Response {
    Redirect::to("/login").into_response()
}
