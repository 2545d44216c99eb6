//! The log as the service uses it: personal fields sealed on the way in, and opened on
//! the way out for the readers that need them. [`SealingStore`] wraps any
//! [`EventStore`]; the hash chain underneath only ever sees the ciphertext, so a purge
//! never touches what it covers.
//!
//! A customer's events are recognised by their stream (`customer-{uuid}`), whose id is
//! the key's. Appending a `customer.purged` event shreds that customer's key once the
//! append is durable; a shred that fails turns that purge's outcome into the error (its
//! retry, a duplicate, shreds again), and [`PersonalData::shred_purged_in_log`] finishes
//! at the next open the shreds a crash interrupted. Reading a `customer.purged` event
//! drops the key from memory, so a node that follows another's log stops opening that
//! customer's fields too. Upcasters run beneath, on the stored payload: they see
//! personal fields sealed and must leave them as they are.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use poolkeeper_eventlog::{
    AppendOutcome, AppendRequest, EventLogError, EventStore, EventStream, Position, RecordedEvent,
    StreamId, StreamVersion, Subscription, VerifyReport,
};
use serde_json::Value;
use uuid::Uuid;

use crate::VaultError;
use crate::keys::Keys;
use crate::personal::{
    PURGED_EVENT, has_personal_fields, holds_sealed_fields, open_payload, seal_payload,
};

/// Sealing and opening events with one organization's keys.
pub struct PersonalData {
    keys: Arc<dyn Keys>,
}

impl std::fmt::Debug for PersonalData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonalData").finish_non_exhaustive()
    }
}

fn log_error(error: VaultError) -> EventLogError {
    EventLogError::Backend(Arc::new(error))
}

/// The customer whose stream `stream` is, if it is a customer's.
pub fn customer_of(stream: &StreamId) -> Option<Uuid> {
    let id = stream.as_str().strip_prefix("customer-")?;
    Uuid::parse_str(id).ok()
}

impl PersonalData {
    /// Sealing with the keys of `keys`.
    pub fn new(keys: Arc<dyn Keys>) -> Arc<Self> {
        Arc::new(Self { keys })
    }

    /// Seals the personal fields of every event of `requests`, creating the keys of
    /// customers that have none (in one write to the key store).
    pub async fn seal(&self, requests: &mut [AppendRequest]) -> Result<(), EventLogError> {
        let mut customers = HashSet::new();
        for request in requests.iter() {
            for stream in &request.streams {
                if let Some(customer) = customer_of(&stream.stream_id)
                    && stream
                        .events
                        .iter()
                        .any(|e| has_personal_fields(&e.event_type))
                {
                    customers.insert(customer);
                }
            }
        }
        if customers.is_empty() {
            return Ok(());
        }
        let keys = self
            .keys
            .sealing_keys(customers.into_iter().collect())
            .await
            .map_err(log_error)?;
        for stream in requests.iter_mut().flat_map(|r| r.streams.iter_mut()) {
            let Some(customer) = customer_of(&stream.stream_id) else {
                continue;
            };
            let key = keys.get(&customer).and_then(Option::as_ref);
            for event in &mut stream.events {
                if !has_personal_fields(&event.event_type) {
                    continue;
                }
                let mut payload = parse(&event.payload)?;
                seal_payload(&event.event_type, &mut payload, customer, key);
                event.payload = payload.to_string();
            }
        }
        Ok(())
    }

    /// Opens the sealed fields of `event`: plaintext with the customer's key, [`PURGED`]
    /// (crate::PURGED) once it was shredded.
    pub async fn open(&self, event: &mut RecordedEvent) -> Result<(), EventLogError> {
        let Some(customer) = customer_of(&event.stream_id) else {
            return Ok(());
        };
        if event.event_type == PURGED_EVENT {
            self.keys.forget(customer);
            return Ok(());
        }
        if !holds_sealed_fields(&event.event_type, &event.payload) {
            return Ok(());
        }
        let key = self.keys.key(customer).await.map_err(log_error)?;
        let mut payload = parse(&event.payload)?;
        open_payload(&event.event_type, &mut payload, customer, key.as_ref()).map_err(log_error)?;
        event.payload = payload.to_string();
        Ok(())
    }

    /// What reading `event` does: opens its personal fields when `opening`; read as
    /// stored, a purge still drops the customer's key from memory.
    async fn read(&self, event: &mut RecordedEvent, opening: bool) -> Result<(), EventLogError> {
        if opening {
            return self.open(event).await;
        }
        if event.event_type == PURGED_EVENT
            && let Some(customer) = customer_of(&event.stream_id)
        {
            self.keys.forget(customer);
        }
        Ok(())
    }

    /// Shreds the keys of the customers `requests` purge.
    async fn shred_purged(&self, requests: &[&AppendRequest]) -> Result<(), EventLogError> {
        for stream in requests.iter().flat_map(|r| &r.streams) {
            if stream.events.iter().any(|e| e.event_type == PURGED_EVENT)
                && let Some(customer) = customer_of(&stream.stream_id)
            {
                self.keys.shred(customer).await.map_err(log_error)?;
            }
        }
        Ok(())
    }

