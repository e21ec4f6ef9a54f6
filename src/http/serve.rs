//! The accept loop: every connection is served by hyper (HTTP/1.1, as `axum::serve` serves it
//! with axum's `http1` feature alone) on a task of its own, and that task's future is wrapped
//! in [`Repoll`] — the one thing `axum::serve`, which owns its connection tasks, cannot give.
//! Shutdown is `axum::serve`'s graceful one: no new connections, each open one finishes the
//! request it is serving and closes, and this returns once all have.

use super::repoll::Repoll;
use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    // Connections wait for `stop` to change; each holds a `closed` receiver, dropped when it
    // ends, so `closed_tx.closed()` is "every connection is gone".
    let (stop_tx, stop_rx) = watch::channel(());
    let (closed_tx, closed_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // No Nagle: a stream's small writes (an SSE event, a compat heartbeat) go out at once
        // instead of waiting ~40 ms for the client's delayed ACK.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY");
        }
        let service = TowerToHyperService::new(app.clone());
        let (mut stop, closed) = (stop_rx.clone(), closed_rx.clone());
        tokio::spawn(Repoll::new(async move {
            // hyper's defaults, as axum::serve had them: no timer, so no header-read timeout
            // (behind an ALB, an idle keep-alive connection must outlive its 60 s idle timeout:
            // a target that closes first races the balancer's next request into a 502).
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades();
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::trace!(error = %e, "connection ended with an error");
                    }
                }
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(closed);
        }));
    }
    drop(listener);
    drop(closed_rx);
    let _ = stop_tx.send(());
    closed_tx.closed().await;
    Ok(())
}

/// What `axum::serve` does with a failed accept: a connection that went away before it was
/// taken is nothing; anything else (out of file descriptors, above all) is logged and waited
/// out for a second rather than retried in a tight loop.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
