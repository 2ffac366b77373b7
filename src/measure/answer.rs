//! What counts as a correct calculator answer: `result = N`, any trailing white space,
//! with `N` the expected number. Judged by the number, not the bytes, so that the
//! harness can load any calculator that keeps the lab's contract, the lab's own Node.js
//! services included: they answer `result = 4\r\n\r\n` (the sub-service's raw body
//! `4\r\n` passed through, then a line end of their own) where ours answers
//! `result = 4\r\n`, and a byte comparison counted every one of their answers wrong.
//!
//! `N` is read with the services' number format ([`calculator::expr::parse_number`]:
//! what Node.js prints, `0.30000000000000004`, `121932631112635260`, `1e+21`, and so
//! anything that reads the same number, `4.0` as well as `4`) and compared exactly:
//! both sides apply the same IEEE operations in the same order, so a difference in the
//! last bit is a wrong answer, not rounding noise. The prefix is exact (`result = `,
//! one space either side of `=`), as in the lab.

/// The number a calculator answered, if `body` is `result = N` followed by nothing but
/// white space, `N` a finite number.
pub fn answer_value(body: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(body).ok()?;
    let number = text.strip_prefix("result = ")?.trim_end();
    calculator::expr::parse_number(number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::Probe;

    fn accepts(expr: &str, body: &str) -> bool {
        Probe::for_expression(expr)
            .unwrap()
            .accepts(body.as_bytes())
    }

    #[test]
    fn the_labs_answers_are_correct() {
        // As the lab's Node.js services answer (observed next to ours): the sub-service's
        // body passed through, two CRLFs, JavaScript's number printing.
        assert_eq!(answer_value(b"result = 1001\r\n\r\n"), Some(1001.0));
        assert!(accepts("(5+3)/2", "result = 4\r\n\r\n"));
        assert!(accepts("1e3+1", "result = 1001\r\n\r\n"));
        assert!(accepts("0.1+0.2", "result = 0.30000000000000004\r\n\r\n"));
        assert!(accepts(
            "123456789*987654321",
            "result = 121932631112635260\r\n\r\n"
        ));
        assert!(accepts("8/3", "result = 2.6666666666666665\r\n\r\n"));
        assert!(accepts("1e21*1", "result = 1e+21\r\n\r\n"));
        assert!(accepts("3-10", "result = -7\r\n\r\n"));
    }

    #[test]
    fn ours_and_other_spellings_of_the_same_number_are_correct() {
        let ours = calculator::expr::response_body(4.0);
        assert!(accepts("(5+3)/2", &ours));
        for body in [
            "result = 4",
            "result = 4\n",
            "result = 4 \t\r\n \r\n",
            "result = 4.0\r\n",
            "result = 4e0\r\n",
            "result = +4\r\n",
        ] {
            assert!(accepts("(5+3)/2", body), "{body:?}");
        }
        // -0 prints as 0 in JavaScript; the two are the same number.
        assert!(accepts("0*-5", "result = 0\r\n"));
    }

    #[test]
    fn other_answers_are_wrong() {
        for body in [
            "result = 5\r\n",
            // The last bit counts: 0.1+0.2 is not 0.3.
            "result = 0.3\r\n",
            "result = 4x\r\n",
            "result = 4 5\r\n",
            "result =  4\r\n",
            "result=4\r\n",
            "Result = 4\r\n",
            " result = 4\r\n",
            "4\r\n",
            "result = \r\n",
            "result = NaN\r\n",
            "result = Infinity\r\n",
            "error: div service: division by zero\r\n",
            "",
        ] {
            let expr = if body.contains("0.3") {
                "0.1+0.2"
            } else {
                "(5+3)/2"
            };
            assert!(!accepts(expr, body), "{body:?}");
        }
        assert!(!Probe::for_expression("(5+3)/2")
            .unwrap()
            .accepts(b"result = \xff4\r\n"));
    }
}
