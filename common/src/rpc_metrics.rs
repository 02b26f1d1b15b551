//! RPC metrics for tonic servers: requests per (service, method, gRPC status
//! code), a latency histogram and an in-flight gauge per method, rendered in
//! the Prometheus text format.
//!
//! Each daemon keeps one [`RpcMetrics`] registry and wraps every gRPC
//! service it serves with [`RpcMetrics::wrap`] (a tower `Service` around the
//! generated `FooServer`, added to the `Server` like the bare one); its
//! `/metrics` handler calls [`RpcMetrics::render`] with the daemon's prefix
//! (`tusk_namenode`, …). Wrapping per service rather than adding a layer to
//! the whole router keeps `tusk_common::net::serve_grpc`'s `Router` type,
//! and gives each service its own table without a lookup per call.
//!
//! # What is measured
//! The time from the request reaching the service until the service
//! answers with the response *headers*. For a unary call that is the whole
//! handler; for a server-streaming call it is the time until the stream
//! starts (the stream's own duration is not included). The status code is
//! the one in those headers (`grpc-status`, absent = `OK`): an error a
//! stream sends in its trailers after it started is not seen. A call the
//! client abandons before the headers counts as `CANCELLED`.
//!
//! # Hot path
//! No lock and no allocation per request: each wrapped service owns a
//! fixed open-addressing table of method slots (filled once per method,
//! lock-free, with `OnceLock`); a request hashes its method name, finds its
//! slot with an atomic load and a string compare, and bumps atomics.
//! The table holds [`METHOD_SLOTS`] methods per service; further names
//! (only clients calling methods that do not exist can cause that) share
//! one `method="_other"` slot, so a client cannot grow the page unboundedly.

use crate::metrics::{write_header, write_sample};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock, RwLock};
use std::task::{Context, Poll};
use std::time::Instant;
use tonic::codegen::{http, Service};
use tonic::server::NamedService;

/// Histogram bucket upper bounds: (nanoseconds, the `le` label). 100 µs to
/// 10 s, roughly ×2.5 per step, as Prometheus' client libraries do.
const BOUNDS: [(u64, &str); 16] = [
    (100_000, "0.0001"),
    (250_000, "0.00025"),
    (500_000, "0.0005"),
    (1_000_000, "0.001"),
    (2_500_000, "0.0025"),
    (5_000_000, "0.005"),
    (10_000_000, "0.01"),
    (25_000_000, "0.025"),
    (50_000_000, "0.05"),
    (100_000_000, "0.1"),
    (250_000_000, "0.25"),
    (500_000_000, "0.5"),
    (1_000_000_000, "1"),
    (2_500_000_000, "2.5"),
    (5_000_000_000, "5"),
    (10_000_000_000, "10"),
];

/// gRPC status codes by number, as the `code` label shows them.
const CODE_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];
const CANCELLED: usize = 1;
const UNKNOWN: usize = 2;

/// Distinct methods tracked per service before the rest share `_other`.
pub const METHOD_SLOTS: usize = 64;
/// The method label of calls beyond [`METHOD_SLOTS`] distinct names.
pub const OTHER_METHOD: &str = "_other";

/// One method's counters. Buckets are not cumulative here (one per bound
/// plus one above the last); rendering sums them, and `_count` is their sum,
/// so a scrape always sees `le="+Inf"` equal to `_count`.
struct MethodStats {
    method: Box<str>,
    codes: [AtomicU64; CODE_NAMES.len()],
    buckets: [AtomicU64; BOUNDS.len() + 1],
    sum_nanos: AtomicU64,
    in_flight: AtomicI64,
}

impl MethodStats {
    fn new(method: &str) -> Self {
        MethodStats {
            method: method.into(),
            codes: Default::default(),
            buckets: Default::default(),
            sum_nanos: AtomicU64::new(0),
            in_flight: AtomicI64::new(0),
        }
    }

    fn record(&self, code: usize, started: Instant) {
        self.observe(
            code,
            u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX),
        );
    }

    fn observe(&self, code: usize, nanos: u64) {
        let bucket = BOUNDS.partition_point(|(b, _)| *b < nanos);
        self.buckets[bucket].fetch_add(1, Relaxed);
        self.sum_nanos.fetch_add(nanos, Relaxed);
        let code = if code < CODE_NAMES.len() {
            code
        } else {
            UNKNOWN
        };
        self.codes[code].fetch_add(1, Relaxed);
    }
}

