//! Every INVALID_ARGUMENT names a field of the request that was sent (AIP-193).
//!
//! The loop walks the API from its file descriptor set alone: for every unary method of
//! the four services, a request (valid where one is given below, empty otherwise) and
//! every variant with one field set to a bad value (blank, garbage, too long, negative,
//! an unknown enum number, an impossible timestamp), recursively into nested messages
//! and the last element of repeated ones. Each variant is sent over gRPC; every field
//! violation that comes back must name a path that exists in the request's descriptor.

use std::collections::{BTreeSet, HashMap};

use poolkeeper_proto::v1 as pb;
use poolkeeper_tests::{Harness, command_id, raw};
use prost::Message;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor,
    ReflectMessage, Value,
};
use tonic::Code;
use tonic_types::StatusExt;

fn timestamp(seconds: i64) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds, nanos: 0 }
}

fn limit(value: u32, user: &str) -> pb::Limit {
    pb::Limit {
        value,
        per_user: HashMap::from([(user.to_owned(), value + 1)]),
    }
}

fn rules(alice: &str) -> pb::PoolRules {
    pb::PoolRules {
        claimed_not_contacted_days: Some(limit(5, alice)),
        no_contact_days: Some(limit(7, alice)),
        not_won_days: Some(limit(30, alice)),
        protection: Some(pb::ProtectionRule {
            default_days: Some(limit(10, alice)),
            max_days: 40,
            extension_contact_within_days: 3,
            extension_extend_by_days: 5,
        }),
        reminder_hours: Some(24),
        cooldown_days: Some(limit(3, alice)),
        cap: Some(limit(50, alice)),
        daily_claim_quota: Some(limit(10, alice)),
        abandon_reasons: vec!["无意向".into(), "联系不上".into()],
        auto_assign: vec![pb::AssignRule {
            display_name: "展会线索".into(),
            filter: vec![pb::Condition {
                field: "source".into(),
                op: Some(pb::condition::Op::Equals("展会".into())),
            }],
            assignees: vec![alice.to_owned()],
            strategy: pb::AssignStrategy::RoundRobin as i32,
        }],
        ..Default::default()
    }
}

fn new_customer(name: &str) -> pb::NewCustomer {
    pb::NewCustomer {
        display_name: name.into(),
        source: "展会".into(),
        fields: HashMap::from([("region".into(), "华东".into())]),
        ..Default::default()
    }
}

/// A valid request for `method`, as its actor would send it.
struct Baseline {
    method: &'static str,
    actor: String,
    bytes: Vec<u8>,
}

fn baseline(method: &'static str, actor: &str, message: impl Message) -> Baseline {
    Baseline {
        method,
        actor: actor.to_owned(),
        bytes: message.encode_to_vec(),
    }
}

/// The world the baselines act in.
struct World {
    admin: String,
    alice: String,
    bob: String,
    pool: String,
    unclaimed: String,
    owned: String,
}

async fn world(harness: &Harness) -> World {
    let admin = harness.admin.clone();
    let alice = harness.user("Alice", None).await;
    let bob = harness.user("Bob", Some(&alice)).await;
    let pool = harness
        .pool(
            pb::PoolMode::FreeClaim,
            pb::PoolRules::default(),
            &[&admin],
            &[&alice, &bob],
        )
        .await;
    let unclaimed = harness.customer(&pool, "未领用").await;
    let owned = harness.customer(&pool, "已领用").await;
    harness
        .commands(&alice)
        .claim_customer(pb::ClaimCustomerRequest {
            command_id: command_id(),
            customer: owned.clone(),
            ..Default::default()
        })
        .await
        .expect("alice claims");
    World {
        admin,
        alice,
        bob,
        pool,
        unclaimed,
        owned,
    }
}

