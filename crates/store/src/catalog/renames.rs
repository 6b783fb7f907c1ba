//! Updates of authors and genres: a rename gives every book naming one a new version, history
//! row and event.

/// Rows per statement when a rename writes history and events of many books.
pub(crate) const TOUCH_CHUNK: usize = 500;

/// The author and genre updates of `$store`, whose database is `$db`.
macro_rules! impl_renames {
    ($store:ty, $db:ty) => {
        impl $store {
            /// The books `linked` (`sql::AUTHOR_BOOK_IDS` or `sql::GENRE_BOOK_IDS`) to
            /// `id`, in id order, each locked where the database has row locks; those in
            /// `locked` are locked already.
            async fn lock_linked_books(
                conn: &mut Conn,
                linked: &'static str,
                id: Uuid,
                locked: &[Uuid],
            ) -> Result<Vec<Uuid>, StoreError> {
                let ids: Vec<Uuid> = sqlx::query_scalar(linked)
                    .bind(id)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(backend)?;
                if let Some(lock) = <Self as Dialect>::LOCK_BOOKS {
                    let locked: std::collections::HashSet<&Uuid> = locked.iter().collect();
                    let new: Vec<Uuid> = ids
                        .iter()
                        .filter(|id| !locked.contains(id))
                        .copied()
                        .collect();
                    if !new.is_empty() {
                        let mut select = QueryBuilder::<$db>::new("SELECT 1 FROM books b WHERE ");
                        <Self as Dialect>::push_id_in(&mut select, "b.id", &new);
                        select.push(lock);
                        select.build().execute(&mut *conn).await.map_err(backend)?;
                    }
                }
                Ok(ids)
            }

            /// Gives each of the books `ids` a new version, with a history row and an
            /// `updated` event: a change of an author or genre they name made them read
            /// differently. `as_before` turns a book as it reads now into what it read
            /// before the change. A few statements whatever the number of books.
            async fn touch_books(
                conn: &mut Conn,
                ctx: &WriteContext,
                ids: &[Uuid],
                now: DateTime<Utc>,
                as_before: impl Fn(&mut Book),
            ) -> Result<(), StoreError> {
                if ids.is_empty() {
                    return Ok(());
                }
                let mut select =
                    QueryBuilder::<$db>::new(<Self as Dialect>::book_sql().select.as_str());
                select.push(" WHERE ");
                <Self as Dialect>::push_id_in(&mut select, "b.id", ids);
                let rows: Vec<BookRow> = select
                    .build_query_as()
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(backend)?;
                let mut update = QueryBuilder::<$db>::new(
                    "UPDATE books SET version = version + 1, updated_at = ",
                );
                update.push_bind(DbTime(now)).push(" WHERE ");
                <Self as Dialect>::push_id_in(&mut update, "id", ids);
                update.build().execute(&mut *conn).await.map_err(backend)?;

                let mut changes = Vec::with_capacity(rows.len());
                for row in rows {
                    let current = Book::try_from(row)?;
                    let mut before = current.clone();
                    as_before(&mut before);
                    let after = Book {
                        version: current.version + 1,
                        updated_at: now,
                        ..current
                    };
                    let event = CloudEvent::book_changed(BookEventKind::Updated, &after, ctx)
                        .map_err(json_error)?;
                    let before = serde_json::to_value(&before).map_err(json_error)?;
                    let after_json = serde_json::to_value(&after).map_err(json_error)?;
                    changes.push((after, before, after_json, event));
                }
                for chunk in changes.chunks(TOUCH_CHUNK) {
                    let mut history = QueryBuilder::<$db>::new(sql::HISTORY_INSERT_MANY);
                    history.push_values(chunk, |mut row, (after, before, after_json, _)| {
                        row.push_bind(Uuid::now_v7())
                            .push_bind(after.id.as_uuid())
                            .push_bind(after.version)
                            .push_bind(HistoryAction::Updated.as_str())
                            .push_bind(ctx.actor())
                            .push_bind(ctx.request_id.as_deref())
                            .push_bind(DbTime(now))
                            .push_bind(Json(before))
                            .push_bind(Json(after_json));
                    });
                    history.build().execute(&mut *conn).await.map_err(backend)?;
                    let mut outbox = QueryBuilder::<$db>::new(sql::OUTBOX_INSERT_MANY);
                    outbox.push_values(chunk, |mut row, (after, _, _, event)| {
                        row.push_bind(event.id)
                            .push_bind("book")
                            .push_bind(after.id.as_uuid())
                            .push_bind(event.event_type.as_str())
                            .push_bind(Json(event))
                            .push_bind(DbTime(now))
                            .push_bind(outbox_partition(after.id.as_uuid()));
                    });
                    outbox.build().execute(&mut *conn).await.map_err(backend)?;
                }
                Ok(())
            }

            async fn update_author_once(
                &self,
                id: AuthorId,
                draft: &AuthorDraft,
                ctx: &WriteContext,
            ) -> Result<Author, StoreError> {
                let now = time::now();
                let mut tx = self.begin_write().await?;
                let old_name: Option<String> = sqlx::query_scalar(sql::AUTHOR_NAME_BY_ID)
                    .bind(id.as_uuid())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?;
                let Some(old_name) = old_name else {
                    return Err(StoreError::NotFound { entity: "author" });
                };
                let renamed = old_name != draft.name;
                // The books first, then the author: the order in which a book write
                // takes them (its book, then the authors it links).
                let locked = if renamed {
                    Self::lock_linked_books(&mut tx, sql::AUTHOR_BOOK_IDS, id.as_uuid(), &[])
                        .await?
                } else {
                    Vec::new()
                };
                let updated = sqlx::query(sql::AUTHOR_UPDATE)
                    .bind(id.as_uuid())
                    .bind(&draft.name)
                    .bind(fold_key(&draft.name))
                    .bind(&draft.bio)
                    .bind(DbTime(now))
                    .execute(&mut *tx)
                    .await;
                match updated {
                    Ok(done) if done.rows_affected() == 0 => {
                        return Err(StoreError::NotFound { entity: "author" })
                    }
                    Ok(_) => {}
                    Err(err) if is_unique_violation(&err) => {
                        return Err(StoreError::DuplicateName {
                            entity: "author",
                            name: draft.name.clone(),
                        })
                    }
                    Err(err) => return Err(backend(err)),
                }
                if renamed {
                    // Books linked while the update waited for their writers, too.
                    let books = Self::lock_linked_books(
                        &mut tx,
                        sql::AUTHOR_BOOK_IDS,
                        id.as_uuid(),
                        &locked,
                    )
                    .await?;
                    Self::touch_books(&mut tx, ctx, &books, now, |book| {
                        for c in book.authors.iter_mut().filter(|c| c.author_id == id) {
                            c.name = old_name.clone();
                        }
                    })
                    .await?;
                }
                let author = author_in_tx::<Self>(&mut tx, id.as_uuid()).await?;
                tx.commit().await.map_err(backend)?;
                Ok(author)
            }

            async fn update_genre_once(
                &self,
                id: GenreId,
                draft: &GenreDraft,
                ctx: &WriteContext,
            ) -> Result<Genre, StoreError> {
                let now = time::now();
                let mut tx = self.begin_write().await?;
                if let Some(lock) = <Self as Dialect>::GENRE_TREE_LOCK {
                    sqlx::query(lock).execute(&mut *tx).await.map_err(backend)?;
                }
                let old_name: Option<String> = sqlx::query_scalar(sql::GENRE_NAME_BY_ID)
                    .bind(id.as_uuid())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?;
                let Some(old_name) = old_name else {
                    return Err(StoreError::NotFound { entity: "genre" });
                };
                check_parent::<Self>(&mut tx, Some(id.as_uuid()), draft.parent_id).await?;
                let renamed = old_name != draft.name;
                let locked = if renamed {
                    Self::lock_linked_books(&mut tx, sql::GENRE_BOOK_IDS, id.as_uuid(), &[]).await?
                } else {
                    Vec::new()
                };
                let updated = sqlx::query(sql::GENRE_UPDATE)
                    .bind(id.as_uuid())
                    .bind(&draft.name)
                    .bind(fold_key(&draft.name))
                    .bind(draft.parent_id.map(|p| p.as_uuid()))
                    .bind(DbTime(now))
                    .execute(&mut *tx)
                    .await;
                match updated {
                    Ok(_) => {}
                    Err(err) if is_unique_violation(&err) => {
                        return Err(StoreError::DuplicateName {
                            entity: "genre",
                            name: draft.name.clone(),
                        })
                    }
                    Err(err) => return Err(parent_gone(err, draft.parent_id)),
                }
                if renamed {
                    let books = Self::lock_linked_books(
                        &mut tx,
                        sql::GENRE_BOOK_IDS,
                        id.as_uuid(),
                        &locked,
                    )
                    .await?;
                    Self::touch_books(&mut tx, ctx, &books, now, |book| {
                        for g in book.genres.iter_mut().filter(|g| g.id == id) {
                            g.name = old_name.clone();
                        }
                    })
                    .await?;
                }
                let genre = genre_in_tx::<Self>(&mut tx, id.as_uuid()).await?;
                tx.commit().await.map_err(backend)?;
                Ok(genre)
            }
        }
    };
}
pub(crate) use impl_renames;
