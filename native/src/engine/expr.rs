//! Rule conditions (`stream/rules/expressions.py`), evaluated over one customer's metrics.
//!
//! Python validates a condition and hands over its tree; this evaluates it with Python's meaning:
//! `and`/`or` yield an operand, comparisons are false when either side is None, arithmetic and
//! `min`/`max`/`abs` pass None through, division by zero is None, `/` is always a float, and
//! int arithmetic stays int (bool counting as int), as the generated Python lambda computes it.

use crate::jsonfmt::Scalar;
use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arith {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Const(Scalar),
    Metric(usize),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Arith(Arith, Box<Expr>, Box<Expr>),
    Compare(Compare, Box<Expr>, Box<Expr>),
    Min(Vec<Expr>),
    Max(Vec<Expr>),
    Abs(Box<Expr>),
    /// Property predicates: false unless both sides are text.
    StartsWith(Box<Expr>, Box<Expr>),
    Contains(Box<Expr>, Box<Expr>),
}

/// Python's `bool(value)`.
pub fn truthy(value: &Scalar) -> bool {
    match value {
        Scalar::Null => false,
        Scalar::Bool(flag) => *flag,
        Scalar::Int(number) => *number != 0,
        Scalar::UInt(number) => *number != 0,
        Scalar::Float(number) => *number != 0.0,
        Scalar::Str(text) => !text.is_empty(),
    }
}

enum Number {
    Int(i64),
    Float(f64),
}

fn number(value: &Scalar) -> Option<Number> {
    match value {
        Scalar::Bool(flag) => Some(Number::Int(*flag as i64)),
        Scalar::Int(number) => Some(Number::Int(*number)),
        Scalar::UInt(number) => Some(Number::Float(*number as f64)),
        Scalar::Float(number) => Some(Number::Float(*number)),
        Scalar::Null | Scalar::Str(_) => None,
    }
}

fn as_f64(number: &Number) -> f64 {
    match number {
        Number::Int(value) => *value as f64,
        Number::Float(value) => *value,
    }
}

fn from_number(number: Number) -> Scalar {
    match number {
        Number::Int(value) => Scalar::Int(value),
        Number::Float(value) => Scalar::Float(value),
    }
}

/// A number as Python compares it: integers exactly (bool as 0 or 1), whatever their size.
enum Exact {
    Int(i128),
    Float(f64),
}

fn exact(value: &Scalar) -> Option<Exact> {
    match value {
        Scalar::Bool(flag) => Some(Exact::Int(i128::from(*flag))),
        Scalar::Int(number) => Some(Exact::Int(i128::from(*number))),
        Scalar::UInt(number) => Some(Exact::Int(i128::from(*number))),
        Scalar::Float(number) => Some(Exact::Float(*number)),
        Scalar::Null | Scalar::Str(_) => None,
    }
}

/// Python's exact order of an int (from an i64 or a u64) and a float: `2**53 + 1 > 2.0**53`,
/// where converting the int to a float first would call them equal.
fn int_float(int: i128, float: f64) -> Option<Ordering> {
    const TWO_64: f64 = 18_446_744_073_709_551_616.0;
    if float.is_nan() {
        return None;
    }
    if float >= TWO_64 {
        return Some(Ordering::Less);
    }
    if float < -TWO_64 {
        return Some(Ordering::Greater);
    }
    // |float| < 2^64: its whole part fits an i128 exactly, and its fraction is exact too.
    let whole = float.trunc();
    match int.cmp(&(whole as i128)) {
        Ordering::Equal => 0.0.partial_cmp(&(float - whole)),
        unequal => Some(unequal),
    }
}

/// Numeric order of two scalars as Python orders them (None when either is not a number, or
/// NaN is involved).
fn order(a: &Scalar, b: &Scalar) -> Option<Ordering> {
    match (exact(a)?, exact(b)?) {
        (Exact::Int(x), Exact::Int(y)) => Some(x.cmp(&y)),
        (Exact::Int(x), Exact::Float(y)) => int_float(x, y),
        (Exact::Float(x), Exact::Int(y)) => int_float(y, x).map(Ordering::reverse),
        (Exact::Float(x), Exact::Float(y)) => x.partial_cmp(&y),
    }
}

fn equal(a: &Scalar, b: &Scalar) -> bool {
    match (a, b) {
        (Scalar::Str(x), Scalar::Str(y)) => x == y,
        (Scalar::Str(_), _) | (_, Scalar::Str(_)) => false,
        _ => order(a, b) == Some(Ordering::Equal),
    }
}

