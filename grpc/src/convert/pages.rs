//! Pages: their sizes and tokens.

use tonic::Status;

use crate::status::invalid;

/// The default page size.
const DEFAULT_PAGE: u32 = 50;
/// The largest page size; larger ones are cut to it.
const MAX_PAGE: u32 = 500;

/// A request's `page_size`: the default when 0, at most [`MAX_PAGE`].
pub fn page_size(value: i32) -> Result<u32, Status> {
    match value {
        0 => Ok(DEFAULT_PAGE),
        n if n < 0 => Err(invalid("page_size", "must not be negative")),
        n => Ok(u32::try_from(n).unwrap_or(MAX_PAGE).min(MAX_PAGE)),
    }
}

/// A request's `page_token`: where the previous page ended, `None` for the first.
pub fn cursor(token: String) -> Option<String> {
    (!token.is_empty()).then_some(token)
}
