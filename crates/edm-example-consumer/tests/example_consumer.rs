//! The example consumer as a user runs it: the real binary against the real
//! broker, in its own prefixed consumer group. It shows every event (the
//! original store's, written as the original relay wrote them; extended
//! ones with unknown fields; events produced while it runs), skips what is
//! not an event, and after a restart carries on where it stopped instead of
//! starting over.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use edm_config::Topic;
use edm_testkit::infra::kafka_url;
use edm_testkit::kafka::{RawProducer, TestTopics};
use serde_json::json;

/// The binary running with its log lines (stderr) collected.
struct Running {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(prefix: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_edm-example-consumer"))
            .env_clear()
            .env("KAFKA_URL", kafka_url())
            .env("KAFKA_PREFIX", prefix)
            .env("EDM_EXAMPLE_SUMMARY_SECS", "1")
            .stderr(Stdio::piped())
            .spawn()
            .expect("the example consumer starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits until a line contains `text`; returns it.
    fn wait_for(&mut self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        if let Some(line) = self.seen.iter().find(|l| l.contains(text)) {
            return line.clone();
        }
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => break,
            }
        }
        panic!(
            "no line with {text:?} within 30 s; it printed:\n{}",
            self.seen.join("\n")
        );
    }

    /// SIGTERM, as Heroku stops a dyno; waits for a clean exit.
    fn stop(mut self) -> Vec<String> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "exits cleanly on SIGTERM: {exit}");
        let rest: Vec<String> = self.lines.try_iter().collect();
        self.seen.extend(rest);
        std::mem::take(&mut self.seen)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shows_every_event_in_its_own_group_and_resumes_after_a_restart() {
    let topics = TestTopics::create().await;
    let producer = RawProducer::new(&topics.settings);
    let clicks = topics.name(Topic::Click);
    let loads = topics.name(Topic::PageLoad);

    // Before it starts: the original store's events, a newer producer's
    // events with fields no reader knows, and something that is not an event.
    let reference_click = r#"{"topic":"edm-ui-click","uuid":"0f8fad5b-d9cb-469f-a165-70867728950e","event_timestamp":1763800000000,"properties":{"button_id":"the-camper's-kit","description":"button click"}}"#;
    let reference_load = r#"{"topic":"edm-ui-pageload","uuid":"0f8fad5b-d9cb-469f-a165-70867728950e","event_timestamp":1763800000000,"properties":{"user_agent":"Mozilla/5.0 (X11; Linux x86_64)","description":"fix coffee page page loaded","url":"https://edm-ui.herokuapp.com"}}"#;
    let extended_click =
        json!({"topic":"edm-ui-click","uuid":"v2","event_timestamp":1_763_800_000_001_i64,
        "schema_version": 2, "properties":{"button_id":"the-camper's-kit","color":"blue"}})
        .to_string();
    let extended_load = json!({"topic":"edm-ui-pageload","uuid":"v2","event_timestamp":1_763_800_000_001_i64,
        "locale":"de-DE", "properties":{"user_agent":"Mozilla/5.0","url":"http://localhost:3000","viewport":{"w":390}}})
    .to_string();
    // The original store's events as the original relay wrote them: the
    // JSON alone, no key, no headers.
    producer
        .send_unkeyed(&clicks, reference_click.as_bytes())
        .await;
    producer
        .send(&clicks, "v2", extended_click.as_bytes(), None)
        .await;
    producer
        .send_unkeyed(&loads, reference_load.as_bytes())
        .await;
    producer
        .send(&loads, "v2", extended_load.as_bytes(), None)
        .await;
    producer.send(&clicks, "v3", b"{not json", None).await;

    let mut running = Running::start(&topics.prefix);
    let joined = running.wait_for("consuming");
    assert!(
        joined.contains(&format!("group=\"{}edm-example-consumer\"", topics.prefix)),
        "its own prefixed group: {joined}"
    );
    // The unkeyed click may be on another partition than v2's: either may
    // be read first, so each one's running count is 1 or 2.
    running.wait_for(r#"click button="the-camper's-kit" visitor="v2""#);
    running.wait_for(
        r#"click button="the-camper's-kit" visitor="0f8fad5b-d9cb-469f-a165-70867728950e""#,
    );
    running.wait_for(r#"page load visitor="v2""#);
    running.wait_for("skipping a message that is not a valid event");
    running
        .wait_for("summary: 2 clicks, 2 page loads, 1 skipped; most clicked: the-camper's-kit (2)");

    // While it runs.
    for (visitor, button) in [
        ("v4", "areopress-coffee-maker"),
        ("v5", "areopress-coffee-maker"),
        ("v4", "msr-reactor-2.5l-stove-system"),
    ] {
        let event =
            json!({"topic":"edm-ui-click","uuid":visitor,"event_timestamp":1_763_800_000_002_i64,
            "properties":{"button_id":button,"description":"button click"}})
            .to_string();
        producer
            .send(&clicks, visitor, event.as_bytes(), None)
            .await;
    }
    // v4's and v5's clicks may be on different partitions: read in any order.
    running.wait_for(r#"click button="areopress-coffee-maker" visitor="v5""#);
    running.wait_for(
        "summary: 5 clicks, 2 page loads, 1 skipped; most clicked: areopress-coffee-maker (2), the-camper's-kit (2), msr-reactor-2.5l-stove-system (1)",
    );
    let lines = running.stop();
    println!("{}", lines.join("\n"));
    assert!(
        lines
            .iter()
            .any(|l| l.contains("stopping; final summary: 5 clicks")),
        "a final summary on SIGTERM"
    );

    // Restarted, it continues from its group's committed offsets.
    producer
        .send(&clicks, "v6", reference_click.as_bytes(), None)
        .await;
    let mut again = Running::start(&topics.prefix);
    again.wait_for(
        r#"click button="the-camper's-kit" visitor="0f8fad5b-d9cb-469f-a165-70867728950e" count=1"#,
    );
    again.wait_for("summary: 1 clicks, 0 page loads, 0 skipped");
    again.stop();
}
