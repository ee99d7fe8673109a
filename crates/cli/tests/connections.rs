//! What bounds a connection: idle and slow clients are closed, a trickled
//! body is refused, past the connection cap a new client gets a clear 503,
//! and SIGTERM lets the requests in flight finish before the server exits 0.
//! The real binary, on both databases, over raw TCP so that nothing in a
//! client library hides what the server does.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Reads until the server closes the connection or `within` passes; what it sent.
fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Option<String> {
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return Some(String::from_utf8_lossy(&got).into_owned()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some(String::from_utf8_lossy(&got).into_owned());
            }
            Err(_) => {}
        }
    }
    None
}

fn connect(server: &Server) -> TcpStream {
    TcpStream::connect(server.addr).unwrap()
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
const HEALTHZ_CLOSE: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_connections_are_closed() {
    for db in databases().await {
        let receiver = Receiver::start().await;
        let server = Server::start_with(
            &db,
            &two_level_config(&receiver, "1h"),
            &["--header-timeout", "1s", "--body-timeout", "1s"],
        );

        // A connection that never sends anything.
        let mut idle = connect(&server);
        let closed = read_until_closed(&mut idle, Duration::from_secs(10));
        assert_eq!(closed.as_deref(), Some(""), "an idle connection is closed");

        // Headers that never end.
        let mut slow = connect(&server);
        slow.write_all(b"POST /v2/enqueue HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        assert!(
            read_until_closed(&mut slow, Duration::from_secs(10)).is_some(),
            "incomplete headers are not waited on for ever"
        );

        // A kept-alive connection, idle after its answer.
        let mut kept = connect(&server);
        kept.write_all(HEALTHZ).unwrap();
        let answer = read_until_closed(&mut kept, Duration::from_secs(10)).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

        // A body that trickles: refused with 408 once the body timeout passes.
        let mut trickle = connect(&server);
        trickle
            .write_all(
                b"POST /v2/enqueue HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n{\"routing_key\":",
            )
            .unwrap();
        let answer = read_until_closed(&mut trickle, Duration::from_secs(10))
            .expect("a trickled body is answered");
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("body_timeout"), "{answer}");

        // The server still answers.
        let mut fresh = connect(&server);
        fresh.write_all(HEALTHZ).unwrap();
        let answer = read_until_closed(&mut fresh, Duration::from_secs(10)).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_cap_a_new_client_gets_a_clear_503() {
    for db in databases().await {
        let receiver = Receiver::start().await;
        let server = Server::start_with(
            &db,
            &two_level_config(&receiver, "1h"),
            &["--max-connections", "20", "--header-timeout", "30s"],
        );
        // Twenty connections that say nothing hold every slot.
        let held: Vec<TcpStream> = (0..20).map(|_| connect(&server)).collect();
        let mut over = eventually(Duration::from_secs(10), "a connection over the cap", || {
            let server = &server;
            async move {
                let mut s = connect(server);
                s.write_all(HEALTHZ_CLOSE).unwrap();
                let answer = read_until_closed(&mut s, Duration::from_secs(5))?;
                answer.starts_with("HTTP/1.1 503").then_some(answer)
            }
        })
        .await;
        assert!(over.contains("too_many_connections"), "{over}");
        assert!(
            over.to_ascii_lowercase().contains("retry-after: 1"),
            "{over}"
        );

        // Slots come back when their connections close.
        drop(held);
        over = eventually(
            Duration::from_secs(10),
            "healthz once slots are free",
            || {
                let server = &server;
                async move {
                    let mut s = connect(server);
                    s.write_all(HEALTHZ_CLOSE).unwrap();
                    let answer = read_until_closed(&mut s, Duration::from_secs(5))?;
                    answer.starts_with("HTTP/1.1 200").then_some(answer)
                }
            },
        )
        .await;
        assert!(over.contains("ok"), "{over}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_requests_in_flight_finish_and_exits_zero() {
    for db in databases().await {
        let receiver = Receiver::start().await;
        let mut server = Server::start(&db, &two_level_config(&receiver, "1h"));
        let body = format!(
            r#"{{"routing_key":"{KEY}","event_action":"trigger","dedup_key":"in-flight","payload":{{"summary":"Sent across a shutdown","source":"db-1","severity":"critical"}}}}"#
        );
        let (head, tail) = body.split_at(40);
        let tail = tail.to_owned();
        let mut in_flight = connect(&server);
        write!(
            in_flight,
            "POST /v2/enqueue HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{head}",
            body.len()
        )
        .unwrap();
        // Let the server read the headers before it is told to stop.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let addr = server.addr;
        let finisher = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            in_flight.write_all(tail.as_bytes()).unwrap();
            read_until_closed(&mut in_flight, Duration::from_secs(10))
        });
        let status = server.terminate(Duration::from_secs(20));
        let answer = finisher
            .join()
            .unwrap()
            .expect("the request in flight was answered");
        assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
        assert!(status.success(), "exit status {status:?}");
        assert!(
            TcpStream::connect(addr).is_err(),
            "nothing listens after shutdown"
        );

        // What was accepted is there after a restart.
        server.restart();
        let token = token(&db, "viewer");
        let (status, list) = server.get("/api/v1/incidents", &token).await;
        assert_eq!(status, 200);
        let titles: Vec<&str> = list["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|i| i["title"].as_str())
            .collect();
        assert_eq!(titles, vec!["Sent across a shutdown"]);
    }
}