/// One gRPC service's method table.
struct ServiceStats {
    /// The full gRPC service name (`tusk.ClientProtocol`).
    name: &'static str,
    slots: Box<[OnceLock<MethodStats>]>,
    other: MethodStats,
}

impl ServiceStats {
    fn new(name: &'static str) -> Self {
        ServiceStats {
            name,
            slots: (0..METHOD_SLOTS).map(|_| OnceLock::new()).collect(),
            other: MethodStats::new(OTHER_METHOD),
        }
    }

    /// The slot index of `method`, claiming a free slot the first time a
    /// name is seen; `None` when the table is full (`_other`). Lock-free: an
    /// occupied slot is one atomic load and a compare to check.
    fn slot_of(&self, method: &str) -> Option<usize> {
        // FNV-1a: names are short and chosen by the service's clients, who
        // gain nothing by colliding (a full table only merges into `_other`).
        let start = method.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        }) as usize;
        (0..METHOD_SLOTS)
            .map(|i| (start + i) % METHOD_SLOTS)
            .find(|&i| {
                &*self.slots[i]
                    .get_or_init(|| MethodStats::new(method))
                    .method
                    == method
            })
    }

    fn methods(&self) -> Vec<&MethodStats> {
        let mut v: Vec<&MethodStats> = self.slots.iter().filter_map(OnceLock::get).collect();
        v.sort_by(|a, b| a.method.cmp(&b.method));
        if self.other.buckets.iter().any(|b| b.load(Relaxed) > 0)
            || self.other.in_flight.load(Relaxed) != 0
        {
            v.push(&self.other);
        }
        v
    }
}

/// A daemon's RPC metrics: one entry per wrapped gRPC service.
#[derive(Default)]
pub struct RpcMetrics {
    /// Touched only when a service is wrapped and when `/metrics` renders.
    services: RwLock<Vec<Arc<ServiceStats>>>,
}

/// What [`RpcMetrics::snapshot`] reports for one method.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodSnapshot {
    pub service: String,
    pub method: String,
    /// Calls answered, by status code name (`OK`, `NOT_FOUND`…); codes never
    /// seen are left out.
    pub codes: Vec<(&'static str, u64)>,
    /// Calls answered, all codes.
    pub count: u64,
    /// Seconds spent until the response headers, all calls.
    pub sum_seconds: f64,
    pub in_flight: i64,
}