fn baselines(w: &World) -> Vec<Baseline> {
    let (admin, alice) = (w.admin.as_str(), w.alice.as_str());
    let now = poolkeeper_tests::t0().timestamp();
    let day = 86_400;
    let period = pb::TimeRange {
        start: Some(timestamp(now - day)),
        end: Some(timestamp(now)),
    };
    vec![
        baseline(
            "CreateCustomer",
            admin,
            pb::CreateCustomerRequest {
                parent: w.pool.clone(),
                customer: Some(new_customer("新客户")),
                ..Default::default()
            },
        ),
        baseline(
            "ImportCustomers",
            admin,
            pb::ImportCustomersRequest {
                parent: w.pool.clone(),
                customers: ["甲", "乙", "丙", "丁"].map(new_customer).to_vec(),
                ..Default::default()
            },
        ),
        baseline(
            "AssignCustomer",
            admin,
            pb::AssignCustomerRequest {
                customer: w.unclaimed.clone(),
                assignee: w.bob.clone(),
                protection_start: Some(timestamp(now)),
                protection_end: Some(timestamp(now + 5 * day)),
                ..Default::default()
            },
        ),
        baseline(
            "AbandonCustomer",
            alice,
            pb::AbandonCustomerRequest {
                customer: w.owned.clone(),
                reason: "无意向".into(),
                return_to: w.pool.clone(),
                ..Default::default()
            },
        ),
        baseline(
            "MoveCustomer",
            admin,
            pb::MoveCustomerRequest {
                customer: w.owned.clone(),
                destination_pool: w.pool.clone(),
                ..Default::default()
            },
        ),
        baseline(
            "ExtendProtection",
            admin,
            pb::ExtendProtectionRequest {
                customer: w.owned.clone(),
                protection_end: Some(timestamp(now + 3 * day)),
                ..Default::default()
            },
        ),
        baseline(
            "TransferCustomer",
            alice,
            pb::TransferCustomerRequest {
                customer: w.owned.clone(),
                new_owner: w.bob.clone(),
                reason: "调岗".into(),
                ..Default::default()
            },
        ),
        baseline(
            "LogFollowUp",
            alice,
            pb::LogFollowUpRequest {
                customer: w.owned.clone(),
                kind: pb::FollowUpKind::Call as i32,
                note: "电话沟通".into(),
                ..Default::default()
            },
        ),
        baseline(
            "ShareCustomer",
            alice,
            pb::ShareCustomerRequest {
                customer: w.owned.clone(),
                department: "销售部".into(),
                ..Default::default()
            },
        ),
        baseline(
            "CreatePool",
            admin,
            pb::CreatePoolRequest {
                display_name: "华南区".into(),
                mode: pb::PoolMode::ClaimWithApproval as i32,
                admins: vec![admin.to_owned()],
                members: vec![alice.to_owned()],
                rules: Some(rules(alice)),
                ..Default::default()
            },
        ),
        baseline(
            "SetPoolRules",
            admin,
            pb::SetPoolRulesRequest {
                pool: w.pool.clone(),
                rules: Some(rules(alice)),
                ..Default::default()
            },
        ),
        baseline(
            "CreateUser",
            admin,
            pb::CreateUserRequest {
                display_name: "赵六".into(),
                superior: alice.to_owned(),
                department: "销售部".into(),
                ..Default::default()
            },
        ),
        baseline(
            "UpdateUser",
            admin,
            pb::UpdateUserRequest {
                user: w.bob.clone(),
                display_name: "Bob".into(),
                superior: alice.to_owned(),
                department: "销售部".into(),
                ..Default::default()
            },
        ),
        baseline(
            "SetOrganizationSettings",
            admin,
            pb::SetOrganizationSettingsRequest {
                overall_cap: Some(limit(100, alice)),
                day_offset_minutes: 480,
                ..Default::default()
            },
        ),
        baseline(
            "ListPoolCustomers",
            admin,
            pb::ListPoolCustomersRequest {
                pool: w.pool.clone(),
                view: pb::PoolView::Claimed as i32,
                name_prefix: "已".into(),
                owner: alice.to_owned(),
                order_by: "update_time asc".into(),
                page_size: 10,
                ..Default::default()
            },
        ),
        baseline(
            "ListOwnerCustomers",
            admin,
            pb::ListOwnerCustomersRequest {
                owner: alice.to_owned(),
                scope: pb::OwnerScope::OwnAndSubordinates as i32,
                page_size: 10,
                ..Default::default()
            },
        ),
        baseline(
            "GetOwnershipHistory",
            admin,
            pb::GetOwnershipHistoryRequest {
                customer: w.owned.clone(),
                as_of: Some(timestamp(now)),
                ..Default::default()
            },
        ),
        baseline(
            "ListHoldingsAsOf",
            admin,
            pb::ListHoldingsAsOfRequest {
                owner: alice.to_owned(),
                as_of: Some(timestamp(now)),
                page_size: 10,
                ..Default::default()
            },
        ),
        baseline(
            "ListAbandonRecords",
            admin,
            pb::ListAbandonRecordsRequest {
                pool: w.pool.clone(),
                user: alice.to_owned(),
                rule: pb::ReclaimRule::NoContact as i32,
                reason: "无意向".into(),
                period: Some(period),
                page_size: 10,
                ..Default::default()
            },
        ),
        baseline(
            "GetStatistics",
            admin,
            pb::GetStatisticsRequest {
                subject: w.pool.clone(),
                period: Some(period),
                ..Default::default()
            },
        ),
    ]
}

