//! Offsets stored in the consumer's own transaction. Committing offsets to Kafka after applying
//! leaves a window where a crash applies a message twice, and committing before loses it; a
//! consumer whose state is in a database closes both by storing each partition's next offset in
//! the transaction that applies the message, and by starting each partition there when it is
//! assigned ([`crate::kafka::StartAtStoredOffsets`]). [`consume_in`] is that protocol; the
//! table is yours ([`OffsetStore`] on your connection type: three statements, see
//! directory-store's `apply.rs`, whose table is
//! `consumed_offsets(topic, kafka_partition, next_offset, PRIMARY KEY (topic, kafka_partition))`).

/// Where a message is: its topic, partition and offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
}

/// The next offset to consume per partition, in the store of a consumer (`C` is its connection
/// or transaction).
pub trait OffsetStore<C: ?Sized> {
    type Error;

    /// The stored next offset of a partition; none when nothing of it was consumed.
    fn next_offset(&self, conn: &mut C, topic: &str, partition: i32) -> Result<Option<i64>, Self::Error>;

    /// Stores a partition's next offset (insert or update).
    fn store_next_offset(&self, conn: &mut C, topic: &str, partition: i32, next: i64) -> Result<(), Self::Error>;

    /// The stored next offset of every partition of `topic`: where each starts when assigned.
    fn stored_offsets(&self, conn: &mut C, topic: &str) -> Result<Vec<(i32, i64)>, Self::Error>;
}

/// What [`consume_in`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consumed<T> {
    /// Applied (or set aside: whatever `apply` did), and the next offset stored.
    Done(T),
    /// The offset is before the stored next one: consumed before (a redelivery after a restart
    /// or a rebalance); nothing was done.
    Before,
}

/// Consumes the message at `position` in the caller's transaction `conn`: skips it when its
/// offset was consumed before; otherwise runs `apply` and stores the partition's next offset.
/// When `apply` fails nothing is stored, and the caller's transaction rolls back.
pub fn consume_in<C: ?Sized, S: OffsetStore<C>, T>(
    store: &S,
    conn: &mut C,
    position: Position<'_>,
    apply: impl FnOnce(&mut C) -> Result<T, S::Error>,
) -> Result<Consumed<T>, S::Error> {
    let next = store.next_offset(conn, position.topic, position.partition)?;
    if next.is_some_and(|next| position.offset < next) {
        return Ok(Consumed::Before);
    }
    let done = apply(conn)?;
    store.store_next_offset(conn, position.topic, position.partition, position.offset + 1)?;
    Ok(Consumed::Done(done))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// A store in a map: the "connection" is the map.
    struct InMemory;

    type Table = HashMap<(String, i32), i64>;

    impl OffsetStore<Table> for InMemory {
        type Error = String;

        fn next_offset(&self, conn: &mut Table, topic: &str, partition: i32) -> Result<Option<i64>, String> {
            Ok(conn.get(&(topic.to_owned(), partition)).copied())
        }

        fn store_next_offset(&self, conn: &mut Table, topic: &str, partition: i32, next: i64) -> Result<(), String> {
            conn.insert((topic.to_owned(), partition), next);
            Ok(())
        }

        fn stored_offsets(&self, conn: &mut Table, topic: &str) -> Result<Vec<(i32, i64)>, String> {
            Ok(conn.iter().filter(|((t, _), _)| t == topic).map(|((_, p), n)| (*p, *n)).collect())
        }
    }

    fn at(offset: i64) -> Position<'static> {
        Position { topic: "t", partition: 0, offset }
    }

    #[test]
    fn an_offset_is_consumed_once_and_failures_store_nothing() {
        let mut table = Table::new();
        let mut applied = Vec::new();
        let mut consume = |table: &mut Table, offset: i64, fail: bool| {
            consume_in(&InMemory, table, at(offset), |_| {
                if fail {
                    return Err("refused".to_owned());
                }
                applied.push(offset);
                Ok(offset)
            })
        };
        assert_eq!(consume(&mut table, 4, false), Ok(Consumed::Done(4)));
        assert_eq!(consume(&mut table, 4, false), Ok(Consumed::Before), "a redelivery");
        assert_eq!(consume(&mut table, 3, false), Ok(Consumed::Before));
        assert_eq!(consume(&mut table, 5, true), Err("refused".to_owned()));
        assert_eq!(InMemory.stored_offsets(&mut table, "t"), Ok(vec![(0, 5)]), "the failure stored nothing");
        assert_eq!(consume(&mut table, 5, false), Ok(Consumed::Done(5)));
        assert_eq!(applied, vec![4, 5]);
    }
}
