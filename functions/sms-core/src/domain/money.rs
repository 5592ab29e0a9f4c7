//! `Money`: an amount in the account's currency, in millionths. Plivo writes prices and
//! charges as decimal strings with five places (`"0.00500"`); a float would drift when a
//! million of them are summed, so amounts are whole millionths and sums are exact.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// Millionths in one unit of the currency.
const SCALE: u64 = 1_000_000;
/// Decimal places kept: one more than Plivo writes.
const PLACES: usize = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(u64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("must be a decimal amount such as 25 or 0.0050, got {0:?}")]
    NotDecimal(String),
    #[error("has more than {PLACES} decimal places")]
    TooPrecise,
    #[error("is too large")]
    TooLarge,
}

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_micros(micros: u64) -> Self {
        Self(micros)
    }

    pub const fn micros(self) -> u64 {
        self.0
    }

    /// Parses a plain decimal: digits, optionally a point and up to six more digits
    /// (`"25"`, `"0.00500"`, `".5"`). No sign, exponent or separators.
    pub fn parse(raw: &str) -> Result<Self, MoneyError> {
        let s = raw.trim();
        let not_decimal = || MoneyError::NotDecimal(raw.chars().take(40).collect());
        let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
        let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
        if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) {
            return Err(not_decimal());
        }
        let fraction = fraction.trim_end_matches('0');
        if fraction.len() > PLACES {
            return Err(MoneyError::TooPrecise);
        }
        let whole: u64 = match whole {
            "" => 0,
            w => w.parse().map_err(|_| MoneyError::TooLarge)?,
        };
        let fraction: u64 = format!("{fraction:0<PLACES$}")
            .parse()
            .map_err(|_| not_decimal())?;
        whole
            .checked_mul(SCALE)
            .and_then(|w| w.checked_add(fraction))
            .map(Self)
            .ok_or(MoneyError::TooLarge)
    }

    /// The amount `count` times over, saturating: an estimate that large is over any cap.
    pub fn times(self, count: u64) -> Self {
        Self(self.0.saturating_mul(count))
    }

    pub fn saturating_add(self, other: Self) -> Self {
        Self(self.0.saturating_add(other.0))
    }
}

impl fmt::Display for Money {
    /// At least two places and at most six, without trailing zeros past the second:
    /// `7.00`, `0.005`, `0.004375`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fraction = format!("{:06}", self.0 % SCALE);
        let fraction = fraction.trim_end_matches('0');
        write!(f, "{}.{fraction:0<2}", self.0 / SCALE)
    }
}

/// Written as a decimal string, as Plivo writes amounts: exact in every JSON reader.
impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Read from a decimal string or a JSON number (`25`, `12.5`). A number goes through its
/// shortest decimal form, so `0.1` is exactly a tenth.
impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Money;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a decimal amount, as a number or a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Money, E> {
                Money::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Money, E> {
                v.checked_mul(SCALE)
                    .map(Money)
                    .ok_or_else(|| E::custom(MoneyError::TooLarge))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Money, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom("must not be negative"))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Money, E> {
                if !v.is_finite() || v < 0.0 {
                    return Err(E::custom("must be a finite amount, not negative"));
                }
                Money::parse(&v.to_string()).map_err(E::custom)
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_decimals_exactly() {
        for (raw, micros) in [
            ("0.00500", 5_000),
            ("25", 25_000_000),
            ("12.5", 12_500_000),
            (".5", 500_000),
            ("7.", 7_000_000),
            ("0.004375", 4_375),
            ("1.2300000", 1_230_000),
        ] {
            assert_eq!(Money::parse(raw), Ok(Money(micros)), "{raw}");
        }
        for bad in ["", ".", "-1", "1e3", "1,5", "abc", "1.2.3", " + 1"] {
            assert!(
                matches!(Money::parse(bad), Err(MoneyError::NotDecimal(_))),
                "{bad}"
            );
        }
        assert_eq!(Money::parse("0.0000001"), Err(MoneyError::TooPrecise));
        assert_eq!(
            Money::parse("99999999999999999999"),
            Err(MoneyError::TooLarge)
        );
    }

    #[test]
    fn displays_two_to_six_places() {
        let shown: Vec<String> = [7_000_000, 5_000, 4_375, 12_500_000, 0]
            .map(|m| Money(m).to_string())
            .into();
        assert_eq!(shown, ["7.00", "0.005", "0.004375", "12.50", "0.00"]);
    }

    #[test]
    fn json_numbers_and_strings_read_the_same() {
        let read = |json: &str| serde_json::from_str::<Money>(json);
        assert_eq!(read("25").unwrap(), Money(25_000_000));
        assert_eq!(read("0.1").unwrap(), Money(100_000));
        assert_eq!(read("\"0.00500\"").unwrap(), Money(5_000));
        assert!(read("-2").is_err());
        assert!(read("true").is_err());
        assert!(read("0.0000001").is_err());
        assert_eq!(serde_json::to_string(&Money(5_000)).unwrap(), "\"0.005\"");
    }

    #[test]
    fn sums_saturate_rather_than_wrap() {
        assert_eq!(Money(u64::MAX).times(2), Money(u64::MAX));
        assert_eq!(Money(3).times(4).saturating_add(Money(1)), Money(13));
    }
}
