//! `poolkeeper serve`: the configuration from file and flags, the runtime, and the
//! signals that stop it.

use super::*;

pub(super) async fn serve(args: ServeArgs) -> Result<(), Failure> {
    let mut config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(data_dir) = args.data_dir {
        config.data_dir = data_dir;
    }
    if let Some(store) = args.store {
        config.store = Some(store);
    }
    config.json_logs |= args.json_logs;
    config.console |= args.console;
    if let Some(http) = args.http_listen {
        config.http_listen = Some(http);
    }
    if let Some(endpoint) = args.otlp_endpoint {
        config.otlp_endpoint = Some(endpoint);
    }
    if let Some(file) = args.master_key_file {
        config.master_key_file = Some(file);
    }
    let traces = match &config.otlp_endpoint {
        Some(endpoint) => Some(Traces::export_to(endpoint)?),
        None => None,
    };
    init_logs_and_traces(config.json_logs, traces.as_ref());
    // Listen only once the service can answer: the log is folded and the token written.
    let listen = config.listen;
    let runtime = Runtime::open(ServeOptions {
        config,
        manual_clock: args.manual_clock,
    })
    .await?;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let address = listener.local_addr()?;
    let http = match runtime.http_address() {
        Some(http) => Some(tokio::net::TcpListener::bind(http).await?),
        None => None,
    };
    if let Some(http) = &http {
        let http = http.local_addr()?;
        eprintln!("metrics on http://{http}/metrics");
        if runtime.console_on() {
            eprintln!("audit console on http://{http}/ (log in with a token)");
        }
    }
    if runtime.tokens().iter().any(|t| t.name == "development") {
        let token = &runtime.tokens()[0].token;
        eprintln!("development token (every scope): {token}");
        eprintln!("  saved in {}", runtime.data().dev_token().display());
    }
    let bootstrap = runtime.bootstrap();
    eprintln!(
        "admin user: {}   default pool: {}   (organization `default`)",
        bootstrap.admin_user, bootstrap.default_pool
    );
    eprintln!("listening on {address}; Ctrl-C to stop");
    let served = runtime.serve_with(listener, http, shutdown_signal()).await;
    if let Some(traces) = traces {
        // The exporter's last flush blocks: off the runtime's workers.
        let _ = tokio::task::spawn_blocking(move || traces.shutdown()).await;
    }
    served?;
    Ok(())
}

pub(super) async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("shutting down: draining in-flight commands");
}
