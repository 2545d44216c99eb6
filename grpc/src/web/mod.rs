//! The HTTP listener beside the gRPC one (off unless `http_listen` or `console` is
//! set): Prometheus's `/metrics`, and the read-only audit [`console`] when it is on.

pub mod console;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::organizations::Organizations;
use crate::telemetry;

/// What the HTTP handlers read.
#[derive(Clone)]
pub struct Web {
    organizations: Arc<Organizations>,
}

impl Web {
    /// Serves the metrics of `organizations`.
    pub fn new(organizations: Arc<Organizations>) -> Self {
        Self { organizations }
    }

    /// The routes: `/metrics`, and the console's when `console` is given.
    pub fn router(self, console: Option<console::Console>) -> Router {
        let metrics = Router::new()
            .route("/metrics", get(metrics))
            .with_state(self);
        match console {
            Some(console) => metrics.merge(console.router()),
            None => metrics,
        }
    }
}

/// Serves `router` on `listener` until `stop` turns true, then lets the requests in
/// flight finish (so none reaches an organization after the service closed them).
pub async fn serve(listener: TcpListener, router: Router, mut stop: watch::Receiver<bool>) {
    let address: Option<SocketAddr> = listener.local_addr().ok();
    tracing::info!(?address, "HTTP (metrics, console) serving");
    let stopped = async move {
        let _ = stop.wait_for(|stop| *stop).await;
    };
    if let Err(error) = axum::serve(listener, router)
        .with_graceful_shutdown(stopped)
        .await
    {
        tracing::error!(%error, "the HTTP listener failed");
    }
}

async fn metrics(State(web): State<Web>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        telemetry::render(&web.organizations),
    )
}