/// Bad values for a scalar field of `kind`.
fn bad_scalars(kind: &Kind) -> Vec<Value> {
    match kind {
        Kind::String => vec![
            Value::String(String::new()),
            Value::String("   ".into()),
            Value::String("customers/not-a-uuid".into()),
            Value::String("长".repeat(5_000)),
        ],
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            vec![Value::I32(-1), Value::I32(0), Value::I32(i32::MAX)]
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => vec![Value::I64(-1), Value::I64(i64::MAX)],
        Kind::Uint32 | Kind::Fixed32 => vec![Value::U32(0), Value::U32(u32::MAX)],
        Kind::Uint64 | Kind::Fixed64 => vec![Value::U64(0), Value::U64(u64::MAX)],
        Kind::Enum(_) => vec![Value::EnumNumber(0), Value::EnumNumber(99)],
        Kind::Message(message) if message.full_name() == "google.protobuf.Timestamp" => {
            let mut bad = DynamicMessage::new(message.clone());
            bad.set_field_by_name("nanos", Value::I32(-1));
            let mut late = DynamicMessage::new(message.clone());
            late.set_field_by_name("seconds", Value::I64(i64::MAX / 2));
            vec![Value::Message(bad), Value::Message(late)]
        }
        _ => Vec::new(),
    }
}

/// `message` with one field made bad at a time, recursively.
fn variants(message: &DynamicMessage, depth: usize) -> Vec<DynamicMessage> {
    let mut out = Vec::new();
    for field in message.descriptor().fields() {
        for bad in bad_field(message, &field, depth) {
            let mut variant = message.clone();
            variant.set_field(&field, bad);
            out.push(variant);
        }
    }
    out
}

/// Bad values for `field` of `message`: its own, or its set sub-messages made bad.
fn bad_field(message: &DynamicMessage, field: &FieldDescriptor, depth: usize) -> Vec<Value> {
    let current = message.get_field(field).into_owned();
    if field.is_map() {
        let Value::Map(map) = current else {
            return Vec::new();
        };
        let Some((key, value)) = map.iter().next() else {
            return Vec::new();
        };
        let value_kind = match field.kind() {
            Kind::Message(entry) => entry.map_entry_value_field().kind(),
            other => other,
        };
        let mut bad_maps = Vec::new();
        for bad_key in ["", " ", "customers/not-a-uuid"] {
            let mut bad = map.clone();
            bad.insert(MapKey::String(bad_key.into()), value.clone());
            bad_maps.push(Value::Map(bad));
        }
        for bad_value in bad_scalars(&value_kind) {
            let mut bad = map.clone();
            bad.insert(key.clone(), bad_value);
            bad_maps.push(Value::Map(bad));
        }
        return bad_maps;
    }
    if field.is_list() {
        let Value::List(items) = current else {
            return Vec::new();
        };
        let element = match (&field.kind(), items.last()) {
            (Kind::Message(_), Some(Value::Message(last))) if depth < 4 => {
                variants(last, depth + 1)
                    .into_iter()
                    .map(Value::Message)
                    .collect()
            }
            (kind, _) => bad_scalars(kind),
        };
        return element
            .into_iter()
            .map(|bad| {
                let mut list = items.clone();
                match list.last_mut() {
                    Some(last) if matches!(bad, Value::Message(_)) => *last = bad,
                    _ => list.push(bad),
                }
                Value::List(list)
            })
            .collect();
    }
    let mut values = bad_scalars(&field.kind());
    if let (Kind::Message(_), Value::Message(inner)) = (field.kind(), &current)
        && message.has_field(field)
        && depth < 4
    {
        values.extend(variants(inner, depth + 1).into_iter().map(Value::Message));
    }
    values
}

