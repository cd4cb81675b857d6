//! Thread-wide subscriptions and joining a turn in progress, against a scripted peer.

use app_server_client::{EventStream, TurnSetup};
use serde_json::{json, Value};

mod common;
use common::peer::{connect, open_thread};

fn item_completed(thread: &str, turn: &str, item: Value) -> Value {
    json!({"method": "item/completed", "params": {"threadId": thread, "turnId": turn, "item": item}})
}

fn delta(thread: &str, turn: &str, text: &str) -> Value {
    json!({"method": "item/agentMessage/delta", "params": {"threadId": thread, "turnId": turn, "itemId": "m1", "delta": text}})
}

/// The methods of what is queued on `stream` now.
fn queued(stream: &mut EventStream) -> Vec<String> {
    stream
        .try_batch(1000)
        .iter()
        .map(|n| n.method().to_owned())
        .collect()
}

#[tokio::test]
async fn joining_a_turn_keeps_the_events_around_the_read_and_counts_each_item_once() {
    let (session, mut peer) = connect().await;
    let thread = open_thread(&session, &mut peer, "t1").await;
    let other = open_thread(&session, &mut peer, "t2").await;
    let mut events = thread.events();
    let mut other_events = other.events();
    assert_eq!(session.thread_subscribers(), 2);

    let command = json!({"type": "commandExecution", "id": "c1", "command": "ls"});
    let (joined, ()) = tokio::join!(thread.current_turn(TurnSetup::default()), async {
        let (id, params) = peer.expect("thread/turns/list").await;
        assert_eq!(params["threadId"], "t1");
        assert_eq!(params["sortDirection"], "desc");
        assert_eq!(params["itemsView"], "full");
        // Sent before the answer: the snapshot below has this item too.
        peer.send(item_completed("t1", "u1", command.clone())).await;
        peer.send(delta("t1", "u1", "Hel")).await;
        peer.answer(
            &id,
            json!({"data": [{"id": "u1", "status": "inProgress", "items": [
                {"type": "userMessage", "id": "um", "content": []},
                command,
            ]}], "nextCursor": null}),
        )
        .await;
    });
    let (turn, _) = joined.unwrap().expect("a turn in progress");
    assert_eq!(turn.id(), "u1");
    peer.send(delta("t2", "v1", "elsewhere")).await;
    peer.send(delta("t1", "u1", "lo")).await;
    peer.send(item_completed(
        "t1",
        "u1",
        json!({"type": "agentMessage", "id": "m1", "text": "Hello"}),
    ))
    .await;
    peer.send(json!({"method": "turn/completed", "params": {"threadId": "t1", "turn": {"id": "u1", "status": "completed", "error": null, "items": []}}})).await;

    let result = turn.result(None).await.unwrap();
    assert_eq!(result.status, "completed");
    assert_eq!(result.text, "Hello");
    let ids: Vec<String> = result
        .items
        .iter()
        .map(|i| {
            serde_json::from_str::<Value>(i.get()).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        ids,
        ["um", "c1", "m1"],
        "the snapshot's items, then the new ones, each once"
    );

    // The joined stream: from the read on, what the router held, then the rest.
    let mut stream = turn.take_events().unwrap();
    let mut methods = Vec::new();
    while let Some(batch) = stream.next_batch(100).await.unwrap() {
        methods.extend(batch.iter().map(|n| n.method().to_owned()));
    }
    assert_eq!(
        methods,
        [
            "item/completed",
            "item/agentMessage/delta",
            "item/agentMessage/delta",
            "item/completed",
            "turn/completed"
        ]
    );
    // The thread-wide stream has all of it too, and nothing of t2.
    assert_eq!(queued(&mut events), methods);
    assert_eq!(queued(&mut other_events), ["item/agentMessage/delta"]);

    // Idle now: the newest turn has completed.
    let (idle, ()) = tokio::join!(thread.current_turn(TurnSetup::default()), async {
        let (id, _) = peer.expect("thread/turns/list").await;
        peer.answer(
            &id,
            json!({"data": [{"id": "u1", "status": "completed", "items": []}]}),
        )
        .await;
    });
    assert!(idle.unwrap().is_none());
    drop(events);
    drop(other_events);
    assert_eq!(session.thread_subscribers(), 0);
}

#[tokio::test]
async fn a_server_without_turns_list_is_read_with_thread_read() {
    let (session, mut peer) = connect().await;
    let thread = open_thread(&session, &mut peer, "t1").await;
    let (joined, ()) = tokio::join!(thread.current_turn(TurnSetup::default()), async {
        let (id, _) = peer.expect("thread/turns/list").await;
        peer.send(json!({"id": id, "error": {"code": -32601, "message": "method not found"}}))
            .await;
        let (id, params) = peer.expect("thread/read").await;
        assert_eq!(params["includeTurns"], true);
        peer.answer(
            &id,
            json!({"thread": {"id": "t1", "turns": [
                {"id": "u0", "status": "completed", "items": []},
                {"id": "u1", "status": "inProgress", "items": []},
            ]}}),
        )
        .await;
    });
    let (turn, _) = joined.unwrap().expect("the last turn is in progress");
    assert_eq!(turn.id(), "u1");
    // Announced before the join: interrupting does not wait for a turn/started.
    let (interrupted, ()) = tokio::join!(turn.interrupt(), async {
        let (id, params) = peer.expect("turn/interrupt").await;
        assert_eq!(
            (&params["threadId"], &params["turnId"]),
            (&json!("t1"), &json!("u1"))
        );
        peer.answer(&id, json!({})).await;
    });
    interrupted.unwrap();
    session.close().await;
    assert_eq!(
        turn.result(None).await.unwrap_err().code(),
        "SESSION_CLOSED"
    );
}

/// codex answers a `turn/start` on a thread whose turn is running with that turn's id (the
/// input is added to it). The second start is another view of the same turn, not a
/// `PROTOCOL_ERROR` ("started twice") and not a second turn.
#[tokio::test]
async fn a_start_answered_with_the_running_turn_is_another_view_of_it() {
    let (session, mut peer) = connect().await;
    let thread = open_thread(&session, &mut peer, "t1").await;
    let first = common::peer::start_turn(&thread, &mut peer, "u1", TurnSetup::default()).await;
    peer.send(delta("t1", "u1", "Hel")).await;
    let second = common::peer::start_turn(&thread, &mut peer, "u1", TurnSetup::default()).await;
    assert_eq!(second.id(), "u1");
    assert_eq!(session.stats().0, 1, "one turn, two views");
    peer.send(delta("t1", "u1", "lo")).await;
    peer.send(item_completed(
        "t1",
        "u1",
        json!({"type": "agentMessage", "id": "m1", "text": "Hello"}),
    ))
    .await;
    peer.send(json!({"method": "turn/completed", "params": {"threadId": "t1", "turn": {"id": "u1", "status": "completed", "error": null, "items": []}}})).await;
    let (a, b) = tokio::join!(first.result(None), second.result(None));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!((a.status.as_str(), a.text.as_str()), ("completed", "Hello"));
    assert_eq!((b.status.as_str(), b.text.as_str()), ("completed", "Hello"));
    assert_eq!(session.stats().0, 0);
}
