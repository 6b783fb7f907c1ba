//! The FTS5 C interface: registration of the two functions and their bodies. The only
//! unsafe code of the workspace; every block says why it is sound.
#![allow(unsafe_code)]

use crate::{bm25, decode_idfs, Corpus, CORPUS_FUNCTION, COVERAGE_FUNCTION, RANK_FUNCTION};
use libsqlite3_sys as ffi;
use sqlx::sqlite::SqliteConnection;
use std::ffi::{c_int, c_void, CStr, CString};
use std::ptr;

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("this SQLite library has no FTS5")]
    NoFts5,
    #[error("FTS5 refused to add the function {name} (SQLite code {code})")]
    Refused { name: &'static str, code: c_int },
    #[error(transparent)]
    Connection(#[from] sqlx::Error),
}

/// Adds `bookstore_bm25` and `bookstore_corpus` to the connection (for its lifetime): call
/// it from the pool's `after_connect`.
pub async fn register(conn: &mut SqliteConnection) -> Result<(), RegisterError> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    // SAFETY: the locked handle is an open connection that nothing else uses until the lock
    // is dropped, at the end of this function, after the last call through `db`.
    let api = unsafe { fts5_api(db) }.ok_or(RegisterError::NoFts5)?;
    for (name, function) in [
        (RANK_FUNCTION, rank as Fts5Function),
        (CORPUS_FUNCTION, corpus as Fts5Function),
        (COVERAGE_FUNCTION, coverage as Fts5Function),
    ] {
        // SAFETY: `api` came from this connection's FTS5 module, which outlives the call;
        // the name is copied by FTS5; the functions have the signature FTS5 expects and keep
        // no user data (null, no destructor).
        let code = unsafe { create_function(api, name, function) };
        if code != ffi::SQLITE_OK {
            return Err(RegisterError::Refused { name, code });
        }
    }
    Ok(())
}

type Fts5Function = unsafe extern "C" fn(
    *const ffi::Fts5ExtensionApi,
    *mut ffi::Fts5Context,
    *mut ffi::sqlite3_context,
    c_int,
    *mut *mut ffi::sqlite3_value,
);

/// The FTS5 module's API of connection `db`, the documented way: `SELECT fts5(?1)` with a
/// pointer bound to `?1`.
///
/// # Safety
/// `db` is an open connection, used by no one else during the call.
unsafe fn fts5_api(db: *mut ffi::sqlite3) -> Option<*mut ffi::fts5_api> {
    let mut stmt: *mut ffi::sqlite3_stmt = ptr::null_mut();
    // SAFETY: `db` is open (caller); the SQL is a NUL-terminated literal.
    let prepared = unsafe {
        ffi::sqlite3_prepare_v2(
            db,
            c"SELECT fts5(?1)".as_ptr(),
            -1,
            &mut stmt,
            ptr::null_mut(),
        )
    };
    if prepared != ffi::SQLITE_OK || stmt.is_null() {
        return None;
    }
    let mut api: *mut ffi::fts5_api = ptr::null_mut();
    // SAFETY: `stmt` is the statement just prepared; `api` outlives the step that writes it,
    // and the type name is the one FTS5 checks.
    unsafe {
        ffi::sqlite3_bind_pointer(
            stmt,
            1,
            (&mut api as *mut *mut ffi::fts5_api).cast::<c_void>(),
            c"fts5_api_ptr".as_ptr(),
            None,
        );
        ffi::sqlite3_step(stmt);
        ffi::sqlite3_finalize(stmt);
    }
    (!api.is_null()).then_some(api)
}

/// # Safety
/// `api` is the FTS5 API of an open connection.
unsafe fn create_function(api: *mut ffi::fts5_api, name: &str, function: Fts5Function) -> c_int {
    let Ok(name) = CString::new(name) else {
        return ffi::SQLITE_ERROR;
    };
    // SAFETY: `api` is valid (caller).
    let Some(create) = (unsafe { (*api).xCreateFunction }) else {
        return ffi::SQLITE_ERROR;
    };
    // SAFETY: as documented for xCreateFunction; FTS5 copies the name.
    unsafe { create(api, name.as_ptr(), ptr::null_mut(), Some(function), None) }
}

