//! Auto-assignment (分配规则, seed 003): filters and the choice of an assignee.
//!
//! A pool holds up to ten ordered rules. On create and import into the pool, the first
//! rule whose filter matches and that has an eligible assignee picks one, round-robin or
//! least-loaded, skipping deactivated users and users at their cap. The choice, every
//! candidate with its load and skip reason, and the rotation pointer before and after go
//! into the event, so any assignment can be audited and replayed.

use crate::command::NewCustomer;
use crate::event::AssignCandidate;
use crate::ids::UserId;
use crate::rules::{AssignRule, AssignStrategy, Condition};

/// The value of `field` on a new customer: `name`, `source` or a free field.
fn field_value<'a>(customer: &'a NewCustomer, field: &str) -> Option<&'a str> {
    match field {
        "name" => Some(customer.name.as_str()),
        "source" => customer.source.as_deref(),
        other => customer.fields.get(other).map(String::as_str),
    }
}

/// Whether the customer satisfies every condition of `rule`.
pub fn matches(rule: &AssignRule, customer: &NewCustomer) -> bool {
    rule.filter.iter().all(|condition| match condition {
        Condition::Equals { field, value } => field_value(customer, field) == Some(value.as_str()),
        Condition::OneOf { field, values } => field_value(customer, field)
            .is_some_and(|v| values.iter().any(|candidate| candidate == v)),
        Condition::Prefix { field, prefix } => {
            field_value(customer, field).is_some_and(|v| v.starts_with(prefix.as_str()))
        }
        Condition::Present { field } => {
            field_value(customer, field).is_some_and(|v| !v.trim().is_empty())
        }
    })
}

/// The outcome of one rule's choice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    /// The chosen assignee.
    pub assignee: UserId,
    /// The rotation pointer after the choice.
    pub pointer_after: u32,
}

/// Picks among `candidates` (in rotation order, each with its load and skip reason),
/// starting the rotation at `pointer`. `None` when every candidate is skipped.
pub fn choose(
    strategy: AssignStrategy,
    candidates: &[AssignCandidate],
    pointer: u32,
) -> Option<Choice> {
    let count = candidates.len();
    if count == 0 {
        return None;
    }
    let start = pointer as usize % count;
    let in_rotation = (0..count).map(|offset| (start + offset) % count);
    let eligible = in_rotation.filter(|&index| candidates[index].skipped.is_none());
    let chosen = match strategy {
        AssignStrategy::RoundRobin => eligible.into_iter().next(),
        // `min_by_key` keeps the first of equal minima, i.e. the earliest in rotation order.
        AssignStrategy::LeastLoaded => {
            eligible.min_by_key(|&index| candidates[index].owned_in_pool)
        }
    }?;
    Some(Choice {
        assignee: candidates[chosen].user_id,
        pointer_after: u32::try_from((chosen + 1) % count).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn candidate(id: u128, load: u32, skipped: Option<&str>) -> AssignCandidate {
        AssignCandidate {
            user_id: UserId::from_u128(id),
            owned_in_pool: load,
            skipped: skipped.map(str::to_owned),
        }
    }

    #[test]
    fn round_robin_takes_turns_and_skips_ineligible_users() {
        let candidates = [
            candidate(1, 0, None),
            candidate(2, 0, Some("deactivated")),
            candidate(3, 0, None),
        ];
        let first = choose(AssignStrategy::RoundRobin, &candidates, 0).unwrap();
        assert_eq!(
            (first.assignee, first.pointer_after),
            (UserId::from_u128(1), 1)
        );
        let second = choose(AssignStrategy::RoundRobin, &candidates, first.pointer_after).unwrap();
        assert_eq!(
            (second.assignee, second.pointer_after),
            (UserId::from_u128(3), 0)
        );
    }

    #[test]
    fn least_loaded_picks_the_lightest_and_breaks_ties_in_rotation_order() {
        let candidates = [
            candidate(1, 5, None),
            candidate(2, 2, None),
            candidate(3, 2, None),
        ];
        assert_eq!(
            choose(AssignStrategy::LeastLoaded, &candidates, 0)
                .unwrap()
                .assignee,
            UserId::from_u128(2)
        );
        assert_eq!(
            choose(AssignStrategy::LeastLoaded, &candidates, 2)
                .unwrap()
                .assignee,
            UserId::from_u128(3)
        );
    }

    #[test]
    fn nobody_eligible_means_no_choice() {
        let candidates = [candidate(1, 0, Some("pool_cap"))];
        assert_eq!(choose(AssignStrategy::RoundRobin, &candidates, 0), None);
        assert_eq!(choose(AssignStrategy::LeastLoaded, &[], 0), None);
    }

    #[test]
    fn filters_match_name_source_and_free_fields() {
        let customer = NewCustomer {
            customer_id: crate::ids::CustomerId::from_u128(1),
            pool_id: None,
            name: "上海XX金融服务有限公司".into(),
            source: Some("market_event".into()),
            fields: BTreeMap::from([("region".into(), "华东".into())]),
            keep: false,
        };
        let rule = |filter| AssignRule {
            name: "r".into(),
            filter,
            assignees: vec![],
            strategy: AssignStrategy::RoundRobin,
        };
        assert!(matches(&rule(vec![]), &customer));
        assert!(matches(
            &rule(vec![Condition::Equals {
                field: "source".into(),
                value: "market_event".into()
            }]),
            &customer
        ));
        assert!(matches(
            &rule(vec![Condition::Prefix {
                field: "name".into(),
                prefix: "上海".into()
            }]),
            &customer
        ));
        assert!(matches(
            &rule(vec![Condition::OneOf {
                field: "region".into(),
                values: vec!["华北".into(), "华东".into()]
            }]),
            &customer
        ));
        assert!(!matches(
            &rule(vec![Condition::Present {
                field: "industry".into()
            }]),
            &customer
        ));
        assert!(!matches(
            &rule(vec![
                Condition::Present {
                    field: "region".into()
                },
                Condition::Equals {
                    field: "source".into(),
                    value: "web".into()
                },
            ]),
            &customer
        ));
    }
}
