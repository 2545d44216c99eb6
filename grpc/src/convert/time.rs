//! Instants, time ranges and points in a customer's history.

use chrono::{DateTime, Days, Duration, NaiveDate, Utc};
use poolkeeper_projections::AsOf;
use poolkeeper_proto::v1 as pb;
use prost_types::Timestamp;
use tonic::Status;

use crate::status::invalid;

/// A protobuf timestamp as an instant.
pub fn instant(field: &str, value: &Timestamp) -> Result<DateTime<Utc>, Status> {
    let nanos =
        u32::try_from(value.nanos).map_err(|_| invalid(field, "nanos must not be negative"))?;
    DateTime::from_timestamp(value.seconds, nanos).ok_or_else(|| invalid(field, "is out of range"))
}

/// An optional protobuf timestamp as an instant.
pub fn optional_instant(
    field: &str,
    value: &Option<Timestamp>,
) -> Result<Option<DateTime<Utc>>, Status> {
    value.as_ref().map(|t| instant(field, t)).transpose()
}

/// An instant as a protobuf timestamp.
pub fn timestamp(at: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// An optional instant as an optional protobuf timestamp.
pub fn optional_timestamp(at: Option<DateTime<Utc>>) -> Option<Timestamp> {
    at.map(timestamp)
}

/// The ends of a time range; either may be open.
pub type Bounds = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// A request's `period`: its ends, the end not before the start.
pub fn period(range: &Option<pb::TimeRange>) -> Result<Bounds, Status> {
    let Some(range) = range else {
        return Ok((None, None));
    };
    let since = optional_instant("period.start", &range.start)?;
    let until = optional_instant("period.end", &range.end)?;
    if let (Some(since), Some(until)) = (since, until)
        && until < since
    {
        return Err(invalid("period.end", "must not be before period.start"));
    }
    Ok((since, until))
}

/// A point in the log named by an instant (`field`) or a position, not both; `None` when
/// neither is given.
pub fn as_of(
    field: &str,
    instant: &Option<Timestamp>,
    position: u64,
) -> Result<Option<AsOf>, Status> {
    match (optional_instant(field, instant)?, position) {
        (Some(_), p) if p > 0 => Err(invalid(field, "give an instant or a position, not both")),
        (Some(at), _) => Ok(Some(AsOf::Instant(at))),
        (None, 0) => Ok(None),
        (None, p) => Ok(Some(AsOf::Position(p))),
    }
}

/// The days from `since` to `until` (the last 30 days to today when open), as the
/// organization counts days: shifted by `offset_minutes` from UTC.
pub fn days(
    now: DateTime<Utc>,
    offset_minutes: i32,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> (NaiveDate, NaiveDate) {
    let day_of =
        |at: DateTime<Utc>| (at + Duration::minutes(i64::from(offset_minutes))).date_naive();
    let to = until.map_or_else(|| day_of(now), day_of);
    let from = since.map_or_else(
        || to.checked_sub_days(Days::new(29)).unwrap_or(NaiveDate::MIN),
        day_of,
    );
    (from, to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        let at = DateTime::from_timestamp(1_790_000_000, 123_000_000).unwrap();
        assert_eq!(instant("t", &timestamp(at)).unwrap(), at);
        assert!(
            instant(
                "t",
                &Timestamp {
                    seconds: 0,
                    nanos: -1
                }
            )
            .is_err()
        );
    }
}