impl RpcMetrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// The table of service `name`, shared by every server that serves it.
    fn service(&self, name: &'static str) -> Arc<ServiceStats> {
        let mut services = self.services.write().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = services.iter().find(|s| s.name == name) {
            return s.clone();
        }
        let s = Arc::new(ServiceStats::new(name));
        services.push(s.clone());
        services.sort_by_key(|s| s.name);
        s
    }

    /// Wraps a generated tonic service (`FooServer::new(…)`) so that its
    /// calls are counted here; add the result to a `Server` as usual.
    pub fn wrap<S: NamedService>(&self, inner: S) -> Metered<S> {
        Metered {
            inner,
            stats: self.service(S::NAME),
        }
    }

    fn services(&self) -> Vec<Arc<ServiceStats>> {
        self.services
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Every method called so far, sorted by service then method.
    pub fn snapshot(&self) -> Vec<MethodSnapshot> {
        let mut out = Vec::new();
        for s in self.services() {
            for m in s.methods() {
                let codes: Vec<(&'static str, u64)> = m
                    .codes
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (CODE_NAMES[i], c.load(Relaxed)))
                    .filter(|(_, n)| *n > 0)
                    .collect();
                out.push(MethodSnapshot {
                    service: s.name.to_string(),
                    method: m.method.to_string(),
                    count: m.buckets.iter().map(|b| b.load(Relaxed)).sum(),
                    codes,
                    sum_seconds: m.sum_nanos.load(Relaxed) as f64 / 1e9,
                    in_flight: m.in_flight.load(Relaxed),
                });
            }
        }
        out
    }

    /// Appends the three RPC families, named `{prefix}_rpc_requests_total`,
    /// `{prefix}_rpc_duration_seconds` and `{prefix}_rpc_in_flight`. They
    /// are written (HELP and TYPE) even before the first call.
    pub fn render(&self, out: &mut String, prefix: &str) {
        let services = self.services();
        let methods: Vec<(&str, &MethodStats)> = services
            .iter()
            .flat_map(|s| s.methods().into_iter().map(move |m| (s.name, m)))
            .collect();

        let name = format!("{prefix}_rpc_requests_total");
        write_header(
            out,
            &name,
            "counter",
            "RPCs answered, by gRPC service, method and status code (the code in the \
             response headers: an error a stream sends after it started is not counted).",
        );
        for (svc, m) in &methods {
            for (code, c) in m.codes.iter().enumerate() {
                let n = c.load(Relaxed);
                if n > 0 {
                    write_sample(
                        out,
                        &name,
                        &[
                            ("service", svc),
                            ("method", &m.method),
                            ("code", CODE_NAMES[code]),
                        ],
                        n,
                    );
                }
            }
        }

        let name = format!("{prefix}_rpc_duration_seconds");
        write_header(
            out,
            &name,
            "histogram",
            "RPC latency by gRPC service and method: from the request reaching the \
             service to its response headers (for a streaming response, until the stream \
             starts).",
        );
        let bucket = format!("{name}_bucket");
        for (svc, m) in &methods {
            let labels = [("service", *svc), ("method", &*m.method)];
            let mut cumulative = 0u64;
            for (i, b) in m.buckets.iter().enumerate() {
                cumulative += b.load(Relaxed);
                let le = BOUNDS.get(i).map_or("+Inf", |(_, le)| le);
                write_sample(
                    out,
                    &bucket,
                    &[labels[0], labels[1], ("le", le)],
                    cumulative,
                );
            }
            let sum = m.sum_nanos.load(Relaxed) as f64 / 1e9;
            write_sample(out, &format!("{name}_sum"), &labels, sum);
            write_sample(out, &format!("{name}_count"), &labels, cumulative);
        }

        let name = format!("{prefix}_rpc_in_flight");
        write_header(
            out,
            &name,
            "gauge",
            "RPCs received and not yet answered (response headers not sent), by gRPC \
             service and method.",
        );
        for (svc, m) in &methods {
            write_sample(
                out,
                &name,
                &[("service", svc), ("method", &m.method)],
                m.in_flight.load(Relaxed),
            );
        }
    }
}

