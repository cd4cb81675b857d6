//! Interceptors: a chain of functions that may change or stop each JSON-RPC message on its way
//! out (before the writer writes it) or in (after the reader read it, before it is routed).
//!
//! The connection only builds a chain when there is an interceptor for a direction: without
//! one, frames go their usual way untouched (never parsed into values), so an unset chain costs
//! nothing. With one, every frame of that direction is parsed into a [`Value`], handed to each
//! interceptor in turn, and encoded again; what the connection does with a dropped message is
//! in `connection.rs` (a dropped request fails, a dropped server request is answered).

use std::sync::Arc;

use serde_json::Value;

use crate::error::Error;
use crate::input::kind;
use crate::transport::BoxFuture;

/// Which way a frame went, for the message tap and the interceptors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Incoming,
    Outgoing,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Incoming => "incoming",
            Direction::Outgoing => "outgoing",
        }
    }
}

/// What an interceptor makes of a message: `Ok(Some(message))` passes it on (changed or not),
/// `Ok(None)` drops it, `Err` is reported (`INTERCEPTOR_FAILED` to the diagnostics) and the
/// message passes on as it was given.
pub type InterceptResult =
    std::result::Result<Option<Value>, Box<dyn std::error::Error + Send + Sync>>;

/// One link of the chain. Each interceptor sees the messages of a direction in order, one
/// future at a time: the next is not started before this one is done. A slow interceptor delays
/// its direction (the reader keeps reading meanwhile).
pub trait Interceptor: Send + Sync {
    /// Whether the interceptor is to be called for `direction`: a direction none of the chain
    /// intercepts is not parsed at all.
    fn intercepts(&self, direction: Direction) -> bool {
        let _ = direction;
        true
    }

    /// The message as the JSON-RPC object it is (`{"id", "method", "params"}`,
    /// `{"method", "params"}` or `{"id", "result" | "error"}`).
    fn intercept(
        &self,
        direction: Direction,
        message: Value,
    ) -> BoxFuture<'static, InterceptResult>;

    /// Several messages that arrived together, in order, in one call: for an interceptor each
    /// of whose calls has a fixed cost (the JavaScript ones cross to the JS thread and back,
    /// about 40 µs a message when one at a time). Its results must be as many as the messages,
    /// in the same order. `None` (the default): `intercept` is called on each in turn.
    fn intercept_batch(
        &self,
        direction: Direction,
        messages: Vec<Value>,
    ) -> Option<BoxFuture<'static, Vec<InterceptResult>>> {
        let _ = (direction, messages);
        None
    }
}

/// The interceptors of one direction, in the order they run.
#[derive(Clone)]
pub(crate) struct Chain {
    direction: Direction,
    links: Vec<(usize, Arc<dyn Interceptor>)>,
}

/// What became of a message.
pub(crate) enum Verdict {
    /// Send or route this text (the message, changed or not).
    Pass(String),
    /// An interceptor returned null: this was the message as that interceptor got it.
    Dropped(Value),
}

/// A message on its way through the chain.
enum Slot {
    /// Not a JSON object: passed as it is, for the decoder to report.
    Raw(String),
    Live(Value),
    Dropped(Value),
}

impl Chain {
    /// The chain of `direction`, or `None` (the zero-cost path) when no interceptor takes it.
    /// Indexes stay those of `all`, for error messages.
    pub(crate) fn for_direction(
        all: &[Arc<dyn Interceptor>],
        direction: Direction,
    ) -> Option<Chain> {
        let links: Vec<_> = all
            .iter()
            .enumerate()
            .filter(|(_, i)| i.intercepts(direction))
            .map(|(n, i)| (n, Arc::clone(i)))
            .collect();
        (!links.is_empty()).then_some(Chain { direction, links })
    }

    /// Runs the chain over one frame (see [`run_batch`](Self::run_batch)).
    pub(crate) async fn run(&self, frame: String) -> (Verdict, Vec<Error>) {
        let (mut verdicts, failures) = self.run_batch(vec![frame]).await;
        // One verdict per frame: never empty. (Not a blank line to the server if it were.)
        let verdict = verdicts.pop().unwrap_or(Verdict::Dropped(Value::Null));
        (verdict, failures)
    }

