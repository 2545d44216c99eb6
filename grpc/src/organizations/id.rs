//! An organization's id: the partition key of everything it holds.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The id of the organization a request without one acts in.
pub const DEFAULT_ORGANIZATION: &str = "default";

/// An organization id (AIP-122): 1 to 63 characters, lowercase ASCII letters, digits and
/// `-`, starting with a letter and not ending with `-`. It names a directory and a
/// partition key, so nothing else is allowed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OrganizationId(String);

/// Why a string is not an organization id.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "an organization id is 1 to 63 lowercase letters, digits and `-`, starting with a letter and not ending with `-`"
)]
pub struct InvalidOrganizationId;

impl OrganizationId {
    /// The organization requests without one act in.
    pub fn default_organization() -> Self {
        Self(DEFAULT_ORGANIZATION.to_owned())
    }

    /// Parses `acme` or `organizations/acme`.
    pub fn parse(text: &str) -> Result<Self, InvalidOrganizationId> {
        let id = text.trim();
        let id = id.strip_prefix("organizations/").unwrap_or(id);
        let valid = (1..=63).contains(&id.len())
            && id.starts_with(|c: char| c.is_ascii_lowercase())
            && !id.ends_with('-')
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if valid {
            Ok(Self(id.to_owned()))
        } else {
            Err(InvalidOrganizationId)
        }
    }

    /// The bare id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `organizations/{id}`.
    pub fn name(&self) -> String {
        format!("organizations/{}", self.0)
    }
}

impl fmt::Display for OrganizationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for OrganizationId {
    type Err = InvalidOrganizationId;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl TryFrom<String> for OrganizationId {
    type Error = InvalidOrganizationId;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<OrganizationId> for String {
    fn from(id: OrganizationId) -> Self {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_aip_122_and_names_are_accepted() {
        for good in ["acme", "a", "acme-2", "organizations/acme", "x1"] {
            assert!(OrganizationId::parse(good).is_ok(), "{good}");
        }
        assert_eq!(
            OrganizationId::parse("organizations/acme")
                .unwrap()
                .as_str(),
            "acme"
        );
        let long = "a".repeat(64);
        for bad in [
            "",
            "Acme",
            "1acme",
            "acme-",
            "ac me",
            "ac_me",
            "../x",
            long.as_str(),
        ] {
            assert!(OrganizationId::parse(bad).is_err(), "{bad}");
        }
    }
}