    /// Shreds the key of every customer purged in `store` whose key is not shredded yet
    /// (a crash between a purge's append and its shred); returns how many it shredded.
    pub async fn shred_purged_in_log(&self, store: &dyn EventStore) -> Result<u64, EventLogError> {
        const PAGE: usize = 1_000;
        let mut from = 1;
        let mut shredded = 0;
        loop {
            let page = store.read_by_type(PURGED_EVENT, from, PAGE).await?;
            let Some(last) = page.last() else {
                return Ok(shredded);
            };
            from = last.position + 1;
            for customer in page.iter().filter_map(|e| customer_of(&e.stream_id)) {
                if !self.keys.is_shredded(customer).await.map_err(log_error)? {
                    self.keys.shred(customer).await.map_err(log_error)?;
                    shredded += 1;
                }
            }
        }
    }
}

fn purges_a_customer(request: &AppendRequest) -> bool {
    request
        .streams
        .iter()
        .flat_map(|stream| &stream.events)
        .any(|event| event.event_type == PURGED_EVENT)
}

fn parse(payload: &str) -> Result<Value, EventLogError> {
    serde_json::from_str(payload).map_err(|error| EventLogError::InvalidInput {
        field: "payload".into(),
        reason: format!("not JSON: {error}"),
    })
}

/// An [`EventStore`] that seals personal fields on append and, when `opening`, opens
/// them on every read but [`read_all_stored`](EventStore::read_all_stored), which stays
/// exactly as stored (exports verify against it).
pub struct SealingStore {
    inner: Arc<dyn EventStore>,
    personal: Arc<PersonalData>,
    opening: bool,
}

impl SealingStore {
    /// `inner` with personal fields sealed on append and opened on reads.
    pub fn opening(inner: Arc<dyn EventStore>, personal: Arc<PersonalData>) -> Self {
        Self {
            inner,
            personal,
            opening: true,
        }
    }

    /// `inner` with personal fields sealed on append, and reads as stored (the write
    /// model needs no personal data, so folding it opens nothing).
    pub fn sealed(inner: Arc<dyn EventStore>, personal: Arc<PersonalData>) -> Self {
        Self {
            inner,
            personal,
            opening: false,
        }
    }

    /// Sealing and opening with this store's keys.
    pub fn personal(&self) -> &Arc<PersonalData> {
        &self.personal
    }

    async fn opened(
        &self,
        mut events: Vec<RecordedEvent>,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        for event in &mut events {
            self.personal.read(event, self.opening).await?;
        }
        Ok(events)
    }

    fn opened_stream(&self, events: EventStream) -> EventStream {
        let personal = Arc::clone(&self.personal);
        let opening = self.opening;
        Box::pin(events.then(move |event| {
            let personal = Arc::clone(&personal);
            async move {
                let mut event = event?;
                personal.read(&mut event, opening).await?;
                Ok(event)
            }
        }))
    }
}

#[async_trait]
impl EventStore for SealingStore {
    async fn append(&self, mut request: AppendRequest) -> Result<AppendOutcome, EventLogError> {
        self.personal
            .seal(std::slice::from_mut(&mut request))
            .await?;
        if !purges_a_customer(&request) {
            return self.inner.append(request).await;
        }
        let outcome = self.inner.append(request.clone()).await?;
        self.personal.shred_purged(&[&request]).await?;
        Ok(outcome)
    }

    async fn append_batch(
        &self,
        mut requests: Vec<AppendRequest>,
    ) -> Result<Vec<Result<AppendOutcome, EventLogError>>, EventLogError> {
        self.personal.seal(&mut requests).await?;
        let purges: Vec<(usize, AppendRequest)> = requests
            .iter()
            .enumerate()
            .filter(|(_, request)| purges_a_customer(request))
            .map(|(index, request)| (index, request.clone()))
            .collect();
        let mut outcomes = self.inner.append_batch(requests).await?;
        // A purge whose key could not be shredded is not done: its caller gets the error
        // and retries (a duplicate, shredded again); the next open shreds it too.
        for (index, purge) in &purges {
            if let Some(outcome) = outcomes.get_mut(*index)
                && outcome.is_ok()
                && let Err(error) = self.personal.shred_purged(&[purge]).await
            {
                *outcome = Err(error);
            }
        }
        Ok(outcomes)
    }

    async fn command_outcome(
        &self,
        command_id: Uuid,
    ) -> Result<Option<AppendOutcome>, EventLogError> {
        self.inner.command_outcome(command_id).await
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        from_version: StreamVersion,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        let events = self.inner.read_stream(stream, from_version, max).await?;
        self.opened(events).await
    }

    async fn read_all(
        &self,
        from_position: Position,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        let events = self.inner.read_all(from_position, max).await?;
        self.opened(events).await
    }

    async fn read_by_type(
        &self,
        event_type: &str,
        from_position: Position,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        let events = self
            .inner
            .read_by_type(event_type, from_position, max)
            .await?;
        self.opened(events).await
    }

    async fn tail(&self) -> Result<Position, EventLogError> {
        self.inner.tail().await
    }

    async fn stream_version(
        &self,
        stream: &StreamId,
    ) -> Result<Option<StreamVersion>, EventLogError> {
        self.inner.stream_version(stream).await
    }

    fn read_all_stream(&self, from_position: Position) -> EventStream {
        self.opened_stream(self.inner.read_all_stream(from_position))
    }

    fn subscribe(&self, from_position: Position) -> Subscription {
        let inner: EventStream = Box::pin(self.inner.subscribe(from_position));
        Subscription::new(self.opened_stream(inner))
    }

    async fn read_all_stored(
        &self,
        from_position: Position,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        self.inner.read_all_stored(from_position, max).await
    }

    async fn verify(&self) -> Result<VerifyReport, EventLogError> {
        self.inner.verify().await
    }

    async fn close(&self) -> Result<(), EventLogError> {
        self.inner.close().await
    }
}
