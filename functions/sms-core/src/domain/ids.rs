//! The service's identifiers. Both are UUIDs in their textual form, checked once where they
//! come in (a path, a callback URL, a queue message) and carried typed from there on, so a
//! store or a log never sees an id that was not checked.
//!
//! The string is kept as given, not re-formatted: an id is looked up as it was handed out.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, de};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a UUID")]
pub struct NotAnId;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: &str) -> Result<Self, NotAnId> {
                uuid::Uuid::parse_str(value)
                    .map(|_| Self(value.to_owned()))
                    .map_err(|_| NotAnId)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<uuid::Uuid> for $name {
            fn from(id: uuid::Uuid) -> Self {
                Self(id.to_string())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let value = String::deserialize(d)?;
                Self::parse(&value).map_err(|e| de::Error::custom(format!("{value:?} {e}")))
            }
        }
    };
}

uuid_id!(
    /// A bulk job's id: derived from the request's `Idempotency-Key` (so a retry names the
    /// same job) or random.
    JobId
);

uuid_id!(
    /// A message's id: Plivo's `message_uuid`, as its API answered and its reports repeat.
    MessageUuid
);

impl JobId {
    /// The job of a keyed request: the same key always names the same job.
    pub fn derived(name: &str) -> Self {
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).into()
    }

    pub fn random() -> Self {
        uuid::Uuid::new_v4().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuids_kept_as_given() {
        let upper = "6F1C7D1E-0000-4000-8000-000000000000";
        assert_eq!(JobId::parse(upper).unwrap().as_str(), upper);
        assert_eq!(MessageUuid::parse("nope"), Err(NotAnId));
        assert!(JobId::parse("").is_err());
        assert_eq!(JobId::derived("k"), JobId::derived("k"));
        assert_ne!(JobId::derived("k"), JobId::derived("l"));
        assert_ne!(JobId::random(), JobId::random());
    }

    #[test]
    fn a_malformed_id_does_not_deserialize() {
        assert!(serde_json::from_str::<JobId>("\"job-1\"").is_err());
        let id: JobId = serde_json::from_str("\"6f1c7d1e-0000-4000-8000-000000000000\"").unwrap();
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"6f1c7d1e-0000-4000-8000-000000000000\""
        );
    }
}
