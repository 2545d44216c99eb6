//! The bodies of the customers' events, from `customer.created` to `customer.shared`, and
//! what they carry: auto-assignment candidates, reclaim evidence, what a restore brought
//! back, the kind of a follow-up.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{CustomerId, EventId, FollowUpId, PoolId, UserId};
use crate::rules::{AssignStrategy, RuleKind};

/// `customer.created`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerCreated {
    /// The new customer.
    pub customer_id: CustomerId,
    /// Its pool.
    pub pool_id: PoolId,
    /// Company or person name.
    pub name: String,
    /// Where it came from (线索来源), used by auto-assignment filters.
    pub source: Option<String>,
    /// Free fields (region, industry, level…).
    pub fields: BTreeMap<String, String>,
    /// Who created it.
    pub created_by: UserId,
    /// Set when the creator keeps it (owned by creator); otherwise it starts unclaimed.
    pub owner: Option<UserId>,
}

/// One assignee considered by an auto-assignment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignCandidate {
    /// The assignee.
    pub user_id: UserId,
    /// Customers of this pool they owned at that moment.
    pub owned_in_pool: u32,
    /// Why they were skipped, if they were: `deactivated`, `unknown_user`, `pool_cap`, `overall_cap`.
    pub skipped: Option<String>,
}

/// `customer.auto_assigned`: everything needed to audit and replay the choice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerAutoAssigned {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its pool.
    pub pool_id: PoolId,
    /// Who received it.
    pub assignee: UserId,
    /// The index of the rule that fired, in the pool's rules (0-based).
    pub rule_index: u32,
    /// The rule's name.
    pub rule_name: String,
    /// The rule's strategy.
    pub strategy: AssignStrategy,
    /// The version of the pool's rules in force.
    pub rules_version: u32,
    /// Every assignee of the rule, in rotation order, with load and skip reason.
    pub candidates: Vec<AssignCandidate>,
    /// The rule's rotation pointer before (index of the next assignee to try).
    pub pointer_before: u32,
    /// The rule's rotation pointer after.
    pub pointer_after: u32,
}

/// `customer.assigned`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerAssigned {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its pool.
    pub pool_id: PoolId,
    /// The new owner.
    pub assignee: UserId,
    /// The applicant whose pending application this assignment overrode, if any.
    pub overrode_applicant: Option<UserId>,
    /// Where protection counts from.
    pub protection_start: DateTime<Utc>,
    /// An explicit end of protection chosen by the admin (seed 004), in any pool: with the
    /// pool's protection rule on the customer is reclaimed then unless won; with it off it
    /// shows in the expired view (已过期) from then on.
    pub protection_until: Option<DateTime<Utc>>,
}

/// `customer.claimed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerClaimed {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its pool.
    pub pool_id: PoolId,
    /// The new owner.
    pub owner: UserId,
}

/// `customer.claim_requested`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRequested {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its pool.
    pub pool_id: PoolId,
    /// Who applied.
    pub applicant: UserId,
}

/// `customer.claim_approved`: the applicant becomes the owner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimApproved {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its pool.
    pub pool_id: PoolId,
    /// The applicant, now owner.
    pub applicant: UserId,
}

/// `customer.claim_rejected`: the customer is unclaimed again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRejected {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its pool.
    pub pool_id: PoolId,
    /// Who had applied.
    pub applicant: UserId,
    /// Why, if given.
    pub reason: Option<String>,
}

/// `customer.abandoned`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerAbandoned {
    /// The customer.
    pub customer_id: CustomerId,
    /// The pool it was in.
    pub from_pool: PoolId,
    /// The pool it went to (by the return target rule).
    pub to_pool: PoolId,
    /// The former owner who gave it up (放弃人).
    pub abandoner: UserId,
    /// The reason (放弃原因).
    pub reason: String,
}

/// `customer.reclaimed`: a manual reclaim; the former owner becomes a related person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerReclaimed {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its pool.
    pub pool_id: PoolId,
    /// Who owned it.
    pub former_owner: UserId,
    /// Why, if given (deactivations say so here).
    pub reason: Option<String>,
}

/// The facts an automatic reclaim was decided on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReclaimEvidence {
    /// When the ownership began.
    pub owned_since: DateTime<Utc>,
    /// The last follow-up, if any.
    pub last_contact_at: Option<DateTime<Utc>>,
    /// When it was won, if it was.
    pub won_at: Option<DateTime<Utc>>,
    /// Where the rule's threshold counted from (the later of the base and the rule's start).
    pub counted_from: DateTime<Utc>,
    /// The end of protection, if it had one: the rule's default or an explicit window
    /// (the latter also in a pool whose protection rule is off).
    pub protection_until: Option<DateTime<Utc>>,
}