/// The arguments after the FTS5 table's, as a slice.
///
/// # Safety
/// `values` points to `count` values, as FTS5 passes them to an auxiliary function.
unsafe fn arguments<'a>(
    values: *mut *mut ffi::sqlite3_value,
    count: c_int,
) -> &'a [*mut ffi::sqlite3_value] {
    match usize::try_from(count) {
        // SAFETY: FTS5 passes `count` valid values (caller).
        Ok(count) if count > 0 && !values.is_null() => unsafe {
            std::slice::from_raw_parts(values, count)
        },
        _ => &[],
    }
}

/// The bytes of a blob argument (empty for NULL or an empty blob).
///
/// # Safety
/// `value` is a valid argument of the current call; the slice must not outlive it.
unsafe fn blob<'a>(value: *mut ffi::sqlite3_value) -> &'a [u8] {
    // SAFETY: `value` is valid (caller); the length is read after the pointer, as SQLite asks.
    unsafe {
        let data = ffi::sqlite3_value_blob(value).cast::<u8>();
        let len = usize::try_from(ffi::sqlite3_value_bytes(value)).unwrap_or(0);
        if data.is_null() || len == 0 {
            &[]
        } else {
            std::slice::from_raw_parts(data, len)
        }
    }
}

/// `bookstore_bm25(fts, avg_len, idfs, w0, w1, …)`.
unsafe extern "C" fn rank(
    api: *const ffi::Fts5ExtensionApi,
    fts: *mut ffi::Fts5Context,
    ctx: *mut ffi::sqlite3_context,
    count: c_int,
    values: *mut *mut ffi::sqlite3_value,
) {
    // SAFETY: FTS5 calls this with its API, the current row's context, the result context
    // and `count` arguments.
    unsafe { answer_double(ctx, score(&*api, fts, arguments(values, count))) }
}

/// `bookstore_coverage(fts, column)`.
unsafe extern "C" fn coverage(
    api: *const ffi::Fts5ExtensionApi,
    fts: *mut ffi::Fts5Context,
    ctx: *mut ffi::sqlite3_context,
    count: c_int,
    values: *mut *mut ffi::sqlite3_value,
) {
    // SAFETY: as for `rank`.
    unsafe { answer_double(ctx, covered_share(&*api, fts, arguments(values, count))) }
}

/// # Safety
/// `ctx` is the result context of the current call.
unsafe fn answer_double(ctx: *mut ffi::sqlite3_context, result: Result<f64, Failure>) {
    match result {
        // SAFETY: `ctx` is valid (caller).
        Ok(value) => unsafe { ffi::sqlite3_result_double(ctx, value) },
        // SAFETY: as above.
        Err(failure) => unsafe { failure.report(ctx) },
    }
}

/// Calls `each(phrase, column, offset)` for every phrase instance in the current row.
///
/// # Safety
/// `api` and `fts` are those of the current call.
unsafe fn for_each_instance(
    api: &ffi::Fts5ExtensionApi,
    fts: *mut ffi::Fts5Context,
    mut each: impl FnMut(c_int, c_int, c_int),
) -> Result<(), Failure> {
    let (Some(inst_count), Some(inst)) = (api.xInstCount, api.xInst) else {
        return Err(Failure::Usage(c"FTS5 without the instance functions"));
    };
    let mut instances: c_int = 0;
    // SAFETY: `fts` is the current row's context (caller); `instances` is written by FTS5.
    check(unsafe { inst_count(fts, &mut instances) })?;
    for i in 0..instances {
        let (mut phrase, mut column, mut offset): (c_int, c_int, c_int) = (0, 0, 0);
        // SAFETY: `i` is below the instance count FTS5 gave.
        check(unsafe { inst(fts, i, &mut phrase, &mut column, &mut offset) })?;
        each(phrase, column, offset);
    }
    Ok(())
}

