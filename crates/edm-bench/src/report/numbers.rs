//! Numbers as docs/benchmarks.md and docs/scaling.md print them. A figure
//! read from the JSON keeps whether it was written as an integer ([`Num`]),
//! and every figure prints as the report always printed it (`35.0`, `1,234`,
//! round half to even), so that a rewrite changes only what the figures
//! changed.

use std::fmt;
use std::ops::{Add, Mul};

use serde::Deserialize;

/// A figure printed as it was written: `200000` stays `200,000`, `35.0`
/// stays `35.0`. Sums and products of integers stay integers.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    /// Its value, for arithmetic.
    pub fn value(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }

    /// With thousands separators (`{:,}`): `1,234` or `1,234.5`.
    pub fn grouped(self) -> String {
        match self {
            Num::Int(i) => group_thousands(&i.to_string()),
            Num::Float(f) => group_thousands(&float_text(f)),
        }
    }

    /// The sum, an integer when every term is one (0 when there is none).
    pub fn sum(nums: impl IntoIterator<Item = Num>) -> Num {
        nums.into_iter().fold(Num::Int(0), |total, n| total + n)
    }

    /// The largest (the first of equals), if any.
    pub fn max(nums: impl IntoIterator<Item = Num>) -> Option<Num> {
        nums.into_iter()
            .reduce(|best, n| if n.value() > best.value() { n } else { best })
    }

    /// The smallest (the first of equals), if any.
    pub fn min(nums: impl IntoIterator<Item = Num>) -> Option<Num> {
        nums.into_iter()
            .reduce(|best, n| if n.value() < best.value() { n } else { best })
    }
}

impl Add for Num {
    type Output = Num;
    fn add(self, other: Num) -> Num {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) if a.checked_add(b).is_some() => Num::Int(a + b),
            _ => Num::Float(self.value() + other.value()),
        }
    }
}

impl Mul for Num {
    type Output = Num;
    fn mul(self, other: Num) -> Num {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) if a.checked_mul(b).is_some() => Num::Int(a * b),
            _ => Num::Float(self.value() * other.value()),
        }
    }
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Num::Int(i) => write!(f, "{i}"),
            Num::Float(x) => f.write_str(&float_text(x)),
        }
    }
}

/// A float in its shortest exact form, as the report always printed one:
/// `35.0`, `0.1`, `1e+16`, `1e-05`.
pub fn float_text(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    let text = format!("{x:?}");
    match text.split_once('e') {
        Some((mantissa, exponent)) => {
            let (sign, digits) = match exponent.strip_prefix('-') {
                Some(digits) => ('-', digits),
                None => ('+', exponent),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => text,
    }
}

/// `x` with `decimals` decimals and thousands separators (`{:,.0f}`).
pub fn grouped(x: f64, decimals: usize) -> String {
    group_thousands(&format!("{x:.decimals$}"))
}

/// `text` (a number) with a comma between each group of three digits of
/// its integer part.
fn group_thousands(text: &str) -> String {
    let (sign, unsigned) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text),
    };
    let digits = unsigned
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(unsigned.len());
    let (integer, rest) = unsigned.split_at(digits);
    let mut out = String::from(sign);
    for (i, digit) in integer.chars().enumerate() {
        if i > 0 && (integer.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out + rest
}

/// The median (the mean of the middle two of an even count), if any.
pub fn median(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let mut sorted: Vec<f64> = values.into_iter().collect();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[middle]),
        _ => Some((sorted[middle - 1] + sorted[middle]) / 2.0),
    }
}

/// `**met**` or `**missed**`.
pub fn met(ok: bool) -> &'static str {
    if ok {
        "**met**"
    } else {
        "**missed**"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_in_their_shortest_form() {
        assert_eq!(float_text(35.0), "35.0");
        assert_eq!(float_text(0.1), "0.1");
        assert_eq!(float_text(1e16), "1e+16");
        assert_eq!(float_text(1.5e-7), "1.5e-07");
        assert_eq!(float_text(123456.5), "123456.5");
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(Num::Int(200_000).grouped(), "200,000");
        assert_eq!(Num::Int(-1_234_567).grouped(), "-1,234,567");
        assert_eq!(Num::Float(1234.5).grouped(), "1,234.5");
        assert_eq!(grouped(95_987.71, 0), "95,988");
        assert_eq!(grouped(999.96, 1), "1,000.0");
        assert_eq!(grouped(12.0, 0), "12");
    }

    #[test]
    fn halves_round_to_even() {
        assert_eq!(format!("{:.0}", 0.5), "0");
        assert_eq!(format!("{:.0}", 2.5), "2");
        assert_eq!(format!("{:.2}", 0.125), "0.12");
    }

    #[test]
    fn integers_stay_integers() {
        let sum = Num::sum([Num::Int(1), Num::Int(2)]);
        assert_eq!(sum.to_string(), "3");
        assert_eq!(Num::sum([Num::Int(1), Num::Float(2.0)]).to_string(), "3.0");
        assert_eq!((Num::Int(100) * Num::Int(20)).to_string(), "2000");
        assert_eq!(Num::max([Num::Int(4), Num::Float(4.0)]), Some(Num::Int(4)));
    }

    #[test]
    fn medians() {
        assert_eq!(median([3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median([4.0, 1.0]), Some(2.5));
        assert_eq!(median(Vec::new()), None);
    }
}
