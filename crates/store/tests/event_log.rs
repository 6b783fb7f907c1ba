//! The store side of the event pipeline (issue 12, points 1, 2 and 7) on both stores: every
//! outbox row is in its book's partition, a partition is leased by one relay at a time,
//! marking gives positions in order and the event log reads them back, a lost lease marks
//! nothing, commits wake the relays (of other replicas too), and the janitor prunes what is
//! past its retention.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use bookstore_core::auth::{NewRefreshToken, NewUser, Username};
use bookstore_core::outbox::{partition_of, Outbox, OutboxLeases, PendingEvent, OUTBOX_PARTITIONS};
use bookstore_core::{
    AuthorDraft, Book, BookDraft, CatalogStore, Precondition, RawBook, RawContributor, Role,
};
use bookstore_store::{testing, Store};
use common::ctx;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

contract!(
    every_outbox_row_is_in_its_books_partition,
    a_partition_is_leased_once_at_a_time,
    marking_gives_positions_in_order_and_the_log_reads_them,
    marking_a_published_event_fails_and_marks_nothing,
    a_lease_marks_only_its_own_partition,
    the_janitor_prunes_what_is_past_its_retention,
    commits_and_marks_wake_up,
);

fn isbn(n: u32) -> String {
    let body = format!("979{n:09}");
    let sum: u32 = body
        .bytes()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

fn raw(n: u32) -> RawBook {
    RawBook {
        isbn: Some(isbn(n)),
        title: Some(format!("Book {n}")),
        authors: vec![RawContributor {
            name: Some("Shared Author".into()),
            ..RawContributor::default()
        }],
        ..RawBook::default()
    }
}

async fn create(cat: &Arc<dyn CatalogStore>, n: u32) -> Book {
    cat.create_book(&BookDraft::parse(&raw(n)).unwrap(), &ctx(), None)
        .await
        .unwrap()
}

/// A lease set holding `partitions` (all of them free).
async fn lease(outbox: &Arc<dyn Outbox>, partitions: &[u16]) -> Box<dyn OutboxLeases> {
    let mut set = outbox.leases().await.unwrap();
    assert_eq!(set.try_lease(partitions).await.unwrap(), partitions);
    set
}

/// Leases every partition (none is held elsewhere in these tests).
async fn lease_all(outbox: &Arc<dyn Outbox>) -> Box<dyn OutboxLeases> {
    lease(outbox, &(0..OUTBOX_PARTITIONS).collect::<Vec<_>>()).await
}

/// Tries to lease `partition` now and then for five seconds: PostgreSQL releases a lock when
/// the session ends, just after its connection closes.
async fn lease_soon(outbox: &Arc<dyn Outbox>, partition: u16) -> Option<Box<dyn OutboxLeases>> {
    let mut set = outbox.leases().await.unwrap();
    for _ in 0..50 {
        if set.try_lease(&[partition]).await.unwrap() == [partition] {
            return Some(set);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

async fn every_outbox_row_is_in_its_books_partition(store: &Store) {
    let cat = store.catalog();
    let mut books = Vec::new();
    for n in 0..40 {
        books.push(create(&cat, n).await);
    }
    // A rename writes the books' new versions with one multi-row insert.
    let author = books[0].authors[0].author_id;
    cat.update_author(
        author,
        &AuthorDraft::parse(Some("Renamed Author"), None).unwrap(),
        &ctx(),
    )
    .await
    .unwrap();
    cat.delete_book(books[1].id, &Precondition::Any, &ctx())
        .await
        .unwrap();
    let rows = testing::outbox_partitions(store).await;
    assert_eq!(rows.len(), 40 + 40 + 1);
    let mut used = HashSet::new();
    for (aggregate, partition, position) in rows {
        assert_eq!(partition, i64::from(partition_of(aggregate)));
        assert_eq!(position, None, "nothing is published yet");
        used.insert(partition);
    }
    assert!(used.len() > 4, "books spread over partitions: {used:?}");
}

async fn a_partition_is_leased_once_at_a_time(store: &Store) {
    let outbox = store.outbox();
    let mut first = outbox.leases().await.unwrap();
    assert!(first.held().is_empty());
    assert_eq!(first.try_lease(&[3, 5]).await.unwrap(), [3, 5]);
    // Asking again for what the set holds takes nothing twice.
    assert_eq!(first.try_lease(&[5, 3]).await.unwrap(), Vec::<u16>::new());
    assert_eq!(first.held(), [3, 5]);
    let mut second = outbox.leases().await.unwrap();
    assert_eq!(
        second.try_lease(&[3, 4, 5]).await.unwrap(),
        [4],
        "only the free one"
    );
    assert_eq!(second.held(), [4]);
    drop(first);
    let again = lease_soon(&outbox, 3).await;
    assert!(again.is_some(), "handed back when dropped");
    assert!(second.try_lease(&[OUTBOX_PARTITIONS]).await.is_err());
    assert_eq!(second.held(), [4], "a refused attempt takes nothing");
}

async fn marking_gives_positions_in_order_and_the_log_reads_them(store: &Store) {
    let cat = store.catalog();
    let log = store.event_log();
    assert_eq!(log.head().await.unwrap(), 0);
    assert!(log.read_after(0, 100, &[]).await.unwrap().is_empty());
    let book = create(&cat, 1).await;
    let book = cat
        .replace_book(
            book.id,
            &Precondition::Any,
            &BookDraft::parse(&RawBook {
                title: Some("Second".into()),
                ..raw(1)
            })
            .unwrap(),
            &ctx(),
        )
        .await
        .unwrap();
    for n in 2..6 {
        create(&cat, n).await;
    }
    let outbox = store.outbox();
    assert_eq!(outbox.backlog().await.unwrap().unpublished, 6);
    assert!(outbox.backlog().await.unwrap().oldest.is_some());
    let mut leases = lease_all(&outbox).await;
    let pending = leases.pending(1000).await.unwrap();
    assert_eq!(pending.len(), 6);
    assert!(
        pending.windows(2).all(|w| w[0].seq < w[1].seq),
        "all partitions' events, oldest first"
    );
    assert_eq!(leases.pending(4).await.unwrap(), pending[..4]);
    let mine: Vec<&PendingEvent> = pending
        .iter()
        .filter(|e| e.aggregate_id == book.id.as_uuid())
        .collect();
    assert_eq!(mine.len(), 2);
    assert!(mine[0].seq < mine[1].seq, "a book's events in commit order");
    assert_eq!(mine[0].event_type, "bookstore.book.created");
    assert_eq!(mine[1].payload["data"]["title"], "Second");

    // Marked in two rounds, in the order given: positions 1..=6.
    let ids: Vec<Uuid> = pending.iter().map(|e| e.id).collect();
    let mut given = Vec::new();
    for round in [&ids[..2], &ids[2..]] {
        given.extend(
            round
                .iter()
                .copied()
                .zip(leases.mark_published(round).await.unwrap()),
        );
    }
    let positions: Vec<i64> = given.iter().map(|(_, p)| *p).collect();
    assert_eq!(positions, (1..=6).collect::<Vec<_>>());
    assert_eq!(log.head().await.unwrap(), 6);
    assert_eq!(outbox.backlog().await.unwrap().unpublished, 0);
    assert!(leases.pending(1000).await.unwrap().is_empty());

    let logged = log.read_after(0, 100, &[]).await.unwrap();
    let read: Vec<(Uuid, i64)> = logged.iter().map(|e| (e.id, e.position)).collect();
    assert_eq!(read, given);
    assert!(logged.iter().all(|e| e.published_at >= e.created_at));
    assert_eq!(logged[0].payload["id"], logged[0].id.to_string());
    let after_two = log.read_after(2, 2, &[]).await.unwrap();
    assert_eq!(
        after_two.iter().map(|e| e.position).collect::<Vec<_>>(),
        [3, 4]
    );
    let updates = log
        .read_after(0, 100, &["bookstore.book.updated".to_owned()])
        .await
        .unwrap();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].aggregate_id, book.id.as_uuid());
    let both = log
        .read_after(
            0,
            100,
            &[
                "bookstore.book.updated".to_owned(),
                "bookstore.book.created".to_owned(),
            ],
        )
        .await
        .unwrap();
    assert_eq!(both.len(), 6);
    assert!(log
        .read_after(0, 100, &["bookstore.nothing".to_owned()])
        .await
        .unwrap()
        .is_empty());
}

async fn marking_a_published_event_fails_and_marks_nothing(store: &Store) {
    let cat = store.catalog();
    let book = create(&cat, 1).await;
    cat.replace_book(
        book.id,
        &Precondition::Any,
        &BookDraft::parse(&RawBook {
            title: Some("Again".into()),
            ..raw(1)
        })
        .unwrap(),
        &ctx(),
    )
    .await
    .unwrap();
    let outbox = store.outbox();
    let mut lease = lease(&outbox, &[partition_of(book.id.as_uuid())]).await;
    let events = lease.pending(10).await.unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(lease.mark_published(&[events[0].id]).await.unwrap(), [1]);
    // The first again, with the second: refused whole.
    assert!(lease
        .mark_published(&[events[1].id, events[0].id])
        .await
        .is_err());
    // The same id twice, or one that is not in the outbox: refused too.
    assert!(lease
        .mark_published(&[events[1].id, events[1].id])
        .await
        .is_err());
    assert!(lease.mark_published(&[Uuid::now_v7()]).await.is_err());
    assert_eq!(
        store.event_log().head().await.unwrap(),
        1,
        "no position spent"
    );
    let left = lease.pending(10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, events[1].id);
    assert_eq!(lease.mark_published(&[events[1].id]).await.unwrap(), [2]);
    assert!(lease.mark_published(&[]).await.unwrap().is_empty());
}

async fn a_lease_marks_only_its_own_partition(store: &Store) {
    let cat = store.catalog();
    let book = create(&cat, 1).await;
    let other_book = create(&cat, 2).await;
    let mine = partition_of(book.id.as_uuid());
    let theirs = partition_of(other_book.id.as_uuid());
    let others: Vec<u16> = (0..OUTBOX_PARTITIONS).filter(|&p| p != mine).collect();
    let outbox = store.outbox();
    let mut wrong = lease(&outbox, &others).await;
    let seen = wrong.pending(10).await.unwrap();
    assert!(seen.iter().all(|e| e.aggregate_id != book.id.as_uuid()));
    let mut right = lease(&outbox, &[mine]).await;
    let events = right.pending(10).await.unwrap();
    assert_eq!(events.len(), 1 + usize::from(theirs == mine));
    assert!(wrong.mark_published(&[events[0].id]).await.is_err());
    assert_eq!(right.mark_published(&[events[0].id]).await.unwrap(), [1]);
}

async fn the_janitor_prunes_what_is_past_its_retention(store: &Store) {
    let cat = store.catalog();
    for n in 0..5 {
        create(&cat, n).await;
    }
    let outbox = store.outbox();
    let mut leases = lease_all(&outbox).await;
    // Three of the five published, two still waiting.
    let pending = leases.pending(3).await.unwrap();
    let ids: Vec<Uuid> = pending.iter().map(|e| e.id).collect();
    leases.mark_published(&ids).await.unwrap();
    let retention = chrono::Duration::hours(24);
    let report = store
        .sweep(
            bookstore_store::Retention::outbox(retention),
            chrono::Utc::now(),
        )
        .await
        .unwrap()
        .expect("no other janitor");
    assert_eq!(report.outbox_events, 0, "published within the retention");
    let log = store.event_log();
    assert_eq!(log.pruned_through().await.unwrap(), 0, "nothing pruned yet");
    testing::age_published_events(store, 25).await;
    let report = store
        .sweep(
            bookstore_store::Retention::outbox(retention),
            chrono::Utc::now(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.outbox_events, 3);
    assert_eq!(
        testing::count_rows(store, "outbox").await,
        2,
        "unpublished ones stay"
    );
    assert_eq!(outbox.backlog().await.unwrap().unpublished, 2);
    assert_eq!(
        store.event_log().head().await.unwrap(),
        3,
        "positions are never reused"
    );
    // A reader at a position below 3 lost events (the search index then rebuilds itself).
    assert_eq!(log.pruned_through().await.unwrap(), 3);
    // Publishing the other two: positions 4 and 5 are held, the first three are not.
    let rest: Vec<Uuid> = leases
        .pending(10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(leases.mark_published(&rest).await.unwrap(), [4, 5]);
    assert_eq!(log.pruned_through().await.unwrap(), 3);

    // Spent idempotency keys, expired refresh tokens, old failed sign-ins.
    let users = store.users();
    let user = users
        .create_user(
            &NewUser {
                username: Username::parse("janitor-test").unwrap(),
                role: Role::Staff,
                password_hash: "hash".into(),
            },
            None,
            &bookstore_core::audit::AuditContext::system(),
        )
        .await
        .unwrap();
    let now =
        chrono::DateTime::from_timestamp_micros(chrono::Utc::now().timestamp_micros()).unwrap();
    // The live one first: storing a token prunes its user's expired ones.
    for (hash, expires_at) in [
        ("live", now + chrono::Duration::hours(1)),
        ("expired", now - chrono::Duration::minutes(1)),
    ] {
        users
            .insert_refresh_token(&NewRefreshToken {
                token_hash: hash.into(),
                user_id: user.id,
                family_id: Uuid::now_v7(),
                family_started_at: now - chrono::Duration::hours(2),
                expires_at,
            })
            .await
            .unwrap();
    }
    // The new one first: recording a failure prunes those older than the window before it.
    users.record_login_failure("user:new", now).await.unwrap();
    users
        .record_login_failure("user:old", now - chrono::Duration::hours(1))
        .await
        .unwrap();
    let draft = BookDraft::parse(&raw(99)).unwrap();
    let request = bookstore_core::IdempotencyRequest {
        scope: "books".into(),
        key: "k-1".into(),
        fingerprint: "f".into(),
    };
    cat.create_book(&draft, &ctx(), Some(&request))
        .await
        .unwrap();
    testing::age_idempotency_keys(store, 25).await;
    let report = store
        .sweep(
            bookstore_store::Retention::outbox(retention),
            chrono::Utc::now(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.idempotency_keys, 1);
    assert_eq!(report.refresh_tokens, 1);
    assert_eq!(report.login_failures, 1);
    assert_eq!(testing::count_rows(store, "idempotency_keys").await, 0);
    assert_eq!(testing::count_rows(store, "refresh_tokens").await, 1);
    assert_eq!(testing::count_rows(store, "login_failures").await, 1);
    assert_eq!(report.total(), 3 + report.trusted_devices);
}

async fn commits_and_marks_wake_up(store: &Store) {
    let mut wakeups = store.wakeups();
    // On PostgreSQL the listener starts with the first call; it wakes everyone once it
    // listens (for what it may have missed), which is let pass here.
    tokio::time::sleep(Duration::from_millis(300)).await;
    wakeups.outbox.borrow_and_update();
    let cat = store.catalog();
    let book = create(&cat, 1).await;
    tokio::time::timeout(Duration::from_secs(2), wakeups.outbox.changed())
        .await
        .expect("a commit wakes the relay")
        .unwrap();
    let outbox = store.outbox();
    let mut lease = lease(&outbox, &[partition_of(book.id.as_uuid())]).await;
    let events = lease.pending(10).await.unwrap();
    lease.mark_published(&[events[0].id]).await.unwrap();
    tokio::time::timeout(
        Duration::from_secs(2),
        wakeups.head.wait_for(|head| *head >= 1),
    )
    .await
    .expect("marking announces the new head")
    .unwrap();
}

/// A relay whose session ended (killed, cut off) has lost its leases: another relay takes the
/// partition over, and the old lease can neither read nor mark.
#[tokio::test]
async fn postgres_a_lost_lease_cannot_mark() {
    use sqlx::Connection;
    let harness = common::Harness::postgres().await;
    let store = &harness.store;
    let cat = store.catalog();
    let book = create(&cat, 1).await;
    let partition = partition_of(book.id.as_uuid());
    let outbox = store.outbox();
    let mut old = lease(&outbox, &[partition]).await;
    let events = old.pending(10).await.unwrap();
    assert_eq!(events.len(), 1);

    let mut admin = sqlx::PgConnection::connect(harness.pg_url().unwrap())
        .await
        .unwrap();
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND classid = 1651208812 AND objid = $1::oid AND objsubid = 2 AND granted",
    )
    .bind(i64::from(partition))
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(killed, [true]);

    let mut new = lease_soon(&outbox, partition)
        .await
        .expect("the partition is free again");
    assert!(old.mark_published(&[events[0].id]).await.is_err());
    assert_eq!(store.event_log().head().await.unwrap(), 0);
    assert_eq!(new.pending(10).await.unwrap(), events);
    assert_eq!(new.mark_published(&[events[0].id]).await.unwrap(), [1]);
    drop((old, new));
    let _ = admin.close().await;
    harness.finish().await;
}

/// Commits made through another replica wake this one's relay, through the notification the
/// other process sends after its commit (the write transaction itself notifies nothing: a
/// `NOTIFY` there would serialise every commit).
#[tokio::test]
async fn postgres_another_replicas_commits_wake_the_relay() {
    let harness = common::Harness::postgres().await;
    let url = harness.pg_url().unwrap().to_owned();
    let other = Store::open(&bookstore_store::StoreConfig {
        database_url: Some(url.clone()),
        data_dir: "unused".into(),
        max_connections: 2,
        ..Default::default()
    })
    .await
    .unwrap();
    let mut wakeups = harness.store.wakeups();
    // The listener wakes everyone once it listens, which is let pass here.
    tokio::time::sleep(Duration::from_millis(300)).await;
    wakeups.outbox.borrow_and_update();
    create(&other.catalog(), 1).await;
    tokio::time::timeout(Duration::from_secs(2), wakeups.outbox.changed())
        .await
        .expect("the other replica's commit wakes this relay")
        .unwrap();

    // No trigger notifies inside the write transaction any more.
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let triggers: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'outbox'::regclass AND NOT tgisinternal",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(triggers, 0);
    drop(conn);
    other.close().await;
    harness.finish().await;
}
