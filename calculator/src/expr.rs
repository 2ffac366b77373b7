//! Infix expressions: tokenizer, shunting-yard parsing to postfix, and an evaluation of
//! the postfix form that is generic over how an operator is applied (locally here, over
//! HTTP by the calculator service), so both share one algorithm.
//!
//! Grammar, as in the course lab: numbers (`12`, `2.5`, `.5`, and exponent notation
//! `1e3`, `2.5E-3`, `1e+2`, which the lab's Node.js services read through `parseFloat`),
//! `+ - * /` with `*` `/` binding tighter and every operator left-associative,
//! parentheses, whitespace anywhere. Extra over the lab: unary minus/plus (`-3`, `2*-3`,
//! `-(1+2)`).
//!
//! A number is read whole: the run of characters that can make one up (digits, `.`,
//! `e`/`E` and a sign right after it) must be a decimal literal in full, as JavaScript's
//! `Number()` requires, or the expression is malformed. `parseFloat` is laxer: it reads
//! the longest valid prefix and drops the rest, so `parseFloat("1e")` is 1 and
//! `parseFloat("1e3.5")` is 1000. A stray `e` in an expression is far more likely a typo
//! than a wish for that reading, so `1e`, `1e+`, `1e3.5` and `2e3e4` are refused with
//! the text quoted.

use std::fmt;
use std::future::Future;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError(pub String);

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ExprError {}

fn err(msg: impl Into<String>) -> ExprError {
    ExprError(msg.into())
}

/// A binary operator; each one is a sub-service of the calculator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

impl Op {
    pub const ALL: [Op; 4] = [Op::Add, Op::Sub, Op::Mul, Op::Div];

    pub fn symbol(self) -> char {
        match self {
            Op::Add => '+',
            Op::Sub => '-',
            Op::Mul => '*',
            Op::Div => '/',
        }
    }

    /// The name of the sub-service that applies this operator.
    pub fn service(self) -> &'static str {
        match self {
            Op::Add => "sum",
            Op::Sub => "sub",
            Op::Mul => "mul",
            Op::Div => "div",
        }
    }

    fn precedence(self) -> u8 {
        match self {
            Op::Add | Op::Sub => 1,
            Op::Mul | Op::Div => 2,
        }
    }

    /// Apply locally: what a sub-service computes, with its errors.
    pub fn apply(self, a: f64, b: f64) -> Result<f64, ArithError> {
        let value = match self {
            Op::Add => a + b,
            Op::Sub => a - b,
            Op::Mul => a * b,
            Op::Div if b == 0.0 => return Err(ArithError::DivisionByZero),
            Op::Div => a / b,
        };
        if value.is_finite() {
            Ok(value)
        } else {
            Err(ArithError::NotFinite)
        }
    }
}

/// Why an operator has no (finite) result. The services answer these with 422.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithError {
    DivisionByZero,
    NotFinite,
}

impl fmt::Display for ArithError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ArithError::DivisionByZero => "division by zero",
            ArithError::NotFinite => "result is not a finite number",
        })
    }
}

impl std::error::Error for ArithError {}

impl From<ArithError> for ExprError {
    fn from(e: ArithError) -> Self {
        ExprError(e.to_string())
    }
}

/// One element of the postfix form.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Item {
    Num(f64),
    Op(Op),
}

/// A well-formed postfix expression (only [`parse`] builds one, so evaluating it never
/// finds the stack short).
#[derive(Debug, Clone, PartialEq)]
pub struct Postfix(Vec<Item>);

impl Postfix {
    pub fn items(&self) -> &[Item] {
        &self.0
    }

