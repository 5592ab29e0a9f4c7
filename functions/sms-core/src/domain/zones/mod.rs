//! The time zones a recipient may be in, inferred from the number alone: libphonenumber's
//! time-zone prefix map, kept as the generated `table.rs` (tools/phonedata/zones.py), searched
//! for the longest prefix of the number's E.164 digits.
//!
//! A prefix may name several zones: an area code that spans a zone line (+1 208 5: Boise and
//! Los Angeles), or a country whose number says nothing finer (+7 with no known area: all of
//! Russia's and Kazakhstan's zones). Quiet hours then hold in every one of them
//! (`quiet_hours`), the most restrictive reading. Every geographic calling code has a
//! country-level entry in the data, so a number of a known country always gets at least its
//! country's zones.
//!
//! **A number the data places nowhere** (the non-geographic calling codes: +800 freephone, +808,
//! +870 Inmarsat, +878, +881 satellite, +882/+883 international networks, +888, +979; or a code
//! no country has) gets [`ZoneWindow::UNKNOWN`], whose only zone is UTC. Such a recipient can be
//! anywhere: the most restrictive reading (every zone on Earth) would leave no hour outside any
//! quiet hours, so those recipients would never be sent, which nobody asking for quiet hours
//! means; ignoring quiet hours for them would send at any hour, which is what quiet hours are
//! asked to prevent. UTC is a fixed, stated reference the job status can name, and
//! [`ZoneWindow::is_unknown`] lets the caller count and report those recipients.

mod table;

use chrono_tz::Tz;

use crate::domain::phone::PhoneNumber;

pub use table::DATA_VERSION;

/// The set of zones a group of recipients shares: the key the intake groups recipients by, so
/// that one group waiting for its window never holds back another. Two numbers have the same
/// key exactly when the data gives them the same set of zones.
///
/// A `u16` index into the generated table: cheap to hash and copy. The index is a position in
/// one version of the table ([`DATA_VERSION`]), so it means the same set only within that
/// version: keep it in memory or beside the data version, and recompute it from the numbers
/// (or keep the zone names) for anything stored across deploys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ZoneWindow(u16);

/// The zones of [`ZoneWindow::UNKNOWN`] (see the module docs for why UTC).
static UNKNOWN_ZONES: [Tz; 1] = [Tz::UTC];

impl ZoneWindow {
    /// Numbers the data places in no zone; their quiet hours are kept in UTC.
    pub const UNKNOWN: ZoneWindow = ZoneWindow(u16::MAX);

    /// The zones of the set, sorted by name, never empty.
    pub fn zones(self) -> &'static [Tz] {
        table::ZONE_SETS
            .get(usize::from(self.0))
            .copied()
            .unwrap_or(&UNKNOWN_ZONES)
    }

    /// Whether the data placed the numbers of this key nowhere (their quiet hours are kept in
    /// UTC): worth telling the job's owner.
    pub fn is_unknown(self) -> bool {
        self == Self::UNKNOWN
    }

    /// The key as a small integer, for a map keyed by it or a log line.
    pub fn id(self) -> u16 {
        self.0
    }

    /// The key of an [`id`](Self::id) made with the same [`DATA_VERSION`]; None if this table
    /// has no such set.
    pub fn from_id(id: u16) -> Option<Self> {
        let key = Self(id);
        (key.is_unknown() || usize::from(id) < table::ZONE_SETS.len()).then_some(key)
    }
}

/// The zone-set key of a number: its longest prefix in the data, or [`ZoneWindow::UNKNOWN`].
pub fn window_key(number: &PhoneNumber) -> ZoneWindow {
    let digits = number.digits().as_bytes();
    // Longest first: at most LONGEST_PREFIX binary searches of the ~3,200 prefixes.
    let mut value = 0u32;
    let mut prefixes = [0u32; table::LONGEST_PREFIX];
    for (length, digit) in digits.iter().take(table::LONGEST_PREFIX).enumerate() {
        value = value * 10 + u32::from(digit - b'0');
        prefixes[length] = value;
    }
    let tried = digits.len().min(table::LONGEST_PREFIX);
    prefixes[..tried]
        .iter()
        .rev()
        .find_map(|prefix| table::PREFIXES.binary_search(prefix).ok())
        .and_then(|at| table::PREFIX_SETS.get(at))
        .map_or(ZoneWindow::UNKNOWN, |&set| ZoneWindow(set))
}

/// Cuts `numbers` into batches of at most `batch_size` whose recipients share their zones, so
/// that a batch waiting for its window never holds back a recipient whose window is open.
/// Groups come in the order of their first number, numbers in their given order.
pub fn batch_by_window(numbers: Vec<PhoneNumber>, batch_size: usize) -> Vec<Vec<PhoneNumber>> {
    let mut order: Vec<ZoneWindow> = Vec::new();
    let mut groups: std::collections::HashMap<ZoneWindow, Vec<PhoneNumber>> =
        std::collections::HashMap::new();
    for number in numbers {
        let key = window_key(&number);
        groups
            .entry(key)
            .or_insert_with(|| {
                order.push(key);
                Vec::new()
            })
            .push(number);
    }
    let size = batch_size.max(1);
    let mut batches = Vec::new();
    for key in order {
        let mut group = groups.remove(&key).unwrap_or_default().into_iter();
        loop {
            let batch: Vec<PhoneNumber> = group.by_ref().take(size).collect();
            if batch.is_empty() {
                break;
            }
            batches.push(batch);
        }
    }
    batches
}

