//! Who a message is from (docs/api.md, "Senders"): one of the account's numbers, an
//! alphanumeric sender ID, or a Plivo Powerpack (a pool of numbers that Plivo picks from,
//! keeping each recipient on the same one). The API takes all three in one field, `from`,
//! because their forms cannot be mistaken for each other: a number starts with `+`, a
//! Powerpack is a UUID (longer than any sender ID), and anything else must be a sender ID.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::phone::{PhoneNumber, PhoneNumberError};

/// Why a `from` is none of the three. The message is written for API callers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SenderError {
    #[error("must not be empty")]
    Empty,
    #[error("is a number but not E.164: it {0}")]
    Number(PhoneNumberError),
    #[error(
        "must be an E.164 number (+14155550100), a sender ID of 1 to 11 letters, digits and \
         spaces with at least one letter (Acme), or a Powerpack's UUID; found {found} characters"
    )]
    TooLong { found: usize },
    #[error(
        "as a sender ID may hold only letters (A-Z, a-z), digits and spaces, with at least one \
         letter and no space at either end"
    )]
    Unrecognised,
}

/// A message's sender.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Sender {
    /// One of the account's numbers.
    Number(PhoneNumber),
    /// A name shown instead of a number: 1 to 11 ASCII letters, digits and spaces, at least
    /// one letter (what carriers accept). Not allowed towards the US and Canada.
    Alphanumeric(String),
    /// A Powerpack's UUID, lower-case and hyphenated: Plivo picks the number.
    Powerpack(String),
}

/// Regions whose carriers deliver no message from a sender ID (Plivo refuses them).
pub const NUMBER_ONLY_REGIONS: [&str; 2] = ["US", "CA"];

impl Sender {
    /// The longest sender ID carriers take.
    pub const SENDER_ID_MAX: usize = 11;

    pub fn parse(raw: &str) -> Result<Self, SenderError> {
        if raw.is_empty() {
            return Err(SenderError::Empty);
        }
        if raw.starts_with('+') {
            return PhoneNumber::parse(raw)
                .map(Self::Number)
                .map_err(SenderError::Number);
        }
        let length = raw.chars().count();
        if length > Self::SENDER_ID_MAX {
            return uuid::Uuid::try_parse(raw)
                .map(|uuid| Self::Powerpack(uuid.hyphenated().to_string()))
                .map_err(|_| SenderError::TooLong { found: length });
        }
        let allowed = raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ');
        let has_letter = raw.bytes().any(|b| b.is_ascii_alphabetic());
        if !allowed || !has_letter || raw.starts_with(' ') || raw.ends_with(' ') {
            return Err(SenderError::Unrecognised);
        }
        Ok(Self::Alphanumeric(raw.to_owned()))
    }

    /// As the API shows and the store keeps it: the number with its `+`, the ID, the UUID.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Number(number) => number.as_str(),
            Self::Alphanumeric(id) | Self::Powerpack(id) => id,
        }
    }

    /// Whether a message from this sender can reach a number of `region` (ISO 3166):
    /// a sender ID cannot reach the US or Canada.
    pub fn reaches(&self, region: &str) -> bool {
        !matches!(self, Self::Alphanumeric(_)) || !NUMBER_ONLY_REGIONS.contains(&region)
    }

    /// Why a message from this sender cannot reach a number of `region`, if it cannot;
    /// written to follow the recipient's field or row.
    pub fn cannot_reach(&self, region: &str) -> Option<String> {
        (!self.reaches(region)).then(|| {
            format!(
                "is in {region}, where carriers take no message from a sender ID ({self}): \
                 send from a number or a Powerpack"
            )
        })
    }

    /// Plivo's `src`: the number's digits, or the sender ID; none for a Powerpack.
    pub fn plivo_src(&self) -> Option<&str> {
        match self {
            Self::Number(number) => Some(number.digits()),
            Self::Alphanumeric(id) => Some(id),
            Self::Powerpack(_) => None,
        }
    }

    /// Plivo's `powerpack_uuid`, for a Powerpack.
    pub fn powerpack_uuid(&self) -> Option<&str> {
        match self {
            Self::Powerpack(uuid) => Some(uuid),
            _ => None,
        }
    }

    /// What a message's `from` shows: the sender asked for, except that a Powerpack's
    /// message shows the number Plivo picked once a delivery report has named it.
    pub fn shown(requested: Option<Sender>, reported: Option<&PhoneNumber>) -> Option<Sender> {
        match (requested, reported) {
            (Some(Self::Powerpack(_)) | None, Some(number)) => Some(Self::Number(number.clone())),
            (requested, _) => requested,
        }
    }
}