fn compare(op: Compare, a: &Scalar, b: &Scalar) -> bool {
    if matches!(a, Scalar::Null) || matches!(b, Scalar::Null) {
        return false;
    }
    match op {
        Compare::Eq => equal(a, b),
        Compare::Ne => !equal(a, b),
        Compare::Lt => order(a, b) == Some(Ordering::Less),
        Compare::Le => matches!(order(a, b), Some(Ordering::Less | Ordering::Equal)),
        Compare::Gt => order(a, b) == Some(Ordering::Greater),
        Compare::Ge => matches!(order(a, b), Some(Ordering::Greater | Ordering::Equal)),
    }
}

fn arith(op: Arith, a: &Scalar, b: &Scalar) -> Scalar {
    let (Some(x), Some(y)) = (number(a), number(b)) else {
        return Scalar::Null;
    };
    if op == Arith::Div {
        let divisor = as_f64(&y);
        return if divisor == 0.0 {
            Scalar::Null
        } else {
            Scalar::Float(as_f64(&x) / divisor)
        };
    }
    if let (Number::Int(x), Number::Int(y)) = (&x, &y) {
        let exact = match op {
            Arith::Add => x.checked_add(*y),
            Arith::Sub => x.checked_sub(*y),
            _ => x.checked_mul(*y),
        };
        if let Some(value) = exact {
            return Scalar::Int(value);
        }
    }
    let (x, y) = (as_f64(&x), as_f64(&y));
    Scalar::Float(match op {
        Arith::Add => x + y,
        Arith::Sub => x - y,
        _ => x * y,
    })
}

/// Python's `min`/`max` over the arguments: the first extreme one wins ties; None unless all
/// are numbers (a property may be text).
fn extreme(values: Vec<Scalar>, wanted: Ordering) -> Scalar {
    if values.iter().any(|value| number(value).is_none()) {
        return Scalar::Null;
    }
    let mut best: Option<Scalar> = None;
    for value in values {
        best = match best {
            Some(current) if order(&value, &current) != Some(wanted) => Some(current),
            _ => Some(value),
        };
    }
    best.unwrap_or(Scalar::Null)
}

fn text_test(text: &Expr, part: &Expr, metrics: &[Scalar], test: fn(&str, &str) -> bool) -> Scalar {
    Scalar::Bool(match (text.evaluate(metrics), part.evaluate(metrics)) {
        (Scalar::Str(text), Scalar::Str(part)) => test(&text, &part),
        _ => false,
    })
}

impl Expr {
    pub fn evaluate(&self, metrics: &[Scalar]) -> Scalar {
        match self {
            Expr::Const(value) => value.clone(),
            Expr::Metric(id) => metrics[*id].clone(),
            Expr::And(parts) => {
                let mut last = Scalar::Bool(true);
                for part in parts {
                    last = part.evaluate(metrics);
                    if !truthy(&last) {
                        break;
                    }
                }
                last
            }
            Expr::Or(parts) => {
                let mut last = Scalar::Bool(false);
                for part in parts {
                    last = part.evaluate(metrics);
                    if truthy(&last) {
                        break;
                    }
                }
                last
            }
            Expr::Not(inner) => Scalar::Bool(!truthy(&inner.evaluate(metrics))),
            Expr::Neg(inner) => match number(&inner.evaluate(metrics)) {
                Some(Number::Int(value)) => value.checked_neg().map_or(Scalar::Float(-(value as f64)), Scalar::Int),
                Some(Number::Float(value)) => Scalar::Float(-value),
                None => Scalar::Null,
            },
            Expr::Arith(op, a, b) => arith(*op, &a.evaluate(metrics), &b.evaluate(metrics)),
            Expr::Compare(op, a, b) => Scalar::Bool(compare(*op, &a.evaluate(metrics), &b.evaluate(metrics))),
            Expr::Min(args) => extreme(args.iter().map(|arg| arg.evaluate(metrics)).collect(), Ordering::Less),
            Expr::Max(args) => extreme(
                args.iter().map(|arg| arg.evaluate(metrics)).collect(),
                Ordering::Greater,
            ),
            Expr::StartsWith(text, part) => text_test(text, part, metrics, |text, part| text.starts_with(part)),
            Expr::Contains(text, part) => text_test(text, part, metrics, |text, part| text.contains(part)),
            Expr::Abs(inner) => match number(&inner.evaluate(metrics)) {
                Some(Number::Int(value)) => value
                    .checked_abs()
                    .map_or(Scalar::Float((value as f64).abs()), Scalar::Int),
                Some(Number::Float(value)) => from_number(Number::Float(value.abs())),
                None => Scalar::Null,
            },
        }
    }

