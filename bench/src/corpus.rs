//! The decode bench's input: every server → client notification of the recorded
//! transcripts, repeated until there are enough, with thread and turn ids rewritten so that
//! each repetition's turns are new turns and its threads are spread over a few "lanes"
//! (long-lived threads that many turns run on).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::value::RawValue;
use serde_json::Value;

/// Where the transcripts are: `$CODEX_FIXTURES_DIR`, else `../shared/fixtures/codex-0.169.0`
/// beside the project root (as for the SDK's fixture tests).
pub fn transcripts_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CODEX_FIXTURES_DIR") {
        return dir.into();
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/codex-0.169.0")
}

/// Which subscriber a notification reaches first, by the SDK's routing keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Has a turn id (`params.turnId` or `params.turn.id`).
    Turn,
    /// Has a thread id but no turn id.
    Thread,
    /// Has neither.
    Unscoped,
}

/// One recorded transcript's notifications, as wire text.
#[derive(Debug, Clone)]
pub struct Transcript {
    lines: Vec<(String, Scope)>,
    thread_ids: BTreeSet<String>,
    turn_ids: BTreeSet<String>,
}

/// Every `*.jsonl` transcript of `dir`, in file name order.
pub fn load(dir: &Path) -> Result<Vec<Transcript>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read the transcripts at {}: {e} (set CODEX_FIXTURES_DIR)", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("no *.jsonl transcript in {}", dir.display()));
    }
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
            parse(&text).map_err(|e| format!("{}: {e}", f.display()))
        })
        .collect()
}

#[derive(serde::Deserialize)]
struct Entry<'a> {
    dir: String,
    #[serde(borrow)]
    msg: &'a RawValue,
}

/// The notifications (`<-` lines with a method and no id) of one transcript.
fn parse(text: &str) -> Result<Transcript, String> {
    let mut transcript = Transcript { lines: Vec::new(), thread_ids: BTreeSet::new(), turn_ids: BTreeSet::new() };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let entry: Entry<'_> = serde_json::from_str(line).map_err(|e| e.to_string())?;
        let msg: Value = serde_json::from_str(entry.msg.get()).map_err(|e| e.to_string())?;
        if entry.dir != "<-" || msg.get("method").is_none() || msg.get("id").is_some() {
            continue;
        }
        let params = msg.get("params").unwrap_or(&Value::Null);
        let key = |flat: &str, nested: &str| {
            params
                .get(flat)
                .or_else(|| params.get(nested).and_then(|n| n.get("id")))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let (thread, turn) = (key("threadId", "thread"), key("turnId", "turn"));
        let scope = match (&thread, &turn) {
            (_, Some(_)) => Scope::Turn,
            (Some(_), None) => Scope::Thread,
            (None, None) => Scope::Unscoped,
        };
        transcript.thread_ids.extend(thread);
        transcript.turn_ids.extend(turn);
        transcript.lines.push((entry.msg.get().to_owned(), scope));
    }
    Ok(transcript)
}

/// The amplified stream.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// Newline-terminated notifications, as the app-server writes them.
    pub data: Vec<u8>,
    /// Number of notifications.
    pub messages: usize,
    /// Notifications per [`Scope`]: turn, thread, unscoped.
    pub by_scope: [usize; 3],
    /// Every (rewritten) turn id, each once.
    pub turn_ids: Vec<String>,
    /// Every (rewritten) thread id, each once.
    pub thread_ids: Vec<String>,
}

impl Corpus {
    /// The lines, without their newlines.
    pub fn lines(&self) -> impl Iterator<Item = &[u8]> {
        self.data.split(|b| *b == b'\n').filter(|l| !l.is_empty())
    }
}

