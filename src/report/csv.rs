//! `results.csv`: one row per platform x metric.

use crate::results::RunResults;

pub fn render(_results: &RunResults) -> String {
    String::from("label,platform,metric,unit,n,median,p25,p75,min,max\n")
}
