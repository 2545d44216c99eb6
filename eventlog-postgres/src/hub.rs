//! Wake-ups of subscribers: every organization's committed head, as a
//! `watch` channel per organization.
//!
//! Two sources feed it: this process's writers right after they commit, and a
//! listener task holding one dedicated connection that `LISTEN`s on
//! [`CHANNEL`], where every append transaction notifies `"<head> <organization>"`
//! (delivered at commit, so other processes' appends reach subscribers too).
//! A notification is only a hint: subscribers always read the table from
//! their own position, and also poll, so a lost notification (the listener
//! reconnecting) delays an event but never skips it. After (re)connecting, the
//! listener wakes every subscriber once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, NoTls};

/// The notification channel of committed appends.
pub(crate) const CHANNEL: &str = "poolkeeper_log";

/// The heads of the organizations this process follows.
pub(crate) struct Hub {
    heads: Mutex<HashMap<String, watch::Sender<u64>>>,
    listener: Mutex<Option<JoinHandle<()>>>,
}

impl Hub {
    /// A hub whose listener connects with `config` (on the current runtime).
    pub(crate) fn start(config: tokio_postgres::Config) -> Arc<Self> {
        let hub = Arc::new(Self {
            heads: Mutex::new(HashMap::new()),
            listener: Mutex::new(None),
        });
        let task = tokio::spawn(listen(config, Arc::downgrade(&hub)));
        *hub.listener.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        hub
    }

    /// A receiver of `organization`'s head, changed on every commit seen.
    pub(crate) fn watch(&self, organization: &str) -> watch::Receiver<u64> {
        let mut heads = self.heads.lock().unwrap_or_else(|e| e.into_inner());
        heads
            .entry(organization.to_owned())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Records that `organization`'s log reached `head`.
    pub(crate) fn publish(&self, organization: &str, head: u64) {
        let heads = self.heads.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = heads.get(organization) {
            sender.send_modify(|h| *h = (*h).max(head));
        }
    }

    /// Wakes every subscriber (after notifications may have been lost).
    fn wake_all(&self) {
        let heads = self.heads.lock().unwrap_or_else(|e| e.into_inner());
        for sender in heads.values() {
            sender.send_modify(|_| {});
        }
    }

    fn on_notification(&self, payload: &str) {
        if let Some((head, organization)) = payload.split_once(' ')
            && let Ok(head) = head.parse()
        {
            self.publish(organization, head);
        }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        if let Some(task) = self
            .listener
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            task.abort();
        }
    }
}

/// Listens until the hub is gone, reconnecting after failures.
async fn listen(config: tokio_postgres::Config, hub: Weak<Hub>) {
    loop {
        if let Err(e) = listen_once(&config, &hub).await {
            tracing::debug!(error = %e, "the log's notification listener reconnects");
        }
        if hub.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One connection's worth of listening; returns when it ends.
async fn listen_once(
    config: &tokio_postgres::Config,
    hub: &Weak<Hub>,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let AsyncMessage::Notification(n) = message {
                let _ = tx.send(n.payload().to_owned());
            }
        }
    });
    let listening = client.batch_execute(&format!("LISTEN {CHANNEL}")).await;
    if listening.is_ok() {
        if let Some(hub) = hub.upgrade() {
            hub.wake_all();
        }
        while let Some(payload) = rx.recv().await {
            let Some(hub) = hub.upgrade() else { break };
            hub.on_notification(&payload);
        }
    }
    drop(client);
    driver.abort();
    listening
}
