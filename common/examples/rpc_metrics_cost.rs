//! What [`tusk_common::rpc_metrics`] adds to one call: a stand-in for a
//! generated tonic service (boxed future, response ready at once) called
//! bare and wrapped by `RpcMetrics::wrap`, alternating rounds in one run.
//! Prints nanoseconds per call for both and the difference.
//!
//! `cargo run --release -p tusk-common --example rpc_metrics_cost [CALLS]`
//! For instruction counts (steadier on a busy machine), run the binary under
//! `valgrind --tool=callgrind` with `bare` or `wrapped` as second argument.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;
use tonic::codegen::{http, Service};
use tonic::server::NamedService;
use tusk_common::rpc_metrics::RpcMetrics;

type Fut =
    Pin<Box<dyn Future<Output = Result<http::Response<()>, std::convert::Infallible>> + Send>>;

/// Answers every call at once, as a cheap unary handler would.
#[derive(Clone)]
struct Echo;

impl NamedService for Echo {
    const NAME: &'static str = "tusk.ClientProtocol";
}

impl Service<http::Request<()>> for Echo {
    type Response = http::Response<()>;
    type Error = std::convert::Infallible;
    type Future = Fut;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<()>) -> Fut {
        Box::pin(std::future::ready(Ok(http::Response::new(()))))
    }
}

/// Calls `svc` `n` times (requests built outside the timing would be
/// unrealistic: tonic builds one per call too); nanoseconds per call.
fn run<S>(svc: &mut S, reqs: &[http::Request<()>], n: usize) -> f64
where
    S: Service<http::Request<()>, Response = http::Response<()>>,
    S::Future: Unpin,
{
    let mut cx = Context::from_waker(Waker::noop());
    let t = Instant::now();
    for i in 0..n {
        let r = &reqs[i % reqs.len()];
        let mut req = http::Request::new(());
        *req.uri_mut() = r.uri().clone();
        let mut f = svc.call(req);
        match Pin::new(&mut f).poll(&mut cx) {
            Poll::Ready(Ok(_)) => {}
            _ => panic!("the stand-in answers at once"),
        }
    }
    t.elapsed().as_nanos() as f64 / n as f64
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let only = std::env::args().nth(2);
    let methods = [
        "GetFileInfo",
        "Create",
        "AddBlock",
        "Complete",
        "GetBlockLocations",
        "Mkdirs",
        "GetListing",
        "RenewLease",
    ];
    let reqs: Vec<http::Request<()>> = methods
        .iter()
        .map(|m| {
            http::Request::builder()
                .uri(format!("http://nn/tusk.ClientProtocol/{m}"))
                .body(())
                .expect("a request")
        })
        .collect();
    let metrics = RpcMetrics::new();
    let mut bare = Echo;
    let mut wrapped = metrics.wrap(Echo);
    match only.as_deref() {
        Some("bare") => {
            run(&mut bare, &reqs, n);
            return;
        }
        Some("wrapped") => {
            run(&mut wrapped, &reqs, n);
            return;
        }
        _ => {}
    }
    let (mut b, mut w) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        b.push(run(&mut bare, &reqs, n));
        w.push(run(&mut wrapped, &reqs, n));
    }
    b.sort_by(f64::total_cmp);
    w.sort_by(f64::total_cmp);
    let (b, w) = (b[2], w[2]);
    let calls: u64 = metrics.snapshot().iter().map(|m| m.count).sum();
    assert_eq!(calls, 5 * n as u64, "every wrapped call counted");
    println!(
        "calls per round: {n}, {} methods, median of 5 rounds",
        methods.len()
    );
    println!("bare    {b:8.1} ns/call (baseline)");
    println!("wrapped {w:8.1} ns/call ({:+.1} ns, x{:.2})", w - b, w / b);
}