/// Repeats `transcripts` until at least `target` notifications. In repetition `r`, every
/// turn id `T` becomes `T-r` (a new turn) and every thread id `H` becomes `H-L(r mod lanes)`.
pub fn amplify(transcripts: &[Transcript], target: usize, lanes: usize) -> Corpus {
    let lanes = lanes.max(1);
    let per_round: usize = transcripts.iter().map(|t| t.lines.len()).sum();
    assert!(per_round > 0, "the transcripts hold no notification");
    let mut corpus =
        Corpus { data: Vec::new(), messages: 0, by_scope: [0; 3], turn_ids: Vec::new(), thread_ids: Vec::new() };
    let mut threads = BTreeSet::new();
    let mut round = 0;
    while corpus.messages < target {
        for t in transcripts {
            let mut renames: Vec<(String, String)> = Vec::new();
            for id in &t.turn_ids {
                let new = format!("{id}-{round}");
                corpus.turn_ids.push(new.clone());
                renames.push((format!("\"{id}\""), format!("\"{new}\"")));
            }
            for id in &t.thread_ids {
                let new = format!("{id}-L{}", round % lanes);
                threads.insert(new.clone());
                renames.push((format!("\"{id}\""), format!("\"{new}\"")));
            }
            for (line, scope) in &t.lines {
                let mut line = line.clone();
                for (from, to) in &renames {
                    if line.contains(from.as_str()) {
                        line = line.replace(from.as_str(), to);
                    }
                }
                corpus.data.extend_from_slice(line.as_bytes());
                corpus.data.push(b'\n');
                corpus.messages += 1;
                corpus.by_scope[*scope as usize] += 1;
            }
        }
        round += 1;
    }
    corpus.thread_ids = threads.into_iter().collect();
    corpus
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = concat!(
        r#"{"dir":"->","msg":{"id":1,"method":"turn/start","params":{"threadId":"th"}}}"#,
        "\n",
        r#"{"dir":"<-","msg":{"id":1,"result":{"turn":{"id":"tu"}}}}"#,
        "\n",
        r#"{"dir":"<-","msg":{"method":"turn/started","params":{"threadId":"th","turn":{"id":"tu"}}}}"#,
        "\n",
        r#"{"dir":"<-","msg":{"method":"thread/status/changed","params":{"threadId":"th"}}}"#,
        "\n",
        r#"{"dir":"<-","msg":{"id":"s","method":"item/commandExecution/requestApproval","params":{}}}"#,
        "\n",
        r#"{"dir":"<-","msg":{"method":"configWarning","params":{"summary":"th/x"}}}"#,
        "\n",
    );

    #[test]
    fn keeps_notifications_and_classifies_them() {
        let t = parse(SAMPLE).unwrap();
        let scopes: Vec<Scope> = t.lines.iter().map(|(_, s)| *s).collect();
        assert_eq!(scopes, [Scope::Turn, Scope::Thread, Scope::Unscoped]);
        assert_eq!(t.thread_ids.iter().collect::<Vec<_>>(), ["th"]);
        assert_eq!(t.turn_ids.iter().collect::<Vec<_>>(), ["tu"]);
    }

    #[test]
    fn repetitions_get_new_turns_and_lane_threads() {
        let t = parse(SAMPLE).unwrap();
        let c = amplify(&[t], 7, 2);
        assert_eq!(c.messages, 9);
        assert_eq!(c.by_scope, [3, 3, 3]);
        assert_eq!(c.turn_ids, ["tu-0", "tu-1", "tu-2"]);
        assert_eq!(c.thread_ids, ["th-L0", "th-L1"]);
        let lines: Vec<String> = c.lines().map(|l| String::from_utf8_lossy(l).into_owned()).collect();
        assert_eq!(lines.len(), 9);
        assert!(lines[3].contains(r#""threadId":"th-L1","turn":{"id":"tu-1"}"#), "{}", lines[3]);
        assert!(lines[7].contains(r#""threadId":"th-L0""#), "{}", lines[7]);
        // Only whole quoted ids are rewritten, not text that merely contains one.
        assert!(lines[8].contains(r#""summary":"th/x""#), "{}", lines[8]);
    }

    #[test]
    fn the_recorded_transcripts_load() {
        let transcripts = load(&transcripts_dir()).unwrap();
        let c = amplify(&transcripts, 1, 4);
        assert!(c.messages > 100 && !c.turn_ids.is_empty() && !c.thread_ids.is_empty());
        assert_eq!(c.by_scope.iter().sum::<usize>(), c.messages);
    }
}
