//! The console's HTML: escaping, the page frame with its navigation, and small builders.
//! Pages are rendered on the server; the only script is none, the only style is inline.

use std::fmt::Write;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use prost_types::Timestamp;

/// `text` safe inside HTML text and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A protobuf timestamp as an instant; none when unset or malformed.
pub fn instant(at: &Option<Timestamp>) -> Option<DateTime<Utc>> {
    crate::convert::optional_instant("time", at).ok().flatten()
}

/// An instant as the console shows it: `2026-03-01 09:30:00`, UTC.
pub fn when(at: &Option<Timestamp>) -> String {
    instant(at)
        .map(|at| at.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:0;color:#1d2330}\
header{background:#1d2a44;color:#fff;padding:10px 20px;display:flex;gap:18px;align-items:center}\
header a{color:#cfe0ff;text-decoration:none}header .who{margin-left:auto;font-size:12px;opacity:.8}\
main{padding:16px 20px;max-width:1200px}table{border-collapse:collapse;margin:8px 0 16px}\
td,th{border:1px solid #d5dae3;padding:4px 8px;text-align:left;font-size:13px}th{background:#eef1f6}\
.error{background:#fde8e8;border:1px solid #f3b4b4;padding:8px 12px}\
.ok{background:#e6f6ea;border:1px solid #a8dcb5;padding:8px 12px}\
.mono{font-family:ui-monospace,monospace;font-size:12px}.counts td{font-size:16px;text-align:center}\
form.inline{display:inline-flex;gap:8px;align-items:center;margin:6px 0}";

/// A whole page: the navigation (when logged in as `who`), the title and `body`.
pub fn page(title: &str, who: Option<&str>, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 2048);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{title} · poolkeeper audit console</title><style>{STYLE}</style></head><body>",
        title = esc(title)
    );
    out.push_str("<header><strong>poolkeeper</strong>");
    if let Some(who) = who {
        out.push_str(
            "<a href=\"/customers\">Customers</a><a href=\"/pools\">Pools</a>\
             <a href=\"/log\">Log</a>",
        );
        let _ = write!(
            out,
            "<span class=\"who\">{}</span><form method=\"post\" action=\"/logout\">\
             <button>Log out</button></form>",
            esc(who)
        );
    }
    let _ = write!(
        out,
        "</header><main><h1>{}</h1>{body}</main></body></html>",
        esc(title)
    );
    out
}

/// A table with `head` cells and rows of already-escaped cells.
pub fn table(id: &str, head: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = format!("<table id=\"{}\"><thead><tr>", esc(id));
    for cell in head {
        let _ = write!(out, "<th>{}</th>", esc(cell));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// A page answering with `status`.
pub fn respond(status: StatusCode, html: String) -> Response {
    (status, Html(html)).into_response()
}
