//! Long executions that survive proxies, retries and disconnects: SSE, async executions, long
//! polls, cancel, idempotency keys, and the compat API's heartbeats and attach-on-re-send,
//! through HAProxy with the ALB's 60 s idle timeout where it matters.

mod common;

use common::haproxy::Haproxy;
use common::Server;
use reqwest::blocking::Client;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

/// One Server-Sent Event (or a comment line, as `event == ":"`).
#[derive(Debug, Clone)]
struct Sse {
    event: String,
    id: Option<usize>,
    data: Value,
    at: Duration,
}

/// Reads events from an SSE response until `stop` says so (or the stream ends).
fn read_sse(
    resp: reqwest::blocking::Response,
    t0: Instant,
    mut stop: impl FnMut(&Sse) -> bool,
) -> Vec<Sse> {
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut out = vec![];
    let (mut event, mut id, mut data) = (String::new(), None, String::new());
    for line in BufReader::new(resp).lines() {
        let Ok(line) = line else { break };
        if let Some(c) = line.strip_prefix(':') {
            let ev = Sse {
                event: ":".into(),
                id: None,
                data: json!(c),
                at: t0.elapsed(),
            };
            let done = stop(&ev);
            out.push(ev);
            if done {
                break;
            }
        } else if let Some(v) = line.strip_prefix("event:") {
            event = v.trim().into();
        } else if let Some(v) = line.strip_prefix("id:") {
            id = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.trim_start());
        } else if line.is_empty() && !event.is_empty() {
            let ev = Sse {
                event: std::mem::take(&mut event),
                id: id.take(),
                data: serde_json::from_str(&std::mem::take(&mut data)).unwrap(),
                at: t0.elapsed(),
            };
            let done = stop(&ev);
            out.push(ev);
            if done {
                break;
            }
        }
    }
    out
}

fn sse_post(base: &str, sid: &str, body: Value) -> reqwest::blocking::Response {
    Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap()
        .post(format!("{base}/v1/sessions/{sid}/executions"))
        .header("accept", "text/event-stream")
        .json(&body)
        .send()
        .unwrap()
}

fn stdout_of(events: &[Sse]) -> String {
    events
        .iter()
        .filter(|e| e.event == "stdout")
        .map(|e| e.data["data"].as_str().unwrap())
        .collect()
}

