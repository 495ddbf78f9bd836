//! The per-track parts of one Enhanced RTMP message. Nearly every message carries one track
//! (every message that is not multitrack, and a multitrack OneTrack): that one is held inline,
//! so parsing a message allocates nothing; several tracks are held in a `Vec`.

use std::ops::Deref;

/// One item per track of a message, in the message's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PerTrack<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> PerTrack<T> {
    /// Adds the next track's item.
    pub fn push(self, item: T) -> Self {
        match self {
            Self::One(first) => Self::Many(vec![first, item]),
            Self::Many(mut all) => {
                all.push(item);
                Self::Many(all)
            }
        }
    }

    /// The items mapped by `f`, in order; the first error stops.
    pub fn try_map<U, E>(self, mut f: impl FnMut(T) -> Result<U, E>) -> Result<PerTrack<U>, E> {
        Ok(match self {
            Self::One(t) => PerTrack::One(f(t)?),
            Self::Many(all) => PerTrack::Many(all.into_iter().map(f).collect::<Result<_, E>>()?),
        })
    }
}

impl<T> Deref for PerTrack<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        match self {
            Self::One(t) => std::slice::from_ref(t),
            Self::Many(all) => all,
        }
    }
}

impl<'a, T> IntoIterator for &'a PerTrack<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_inline_then_many_in_order() {
        let one = PerTrack::One(1);
        assert_eq!(&*one, &[1]);
        let three = one.push(2).push(3);
        assert_eq!(&*three, &[1, 2, 3]);
        let doubled: Result<PerTrack<i32>, ()> = three.try_map(|x| Ok(x * 2));
        assert_eq!(&*doubled.unwrap(), &[2, 4, 6]);
        let failed: Result<PerTrack<i32>, i32> =
            PerTrack::Many(vec![1, 2, 3]).try_map(|x| if x == 2 { Err(x) } else { Ok(x) });
        assert_eq!(failed, Err(2));
    }
}
