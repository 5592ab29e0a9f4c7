//! Deliberate disorder: Plivo promises no order for message uuids (nor for reports on the
//! wire), and a client that relies on one should fail here rather than in production.

use rand::seq::SliceRandom;

/// `items` in a random order that is never the original one (when there are two or more),
/// so order-dependence fails every time instead of now and then.
pub fn out_of_order<T>(items: Vec<T>) -> Vec<T> {
    if items.len() < 2 {
        return items;
    }
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.shuffle(&mut rand::rng());
    if order.iter().enumerate().all(|(i, &j)| i == j) {
        order.reverse();
    }
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|i| slots.get_mut(i).and_then(Option::take))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_every_item_and_never_the_original_order() {
        for n in 2..8 {
            let items: Vec<u32> = (0..n).collect();
            for _ in 0..50 {
                let shuffled = out_of_order(items.clone());
                assert_ne!(shuffled, items);
                let mut sorted = shuffled.clone();
                sorted.sort();
                assert_eq!(sorted, items);
            }
        }
        assert_eq!(out_of_order(vec![1]), [1]);
        assert!(out_of_order(Vec::<u8>::new()).is_empty());
    }
}
