//! A small QMP client (QEMU Machine Protocol: JSON lines over a Unix socket): enough
//! to quit a VM cleanly and to run snapshot commands.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use crate::platform::PlatformError;

pub struct Qmp {
    reader: BufReader<tokio::net::unix::OwnedReadHalf>,
    writer: tokio::net::unix::OwnedWriteHalf,
}

impl Qmp {
    /// Connect, read the greeting and leave negotiation mode.
    pub async fn connect(socket: &Path, timeout: Duration) -> Result<Qmp, PlatformError> {
        let ctx = format!("QMP {}", socket.display());
        let stream = tokio::time::timeout(timeout, UnixStream::connect(socket))
            .await
            .map_err(|_| PlatformError::Timeout {
                what: format!("{ctx} connect"),
                after: timeout,
            })?
            .map_err(PlatformError::io(ctx.clone()))?;
        let (r, w) = stream.into_split();
        let mut q = Qmp {
            reader: BufReader::new(r),
            writer: w,
        };
        let greeting = q.read_message(timeout).await?;
        if greeting.get("QMP").is_none() {
            return Err(PlatformError::Failed(format!(
                "{ctx}: unexpected greeting {greeting}"
            )));
        }
        q.execute("qmp_capabilities", None, timeout).await?;
        Ok(q)
    }

    async fn read_message(&mut self, timeout: Duration) -> Result<Value, PlatformError> {
        let mut line = String::new();
        let n = tokio::time::timeout(timeout, self.reader.read_line(&mut line))
            .await
            .map_err(|_| PlatformError::Timeout {
                what: "QMP reply".into(),
                after: timeout,
            })?
            .map_err(PlatformError::io("reading QMP"))?;
        if n == 0 {
            return Err(PlatformError::Failed("QMP connection closed".into()));
        }
        serde_json::from_str(&line)
            .map_err(|e| PlatformError::Failed(format!("QMP sent invalid JSON ({e}): {line}")))
    }

    /// Run a command and return its `return` value (events in between are skipped).
    pub async fn execute(
        &mut self,
        command: &str,
        arguments: Option<Value>,
        timeout: Duration,
    ) -> Result<Value, PlatformError> {
        let mut msg = json!({ "execute": command });
        if let Some(a) = arguments {
            msg["arguments"] = a;
        }
        let mut text = msg.to_string();
        text.push('\n');
        self.writer
            .write_all(text.as_bytes())
            .await
            .map_err(PlatformError::io(format!("sending QMP {command}")))?;
        loop {
            let reply = self.read_message(timeout).await?;
            if let Some(r) = reply.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = reply.get("error") {
                return Err(PlatformError::Failed(format!(
                    "QMP {command}: {}",
                    e["desc"].as_str().unwrap_or("error")
                )));
            }
            // {"event": ...}: not ours.
        }
    }

    /// A human monitor command (savevm/loadvm have no QMP equivalent in QEMU 7.2
    /// outside of the experimental snapshot jobs); returns its text output.
    pub async fn hmp(
        &mut self,
        command_line: &str,
        timeout: Duration,
    ) -> Result<String, PlatformError> {
        let out = self
            .execute(
                "human-monitor-command",
                Some(json!({ "command-line": command_line })),
                timeout,
            )
            .await?;
        Ok(out.as_str().unwrap_or("").to_string())
    }
}
