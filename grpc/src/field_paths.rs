//! The request's own field paths for the fields the domain names (AIP-193).
//!
//! The domain names the fields of its commands (`name`, `until`,
//! `rules.claimed_not_contacted.value`); a caller must read the path of the field in
//! the request it sent (`customer.display_name`, `return_to`,
//! `rules.claimed_not_contacted_days.value`). Each command has a small table of its own
//! renames; the renames inside pool rules, imports and limits are shared.

use poolkeeper_domain::CommandBody;

/// Renames of one command's fields: `(domain path, request path)`, matched as a prefix
/// ending at a path boundary.
#[derive(Clone, Copy, Debug)]
pub struct FieldPaths(&'static [(&'static str, &'static str)]);

/// The customer of CreateCustomer is the request's `customer` message.
const CREATE_CUSTOMER: FieldPaths = FieldPaths(&[
    ("name", "customer.display_name"),
    ("source", "customer.source"),
    ("fields", "customer.fields"),
    ("keep", "customer.keep"),
]);
const PROFILE: FieldPaths = FieldPaths(&[("name", "display_name")]);
const ASSIGN: FieldPaths = FieldPaths(&[
    ("protection.start", "protection_start"),
    ("protection.end", "protection_end"),
]);
const EXTEND: FieldPaths = FieldPaths(&[("until", "protection_end")]);

/// Renames shared by every command: pool rules, imported customers, auto-assign rules.
const EVERY_COMMAND: &[(&str, &str)] = &[
    (
        "rules.claimed_not_contacted",
        "rules.claimed_not_contacted_days",
    ),
    ("rules.no_contact", "rules.no_contact_days"),
    ("rules.not_won", "rules.not_won_days"),
    (
        "rules.protection.extension.contact_within_days",
        "rules.protection.extension_contact_within_days",
    ),
    (
        "rules.protection.extension.extend_by_days",
        "rules.protection.extension_extend_by_days",
    ),
    ("actor", "x-poolkeeper-user"),
];

impl FieldPaths {
    /// No renames of the command's own: the domain's paths, with the shared renames.
    pub const NONE: FieldPaths = FieldPaths(&[]);

    /// The table of the command `body`.
    pub fn of(body: &CommandBody) -> Self {
        match body {
            CommandBody::CreateCustomer(_) => CREATE_CUSTOMER,
            CommandBody::CreateUser { .. }
            | CommandBody::UpdateUser { .. }
            | CommandBody::CreatePool { .. } => PROFILE,
            CommandBody::Assign { .. } => ASSIGN,
            CommandBody::ExtendProtection { .. } => EXTEND,
            _ => Self::NONE,
        }
    }

    /// The request's path for the domain's `path`.
    pub fn request_path(&self, path: &str) -> String {
        let path = rename(self.0, path).unwrap_or_else(|| path.to_owned());
        let path = rename(EVERY_COMMAND, &path).unwrap_or(path);
        let path = display_names(&path);
        let path = per_user_keys(&path);
        map_keys(&path, "fields.")
    }
}

/// `path` with the first matching prefix of `table` replaced.
fn rename(table: &[(&str, &str)], path: &str) -> Option<String> {
    table.iter().find_map(|(domain, request)| {
        let rest = path.strip_prefix(domain)?;
        (rest.is_empty() || rest.starts_with(['.', '['])).then(|| format!("{request}{rest}"))
    })
}

/// `name` inside an element of a repeated message (`customers[3].name`,
/// `rules.auto_assign[0].name`) is that message's `display_name`.
fn display_names(path: &str) -> String {
    match path.strip_suffix("].name") {
        Some(head) => format!("{head}].display_name"),
        None => path.to_owned(),
    }
}

/// A per-user limit's key is the user's name: `per_user[{uuid}]` → `per_user["users/{uuid}"]`.
fn per_user_keys(path: &str) -> String {
    match path.split_once(".per_user[") {
        Some((head, rest)) => {
            let (key, tail) = rest.split_once(']').unwrap_or((rest, ""));
            format!("{head}.per_user[\"users/{key}\"]{tail}")
        }
        None => path.to_owned(),
    }
}

/// A free field's key as a map key: `customer.fields.区域` → `customer.fields["区域"]`.
fn map_keys(path: &str, map: &str) -> String {
    match path.find(map) {
        Some(at) if at == 0 || path[..at].ends_with('.') => {
            let key = &path[at + map.len()..];
            format!("{}[\"{key}\"]", &path[..at + map.len() - 1])
        }
        _ => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: FieldPaths = FieldPaths::NONE;

    #[test]
    fn domain_paths_become_the_requests_paths() {
        let cases = [
            (CREATE_CUSTOMER, "name", "customer.display_name"),
            (CREATE_CUSTOMER, "fields.区域", "customer.fields[\"区域\"]"),
            (NONE, "customers[3].name", "customers[3].display_name"),
            (NONE, "customers[3].fields.a", "customers[3].fields[\"a\"]"),
            (PROFILE, "name", "display_name"),
            (
                PROFILE,
                "rules.auto_assign[1].name",
                "rules.auto_assign[1].display_name",
            ),
            (ASSIGN, "protection.end", "protection_end"),
            (EXTEND, "until", "protection_end"),
            (
                NONE,
                "rules.claimed_not_contacted.value",
                "rules.claimed_not_contacted_days.value",
            ),
            (
                NONE,
                "rules.cap.per_user[0190c3a0-0000-7000-8000-000000000001]",
                "rules.cap.per_user[\"users/0190c3a0-0000-7000-8000-000000000001\"]",
            ),
            (NONE, "rules.no_contact_daysx", "rules.no_contact_daysx"),
            (NONE, "reason", "reason"),
        ];
        for (paths, domain, request) in cases {
            assert_eq!(paths.request_path(domain), request, "{domain}");
        }
    }
}