    /// How many operators, i.e. sub-service calls, evaluating this costs.
    pub fn operations(&self) -> usize {
        self.0.iter().filter(|i| matches!(i, Item::Op(_))).count()
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Token {
    Num(f64),
    Op(Op),
    Open,
    Close,
}

/// Tokens with their 1-based column, for error messages.
fn tokenize(src: &str) -> Result<Vec<(usize, Token)>, ExprError> {
    let mut out = Vec::new();
    let mut chars = src.char_indices().peekable();
    let mut col = 0usize;
    while let Some((start, c)) = chars.next() {
        col += 1;
        let tok = match c {
            c if c.is_whitespace() => continue,
            '+' => Token::Op(Op::Add),
            '-' => Token::Op(Op::Sub),
            '*' => Token::Op(Op::Mul),
            '/' => Token::Op(Op::Div),
            '(' => Token::Open,
            ')' => Token::Close,
            '0'..='9' | '.' => {
                let at = col;
                let mut end = start + 1;
                let mut prev = c;
                while let Some(&(i, d)) = chars.peek() {
                    let part = d.is_ascii_digit()
                        || matches!(d, '.' | 'e' | 'E')
                        // A sign belongs to the number only as its exponent's sign:
                        // `1e-3-2` is 0.001 minus 2.
                        || (matches!(d, '+' | '-') && matches!(prev, 'e' | 'E'));
                    if !part {
                        break;
                    }
                    prev = d;
                    end = i + 1;
                    col += 1;
                    chars.next();
                }
                let text = &src[start..end];
                // The run holds only digits, `.`, `e`/`E` and exponent signs, on which
                // Rust's `f64` grammar is JavaScript's `Number()`: `1e`, `.e1`, `1.2.3`
                // are refused, `1.`, `.5`, `1.e3` accepted (see the module doc).
                let value: f64 = text
                    .parse()
                    .map_err(|_| err(format!("malformed number '{text}' at column {at}")))?;
                if !value.is_finite() {
                    return Err(err(format!("number too large at column {at}")));
                }
                out.push((at, Token::Num(value)));
                continue;
            }
            other => {
                return Err(err(format!(
                    "unexpected character {:?} at column {col}",
                    other
                )))
            }
        };
        out.push((col, tok));
    }
    Ok(out)
}

/// What waits on the shunting-yard operator stack.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Pending {
    Bin(Op),
    /// Unary minus: `-1` is already in the output, this emits the `*`.
    Neg,
    Open(usize),
}

/// Parse an infix expression into postfix (Dijkstra's shunting-yard).
pub fn parse(src: &str) -> Result<Postfix, ExprError> {
    let tokens = tokenize(src)?;
    if tokens.is_empty() {
        return Err(err("empty expression"));
    }
    let mut output = Vec::with_capacity(tokens.len());
    let mut stack: Vec<Pending> = Vec::new();
    // Between operands we expect an operator or ')', otherwise an operand, '(' or a sign.
    let mut expect_operand = true;
    let mut negate_next = false;
    for (col, tok) in tokens.iter().copied() {
        if expect_operand {
            match tok {
                Token::Num(v) => {
                    output.push(Item::Num(if negate_next { -v } else { v }));
                    negate_next = false;
                    expect_operand = false;
                }
                Token::Open => {
                    flush_sign(&mut negate_next, &mut output, &mut stack);
                    stack.push(Pending::Open(col));
                }
                Token::Op(Op::Add) => {}
                Token::Op(Op::Sub) => negate_next = !negate_next,
                Token::Op(op) => {
                    return Err(err(format!(
                        "expected a number before '{}' at column {col}",
                        op.symbol()
                    )))
                }
                Token::Close => {
                    return Err(err(format!("expected a number before ')' at column {col}")))
                }
            }
        } else {
            match tok {
                Token::Op(op) => {
                    while let Some(&top) = stack.last() {
                        let pops = match top {
                            Pending::Neg => true,
                            // `>=`: equal precedence pops first, making it left-associative.
                            Pending::Bin(t) => t.precedence() >= op.precedence(),
                            Pending::Open(_) => false,
                        };
                        if !pops {
                            break;
                        }
                        stack.pop();
                        output.push(Item::Op(emitted(top)));
                    }
                    stack.push(Pending::Bin(op));
                    expect_operand = true;
                }
                Token::Close => loop {
                    match stack.pop() {
                        Some(Pending::Open(_)) => break,
                        Some(top) => output.push(Item::Op(emitted(top))),
                        None => return Err(err(format!("unmatched ')' at column {col}"))),
                    }
                },
                Token::Num(_) => {
                    return Err(err(format!(
                        "missing operator before the number at column {col}"
                    )))
                }
                Token::Open => {
                    return Err(err(format!("missing operator before '(' at column {col}")))
                }
            }
        }
    }
    if expect_operand {
        return Err(err(
            "expression ends without a number after its last operator",
        ));
    }
    while let Some(top) = stack.pop() {
        if let Pending::Open(col) = top {
            return Err(err(format!("unmatched '(' at column {col}")));
        }
        output.push(Item::Op(emitted(top)));
    }
    Ok(Postfix(output))
}

/// A sign before a parenthesis becomes `-1 * (...)`, one more multiplication; a sign
/// before a number is folded into the literal and costs nothing.
fn flush_sign(negate: &mut bool, output: &mut Vec<Item>, stack: &mut Vec<Pending>) {
    if std::mem::take(negate) {
        output.push(Item::Num(-1.0));
        stack.push(Pending::Neg);
    }
}

fn emitted(p: Pending) -> Op {
    match p {
        Pending::Bin(op) => op,
        Pending::Neg => Op::Mul,
        // Callers never emit an open parenthesis; a multiplication keeps this total.
        Pending::Open(_) => Op::Mul,
    }
}

/// Evaluate postfix, applying each operator with `apply` in postfix order, one at a
/// time (as the lab did: one sub-service call after another).
pub async fn evaluate<F, Fut, E>(postfix: &Postfix, mut apply: F) -> Result<f64, E>
where
    F: FnMut(Op, f64, f64) -> Fut,
    Fut: Future<Output = Result<f64, E>>,
    E: From<ExprError>,
{
    let mut stack: Vec<f64> = Vec::with_capacity(postfix.0.len());
    for item in &postfix.0 {
        match *item {
            Item::Num(v) => stack.push(v),
            Item::Op(op) => {
                let (b, a) = (stack.pop(), stack.pop());
                let (Some(a), Some(b)) = (a, b) else {
                    return Err(err(format!("operator '{}' lacks an operand", op.symbol())).into());
                };
                stack.push(apply(op, a, b).await?);
            }
        }
    }
    match stack.as_slice() {
        [v] => Ok(*v),
        _ => Err(err("malformed expression").into()),
    }
}

/// Evaluate without the sub-services (the harness's expected answers).
pub fn evaluate_local(expr: &str) -> Result<f64, ExprError> {
    let postfix = parse(expr)?;
    let fut = evaluate(&postfix, |op, a, b| {
        std::future::ready(op.apply(a, b).map_err(ExprError::from))
    });
    block_on_ready(fut).unwrap_or_else(|| Err(err("local evaluation did not complete")))
}

/// Poll a future that never waits (every local operator is ready at once) to completion.
fn block_on_ready<F: Future>(fut: F) -> Option<F::Output> {
    use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
    fn clone(_: *const ()) -> RawWaker {
        RawWaker::new(std::ptr::null(), &VTABLE)
    }
    fn noop(_: *const ()) {}
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
    // SAFETY: the vtable's functions ignore the data pointer, so any pointer is valid.
    let waker = unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) };
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

