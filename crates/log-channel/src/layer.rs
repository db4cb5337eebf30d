//! [`AllowListLayer`]: the `tracing_subscriber::Layer` that turns each event into one
//! allow-listed JSON line and hands it to the shipper's bounded queue without ever waiting.
//!
//! The layer works from any thread, with or without a Tokio runtime (it only `try_send`s).
//! It never calls into tracing itself, and an event emitted while the layer is already
//! formatting one on the same thread (say, from a field's `Debug` impl) is dropped and
//! counted rather than recursing.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use serde_json::Value;
use tokio::sync::mpsc;
use tracing::span::{Attributes, Id, Record as SpanValues};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::fields::{Fields, MAX_VALUE_BYTES, Visitor};
use crate::format::{Record, render, render_span};
use crate::shipper::Shared;

/// Formats events as allow-listed JSON lines into the shipper's queue. See the crate docs
/// for the line format.
#[derive(Debug)]
pub struct AllowListLayer {
    tx: mpsc::Sender<String>,
    mirror: Option<std::sync::mpsc::SyncSender<String>>,
    shared: Arc<Shared>,
    source: String,
    simulated: bool,
    max_line_bytes: usize,
}

/// What the layer keeps in each span's extensions.
struct SpanData {
    fields: Vec<(&'static str, Value)>,
    /// `{"name":…,fields…}`, re-rendered whenever a field is recorded.
    rendered: String,
}

thread_local! {
    static IN_LAYER: Cell<bool> = const { Cell::new(false) };
}

/// Marks this thread as inside the layer; `None` if it already was (a recursive call).
struct Reentry;

impl Reentry {
    fn enter() -> Option<Reentry> {
        // During thread teardown the thread-local may be gone: treat that as "busy".
        let entered = IN_LAYER.try_with(|f| !f.replace(true)).unwrap_or(false);
        entered.then_some(Reentry)
    }
}

impl Drop for Reentry {
    fn drop(&mut self) {
        let _ = IN_LAYER.try_with(|f| f.set(false));
    }
}

impl AllowListLayer {
    pub(crate) fn new(
        tx: mpsc::Sender<String>,
        mirror: Option<std::sync::mpsc::SyncSender<String>>,
        shared: Arc<Shared>,
        source: String,
        simulated: bool,
        max_line_bytes: usize,
    ) -> Self {
        AllowListLayer {
            tx,
            mirror,
            shared,
            source,
            simulated,
            max_line_bytes,
        }
    }

    fn enqueue(&self, line: String) {
        if let Some(mirror) = &self.mirror
            && mirror.try_send(line.clone()).is_err()
        {
            self.shared.stderr_dropped.fetch_add(1, Ordering::Relaxed);
        }
        match self.tx.try_send(line) {
            Ok(()) => {
                self.shared.accepted.fetch_add(1, Ordering::AcqRel);
            }
            Err(_) => self.shared.count_drop(),
        }
    }
}

impl<S> Layer<S> for AllowListLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(_guard) = Reentry::enter() else {
            return;
        };
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut f = Fields::default();
        attrs.record(&mut Visitor::new(&mut f, MAX_VALUE_BYTES));
        self.shared
            .redacted
            .fetch_add(f.redacted, Ordering::Relaxed);
        let rendered = render_span(span.name(), &f.fields);
        span.extensions_mut().replace(SpanData {
            fields: f.fields,
            rendered,
        });
    }

    fn on_record(&self, id: &Id, values: &SpanValues<'_>, ctx: Context<'_, S>) {
        let Some(_guard) = Reentry::enter() else {
            return;
        };
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut ext = span.extensions_mut();
        let Some(data) = ext.get_mut::<SpanData>() else {
            return;
        };
        let mut f = Fields {
            fields: std::mem::take(&mut data.fields),
            ..Fields::default()
        };
        values.record(&mut Visitor::new(&mut f, MAX_VALUE_BYTES));
        self.shared
            .redacted
            .fetch_add(f.redacted, Ordering::Relaxed);
        data.rendered = render_span(span.name(), &f.fields);
        data.fields = f.fields;
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(_guard) = Reentry::enter() else {
            self.shared.count_drop();
            return;
        };
        // Queue full and no mirror: the line would be dropped, so don't spend the time
        // formatting it (this keeps a flood during a parent outage cheap).
        if self.mirror.is_none() && self.tx.capacity() == 0 {
            self.shared.count_drop();
            return;
        }
        let mut f = Fields::default();
        event.record(&mut Visitor::new(&mut f, self.max_line_bytes));
        if f.redacted > 0 {
            self.shared
                .redacted
                .fetch_add(f.redacted, Ordering::Relaxed);
        }
        let mut spans = Vec::new();
        let mut innermost = None;
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                match span.extensions().get::<SpanData>() {
                    Some(d) => spans.push(d.rendered.clone()),
                    None => spans.push(render_span(span.name(), &[])),
                }
                innermost = Some(span.name());
            }
        }
        let ts = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
        let meta = event.metadata();
        let line = render(
            &Record {
                ts: &ts,
                level: meta.level().as_str(),
                target: f.log_target.as_deref().unwrap_or(meta.target()),
                source: &self.source,
                simulated: self.simulated,
                span: innermost,
                spans: &spans,
                message: f.message.as_deref(),
                fields: &f.fields,
            },
            self.max_line_bytes,
        );
        self.enqueue(line);
    }
}
