//! The client against a scripted peer on an in-memory pipe.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use app_server_client::{Diagnostic, Direction, Input, Session, SessionOptions, TurnSetup};
use serde_json::{json, Map, Value};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

mod common;
use common::peer::{connect, connect_with, open_thread, start_turn, Peer};

fn delta(thread: &str, turn: &str, text: &str) -> Value {
    json!({"method": "item/agentMessage/delta", "params": {"threadId": thread, "turnId": turn, "itemId": "m1", "delta": text}})
}

fn completed(thread: &str, turn: &str, status: &str) -> Value {
    json!({"method": "turn/completed", "params": {"threadId": thread, "turn": {"id": turn, "status": status, "error": null, "items": []}}})
}

#[tokio::test]
async fn many_requests_in_flight_are_matched_by_id() {
    let (session, mut peer) = connect().await;
    let calls = (0..20).map(|i| {
        let s = session.clone();
        tokio::spawn(async move {
            s.request("echo", &json!({ "n": i }).to_string(), None)
                .await
        })
    });
    let calls: Vec<_> = calls.collect();
    let mut received = Vec::new();
    for _ in 0..20 {
        received.push(peer.expect("echo").await);
    }
    // Answer in reverse order: each caller must still get its own answer.
    for (id, params) in received.iter().rev() {
        peer.answer(id, json!({ "echo": params["n"] })).await;
    }
    for (i, call) in calls.into_iter().enumerate() {
        let result: Value = serde_json::from_str(call.await.unwrap().unwrap().get()).unwrap();
        assert_eq!(result["echo"], i);
    }
    assert_eq!(session.stats().2, 0, "no pending request left");
}

#[tokio::test]
async fn timeout_rejects_and_a_late_answer_is_reported_not_misdelivered() {
    let (diag_tx, mut diag_rx) = mpsc::unbounded_channel::<Diagnostic>();
    let (session, mut peer) = connect_with(SessionOptions {
        diagnostics: Some(diag_tx),
        ..Default::default()
    })
    .await;
    let err = tokio::join!(
        session.request("slow", "{}", Some(Duration::from_millis(50))),
        peer.expect("slow")
    )
    .0
    .unwrap_err();
    assert_eq!(err.code(), "REQUEST_TIMEOUT");
    assert!(err.to_string().contains("slow"), "{err}");
    assert_eq!(session.stats().2, 0);
    peer.send(json!({"id": 1, "result": {}})).await;
    let d = diag_rx.recv().await.unwrap();
    assert_eq!(d.error.code(), "PROTOCOL_ERROR");
    assert!(d.error.to_string().contains("id 1"), "{}", d.error);
}

