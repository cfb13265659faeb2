//! Housekeeping on a large table: pruning the seen event ids is bounded
//! work per statement, oldest first, and forgets nothing still inside the
//! dedup window.

use std::time::Duration;

use edm_stats::consumer::store::prune_seen_events;
use edm_stats::db;
use edm_testkit::postgres::TestDatabase;

#[tokio::test]
async fn pruning_deletes_at_most_a_batch_per_statement_oldest_first() {
    let database = TestDatabase::create().await;
    let pool = database.pool().await;
    db::migrate(&pool).await.unwrap();
    // 25,000 ids seen two to three days ago (the oldest first by number),
    // and 10 seen a minute ago.
    sqlx::query(
        "INSERT INTO seen_events (event_id, seen_at)
         SELECT 'old-' || n, now() - interval '3 days' + n * interval '1 second'
         FROM generate_series(1, 25000) AS n",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO seen_events (event_id, seen_at)
         SELECT 'new-' || n, now() - interval '1 minute' FROM generate_series(1, 10) AS n",
    )
    .execute(&pool)
    .await
    .unwrap();
    let day = Duration::from_secs(86_400);
    let oldest_left = || async {
        sqlx::query_scalar::<_, String>("SELECT event_id FROM seen_events ORDER BY seen_at LIMIT 1")
            .fetch_one(&pool)
            .await
            .unwrap()
    };

    assert_eq!(prune_seen_events(&pool, day, 10_000).await.unwrap(), 10_000);
    assert_eq!(oldest_left().await, "old-10001", "the oldest went first");
    assert_eq!(prune_seen_events(&pool, day, 10_000).await.unwrap(), 10_000);
    assert_eq!(prune_seen_events(&pool, day, 10_000).await.unwrap(), 5_000);
    assert_eq!(prune_seen_events(&pool, day, 10_000).await.unwrap(), 0);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM seen_events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 10, "ids inside the window stay");
}