/// `customer.auto_reclaimed`: names the rule, its threshold, the evidence, the due time
/// and the version of the rules in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerAutoReclaimed {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its pool.
    pub pool_id: PoolId,
    /// Who owned it.
    pub former_owner: UserId,
    /// The rule that fired.
    pub rule: RuleKind,
    /// Its threshold in days for this owner.
    pub threshold_days: u32,
    /// When it became due.
    pub due_at: DateTime<Utc>,
    /// The version of the pool's rules in force.
    pub rules_version: u32,
    /// The facts the decision rests on.
    pub evidence: ReclaimEvidence,
    /// Why an escalated customer went back to the pool instead of to the ladder's outcome
    /// (`ladder_stopped_by_follow_up`, `no_superior`, `superior_deactivated`,
    /// `superior_not_member`, `superior_at_pool_cap`, `superior_at_overall_cap`,
    /// `no_assignee`); absent without escalation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation_fallback: Option<String>,
}

/// `customer.reclaim_escalated`: the owner's superior was told of a coming reclaim
/// (逐级上报), with the rule, the evidence and the rules version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReclaimEscalated {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its pool.
    pub pool_id: PoolId,
    /// The owner.
    pub owner: UserId,
    /// The owner's superior, notified; `None` when the owner has no active superior.
    pub superior: Option<UserId>,
    /// The rule that will fire.
    pub rule: RuleKind,
    /// When it will fire unless something changes.
    pub due_at: DateTime<Utc>,
    /// The version of the pool's rules in force.
    pub rules_version: u32,
    /// The facts the coming reclaim rests on.
    pub evidence: ReclaimEvidence,
}

/// How an escalated customer found its new owner at the deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReassignedVia {
    /// The former owner's superior.
    Superior,
    /// The pool's auto-assignment rules.
    AutoAssign,
}

/// `customer.reclaim_reassigned`: at its deadline an escalated customer went to the
/// owner's superior or to an auto-assignee instead of back to the pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerReclaimReassigned {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its pool.
    pub pool_id: PoolId,
    /// Who owned it.
    pub former_owner: UserId,
    /// Who owns it now.
    pub new_owner: UserId,
    /// How the new owner was found.
    pub via: ReassignedVia,
    /// With `via: auto_assign`, the rule that chose and the candidates it weighed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment: Option<Box<ReassignmentChoice>>,
    /// The rule that fired.
    pub rule: RuleKind,
    /// Its threshold in days for the former owner.
    pub threshold_days: u32,
    /// When it became due.
    pub due_at: DateTime<Utc>,
    /// The version of the pool's rules in force.
    pub rules_version: u32,
    /// The facts the decision rests on.
    pub evidence: ReclaimEvidence,
}

/// The auto-assignment behind a reassignment at a deadline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReassignmentChoice {
    /// The index of the rule that chose (0-based).
    pub rule_index: u32,
    /// The rule's name.
    pub rule_name: String,
    /// Every assignee of the rule with load and skip reason.
    pub candidates: Vec<AssignCandidate>,
    /// The rule's rotation pointer before.
    pub pointer_before: u32,
    /// The rule's rotation pointer after.
    pub pointer_after: u32,
}

/// `customer.reclaim_reminded`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReclaimReminded {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its pool.
    pub pool_id: PoolId,
    /// The owner being warned.
    pub owner: UserId,
    /// The rule that will fire.
    pub rule: RuleKind,
    /// When it will fire unless something changes.
    pub due_at: DateTime<Utc>,
}

/// `customer.transferred`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerTransferred {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its pool.
    pub pool_id: PoolId,
    /// The former owner.
    pub from: UserId,
    /// The new owner.
    pub to: UserId,
    /// Why, if given (deactivations say so here).
    pub reason: Option<String>,
}

/// `customer.frozen`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerFrozen {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its pool.
    pub pool_id: PoolId,
    /// The owner whose ownership the freeze ended, if it was owned.
    pub former_owner: Option<UserId>,
    /// Why, if given.
    pub reason: Option<String>,
}

/// `customer.unfrozen`: back in its pool, unclaimed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerUnfrozen {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its pool.
    pub pool_id: PoolId,
}

/// `customer.moved`: same state, another pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerMoved {
    /// The customer.
    pub customer_id: CustomerId,
    /// The pool it left.
    pub from_pool: PoolId,
    /// The pool it joined.
    pub to_pool: PoolId,
}

