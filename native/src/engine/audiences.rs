//! How many customers of a partition hold each value of each family: the worker's audience-size
//! gauge. Kept as changes happen (each change's old value loses one, its new value gains one),
//! counted afresh when a partition is loaded, and dropped with it, so a scrape costs nothing but
//! reading these counts.

use super::state::CustomerState;
use crate::jsonfmt::Scalar;

/// Per family (the pack's order), each value held and by how many customers.
#[derive(Debug, Clone, Default)]
pub struct Audiences {
    counts: Vec<Vec<(Scalar, i64)>>,
}

impl Audiences {
    /// Move `value`'s count by `delta`; a value no customer holds any more is dropped, so free-text
    /// values that come and go (a `top` family's keys) do not pile up.
    fn add(&mut self, family: usize, value: &Scalar, delta: i64) {
        if self.counts.len() <= family {
            self.counts.resize(family + 1, Vec::new());
        }
        let values = &mut self.counts[family];
        match values.iter().position(|(known, _)| known == value) {
            Some(at) => {
                values[at].1 += delta;
                if values[at].1 == 0 {
                    values.swap_remove(at);
                }
            }
            None => values.push((value.clone(), delta)),
        }
    }

    /// Changes recorded as (family, old, new); an undecided family's old value is null.
    pub fn apply(&mut self, transitions: &[(usize, Scalar, Scalar)]) {
        for (family, old, new) in transitions {
            if *old != Scalar::Null {
                self.add(*family, old, -1);
            }
            self.add(*family, new, 1);
        }
    }

    /// A customer's decided tags join (+1) or leave (-1) the counts.
    pub fn count(&mut self, state: &CustomerState, sign: i64) {
        for (family, tag) in state.tags.iter().enumerate() {
            if let Some(value) = tag {
                self.add(family, value, sign);
            }
        }
    }

    /// (family, value, customers) with customers > 0.
    pub fn sizes(&self) -> impl Iterator<Item = (usize, &Scalar, i64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .flat_map(|(family, values)| values.iter().map(move |(value, n)| (family, value, *n)))
            .filter(|(_, _, n)| *n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: &str) -> Scalar {
        Scalar::Str(value.to_owned())
    }

    #[test]
    fn a_change_moves_one_customer_from_its_old_value_to_its_new_one() {
        let mut audiences = Audiences::default();
        audiences.apply(&[(1, Scalar::Null, text("new")), (1, Scalar::Null, text("new"))]);
        audiences.apply(&[(1, text("new"), text("active"))]);
        let sizes: Vec<_> = audiences.sizes().collect();
        assert_eq!(sizes, [(1, &text("new"), 1), (1, &text("active"), 1)]);
        audiences.apply(&[(1, text("new"), text("active"))]);
        assert_eq!(
            audiences.counts[1],
            [(text("active"), 2)],
            "a value nobody holds is dropped"
        );
        audiences.apply(&[(1, text("active"), text("new"))]);
        let mut state = CustomerState::new(2);
        state.tags[1] = Some(text("active"));
        audiences.count(&state, -1);
        assert_eq!(audiences.sizes().collect::<Vec<_>>(), [(1, &text("new"), 1)]);
    }
}
