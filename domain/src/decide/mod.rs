//! `decide`: the pure decision of one command against the write model.
//!
//! [`decide`] checks a command in a fixed order (that the actor exists and is active, the
//! expected version of the target, then per command: the shape of its fields, that what it
//! names exists, the actor's permission, the target's state, then
//! cooldowns, quotas and caps) and returns the events it causes, or the first reason it
//! must be refused. It reads the model and never changes it; the caller appends the
//! events and folds them in with [`WriteModel::apply`]. Commands that emit several events
//! (imports with auto-assignment, deactivations) track their own effect on counts and
//! rotation pointers in an overlay, so caps hold within one command too.
//!
//! This module owns the order of the checks every command shares and which function decides
//! which command (`decide_by_family`); each command is one function of the same shape,
//! `fn(&mut Ruling, fields…) -> Result<()>`, in the file of its family:
//!
//! - `checks`: what several commands check (the actor, admins, owners, caps, cooldowns,
//!   quotas, the expected version, the shape of text fields) and the lookups they share;
//! - `users`: create, update and deactivate users (a deactivation hands their customers on);
//! - `pools`: create pools, set their mode, admins, members and rules (and validate the
//!   rules), and the organization's settings;
//! - `intake`: create and import customers, and auto-assign the new ones;
//! - `claims`: assign, claim, request a claim, approve or reject it;
//! - `ownership`: abandon, reclaim (by hand or by rule), reclaim reminders, transfer,
//!   freeze and unfreeze, move between pools, delete and restore;
//! - `ladder`: the escalation ladder before an automatic reclaim (the superior notified,
//!   the customer reassigned at the deadline);
//! - `revert`: undo by compensation (one change, or every change of one command);
//! - `follow_ups`: what happens to an owned customer: follow-ups and comments, the deal
//!   (won), its protection window, department shares.

mod checks;
mod claims;
mod follow_ups;
mod intake;
mod ladder;
mod ownership;
mod pools;
mod purge;
mod revert;

pub use pools::rules_change;
mod users;

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::command::{Command, CommandBody};
use crate::error::DomainError;
use crate::event::{Event, EventBody};
use crate::ids::{EventId, PoolId, UserId};
use crate::model::WriteModel;

/// Decides `command` against `model` at `now`: the events it causes, or why it is refused.
/// An empty list means the command asked for what already holds (e.g. setting a mode a
/// pool already has).
pub fn decide(model: &WriteModel, command: &Command, now: DateTime<Utc>) -> Result<Vec<Event>> {
    let mut ruling = Ruling {
        model,
        command,
        now,
        events: Vec::new(),
        owned_delta: HashMap::new(),
        rotation: HashMap::new(),
    };
    ruling.check_actor()?;
    ruling.check_expected_version()?;
    decide_by_family(&mut ruling, &command.body)?;
    Ok(ruling.events)
}