/// # Safety
/// `api` and `fts` are those of the current call; `args` its arguments.
unsafe fn score(
    api: &ffi::Fts5ExtensionApi,
    fts: *mut ffi::Fts5Context,
    args: &[*mut ffi::sqlite3_value],
) -> Result<f64, Failure> {
    let (Some(phrase_count), Some(column_size)) = (api.xPhraseCount, api.xColumnSize) else {
        return Err(Failure::Usage(c"FTS5 without the size functions"));
    };
    let [avg_len, idfs, weights @ ..] = args else {
        return Err(Failure::Usage(
            c"bookstore_bm25(fts, avg_len, idfs, weights...): missing arguments",
        ));
    };
    // SAFETY: the arguments are valid for this call (caller).
    let (avg_len, idfs, weights) = unsafe {
        let weights: Vec<f64> = weights
            .iter()
            .map(|w| ffi::sqlite3_value_double(*w))
            .collect();
        (ffi::sqlite3_value_double(*avg_len), blob(*idfs), weights)
    };
    let idfs: Vec<f64> = decode_idfs(idfs).collect();
    // SAFETY: `fts` is the current row's context (caller).
    let phrases = usize::try_from(unsafe { phrase_count(fts) }).unwrap_or(0);
    let mut hits = vec![0.0; phrases];
    let count = |phrase: c_int, column: c_int, _| {
        let weight = usize::try_from(column)
            .ok()
            .and_then(|c| weights.get(c))
            .copied()
            .unwrap_or(1.0);
        if let Some(hit) = usize::try_from(phrase).ok().and_then(|p| hits.get_mut(p)) {
            *hit += weight;
        }
    };
    // SAFETY: `api` and `fts` are those of the current call (caller).
    unsafe { for_each_instance(api, fts, count) }?;
    let mut len: c_int = 0;
    // SAFETY: column -1 asks for the whole row's size.
    check(unsafe { column_size(fts, -1, &mut len) })?;
    Ok(bm25(&hits, &idfs, f64::from(len), avg_len))
}

/// # Safety
/// `api` and `fts` are those of the current call; `args` its arguments.
unsafe fn covered_share(
    api: &ffi::Fts5ExtensionApi,
    fts: *mut ffi::Fts5Context,
    args: &[*mut ffi::sqlite3_value],
) -> Result<f64, Failure> {
    let (Some(phrase_size), Some(column_size)) = (api.xPhraseSize, api.xColumnSize) else {
        return Err(Failure::Usage(c"FTS5 without the size functions"));
    };
    let [column] = args else {
        return Err(Failure::Usage(
            c"bookstore_coverage(fts, column): one column",
        ));
    };
    // SAFETY: the argument is valid for this call (caller).
    let column = unsafe { ffi::sqlite3_value_int(*column) };
    let mut len: c_int = 0;
    // SAFETY: `fts` is the current row's context (caller); FTS5 checks the column number.
    check(unsafe { column_size(fts, column, &mut len) })?;
    let mut covered = vec![false; usize::try_from(len).unwrap_or(0)];
    if covered.is_empty() {
        return Ok(0.0);
    }
    let mark = |phrase: c_int, col: c_int, offset: c_int| {
        if col != column {
            return;
        }
        // SAFETY: `phrase` is a phrase number FTS5 gave for this row of the current call.
        let size = unsafe { phrase_size(fts, phrase) };
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let size = usize::try_from(size).unwrap_or(0);
        for flag in covered.iter_mut().skip(start).take(size) {
            *flag = true;
        }
    };
    // SAFETY: `api` and `fts` are those of the current call (caller).
    unsafe { for_each_instance(api, fts, mark) }?;
    Ok(covered.iter().filter(|c| **c).count() as f64 / covered.len() as f64)
}

/// `bookstore_corpus(fts)`.
unsafe extern "C" fn corpus(
    api: *const ffi::Fts5ExtensionApi,
    fts: *mut ffi::Fts5Context,
    ctx: *mut ffi::sqlite3_context,
    _count: c_int,
    _values: *mut *mut ffi::sqlite3_value,
) {
    // SAFETY: FTS5 calls this with its API and the current row's context.
    let result = unsafe { statistics(&*api, fts) };
    // SAFETY: `ctx` is this call's result context; SQLite copies the blob (TRANSIENT).
    unsafe {
        match result {
            Ok(corpus) => {
                let blob = corpus.encode();
                let len = c_int::try_from(blob.len()).unwrap_or(0);
                ffi::sqlite3_result_blob(ctx, blob.as_ptr().cast(), len, ffi::SQLITE_TRANSIENT());
            }
            Err(failure) => failure.report(ctx),
        }
    }
}

