//! nefelefs's Prometheus metrics (`--metrics-listen HOST:PORT`, served by
//! the scrape crate): the FUSE requests each view answered, by operation,
//! and the cluster-side errors they met, by errno. Counted where the
//! requests arrive (fuse.rs); names follow noded's (`nefele_` prefix,
//! `_total` counters).

use std::sync::LazyLock;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::fs::View;

type Labels = Vec<(String, String)>;

/// Every metric of this nefelefs.
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    errors: Family<Labels, Counter>,
}

/// The metrics of this process (both views of a mount count here).
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("nefele_fuse");
        let requests = Family::<Labels, Counter>::default();
        let errors = Family::<Labels, Counter>::default();
        registry.register(
            "requests",
            "FUSE requests answered, by view (full or procps) and operation",
            requests.clone(),
        );
        registry.register(
            "errors",
            "Requests answered with an error, by errno (ENOENT counts lookups of names that do not exist)",
            errors.clone(),
        );
        Metrics {
            registry,
            requests,
            errors,
        }
    }

    /// One request `op` (lookup, read, ...) on `view`.
    pub fn request(&self, view: View, op: &'static str) {
        let view = match view {
            View::Full => "full",
            View::Procps => "procps",
        };
        self.requests
            .get_or_create(&vec![
                ("view".into(), view.into()),
                ("op".into(), op.into()),
            ])
            .inc();
    }

    /// One failed request, answered with `errno` (its name, `ENOENT`).
    pub fn error(&self, errno: &'static str) {
        self.errors
            .get_or_create(&vec![("errno".into(), errno.into())])
            .inc();
    }

    /// Everything, in the text format.
    pub fn render(&self) -> String {
        scrape::encode(&self.registry)
    }
}