/// The zones a number's recipient may be in (see the module docs for the rules).
pub fn zones_of(number: &PhoneNumber) -> &'static [Tz] {
    window_key(number).zones()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zones(number: &str) -> Vec<&'static str> {
        let number = PhoneNumber::parse(number).unwrap();
        zones_of(&number).iter().map(|tz| tz.name()).collect()
    }

    #[test]
    fn batches_by_window_keep_each_zone_set_apart_and_in_order() {
        let numbers: Vec<PhoneNumber> = [
            "+12125550101",
            "+442079460001",
            "+12125550102",
            "+12125550103",
            "+442079460002",
            "+14155550101",
        ]
        .iter()
        .map(|n| PhoneNumber::parse(n).unwrap())
        .collect();
        let batches = batch_by_window(numbers, 2);
        let batches: Vec<Vec<&str>> = batches
            .iter()
            .map(|b| b.iter().map(PhoneNumber::as_str).collect())
            .collect();
        assert_eq!(
            batches,
            [
                vec!["+12125550101", "+12125550102"],
                vec!["+12125550103"],
                vec!["+442079460001", "+442079460002"],
                vec!["+14155550101"],
            ]
        );
    }

    #[test]
    fn a_prefix_with_one_zone_gives_that_zone() {
        assert_eq!(zones("+12125550100"), ["America/New_York"]);
        assert_eq!(zones("+14155550100"), ["America/Los_Angeles"]);
        assert_eq!(zones("+442079460000"), ["Europe/London"]);
        assert_eq!(zones("+61291234567"), ["Australia/Sydney"]);
        assert_eq!(zones("+73832123456"), ["Asia/Novosibirsk"]);
        assert_eq!(zones("+4930123456"), ["Europe/Berlin"]);
    }

    #[test]
    fn a_prefix_across_a_zone_line_gives_every_zone_of_it() {
        assert_eq!(
            zones("+12085001234"),
            ["America/Boise", "America/Los_Angeles"]
        );
        // A longer prefix inside the same area code is more precise and wins.
        assert_eq!(zones("+12082011234"), ["America/Denver"]);
        assert_eq!(
            zones("+447700900123"),
            ["Europe/Guernsey", "Europe/Isle_of_Man", "Europe/London"]
        );
    }

    #[test]
    fn a_number_known_only_by_its_country_gets_all_of_the_countrys_zones() {
        let russia = zones("+71234567890");
        assert_eq!(russia.len(), 16, "{russia:?}");
        for zone in ["Europe/Moscow", "Asia/Vladivostok", "Asia/Anadyr"] {
            assert!(russia.contains(&zone), "{zone} in {russia:?}");
        }
        // +1 208 1: no prefix of Idaho's area code covers it, so all of +1's zones.
        let nanp = zones("+12081001234");
        assert!(nanp.len() > 30, "{nanp:?}");
        assert!(nanp.contains(&"Pacific/Guam") && nanp.contains(&"America/St_Johns"));
    }

    #[test]
    fn a_number_the_data_places_nowhere_is_unknown_and_kept_in_utc() {
        for number in ["+80012345678", "+881612345678", "+28123456789"] {
            let key = window_key(&PhoneNumber::parse(number).unwrap());
            assert!(key.is_unknown(), "{number}");
            assert_eq!(zones(number), ["UTC"], "{number}");
        }
        assert!(!window_key(&PhoneNumber::parse("+4930123456").unwrap()).is_unknown());
    }

    #[test]
    fn numbers_with_the_same_zones_share_a_key_and_others_do_not() {
        let key = |n: &str| window_key(&PhoneNumber::parse(n).unwrap());
        assert_eq!(key("+12125550100"), key("+17185550100"), "both New York");
        assert_ne!(key("+12125550100"), key("+14155550100"));
        assert_eq!(
            key("+12085001234"),
            key("+12086001234"),
            "both Boise and LA"
        );
        let id = key("+12085001234").id();
        assert_eq!(ZoneWindow::from_id(id), Some(key("+12085001234")));
        assert_eq!(
            ZoneWindow::from_id(ZoneWindow::UNKNOWN.id()),
            Some(ZoneWindow::UNKNOWN)
        );
        let past_the_table = u16::try_from(table::ZONE_SETS.len()).unwrap();
        assert_eq!(ZoneWindow::from_id(past_the_table), None);
    }

    #[test]
    fn the_table_is_sorted_distinct_and_consistent() {
        assert_eq!(table::PREFIXES.len(), table::PREFIX_SETS.len());
        assert!(table::PREFIXES.windows(2).all(|w| w[0] < w[1]));
        assert!(
            table::PREFIX_SETS
                .iter()
                .all(|&set| usize::from(set) < table::ZONE_SETS.len())
        );
        for (i, set) in table::ZONE_SETS.iter().enumerate() {
            assert!(!set.is_empty(), "set {i}");
            assert!(
                set.windows(2).all(|w| w[0].name() < w[1].name()),
                "set {i} is sorted and has no zone twice"
            );
            assert!(!table::ZONE_SETS[..i].contains(set), "set {i} appears once");
        }
        assert!(
            table::PREFIXES
                .iter()
                .all(|&p| p.to_string().len() <= table::LONGEST_PREFIX)
        );
        assert!(DATA_VERSION.starts_with("libphonenumber "));
    }
}
