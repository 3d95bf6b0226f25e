//! The follower against an in-memory fake app-server, for the races and stalls the real
//! one rarely produces.
use super::*;
use crate::rpc::ConnectionOptions;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

struct Fake {
    lines: tokio::io::Lines<BufReader<tokio::io::ReadHalf<tokio::io::DuplexStream>>>,
    writer: tokio::io::WriteHalf<tokio::io::DuplexStream>,
}

impl Fake {
    async fn recv(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(10), self.lines.next_line())
            .await
            .expect("a request within 10 s")
            .unwrap()
            .expect("an open pipe");
        serde_json::from_str(&line).unwrap()
    }

    async fn send(&mut self, msg: Value) {
        self.writer.write_all(format!("{msg}\n").as_bytes()).await.unwrap();
    }

    async fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"method": method, "params": params})).await;
    }

    /// Receives the next request, checks its method, answers `result`, returns its params.
    async fn answer(&mut self, method: &str, result: Value) -> Value {
        let request = self.recv().await;
        assert_eq!(request["method"], method, "{request}");
        self.send(json!({"id": request["id"], "result": result})).await;
        request["params"].clone()
    }
}

fn pair() -> (Connection, Fake) {
    let (client, server) = tokio::io::duplex(1 << 16);
    let (cr, cw) = tokio::io::split(client);
    let (sr, sw) = tokio::io::split(server);
    let transport = crate::rpc::Transport::lines(cr, cw, 1 << 20, crate::Endpoint::custom("test"));
    let conn = Connection::from_transport(transport, ConnectionOptions::default());
    (conn, Fake { lines: BufReader::new(sr).lines(), writer: sw })
}

fn goal(status: &str, updated_at: i64) -> Value {
    json!({"threadId": "th", "objective": "obj", "status": status, "tokensUsed": 0,
        "timeUsedSeconds": 0, "createdAt": 100, "updatedAt": updated_at})
}

fn thread(turns: Vec<Value>) -> Value {
    let mut thread = json!({"id": "th", "sessionId": "th", "cliVersion": "0.169.0", "createdAt": 100,
        "updatedAt": 100, "cwd": "/tmp", "ephemeral": false, "preview": "", "modelProvider": "mock",
        "source": "appServer", "status": {"type": "idle"}, "turns": turns});
    for nullable in [
        "agentNickname",
        "agentRole",
        "forkedFromId",
        "historyMode",
        "model",
        "name",
        "originator",
        "parentThreadId",
        "path",
        "projectId",
        "reasoningEffort",
        "recencyAt",
        "section",
        "sectionEnteredAt",
        "threadSource",
    ] {
        thread[nullable] = Value::Null;
    }
    json!({"thread": thread})
}

fn turn(id: &str, status: &str) -> Value {
    json!({"id": id, "items": [], "status": status, "startedAt": 100})
}

async fn started(fake: &mut Fake) {
    // The connection subscribes to the thread first (it never started or resumed it).
    let resume = fake.answer("thread/resume", thread(vec![])).await;
    assert_eq!(resume, json!({"threadId": "th", "excludeTurns": true}));
    fake.answer("thread/goal/get", json!({"goal": null})).await;
    let set = fake.answer("thread/goal/set", json!({"goal": goal("active", 100)})).await;
    assert_eq!(
        (set["objective"].clone(), set["status"].clone(), set["origin"].clone()),
        (json!("obj"), json!("active"), json!("user"))
    );
}