#[tokio::test]
async fn a_request_answered_within_its_timeout_gets_its_answer() {
    // The peer answers only after it has seen the request: a deadline already past (or a
    // timeout that fires before any answer could come) fails this.
    let (session, mut peer) = connect().await;
    let (result, ()) = tokio::join!(
        session.request("quick", "{}", Some(Duration::from_secs(30))),
        async {
            let (id, _) = peer.expect("quick").await;
            peer.answer(&id, json!({ "ok": true })).await;
        }
    );
    assert_eq!(result.expect("answered in time").get(), r#"{"ok":true}"#);
}

#[tokio::test]
async fn rpc_errors_keep_code_message_and_data() {
    let no_retry = SessionOptions {
        overload_retry: app_server_client::RetryPolicy::NONE,
        ..Default::default()
    };
    let (session, mut peer) = connect_with(no_retry).await;
    let (result, ()) = tokio::join!(session.request("x", "{}", None), async {
        let (id, _) = peer.expect("x").await;
        peer.send(
            json!({"id": id, "error": {"code": -32602, "message": "bad", "data": {"field": "y"}}}),
        )
        .await;
    });
    let err = result.unwrap_err();
    assert_eq!(err.code(), "RPC_ERROR");
    let rpc = err.rpc_error().unwrap();
    assert_eq!(
        (rpc.code, rpc.message.as_str(), rpc.data.as_deref()),
        (-32602, "bad", Some(r#"{"field":"y"}"#))
    );

    let (result, ()) = tokio::join!(session.request("y", "{}", None), async {
        let (id, _) = peer.expect("y").await;
        peer.send(json!({"id": id, "error": {"code": -32001, "message": "overloaded"}}))
            .await;
    });
    assert_eq!(result.unwrap_err().code(), "SERVER_OVERLOADED");
}

#[tokio::test]
async fn turn_events_before_the_turn_start_answer_are_kept_in_order() {
    let (session, mut peer) = connect().await;
    let thread = open_thread(&session, &mut peer, "t1").await;
    let ((turn, _), ()) = tokio::join!(
        async {
            thread
                .start_turn(Input::from("hi"), Map::new(), TurnSetup::default())
                .await
                .unwrap()
        },
        async {
            let (id, params) = peer.expect("turn/start").await;
            assert_eq!(params["threadId"], "t1");
            assert_eq!(params["input"], json!([{"type": "text", "text": "hi"}]));
            // The server announces the turn and streams before answering turn/start.
            peer.send(json!({"method": "turn/started", "params": {"threadId": "t1", "turn": {"id": "u1", "status": "inProgress"}}})).await;
            peer.send(delta("t1", "u1", "Hel")).await;
            peer.answer(
                &id,
                json!({"turn": {"id": "u1", "status": "inProgress", "items": []}}),
            )
            .await;
        }
    );
    assert_eq!(turn.id(), "u1");
    peer.send(delta("t1", "u1", "lo")).await;
    peer.send(json!({"method": "item/completed", "params": {"threadId": "t1", "turnId": "u1", "item": {"type": "agentMessage", "id": "m1", "text": "Hello"}}})).await;
    peer.send(json!({"method": "thread/tokenUsage/updated", "params": {"threadId": "t1", "turnId": "u1", "tokenUsage": {"total": {"totalTokens": 7}}}})).await;
    peer.send(json!({"method": "some/futureNotification", "params": {"threadId": "t1", "turnId": "u1", "novel": true}})).await;
    peer.send(completed("t1", "u1", "completed")).await;

    let mut events = turn.take_events().unwrap();
    assert!(turn.take_events().is_none(), "one consumer per turn stream");
    let mut methods = Vec::new();
    while let Some(batch) = events.next_batch(1000).await.unwrap() {
        methods.extend(batch.iter().map(|n| n.method().to_owned()));
    }
    assert_eq!(
        methods,
        [
            "turn/started",
            "item/agentMessage/delta",
            "item/agentMessage/delta",
            "item/completed",
            "thread/tokenUsage/updated",
            "some/futureNotification",
            "turn/completed"
        ]
    );
    let result = turn.result(None).await.unwrap();
    assert_eq!(
        (result.status.as_str(), result.text.as_str()),
        ("completed", "Hello")
    );
    assert_eq!(result.items.len(), 1);
    assert_eq!(
        result.usage.as_ref().unwrap().get(),
        r#"{"total":{"totalTokens":7}}"#
    );
    assert_eq!(session.stats().0, 0, "finished turn is unrouted");
}

#[tokio::test]
async fn result_timeout_does_not_cancel_the_turn() {
    let (session, mut peer) = connect().await;
    let thread = open_thread(&session, &mut peer, "t").await;
    let turn = start_turn(&thread, &mut peer, "u", TurnSetup::default()).await;
    turn.discard_events();
    let err = turn
        .result(Some(Duration::from_millis(20)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "REQUEST_TIMEOUT");
    peer.send(delta("t", "u", "only deltas")).await;
    peer.send(json!({"method": "turn/completed", "params": {"threadId": "t", "turn": {"id": "u", "status": "failed", "error": {"message": "model refused"}}}})).await;
    let result = turn.result(None).await.unwrap();
    assert_eq!(result.status, "failed");
    assert_eq!(result.text, "only deltas", "deltas are the fallback text");
    assert_eq!(
        result.error.as_ref().unwrap().get(),
        r#"{"message":"model refused"}"#
    );
}

#[tokio::test]
async fn interleaved_turns_on_many_threads_each_get_only_their_own_events() {
    const TURNS: usize = 1000;
    const DELTAS: usize = 5;
    let (session, mut peer) = connect().await;
    let mut threads = Vec::new();
    for i in 0..TURNS {
        threads.push(open_thread(&session, &mut peer, &format!("t{i}")).await);
    }
    let mut turns = Vec::new();
    for (i, thread) in threads.iter().enumerate() {
        let ((turn, extra), ()) = tokio::join!(
            async {
                thread
                    .start_turn(
                        Input::from("go"),
                        Map::new(),
                        TurnSetup {
                            extra_streams: 1,
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap()
            },
            async {
                let (id, _) = peer.expect("turn/start").await;
                peer.answer(&id, json!({"turn": {"id": format!("u{i}")}}))
                    .await;
            }
        );
        turns.push((turn, extra));
    }
    // Round-robin: every turn's k-th delta before any turn's (k+1)-th.
    for k in 0..DELTAS {
        for i in 0..TURNS {
            peer.send(delta(
                &format!("t{i}"),
                &format!("u{i}"),
                &format!("{i}:{k};"),
            ))
            .await;
        }
    }
    for i in 0..TURNS {
        peer.send(completed(&format!("t{i}"), &format!("u{i}"), "completed"))
            .await;
    }
    for (i, (turn, extra)) in turns.into_iter().enumerate() {
        let expected: String = (0..DELTAS).map(|k| format!("{i}:{k};")).collect();
        for mut stream in extra.into_iter().chain(turn.take_events()) {
            let mut text = String::new();
            let mut count = 0;
            while let Some(batch) = stream.next_batch(64).await.unwrap() {
                for n in batch {
                    count += 1;
                    assert_eq!(
                        n.turn_id(),
                        Some(format!("u{i}").as_str()),
                        "misrouted event"
                    );
                    text.push_str(n.delta().unwrap_or(""));
                }
            }
            assert_eq!(count, DELTAS + 1);
            assert_eq!(text, expected);
        }
        assert_eq!(turn.result(None).await.unwrap().text, expected);
    }
    assert_eq!(session.stats(), (0, 0, 0));
}

#[tokio::test]
async fn server_requests_are_declined_by_default_and_unknown_ones_get_an_error() {
    let (_session, mut peer) = connect().await;
    peer.send(json!({"id": "a", "method": "item/commandExecution/requestApproval", "params": {"threadId": "t", "turnId": "u", "itemId": "i"}})).await;
    let answer = peer.recv().await;
    assert_eq!(
        answer,
        json!({"id": "a", "result": {"decision": "decline"}})
    );
    peer.send(json!({"id": 9, "method": "execCommandApproval", "params": {}}))
        .await;
    assert_eq!(
        peer.recv().await["result"]["decision"]["denied"]["rejection"],
        "declined by the client's approval policy"
    );
    peer.send(json!({"id": 10, "method": "brand/newRequest", "params": {}}))
        .await;
    let answer = peer.recv().await;
    assert_eq!(answer["id"], 10);
    assert_eq!(answer["error"]["code"], -32601);
}

#[tokio::test]
async fn malformed_frames_are_reported_and_skipped() {
    let (diag_tx, mut diag_rx) = mpsc::unbounded_channel::<Diagnostic>();
    let (session, mut peer) = connect_with(SessionOptions {
        diagnostics: Some(diag_tx),
        ..Default::default()
    })
    .await;
    let mut all = session.notifications();
    peer.send_raw("{not json").await;
    peer.send_raw(&"x".repeat(2 * 1024 * 1024)).await;
    peer.send(json!({"method": "still/alive", "params": {}}))
        .await;
    let batch = all.next_batch(10).await.unwrap().unwrap();
    assert_eq!(batch[0].method(), "still/alive");
    assert!(diag_rx
        .recv()
        .await
        .unwrap()
        .error
        .to_string()
        .contains("undecodable"));
    assert!(diag_rx
        .recv()
        .await
        .unwrap()
        .error
        .to_string()
        .contains("size limit"));
    assert!(!session.is_closed());
}

#[tokio::test]
async fn transport_closing_settles_everything_with_transport_closed() {
    let (session, mut peer) = connect().await;
    let thread = open_thread(&session, &mut peer, "t").await;
    let turn = start_turn(&thread, &mut peer, "u", TurnSetup::default()).await;
    let mut all = session.notifications();
    peer.send(delta("t", "u", "kept")).await;
    let mut events = turn.take_events().unwrap();
    let pending = {
        let s = session.clone();
        tokio::spawn(async move { s.request("never/answered", "{}", None).await })
    };
    peer.expect("never/answered").await;
    drop(peer);
    let err = pending.await.unwrap().unwrap_err();
    assert_eq!(err.code(), "TRANSPORT_CLOSED");
    // Events received before the end are still delivered, then the error.
    let first = events.next_batch(10).await.unwrap().unwrap();
    assert_eq!(first[0].delta(), Some("kept"));
    assert_eq!(
        events.next_batch(10).await.unwrap_err().code(),
        "TRANSPORT_CLOSED"
    );
    assert_eq!(
        turn.result(None).await.unwrap_err().code(),
        "TRANSPORT_CLOSED"
    );
    assert_eq!(
        all.next_batch(10).await.unwrap().unwrap()[0].method(),
        "item/agentMessage/delta"
    );
    assert_eq!(
        all.next_batch(10).await.unwrap_err().code(),
        "TRANSPORT_CLOSED"
    );
    assert!(session.is_closed());
    assert_eq!(
        session
            .request("late", "{}", None)
            .await
            .unwrap_err()
            .code(),
        "TRANSPORT_CLOSED"
    );
}

#[tokio::test]
async fn close_settles_pending_with_session_closed_and_is_idempotent() {
    let (session, mut peer) = connect().await;
    let pending = {
        let s = session.clone();
        tokio::spawn(async move { s.request("waiting", "{}", None).await })
    };
    peer.expect("waiting").await;
    tokio::join!(session.close(), session.close());
    assert_eq!(pending.await.unwrap().unwrap_err().code(), "SESSION_CLOSED");
    // The peer sees end of input.
    assert!(peer.lines.next_line().await.unwrap().is_none());
    session.close().await;
    assert_eq!(
        session
            .request("after", "{}", None)
            .await
            .unwrap_err()
            .code(),
        "SESSION_CLOSED"
    );
}

#[tokio::test]
async fn overloaded_requests_are_retried_with_backoff_then_give_up() {
    use app_server_client::RetryPolicy;
    let policy = RetryPolicy {
        max_attempts: 3,
        initial_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    };
    let (session, mut peer) = connect_with(SessionOptions {
        overload_retry: policy,
        ..Default::default()
    })
    .await;
    let overloaded =
        |id: &Value| json!({"id": id, "error": {"code": -32001, "message": "ingress full"}});
    // Two rejections, then success: the caller sees only the success.
    let (result, ()) = tokio::join!(session.request("busy/method", "{}", None), async {
        for _ in 0..2 {
            let (id, _) = peer.expect("busy/method").await;
            peer.send(overloaded(&id)).await;
        }
        let (id, _) = peer.expect("busy/method").await;
        peer.answer(&id, json!({"ok": 1})).await;
    });
    assert_eq!(result.unwrap().get(), r#"{"ok":1}"#);
    // Rejected on every attempt: SERVER_OVERLOADED after exactly max_attempts sends. (Bounded:
    // a client that retried past max_attempts would wait for an answer that never comes.)
    let bounded = tokio::time::timeout(
        Duration::from_secs(10),
        session.request("busy/method", "{}", None),
    );
    let (result, ()) = tokio::join!(bounded, async {
        for _ in 0..3 {
            let (id, _) = peer.expect("busy/method").await;
            peer.send(overloaded(&id)).await;
        }
    });
    let err = result
        .expect("no answer within 10 s: retried past max_attempts?")
        .unwrap_err();
    assert_eq!(err.code(), "SERVER_OVERLOADED");
    assert_eq!(err.rpc_error().unwrap().code, -32001);
    // No fourth attempt was sent: the next frame the peer sees is a fresh request.
    let (probe, ()) = tokio::join!(session.request("probe", "{}", None), async {
        let (id, _) = peer.expect("probe").await;
        peer.answer(&id, json!(null)).await;
    });
    probe.unwrap();
}

#[tokio::test]
async fn a_server_request_before_the_turn_start_answer_still_shows_in_the_turn() {
    let (session, mut peer) = connect().await;
    let thread = open_thread(&session, &mut peer, "t").await;
    let ((turn, _), ()) = tokio::join!(
        async {
            thread
                .start_turn(Input::from("x"), Map::new(), TurnSetup::default())
                .await
                .unwrap()
        },
        async {
            let (id, _) = peer.expect("turn/start").await;
            // The approval request comes before the answer that names the turn.
            peer.send(json!({"id": 50, "method": "item/commandExecution/requestApproval", "params": {"threadId": "t", "turnId": "u", "itemId": "i"}})).await;
            peer.answer(&id, json!({"turn": {"id": "u"}})).await;
        }
    );
    // The default policy declines it...
    assert_eq!(
        peer.recv().await,
        json!({"id": 50, "result": {"decision": "decline"}})
    );
    peer.send(
        json!({"method": "serverRequest/resolved", "params": {"threadId": "t", "requestId": 50}}),
    )
    .await;
    peer.send(completed("t", "u", "completed")).await;
    // ...and the turn's stream shows the request, then its resolution.
    let mut events = turn.take_events().unwrap();
    let mut methods = Vec::new();
    while let Some(batch) = events.next_batch(100).await.unwrap() {
        methods.extend(batch.iter().map(|n| n.method().to_owned()));
    }
    assert_eq!(
        methods,
        ["serverRequest", "serverRequest/resolved", "turn/completed"]
    );
    assert_eq!(session.pending_server_requests(), 0);
}

#[tokio::test]
async fn a_silent_turn_stalls_but_stays_interruptible() {
    let (session, mut peer) = connect().await;
    let thread = open_thread(&session, &mut peer, "t").await;
    let setup = TurnSetup {
        inactivity_timeout: Some(Duration::from_millis(60)),
        ..Default::default()
    };
    let turn = start_turn(&thread, &mut peer, "u", setup).await;
    peer.send(json!({"method": "turn/started", "params": {"threadId": "t", "turn": {"id": "u"}}}))
        .await;
    let mut events = turn.take_events().unwrap();
    assert_eq!(
        events.next_batch(10).await.unwrap().unwrap()[0].method(),
        "turn/started"
    );
    // Then silence: the stream and the result give up with TURN_STALLED...
    assert_eq!(
        events.next_batch(10).await.unwrap_err().code(),
        "TURN_STALLED"
    );
    let err = turn.result(None).await.unwrap_err();
    assert_eq!(err.code(), "TURN_STALLED");
    assert!(err.to_string().contains("60 ms"), "{err}");
    // ...and the turn can still be interrupted.
    let (interrupted, ()) = tokio::join!(turn.interrupt(), async {
        let (id, params) = peer.expect("turn/interrupt").await;
        assert_eq!(params["turnId"], "u");
        peer.answer(&id, json!({})).await;
    });
    interrupted.unwrap();
}

/// Counts wake-ups and, for each, how many frames the reader had taken in by then.
struct WakeProbe {
    frames_in: Arc<AtomicUsize>,
    wakes: std::sync::Mutex<Vec<usize>>,
    notify: tokio::sync::Notify,
}

impl std::task::Wake for WakeProbe {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let seen = self.frames_in.load(Ordering::SeqCst);
        self.wakes.lock().unwrap().push(seen);
        self.notify.notify_one();
    }
}

/// Writes `count` deltas of turn u1 at once (the reader gets them as one burst), then waits
/// for `probe` to be woken.
async fn write_burst_and_wait(peer: &mut Peer, probe: &WakeProbe, count: usize) {
    let burst: String = (0..count)
        .map(|i| delta("t1", "u1", &format!("{i};")).to_string() + "\n")
        .collect();
    peer.out.write_all(burst.as_bytes()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), probe.notify.notified())
        .await
        .expect("the consumer was never woken");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_events_wakes_a_waiting_consumer_once_it_is_all_routed() {
    let frames_in = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&frames_in);
    let options = SessionOptions {
        message_tap: Some(Arc::new(move |direction, _frame: &str| {
            if matches!(direction, Direction::Incoming) {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        })),
        ..SessionOptions::default()
    };
    let (session, mut peer) = connect_with(options).await;
    let thread = open_thread(&session, &mut peer, "t1").await;
    let turn = start_turn(&thread, &mut peer, "u1", TurnSetup::default()).await;
    let mut events = turn.take_events().unwrap();

    let probe = Arc::new(WakeProbe {
        frames_in: Arc::clone(&frames_in),
        wakes: Default::default(),
        notify: tokio::sync::Notify::new(),
    });
    let waker = std::task::Waker::from(Arc::clone(&probe));
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(events.poll_batch(&mut cx, 10_000).is_pending());

    let before = frames_in.load(Ordering::SeqCst);
    write_burst_and_wait(&mut peer, &probe, 200).await;

    let wakes = probe.wakes.lock().unwrap().clone();
    assert_eq!(wakes.len(), 1, "woken {} times", wakes.len());
    assert_eq!(
        wakes[0] - before,
        200,
        "woken after {} of the burst's 200 frames had been read",
        wakes[0] - before
    );
    let std::task::Poll::Ready(Ok(Some(batch))) = events.poll_batch(&mut cx, 10_000) else {
        panic!("the burst was not queued");
    };
    assert_eq!(batch.len(), 200, "one wake-up carries the whole burst");
}

#[tokio::test]
async fn batches_stop_at_the_byte_limit_and_keep_the_rest_in_order() {
    let (session, mut peer) = connect().await;
    let thread = open_thread(&session, &mut peer, "t1").await;
    let turn = start_turn(&thread, &mut peer, "u1", TurnSetup::default()).await;
    // Ten deltas of one frame size, one far over the limit, then the end.
    let frame_len = delta("t1", "u1", "d0;").to_string().len();
    for i in 0..10 {
        peer.send(delta("t1", "u1", &format!("d{i};"))).await;
    }
    peer.send(delta("t1", "u1", &"x".repeat(10 * frame_len)))
        .await;
    peer.send(completed("t1", "u1", "completed")).await;
    turn.result(None).await.unwrap(); // everything is queued now

    let mut events = turn.take_events().unwrap();
    let mut sizes = Vec::new();
    let mut deltas = String::new();
    while let Some(batch) = events.next_batch_within(1000, 3 * frame_len).await.unwrap() {
        sizes.push(batch.len());
        let bytes: usize = batch.iter().map(|n| n.raw.len()).sum();
        assert!(
            batch.len() == 1 || bytes <= 3 * frame_len,
            "a batch of {bytes} bytes"
        );
        for n in &batch {
            if let Some(d) = n.delta().filter(|d| d.starts_with('d')) {
                deltas.push_str(d);
            }
        }
    }
    assert_eq!(sizes, [3, 3, 3, 1, 1, 1], "batch sizes");
    assert_eq!(
        deltas,
        (0..10).map(|i| format!("d{i};")).collect::<String>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_looking_mid_burst_waits_for_the_burst_and_takes_it_whole() {
    // The tap runs on the reader, before each frame is routed: at the burst's 30th frame it
    // looks at the stream, as a consumer that happens to be awake would.
    type Shared = std::sync::Mutex<Option<app_server_client::EventStream>>;
    let stream: Arc<Shared> = Arc::default();
    let looked: Arc<std::sync::Mutex<Option<std::task::Poll<usize>>>> = Arc::default();
    let frames_in = Arc::new(AtomicUsize::new(0));
    let burst_starts_after = Arc::new(AtomicUsize::new(usize::MAX));
    let probe = Arc::new(WakeProbe {
        frames_in: Arc::clone(&frames_in),
        wakes: Default::default(),
        notify: tokio::sync::Notify::new(),
    });
    let options = {
        let (stream, looked, frames_in, start, probe) = (
            Arc::clone(&stream),
            Arc::clone(&looked),
            Arc::clone(&frames_in),
            Arc::clone(&burst_starts_after),
            Arc::clone(&probe),
        );
        SessionOptions {
            message_tap: Some(Arc::new(move |direction, _frame: &str| {
                if !matches!(direction, Direction::Incoming) {
                    return;
                }
                let n = frames_in.fetch_add(1, Ordering::SeqCst) + 1;
                if n == start.load(Ordering::SeqCst).saturating_add(30) {
                    let waker = std::task::Waker::from(Arc::clone(&probe));
                    let mut cx = std::task::Context::from_waker(&waker);
                    let mut guard = stream.lock().unwrap();
                    let events = guard.as_mut().unwrap();
                    let polled = events
                        .poll_batch(&mut cx, 10_000)
                        .map(|b| b.unwrap().unwrap().len());
                    *looked.lock().unwrap() = Some(polled);
                }
            })),
            ..SessionOptions::default()
        }
    };
    let (session, mut peer) = connect_with(options).await;
    let thread = open_thread(&session, &mut peer, "t1").await;
    let turn = start_turn(&thread, &mut peer, "u1", TurnSetup::default()).await;
    *stream.lock().unwrap() = turn.take_events();

    burst_starts_after.store(frames_in.load(Ordering::SeqCst), Ordering::SeqCst);
    write_burst_and_wait(&mut peer, &probe, 200).await;

    assert_eq!(
        *looked.lock().unwrap(),
        Some(std::task::Poll::Pending),
        "29 events of an unfinished burst were taken instead of waited for"
    );
    let woken_after = probe.wakes.lock().unwrap()[0] - burst_starts_after.load(Ordering::SeqCst);
    assert_eq!(woken_after, 200, "woken after {woken_after} of 200 frames");
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut guard = stream.lock().unwrap();
    let std::task::Poll::Ready(Ok(Some(batch))) =
        guard.as_mut().unwrap().poll_batch(&mut cx, 10_000)
    else {
        panic!("the burst was not queued");
    };
    assert_eq!(batch.len(), 200);
}

/// Answers every server request only when the test says so (a human reading the prompt).
struct HeldHandler {
    release: Arc<tokio::sync::Notify>,
    arrived: mpsc::UnboundedSender<String>,
}

impl app_server_client::ServerRequestHandler for HeldHandler {
    fn handle(
        &self,
        request: app_server_client::ServerRequest,
    ) -> app_server_client::transport::BoxFuture<'static, app_server_client::Reply> {
        let release = Arc::clone(&self.release);
        let _ = self.arrived.send(request.method.clone());
        Box::pin(async move {
            release.notified().await;
            let accept =
                serde_json::value::RawValue::from_string(r#"{"decision":"accept"}"#.into());
            app_server_client::Reply::Result(accept.expect("valid JSON"))
        })
    }
}

/// A turn whose approval is pending on a held handler, with a 60 ms watchdog. Returns once the
/// handler has the request.
async fn turn_waiting_on_a_held_approval(
    before_turn_start_answer: bool,
) -> (
    Session,
    Peer,
    app_server_client::Turn,
    Arc<tokio::sync::Notify>,
) {
    let release = Arc::new(tokio::sync::Notify::new());
    let (arrived, mut arrivals) = mpsc::unbounded_channel();
    let handler = HeldHandler {
        release: Arc::clone(&release),
        arrived,
    };
    let (session, mut peer) = connect_with(SessionOptions {
        server_requests: Some(Arc::new(handler)),
        ..SessionOptions::default()
    })
    .await;
    let thread = open_thread(&session, &mut peer, "t").await;
    let setup = TurnSetup {
        inactivity_timeout: Some(Duration::from_millis(60)),
        ..Default::default()
    };
    let approval = json!({"id": 7, "method": "item/commandExecution/requestApproval", "params": {"threadId": "t", "turnId": "u", "itemId": "i"}});
    let ((turn, _), ()) = tokio::join!(
        async {
            thread
                .start_turn(Input::from("x"), Map::new(), setup)
                .await
                .unwrap()
        },
        async {
            let (id, _) = peer.expect("turn/start").await;
            if before_turn_start_answer {
                peer.send(approval.clone()).await;
            }
            peer.answer(&id, json!({"turn": {"id": "u"}})).await;
            if !before_turn_start_answer {
                peer.send(approval.clone()).await;
            }
        }
    );
    assert_eq!(
        arrivals.recv().await.as_deref(),
        Some("item/commandExecution/requestApproval")
    );
    (session, peer, turn, release)
}

// Time is paused: tokio advances the clock whenever every task is idle, so ten watchdog limits
// pass at once and exactly.
#[tokio::test(start_paused = true)]
async fn a_turn_waiting_on_the_client_is_not_stalled_however_long_the_client_takes() {
    for before_turn_start_answer in [false, true] {
        let (_session, mut peer, turn, release) =
            turn_waiting_on_a_held_approval(before_turn_start_answer).await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(
            !turn.is_finished(),
            "stalled while the client decided (request before the turn/start answer: {before_turn_start_answer})"
        );
        release.notify_one();
        assert_eq!(
            peer.recv().await,
            json!({"id": 7, "result": {"decision": "accept"}})
        );
        peer.send(completed("t", "u", "completed")).await;
        let result = turn.result(None).await.expect("the turn completes");
        assert_eq!(result.status, "completed");
    }
}

#[tokio::test(start_paused = true)]
async fn after_the_client_answers_a_silent_server_stalls_the_turn_a_full_limit_later() {
    let (_session, mut peer, turn, release) = turn_waiting_on_a_held_approval(false).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    release.notify_one();
    assert_eq!(peer.recv().await["result"]["decision"], "accept");
    let answered = tokio::time::Instant::now();
    let err = turn.result(None).await.unwrap_err();
    assert_eq!(err.code(), "TURN_STALLED");
    let quiet = answered.elapsed();
    assert!(
        quiet >= Duration::from_millis(60) && quiet <= Duration::from_millis(100),
        "stalled {quiet:?} after the answer; the clock restarts at the answer"
    );
}

#[tokio::test]
async fn a_turn_steers_reports_its_end_and_can_discard_its_events() {
    let (session, mut peer) = connect().await;
    let thread = open_thread(&session, &mut peer, "t").await;
    let turn = start_turn(&thread, &mut peer, "u", TurnSetup::default()).await;
    assert!(!turn.is_finished());

    // steer: the input goes to the running turn, named as the one expected; the server's
    // refusal comes back as an error.
    let (steered, params) = tokio::join!(turn.steer(Input::from("and then?")), async {
        let (id, params) = peer.expect("turn/steer").await;
        peer.answer(&id, json!({ "turnId": "u" })).await;
        params
    });
    steered.expect("steer answered");
    assert_eq!(params["threadId"], "t");
    assert_eq!(params["expectedTurnId"], "u");
    assert_eq!(params["input"][0]["text"], "and then?");
    let (refused, ()) = tokio::join!(turn.steer(Input::from("more")), async {
        let (id, _) = peer.expect("turn/steer").await;
        peer.send(json!({ "id": id, "error": { "code": -32600, "message": "no active turn" } }))
            .await;
    });
    assert_eq!(refused.unwrap_err().code(), "RPC_ERROR");

    // Discarded: nobody reads the events, none are kept for a later taker.
    turn.discard_events();
    assert!(turn.take_events().is_none());

    peer.send(completed("t", "u", "completed")).await;
    let result = tokio::time::timeout(Duration::from_secs(5), turn.result(None))
        .await
        .expect("the turn ends")
        .unwrap();
    assert_eq!(result.status, "completed");
    assert!(turn.is_finished());
}

#[tokio::test]
async fn interrupt_waits_for_turn_started_and_is_not_sent_for_a_completed_turn() {
    let (session, mut peer) = connect().await;
    let thread = open_thread(&session, &mut peer, "t").await;
    let turn = start_turn(&thread, &mut peer, "u", TurnSetup::default()).await;

    // Asked before the server announced the turn: held (the server would ignore it). A request
    // made after it reaches the server first.
    let ping = || session.request("ping", "{}", None);
    let (interrupted, ()) = tokio::join!(turn.interrupt(), async {
        let (pinged, ()) = tokio::join!(ping(), async {
            let (id, _) = peer.expect("ping").await;
            peer.answer(&id, json!({})).await;
        });
        pinged.unwrap();
        peer.send(
            json!({"method": "turn/started", "params": {"threadId": "t", "turn": {"id": "u"}}}),
        )
        .await;
        let (id, params) = peer.expect("turn/interrupt").await;
        assert_eq!(
            (&params["threadId"], &params["turnId"]),
            (&json!("t"), &json!("u"))
        );
        peer.answer(&id, json!({})).await;
    });
    interrupted.unwrap();

    // Completed by the server: nothing to stop, nothing sent.
    peer.send(completed("t", "u", "interrupted")).await;
    turn.result(Some(Duration::from_secs(5))).await.unwrap();
    let (interrupted, pinged, ()) = tokio::join!(turn.interrupt(), ping(), async {
        let (id, _) = peer.expect("ping").await;
        peer.answer(&id, json!({})).await;
    });
    interrupted.unwrap();
    pinged.unwrap();
}
