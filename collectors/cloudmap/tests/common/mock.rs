//! A tiny in-process AWS JSON 1.1 server: each request's `X-Amz-Target`
//! operation and JSON body go to a handler, whose status and JSON body are
//! sent back. Used where moto cannot help: paging of the calls it does not
//! page, and access denied.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A handler's answer: HTTP status and JSON body.
pub type Reply = (u16, Value);

pub struct MockAws {
    pub url: String,
    /// Every (operation, request body) received, in order.
    pub calls: Arc<Mutex<Vec<(String, Value)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockAws {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An AWS JSON error body, as Cloud Map sends it.
pub fn error(status: u16, code: &str, message: &str) -> Reply {
    (
        status,
        serde_json::json!({"__type": code, "message": message}),
    )
}

impl MockAws {
    pub async fn start(handler: impl Fn(&str, &Value) -> Reply + Send + Sync + 'static) -> MockAws {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a local port");
        let url = format!("http://{}", listener.local_addr().expect("a local address"));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let handler = Arc::new(handler);
        let seen = calls.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (handler, seen) = (handler.clone(), seen.clone());
                tokio::spawn(async move {
                    let _ = serve(stream, &*handler, &seen).await;
                });
            }
        });
        MockAws { url, calls, task }
    }

    /// The operations called, in order.
    pub fn operations(&self) -> Vec<String> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .map(|(op, _)| op.clone())
            .collect()
    }
}

/// Serves the requests of one connection until the client closes it.
async fn serve(
    mut stream: TcpStream,
    handler: &(dyn Fn(&str, &Value) -> Reply + Send + Sync),
    seen: &Mutex<Vec<(String, Value)>>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    loop {
        let Some((head_len, target, body_len)) = parse_head(&buf) else {
            let mut chunk = [0u8; 8192];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
            continue;
        };
        while buf.len() < head_len + body_len {
            let mut chunk = [0u8; 8192];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body: Value =
            serde_json::from_slice(&buf[head_len..head_len + body_len]).unwrap_or(Value::Null);
        buf.drain(..head_len + body_len);
        let operation = target.rsplit('.').next().unwrap_or_default().to_owned();
        seen.lock().unwrap().push((operation.clone(), body.clone()));
        let (status, reply) = handler(&operation, &body);
        let reply = reply.to_string();
        let code = reply_code(status, &reply);
        let head = format!(
            "HTTP/1.1 {status} {}\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\n{code}x-amzn-requestid: mock\r\n\r\n",
            if status < 400 { "OK" } else { "Error" },
            reply.len()
        );
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(reply.as_bytes()).await?;
    }
}

/// The `x-amzn-errortype` header an error reply carries.
fn reply_code(status: u16, reply: &str) -> String {
    if status < 400 {
        return String::new();
    }
    let code = serde_json::from_str::<Value>(reply)
        .ok()
        .and_then(|v| v["__type"].as_str().map(str::to_owned))
        .unwrap_or_default();
    format!("x-amzn-errortype: {code}\r\n")
}

/// (header length, X-Amz-Target, content length) once the head is complete.
fn parse_head(buf: &[u8]) -> Option<(usize, String, usize)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let mut target = String::new();
    let mut len = 0;
    for line in head.lines().skip(1) {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        match k.trim().to_ascii_lowercase().as_str() {
            "x-amz-target" => target = v.trim().to_owned(),
            "content-length" => len = v.trim().parse().unwrap_or(0),
            _ => {}
        }
    }
    Some((end, target, len))
}