/// The method part of a gRPC path `/package.Service/Method`.
fn method_of(path: &str) -> &str {
    // A byte loop from the end: a few bytes, cheaper than a str searcher.
    match path.bytes().rposition(|b| b == b'/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// Parsed once: looking a header up by `&str` parses the name every time.
static GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");

/// The status code in response headers: `grpc-status`, absent = OK.
fn code_of<B>(resp: &http::Response<B>) -> usize {
    match resp.headers().get(&GRPC_STATUS) {
        None => 0,
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|c| *c < CODE_NAMES.len())
            .unwrap_or(UNKNOWN),
    }
}

/// A tonic service whose calls are counted (see [`RpcMetrics::wrap`]).
#[derive(Clone)]
pub struct Metered<S> {
    inner: S,
    stats: Arc<ServiceStats>,
}

impl<S: NamedService> NamedService for Metered<S> {
    const NAME: &'static str = S::NAME;
}

/// Counts one call: in flight from creation, recorded once, as `CANCELLED`
/// if dropped before the response.
struct Call {
    stats: MethodRef,
    started: Instant,
    done: bool,
}

impl Call {
    fn new(stats: MethodRef) -> Self {
        stats.as_ref().in_flight.fetch_add(1, Relaxed);
        Call {
            stats,
            started: Instant::now(),
            done: false,
        }
    }

    fn finish(&mut self, code: usize) {
        if !self.done {
            self.done = true;
            let m = self.stats.as_ref();
            m.record(code, self.started);
            m.in_flight.fetch_sub(1, Relaxed);
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.finish(CANCELLED);
    }
}

/// A method slot kept alive by its service table (slots are never removed).
struct MethodRef {
    service: Arc<ServiceStats>,
    /// Index into `service.slots`, or `None` for `_other`.
    slot: Option<usize>,
}

impl AsRef<MethodStats> for MethodRef {
    fn as_ref(&self) -> &MethodStats {
        match self.slot.and_then(|i| self.service.slots[i].get()) {
            Some(m) => m,
            None => &self.service.other,
        }
    }
}

impl ServiceStats {
    /// The slot of `method` as an owned handle for a call's future.
    fn method_ref(self: &Arc<Self>, method: &str) -> MethodRef {
        MethodRef {
            slot: self.slot_of(method),
            service: self.clone(),
        }
    }
}

/// The future of a [`Metered`] call.
pub struct MeteredFuture<F> {
    inner: F,
    call: Call,
}

impl<F, RB, E> std::future::Future for MeteredFuture<F>
where
    F: std::future::Future<Output = Result<http::Response<RB>, E>> + Unpin,
{
    type Output = F::Output;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let res = std::task::ready!(std::pin::Pin::new(&mut this.inner).poll(cx));
        this.call.finish(match &res {
            Ok(resp) => code_of(resp),
            Err(_) => UNKNOWN,
        });
        Poll::Ready(res)
    }
}

/// Generated tonic services return boxed (`Unpin`) futures, so the wrapper
/// adds no allocation.
impl<S, B, RB> Service<http::Request<B>> for Metered<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Unpin,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = MeteredFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let call = Call::new(self.stats.method_ref(method_of(req.uri().path())));
        MeteredFuture {
            inner: self.inner.call(req),
            call,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::Pin;

    type Resp = http::Response<()>;
    type Fut = Pin<Box<dyn Future<Output = Result<Resp, std::convert::Infallible>> + Send>>;

    /// A stand-in for a generated server: `/svc/Fail` answers NOT_FOUND in
    /// the headers, `/svc/Hang` never answers, the rest answer OK.
    #[derive(Clone)]
    struct Fake;

    impl NamedService for Fake {
        const NAME: &'static str = "tusk.Fake";
    }

    impl Service<http::Request<()>> for Fake {
        type Response = Resp;
        type Error = std::convert::Infallible;
        type Future = Fut;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: http::Request<()>) -> Fut {
            let path = req.uri().path().to_string();
            Box::pin(async move {
                if path.ends_with("/Hang") {
                    std::future::pending::<()>().await;
                }
                let mut r = http::Response::new(());
                if path.ends_with("/Fail") {
                    r.headers_mut()
                        .insert("grpc-status", http::HeaderValue::from_static("5"));
                }
                Ok(r)
            })
        }
    }

    fn req(method: &str) -> http::Request<()> {
        http::Request::builder()
            .uri(format!("http://x/tusk.Fake/{method}"))
            .body(())
            .unwrap()
    }

    fn find<'a>(snap: &'a [MethodSnapshot], method: &str) -> &'a MethodSnapshot {
        snap.iter()
            .find(|m| m.method == method)
            .unwrap_or_else(|| panic!("{method} not in {snap:?}"))
    }

    #[tokio::test]
    async fn counts_codes_in_flight_and_cancellation() {
        let m = RpcMetrics::new();
        let mut svc = m.wrap(Fake);
        assert_eq!(<Metered<Fake> as NamedService>::NAME, "tusk.Fake");
        for _ in 0..3 {
            svc.call(req("Create")).await.unwrap();
        }
        svc.call(req("Fail")).await.unwrap();
        svc.call(req("Fail")).await.unwrap();

        let hang = svc.call(req("Hang"));
        let snap = m.snapshot();
        assert_eq!(find(&snap, "Hang").in_flight, 1);
        assert_eq!(find(&snap, "Hang").count, 0);
        drop(hang);

        // A second wrap of the same service shares its table.
        m.wrap(Fake).call(req("Create")).await.unwrap();

        let snap = m.snapshot();
        let create = find(&snap, "Create");
        assert_eq!(create.service, "tusk.Fake");
        assert_eq!((create.count, create.in_flight), (4, 0));
        assert_eq!(create.codes, vec![("OK", 4)]);
        assert_eq!(find(&snap, "Fail").codes, vec![("NOT_FOUND", 2)]);
        let hang = find(&snap, "Hang");
        assert_eq!((hang.count, hang.in_flight), (1, 0));
        assert_eq!(hang.codes, vec![("CANCELLED", 1)]);
    }

    #[tokio::test]
    async fn unknown_method_names_are_bounded() {
        let m = RpcMetrics::new();
        let mut svc = m.wrap(Fake);
        for i in 0..METHOD_SLOTS + 10 {
            svc.call(req(&format!("M{i}"))).await.unwrap();
        }
        let snap = m.snapshot();
        assert_eq!(snap.len(), METHOD_SLOTS + 1);
        assert_eq!(find(&snap, OTHER_METHOD).count, 10);
        // Every slot holds one name, each counted once.
        assert!(snap
            .iter()
            .filter(|s| s.method != OTHER_METHOD)
            .all(|s| s.count == 1));
    }

    #[test]
    fn histogram_buckets_and_render() {
        let m = RpcMetrics::new();
        let stats = m.service("tusk.Fake");
        let i = stats.slot_of("Read").unwrap();
        let read = stats.slots[i].get().unwrap();
        read.observe(0, 50_000); // 50 µs: first bucket
        read.observe(0, 100_000); // exactly on a bound: that bucket (le)
        read.observe(13, 3_000_000); // 3 ms: le=0.005
        read.observe(0, 60_000_000_000); // 60 s: only +Inf
        let mut out = String::new();
        m.render(&mut out, "tusk_test");
        let lines: Vec<&str> = out.lines().collect();
        let has = |l: &str| lines.contains(&l);
        let l = r#"service="tusk.Fake",method="Read""#;
        assert!(has("# TYPE tusk_test_rpc_requests_total counter"), "{out}");
        assert!(
            has(&format!(
                "tusk_test_rpc_requests_total{{{l},code=\"OK\"}} 3"
            )),
            "{out}"
        );
        assert!(has(&format!(
            "tusk_test_rpc_requests_total{{{l},code=\"INTERNAL\"}} 1"
        )));
        assert!(has("# TYPE tusk_test_rpc_duration_seconds histogram"));
        assert!(has(&format!(
            "tusk_test_rpc_duration_seconds_bucket{{{l},le=\"0.0001\"}} 2"
        )));
        assert!(has(&format!(
            "tusk_test_rpc_duration_seconds_bucket{{{l},le=\"0.0025\"}} 2"
        )));
        assert!(has(&format!(
            "tusk_test_rpc_duration_seconds_bucket{{{l},le=\"0.005\"}} 3"
        )));
        assert!(has(&format!(
            "tusk_test_rpc_duration_seconds_bucket{{{l},le=\"10\"}} 3"
        )));
        assert!(has(&format!(
            "tusk_test_rpc_duration_seconds_bucket{{{l},le=\"+Inf\"}} 4"
        )));
        assert!(has(&format!(
            "tusk_test_rpc_duration_seconds_count{{{l}}} 4"
        )));
        assert!(has(&format!(
            "tusk_test_rpc_duration_seconds_sum{{{l}}} 60.00315"
        )));
        assert!(has(&format!("tusk_test_rpc_in_flight{{{l}}} 0")));
        let buckets = lines.iter().filter(|l| l.contains("_bucket{")).count();
        assert_eq!(buckets, BOUNDS.len() + 1);
    }

    #[test]
    fn families_render_before_any_call() {
        let mut out = String::new();
        RpcMetrics::new().render(&mut out, "tusk_x");
        assert_eq!(out.lines().count(), 6, "{out}");
        assert!(out.contains("# HELP tusk_x_rpc_in_flight "));
    }

    #[test]
    fn paths() {
        assert_eq!(method_of("/tusk.ClientProtocol/Create"), "Create");
        assert_eq!(method_of("nopath"), "nopath");
        let ok = http::Response::new(());
        assert_eq!(code_of(&ok), 0);
        let mut bad = http::Response::new(());
        bad.headers_mut()
            .insert("grpc-status", http::HeaderValue::from_static("99"));
        assert_eq!(code_of(&bad), UNKNOWN);
    }
}
