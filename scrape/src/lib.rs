//! The Prometheus scrape endpoint of noded and nefelefs
//! (`--metrics-listen HOST:PORT`): `GET /metrics` over HTTP/1 answers the
//! text format (0.0.4) that a render function writes at each scrape. The
//! render runs on a blocking thread (noded's reads /proc); anything else
//! than `GET`/`HEAD /metrics` is refused, and a connection may last 30 s.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// What a scrape answers: the whole text, made anew each time.
pub type Render = Arc<dyn Fn() -> String + Send + Sync>;

/// How long one connection may last (a scrape is small and quick).
const CONNECTION_LIMIT: Duration = Duration::from_secs(30);

/// `registry` in the text format.
pub fn encode(registry: &Registry) -> String {
    let mut text = String::new();
    let _ = prometheus_text::encode(&mut text, registry);
    text
}

/// Serves `GET /metrics` on `listener` with what `render` writes, until
/// `shutdown`.
pub fn serve(listener: TcpListener, render: Render, shutdown: CancellationToken) {
    tokio::spawn(async move {
        loop {
            let (stream, _) = tokio::select! {
                _ = shutdown.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "metrics: cannot accept");
                        continue;
                    }
                },
            };
            let render = render.clone();
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let render = render.clone();
                async move { Ok::<_, Infallible>(answer(&request, render).await) }
            });
            tokio::spawn(async move {
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                // A stuck client is dropped.
                let _ = tokio::time::timeout(CONNECTION_LIMIT, connection).await;
            });
        }
    });
}

async fn answer(request: &Request<Incoming>, render: Render) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, body: String| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        response
    };
    if request.uri().path() != "/metrics" {
        return reply(StatusCode::NOT_FOUND, "only /metrics is here\n".into());
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return reply(StatusCode::METHOD_NOT_ALLOWED, "GET /metrics\n".into());
    }
    let text = tokio::task::spawn_blocking(move || render())
        .await
        .unwrap_or_default();
    let mut response = reply(StatusCode::OK, text);
    if let Ok(value) = prometheus_text::CONTENT_TYPE.parse() {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}