/// # Safety
/// `api` and `fts` are those of the current call.
unsafe fn statistics(
    api: &ffi::Fts5ExtensionApi,
    fts: *mut ffi::Fts5Context,
) -> Result<Corpus, Failure> {
    let (Some(row_count), Some(total_size), Some(phrase_count), Some(query_phrase)) = (
        api.xRowCount,
        api.xColumnTotalSize,
        api.xPhraseCount,
        api.xQueryPhrase,
    ) else {
        return Err(Failure::Usage(c"FTS5 without the statistics functions"));
    };
    let (mut rows, mut tokens): (i64, i64) = (0, 0);
    // SAFETY: `fts` is the current row's context (caller); the outputs are written by FTS5.
    check(unsafe { row_count(fts, &mut rows) })?;
    // SAFETY: as above; column -1 is every column.
    check(unsafe { total_size(fts, -1, &mut tokens) })?;
    // SAFETY: as above.
    let phrases = unsafe { phrase_count(fts) };
    let mut docs = Vec::with_capacity(usize::try_from(phrases).unwrap_or(0));
    for phrase in 0..phrases {
        let mut matching: i64 = 0;
        // SAFETY: `phrase` is below the phrase count; `count_row` only increments the i64
        // passed as user data, which outlives the call.
        check(unsafe {
            query_phrase(
                fts,
                phrase,
                (&mut matching as *mut i64).cast::<c_void>(),
                Some(count_row),
            )
        })?;
        docs.push(matching);
    }
    Ok(Corpus { rows, tokens, docs })
}

unsafe extern "C" fn count_row(
    _api: *const ffi::Fts5ExtensionApi,
    _fts: *mut ffi::Fts5Context,
    user: *mut c_void,
) -> c_int {
    // SAFETY: `user` is the `i64` that `statistics` passed to xQueryPhrase.
    unsafe { *user.cast::<i64>() += 1 };
    ffi::SQLITE_OK
}