    /// Runs the chain over frames that arrived together: each link gets them all, in order,
    /// before the next link does (one crossing per link and batch, not per message). Failures
    /// (an interceptor's error, a result that is not an object) are returned for the caller to
    /// report; the message passes that link unchanged. The verdicts are in the frames' order.
    pub(crate) async fn run_batch(&self, frames: Vec<String>) -> (Vec<Verdict>, Vec<Error>) {
        let mut slots: Vec<Slot> = frames
            .into_iter()
            .map(|frame| match serde_json::from_str::<Value>(&frame) {
                Ok(v @ Value::Object(_)) => Slot::Live(v),
                _ => Slot::Raw(frame),
            })
            .collect();
        let mut failures = Vec::new();
        for (index, link) in &self.links {
            let live: Vec<usize> = (0..slots.len())
                .filter(|&i| matches!(slots[i], Slot::Live(_)))
                .collect();
            if live.is_empty() {
                break;
            }
            let messages: Vec<Value> = live
                .iter()
                .map(|&i| match &slots[i] {
                    Slot::Live(v) => v.clone(),
                    _ => Value::Null,
                })
                .collect();
            let results = match link.intercept_batch(self.direction, messages.clone()) {
                Some(batch) => batch.await,
                None => {
                    let mut results = Vec::with_capacity(messages.len());
                    for m in &messages {
                        results.push(link.intercept(self.direction, m.clone()).await);
                    }
                    results
                }
            };
            let failed = |reason: String, message: &Value| Error::InterceptorFailed {
                index: *index,
                direction: self.direction.as_str(),
                what: describe(message),
                reason,
            };
            if results.len() != messages.len() {
                let reason = format!(
                    "answered {} messages with {} results",
                    messages.len(),
                    results.len()
                );
                failures.extend(messages.iter().map(|m| failed(reason.clone(), m)));
                continue;
            }
            for ((slot, message), result) in live.into_iter().zip(messages).zip(results) {
                slots[slot] = match result {
                    Ok(Some(next @ Value::Object(_))) => Slot::Live(next),
                    Ok(Some(other)) => {
                        failures.push(failed(
                            format!(
                                "returned {}, not a message object (return the message, or null to drop it)",
                                kind(&other)
                            ),
                            &message,
                        ));
                        Slot::Live(message)
                    }
                    Ok(None) => Slot::Dropped(message),
                    Err(e) => {
                        failures.push(failed(e.to_string(), &message));
                        Slot::Live(message)
                    }
                };
            }
        }
        let verdicts = slots
            .into_iter()
            .map(|slot| match slot {
                Slot::Raw(text) => Verdict::Pass(text),
                // Encoding a Value cannot fail (its keys are strings).
                Slot::Live(v) => Verdict::Pass(serde_json::to_string(&v).unwrap_or_default()),
                Slot::Dropped(v) => Verdict::Dropped(v),
            })
            .collect();
        (verdicts, failures)
    }
}

