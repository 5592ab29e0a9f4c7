//! Which numbers exist: libphonenumber's numbering plans, compiled into [`table`] by
//! `tools/phonedata/numbers.py` (docs/architecture.md, "Invariants").
//!
//! [`classify`] tells a [`PhoneNumber`] (E.164 by form) whose calling code, length and digits
//! fall in a range libphonenumber knows from one that cannot be anyone's number
//! (`+1 555 0100`, an area code not in use), and says what kind of line a valid one is, so a
//! landline (which cannot receive SMS) can be reported or skipped. Its answers are
//! libphonenumber's `region_code_for_number` and `number_type` for the same number: the
//! generator checks the table against the library before writing it.
//!
//! libphonenumber states its plans as regular expressions. Running those on 300,000
//! recipients per request, or carrying the `phonenumber` crate (regex and a serialized
//! database) in a bootstrap that had 0.05 MiB left of its budget, would cost what the intake
//! cannot spend; the table holds the same answers as sorted NSN ranges instead. A lookup is a
//! binary search among the 215 calling codes, a scan of the code's few lengths, and a binary
//! search among that length's ranges. The ranges are stored front-coded (about 110 KB) and
//! decoded once, on the first lookup, into two arrays (about 0.2 ms, 360 KB).

use std::{fmt, sync::LazyLock};

use super::phone::PhoneNumber;

#[rustfmt::skip]
mod table;

#[cfg(test)]
#[rustfmt::skip]
mod probes;

pub use table::DATA_VERSION;

/// One calling code of the table.
#[derive(Debug)]
struct CodeEntry {
    code: u16,
    /// Its regions: `table::REGIONS[regions.0..regions.1]`, the main one first.
    regions: (usize, usize),
    /// Its NSN lengths: `table::LENGTHS[lengths.0..lengths.1]`.
    lengths: (usize, usize),
}

/// The ranges of one calling code's numbers of one NSN length.
#[derive(Debug)]
struct LengthEntry {
    digits: usize,
    /// Its ranges' bytes: `table::DATA[bytes.0..bytes.1]`.
    bytes: (usize, usize),
    ranges: usize,
}

/// What kind of line a valid number is: libphonenumber's `PhoneNumberType`, in the table's
/// order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LineType {
    /// A landline: it cannot receive SMS.
    FixedLine,
    Mobile,
    /// Either: libphonenumber cannot tell (every US and Canadian number, for one).
    FixedLineOrMobile,
    TollFree,
    PremiumRate,
    SharedCost,
    Voip,
    PersonalNumber,
    Pager,
    Uan,
    Voicemail,
}

impl LineType {
    const ALL: [LineType; 11] = [
        Self::FixedLine,
        Self::Mobile,
        Self::FixedLineOrMobile,
        Self::TollFree,
        Self::PremiumRate,
        Self::SharedCost,
        Self::Voip,
        Self::PersonalNumber,
        Self::Pager,
        Self::Uan,
        Self::Voicemail,
    ];
}

/// A valid number's region and line type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Numbering {
    /// ISO 3166 code, or `001` for a non-geographic service (`+800`).
    pub region: &'static str,
    pub calling_code: u16,
    pub line_type: LineType,
}

impl Numbering {
    /// A landline only: a number that may be mobile (all of `+1`) is not one.
    pub fn is_landline(&self) -> bool {
        self.line_type == LineType::FixedLine
    }

    /// Why a landline is reported, for API callers: `is a landline in GB (+44)`.
    pub fn landline_note(&self) -> String {
        format!(
            "is a landline in {}: it cannot receive SMS",
            Place::region(self.region, self.calling_code)
        )
    }
}

/// Why a number of E.164 form is no one's number. The message is written for API callers
/// and, like [`super::phone::PhoneNumberError`], follows the field it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotValid {
    #[error("is not a valid number: no country has the calling code it starts with")]
    NoSuchCallingCode,
    #[error(
        "is not a valid number for {place}: {found} digits after +{code}, where numbers there have {expected}"
    )]
    Length {
        place: Place,
        code: u16,
        found: usize,
        expected: String,
    },
    #[error("is not a valid number for {place}: no such area code or number range")]
    NoSuchRange { place: Place },
}

/// A calling code and the region(s) it serves, as a reason names them: `GB (+44)`,
/// `+1 (US, AG, AI and 22 more)`, `+800 (non-geographic)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place(String);

impl Place {
    fn region(region: &str, code: u16) -> Self {
        match region {
            "001" => Self(format!("+{code} (non-geographic)")),
            _ => Self(format!("{region} (+{code})")),
        }
    }