/// Why a function call failed. Never `SQLITE_MISUSE`: sqlx takes that code for a bug of its
/// own and panics.
enum Failure {
    /// An FTS5 call failed with this code.
    Code(c_int),
    /// The function was called wrongly.
    Usage(&'static CStr),
}

impl Failure {
    /// # Safety
    /// `ctx` is the result context of the current call.
    unsafe fn report(&self, ctx: *mut ffi::sqlite3_context) {
        // SAFETY: `ctx` is valid (caller); the message is NUL-terminated, SQLite copies it.
        unsafe {
            match self {
                Failure::Code(code) => ffi::sqlite3_result_error_code(ctx, *code),
                Failure::Usage(message) => ffi::sqlite3_result_error(ctx, message.as_ptr(), -1),
            }
        }
    }
}

fn check(code: c_int) -> Result<(), Failure> {
    if code == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(Failure::Code(code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{ConnectOptions, Connection};

    async fn connection() -> SqliteConnection {
        let mut conn = SqliteConnectOptions::new()
            .in_memory(true)
            .connect()
            .await
            .expect("an in-memory database");
        register(&mut conn).await.expect("functions registered");
        sqlx::query("CREATE VIRTUAL TABLE t USING fts5 (title, body)")
            .execute(&mut conn)
            .await
            .expect("table");
        for (title, body) in [
            ("the hobbit", "a hobbit goes there and back again"),
            ("dune", "a desert planet and a boy"),
            ("hobbit tales", "stories"),
            ("planet of the apes", "apes rule a planet"),
        ] {
            sqlx::query("INSERT INTO t (title, body) VALUES (?, ?)")
                .bind(title)
                .bind(body)
                .execute(&mut conn)
                .await
                .expect("row");
        }
        conn
    }

    async fn corpus_of(conn: &mut SqliteConnection, expr: &str) -> Corpus {
        let blob: Vec<u8> =
            sqlx::query_scalar("SELECT bookstore_corpus(t) FROM t WHERE t MATCH ? LIMIT 1")
                .bind(expr)
                .fetch_one(&mut *conn)
                .await
                .expect("statistics");
        Corpus::decode(&blob).expect("a corpus blob")
    }

    #[tokio::test]
    async fn corpus_counts_rows_tokens_and_the_rows_of_each_phrase() {
        let mut conn = connection().await;
        let corpus = corpus_of(&mut conn, "hobbit OR planet OR zebra OR \"the hobbit\"").await;
        assert_eq!(corpus.rows, 4);
        assert_eq!(corpus.tokens, 2 + 7 + 1 + 6 + 2 + 1 + 4 + 4);
        assert_eq!(corpus.docs, vec![2, 2, 0, 1]);
        conn.close().await.expect("closed");
    }

    /// With the statistics of the index as it is, the score is FTS5's own `bm25()`, negated.
    #[tokio::test]
    async fn scores_equal_fts5_bm25_with_the_same_statistics() {
        let mut conn = connection().await;
        let expr = "hobbit OR planet";
        let corpus = corpus_of(&mut conn, expr).await;
        let idfs: Vec<f64> = corpus
            .docs
            .iter()
            .map(|d| crate::idf(corpus.rows, *d))
            .collect();
        let rows: Vec<(f64, f64)> = sqlx::query_as(
            "SELECT bookstore_bm25(t, ?, ?, 10.0, 1.0), -bm25(t, 10.0, 1.0) FROM t WHERE t MATCH ?",
        )
        .bind(corpus.avg_len())
        .bind(crate::encode_idfs(&idfs))
        .bind(expr)
        .fetch_all(&mut conn)
        .await
        .expect("scores");
        assert_eq!(rows.len(), 4);
        for (ours, theirs) in rows {
            assert!(
                (ours - theirs).abs() < 1e-9,
                "{ours} against bm25's {theirs}"
            );
        }
        conn.close().await.expect("closed");
    }

    /// Row 1's score for `hobbit`: ours with the given statistics, and FTS5's own `bm25()`.
    async fn row_one_scores(conn: &mut SqliteConnection, avg_len: f64, idfs: &[u8]) -> (f64, f64) {
        sqlx::query_as(
            "SELECT bookstore_bm25(t, ?, ?, 10.0, 1.0), bm25(t) FROM t \
             WHERE t MATCH 'hobbit' AND rowid = 1",
        )
        .bind(avg_len)
        .bind(idfs)
        .fetch_one(conn)
        .await
        .expect("scores")
    }

    /// Pinned statistics: a row keeps its score however the index changes around it.
    #[tokio::test]
    async fn pinned_statistics_keep_a_rows_score_when_rows_are_added() {
        let mut conn = connection().await;
        let corpus = corpus_of(&mut conn, "hobbit").await;
        let idfs = crate::encode_idfs(&[crate::idf(corpus.rows, corpus.docs[0])]);
        let avg_len = corpus.avg_len();
        let (before, bm25_before) = row_one_scores(&mut conn, avg_len, &idfs).await;
        sqlx::query("INSERT INTO t (title, body) VALUES ('hobbit', 'a very long text about a hobbit and more')")
            .execute(&mut conn)
            .await
            .expect("row");
        let (after, bm25_after) = row_one_scores(&mut conn, avg_len, &idfs).await;
        assert_eq!(before.to_bits(), after.to_bits());
        assert_ne!(
            bm25_before, bm25_after,
            "FTS5's own bm25 moves: the reason for this crate"
        );
        conn.close().await.expect("closed");
    }

    #[tokio::test]
    async fn coverage_is_the_share_of_a_columns_tokens_the_query_finds() {
        let mut conn = connection().await;
        let shares: Vec<(String, f64)> = sqlx::query_as(
            "SELECT title, bookstore_coverage(t, 0) FROM t WHERE t MATCH 'hobbit OR \"planet of\"' \
             ORDER BY rowid",
        )
        .fetch_all(&mut conn)
        .await
        .expect("shares");
        let expected = [
            ("the hobbit", 0.5),
            ("hobbit tales", 0.5),
            ("planet of the apes", 0.5),
        ];
        assert_eq!(shares.len(), expected.len());
        for ((title, share), (t, s)) in shares.iter().zip(expected) {
            assert_eq!((title.as_str(), *share), (t, s));
        }
        conn.close().await.expect("closed");
    }

    #[tokio::test]
    async fn bad_arguments_are_an_error_or_a_zero_never_a_crash() {
        let mut conn = connection().await;
        let missing = sqlx::query("SELECT bookstore_bm25(t) FROM t WHERE t MATCH 'hobbit'")
            .fetch_all(&mut conn)
            .await;
        assert!(missing.is_err());
        let scores: Vec<f64> = sqlx::query_scalar(
            "SELECT bookstore_bm25(t, 'x', NULL, 'y') FROM t WHERE t MATCH 'hobbit'",
        )
        .fetch_all(&mut conn)
        .await
        .expect("scores");
        assert_eq!(scores, vec![0.0, 0.0]);
        let odd: Vec<f64> = sqlx::query_scalar(
            "SELECT bookstore_bm25(t, -5.0, X'0102030405', 1.0) FROM t WHERE t MATCH 'hobbit'",
        )
        .fetch_all(&mut conn)
        .await
        .expect("scores");
        assert!(odd.iter().all(|s| s.is_finite()));
        conn.close().await.expect("closed");
    }
}