/// Whether `path` (`customers[3].fields["a"]`) names a field of `message`, or is a
/// metadata key.
fn resolves(message: &MessageDescriptor, path: &str) -> bool {
    if path.starts_with("x-") {
        return true;
    }
    let mut current = Some(message.clone());
    for segment in segments(path) {
        let (name, subscript) = match segment.find('[') {
            Some(at) => (&segment[..at], true),
            None => (segment.as_str(), false),
        };
        let Some(field) = current.as_ref().and_then(|m| m.get_field_by_name(name)) else {
            return false;
        };
        if subscript && !field.is_list() && !field.is_map() {
            return false;
        }
        current = match field.kind() {
            Kind::Message(inner) if field.is_map() => match inner.map_entry_value_field().kind() {
                Kind::Message(value) => Some(value),
                _ => None,
            },
            Kind::Message(inner) => Some(inner),
            _ => None,
        };
    }
    true
}

/// A path's segments, split on dots outside brackets.
fn segments(path: &str) -> Vec<String> {
    let (mut out, mut current, mut depth) = (Vec::new(), String::new(), 0);
    for c in path.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            '.' if depth == 0 => {
                out.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    out.push(current);
    out
}

#[tokio::test]
async fn every_invalid_argument_names_a_field_of_the_request_sent() {
    let harness = Harness::start().await;
    let world = world(&harness).await;
    let pool = DescriptorPool::decode(poolkeeper_proto::FILE_DESCRIPTOR_SET).expect("descriptors");
    let baselines = baselines(&world);
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut calls = 0;
    for service in [
        "CommandService",
        "QueryService",
        "AdminService",
        "AuditService",
    ] {
        let service = pool
            .get_service_by_name(&format!("poolkeeper.v1.{service}"))
            .expect("service");
        for method in service.methods() {
            if method.is_client_streaming() || method.is_server_streaming() {
                continue;
            }
            let input = method.input();
            let given = baselines.iter().find(|b| b.method == method.name());
            let (actor, start) = match given {
                Some(b) => (
                    b.actor.clone(),
                    DynamicMessage::decode(input.clone(), b.bytes.as_slice()).expect("baseline"),
                ),
                None => (world.admin.clone(), DynamicMessage::new(input.clone())),
            };
            let path = format!("/{}/{}", service.full_name(), method.name());
            for mut request in std::iter::once(start.clone()).chain(variants(&start, 0)) {
                if input.get_field_by_name("command_id").is_some() {
                    request.set_field_by_name("command_id", Value::String(command_id()));
                }
                calls += 1;
                let answer = raw::unary(
                    &harness.channel,
                    &harness.server.token,
                    &actor,
                    &path,
                    request.encode_to_vec(),
                )
                .await;
                let Err(status) = answer else { continue };
                assert_ne!(status.code(), Code::Internal, "{path}: {status:?}");
                if status.code() != Code::InvalidArgument {
                    continue;
                }
                let violations = status
                    .get_details_bad_request()
                    .map(|bad| bad.field_violations)
                    .unwrap_or_default();
                for violation in violations {
                    assert!(
                        resolves(&input, &violation.field),
                        "{path}: {:?} is not a field of {}",
                        violation.field,
                        input.full_name()
                    );
                    seen.insert(format!("{}: {}", method.name(), violation.field));
                }
            }
        }
    }
    // The walk reached the domain's own checks, not only the parsing.
    for expected in [
        "CreateCustomer: customer.display_name",
        "ImportCustomers: customers[3].display_name",
        "CreatePool: rules.claimed_not_contacted_days.value",
        "CreatePool: rules.auto_assign[0].display_name",
        "SetPoolRules: rules.protection.extension_extend_by_days",
        "CreateUser: display_name",
        "AssignCustomer: protection_end",
        "ExtendProtection: protection_end",
    ] {
        assert!(
            seen.contains(expected),
            "{expected} never refused; saw {seen:#?}"
        );
    }
    assert!(calls > 500, "only {calls} requests walked");
}