    fn code(entry: &CodeEntry) -> Self {
        let regions = &table::REGIONS[entry.regions.0..entry.regions.1];
        match regions {
            [one] => Self::region(one, entry.code),
            _ if regions.len() <= 4 => Self(format!("+{} ({})", entry.code, regions.join(", "))),
            _ => Self(format!(
                "+{} ({} and {} more)",
                entry.code,
                regions[..3].join(", "),
                regions.len() - 3
            )),
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The table's ranges, decoded: for `table::LENGTHS[i]`, its ranges are
/// `lower[start[i]..start[i + 1]]` (ascending lower bounds as NSN values, the first 0) and
/// `answer` at the same indices (0 invalid, else 1 + region index × 16 + [`LineType`] index).
struct Ranges {
    start: Vec<usize>,
    lower: Vec<u64>,
    answer: Vec<u16>,
}

static RANGES: LazyLock<Ranges> = LazyLock::new(decode);

/// Decodes `table::DATA` (the encoding is `tools/phonedata/numbers.py`'s `encode`).
fn decode() -> Ranges {
    let mut ranges = Ranges {
        start: Vec::with_capacity(table::LENGTHS.len() + 1),
        lower: Vec::with_capacity(table::RANGES),
        answer: Vec::with_capacity(table::RANGES),
    };
    for length in &table::LENGTHS {
        ranges.start.push(ranges.lower.len());
        let data = &table::DATA[length.bytes.0..length.bytes.1];
        let mut at = 0;
        // The previous lower bound's digits (trailing zeros dropped): at most an NSN's.
        let mut digits = [0u8; 16];
        for _ in 0..length.ranges {
            let shared = usize::from(data[at] >> 4);
            let new = usize::from(data[at] & 0x0F);
            at += 1;
            for i in 0..new {
                let byte = data[at + i / 2];
                digits[shared + i] = if i % 2 == 0 { byte >> 4 } else { byte & 0x0F };
            }
            at += new.div_ceil(2);
            let used = shared + new;
            let value = (0..length.digits).fold(0u64, |v, i| {
                v * 10 + u64::from(if i < used { digits[i] } else { 0 })
            });
            let mut answer = u16::from(data[at]);
            at += 1;
            if answer & 0x80 != 0 {
                answer = (answer & 0x7F) | (u16::from(data[at]) << 7);
                at += 1;
            }
            ranges.lower.push(value);
            ranges.answer.push(answer);
        }
    }
    ranges.start.push(ranges.lower.len());
    ranges
}

/// The number's region and line type, or why it is no one's number.
pub fn classify(number: &PhoneNumber) -> Result<Numbering, NotValid> {
    let digits = number.digits().as_bytes();
    // ITU calling codes are prefix-free (no code starts another), so the first 1 to 3 digits
    // that are a code are the number's. A PhoneNumber has at least 8 digits.
    let (entry, nsn) = (1..=3)
        .find_map(|n| {
            let code = digits[..n]
                .iter()
                .fold(0u16, |v, d| v * 10 + u16::from(d - b'0'));
            let i = table::CODES.binary_search_by_key(&code, |c| c.code).ok()?;
            Some((&table::CODES[i], &digits[n..]))
        })
        .ok_or(NotValid::NoSuchCallingCode)?;
    let lengths = &table::LENGTHS[entry.lengths.0..entry.lengths.1];
    let Some(at) = lengths.iter().position(|l| l.digits == nsn.len()) else {
        return Err(NotValid::Length {
            place: Place::code(entry),
            code: entry.code,
            found: nsn.len(),
            expected: listed(lengths.iter().map(|l| l.digits)),
        });
    };
    let ranges = &*RANGES;
    let span = ranges.start[entry.lengths.0 + at]..ranges.start[entry.lengths.0 + at + 1];
    let value = nsn.iter().fold(0u64, |v, d| v * 10 + u64::from(d - b'0'));
    // The first lower bound is 0, so some range holds every value.
    let i = ranges.lower[span.clone()].partition_point(|&lower| lower <= value);
    let answer = ranges.answer[span.start + i.saturating_sub(1)];
    if answer == 0 {
        return Err(NotValid::NoSuchRange {
            place: Place::code(entry),
        });
    }
    let (region, line_type) = (usize::from(answer - 1) / 16, usize::from(answer - 1) % 16);
    Ok(Numbering {
        region: table::REGIONS[entry.regions.0 + region],
        calling_code: entry.code,
        line_type: LineType::ALL[line_type],
    })
}

/// `7, 9 or 10`.
fn listed(lengths: impl Iterator<Item = usize>) -> String {
    let lengths: Vec<String> = lengths.map(|l| l.to_string()).collect();
    match lengths.as_slice() {
        [] => "none of a length E.164 allows".to_owned(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classified(raw: &str) -> Result<Numbering, NotValid> {
        classify(&PhoneNumber::parse(raw).unwrap())
    }

    fn line(raw: &str) -> (&'static str, LineType) {
        let n = classified(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
        (n.region, n.line_type)
    }

    #[test]
    fn valid_numbers_get_their_region_and_line_type() {
        use LineType::*;
        // Numbers libphonenumber's own tests and examples use, with the type it gives them.
        let cases = [
            ("+447400123456", ("GB", Mobile)),
            ("+442071234567", ("GB", FixedLine)),
            ("+4915123456789", ("DE", Mobile)),
            ("+493012345678", ("DE", FixedLine)),
            ("+33612345678", ("FR", Mobile)),
            ("+33123456789", ("FR", FixedLine)),
            // Italy's fixed lines keep their leading 0 in E.164.
            ("+390236618300", ("IT", FixedLine)),
            ("+393123456789", ("IT", Mobile)),
            ("+61412345678", ("AU", Mobile)),
            ("+61212345678", ("AU", FixedLine)),
            ("+448001234567", ("GB", TollFree)),
            ("+80012345678", ("001", TollFree)),
            // +44 is shared: Jersey's mobiles are Jersey's.
            ("+447797123456", ("JE", Mobile)),
        ];
        for (raw, want) in cases {
            assert_eq!(line(raw), want, "{raw}");
        }
    }

    #[test]
    fn us_and_canadian_numbers_are_never_called_landlines() {
        // libphonenumber cannot tell their landlines from mobiles: both are one pattern.
        for raw in ["+14155550123", "+12125550123", "+16135550123"] {
            let n = classified(raw).unwrap();
            assert_eq!(n.line_type, LineType::FixedLineOrMobile, "{raw}");
            assert!(!n.is_landline(), "{raw}");
        }
        assert_eq!(line("+16135550123").0, "CA");
        // Some regions of +1 do tell them apart.
        assert_eq!(line("+18765550123"), ("JM", LineType::Mobile));
        // Toll free is its own type, in the main region.
        assert_eq!(line("+18005550123"), ("US", LineType::TollFree));
    }

    #[test]
    fn only_fixed_lines_are_landlines() {
        assert!(classified("+442071234567").unwrap().is_landline());
        assert!(!classified("+447400123456").unwrap().is_landline());
        assert!(!classified("+448001234567").unwrap().is_landline());
        assert_eq!(
            classified("+442071234567").unwrap().landline_note(),
            "is a landline in GB (+44): it cannot receive SMS"
        );
    }

    #[test]
    fn impossible_numbers_are_rejected_with_the_reason() {
        // An area code of 555 is not in use, nor one starting 0 or 1.
        for raw in ["+15555550100", "+10555550100", "+11555550100"] {
            assert_eq!(
                classified(raw).unwrap_err().to_string(),
                "is not a valid number for +1 (US, AG, AI and 22 more): no such area code or number range",
                "{raw}"
            );
        }
        // `+1 555 0100`: 7 digits where +1 numbers have 10.
        // `+1 555 0100`: +1 has 7-digit numbers (Canada's 310-xxxx), but not this one.
        assert_eq!(
            classified("+15550100").unwrap_err().to_string(),
            "is not a valid number for +1 (US, AG, AI and 22 more): no such area code or number range"
        );
        assert_eq!(
            classified("+123456789").unwrap_err().to_string(),
            "is not a valid number for +1 (US, AG, AI and 22 more): 8 digits after +1, where numbers there have 7 or 10"
        );
        // Ofcom's drama range is reserved, never assigned.
        assert_eq!(
            classified("+447700900123").unwrap_err().to_string(),
            "is not a valid number for +44 (GB, GG, IM, JE): no such area code or number range"
        );
        assert_eq!(
            classified("+4420712345").unwrap_err().to_string(),
            "is not a valid number for +44 (GB, GG, IM, JE): 8 digits after +44, where numbers there have 7, 9 or 10"
        );
        assert_eq!(
            classified("+9991234567").unwrap_err(),
            NotValid::NoSuchCallingCode
        );
    }

    #[test]
    fn the_lookup_gives_libphonenumbers_answers() {
        // Numbers from every calling code and length, and what the Python library said of
        // each when the table was generated.
        assert!(probes::PROBES.len() > 2000);
        for (raw, want) in probes::PROBES {
            let got = classified(raw).ok().map(|n| (n.region, n.line_type));
            let want = want.map(|(region, t)| (region, LineType::ALL[t]));
            assert_eq!(got, want, "{raw}");
        }
    }

    #[test]
    fn every_range_decodes_in_order() {
        let ranges = &*RANGES;
        assert_eq!(ranges.lower.len(), table::RANGES);
        for (i, length) in table::LENGTHS.iter().enumerate() {
            let lower = &ranges.lower[ranges.start[i]..ranges.start[i + 1]];
            assert_eq!(lower.len(), length.ranges);
            assert_eq!(lower.first(), Some(&0), "length {i} starts at 0");
            assert!(lower.windows(2).all(|w| w[0] < w[1]), "length {i} ascends");
            assert!(
                lower.iter().all(|&l| l < 10u64.pow(length.digits as u32)),
                "length {i} fits its digits"
            );
        }
    }
}
