//! `Invoker` against stand-ins for `cargo lambda watch`'s invoke API. The poller's
//! invocations survive a function instance that is busy for longer than TCP's usual patience:
//! cargo lambda watch leaves a queued invocation's body unread until the one instance is free,
//! and a connection cut mid-body kills that instance for good. A call gives `make events` the
//! function's whole answer, and a function error is a failed call, never an answer.

use std::time::Duration;

use local_stack::invoke::{InvokeError, Invoker};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Longer than reqwest's default TCP_USER_TIMEOUT (30 s).
const BUSY: Duration = Duration::from_secs(35);

/// Accepts one request, reads nothing for `BUSY` behind a small receive buffer (so the client's
/// writes stall on a closed window), then reads the whole request and answers with the length of
/// the body it received.
async fn busy_function() -> (String, tokio::task::JoinHandle<usize>) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let url = format!(
        "http://{}/2015-03-31/functions/sender/invocations",
        listener.local_addr().unwrap()
    );
    let server = tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        tokio::time::sleep(BUSY).await;
        let mut request = Vec::new();
        let mut buf = vec![0; 1 << 16];
        let body_len = loop {
            let n = conn.read(&mut buf).await.unwrap();
            assert!(n > 0, "the client closed the connection mid-request");
            request.extend_from_slice(&buf[..n]);
            if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map(|v| v.trim().parse().unwrap())
                    .unwrap();
                if request.len() >= end + 4 + length {
                    break length;
                }
            }
        };
        let answer = r#"{"batchItemFailures":[]}"#;
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
            answer.len()
        );
        conn.write_all(response.as_bytes()).await.unwrap();
        body_len
    });
    (url, server)
}

#[tokio::test]
async fn an_invocation_waits_for_a_busy_function_instead_of_cutting_its_event_short() {
    // Arrange: an event far larger than the socket buffers can hold, so most of it waits.
    let (url, server) = busy_function().await;
    let invoker = Invoker::new(url).unwrap();
    let body = "x".repeat(1 << 20);
    let records: Vec<_> = (0..16)
        .map(|i| json!({"messageId": format!("m{i}"), "body": body}))
        .collect();
    let event = json!({ "Records": records });
    let ids: Vec<String> = (0..16).map(|i| format!("m{i}")).collect();

    // Act
    let returned = invoker.invoke(&event, &ids).await;

    // Assert: the whole event arrived and nothing is returned to the queue.
    assert!(returned.is_empty(), "returned {} records", returned.len());
    assert_eq!(
        server.await.unwrap(),
        serde_json::to_vec(&event).unwrap().len()
    );
}

/// Accepts one request, reads it whole, and answers with `head` (status line and headers) and
/// `body`.
async fn function_answering(head: &'static str, body: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/2015-03-31/functions/send-sms/invocations",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = vec![0; 1 << 16];
        loop {
            let n = conn.read(&mut buf).await.unwrap();
            request.extend_from_slice(&buf[..n]);
            if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if n == 0 || request.len() >= end + 4 + length {
                    break;
                }
            }
            assert!(n > 0, "the client closed the connection mid-request");
        }
        let response = format!(
            "{head}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        conn.write_all(response.as_bytes()).await.unwrap();
    });
    url
}

#[tokio::test]
async fn a_call_returns_the_functions_whole_answer() {
    let answer = r#"{"statusCode":202,"body":"{}"}"#;
    let invoker = Invoker::new(function_answering("HTTP/1.1 200 OK", answer).await).unwrap();

    let got = invoker.call(&json!({"version": "2.0"})).await.unwrap();

    assert_eq!(got, answer);
}

#[tokio::test]
async fn a_function_error_is_a_failed_call_and_returns_every_record() {
    let error = r#"{"errorType":"Panic","errorMessage":"boom"}"#;
    let head = "HTTP/1.1 200 OK\r\nx-amz-function-error: Unhandled";
    let event = json!({"Records": [{"messageId": "m1"}, {"messageId": "m2"}]});
    let ids = vec!["m1".to_owned(), "m2".to_owned()];

    let called = Invoker::new(function_answering(head, error).await)
        .unwrap()
        .call(&event)
        .await;
    let returned = Invoker::new(function_answering(head, error).await)
        .unwrap()
        .invoke(&event, &ids)
        .await;

    match called {
        Err(InvokeError::Failed { status: 200, body }) => assert_eq!(body, error),
        other => panic!("want a failed call, got {other:?}"),
    }
    assert_eq!(returned, ids.into_iter().collect());
}
