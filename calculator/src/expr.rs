//! Infix expressions: shunting-yard parsing and local evaluation.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError(pub String);

impl std::fmt::Display for ExprError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ExprError {}

/// Evaluate without the sub-services (the harness's expected answers).
pub fn evaluate_local(_expr: &str) -> Result<f64, ExprError> {
    Err(ExprError("not implemented".into()))
}

/// The calculator's response body for a result: `result = 4\r\n`.
pub fn response_body(value: f64) -> String {
    format!("result = {value}\r\n")
}
