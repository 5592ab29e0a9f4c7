//! The domain: numbers, message text, bulk planning and delivery status. Nothing here knows
//! AWS, HTTP or Plivo's wire format, so every rule can be tested with plain values.

pub mod bulk;
pub mod estimate;
pub mod ids;
pub mod lookalike;
pub mod money;
pub mod numbering;
pub mod phone;
pub mod plan;
pub mod preview;
pub mod provider;
pub mod quiet_hours;
pub mod rows;
pub mod sender;
pub mod start;
pub mod status;
pub mod template;
pub mod text;
pub mod validity;
pub mod zones;