/// `request thread/start`, `notification turn/started`, `response 7`: which message it was.
pub(crate) fn describe(message: &Value) -> String {
    match (message.get("method"), message.get("id")) {
        (Some(Value::String(m)), Some(_)) => format!("request {m}"),
        (Some(Value::String(m)), None) => format!("notification {m}"),
        (_, Some(id)) => format!("response {id}"),
        _ => "message".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Applies a closure; `intercepts` only `only` when given.
    struct F<G>(G, Option<Direction>);
    impl<G: Fn(Value) -> InterceptResult + Send + Sync> Interceptor for F<G> {
        fn intercepts(&self, direction: Direction) -> bool {
            self.1.is_none_or(|d| d == direction)
        }
        fn intercept(&self, _: Direction, message: Value) -> BoxFuture<'static, InterceptResult> {
            let out = (self.0)(message);
            Box::pin(async move { out })
        }
    }

    fn link(f: impl Fn(Value) -> InterceptResult + Send + Sync + 'static) -> Arc<dyn Interceptor> {
        Arc::new(F(f, None))
    }

    #[tokio::test]
    async fn links_run_in_order_and_each_sees_the_last_ones_result() {
        let all = vec![
            link(|mut m| {
                m["params"]["trail"] = json!("a");
                Ok(Some(m))
            }),
            link(|mut m| {
                let t = m["params"]["trail"].as_str().unwrap_or("").to_owned();
                m["params"]["trail"] = json!(t + "b");
                Ok(Some(m))
            }),
        ];
        let chain = Chain::for_direction(&all, Direction::Outgoing).expect("a chain");
        let (verdict, failures) = chain.run(r#"{"method":"x","params":{}}"#.to_owned()).await;
        assert!(failures.is_empty());
        let Verdict::Pass(text) = verdict else {
            panic!("dropped")
        };
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            json!({"method": "x", "params": {"trail": "ab"}})
        );
    }

    #[tokio::test]
    async fn a_failing_or_non_object_link_is_reported_and_skipped_and_null_drops() {
        let all = vec![
            link(|_| Err("boom".into())),
            link(|_| Ok(Some(json!([1])))),
            link(|m| Ok(Some(m))),
            link(|_| Ok(None)),
            link(|_| panic!("links after a drop do not run")),
        ];
        let chain = Chain::for_direction(&all, Direction::Incoming).expect("a chain");
        let (verdict, failures) = chain.run(r#"{"id":3,"method":"m"}"#.to_owned()).await;
        // (`link` is per message: its batch is `None`, so this also runs the fallback.)
        let Verdict::Dropped(original) = verdict else {
            panic!("not dropped")
        };
        assert_eq!(original, json!({"id": 3, "method": "m"}));
        let shown: Vec<_> = failures.iter().map(|e| (e.code(), e.to_string())).collect();
        assert_eq!(shown.len(), 2, "{shown:?}");
        assert_eq!(shown[0].0, "INTERCEPTOR_FAILED");
        assert!(
            shown[0].1.contains("interceptor 0") && shown[0].1.contains("request m"),
            "{shown:?}"
        );
        assert!(shown[0].1.contains("boom"), "{shown:?}");
        assert!(
            shown[1].1.contains("interceptor 1") && shown[1].1.contains("an array"),
            "{shown:?}"
        );
    }

    #[tokio::test]
    async fn a_direction_nobody_intercepts_has_no_chain_and_non_objects_pass() {
        let all: Vec<Arc<dyn Interceptor>> =
            vec![Arc::new(F(|_| Ok(None), Some(Direction::Incoming)))];
        assert!(Chain::for_direction(&all, Direction::Outgoing).is_none());
        assert!(Chain::for_direction(&[], Direction::Incoming).is_none());
        let chain = Chain::for_direction(&all, Direction::Incoming).expect("a chain");
        // Not an object: left to the decoder (which reports it), never dropped here.
        let (verdict, _) = chain.run("[1,2".to_owned()).await;
        assert!(matches!(verdict, Verdict::Pass(t) if t == "[1,2"));
    }

    /// Takes batches: counts its calls, drops messages whose `drop` is true, and answers a
    /// batch of 3 with too few results.
    struct Batcher(std::sync::Mutex<Vec<usize>>);
    impl Interceptor for Batcher {
        fn intercept(&self, _: Direction, _: Value) -> BoxFuture<'static, InterceptResult> {
            Box::pin(async { panic!("a batching interceptor is called by batch") })
        }
        fn intercept_batch(
            &self,
            _: Direction,
            messages: Vec<Value>,
        ) -> Option<BoxFuture<'static, Vec<InterceptResult>>> {
            self.0.lock().unwrap().push(messages.len());
            let mut out: Vec<InterceptResult> = messages
                .into_iter()
                .map(|m| Ok((m["drop"] != json!(true)).then_some(m)))
                .collect();
            if out.len() == 3 {
                out.pop();
            }
            Some(Box::pin(async move { out }))
        }
    }

    #[tokio::test]
    async fn a_batch_goes_through_each_link_in_one_call_and_keeps_its_order() {
        let batcher = Arc::new(Batcher(Default::default()));
        let all: Vec<Arc<dyn Interceptor>> = vec![
            Arc::clone(&batcher) as Arc<dyn Interceptor>,
            link(|mut m| {
                m["seen"] = json!(true);
                Ok(Some(m))
            }),
        ];
        let chain = Chain::for_direction(&all, Direction::Incoming).expect("a chain");
        let frames = [
            "{\"n\":0}",
            "not json",
            "{\"n\":1,\"drop\":true}",
            "{\"n\":2}",
            "{\"n\":3}",
        ];
        let (verdicts, failures) = chain
            .run_batch(frames.iter().map(|f| f.to_string()).collect())
            .await;
        assert!(failures.is_empty());
        let shown: Vec<String> = verdicts
            .into_iter()
            .map(|v| match v {
                Verdict::Pass(t) => t,
                Verdict::Dropped(m) => format!("dropped {m}"),
            })
            .collect();
        assert_eq!(
            shown,
            [
                r#"{"n":0,"seen":true}"#,
                "not json",
                r#"dropped {"drop":true,"n":1}"#,
                r#"{"n":2,"seen":true}"#,
                r#"{"n":3,"seen":true}"#,
            ]
        );
        // One call for the four objects (the text that is not JSON is not handed over).
        assert_eq!(*batcher.0.lock().unwrap(), [4]);

        // A wrong number of results: every message of the batch is reported and passes.
        let (verdicts, failures) = chain
            .run_batch(vec!["{}".into(), "{}".into(), "{}".into()])
            .await;
        assert_eq!(failures.len(), 3);
        assert!(failures[0]
            .to_string()
            .contains("3 messages with 2 results"));
        assert!(verdicts
            .iter()
            .all(|v| matches!(v, Verdict::Pass(t) if t == r#"{"seen":true}"#)));
    }
}
