//! API Gateway's mapping templates rendered by airspeed (tests/vtl/render.py),
//! and DynamoDB called the way API Gateway's AWS integration calls it.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::moto::{tools_bin, Moto};

/// One python process renders every case, a JSON line each.
pub struct Renderer {
    child: std::process::Child,
    out: BufReader<std::process::ChildStdout>,
}

impl Renderer {
    pub fn start() -> Renderer {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../beekeeper-aws/tests/vtl/render.py");
        let mut child = Command::new(tools_bin().join("python"))
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        Renderer { child, out }
    }

    /// Renders `template` for a request with `params` (path, querystring,
    /// header), an integration answer `body`, at `now_ms`.
    pub fn render(
        &mut self,
        template: &str,
        params: Value,
        body: Option<&str>,
        now_ms: u64,
        stage_variables: &Value,
    ) -> String {
        self.render_status(template, params, body, now_ms, stage_variables)
            .0
    }

    /// [`Renderer::render`], with the status the template set
    /// (`$context.responseOverride.status`), if it set one.
    pub fn render_status(
        &mut self,
        template: &str,
        params: Value,
        body: Option<&str>,
        now_ms: u64,
        stage_variables: &Value,
    ) -> (String, Option<u16>) {
        let req = json!({
            "template": template,
            "params": params,
            "body": body,
            "requestTimeEpoch": now_ms,
            "stageVariables": stage_variables,
        });
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{req}").unwrap();
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        let answer: Value = serde_json::from_str(&line).unwrap();
        match answer.get("out") {
            Some(out) => (
                out.as_str().unwrap().to_string(),
                answer["status"].as_u64().map(|s| s as u16),
            ),
            None => panic!("template failed: {answer} for {params}"),
        }
    }
}

impl Drop for Renderer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends a rendered request body to DynamoDB exactly as API Gateway's AWS
/// integration would (the integration's `action`, the body untouched):
/// the HTTP status and the body of the answer.
pub async fn dynamodb_in(moto: &Moto, region: &str, action: &str, body: &str) -> (u16, String) {
    let resp = reqwest::Client::new()
        .post(&moto.url)
        .header("x-amz-target", format!("DynamoDB_20120810.{action}"))
        .header("content-type", "application/x-amz-json-1.0")
        .header(
            "authorization",
            format!("AWS4-HMAC-SHA256 Credential=test/20261122/{region}/dynamodb/aws4_request, SignedHeaders=host, Signature=0"),
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}