#[tokio::test]
async fn a_continuation_racing_the_turn_budget_is_interrupted() {
    let (conn, mut fake) = pair();
    let options = GoalOptions::default().max_turns(1);
    let server = tokio::spawn(async move {
        started(&mut fake).await;
        // A fast first turn whose continuation starts before the pause is processed: both
        // are on the wire ahead of the pause's response.
        fake.notify("turn/started", json!({"threadId": "th", "turn": turn("t1", "inProgress")})).await;
        fake.notify(
            "item/completed",
            json!({"threadId": "th", "turnId": "t1", "completedAtMs": 1,
            "item": {"type": "agentMessage", "id": "m1", "text": "one"}}),
        )
        .await;
        fake.notify("turn/completed", json!({"threadId": "th", "turn": turn("t1", "completed")})).await;
        fake.notify("turn/started", json!({"threadId": "th", "turn": turn("t2", "inProgress")})).await;
        let pause = fake.answer("thread/goal/set", json!({"goal": goal("paused", 101)})).await;
        assert_eq!(pause["status"], "paused");
        let interrupt = fake.answer("turn/interrupt", json!({})).await;
        assert_eq!(interrupt["turnId"], "t2");
        fake.notify("turn/completed", json!({"threadId": "th", "turn": turn("t2", "interrupted")})).await;
        fake
    });
    let handle = start(&conn, "th", "obj".into(), &options).await.unwrap();
    let result = tokio::time::timeout(Duration::from_secs(10), handle.run()).await.unwrap();
    let result = result.unwrap_or_else(|e| panic!("{e}"));
    let _fake = server.await.unwrap();
    let statuses: Vec<_> = result.turns.iter().map(|t| (t.id.as_str(), t.status.clone())).collect();
    assert_eq!(statuses, [("t1", TurnStatus::Completed), ("t2", TurnStatus::Interrupted)]);
    assert_eq!(result.status(), Some(&ThreadGoalStatus::Paused));
    assert_eq!(result.final_response(), Some("one"));
}

#[tokio::test]
async fn an_idle_active_goal_is_resynced_then_given_up() {
    let (conn, mut fake) = pair();
    let options = GoalOptions::default().idle_timeout(Duration::from_millis(200));
    let server = tokio::spawn(async move {
        started(&mut fake).await;
        fake.notify("turn/started", json!({"threadId": "th", "turn": turn("t1", "inProgress")})).await;
        fake.notify("turn/completed", json!({"threadId": "th", "turn": turn("t1", "completed")})).await;
        // No continuation: the follower re-reads the goal and the thread, then gives up.
        loop {
            let request = fake.recv().await;
            let result = match request["method"].as_str().unwrap() {
                "thread/goal/get" => json!({"goal": goal("active", 100)}),
                "thread/read" => thread(vec![turn("t1", "completed")]),
                other => panic!("unexpected {other}"),
            };
            fake.send(json!({"id": request["id"], "result": result})).await;
        }
    });
    let handle = start(&conn, "th", "obj".into(), &options).await.unwrap();
    let result = tokio::time::timeout(Duration::from_secs(10), handle.run()).await.unwrap().unwrap();
    server.abort();
    assert_eq!(result.turns.len(), 1);
    assert_eq!(result.status(), Some(&ThreadGoalStatus::Active), "gave up with the goal still active");
}

#[tokio::test]
async fn a_missed_turn_is_recovered_by_the_idle_resync() {
    let (conn, mut fake) = pair();
    let options = GoalOptions::default().idle_timeout(Duration::from_millis(300));
    let server = tokio::spawn(async move {
        started(&mut fake).await;
        // Nothing is announced; the server's record shows a finished turn and a complete goal.
        let request = fake.recv().await;
        assert_eq!(request["method"], "thread/goal/get");
        fake.send(json!({"id": request["id"], "result": {"goal": goal("complete", 102)}})).await;
        let read = fake.recv().await;
        assert_eq!(read["params"]["includeTurns"], true);
        let done = json!({"id": "t9", "status": "completed", "startedAt": 101,
            "items": [{"type": "agentMessage", "id": "m", "text": "recovered"}]});
        let old = json!({"id": "t0", "status": "completed", "startedAt": 50, "items": []});
        fake.send(json!({"id": read["id"], "result": thread(vec![old, done])})).await;
        fake
    });
    let handle = start(&conn, "th", "obj".into(), &options).await.unwrap();
    let result = tokio::time::timeout(Duration::from_secs(10), handle.run()).await.unwrap().unwrap();
    let _fake = server.await.unwrap();
    assert!(result.is_complete());
    assert_eq!(
        result.turns.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        ["t9"],
        "turns before the goal are not its"
    );
    assert_eq!(result.final_response(), Some("recovered"));
}