    /// Does the condition hold (Python truthiness of its value)?
    pub fn holds(&self, metrics: &[Scalar]) -> bool {
        truthy(&self.evaluate(metrics))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(value: Scalar) -> Box<Expr> {
        Box::new(Expr::Const(value))
    }

    #[test]
    fn comparisons_with_none_are_false_both_ways() {
        for op in [
            Compare::Lt,
            Compare::Le,
            Compare::Gt,
            Compare::Ge,
            Compare::Eq,
            Compare::Ne,
        ] {
            assert!(!Expr::Compare(op, c(Scalar::Null), c(Scalar::Int(1))).holds(&[]));
        }
    }

    #[test]
    fn int_arithmetic_stays_int_and_division_is_float_or_none() {
        assert_eq!(arith(Arith::Add, &Scalar::Int(2), &Scalar::Bool(true)), Scalar::Int(3));
        assert_eq!(arith(Arith::Div, &Scalar::Int(3), &Scalar::Int(2)), Scalar::Float(1.5));
        assert_eq!(arith(Arith::Div, &Scalar::Int(3), &Scalar::Float(0.0)), Scalar::Null);
        assert_eq!(
            arith(Arith::Mul, &Scalar::Int(i64::MAX), &Scalar::Int(2)),
            Scalar::Float(i64::MAX as f64 * 2.0)
        );
    }

    #[test]
    fn and_or_yield_an_operand_like_python() {
        let and = Expr::And(vec![
            Expr::Const(Scalar::Int(2)),
            Expr::Const(Scalar::Int(0)),
            Expr::Const(Scalar::Int(5)),
        ]);
        assert_eq!(and.evaluate(&[]), Scalar::Int(0));
        let or = Expr::Or(vec![Expr::Const(Scalar::Null), Expr::Const(Scalar::Float(0.5))]);
        assert_eq!(or.evaluate(&[]), Scalar::Float(0.5));
    }

    #[test]
    fn min_keeps_the_first_of_equal_values() {
        assert_eq!(
            extreme(vec![Scalar::Int(1), Scalar::Float(1.0)], Ordering::Less),
            Scalar::Int(1)
        );
        assert_eq!(
            extreme(vec![Scalar::Float(1.0), Scalar::Int(1)], Ordering::Greater),
            Scalar::Float(1.0)
        );
    }

    #[test]
    fn ints_and_floats_compare_exactly_as_in_python() {
        let big = Scalar::Int((1 << 53) + 1);
        let float = Scalar::Float((1u64 << 53) as f64);
        assert_eq!(order(&big, &float), Some(Ordering::Greater));
        assert_eq!(order(&float, &big), Some(Ordering::Less));
        assert!(!Expr::Compare(Compare::Eq, c(big.clone()), c(float.clone())).holds(&[]));
        assert_eq!(
            order(&Scalar::Int(i64::MAX), &Scalar::Float(i64::MAX as f64)),
            Some(Ordering::Less)
        );
        assert_eq!(
            order(&Scalar::UInt(u64::MAX), &Scalar::Float(1e300)),
            Some(Ordering::Less)
        );
        assert_eq!(
            order(&Scalar::Int(i64::MIN), &Scalar::Float(-1e300)),
            Some(Ordering::Greater)
        );
        assert_eq!(order(&Scalar::Int(-1), &Scalar::Float(-0.5)), Some(Ordering::Less));
        assert_eq!(order(&Scalar::Int(0), &Scalar::Float(-0.5)), Some(Ordering::Greater));
        assert_eq!(order(&Scalar::Int(0), &Scalar::Float(-0.0)), Some(Ordering::Equal));
        assert_eq!(
            order(&Scalar::Int(3), &Scalar::Float(f64::INFINITY)),
            Some(Ordering::Less)
        );
        assert_eq!(order(&Scalar::Bool(true), &Scalar::Float(f64::NAN)), None);
    }

    #[test]
    fn strings_only_equal_strings() {
        assert!(Expr::Compare(Compare::Ne, c(Scalar::Str("a".into())), c(Scalar::Int(1))).holds(&[]));
        assert!(!Expr::Compare(Compare::Eq, c(Scalar::Bool(true)), c(Scalar::Str("true".into()))).holds(&[]));
        assert!(Expr::Compare(Compare::Eq, c(Scalar::Bool(true)), c(Scalar::Float(1.0))).holds(&[]));
    }
}