/// Decides the command with the function of its family.
fn decide_by_family(ruling: &mut Ruling<'_>, body: &CommandBody) -> Result<()> {
    use CommandBody::*;
    match body {
        CreateUser {
            user_id,
            name,
            superior,
            department,
            admin,
        } => users::create(
            ruling,
            *user_id,
            name,
            *superior,
            department.as_deref(),
            *admin,
        ),
        UpdateUser {
            user_id,
            name,
            superior,
            department,
            admin,
        } => users::update(
            ruling,
            *user_id,
            name,
            *superior,
            department.as_deref(),
            *admin,
        ),
        DeactivateUser { user_id, successor } => users::deactivate(ruling, *user_id, *successor),
        CreatePool {
            pool_id,
            name,
            mode,
            admins,
            members,
            everyone,
            default,
            rules,
        } => pools::create(
            ruling, *pool_id, name, *mode, admins, members, *everyone, *default, rules,
        ),
        SetPoolMode { pool_id, mode } => pools::set_mode(ruling, *pool_id, *mode),
        SetPoolAdmins { pool_id, admins } => pools::set_admins(ruling, *pool_id, admins),
        SetPoolMembers {
            pool_id,
            members,
            everyone,
        } => pools::set_members(ruling, *pool_id, members, *everyone),
        SetPoolRules { pool_id, rules } => pools::set_rules(ruling, *pool_id, rules),
        SetOrganizationSettings {
            overall_cap,
            day_offset_minutes,
        } => pools::set_organization_settings(ruling, overall_cap, *day_offset_minutes),
        CreateCustomer(new) => intake::create(ruling, new),
        ImportCustomers { customers } => intake::import(ruling, customers),
        Assign {
            customer_id,
            assignee,
            protection,
        } => claims::assign(ruling, *customer_id, *assignee, *protection),
        Claim { customer_id } => claims::claim(ruling, *customer_id),
        RequestClaim { customer_id } => claims::request(ruling, *customer_id),
        ApproveClaim { customer_id } => claims::approve(ruling, *customer_id),
        RejectClaim {
            customer_id,
            reason,
        } => claims::reject(ruling, *customer_id, reason.as_deref()),
        Abandon {
            customer_id,
            reason,
            return_to,
        } => ownership::abandon(ruling, *customer_id, reason, *return_to),
        Reclaim {
            customer_id,
            reason,
        } => ownership::reclaim(ruling, *customer_id, reason.as_deref()),
        AutoReclaim {
            customer_id,
            rule,
            due_at,
        } => ownership::auto_reclaim(ruling, *customer_id, *rule, *due_at),
        RemindReclaim {
            customer_id,
            due_at,
        } => ownership::remind_reclaim(ruling, *customer_id, *due_at),
        EscalateReclaim {
            customer_id,
            due_at,
        } => ladder::escalate(ruling, *customer_id, *due_at),
        RevertChanges { changes, reason } => revert::revert(ruling, changes, reason),
        Transfer {
            customer_id,
            new_owner,
            reason,
        } => ownership::transfer(ruling, *customer_id, *new_owner, reason.as_deref()),
        Freeze {
            customer_id,
            reason,
        } => ownership::freeze(ruling, *customer_id, reason.as_deref()),
        Unfreeze { customer_id } => ownership::unfreeze(ruling, *customer_id),
        Move {
            customer_id,
            destination_pool,
        } => ownership::move_pool(ruling, *customer_id, *destination_pool),
        Delete { customer_id } => ownership::delete(ruling, *customer_id),
        Restore { customer_id } => ownership::restore(ruling, *customer_id),
        PurgeCustomer {
            customer_id,
            reason,
            force,
        } => purge::purge(ruling, *customer_id, reason, *force),
        LogFollowUp {
            customer_id,
            follow_up_id,
            kind,
            note,
        } => follow_ups::log(ruling, *customer_id, *follow_up_id, *kind, note),
        CommentFollowUp {
            customer_id,
            follow_up_id,
            comment,
        } => follow_ups::comment(ruling, *customer_id, *follow_up_id, comment),
        MarkWon { customer_id } => follow_ups::mark_won(ruling, *customer_id),
        ExtendProtection { customer_id, until } => {
            follow_ups::extend_protection(ruling, *customer_id, *until)
        }
        Share {
            customer_id,
            department,
        } => follow_ups::share(ruling, *customer_id, department),
    }
}

type Result<T> = std::result::Result<T, DomainError>;

/// The ruling on one command: what it is decided against (the model, the command, the
/// instant) and what it has decided so far (its events, and their effect on owned counts
/// and rotation pointers, so that caps and rotations hold within one command).
struct Ruling<'a> {
    model: &'a WriteModel,
    command: &'a Command,
    now: DateTime<Utc>,
    events: Vec<Event>,
    /// Ownership changes emitted so far by this command: (user, pool) → delta.
    owned_delta: HashMap<(UserId, PoolId), i64>,
    /// Rotation pointers moved so far by this command: (pool, rule index) → pointer.
    rotation: HashMap<(PoolId, usize), u32>,
}

impl Ruling<'_> {
    /// Adds an event, with an id derived from the command and its place among the events.
    fn emit(&mut self, body: EventBody) {
        let index = u32::try_from(self.events.len()).unwrap_or(u32::MAX);
        self.events.push(Event {
            event_id: EventId::derive(self.command.command_id, index, self.now),
            command_id: self.command.command_id,
            at: self.now,
            actor: self.command.actor,
            body,
        });
    }
}
