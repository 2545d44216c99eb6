//! Undo by compensation over gRPC: `RevertOwnershipChange` reverses one change and
//! `RevertCommand` every ownership change of one command, all or none. The change stays in
//! the log, the chain verifies, history and abandon records show it as reverted (who,
//! why, linked both ways), as-of queries before the revert still show the mistake, and
//! every refusal has its status and appends nothing.

use poolkeeper_proto::v1 as pb;
use poolkeeper_tests::{Harness, command_id, reason};
use tonic::Code;
use tonic_types::StatusExt;

async fn revert(
    h: &Harness,
    user: &str,
    position: u64,
    why: &str,
) -> Result<pb::CommandResult, tonic::Status> {
    h.commands(user)
        .revert_ownership_change(pb::RevertOwnershipChangeRequest {
            command_id: command_id(),
            position,
            reason: why.into(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn customer(h: &Harness, name: &str, position: u64) -> pb::Customer {
    h.queries(&h.admin)
        .get_customer(pb::GetCustomerRequest {
            name: name.into(),
            min_position: position,
        })
        .await
        .expect("get customer")
        .into_inner()
}

#[tokio::test]
async fn a_mistaken_transfer_is_reverted_and_the_history_shows_both_linked() {
    let h = Harness::start().await;
    let alice = h.user("Alice", None).await;
    let bob = h.user("Bob", None).await;
    let pool = h.free_pool(&[&alice, &bob]).await;
    let c = h.customer(&pool, "上海某某科技").await;
    h.claim(&alice, &c).await;
    h.advance(3_600).await;
    let transfer = h
        .commands(&alice)
        .transfer_customer(pb::TransferCustomerRequest {
            command_id: command_id(),
            customer: c.clone(),
            new_owner: bob.clone(),
            ..Default::default()
        })
        .await
        .expect("transfer")
        .into_inner();
    let mistaken_at = h.advance(1_800).await.now;
    h.advance(1_800).await;

    let tail = h.tail().await;
    let denied = revert(&h, &bob, transfer.position, "转错人了")
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    let no_reason = revert(&h, &h.admin, transfer.position, " ")
        .await
        .unwrap_err();
    assert_eq!(no_reason.code(), Code::InvalidArgument);
    assert_eq!(
        no_reason.get_details_error_info().unwrap().metadata["field"],
        "reason"
    );
    assert_eq!(h.tail().await, tail, "refusals append nothing");

    let reverted = revert(&h, &h.admin, transfer.position, "转错人了")
        .await
        .expect("revert");
    assert_eq!(reverted.event_types, ["customer.change_reverted"]);
    assert_eq!(reverted.name, c);
    assert_eq!(customer(&h, &c, reverted.position).await.owner, alice);

    let history = h
        .queries(&h.admin)
        .get_ownership_history(pb::GetOwnershipHistoryRequest {
            customer: c.clone(),
            as_of: mistaken_at,
            min_position: reverted.position,
            ..Default::default()
        })
        .await
        .expect("history")
        .into_inner();
    // As of before the revert, the mistake stands: Bob owned it.
    assert_eq!(history.owner_as_of.as_ref().unwrap().owner, bob);
    let intervals = &history.intervals;
    assert_eq!(intervals.len(), 3, "{intervals:#?}");
    let admin_actor = format!("user:{}", h.admin.trim_start_matches("users/"));
    let reversal = intervals[0]
        .end_reverted
        .as_ref()
        .expect("the transfer is marked reverted");
    assert_eq!(
        (intervals[0].owner.as_str(), intervals[0].ended_by.as_str()),
        (alice.as_str(), "transferred")
    );
    assert_eq!(
        (
            reversal.position,
            reversal.reason.as_str(),
            reversal.actor.as_str()
        ),
        (reverted.position, "转错人了", admin_actor.as_str())
    );
    assert_eq!(intervals[1].owner, bob);
    assert!(intervals[1].start_reverted.is_some());
    assert_eq!(
        (intervals[1].ended_by.as_str(), intervals[1].end_compensates),
        ("reverted", transfer.position)
    );
    assert_eq!(intervals[1].end_reason, "转错人了");
    assert_eq!(
        (intervals[2].owner.as_str(), intervals[2].began_by.as_str()),
        (alice.as_str(), "reverted")
    );
    assert_eq!(intervals[2].start_compensates, transfer.position);
    h.tail().await; // the chain verifies

    // Once reverted, the transfer cannot be reverted again: the revert came later.
    let again = revert(&h, &h.admin, transfer.position, "再撤销")
        .await
        .unwrap_err();
    assert_eq!(
        (again.code(), reason(&again).as_str()),
        (Code::FailedPrecondition, "changed_since")
    );
    let info = again.get_details_error_info().unwrap();
    assert_eq!(
        info.metadata["later_position"],
        reverted.position.to_string()
    );
    assert_eq!(
        info.metadata["later_event_type"],
        "customer.change_reverted"
    );
    assert_eq!(info.metadata["resource"], c);
    assert!(
        again.message().contains(&reverted.position.to_string()),
        "{}",
        again.message()
    );

    // A follow-up is no ownership change; a position past the log is not found.
    let follow_up = h
        .commands(&alice)
        .log_follow_up(pb::LogFollowUpRequest {
            command_id: command_id(),
            customer: c.clone(),
            kind: pb::FollowUpKind::Call as i32,
            note: "电话沟通".into(),
            ..Default::default()
        })
        .await
        .expect("follow-up")
        .into_inner();
    let not_revertible = revert(&h, &h.admin, follow_up.position, "误操作")
        .await
        .unwrap_err();
    assert_eq!(
        (not_revertible.code(), reason(&not_revertible).as_str()),
        (Code::FailedPrecondition, "not_revertible")
    );
    let missing = revert(&h, &h.admin, follow_up.position + 100, "误操作")
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let zero = revert(&h, &h.admin, 0, "误操作").await.unwrap_err();
    assert_eq!(
        zero.get_details_error_info().unwrap().metadata["field"],
        "position"
    );
}

#[tokio::test]
async fn a_reverted_reclaim_shows_in_the_abandon_records_and_gives_the_customer_back() {
    let h = Harness::start().await;
    let alice = h.user("Alice", None).await;
    let limit = |value| pb::Limit {
        value,
        ..Default::default()
    };
    let rules = pb::PoolRules {
        cooldown_days: Some(limit(7)),
        ..Default::default()
    };
    let pool = h.pool(pb::PoolMode::FreeClaim, rules, &[], &[&alice]).await;
    let c = h.customer(&pool, "北京某某").await;
    h.claim(&alice, &c).await;
    let reclaim = h
        .commands(&h.admin)
        .reclaim_customer(pb::ReclaimCustomerRequest {
            command_id: command_id(),
            customer: c.clone(),
            reason: "长期未跟进".into(),
            ..Default::default()
        })
        .await
        .expect("reclaim")
        .into_inner();
    let reverted = revert(&h, &h.admin, reclaim.position, "跟进记录在另一个系统")
        .await
        .expect("revert");
    assert_eq!(customer(&h, &c, reverted.position).await.owner, alice);
    let records = h
        .queries(&h.admin)
        .list_abandon_records(pb::ListAbandonRecordsRequest {
            pool: pool.clone(),
            min_position: reverted.position,
            ..Default::default()
        })
        .await
        .expect("records")
        .into_inner()
        .records;
    assert_eq!(records.len(), 1);
    assert_eq!(
        (records[0].kind.as_str(), records[0].position),
        ("reclaimed", reclaim.position)
    );
    let reversal = records[0].reverted.as_ref().expect("marked reverted");
    assert_eq!(
        (reversal.position, reversal.reason.as_str()),
        (reverted.position, "跟进记录在另一个系统")
    );
    // No cooldown started: Alice abandons and claims it back at once.
    h.commands(&alice)
        .abandon_customer(pb::AbandonCustomerRequest {
            command_id: command_id(),
            customer: c.clone(),
            reason: "无意向".into(),
            ..Default::default()
        })
        .await
        .expect("abandon");
    let refused = h
        .commands(&alice)
        .claim_customer(pb::ClaimCustomerRequest {
            command_id: command_id(),
            customer: c.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        reason(&refused),
        "cooldown_active",
        "the abandon's own cooldown applies"
    );
}

#[tokio::test]
async fn a_mistaken_imports_auto_assignments_revert_all_or_none() {
    let h = Harness::start().await;
    let alice = h.user("Alice", None).await;
    let bob = h.user("Bob", None).await;
    let rules = pb::PoolRules {
        auto_assign: vec![pb::AssignRule {
            display_name: "全部给 Bob".into(),
            assignees: vec![bob.clone()],
            strategy: pb::AssignStrategy::RoundRobin as i32,
            ..Default::default()
        }],
        ..Default::default()
    };
    let pool = h
        .pool(pb::PoolMode::AssignOnly, rules, &[], &[&alice, &bob])
        .await;
    let import = |names: &[&str]| pb::ImportCustomersRequest {
        command_id: command_id(),
        parent: pool.clone(),
        customers: names
            .iter()
            .map(|name| pb::NewCustomer {
                display_name: (*name).into(),
                ..Default::default()
            })
            .collect(),
    };
    let first = import(&["甲公司", "乙公司", "丙公司"]);
    let first_id = first.command_id.clone();
    let imported = h
        .commands(&h.admin)
        .import_customers(first)
        .await
        .expect("import")
        .into_inner();
    assert_eq!(imported.auto_assigned, 3);

    // A later transfer of one of them makes the whole command unrevertible.
    h.commands(&bob)
        .transfer_customer(pb::TransferCustomerRequest {
            command_id: command_id(),
            customer: imported.names[1].clone(),
            new_owner: alice.clone(),
            ..Default::default()
        })
        .await
        .expect("transfer");
    let tail = h.tail().await;
    let refused = h
        .commands(&h.admin)
        .revert_command(pb::RevertCommandRequest {
            command_id: command_id(),
            reverted_command_id: first_id.clone(),
            reason: "规则配错了".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), "changed_since");
    assert_eq!(h.tail().await, tail, "all or none: nothing was reverted");
    for name in &imported.names {
        assert_eq!(
            customer(&h, name, tail).await.state(),
            pb::CustomerState::Owned
        );
    }

    // A second import's three assignments revert together.
    let second = import(&["丁公司", "戊公司", "己公司"]);
    let second_id = second.command_id.clone();
    let imported = h
        .commands(&h.admin)
        .import_customers(second)
        .await
        .expect("import")
        .into_inner();
    let reverted = h
        .commands(&h.admin)
        .revert_command(pb::RevertCommandRequest {
            command_id: command_id(),
            reverted_command_id: second_id,
            reason: "规则配错了".into(),
        })
        .await
        .expect("revert the import")
        .into_inner();
    assert_eq!(reverted.event_types, vec!["customer.change_reverted"; 3]);
    for name in &imported.names {
        let now = customer(&h, name, reverted.position).await;
        assert_eq!(
            (now.state(), now.owner.as_str()),
            (pb::CustomerState::InPool, "")
        );
    }
    let unknown = h
        .commands(&h.admin)
        .revert_command(pb::RevertCommandRequest {
            command_id: command_id(),
            reverted_command_id: "0190c3a0-0000-7000-8000-00000000dead".into(),
            reason: "规则配错了".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    h.tail().await; // the chain verifies
}