/// Format a number as JavaScript's `Number.prototype.toString` does (the lab ran on
/// Node.js): shortest round-trip digits, exponent form from 1e21 and below 1e-6,
/// `-0` printed as `0`. Non-finite values are never sent (they are errors).
pub fn format_number(value: f64) -> String {
    if value == 0.0 {
        return "0".into();
    }
    if !value.is_finite() {
        return if value.is_nan() {
            "NaN".into()
        } else if value > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    // `{:e}` gives the shortest round-trip digits as `d.ddde±x`.
    let sci = format!("{:e}", value.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let k = digits.len() as i32;
    let n = exp + 1; // the decimal point sits after `n` digits
    let sign = if value < 0.0 { "-" } else { "" };
    let body = if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let e = n - 1;
        let e_sign = if e < 0 { '-' } else { '+' };
        if k == 1 {
            format!("{digits}e{e_sign}{}", e.abs())
        } else {
            format!("{}.{}e{e_sign}{}", &digits[..1], &digits[1..], e.abs())
        }
    };
    format!("{sign}{body}")
}

/// Read a number as the services exchange them (a sub-service's operands and answer, the
/// calculator's result): an optional sign, then a decimal literal as JavaScript's
/// `Number()` reads one (`4`, `-2.5`, `.5`, `1e+21`, `5e-324`), finite. This accepts
/// everything [`format_number`] prints for a finite value, and what Node.js prints.
/// `Infinity`, `NaN` and anything with trailing characters are refused.
pub fn parse_number(text: &str) -> Option<f64> {
    // Rust's grammar is JavaScript's on decimal literals; the words it also accepts
    // (`inf`, `infinity`, `nan`, any case) are all non-finite, hence refused below.
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// The calculator's response body for a result: `result = 4\r\n`.
pub fn response_body(value: f64) -> String {
    format!("result = {}\r\n", format_number(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn postfix(src: &str) -> String {
        parse(src)
            .unwrap()
            .items()
            .iter()
            .map(|i| match i {
                Item::Num(v) => format_number(*v),
                Item::Op(op) => op.symbol().to_string(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn eval(src: &str) -> f64 {
        evaluate_local(src).unwrap_or_else(|e| panic!("{src:?}: {e}"))
    }

    fn fails(src: &str) -> String {
        match evaluate_local(src) {
            Ok(v) => panic!("{src:?} evaluated to {v}, expected an error"),
            Err(e) => e.0,
        }
    }

    #[test]
    fn shunting_yard_order() {
        assert_eq!(postfix("(5+3)/2"), "5 3 + 2 /");
        assert_eq!(postfix("1+2*3"), "1 2 3 * +");
        assert_eq!(postfix("8-3-2"), "8 3 - 2 -");
        assert_eq!(postfix("16/4/2"), "16 4 / 2 /");
        assert_eq!(postfix("2*(3+4)*5"), "2 3 4 + * 5 *");
        assert_eq!(postfix("-(1+2)*3"), "-1 1 2 + * 3 *");
        assert_eq!(postfix("2*-3"), "2 -3 *");
    }

    #[test]
    fn evaluates_like_the_lab() {
        assert_eq!(eval("(5+3)/2"), 4.0);
        assert_eq!(eval("1+2*3"), 7.0);
        assert_eq!(eval("2*3+1"), 7.0);
        assert_eq!(eval("8-3-2"), 3.0);
        assert_eq!(eval("16/4/2"), 2.0);
        assert_eq!(eval("8/2*4"), 16.0);
        assert_eq!(eval("((2))"), 2.0);
        assert_eq!(eval(" 1.5 *\t2 \r\n"), 3.0);
        assert_eq!(eval(".5+.25"), 0.75);
        assert_eq!(eval("3-10"), -7.0);
        assert_eq!(eval("(3-10)*2-1"), -15.0);
        assert_eq!(eval("42"), 42.0);
    }

    #[test]
    fn exponent_notation_as_the_lab_reads_it() {
        // Values as Node.js's `parseFloat` gives them (checked with node 20).
        assert_eq!(eval("1e3+1"), 1001.0);
        assert_eq!(eval("2.5E-3"), 0.0025);
        assert_eq!(eval("1e+2"), 100.0);
        assert_eq!(eval("1E2*2"), 200.0);
        assert_eq!(eval("1.e3"), 1000.0);
        assert_eq!(eval(".5e1"), 5.0);
        assert_eq!(eval("1e03"), 1000.0);
        assert_eq!(eval("0e0"), 0.0);
        assert_eq!(eval("5e-324"), 5e-324);
        assert_eq!(eval("1e-400"), 0.0, "underflow is 0, as in JavaScript");
        // The exponent's sign is part of the number; the next sign is an operator.
        assert_eq!(postfix("1e-3-2"), "0.001 2 -");
        assert_eq!(postfix("2e+1+1"), "20 1 +");
        assert_eq!(postfix("-1e3"), "-1000");
        assert_eq!(postfix("2*-1E-1"), "2 -0.1 *");
        assert_eq!(eval("(1e3+1)*2e0"), 2002.0);
    }

    #[test]
    fn an_exponent_must_be_complete() {
        // `parseFloat` would read 1, 1, 1.5, 1000, 2000 here and drop the rest; a number
        // is read whole instead (see the module doc), so each is refused, quoted.
        assert_eq!(fails("1e"), "malformed number '1e' at column 1");
        assert_eq!(fails("1e+"), "malformed number '1e+' at column 1");
        assert_eq!(fails("2*1.5e"), "malformed number '1.5e' at column 3");
        assert_eq!(fails("1e3.5"), "malformed number '1e3.5' at column 1");
        assert_eq!(fails("2e3e4"), "malformed number '2e3e4' at column 1");
        assert_eq!(fails("1ee3"), "malformed number '1ee3' at column 1");
        assert_eq!(fails("1e--3"), "malformed number '1e-' at column 1");
        assert_eq!(fails(".e1"), "malformed number '.e1' at column 1");
        assert_eq!(fails("1e-(2)"), "malformed number '1e-' at column 1");
        assert_eq!(fails("1e 3"), "malformed number '1e' at column 1");
        // An `e` that does not follow a number is not one.
        assert_eq!(fails("e3"), "unexpected character 'e' at column 1");
        assert_eq!(fails("2*e"), "unexpected character 'e' at column 3");
        assert!(fails("1e400").starts_with("number too large at column 1"));
    }

    #[test]
    fn numbers_as_the_services_exchange_them() {
        for (text, value) in [
            ("4", 4.0),
            ("-2.5", -2.5),
            ("+.5", 0.5),
            ("1e+21", 1e21),
            ("-1.25e-7", -1.25e-7),
            ("0.30000000000000004", 0.1 + 0.2),
            ("121932631112635260", 123456789.0 * 987654321.0),
        ] {
            assert_eq!(parse_number(text), Some(value), "{text}");
        }
        for text in [
            "",
            "1e",
            "Infinity",
            "-Infinity",
            "NaN",
            "inf",
            "1e400",
            "4 ",
            " 4",
            "4x",
            "0x10",
        ] {
            assert_eq!(parse_number(text), None, "{text:?}");
        }
    }

    #[test]
    fn unary_signs() {
        assert_eq!(eval("-3"), -3.0);
        assert_eq!(eval("2*-3"), -6.0);
        assert_eq!(eval("-(1+2)*3"), -9.0);
        assert_eq!(eval("--3"), 3.0);
        assert_eq!(eval("-(-(2))"), 2.0);
        assert_eq!(eval("+4-+1"), 3.0);
        assert_eq!(eval("1--1"), 2.0);
    }

    #[test]
    fn deep_input_does_not_recurse() {
        let deep = format!("{}1{}", "(".repeat(40_000), ")".repeat(40_000));
        assert_eq!(eval(&deep), 1.0);
        let signs = format!("{}(2)", "-".repeat(40_001));
        assert_eq!(eval(&signs), -2.0);
        let long = vec!["1"; 20_000].join("+");
        assert_eq!(eval(&long), 20_000.0);
    }

    #[test]
    fn malformed_expressions_say_why() {
        assert_eq!(fails(""), "empty expression");
        assert_eq!(fails("   "), "empty expression");
        assert_eq!(
            fails("1+"),
            "expression ends without a number after its last operator"
        );
        assert_eq!(fails("*2"), "expected a number before '*' at column 1");
        assert_eq!(fails("(1+2"), "unmatched '(' at column 1");
        assert_eq!(fails("1+2)"), "unmatched ')' at column 4");
        assert_eq!(fails("()"), "expected a number before ')' at column 2");
        assert_eq!(
            fails("2 3"),
            "missing operator before the number at column 3"
        );
        assert_eq!(fails("2(3)"), "missing operator before '(' at column 2");
        assert_eq!(fails("1.2.3"), "malformed number '1.2.3' at column 1");
        assert_eq!(fails("1+."), "malformed number '.' at column 3");
        assert_eq!(fails("2^3"), "unexpected character '^' at column 2");
        assert_eq!(fails("1 + x"), "unexpected character 'x' at column 5");
        assert_eq!(fails("1+é"), "unexpected character 'é' at column 3");
        assert!(fails(&"9".repeat(400)).starts_with("number too large"));
    }

    #[test]
    fn arithmetic_errors() {
        assert_eq!(fails("1/0"), "division by zero");
        assert_eq!(fails("1/(2-2)"), "division by zero");
        assert_eq!(
            fails(&format!("{0}*{0}", "9".repeat(200))),
            "result is not a finite number"
        );
    }

    #[test]
    fn numbers_print_as_node_does() {
        let cases = [
            (4.0, "4"),
            (2.5, "2.5"),
            (-13.0, "-13"),
            (-0.0, "0"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1.0 / 3.0, "0.3333333333333333"),
            (123456789.0, "123456789"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.5e21, "1.5e+21"),
            (-2.5e22, "-2.5e+22"),
            (0.000001, "0.000001"),
            (0.0000012, "0.0000012"),
            (1e-7, "1e-7"),
            (1.25e-7, "1.25e-7"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
        ];
        for (v, s) in cases {
            assert_eq!(format_number(v), s, "{v:e}");
            // Shortest digits round-trip exactly, so the calculator and the sub-services
            // see the same values the local evaluation sees.
            assert_eq!(parse_number(s).unwrap(), if v == 0.0 { 0.0 } else { v });
        }
        assert_eq!(response_body(4.0), "result = 4\r\n");
    }
}
