//! Load shedding for gRPC servers: at most `[limits] rpc_max_pending`
//! calls in flight over all connections of a server; one more is answered
//! at once with RESOURCE_EXHAUSTED "server busy" instead of waiting in an
//! unbounded queue (Hadoop bounds its call queue and answers a full one
//! with a RetriableException the client backs off on).
//!
//! A call holds its slot until its response body ends or is dropped, so a
//! streaming call (ReadBlock, WriteBlock, FetchMapOutput) counts for as
//! long as it streams, not only until its headers. A shed call never
//! reaches the service, so the client may retry any call, idempotent or
//! not. [`crate::net::grpc_server`] adds the [`ShedLayer`] to every server.

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::codegen::http;

/// The message of a shed call; clients recognise a busy server by the code
/// (RESOURCE_EXHAUSTED) and the absence of an error class.
pub const BUSY: &str = "server busy";

/// In the refusal of a datanode at its `max_transfers`: clients recognise a
/// busy (rather than broken) datanode by it, also when the refusal reaches
/// them inside a pipeline ack from an upstream datanode.
pub const TRANSFERS_BUSY: &str = "too many concurrent transfers";

/// At most `max` of something at once, the rest refused at once (never
/// queued): calls in flight ([`ShedLayer`]), a datanode's block and
/// WebHDFS transfers. Clones share the count.
#[derive(Clone, Debug)]
pub struct Slots {
    sem: Arc<Semaphore>,
    max: usize,
}

impl Slots {
    /// `max` slots (at least 1).
    pub fn new(max: usize) -> Slots {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        Slots {
            sem: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// A slot, held until the permit is dropped; `None` when all are taken.
    pub fn try_take(&self) -> Option<OwnedSemaphorePermit> {
        self.sem.clone().try_acquire_owned().ok()
    }

    /// Slots free now.
    pub fn available(&self) -> usize {
        self.sem.available_permits()
    }
}

/// The tower layer: one shared count of calls in flight for all the
/// connections of a server (tonic clones the layered service per
/// connection; the clones share the [`Slots`]).
#[derive(Clone)]
pub struct ShedLayer {
    slots: Slots,
}

impl ShedLayer {
    /// At most `max` calls in flight (at least 1).
    pub fn new(max: usize) -> ShedLayer {
        ShedLayer {
            slots: Slots::new(max),
        }
    }
}

impl<S> tower::Layer<S> for ShedLayer {
    type Service = Shed<S>;

    fn layer(&self, inner: S) -> Shed<S> {
        Shed {
            inner,
            slots: self.slots.clone(),
        }
    }
}

/// The service [`ShedLayer`] makes.
#[derive(Clone)]
pub struct Shed<S> {
    inner: S,
    slots: Slots,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for Shed<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let Some(permit) = self.slots.try_take() else {
            let max = self.slots.max();
            tracing::debug!(
                path = %req.uri().path(),
                max,
                "shedding a call: too many in flight"
            );
            let status = tonic::Status::resource_exhausted(format!(
                "{BUSY}: {max} calls in flight; retry later"
            ));
            return Box::pin(std::future::ready(Ok(status.into_http())));
        };
        let fut = self.inner.call(req);
        Box::pin(async move {
            let resp = fut.await?;
            Ok(resp.map(|body| {
                tonic::body::Body::new(Holding {
                    body,
                    _permit: permit,
                })
            }))
        })
    }
}

/// A response body that keeps its call's slot until it ends or is dropped.
struct Holding {
    body: tonic::body::Body,
    _permit: OwnedSemaphorePermit,
}

impl Body for Holding {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower::{Layer, Service, ServiceExt};

    /// A response body still streaming (an empty one would end the call
    /// at once, and tonic drops it, slot and all).
    struct Streaming;

    impl Body for Streaming {
        type Data = Bytes;
        type Error = tonic::Status;

        fn poll_frame(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
            Poll::Pending
        }
    }

    fn echo() -> impl Service<
        http::Request<()>,
        Response = http::Response<tonic::body::Body>,
        Error = Infallible,
        Future = std::future::Ready<Result<http::Response<tonic::body::Body>, Infallible>>,
    > + Clone {
        tower::service_fn(|_req: http::Request<()>| {
            std::future::ready(Ok::<_, Infallible>(http::Response::new(
                tonic::body::Body::new(Streaming),
            )))
        })
    }

    fn status_of(resp: &http::Response<tonic::body::Body>) -> Option<tonic::Status> {
        tonic::Status::from_header_map(resp.headers())
    }

    #[tokio::test]
    async fn sheds_beyond_the_limit_until_a_body_is_dropped() {
        let layer = ShedLayer::new(2);
        // Two connections' clones share the count.
        let mut a = layer.layer(echo());
        let mut b = layer.layer(echo());
        let r1 = a.ready().await.unwrap().call(http::Request::new(())).await;
        let r2 = b.ready().await.unwrap().call(http::Request::new(())).await;
        let (r1, r2) = (r1.unwrap(), r2.unwrap());
        assert!(status_of(&r1).is_none());
        assert!(status_of(&r2).is_none());

        let shed = a
            .ready()
            .await
            .unwrap()
            .call(http::Request::new(()))
            .await
            .unwrap();
        let st = status_of(&shed).expect("a third call must be shed");
        assert_eq!(st.code(), tonic::Code::ResourceExhausted);
        assert!(st.message().starts_with(BUSY), "{}", st.message());

        // The slot is held by the response body, not the handler.
        drop(r1);
        let ok = b
            .ready()
            .await
            .unwrap()
            .call(http::Request::new(()))
            .await
            .unwrap();
        assert!(status_of(&ok).is_none());
        drop((r2, ok));
        assert_eq!(layer.slots.available(), 2);
    }
}
