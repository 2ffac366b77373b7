//! Measurement shared by every platform: startup (create call to first correct
//! answer), load (open-loop latency, closed-loop throughput) and host resources.

pub mod answer;
pub mod converge;
pub mod downtime;
pub mod fault;
pub mod http;
pub mod isolation;
pub mod load;
pub mod noise;
pub mod outside;
pub mod resources;
pub mod settle;
pub mod startup;

/// A request body and the number a correct calculator answers to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub body: bytes::Bytes,
    pub expected: f64,
}

impl Probe {
    /// The probe for an infix expression, its answer computed locally.
    pub fn for_expression(expr: &str) -> Result<Probe, calculator::expr::ExprError> {
        let value = calculator::expr::evaluate_local(expr)?;
        Ok(Probe {
            body: bytes::Bytes::copy_from_slice(expr.as_bytes()),
            expected: value,
        })
    }

    /// Is `answer` (a 2xx body) the right one? By its number, not its bytes (see
    /// [`answer`]): every place that decides "correct" asks this.
    pub fn accepts(&self, answer: &[u8]) -> bool {
        answer::answer_value(answer) == Some(self.expected)
    }
}
