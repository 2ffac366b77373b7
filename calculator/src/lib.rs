//! The course lab's five-service calculator.

pub mod expr;