impl From<PhoneNumber> for Sender {
    fn from(number: PhoneNumber) -> Self {
        Self::Number(number)
    }
}

impl fmt::Display for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A number is masked as in a log line; a sender ID or Powerpack is no one's personal data.
impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(number) => write!(f, "Sender({number:?})"),
            Self::Alphanumeric(id) => write!(f, "Sender({id:?})"),
            Self::Powerpack(uuid) => write!(f, "Sender(powerpack {uuid})"),
        }
    }
}

impl Serialize for Sender {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Sender {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "d35f2e82-d387-427f-8594-6fa07613c43a";

    #[test]
    fn a_plus_makes_a_number() {
        let sender = Sender::parse("+14155550100").unwrap();
        assert_eq!(
            sender,
            Sender::Number(PhoneNumber::parse("+14155550100").unwrap())
        );
        assert_eq!(sender.plivo_src(), Some("14155550100"));
        assert_eq!(sender.powerpack_uuid(), None);
        assert_eq!(
            Sender::parse("+1415"),
            Err(SenderError::Number(PhoneNumberError::Length(4)))
        );
    }

    #[test]
    fn sender_ids_are_one_to_eleven_letters_digits_and_spaces_with_a_letter() {
        for ok in ["A", "Acme", "ACME Alerts", "Shop24", "7Eleven"] {
            let sender = Sender::parse(ok).unwrap();
            assert_eq!(sender, Sender::Alphanumeric(ok.into()), "{ok}");
            assert_eq!(sender.plivo_src(), Some(ok));
        }
        for bad in [
            "12345",
            "Acme-Alerts",
            "Ac.me",
            " Acme",
            "Acme ",
            "Café",
            "   ",
        ] {
            assert_eq!(Sender::parse(bad), Err(SenderError::Unrecognised), "{bad}");
        }
        assert_eq!(
            Sender::parse("Acme Alerts!"),
            Err(SenderError::TooLong { found: 12 })
        );
        assert_eq!(Sender::parse(""), Err(SenderError::Empty));
    }

    #[test]
    fn a_uuid_names_a_powerpack_in_its_canonical_form() {
        let sender = Sender::parse(&UUID.to_uppercase()).unwrap();
        assert_eq!(sender, Sender::Powerpack(UUID.into()));
        assert_eq!(sender.plivo_src(), None);
        assert_eq!(sender.powerpack_uuid(), Some(UUID));
        assert_eq!(sender.as_str(), UUID);
    }

    #[test]
    fn only_a_sender_id_is_kept_from_the_us_and_canada() {
        let id = Sender::parse("Acme").unwrap();
        assert!(!id.reaches("US") && !id.reaches("CA"));
        assert!(id.reaches("GB") && id.reaches("001"));
        for other in ["+14155550100", UUID] {
            let sender = Sender::parse(other).unwrap();
            assert!(sender.reaches("US") && sender.reaches("CA"), "{other}");
        }
    }

    #[test]
    fn a_powerpack_message_shows_the_number_its_report_names() {
        let picked = PhoneNumber::parse("+14155550177").unwrap();
        let pack = Sender::parse(UUID).unwrap();
        let id = Sender::parse("Acme").unwrap();
        assert_eq!(
            Sender::shown(Some(pack.clone()), Some(&picked)),
            Some(Sender::Number(picked.clone()))
        );
        assert_eq!(Sender::shown(Some(pack.clone()), None), Some(pack));
        assert_eq!(Sender::shown(Some(id.clone()), Some(&picked)), Some(id));
        assert_eq!(
            Sender::shown(None, Some(&picked)),
            Some(Sender::Number(picked))
        );
    }

    #[test]
    fn serde_is_the_string_and_debug_masks_a_number() {
        let sender = Sender::parse("+14155550100").unwrap();
        assert_eq!(serde_json::to_string(&sender).unwrap(), "\"+14155550100\"");
        assert_eq!(
            serde_json::from_str::<Sender>("\"Acme\"").unwrap(),
            Sender::Alphanumeric("Acme".into())
        );
        assert!(!format!("{sender:?}").contains("5550100"));
    }
}
