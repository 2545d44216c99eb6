//! The seed manuals' walkthroughs, end to end over gRPC: commands through CommandService,
//! what the pool and the owner see through QueryService, time moved by the manual clock.

use poolkeeper_proto::v1 as pb;
use poolkeeper_tests::{Harness, command_id};

const DAY: i64 = 86_400;

fn days(n: u32) -> Option<pb::Limit> {
    Some(pb::Limit {
        value: n,
        ..Default::default()
    })
}

/// Seed 000 §一 and §二: the admin reclaims a customer (it leaves the owner's list and shows
/// as 未领用), assigns it; a member applies (待审批), the admin approves (已领用); the
/// owner abandons with a reason and the pool shows the reason and the abandoner, and the
/// customer can be handed out again.
async fn seed_000_reclaim_assign_apply_approve_and_abandon_with_reason(h: Harness) {
    let keeper = h.user("销售经理", None).await;
    let alice = h.user("Alice", Some(&keeper)).await;
    let bob = h.user("Bob", Some(&keeper)).await;
    let rules = pb::PoolRules {
        abandon_reasons: vec!["客户无意向".into(), "联系不上".into()],
        ..Default::default()
    };
    let pool = h
        .pool(
            pb::PoolMode::ClaimWithApproval,
            rules,
            &[&keeper],
            &[&alice, &bob],
        )
        .await;
    let customer = h.customer(&pool, "上海某某金融服务有限公司").await;

    // The admin assigns it to Alice, then reclaims it.
    let assigned = h
        .commands(&keeper)
        .assign_customer(pb::AssignCustomerRequest {
            command_id: command_id(),
            customer: customer.clone(),
            assignee: alice.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mine = h
        .queries(&alice)
        .list_owner_customers(pb::ListOwnerCustomersRequest {
            min_position: assigned.position,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        mine.customers
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        [customer.as_str()]
    );
    let reclaimed = h
        .commands(&keeper)
        .reclaim_customer(pb::ReclaimCustomerRequest {
            command_id: command_id(),
            customer: customer.clone(),
            reason: "重新分配".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mine = h
        .queries(&alice)
        .list_owner_customers(pb::ListOwnerCustomersRequest {
            min_position: reclaimed.position,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        mine.customers.is_empty(),
        "a reclaimed customer leaves the owner's list"
    );
    let seen = h.customer_as(&keeper, &customer, reclaimed.position).await;
    assert_eq!(seen.state(), pb::CustomerState::InPool);
    let reclaim = seen.last_reclaim.expect("the pool shows who reclaimed it");
    assert_eq!(
        (
            reclaim.reclaimed_by.as_str(),
            reclaim.former_owner.as_str(),
            reclaim.reason.as_str()
        ),
        (keeper.as_str(), alice.as_str(), "重新分配")
    );

    // Bob applies; the customer is pending; the admin approves.
    h.commands(&bob)
        .request_claim(pb::RequestClaimRequest {
            command_id: command_id(),
            customer: customer.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let pending = h
        .queries(&keeper)
        .list_pool_customers(pb::ListPoolCustomersRequest {
            pool: pool.clone(),
            view: pb::PoolView::Pending as i32,
            min_position: h.tail().await,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(pending.customers.len(), 1);
    assert_eq!(pending.customers[0].applicant, bob);
    let approved = h
        .commands(&keeper)
        .approve_claim(pb::ApproveClaimRequest {
            command_id: command_id(),
            customer: customer.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        h.customer_as(&bob, &customer, approved.position)
            .await
            .owner,
        bob
    );

    // Bob abandons with a reason from the pool's list; the pool shows reason and abandoner.
    let refused = h
        .commands(&bob)
        .abandon_customer(pb::AbandonCustomerRequest {
            command_id: command_id(),
            customer: customer.clone(),
            reason: "不想要了".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    let abandoned = h
        .commands(&bob)
        .abandon_customer(pb::AbandonCustomerRequest {
            command_id: command_id(),
            customer: customer.clone(),
            reason: "客户无意向".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let unclaimed = h
        .queries(&keeper)
        .list_pool_customers(pb::ListPoolCustomersRequest {
            pool: pool.clone(),
            view: pb::PoolView::Unclaimed as i32,
            min_position: abandoned.position,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let shown = unclaimed
        .customers
        .iter()
        .find(|c| c.name == customer)
        .expect("back in the pool");
    let abandon = shown
        .last_abandon
        .as_ref()
        .expect("reason and abandoner are shown");
    assert_eq!(
        (abandon.reason.as_str(), abandon.abandoner.as_str()),
        ("客户无意向", bob.as_str())
    );
    let audit = h
        .queries(&keeper)
        .list_abandon_records(pb::ListAbandonRecordsRequest {
            pool: pool.clone(),
            reason: "客户无意向".into(),
            min_position: abandoned.position,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(audit.records.len(), 1);
    assert_eq!(
        (
            audit.records[0].kind.as_str(),
            audit.records[0].from_user.as_str()
        ),
        ("abandoned", bob.as_str())
    );

    // It can be handed out again.
    h.commands(&keeper)
        .assign_customer(pb::AssignCustomerRequest {
            command_id: command_id(),
            customer: customer.clone(),
            assignee: alice.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
}

/// Seed 000 §三: a 5-day no-contact rule reclaims on day 6 (five whole days after the last
/// follow-up); the reclaim names its rule and threshold in the audit.
async fn seed_000_no_contact_for_five_days_reclaims_on_day_six(h: Harness) {
    let alice = h.user("Alice", None).await;
    let pool = h
        .pool(
            pb::PoolMode::FreeClaim,
            pb::PoolRules {
                no_contact_days: days(5),
                ..Default::default()
            },
            &[],
            &[&alice],
        )
        .await;
    let customer = h.customer(&pool, "深圳某某科技有限公司").await;
    h.commands(&alice)
        .claim_customer(pb::ClaimCustomerRequest {
            command_id: command_id(),
            customer: customer.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let contact = h
        .commands(&alice)
        .log_follow_up(pb::LogFollowUpRequest {
            command_id: command_id(),
            customer: customer.clone(),
            kind: pb::FollowUpKind::Visit as i32,
            note: "上门拜访".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let seen = h.customer_as(&alice, &customer, contact.position).await;
    assert_eq!(seen.next_reclaim_rule(), pb::ReclaimRule::NoContact);
    assert_eq!(
        seen.next_reclaim_time.unwrap().seconds,
        poolkeeper_tests::t0().timestamp() + 5 * DAY
    );

    let day5 = h.advance(5 * DAY - 1).await;
    assert_eq!(day5.actions_run, 0, "nothing is due before five whole days");
    let day6 = h.advance(1).await;
    assert_eq!(day6.actions_run, 1);
    let seen = h.customer_as(&h.admin, &customer, day6.position).await;
    assert_eq!(seen.state(), pb::CustomerState::InPool);
    assert_eq!(
        seen.last_reclaim.unwrap().rule(),
        pb::ReclaimRule::NoContact
    );
    let audit = h
        .queries(&h.admin)
        .list_abandon_records(pb::ListAbandonRecordsRequest {
            rule: pb::ReclaimRule::NoContact as i32,
            min_position: day6.position,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(audit.records.len(), 1);
    assert_eq!(
        (
            audit.records[0].kind.as_str(),
            audit.records[0].threshold_days
        ),
        ("auto_reclaimed", 5)
    );
    assert!(audit.records[0].evidence_json.contains("last_contact_at"));
}

/// Seed 001 §三 and seed 004 §3.4: the recycle bin shows who deleted the customer and when;
/// restoring puts it back in the former owner's list.
async fn seed_001_recycle_bin_and_restore_to_the_former_owner(h: Harness) {
    let manager = h.user("宋文明的经理", None).await;
    let song = h.user("宋文明", Some(&manager)).await;
    let customer = h.customer(&h.default_pool, "北京某某贸易").await;
    h.commands(&song)
        .claim_customer(pb::ClaimCustomerRequest {
            command_id: command_id(),
            customer: customer.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let deleted = h
        .commands(&manager)
        .delete_customer(pb::DeleteCustomerRequest {
            command_id: command_id(),
            customer: customer.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let bin = h
        .queries(&h.admin)
        .list_pool_customers(pb::ListPoolCustomersRequest {
            pool: h.default_pool.clone(),
            view: pb::PoolView::RecycleBin as i32,
            min_position: deleted.position,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(bin.customers.len(), 1);
    assert_eq!(bin.customers[0].deleted_by, manager);
    assert!(bin.customers[0].delete_time.is_some());
    let refused = h
        .queries(&song)
        .list_pool_customers(pb::ListPoolCustomersRequest {
            pool: h.default_pool.clone(),
            view: pb::PoolView::RecycleBin as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        tonic::Code::PermissionDenied,
        "the recycle bin is for admins"
    );

    let restored = h
        .commands(&h.admin)
        .restore_customer(pb::RestoreCustomerRequest {
            command_id: command_id(),
            customer: customer.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mine = h
        .queries(&song)
        .list_owner_customers(pb::ListOwnerCustomersRequest {
            min_position: restored.position,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        mine.customers.len(),
        1,
        "restored to the former owner's list"
    );
}

/// Seed 003: the cooldown blocks a re-claim by the same salesperson; protection extension
/// stops at the maximum; the history answers who owned the customer when.
async fn seed_003_cooldown_protection_maximum_and_history(h: Harness) {
    let alice = h.user("Alice", None).await;
    let bob = h.user("Bob", None).await;
    let rules = pb::PoolRules {
        cooldown_days: days(7),
        protection: Some(pb::ProtectionRule {
            default_days: days(10),
            max_days: 15,
            extension_contact_within_days: 3,
            extension_extend_by_days: 10,
        }),
        ..Default::default()
    };
    let pool = h
        .pool(pb::PoolMode::FreeClaim, rules, &[], &[&alice, &bob])
        .await;
    let customer = h.customer(&pool, "广州某某制造").await;
    let claim = |user: &str| {
        let mut commands = h.commands(user);
        let customer = customer.clone();
        async move {
            commands
                .claim_customer(pb::ClaimCustomerRequest {
                    command_id: command_id(),
                    customer,
                    ..Default::default()
                })
                .await
        }
    };
    let first = claim(&alice).await.unwrap().into_inner();
    h.commands(&alice)
        .abandon_customer(pb::AbandonCustomerRequest {
            command_id: command_id(),
            customer: customer.clone(),
            reason: "暂无需求".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let cooldown = claim(&alice).await.unwrap_err();
    assert_eq!(cooldown.code(), tonic::Code::FailedPrecondition);
    assert_eq!(poolkeeper_tests::reason(&cooldown), "cooldown_active");

    let bobs = claim(&bob).await.unwrap().into_inner();
    h.advance(9 * DAY).await;
    h.commands(&bob)
        .log_follow_up(pb::LogFollowUpRequest {
            command_id: command_id(),
            customer: customer.clone(),
            kind: pb::FollowUpKind::Call as i32,
            note: "跟进".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let extended = h.advance(DAY).await; // day 10: extended, but only to the 15-day maximum
    assert_eq!(extended.actions_run, 1);
    let seen = h.customer_as(&bob, &customer, extended.position).await;
    assert_eq!(seen.owner, bob);
    assert_eq!(
        seen.protection_end.unwrap().seconds,
        poolkeeper_tests::t0().timestamp() + 15 * DAY,
        "extended only to start + 15 days"
    );
    let reclaimed = h.advance(5 * DAY).await; // day 15: the maximum; reclaimed
    assert_eq!(reclaimed.actions_run, 1);

    let history = h
        .queries(&h.admin)
        .get_ownership_history(pb::GetOwnershipHistoryRequest {
            customer: customer.clone(),
            as_of: Some(prost_types::Timestamp {
                seconds: poolkeeper_tests::t0().timestamp() + 5 * DAY,
                nanos: 0,
            }),
            min_position: reclaimed.position,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let owners: Vec<(&str, &str)> = history
        .intervals
        .iter()
        .map(|i| (i.owner.as_str(), i.ended_by.as_str()))
        .collect();
    assert_eq!(
        owners,
        [
            (alice.as_str(), "abandoned"),
            (bob.as_str(), "auto_reclaimed")
        ]
    );
    assert_eq!(history.owner_as_of.expect("owned on day 5").owner, bob);
    assert_eq!(history.intervals[0].start_position, first.position);
    assert_eq!(history.intervals[1].start_position, bobs.position);
    let holdings = h
        .queries(&h.admin)
        .list_holdings_as_of(pb::ListHoldingsAsOfRequest {
            owner: bob.clone(),
            as_of: Some(prost_types::Timestamp {
                seconds: poolkeeper_tests::t0().timestamp() + DAY,
                nanos: 0,
            }),
            min_position: reclaimed.position,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(holdings.intervals.len(), 1);
}

/// Seed 004 §3.1.3 and §3.2: deleting a user hands their customers to a successor; a
/// superior sees subordinates' customers, peers see nothing of each other's.
async fn seed_004_deactivation_handover_and_visibility(h: Harness) {
    let manager = h.user("销售经理", None).await;
    let alice = h.user("Alice", Some(&manager)).await;
    let carol = h.user("Carol", None).await;
    let pool = h
        .pool(
            pb::PoolMode::FreeClaim,
            pb::PoolRules {
                hide_claimed_from_members: true,
                ..Default::default()
            },
            &[],
            &[&alice, &carol, &manager],
        )
        .await;
    let customer = h.customer(&pool, "杭州某某电商").await;
    let claimed = h
        .commands(&alice)
        .claim_customer(pb::ClaimCustomerRequest {
            command_id: command_id(),
            customer: customer.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let team = h
        .queries(&manager)
        .list_owner_customers(pb::ListOwnerCustomersRequest {
            owner: manager.clone(),
            scope: pb::OwnerScope::OwnAndSubordinates as i32,
            min_position: claimed.position,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        team.customers.len(),
        1,
        "the superior sees the subordinate's customer"
    );
    let peer = h
        .queries(&carol)
        .get_customer(pb::GetCustomerRequest {
            name: customer.clone(),
            min_position: claimed.position,
        })
        .await
        .unwrap_err();
    assert_eq!(peer.code(), tonic::Code::NotFound, "peers are isolated");
    let peer_list = h
        .queries(&carol)
        .list_owner_customers(pb::ListOwnerCustomersRequest {
            owner: alice.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(peer_list.code(), tonic::Code::PermissionDenied);

    let handed = h
        .commands(&h.admin)
        .deactivate_user(pb::DeactivateUserRequest {
            command_id: command_id(),
            user: alice.clone(),
            successor: manager.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        handed.event_types,
        ["user.deactivated", "customer.transferred"]
    );
    assert_eq!(
        h.customer_as(&manager, &customer, handed.position)
            .await
            .owner,
        manager
    );
    let gone = h
        .commands(&alice)
        .claim_customer(pb::ClaimCustomerRequest {
            command_id: command_id(),
            customer: customer.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), tonic::Code::PermissionDenied);
}

/// Each walkthrough runs three times: in the default organization, in one created beside
/// it (whose positions, pools and users are its own), and in one created on a server whose
/// logs live in PostgreSQL (a throwaway cluster).
macro_rules! in_both_organizations {
    ($($walkthrough:ident),* $(,)?) => {
        mod default_organization {
            $(
                #[tokio::test]
                async fn $walkthrough() {
                    super::$walkthrough(super::Harness::start().await).await;
                }
            )*
        }
        mod on_postgresql {
            $(
                #[tokio::test]
                async fn $walkthrough() {
                    let Some(h) = super::Harness::start_on_postgres().await else {
                        return;
                    };
                    super::$walkthrough(h.in_new_organization("acme").await).await;
                }
            )*
        }
        mod another_organization {
            $(
                #[tokio::test]
                async fn $walkthrough() {
                    let h = super::Harness::start().await.in_new_organization("acme").await;
                    super::$walkthrough(h).await;
                }
            )*
        }
    };
}

in_both_organizations!(
    seed_000_reclaim_assign_apply_approve_and_abandon_with_reason,
    seed_000_no_contact_for_five_days_reclaims_on_day_six,
    seed_001_recycle_bin_and_restore_to_the_former_owner,
    seed_003_cooldown_protection_maximum_and_history,
    seed_004_deactivation_handover_and_visibility,
);