/// `customer.deleted`: into the recycle bin; restorable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerDeleted {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its pool.
    pub pool_id: PoolId,
    /// The owner whose ownership the deletion ended, if it was owned.
    pub former_owner: Option<UserId>,
}

/// What a restore brought the customer back to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestoredTo {
    /// Owned by its former owner again (seed 004: 还原到原负责人名下).
    FormerOwner,
    /// Unclaimed in its pool.
    Pool,
    /// Frozen, as it was.
    Frozen,
}

/// `customer.restored`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerRestored {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its pool.
    pub pool_id: PoolId,
    /// What it came back to.
    pub restored_to: RestoredTo,
    /// The owner, when restored to the former owner.
    pub owner: Option<UserId>,
    /// Why a formerly owned customer went to the pool instead: `former_owner_deactivated`,
    /// `former_owner_at_pool_cap`, `former_owner_at_overall_cap`.
    pub note: Option<String>,
}

/// The kind of a follow-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FollowUpKind {
    /// A phone call.
    Call,
    /// A visit.
    Visit,
    /// A message (mail, chat, SMS).
    Message,
    /// A note.
    Note,
}

/// `customer.follow_up_logged`: resets the no-contact timers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUpLogged {
    /// The customer.
    pub customer_id: CustomerId,
    /// The follow-up's id (comments refer to it).
    pub follow_up_id: FollowUpId,
    /// The owner who logged it.
    pub author: UserId,
    /// Call, visit, message or note.
    pub kind: FollowUpKind,
    /// What was said (洽谈进展).
    pub note: String,
}

/// `customer.follow_up_commented`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUpCommented {
    /// The customer.
    pub customer_id: CustomerId,
    /// The follow-up commented on.
    pub follow_up_id: FollowUpId,
    /// Who commented (a superior or a pool admin).
    pub author: UserId,
    /// The comment (点评).
    pub comment: String,
}

/// `customer.won`: stops the not-won and protection timers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerWon {
    /// The customer.
    pub customer_id: CustomerId,
    /// The owner who won it.
    pub owner: UserId,
}

/// `customer.protection_extended`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectionExtended {
    /// The customer.
    pub customer_id: CustomerId,
    /// The owner.
    pub owner: UserId,
    /// The end of protection before.
    pub previous_until: DateTime<Utc>,
    /// The end of protection now.
    pub until: DateTime<Utc>,
    /// The latest protection may ever reach for this ownership: the pool's maximum. Absent
    /// when the pool has no protection rule (an admin extending an explicit window there has
    /// no maximum); every event written before that was possible has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_until: Option<DateTime<Utc>>,
}

/// `customer.shared`: a department gains read access (客户共享).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerShared {
    /// The customer.
    pub customer_id: CustomerId,
    /// The department that may now read it.
    pub department: String,
}

/// What a revert brought the customer back to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum RevertedTo {
    /// Unclaimed in its pool.
    InPool,
    /// The application pending again.
    Pending {
        /// The applicant.
        applicant: UserId,
    },
    /// Owned by this user again (a fresh ownership from the revert).
    Owned {
        /// The owner.
        owner: UserId,
    },
    /// The same state, moved back to `pool_id` by the `customer.moved` appended just
    /// before (a move reverted); this event changes no state.
    Moved,
}

/// `customer.change_reverted`: the compensation of one ownership change, linked to it. The
/// change itself stays in the log; history and abandon records show it as reverted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerChangeReverted {
    /// The customer.
    pub customer_id: CustomerId,
    /// The pool it is in after the revert.
    pub pool_id: PoolId,
    /// The event compensated.
    pub compensates: EventId,
    /// Its log position.
    pub compensates_position: u64,
    /// Its type, e.g. `customer.transferred`.
    pub reverted_type: String,
    /// The owner whose ownership the revert ended, if it was owned.
    pub former_owner: Option<UserId>,
    /// What the customer is now.
    pub reverted_to: RevertedTo,
    /// Why (required).
    pub reason: String,
}

/// What every personal field of a purged customer reads: its name, each free field's
/// value, its follow-up notes and comments, a rejection's remark.
pub const PURGED: &str = "[purged]";

/// `customer.purged`: the customer's personal data was erased (its key destroyed, its
/// personal fields `[purged]` everywhere); who owned it, when and why stays.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerPurged {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its pool.
    pub pool_id: PoolId,
    /// Why (the erasure request or legal order; never personal data itself).
    pub reason: String,
    /// Whether it was purged outside the recycle bin (a legal order).
    pub forced: bool,
}
