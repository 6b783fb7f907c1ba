//! Book lists ordered by relevance: candidates by full text, ISBN and the typo fallback
//! (see `crate::search`).

/// The relevance search of `$store`, whose database is `$db`.
macro_rules! impl_relevance {
    ($store:ty, $db:ty) => {
        impl $store {
            /// The candidates of a relevance search by full text (and ISBN).
            async fn text_candidates(
                &self,
                search: &BookSearch,
                pinned: &mut <Self as Dialect>::Pinned,
            ) -> Result<Candidates, StoreError> {
                let mut found = Candidates::default();
                let Some(text) = &search.text else {
                    return Ok(found);
                };
                if text.has_text() {
                    let filters = &search.filters;
                    // Where titles have an index of their own, they are looked at first:
                    // when that many titles match, the query is a broad one, and the
                    // title matches are its result.
                    let titles = if <Self as Dialect>::TITLES_FIRST {
                        let titles = self
                            .ranked_candidates(
                                text,
                                filters,
                                true,
                                search::TITLE_CANDIDATES,
                                pinned,
                            )
                            .await?;
                        if titles.len() as i64 >= search::TITLE_CANDIDATES {
                            found.bounded = true;
                            for (id, score) in titles {
                                found.add(id, score + search::TITLE_BONUS);
                            }
                            return self.isbn_candidate(search, found).await;
                        }
                        Some(titles)
                    } else {
                        None
                    };
                    let all = self
                        .ranked_candidates(text, filters, false, search::CANDIDATES, pinned)
                        .await?;
                    let bounded = all.len() as i64 >= search::CANDIDATES;
                    for (id, score) in all {
                        found.add(id, score);
                    }
                    if bounded {
                        found.bounded = true;
                        let titles = match titles {
                            Some(titles) => titles,
                            None => {
                                self.ranked_candidates(
                                    text,
                                    filters,
                                    true,
                                    search::TITLE_CANDIDATES,
                                    pinned,
                                )
                                .await?
                            }
                        };
                        for (id, score) in titles {
                            found.add(id, score + search::TITLE_BONUS);
                        }
                    }
                }
                self.isbn_candidate(search, found).await
            }

            /// Adds the book whose ISBN the query names, if the filters let it through.
            async fn isbn_candidate(
                &self,
                search: &BookSearch,
                mut found: Candidates,
            ) -> Result<Candidates, StoreError> {
                let Some(text) = &search.text else {
                    return Ok(found);
                };
                if let Some(isbn) = &text.isbn {
                    let mut select =
                        QueryBuilder::<$db>::new("SELECT b.id FROM books b WHERE b.isbn = ");
                    select.push_bind(isbn.as_str().to_owned());
                    search::push_filters(
                        &mut select,
                        &search.filters,
                        <Self as Dialect>::uuid_literal,
                    );
                    let ids: Vec<Uuid> = select
                        .build_query_scalar()
                        .fetch_all(self.reader())
                        .await
                        .map_err(backend)?;
                    for id in ids {
                        found.add(id, search::ISBN_SCORE);
                    }
                }
                Ok(found)
            }

            /// A page of a search ordered by relevance (see `search.rs`).
            async fn relevance_page(
                &self,
                query: &BookListQuery,
                list: &str,
            ) -> Result<(Vec<ScoredBook>, Option<String>, Matched), StoreError> {
                let started = std::time::Instant::now();
                let search = &query.search;
                let mut after = match query.page.cursor.as_deref() {
                    Some(c) => Some(cursor::decode_scored(list, c)?),
                    None => None,
                };
                let mut fuzzy = after.as_ref().is_some_and(|a| a.fuzzy);
                let mut pinned: <Self as Dialect>::Pinned = match after
                    .as_mut()
                    .and_then(|a| a.pinned.take())
                {
                    Some(p) => serde_json::from_value(p).map_err(|_| StoreError::InvalidCursor)?,
                    None => Default::default(),
                };
                let limit = usize::try_from(query.page.limit.get()).unwrap_or(usize::MAX);
                // The last word is also read as a prefix, so that a word being typed finds
                // its books; but a prefix reads the books of every word it begins (in
                // PostgreSQL's index, three times the work of the word alone). When the
                // words as typed fill the first page, they are the search, and its later
                // pages stay with it (the cursor says so).
                let as_typed_search =
                    search
                        .text
                        .as_ref()
                        .and_then(|t| t.as_typed())
                        .map(|text| BookSearch {
                            text: Some(text),
                            ..search.clone()
                        });
                let mut as_typed = false;
                let mut found = Candidates::default();
                if !fuzzy {
                    if let (Some(typed), Some(text)) =
                        (as_typed_search.as_ref(), search.text.as_ref())
                    {
                        let resumes = after.as_ref().is_some_and(|a| a.as_typed);
                        if after.is_none() || resumes {
                            found = self.text_candidates(typed, &mut pinned).await?;
                            // Searched again with prefixes only when they can find more.
                            // (When the words as typed find nothing, a prefix that no
                            // word extends costs little: the question would cost more.)
                            as_typed = resumes
                                || found.len() > limit
                                || (!found.is_empty() && !self.prefix_adds_words(text).await?);
                        }
                    }
                    if !as_typed {
                        found = self.text_candidates(search, &mut pinned).await?;
                    }
                }
                // What the candidates were searched with, for counting facets.
                let search = match (as_typed, as_typed_search.as_ref()) {
                    (true, Some(typed)) => typed,
                    _ => search,
                };
                let text = search.text.as_ref();
                // The typo fallback, when the full text finds nothing on the first page
                // (later pages follow the mode their cursor names).
                if found.is_empty() && after.is_none() {
                    fuzzy = text.is_some_and(|t| t.has_text());
                }
                let mut path = if as_typed || as_typed_search.is_none() {
                    $crate::meter::SearchPath::Typed
                } else {
                    $crate::meter::SearchPath::Prefix
                };
                if fuzzy {
                    path = $crate::meter::SearchPath::Typo;
                    if let Some(text) = text {
                        for (id, score) in self
                            .fuzzy_candidates(text, &search.filters, &mut pinned)
                            .await?
                        {
                            found.add(id, score);
                        }
                        // Still nothing: books matching any of the words.
                        if let (true, Some(any)) = (found.is_empty(), text.relaxed()) {
                            path = $crate::meter::SearchPath::AnyWord;
                            let relaxed = self
                                .ranked_candidates(
                                    &any,
                                    &search.filters,
                                    false,
                                    search::CANDIDATES,
                                    &mut pinned,
                                )
                                .await?;
                            for (id, score) in relaxed {
                                found.add(id, score);
                            }
                        }
                    }
                }
                let mut chosen = found.page(after.as_ref(), limit.saturating_add(1));
                let next_cursor = if chosen.len() > limit {
                    chosen.truncate(limit);
                    chosen.last().map(|last| {
                        cursor::encode_scored(
                            list,
                            &cursor::ScorePosition {
                                fuzzy,
                                as_typed,
                                score: last.score,
                                id: last.id,
                                pinned: serde_json::to_value(&pinned).ok().filter(|p| !p.is_null()),
                            },
                        )
                    })
                } else {
                    None
                };
                let mut books: HashMap<Uuid, Book> = HashMap::new();
                if !chosen.is_empty() {
                    let mut select =
                        QueryBuilder::<$db>::new(<Self as Dialect>::book_sql().select.as_str());
                    select.push(" WHERE ");
                    let ids: Vec<Uuid> = chosen.iter().map(|c| c.id).collect();
                    <Self as Dialect>::push_id_in(&mut select, "b.id", &ids);
                    let rows: Vec<BookRow> = select
                        .build_query_as()
                        .fetch_all(self.reader())
                        .await
                        .map_err(backend)?;
                    for row in rows {
                        let book = Book::try_from(row)?;
                        books.insert(book.id.as_uuid(), book);
                    }
                }
                // A book deleted since it was found is left out.
                let items = chosen
                    .into_iter()
                    .filter_map(|c| {
                        books.remove(&c.id).map(|book| ScoredBook {
                            book,
                            score: Some(c.score),
                        })
                    })
                    .collect();
                // Facets count the whole result: the candidates, unless a bound cut them
                // short (then the query itself is counted again).
                let matched = if fuzzy || !found.bounded {
                    Matched::Ids(found.ids())
                } else if as_typed {
                    Matched::QueryAsTyped
                } else {
                    Matched::Query
                };
                path.record(started);
                Ok((items, next_cursor, matched))
            }
        }
    };
}
pub(crate) use impl_relevance;