#[test]
fn a_silent_75s_compat_execution_outlives_a_60s_proxy_and_runs_once() {
    let s = Server::start();
    let lb = Haproxy::start(&[&s.base], 60);
    let t0 = Instant::now();
    let r = Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap()
        .post(format!("{}/execute", lb.base))
        .json(&json!({"code": "import time\nopen('runs.txt', 'a').write('x')\ntime.sleep(75)\nprint('done')"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().unwrap();
    assert!(t0.elapsed() >= Duration::from_secs(75));
    assert!(text.starts_with(' '), "heartbeat spaces before the JSON");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["status"], "completed", "{v}");
    assert_eq!(v["stdout"], "done\n");
    assert_eq!(v["execution_num"], 1);
    let runs = s.post_json(
        "/execute",
        &json!({"code": "print(open('runs.txt').read())"}),
    );
    assert_eq!(
        runs.json::<Value>().unwrap()["stdout"],
        "x\n",
        "ran exactly once"
    );
}

#[test]
fn v1_sse_streams_for_75s_through_a_60s_proxy() {
    let s = Server::start();
    let lb = Haproxy::start(&[&s.base], 60);
    let sid = s.create_session();
    let t0 = Instant::now();
    let events = read_sse(
        sse_post(
            &lb.base,
            &sid,
            json!({"code": "import time\nprint('start', flush=True)\ntime.sleep(75)\nprint('end')"}),
        ),
        t0,
        |e| e.event == "result",
    );
    let first = events.iter().find(|e| e.event == "stdout").unwrap();
    assert!(
        first.at < Duration::from_secs(10),
        "first output at {:?}",
        first.at
    );
    assert!(
        events.iter().filter(|e| e.event == ":").count() >= 4,
        "keepalives: {events:?}"
    );
    assert!(events
        .iter()
        .any(|e| e.event == ":" && e.data.as_str().map(str::trim) == Some("keepalive")));
    let last = events.last().unwrap();
    assert_eq!(last.event, "result");
    assert_eq!(last.data["status"], "ok");
    assert_eq!(last.data["stdout"], "start\nend\n");
    assert_eq!(stdout_of(&events), "start\nend\n");
}

#[test]
fn output_streams_while_the_code_runs_and_resumes_without_loss() {
    let s = Server::start_with(&["--heartbeat-s", "1"], &[]);
    let sid = s.create_session();
    let t0 = Instant::now();
    let events = read_sse(
        sse_post(
            &s.base,
            &sid,
            json!({"code": "import time\nprint('early')\ntime.sleep(5)\nprint('late')"}),
        ),
        t0,
        |e| e.event == "result",
    );
    let early = events.iter().find(|e| e.event == "stdout").unwrap();
    assert_eq!(early.data["data"], "early\n");
    assert!(early.at < Duration::from_secs(3), "{:?}", early.at);
    let result = events.last().unwrap();
    assert!(result.at >= Duration::from_secs(5));
    assert_eq!(result.data["stdout"], "early\nlate\n");
    let ids: Vec<usize> = events.iter().filter_map(|e| e.id).collect();
    assert_eq!(
        ids,
        (0..ids.len()).collect::<Vec<_>>(),
        "numbered from 0, in order"
    );
    // Hangul split across pipe reads stays whole.
    let v = s.exec(&sid, "print('가' * 50000)");
    assert_eq!(v["status"], "ok");

    // A reader that leaves after some events resumes with Last-Event-ID: nothing lost or twice.
    let r: Value = s
        .post_json(
            &format!("/v1/sessions/{sid}/executions"),
            &json!({"code": "import time\nfor i in range(40):\n    print(i, flush=True)\n    time.sleep(0.05)", "wait": false}),
        )
        .json()
        .unwrap();
    let eid = r["id"].as_str().unwrap().to_string();
    assert_eq!(r["status"], "running");
    let follow = |after: Option<usize>| {
        let mut req = Client::new()
            .get(s.url(&format!("/v1/sessions/{sid}/executions/{eid}/events")))
            .header("accept", "text/event-stream");
        if let Some(a) = after {
            req = req.header("last-event-id", a.to_string());
        }
        req.send().unwrap()
    };
    let mut seen = 0;
    let first = read_sse(follow(None), Instant::now(), |e| {
        if e.event == "stdout" {
            seen += 1;
        }
        seen == 10
    });
    let last_id = first.iter().filter_map(|e| e.id).next_back().unwrap();
    let rest = read_sse(follow(Some(last_id)), Instant::now(), |e| {
        e.event == "result"
    });
    let all: Vec<&Sse> = first
        .iter()
        .chain(rest.iter())
        .filter(|e| e.id.is_some())
        .collect();
    let ids: Vec<usize> = all.iter().map(|e| e.id.unwrap()).collect();
    assert_eq!(
        ids,
        (0..ids.len()).collect::<Vec<_>>(),
        "no gap, no duplicate"
    );
    let text: String = all
        .iter()
        .filter(|e| e.event == "stdout")
        .map(|e| e.data["data"].as_str().unwrap())
        .collect();
    let want: String = (0..40).map(|i| format!("{i}\n")).collect();
    assert_eq!(text, want);
    // and a finished one replays the same journal
    let replay = read_sse(follow(None), Instant::now(), |e| e.event == "result");
    assert_eq!(replay.len(), ids.len());
    let r = Client::new()
        .get(s.url(&format!("/v1/sessions/{sid}/executions/{eid}/events")))
        .header("accept", "text/event-stream")
        .header("last-event-id", "nope")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[test]
fn async_executions_long_polls_and_cancel() {
    let s = Server::start();
    let sid = s.create_session();
    s.run_ok(&sid, "kept = 42");
    let r = s.post_json(
        &format!("/v1/sessions/{sid}/executions"),
        &json!({"code": "import time\ntime.sleep(1.5)\nprint('slept')", "wait": false}),
    );
    assert_eq!(r.status(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let v: Value = r.json().unwrap();
    assert_eq!(v["status"], "running");
    assert_eq!(
        location,
        format!(
            "/v1/sessions/{sid}/executions/{}",
            v["id"].as_str().unwrap()
        )
    );
    let now: Value = s.get_json(&location);
    assert_eq!(now["status"], "running");
    let done: Value = s.get_json(&format!("{location}?wait_s=30"));
    assert_eq!(done["status"], "ok");
    assert_eq!(done["stdout"], "slept\n");
    assert_eq!(s.get(&format!("{location}?wait_s=-1")).status(), 400);
    // the session is busy while an async execution runs
    let r = s.post_json(
        &format!("/v1/sessions/{sid}/executions"),
        &json!({"code": "import time\ntime.sleep(60)", "wait": false}),
    );
    let eid = r.json::<Value>().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let busy = s.post_json(
        &format!("/v1/sessions/{sid}/executions"),
        &json!({"code": "1"}),
    );
    assert_eq!(busy.status(), 409);
    let t0 = Instant::now();
    let c = s.post_json(
        &format!("/v1/sessions/{sid}/executions/{eid}/cancel"),
        &json!({}),
    );
    assert_eq!(c.status(), 200);
    let c: Value = c.json().unwrap();
    assert_eq!(c["status"], "cancelled", "{c}");
    assert!(t0.elapsed() < Duration::from_secs(10));
    // the code honoured the interrupt: the session kept its state
    assert_eq!(s.run_ok(&sid, "print(kept)"), "42\n");
    // cancelling a finished one answers it as it is
    let again: Value = s
        .post_json(
            &format!("/v1/sessions/{sid}/executions/{eid}/cancel"),
            &json!({}),
        )
        .json()
        .unwrap();
    assert_eq!(again["status"], "cancelled");
    let none = s.post_json(
        &format!("/v1/sessions/{sid}/executions/nope/cancel"),
        &json!({}),
    );
    assert_eq!(none.status(), 404);
}

#[test]
fn an_idempotency_key_never_runs_the_code_twice() {
    let s = Server::start();
    let sid = s.create_session();
    let url = s.url(&format!("/v1/sessions/{sid}/executions"));
    let body = json!({"code": "import time\nopen('count.txt','a').write('x')\ntime.sleep(2)\nprint(open('count.txt').read())"});
    // the client's connection dies while the code runs
    let impatient = Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    assert!(impatient
        .post(&url)
        .header("idempotency-key", "step-7")
        .json(&body)
        .send()
        .is_err());
    // its retry attaches to the running execution
    let retry: Value = Client::new()
        .post(&url)
        .header("idempotency-key", "step-7")
        .json(&body)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(retry["status"], "ok");
    assert_eq!(retry["stdout"], "x\n", "ran once");
    // after the end: the stored result, same id
    let again: Value = Client::new()
        .post(&url)
        .header("idempotency-key", "step-7")
        .json(&body)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(again["id"], retry["id"]);
    // and as a stream: the journal replayed
    let events = read_sse(
        Client::new()
            .post(&url)
            .header("idempotency-key", "step-7")
            .header("accept", "text/event-stream")
            .json(&body)
            .send()
            .unwrap(),
        Instant::now(),
        |e| e.event == "result",
    );
    assert_eq!(events.last().unwrap().data["id"], retry["id"]);
    // the same key with another body
    let r = Client::new()
        .post(&url)
        .header("idempotency-key", "step-7")
        .json(&json!({"code": "print(2)"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(
        r.json::<Value>().unwrap()["error"]["code"],
        "idempotency_key_reused"
    );
    assert_eq!(s.run_ok(&sid, "print(open('count.txt').read())"), "x\n");
}

#[test]
fn thirty_two_concurrent_streams_without_an_error() {
    let s = Server::start_with(&["--warm-workers", "4"], &[]);
    let sids: Vec<String> = (0..32).map(|_| s.create_session()).collect();
    let handles: Vec<_> = sids
        .into_iter()
        .map(|sid| {
            let base = s.base.clone();
            std::thread::spawn(move || {
                let events = read_sse(
                    sse_post(&base, &sid, json!({"code": "import time\nfor i in range(5):\n    print(i, flush=True)\n    time.sleep(0.2)"})),
                    Instant::now(),
                    |e| e.event == "result",
                );
                let last = events.last().unwrap();
                assert_eq!(last.data["status"], "ok", "{sid}: {:?}", last.data);
                assert_eq!(stdout_of(&events), "0\n1\n2\n3\n4\n");
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a stream failed");
    }
}

#[test]
fn compat_re_sends_attach_instead_of_running_again() {
    let s = Server::start();
    let code = "import time\nopen('n.txt','a').write('x')\ntime.sleep(2)\nprint(len(open('n.txt').read()))";
    let impatient = Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    // 1. a re-send while the first is still running attaches to it
    assert!(impatient
        .post(s.url("/execute"))
        .json(&json!({ "code": code }))
        .send()
        .is_err());
    let v: Value = s
        .post_json("/execute", &json!({ "code": code }))
        .json()
        .unwrap();
    assert_eq!(v["stdout"], "1\n");
    assert_eq!(v["execution_num"], 1);
    // 2. a result whose client was gone before it was written is given to the re-send
    assert!(impatient
        .post(s.url("/execute"))
        .json(&json!({ "code": code }))
        .send()
        .is_err());
    std::thread::sleep(Duration::from_secs(3)); // it finished with nobody to take it
    let t0 = Instant::now();
    let v: Value = s
        .post_json("/execute", &json!({ "code": code }))
        .json()
        .unwrap();
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "answered from the stored result"
    );
    assert_eq!(v["stdout"], "2\n");
    assert_eq!(v["execution_num"], 2);
    // 3. once delivered, the same code runs again (agents do re-run identical cells)
    let v: Value = s
        .post_json("/execute", &json!({ "code": code }))
        .json()
        .unwrap();
    assert_eq!(v["stdout"], "3\n");
    assert_eq!(v["execution_num"], 3);
}
